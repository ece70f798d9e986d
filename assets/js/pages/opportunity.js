// One opportunity: its facts, a link to it in Odoo, its history in words, and (for managers and
// admins) a reassignment that is refused, not lost, when the deal changed meanwhile.
import { api, command, filterOptions, session } from "../api.js";
import { el } from "../dom.js";
import { dateTime, money, plainDate } from "../format.js";

const EVENT_NAMES = { OpportunityCreated: "Created", OpportunityUpdated: "Updated", OpportunityAssigned: "Reassigned",
  OpportunityStageChanged: "Stage moved", OpportunityArchived: "Lost", OpportunityRestored: "Restored", OpportunityDeleted: "Deleted in Odoo",
  OpportunityHistoryBegins: "Created in Odoo", OpportunityChangeRecorded: "Changed in Odoo" };
const SOURCES = { odoo: "seen by the sync", odoo_tracking: "Odoo's change tracking", api: "pipelog" };
const FIELD_NAMES = { stage_id: "stage", user_id: "salesperson", team_id: "team", account_id: "account", expected_revenue: "expected revenue",
  probability: "probability", date_deadline: "expected close", date_closed: "closed", active: "active", lost_reason: "lost reason", name: "name", kind: "type" };

// One history entry in words: stage and people by name, money in the deal's currency.
function describe(entry, currency) {
  const value = (field, raw, name) => {
    if (name) return name;
    if (raw === null || raw === undefined) return "none";
    if (field === "expected_revenue") return money(raw, currency);
    if (field === "probability") return `${raw}%`;
    if (field === "date_deadline") return plainDate(raw);
    if (field === "date_closed") return dateTime(raw);
    if (field === "active") return raw ? "yes" : "no";
    return typeof raw === "string" ? raw : JSON.stringify(raw);
  };
  const parts = entry.changes.map((c) => `${FIELD_NAMES[c.field] || c.field}: ${value(c.field, c.before, c.before_name)} → ${value(c.field, c.after, c.after_name)}`
    + (c.lost_reason ? ` (${c.lost_reason})` : ""));
  return `${EVENT_NAMES[entry.event] || entry.event}${parts.length ? " — " + parts.join("; ") : ""}`;
}

function facts(data) {
  const o = data.opportunity;
  return el("table", { class: "facts" }, el("tbody", {},
    [["Stage", o.stage ? o.stage.name : "–"], ["Status", o.status], ["Expected revenue", money(o.expected_revenue_cents, o.currency)],
     ["Probability", `${o.probability}%`], ["Expected close", plainDate(o.date_deadline)], ["Closed", dateTime(o.date_closed)],
     ["Salesperson", o.salesperson ? o.salesperson.name : "unassigned"],
     ["Managers", data.managers.length ? data.managers.map((m) => m.name).join(" → ") : "–"], ["Team", o.team ? o.team.name : "–"],
     ["Account", o.account ? [o.account.name, o.account.city, o.account.country].filter(Boolean).join(", ") : "–"]]
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
}

async function reassignForm(view, id, data, notice) {
  const o = data.opportunity;
  const { salespeople } = await filterOptions();
  const status = el("p", { role: "status" }, notice || "");
  const form = el("form", { class: "inline", id: "reassign", onsubmit: async (event) => {
    event.preventDefault();
    const salesperson = Number(new FormData(form).get("salesperson"));
    const name = (salespeople.find((p) => p.id === salesperson) || { label: `user ${salesperson}` }).label;
    if (!window.confirm(`Reassign "${o.name}" to ${name}? Odoo is updated first; if Odoo refuses, nothing changes.`)) return;
    try {
      // The version this page shows: a change made meanwhile is refused, not overwritten.
      await command(`/api/opportunities/${o.id}/assign`, { salesperson }, data.version);
      await opportunityPage(view, id, `Reassigned to ${name}.`);
    } catch (e) {
      status.className = "error";
      if (e.code === "conflict") {
        status.replaceChildren("Not reassigned: this deal changed since the page was loaded (see its history). ",
          el("button", { type: "button", class: "link", onclick: () => opportunityPage(view, id, "Reloaded: check the history, then reassign again.") }, "Reload and try again"));
      } else {
        status.textContent = `Not reassigned: ${e.message}`;
      }
    }
  } }, el("label", {}, "Reassign to", el("select", { name: "salesperson", required: true },
      el("option", { value: "" }, "Choose a salesperson…"),
      salespeople.filter((p) => !o.salesperson || p.id !== o.salesperson.id).map((p) => el("option", { value: p.id }, p.label)))),
    el("button", { type: "submit" }, "Reassign"), status);
  return el("section", {}, el("h2", {}, "Reassign"), form);
}

export async function opportunityPage(view, id, notice) {
  const data = await api(`/api/opportunities/${encodeURIComponent(id)}`);
  const o = data.opportunity;
  const timeline = el("ol", { class: "timeline" }, data.history.map((entry) =>
    el("li", {}, el("div", {}, describe(entry, o.currency)), el("div", { class: "muted" },
      [dateTime(entry.at), entry.actor && entry.source === "odoo_tracking" ? `by ${entry.actor}` : null, SOURCES[entry.source] || entry.source || "?"]
        .filter(Boolean).join(" · ")))));
  const me = session.me;
  const reassign = me && (me.is_admin || me.is_manager) ? await reassignForm(view, id, data, notice) : null;
  view.show(el("h1", {}, o.name),
    el("section", {}, facts(data),
      data.odoo_url ? el("p", {}, el("a", { href: data.odoo_url, target: "_blank", rel: "noopener", id: "odoo-link" }, "Open in Odoo ↗")) : null),
    reassign, el("section", {}, el("h2", {}, "History"), timeline));
}
