// The admin page: accounts (approve, disable, role), the sync and its runs (refreshed while one
// runs), manager overrides, views verify/rebuild and the backup. Errors show where they happened.
import { api, command, filterOptions, session } from "../api.js";
import { el } from "../dom.js";
import { dateTime } from "../format.js";

const outcomeOf = (run) => typeof run.outcome === "string" ? run.outcome : Object.keys(run.outcome)[0];
// What a run says beyond its outcome: its error, or its warnings, quarantined records and the id
// comparisons that looked for deletes (and why they ran).
function notesOf(run) {
  if (run.outcome.failed) return run.outcome.failed.reason;
  const done = run.outcome.succeeded;
  if (!done) return "";
  // Grouped by why: a periodic check compares every model's ids at once.
  const byReason = new Map();
  for (const [model, c] of Object.entries(done.counts).filter(([, c]) => c.reconciled)) {
    const group = byReason.get(c.reconciled) || { models: [], deleted: 0 };
    group.models.push(model);
    group.deleted += c.deleted;
    byReason.set(c.reconciled, group);
  }
  const reconciled = [...byReason].map(([why, g]) => `ids compared (${why}) for ${g.models.join(", ")}: ${g.deleted} deleted`);
  return [...done.warnings, done.quarantined.length ? `${done.quarantined.length} quarantined` : "", ...reconciled].filter(Boolean).join("; ");
}

function accountsSection(view, accounts) {
  const status = el("p", { role: "alert", id: "accounts-status" });
  const act = (account, action, question, body) => async (event) => {
    if (question && !window.confirm(question)) return;
    event.target.disabled = true;
    status.className = ""; status.textContent = "";
    try {
      await command(`/api/admin/accounts/${encodeURIComponent(account.email)}/${action}`, body);
      await adminPage(view);
    } catch (e) {
      event.target.disabled = false;
      status.className = "error";
      status.textContent = `${account.email}: ${e.message}`;
    }
  };
  const yourself = (account) => session.me && account.email === session.me.email;
  const rows = accounts.accounts.map((a) => {
    const otherRole = a.role === "admin" ? "member" : "admin";
    return el("tr", { "data-email": a.email },
      el("td", { "data-label": "Name" }, a.name, yourself(a) ? el("span", { class: "muted" }, " (you)") : null),
      el("td", { "data-label": "Email" }, a.email),
      el("td", { "data-label": "Role" }, a.role),
      el("td", { "data-label": "Status" }, a.status),
      el("td", { "data-label": "Last sign-in" }, a.last_login_at ? dateTime(a.last_login_at) : "never"),
      el("td", { class: "actions" },
        a.status !== "approved" ? el("button", { type: "button", onclick: act(a, "approve") }, "Approve") : null,
        a.status === "approved" ? el("button", { type: "button", class: "secondary", onclick: act(a, "disable",
          `Disable ${a.name} (${a.email})? They are signed out at once and cannot sign in until approved again.`) }, "Disable") : null,
        el("button", { type: "button", class: "secondary", onclick: act(a, "role",
          `Make ${a.name} (${a.email}) ${otherRole === "admin" ? "an admin: they will see everything and manage accounts" : "a member: they will see only their reach"}?`,
          { role: otherRole }) }, otherRole === "admin" ? "Make admin" : "Make member")));
  });
  return el("section", {}, el("h2", {}, "Accounts"),
    accounts.total > accounts.accounts.length
      ? el("p", { class: "muted" }, `Showing ${accounts.accounts.length} of ${accounts.total}, those waiting for approval first.`) : null,
    status,
    el("div", { class: "scroll" }, el("table", { class: "list accounts" }, el("thead", {}, el("tr", {},
      ["Name", "Email", "Role", "Status", "Last sign-in", ""].map((name) => el("th", {}, name)))), el("tbody", {}, rows))));
}

function runsTable(sync) {
  return el("div", { class: "scroll" }, el("table", { id: "runs", class: "runs" }, el("thead", {}, el("tr", {}, el("th", {}, "Started"), el("th", {}, "Outcome"),
    el("th", {}, "Errors and warnings"), el("th", { class: "num" }, "Took"))),
  el("tbody", {}, sync.history.recent_runs.map((run) => el("tr", { class: outcomeOf(run) },
    el("td", {}, dateTime(run.started_at)), el("td", {}, outcomeOf(run)), el("td", { class: "notes" }, notesOf(run)),
    el("td", { class: "num" }, run.duration_ms === null ? "–" : `${(run.duration_ms / 1000).toFixed(1)} s`))))));
}

function syncState(sync) {
  const running = sync.schedule.running || sync.history.recent_runs.some((run) => outcomeOf(run) === "running");
  const started = sync.history.recent_runs.find((run) => outcomeOf(run) === "running");
  return el("p", { id: "sync-state", role: "status", "data-running": running ? "true" : "false" },
    running ? `A sync is running${started ? ` (started ${dateTime(started.started_at)})` : ""}…`
      : sync.schedule.next_run_at ? `Next run ${dateTime(sync.schedule.next_run_at)}` : "");
}

// While a sync runs, its state and the runs table follow it (every 2 s), and stop when it ends.
function followSync(view, holder) {
  const refresh = async () => {
    if (!view.isCurrent() || !holder.isConnected) return;
    try {
      const sync = await api("/api/sync/status");
      if (!view.isCurrent() || !holder.isConnected) return;
      holder.replaceChildren(syncState(sync), runsTable(sync));
      if (holder.querySelector("#sync-state").dataset.running === "true") setTimeout(refresh, 2000);
    } catch { /* the next visit shows it */ }
  };
  return refresh;
}

function syncSection(view, sync) {
  if (!sync.configured) {
    return el("section", {}, el("h2", {}, "Sync"),
      el("p", { class: "muted" }, "No Odoo is configured: set [odoo] url, database, login and password, then restart pipelog."));
  }
  const holder = el("div", { id: "sync-runs" }, syncState(sync), runsTable(sync));
  const follow = followSync(view, holder);
  const status = el("span", { role: "alert" });
  const syncNow = el("button", { type: "button", onclick: async () => {
    syncNow.disabled = true;
    try {
      await api("/api/sync", { method: "POST", body: "{}" });
      status.className = ""; status.textContent = " Sync requested.";
      setTimeout(follow, 500);
    } catch (e) { status.className = "error"; status.textContent = ` ${e.message}`; }
    finally { syncNow.disabled = false; }
  } }, "Sync now");
  const lastSuccess = sync.history.recent_runs.find((run) => run.outcome.succeeded);
  const quarantined = (lastSuccess ? lastSuccess.outcome.succeeded.quarantined : []).map((q) => el("li", {}, `${q.model} ${q.id ?? ""}: ${q.reason}`));
  if (holder.querySelector("#sync-state").dataset.running === "true") setTimeout(follow, 2000);
  return el("section", {}, el("h2", {}, "Sync"), el("p", {}, syncNow, status), holder,
    quarantined.length ? [el("h3", {}, "Quarantined records"), el("ul", {}, quarantined)] : null);
}

// Who reports to whom in pipelog when Odoo's employee records are wrong.
function overridesSection(view, overrides, choices) {
  const people = choices.salespeople.map((p) => [p.id, p.label]);
  const status = el("p", { role: "alert" });
  const setManager = async (user, manager) => {
    try {
      await command(`/api/users/${user}/manager`, { manager });
      session.options = null;
      await adminPage(view);
    } catch (e) { status.className = "error"; status.textContent = e.message; }
  };
  const form = el("form", { class: "inline", id: "override", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    setManager(Number(data.get("user")), data.get("manager") ? Number(data.get("manager")) : null);
  } },
    el("label", {}, "Person", el("select", { name: "user", required: true }, el("option", { value: "" }, "Choose…"), people.map(([v, t]) => el("option", { value: v }, t)))),
    el("label", {}, "Reports to", el("select", { name: "manager" }, el("option", { value: "" }, "Follow Odoo"), people.map(([v, t]) => el("option", { value: v }, t)))),
    el("button", { type: "submit" }, "Set manager"), status);
  const rows = overrides.overrides.map((o) => el("tr", { "data-user": o.user_id },
    el("td", {}, o.name), el("td", {}, o.manager_name || (o.manager_id ? `user ${o.manager_id}` : "nobody (top of the tree)")),
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => setManager(o.user_id, null) }, "Follow Odoo again"))));
  return el("section", {}, el("h2", {}, "Manager overrides"), form,
    rows.length ? el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Person"), el("th", {}, "Reports to"), el("th", {}, ""))), el("tbody", {}, rows)))
      : el("p", { class: "muted" }, "None: everyone follows Odoo's employee records."));
}

// Views are derived from the log: verify compares them with a replay; rebuild replaces them.
function viewsSection() {
  const status = el("p", { role: "status", id: "views-status" });
  const action = (path, describe) => async (event) => {
    event.target.disabled = true; status.className = ""; status.textContent = "Working… (this replays the whole log)";
    try { status.textContent = describe(await api(path, { method: "POST", body: "{}" })); }
    catch (e) { status.className = "error"; status.textContent = e.message; }
    finally { event.target.disabled = false; }
  };
  const verify = el("button", { type: "button", onclick: action("/api/admin/verify", (r) => r.clean
    ? `Views verified: ${r.rows_checked} rows match a replay of ${r.events} events.`
    : `Views differ from the log: ${r.differences_total} differences, ${r.problems.length} problems. ${r.differences.join("; ")} ${r.problems.join("; ")} Rebuild to repair them.`) }, "Verify views");
  const rebuild = el("button", { type: "button", class: "secondary", onclick: action("/api/admin/rebuild", (r) => `Rebuilt ${r.rows} rows from ${r.events} events in ${r.seconds.toFixed(1)} s.`) }, "Rebuild views");
  return el("section", {}, el("h2", {}, "Views"), el("div", { class: "inline" }, verify, " ", rebuild), status);
}

export async function adminPage(view) {
  const [accounts, sync, overrides, choices] = await Promise.all([api("/api/admin/accounts?per_page=200"), api("/api/sync/status"),
    api("/api/admin/overrides"), filterOptions()]);
  view.show(el("h1", {}, "Admin"), accountsSection(view, accounts), syncSection(view, sync), overridesSection(view, overrides, choices),
    viewsSection(), el("section", {}, el("h2", {}, "Backup"), el("a", { href: "/api/admin/backup" }, "Download a consistent copy of the data file")));
}
