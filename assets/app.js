// pipelog's dashboard: a small single-page app over the JSON API. No third-party code, no inline
// script (the Content-Security-Policy forbids it), and untrusted text only ever goes in textContent.
"use strict";

const main = document.getElementById("main");
let me = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options,
    headers: { "content-type": "application/json", ...(options.headers || {}) } });
  if (response.status === 401) { me = null; location.hash = "#/login"; throw new Error("Please sign in."); }
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error((body && body.error && body.error.message) || response.statusText);
  return body;
}

const locale = navigator.language || "en";
function money(amount, currency) {
  try { return new Intl.NumberFormat(locale, { style: "currency", currency, maximumFractionDigits: 0 }).format(amount); }
  catch { return `${Math.round(amount).toLocaleString(locale)} ${currency}`; }
}
const percent = (rate) => rate === null || rate === undefined ? "–" : new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 }).format(rate);
const dateTime = (text) => text ? new Date(text).toLocaleString(locale) : "–";
const plainDate = (text) => text ? new Date(text + "T00:00:00").toLocaleDateString(locale) : "–";

function params() {
  const query = location.hash.split("?")[1] || "";
  return new URLSearchParams(query);
}
function go(path, query) {
  const text = query && [...query.keys()].length ? `?${query}` : "";
  location.hash = `#/${path}${text}`;
}

function show(...nodes) { main.replaceChildren(...nodes); }
function failure(error) { show(el("p", { class: "error", role: "alert" }, error.message)); }

function loginPage() {
  document.getElementById("nav").hidden = true;
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "login", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      await api("/api/auth/login", { method: "POST", body: JSON.stringify({ email: data.get("email"), password: data.get("password") }) });
      me = null;
      location.hash = "#/dashboard";
    } catch (e) { error.textContent = e.message; }
  } },
    el("h1", {}, "Sign in"),
    el("label", {}, "Email", el("input", { name: "email", type: "email", autocomplete: "username", required: true })),
    el("label", {}, "Password", el("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    el("button", { type: "submit" }, "Sign in"), error);
  show(form);
}

function card(label, value, href) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label),
    href ? el("a", { class: "value", href }, value) : el("div", { class: "value" }, value));
}

// Horizontal bars, one per stage, drawn as SVG.
function stageChart(stages, currency) {
  const width = 640, row = 28, left = 140, right = 150;
  const max = Math.max(1, ...stages.map((s) => s.value));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(row, stages.length * row)}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Pipeline by stage");
  stages.forEach((stage, i) => {
    const y = i * row;
    const label = document.createElementNS(svg.namespaceURI, "text");
    label.setAttribute("x", "0"); label.setAttribute("y", String(y + 18)); label.textContent = stage.stage;
    const bar = document.createElementNS(svg.namespaceURI, "rect");
    bar.setAttribute("class", stage.stage.toLowerCase() === "won" ? "bar won" : "bar");
    bar.setAttribute("x", String(left)); bar.setAttribute("y", String(y + 5)); bar.setAttribute("height", "18");
    bar.setAttribute("width", String(Math.max(1, (width - left - right) * stage.value / max)));
    const figure = document.createElementNS(svg.namespaceURI, "text");
    figure.setAttribute("x", String(width - right + 8)); figure.setAttribute("y", String(y + 18));
    figure.textContent = `${stage.count} · ${money(stage.value, currency)}`;
    svg.append(label, bar, figure);
  });
  return svg;
}

async function dashboardPage() {
  const query = params();
  const data = await api(`/api/dashboard?${query}`);
  const heading = el("h1", {}, data.user_id === null ? "Everyone" : data.name);
  const fresh = data.data_freshness;
  const badge = fresh.last_sync_failed ? el("span", { class: "badge bad", role: "status" }, `Last sync failed: ${fresh.last_error || ""}`)
    : fresh.stale ? el("span", { class: "badge bad", role: "status" }, `Data may be stale (last sync ${dateTime(fresh.last_sync_at)})`)
    : el("span", { class: "badge good" }, `Synced ${dateTime(fresh.last_sync_at)}`);
  const apply = (next) => { if (query.get("user")) next.set("user", query.get("user")); go("dashboard", next); };
  const preset = el("select", { name: "period", "aria-label": "Period", onchange: (event) => {
    const range = periodRange(event.target.value);
    const next = new URLSearchParams();
    if (range) { next.set("from", range[0]); next.set("to", range[1]); }
    apply(next);
  } }, [["", "All time"], ["month", "This month"], ["quarter", "This quarter"], ["year", "This year"], ["12m", "Last 12 months"]].map(([v, t]) =>
    el("option", { value: v, selected: matchesPeriod(v, query) }, t)));
  const filters = el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) if (value && key !== "period") next.set(key, value);
    apply(next);
  } },
    el("label", {}, "Won in", preset),
    el("label", {}, "from", el("input", { type: "date", name: "from", value: query.get("from") || "" })),
    el("label", {}, "to", el("input", { type: "date", name: "to", value: query.get("to") || "" })),
    el("button", { type: "submit" }, "Apply"));
  const blocks = [];
  const currencies = Object.entries(data.currencies);
  if (!currencies.length) blocks.push(el("section", {}, el("p", { class: "muted" }, "No opportunities yet. Once Odoo is synced, your pipeline appears here.")));
  for (const [currency, figures] of currencies) {
    blocks.push(el("section", { "data-currency": currency },
      el("h2", {}, currency),
      el("div", { class: "cards" },
        card("Open pipeline", money(figures.pipeline_value, currency), "#/opportunities?status=open"),
        card("Weighted pipeline", money(figures.weighted_pipeline_value, currency)),
        card("Won revenue", money(figures.won_revenue, currency), "#/opportunities?status=won"),
        card("Win rate (count)", percent(figures.win_rate_by_count)),
        card("Win rate (value)", percent(figures.win_rate_by_value)),
        card("Average deal", figures.average_deal_size === null ? "–" : money(figures.average_deal_size, currency)),
        card("Active opportunities", String(figures.active_opportunities), "#/opportunities?status=open")),
      el("h2", {}, "Pipeline by stage"),
      stageChart(figures.by_stage, currency)));
  }
  if (data.team_metrics.length) {
    const rows = data.team_metrics.map((member) => {
      const [currency, figures] = Object.entries(member.currencies)[0] || ["", null];
      return el("tr", {},
        el("td", {}, el("a", { href: `#/dashboard?user=${member.user_id}` }, member.name)),
        el("td", { class: "num" }, figures ? money(figures.pipeline_value, currency) : "–"),
        el("td", { class: "num hide-narrow" }, figures ? money(figures.weighted_pipeline_value, currency) : "–"),
        el("td", { class: "num" }, figures ? money(figures.won_revenue, currency) : "–"),
        el("td", { class: "num hide-narrow" }, figures ? percent(figures.win_rate_by_count) : "–"));
    });
    blocks.push(el("section", {}, el("h2", {}, "Team"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Person"), el("th", { class: "num" }, "Pipeline"),
        el("th", { class: "num hide-narrow" }, "Weighted"), el("th", { class: "num" }, "Won"), el("th", { class: "num hide-narrow" }, "Win rate"))),
      el("tbody", {}, rows))));
  }
  if (data.top_performers.length) {
    blocks.push(el("section", {}, el("h2", {}, "Top performers"),
      el("ol", {}, data.top_performers.map((p) => el("li", {}, `${p.name}: ${money(p.won_revenue, p.currency)} (${p.won_count} won)`)))));
  }
  show(heading, badge, filters, ...blocks);
  const trends = await api(`/api/dashboard/trends${query.get("user") ? `?user=${encodeURIComponent(query.get("user"))}` : ""}`);
  for (const [currency, series] of Object.entries(trends.currencies)) {
    const section = main.querySelector(`section[data-currency="${currency}"]`);
    if (!section) continue;
    section.append(el("h2", {}, "Forecast by expected closing month"), monthBars(series.forecast, currency, "forecast"),
      el("h2", {}, "Won revenue over time"), monthLine(series.won, currency));
  }
}

const iso = (d) => d.toISOString().slice(0, 10);
function periodRange(period) {
  const now = new Date();
  const y = now.getFullYear(), m = now.getMonth();
  if (period === "month") return [iso(new Date(Date.UTC(y, m, 1))), iso(new Date(Date.UTC(y, m + 1, 0)))];
  if (period === "quarter") { const q = Math.floor(m / 3) * 3; return [iso(new Date(Date.UTC(y, q, 1))), iso(new Date(Date.UTC(y, q + 3, 0)))]; }
  if (period === "year") return [`${y}-01-01`, `${y}-12-31`];
  if (period === "12m") return [iso(new Date(Date.UTC(y - 1, m, now.getDate() + 1))), iso(now)];
  return null;
}
function matchesPeriod(period, query) {
  const range = periodRange(period);
  return range ? query.get("from") === range[0] && query.get("to") === range[1] : !query.get("from") && !query.get("to");
}

function svg(width, height, label) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  node.setAttribute("class", "chart");
  node.setAttribute("viewBox", `0 0 ${width} ${height}`);
  node.setAttribute("role", "img");
  node.setAttribute("aria-label", label);
  return node;
}
function svgChild(parent, tag, attrs, text) {
  const node = document.createElementNS(parent.namespaceURI, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  parent.append(node);
  return node;
}

// Vertical bars per month: the open value, and the weighted value inside it.
function monthBars(months, currency, name) {
  if (!months.length) return el("p", { class: "muted" }, "No open opportunities with an expected closing date.");
  const shown = months.slice(0, 18), width = 640, height = 200, bottom = 30, step = width / shown.length;
  const max = Math.max(1, ...shown.map((m) => m.value));
  const chart = svg(width, height, `${name} by month`);
  chart.setAttribute("data-chart", name);
  shown.forEach((m, i) => {
    const h = (height - bottom - 10) * m.value / max, w = (height - bottom - 10) * m.weighted / max;
    const bar = svgChild(chart, "rect", { class: "bar", x: i * step + 4, y: height - bottom - h, width: step - 8, height: Math.max(1, h) });
    svgChild(bar, "title", {}, `${m.month}: ${money(m.value, currency)} (${m.count}), weighted ${money(m.weighted, currency)}`);
    svgChild(chart, "rect", { class: "bar won", x: i * step + 4 + (step - 8) / 4, y: height - bottom - w, width: (step - 8) / 2, height: Math.max(0, w) });
    svgChild(chart, "text", { x: i * step + 2, y: height - 10 }, m.month.slice(2));
  });
  return chart;
}

// A line of won revenue per month.
function monthLine(months, currency) {
  if (!months.length) return el("p", { class: "muted" }, "Nothing won yet.");
  const shown = months.slice(-18), width = 640, height = 180, bottom = 30;
  const max = Math.max(1, ...shown.map((m) => m.value));
  const step = shown.length > 1 ? (width - 20) / (shown.length - 1) : 0;
  const chart = svg(width, height, "won revenue by month");
  chart.setAttribute("data-chart", "won");
  const points = shown.map((m, i) => [10 + i * step, height - bottom - (height - bottom - 10) * m.value / max]);
  svgChild(chart, "polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "currentColor", "stroke-width": 2, class: "line" });
  shown.forEach((m, i) => {
    const dot = svgChild(chart, "circle", { cx: points[i][0], cy: points[i][1], r: 3, class: "dot" });
    svgChild(dot, "title", {}, `${m.month}: ${money(m.value, currency)} (${m.count} won)`);
    if (i % Math.ceil(shown.length / 9) === 0) svgChild(chart, "text", { x: Math.min(width - 36, Math.max(0, points[i][0] - 14)), y: height - 10 }, m.month.slice(2));
  });
  return chart;
}

async function opportunitiesPage() {
  const query = params();
  if (!query.get("per_page")) query.set("per_page", "50");
  const data = await api(`/api/opportunities?${query}`);
  const form = el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) if (value) next.set(key, value);
    go("opportunities", next);
  } },
    el("label", {}, "Search", el("input", { name: "q", value: query.get("q") || "", placeholder: "name, account, salesperson" })),
    el("label", {}, "Status", el("select", { name: "status" }, ["", "open", "won", "lost"].map((s) =>
      el("option", { value: s, selected: (query.get("status") || "") === s }, s || "any")))),
    el("label", {}, "Sort", el("select", { name: "sort" }, [["", "expected close"], ["-revenue", "revenue ↓"], ["name", "name"], ["stage", "stage"]].map(([v, t]) =>
      el("option", { value: v, selected: (query.get("sort") || "") === v }, t)))),
    el("button", { type: "submit" }, "Filter"));
  const csv = el("button", { type: "button", onclick: async () => {
    const response = await fetch(`/api/opportunities?${query}`, { headers: { accept: "text/csv" }, credentials: "same-origin" });
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: "opportunities.csv" });
    document.body.append(link); link.click(); link.remove();
  } }, "Export CSV");
  const rows = data.items.map((o) => el("tr", { "data-id": o.id },
    el("td", {}, el("a", { href: `#/opportunity/${o.id}` }, o.name)),
    el("td", {}, o.stage ? o.stage.name : "–"),
    el("td", {}, o.status),
    el("td", { class: "num" }, money(o.expected_revenue_cents / 100, o.currency)),
    el("td", { class: "hide-narrow" }, o.salesperson ? o.salesperson.name : "–"),
    el("td", { class: "hide-narrow" }, plainDate(o.date_deadline))));
  const page = data.page, pages = Math.max(1, Math.ceil(data.total / data.per_page));
  const to = (n) => { const next = new URLSearchParams(query); next.set("page", String(n)); return `#/opportunities?${next}`; };
  show(el("h1", {}, "Opportunities"), form,
    el("section", {},
      el("p", { class: "muted", id: "total" }, `${data.total} opportunities`), csv,
      data.items.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Stage"), el("th", {}, "Status"),
        el("th", { class: "num" }, "Expected"), el("th", { class: "hide-narrow" }, "Salesperson"), el("th", { class: "hide-narrow" }, "Expected close"))),
        el("tbody", {}, rows)) : el("p", { class: "muted" }, "Nothing matches these filters."),
      el("div", { class: "pager" },
        page > 1 ? el("a", { href: to(page - 1) }, "← Previous") : null,
        el("span", {}, `Page ${page} of ${pages}`),
        page < pages ? el("a", { href: to(page + 1) }, "Next →") : null)));
}

function describe(entry) {
  const parts = entry.changes.map((c) => `${c.field}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`);
  return `${entry.event.replace("Opportunity", "")}${parts.length ? " — " + parts.join("; ") : ""}`;
}

async function opportunityPage(id) {
  const data = await api(`/api/opportunities/${encodeURIComponent(id)}`);
  const o = data.opportunity;
  const facts = el("table", {}, el("tbody", {},
    [["Stage", o.stage ? o.stage.name : "–"], ["Status", o.status], ["Expected revenue", money(o.expected_revenue_cents / 100, o.currency)],
     ["Probability", `${o.probability}%`], ["Expected close", plainDate(o.date_deadline)], ["Closed", dateTime(o.date_closed)],
     ["Salesperson", o.salesperson ? o.salesperson.name : "unassigned"], ["Team", o.team ? o.team.name : "–"],
     ["Account", o.account ? [o.account.name, o.account.city, o.account.country].filter(Boolean).join(", ") : "–"]]
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
  const timeline = el("ol", { class: "timeline" }, data.history.map((entry) =>
    el("li", {}, el("div", {}, describe(entry)), el("div", { class: "muted" }, `${dateTime(entry.at)} · ${entry.source || "?"}`))));
  const blocks = [el("h1", {}, o.name), el("section", {}, facts)];
  if (me && (me.is_admin || me.is_manager)) {
    const status = el("p", { role: "status" });
    const form = el("form", { class: "inline", onsubmit: async (event) => {
      event.preventDefault();
      const salesperson = Number(new FormData(form).get("salesperson"));
      if (!window.confirm(`Reassign "${o.name}" to user ${salesperson}? Odoo is updated first.`)) return;
      try {
        await api(`/api/opportunities/${o.id}/assign`, { method: "POST", body: JSON.stringify({ salesperson }),
          headers: { "idempotency-key": crypto.randomUUID() } });
        status.className = ""; status.textContent = "Reassigned.";
        await opportunityPage(id);
      } catch (e) { status.className = "error"; status.textContent = e.message; }
    } }, el("label", {}, "Reassign to (user id)", el("input", { name: "salesperson", type: "number", min: 1, required: true })),
      el("button", { type: "submit" }, "Reassign"), status);
    blocks.push(el("section", {}, el("h2", {}, "Reassign"), form));
  }
  blocks.push(el("section", {}, el("h2", {}, "History"), timeline));
  show(...blocks);
}

function tree(nodes) {
  return el("ul", {}, nodes.map((n) => el("li", {}, el("a", { href: `#/dashboard?user=${n.user_id}` }, n.name),
    n.job_title ? el("span", { class: "muted" }, ` · ${n.job_title}`) : null, n.reports.length ? tree(n.reports) : null)));
}

async function teamPage() {
  const data = await api("/api/team");
  show(el("h1", {}, "Team"), el("section", {}, data.team.length ? tree(data.team) : el("p", { class: "muted" }, "No reporting line yet.")));
}

async function adminPage() {
  const [accounts, sync] = await Promise.all([api("/api/admin/accounts"), api("/api/sync/status")]);
  const act = (email, action, body) => async () => {
    try { await api(`/api/admin/accounts/${encodeURIComponent(email)}/${action}`, { method: "POST", body: JSON.stringify(body || {}) }); await adminPage(); }
    catch (e) { failure(e); }
  };
  const rows = accounts.accounts.map((a) => el("tr", { "data-email": a.email },
    el("td", {}, a.email), el("td", {}, a.role), el("td", {}, a.status),
    el("td", {}, a.status !== "approved" ? el("button", { type: "button", onclick: act(a.email, "approve") }, "Approve") : null,
      a.status === "approved" ? el("button", { type: "button", onclick: act(a.email, "disable") }, "Disable") : null)));
  const runs = sync.history.recent_runs.map((run) => el("tr", {},
    el("td", {}, dateTime(run.started_at)), el("td", {}, Object.keys(run.outcome)[0] || String(run.outcome)),
    el("td", {}, run.outcome.failed ? run.outcome.failed.reason : ""),
    el("td", { class: "num" }, run.duration_ms === null ? "–" : `${(run.duration_ms / 1000).toFixed(1)} s`)));
  const syncNow = el("button", { type: "button", onclick: async () => {
    try { await api("/api/sync", { method: "POST", body: "{}" }); syncNow.textContent = "Sync queued"; } catch (e) { failure(e); }
  } }, "Sync now");
  show(el("h1", {}, "Admin"),
    el("section", {}, el("h2", {}, "Accounts"), el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Email"), el("th", {}, "Role"), el("th", {}, "Status"), el("th", {}, ""))), el("tbody", {}, rows))),
    el("section", {}, el("h2", {}, "Sync"), syncNow, el("p", { class: "muted" }, sync.schedule.next_run_at ? `Next run ${dateTime(sync.schedule.next_run_at)}` : ""),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Started"), el("th", {}, "Outcome"), el("th", {}, "Error"), el("th", { class: "num" }, "Took"))), el("tbody", {}, runs))),
    el("section", {}, el("h2", {}, "Backup"), el("a", { href: "/api/admin/backup" }, "Download a consistent copy of the data file")));
}

async function route() {
  const [path] = location.hash.replace(/^#\/?/, "").split("?");
  if (path === "login") return loginPage();
  try {
    if (!me) me = await api("/api/me");
    document.getElementById("nav").hidden = false;
    document.getElementById("nav-admin").hidden = !me.is_admin;
    document.getElementById("demo-banner").hidden = !me.demo;
    if (path.startsWith("opportunity/")) return await opportunityPage(path.slice("opportunity/".length));
    if (path === "opportunities") return await opportunitiesPage();
    if (path === "team") return await teamPage();
    if (path === "admin") return await adminPage();
    return await dashboardPage();
  } catch (error) { if (location.hash !== "#/login") failure(error); }
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* signed out either way */ }
  me = null; location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();
