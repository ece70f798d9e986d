// pipelog's dashboard: a small single-page app over the JSON API. No third-party code, no inline
// script (the Content-Security-Policy forbids it), and untrusted text only ever goes in textContent.
"use strict";

const main = document.getElementById("main");
let me = null;
let options = null; // teams, people within reach, stages: fetched once per sign-in

async function filterOptions() {
  if (!options) options = await api("/api/filters");
  return options;
}

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
  // A lapsed session sends you to sign-in; a refused sign-in says why, where it happened.
  if (response.status === 401 && !path.startsWith("/api/auth/")) { me = null; location.hash = "#/login"; throw new Error("Please sign in."); }
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error((body && body.error && body.error.message) || response.statusText);
    error.status = response.status;
    error.code = body && body.error && body.error.code;
    throw error;
  }
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
// The name of the field that had the focus when a form was applied: the next render gives it back.
let focusAfterRender = null;

function go(path, query) {
  const text = query && [...query.keys()].length ? `?${query}` : "";
  focusAfterRender = document.activeElement && document.activeElement.name ? document.activeElement.name : null;
  location.hash = `#/${path}${text}`;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
  const name = focusAfterRender;
  focusAfterRender = null;
  const field = name && main.querySelector(`[name="${CSS.escape(name)}"]`);
  if (field) field.focus();
}
function failure(error) {
  const back = el("p", {}, el("a", { href: "#/dashboard" }, "Back to the dashboard"),
    history.length > 1 ? [" · ", el("button", { type: "button", class: "link", onclick: () => history.back() }, "Go back")] : null);
  if (error.status === 404) {
    show(el("h1", {}, "Not found"), el("p", { role: "alert" }, "There is nothing here, or it is not within your reach."), back);
  } else {
    show(el("p", { class: "error", role: "alert" }, error.message), back);
  }
}

// A small centred form that posts its fields as JSON; `done` says what happened.
function accountForm(title, fields, submitText, submit, footer) {
  document.getElementById("nav").hidden = true;
  const message = el("p", { role: "alert" });
  const form = el("form", { class: "login", onsubmit: async (event) => {
    event.preventDefault();
    message.className = "";
    try { message.textContent = await submit(Object.fromEntries(new FormData(form))) || ""; }
    catch (e) { message.className = "error"; message.textContent = e.message; }
  } },
    el("h1", {}, title),
    fields.map(([name, label, type, autocomplete]) => el("label", {}, label, el("input", { name, type, autocomplete, required: true,
      minlength: type === "password" && autocomplete === "new-password" ? 8 : undefined }))),
    el("button", { type: "submit" }, submitText), message, footer);
  show(form);
  // Keyboard users start in the form, not in the header.
  form.querySelector("input").focus();
}

function loginPage() {
  accountForm("Sign in", [["email", "Email", "email", "username"], ["password", "Password", "password", "current-password"]], "Sign in",
    async (data) => {
      await api("/api/auth/login", { method: "POST", body: JSON.stringify(data) });
      me = null; options = null;
      location.hash = "#/dashboard";
    }, el("p", { class: "muted" }, "No account yet? ", el("a", { href: "#/signup" }, "Ask for one")));
}

function signupPage() {
  accountForm("Ask for an account", [["name", "Name", "text", "name"], ["email", "Work email (as in Odoo)", "email", "username"],
    ["password", "Password (8 characters or more)", "password", "new-password"]], "Ask for an account",
    async (data) => {
      await api("/api/auth/signup", { method: "POST", body: JSON.stringify(data) });
      return "Thanks: your account is waiting for approval. An admin has to approve it before you can sign in.";
    }, el("p", { class: "muted" }, el("a", { href: "#/login" }, "Back to sign-in")));
}

// The one-time link pipelog prints at its first start, when it has no admin yet.
function setupPage() {
  const token = params().get("token") || "";
  accountForm("Create the first admin", [["name", "Name", "text", "name"], ["email", "Email", "email", "username"],
    ["password", "Password (8 characters or more)", "password", "new-password"]], "Create the admin",
    async (data) => {
      await api("/api/setup", { method: "POST", body: JSON.stringify({ ...data, token }) });
      location.hash = "#/login";
    }, el("p", { class: "muted" }, "This link works once, for 30 minutes after pipelog started."));
}

function card(label, value, href) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label),
    href ? el("a", { class: "value", href }, value) : el("div", { class: "value" }, value));
}

// What each figure means, in the words the README uses; a disclosure, so it works on touch too.
const DEFINITIONS = [
  ["Open pipeline", "the expected revenue of open opportunities (neither won nor lost), now."],
  ["Weighted pipeline", "each open opportunity's expected revenue times its probability, added up."],
  ["Won revenue", "the expected revenue of opportunities won in the period (all time without one)."],
  ["Win rate (count)", "won ÷ (won + lost), counting the deals closed in the period."],
  ["Win rate (value)", "won value ÷ (won + lost value), over the same deals."],
  ["Average deal", "(open + won value) ÷ (open + won deals): what an opportunity that is not lost is worth."],
  ["Open opportunities", "how many are open now."],
  ["By stage", "open and won opportunities in each stage; lost ones are in no stage bar."],
  ["Forecast", "open opportunities by expected closing month from this month on; “Overdue”: expected before today; “No date”: no expected close."],
];
function definitions() {
  return el("details", { class: "definitions" }, el("summary", {}, "What the figures mean"),
    el("dl", {}, DEFINITIONS.flatMap(([term, text]) => [el("dt", {}, term), el("dd", {}, text)])),
    el("p", { class: "muted" }, "Every number opens the list of opportunities behind it; amounts are never added across currencies."));
}

// Horizontal bars, one per stage, drawn as SVG; each bar links to the opportunities behind it.
function stageChart(stages, currency) {
  const width = 640, row = 28, left = 140, right = 150;
  const max = Math.max(1, ...stages.map((s) => s.value));
  const chart = svg(width, Math.max(row, stages.length * row), "Pipeline by stage");
  chart.setAttribute("data-chart", "stages");
  stages.forEach((stage, i) => {
    const y = i * row;
    const link = svgChild(chart, "a", { href: listing(stage.drill), "data-stage": stage.stage_id });
    svgChild(link, "text", { x: 0, y: y + 18 }, stage.stage);
    const bar = svgChild(link, "rect", { class: stage.stage.toLowerCase() === "won" ? "bar won" : "bar", x: left, y: y + 5, height: 18,
      width: Math.max(1, (width - left - right) * stage.value / max) });
    svgChild(bar, "title", {}, `${stage.stage}: ${stage.count} · ${money(stage.value, currency)}`);
    svgChild(link, "text", { x: width - right + 8, y: y + 18 }, `${stage.count} · ${money(stage.value, currency)}`);
  });
  return chart;
}

// The opportunities behind a number: the list query the API gave with it (its `drill`), never
// rebuilt here, and optionally a sort.
const listing = (drill, sort) => `#/opportunities?${drill}${sort ? `&sort=${sort}` : ""}`;

// A filter choice; the form's button applies it (a keyboard user can browse the choices freely).
function select(name, label, choices, selected, emptyText) {
  return el("label", {}, label, el("select", { name, "aria-label": label },
    el("option", { value: "" }, emptyText),
    choices.map(([value, text]) => el("option", { value, selected: String(value) === (selected || "") }, text))));
}

async function dashboardPage() {
  if (me && !me.is_admin && me.user_id === null) {
    return show(el("h1", {}, "Nothing to show yet"), el("section", {}, el("p", {},
      `Your account (${me.email}) is not linked to an Odoo user, so no opportunities are within your reach. `
      + "Accounts link by email: ask an admin to check that your Odoo user has this email, or to sign you up with the one it has.")));
  }
  const query = params();
  const [data, choices] = await Promise.all([api(`/api/dashboard?${query}`), filterOptions()]);
  const heading = el("h1", {}, data.user_id === null ? "Everyone" : data.name);
  const fresh = data.data_freshness;
  const badge = fresh.last_sync_failed ? el("span", { class: "badge bad", role: "status" }, `Last sync failed: ${fresh.last_error || ""}`)
    : fresh.stale ? el("span", { class: "badge bad", role: "status" }, fresh.last_sync_at ? `Data may be stale (last sync ${dateTime(fresh.last_sync_at)})` : "Not synced yet")
    : el("span", { class: "badge good" }, `Synced ${dateTime(fresh.last_sync_at)}${fresh.next_sync_at ? ` · next ${dateTime(fresh.next_sync_at)}` : ""}`);
  // Every filter lives in the URL: a view can be bookmarked and shared.
  const filters = el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) if (value && key !== "period") next.set(key, value);
    go("dashboard", next);
  } },
    el("label", {}, "Won in", el("select", { name: "period", "aria-label": "Period", onchange: (event) => {
      // A preset fills the dates; a custom range is typed into them. Apply applies either.
      if (event.target.value === "custom") return;
      const range = periodRange(event.target.value);
      event.target.form.elements.from.value = range ? range[0] : "";
      event.target.form.elements.to.value = range ? range[1] : "";
    } }, [["", "All time"], ["month", "This month"], ["quarter", "This quarter"], ["year", "This year"], ["12m", "Last 12 months"], ["custom", "Custom range"]].map(([v, t]) =>
      el("option", { value: v, selected: v === "custom" ? !["", "month", "quarter", "year", "12m"].some((p) => matchesPeriod(p, query)) : matchesPeriod(v, query) }, t)))),
    el("label", {}, "from", el("input", { type: "date", name: "from", value: query.get("from") || "" })),
    el("label", {}, "to", el("input", { type: "date", name: "to", value: query.get("to") || "" })),
    select("team", "Team", choices.teams.map((t) => [t.id, t.name]), query.get("team"), "All teams"),
    select("user", "Salesperson", choices.salespeople.map((p) => [p.id, p.label]), query.get("user"), me && !me.is_admin ? "Me and my team" : "Everyone"),
    select("stage", "Stage", choices.stages.map((s) => [s.id, s.name]), query.get("stage"), "All stages"),
    el("button", { type: "submit", name: "apply" }, "Apply"),
    [...query.keys()].length ? el("a", { href: "#/dashboard" }, "Clear filters") : null);
  const blocks = [];
  const currencies = Object.entries(data.currencies);
  if (!currencies.length) {
    const why = me && me.sync_configured === false && !me.demo
      ? "No Odoo is configured, so nothing is synced: set [odoo] url, database, login and password (see `pipelog config example`), then restart."
      : [...query.keys()].length ? "No opportunities match these filters." : "No opportunities yet. Once Odoo is synced, your pipeline appears here.";
    blocks.push(el("section", {}, el("p", { class: "muted" }, why)));
  }
  for (const [currency, figures] of currencies) {
    blocks.push(el("section", { "data-currency": currency },
      el("h2", {}, currency),
      el("div", { class: "cards" },
        card("Open pipeline", money(figures.pipeline_value, currency), listing(figures.drill.open)),
        card("Weighted pipeline", money(figures.weighted_pipeline_value, currency), listing(figures.drill.open, "-revenue")),
        card("Won revenue", money(figures.won_revenue, currency), listing(figures.drill.won)),
        card("Win rate (count)", percent(figures.win_rate_by_count), listing(figures.drill.closed)),
        card("Win rate (value)", percent(figures.win_rate_by_value), listing(figures.drill.closed, "-revenue")),
        card("Average deal", figures.average_deal_size === null ? "–" : money(figures.average_deal_size, currency), listing(figures.drill.active)),
        card("Open opportunities", String(figures.active_opportunities), listing(figures.drill.open))),
      el("h2", {}, "Pipeline by stage"),
      figures.by_stage.length ? stageChart(figures.by_stage, currency) : el("p", { class: "muted" }, "No open or won opportunities here."),
      // The trends arrive after the figures: their space is kept, so nothing moves when they do.
      el("h2", {}, "Forecast by expected closing month"), el("div", { class: "chart-slot forecast", "data-slot": "forecast" }),
      el("h2", {}, "Won revenue over time"), el("div", { class: "chart-slot won", "data-slot": "won" })));
  }
  if (data.team_metrics.length) {
    const rows = data.team_metrics.map((member) => {
      const [currency, figures] = Object.entries(member.currencies)[0] || ["", null];
      const person = new URLSearchParams(query); person.set("user", member.user_id);
      const figure = (text, drill) => figures ? el("a", { href: listing(drill) }, text) : "–";
      return el("tr", {},
        el("td", {}, el("a", { href: `#/dashboard?${person}` }, member.name)),
        el("td", { class: "num" }, figure(figures && money(figures.pipeline_value, currency), figures && figures.drill.open)),
        el("td", { class: "num hide-narrow" }, figure(figures && money(figures.weighted_pipeline_value, currency), figures && figures.drill.open)),
        el("td", { class: "num" }, figure(figures && money(figures.won_revenue, currency), figures && figures.drill.won)),
        el("td", { class: "num hide-narrow" }, figure(figures && percent(figures.win_rate_by_count), figures && figures.drill.closed)));
    });
    blocks.push(el("section", {}, el("h2", {}, "Team"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Person"), el("th", { class: "num" }, "Pipeline"),
        el("th", { class: "num hide-narrow" }, "Weighted"), el("th", { class: "num" }, "Won"), el("th", { class: "num hide-narrow" }, "Win rate"))),
      el("tbody", {}, rows))));
  }
  if (data.top_performers.length) {
    blocks.push(el("section", {}, el("h2", {}, "Top performers"),
      el("ol", {}, data.top_performers.map((p) => el("li", {},
        el("a", { href: listing(p.drill) }, p.name),
        `: ${money(p.won_revenue, p.currency)} (${p.won_count} won)`)))));
  }
  const periodNote = query.get("from") || query.get("to")
    ? el("p", { class: "muted", id: "period-note" }, `Won, lost, win rates, the average deal, the team table, top performers and the won line: deals closed ${query.get("from") ? plainDate(query.get("from")) : "…"} – ${query.get("to") ? plainDate(query.get("to")) : "…"}. Open pipeline, weighted pipeline, open opportunities and the forecast: now.`)
    : null;
  show(heading, badge, filters, periodNote, definitions(), ...blocks);
  performance.mark("dashboard:numbers");
  // The same filters as the figures: the period narrows the won line too.
  const trends = await api(`/api/dashboard/trends?${query}`);
  // Only this rendering's sections: after a quick navigation, the page may show another scope.
  for (const section of blocks.filter((block) => block.dataset.currency && block.isConnected)) {
    const currency = section.dataset.currency;
    const series = trends.currencies[currency] || { forecast: [], won: [] };
    // Overdue first, then the months from this one on, then what has no expected close: nothing hidden.
    const bars = [series.overdue, ...series.forecast.slice(0, 16), series.no_expected_close].filter(Boolean);
    section.querySelector("[data-slot=forecast]").replaceChildren(monthBars(bars, currency, "forecast"));
    section.querySelector("[data-slot=won]").replaceChildren(monthLine(series.won, currency));
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
// What a bucket is called under its bar.
const BUCKET_LABELS = { overdue: "Overdue", none: "No date" };

function monthBars(months, currency, name) {
  if (!months.length) return el("p", { class: "muted" }, "No open opportunities.");
  const shown = months.slice(0, 18), width = 640, height = 200, bottom = 30, step = width / shown.length;
  const max = Math.max(1, ...shown.map((m) => m.value));
  const chart = svg(width, height, `${name} by month`);
  chart.setAttribute("data-chart", name);
  shown.forEach((m, i) => {
    const h = (height - bottom - 10) * m.value / max, w = (height - bottom - 10) * m.weighted / max;
    const bucket = BUCKET_LABELS[m.month];
    const link = svgChild(chart, "a", { href: listing(m.drill), "data-month": m.month });
    const bar = svgChild(link, "rect", { class: bucket ? `bar ${m.month === "overdue" ? "overdue" : "undated"}` : "bar", x: i * step + 4, y: height - bottom - h, width: step - 8, height: Math.max(1, h) });
    svgChild(bar, "title", {}, `${bucket || m.month}: ${money(m.value, currency)} (${m.count}), weighted ${money(m.weighted, currency)}`);
    svgChild(link, "rect", { class: "bar won", x: i * step + 4 + (step - 8) / 4, y: height - bottom - w, width: (step - 8) / 2, height: Math.max(0, w) });
    svgChild(chart, "text", { x: i * step + 2, y: height - 10 }, bucket || m.month.slice(2));
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
    const link = svgChild(chart, "a", { href: listing(m.drill), "data-month": m.month });
    const dot = svgChild(link, "circle", { cx: points[i][0], cy: points[i][1], r: 5, class: "dot" });
    svgChild(dot, "title", {}, `${m.month}: ${money(m.value, currency)} (${m.count} won)`);
    if (i % Math.ceil(shown.length / 9) === 0) svgChild(chart, "text", { x: Math.min(width - 36, Math.max(0, points[i][0] - 14)), y: height - 10 }, m.month.slice(2));
  });
  return chart;
}

// Drill-down parameters the list form has no field for; kept when the form is applied.
const LIST_SCOPE = ["user", "currency", "close_from", "close_to", "closed_from", "closed_to"];

async function opportunitiesPage() {
  const query = params();
  if (!query.get("per_page")) query.set("per_page", "50");
  const [data, choices] = await Promise.all([api(`/api/opportunities?${query}`), filterOptions()]);
  const form = el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) if (value) next.set(key, value);
    go("opportunities", next);
  } },
    LIST_SCOPE.filter((key) => query.get(key)).map((key) => el("input", { type: "hidden", name: key, value: query.get(key) })),
    el("label", {}, "Search", el("input", { name: "q", value: query.get("q") || "", placeholder: "name, account, salesperson" })),
    select("status", "Status", [["open", "open"], ["won", "won"], ["lost", "lost"], ["active", "open or won"], ["closed", "won or lost"]], query.get("status"), "any"),
    select("team", "Team", choices.teams.map((t) => [t.id, t.name]), query.get("team"), "All teams"),
    select("salesperson", "Salesperson", choices.salespeople.map((p) => [p.id, p.label]), query.get("salesperson"), "Anyone"),
    select("stage", "Stage", choices.stages.map((s) => [s.id, s.name]), query.get("stage"), "All stages"),
    el("label", {}, "Sort", el("select", { name: "sort" }, [["", "expected close"], ["-revenue", "revenue ↓"], ["name", "name"], ["stage", "stage"], ["salesperson", "salesperson"]].map(([v, t]) =>
      el("option", { value: v, selected: (query.get("sort") || "") === v }, t)))),
    el("button", { type: "submit", name: "apply" }, "Filter"),
    [...query.keys()].some((k) => k !== "per_page") ? el("a", { href: "#/opportunities" }, "Clear filters") : null);
  const person = query.get("user") && choices.salespeople.find((p) => String(p.id) === query.get("user"));
  const range = (from, to) => `${from ? plainDate(from) : "…"} – ${to ? plainDate(to) : "…"}`;
  const scope = [
    query.get("user") ? `within ${person ? person.name : `user ${query.get("user")}`}'s reach` : null,
    query.get("currency") ? `in ${query.get("currency")}` : null,
    query.get("close_from") || query.get("close_to") ? `expected to close ${range(query.get("close_from"), query.get("close_to"))}` : null,
    query.get("closed_from") || query.get("closed_to") ? `closed ${range(query.get("closed_from"), query.get("closed_to"))}` : null,
  ].filter(Boolean);
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
      el("p", { class: "muted" }, el("span", { id: "total" }, String(data.total)), ` opportunities${scope.length ? ", " + scope.join(", ") : ""}`),
      // What every page holds together, per currency (amounts are never added across currencies).
      el("ul", { class: "totals", id: "totals" }, Object.entries(data.totals).map(([currency, t]) =>
        el("li", { "data-currency": currency, "data-count": t.count, "data-value-cents": t.value_cents, "data-weighted-cents": t.weighted_cents },
          `${currency}: ${t.count} · ${money(t.value_cents / 100, currency)}`, t.weighted_cents ? ` · weighted ${money(t.weighted_cents / 100, currency)}` : ""))),
      csv,
      data.items.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Stage"), el("th", {}, "Status"),
        el("th", { class: "num" }, "Expected"), el("th", { class: "hide-narrow" }, "Salesperson"), el("th", { class: "hide-narrow" }, "Expected close"))),
        el("tbody", {}, rows)) : el("p", { class: "muted" }, "Nothing matches these filters."),
      el("div", { class: "pager" },
        page > 1 ? el("a", { href: to(page - 1) }, "← Previous") : null,
        el("span", {}, `Page ${page} of ${pages}`),
        page < pages ? el("a", { href: to(page + 1) }, "Next →") : null)));
  performance.mark("opportunities:rows");
}

const EVENT_NAMES = { OpportunityCreated: "Created", OpportunityUpdated: "Updated", OpportunityAssigned: "Reassigned",
  OpportunityStageChanged: "Stage moved", OpportunityArchived: "Lost", OpportunityRestored: "Restored", OpportunityDeleted: "Deleted in Odoo" };
const FIELD_NAMES = { stage_id: "stage", user_id: "salesperson", team_id: "team", account_id: "account", expected_revenue: "expected revenue",
  probability: "probability", date_deadline: "expected close", date_closed: "closed", active: "active", lost_reason: "lost reason", name: "name", kind: "type" };

// One history entry in words: stage and people by name, money in the deal's currency.
function describe(entry, currency) {
  const value = (field, raw, name) => {
    if (name) return name;
    if (raw === null || raw === undefined) return "none";
    if (field === "expected_revenue") return money(raw / 100, currency);
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

async function opportunityPage(id, notice) {
  const data = await api(`/api/opportunities/${encodeURIComponent(id)}`);
  const o = data.opportunity;
  const facts = el("table", {}, el("tbody", {},
    [["Stage", o.stage ? o.stage.name : "–"], ["Status", o.status], ["Expected revenue", money(o.expected_revenue_cents / 100, o.currency)],
     ["Probability", `${o.probability}%`], ["Expected close", plainDate(o.date_deadline)], ["Closed", dateTime(o.date_closed)],
     ["Salesperson", o.salesperson ? o.salesperson.name : "unassigned"],
     ["Managers", data.managers.length ? data.managers.map((m) => m.name).join(" → ") : "–"], ["Team", o.team ? o.team.name : "–"],
     ["Account", o.account ? [o.account.name, o.account.city, o.account.country].filter(Boolean).join(", ") : "–"]]
      .map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
  const timeline = el("ol", { class: "timeline" }, data.history.map((entry) =>
    el("li", {}, el("div", {}, describe(entry, o.currency)), el("div", { class: "muted" }, `${dateTime(entry.at)} · ${entry.source || "?"}`))));
  const blocks = [el("h1", {}, o.name), el("section", {}, facts)];
  if (me && (me.is_admin || me.is_manager)) {
    const { salespeople } = await filterOptions();
    const status = el("p", { role: "status" }, notice || "");
    const form = el("form", { class: "inline", id: "reassign", onsubmit: async (event) => {
      event.preventDefault();
      const salesperson = Number(new FormData(form).get("salesperson"));
      const name = (salespeople.find((p) => p.id === salesperson) || { label: `user ${salesperson}` }).label;
      if (!window.confirm(`Reassign "${o.name}" to ${name}? Odoo is updated first; if Odoo refuses, nothing changes.`)) return;
      try {
        // The version this page shows: a change made meanwhile is refused, not overwritten.
        await api(`/api/opportunities/${o.id}/assign`, { method: "POST", body: JSON.stringify({ salesperson }),
          headers: { "idempotency-key": crypto.randomUUID(), "if-match": `"${data.version}"` } });
        await opportunityPage(id, `Reassigned to ${name}.`);
      } catch (e) {
        status.className = "error";
        if (e.code === "conflict") {
          status.replaceChildren(`Not reassigned: this deal changed since the page was loaded (see its history). `,
            el("button", { type: "button", class: "link", onclick: () => opportunityPage(id, "Reloaded: check the history, then reassign again.") }, "Reload and try again"));
        } else {
          status.textContent = `Not reassigned: ${e.message}`;
        }
      }
    } }, el("label", {}, "Reassign to", el("select", { name: "salesperson", required: true },
        el("option", { value: "" }, "Choose a salesperson…"),
        salespeople.filter((p) => !o.salesperson || p.id !== o.salesperson.id).map((p) => el("option", { value: p.id }, p.label)))),
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
  const [accounts, sync, overrides, choices] = await Promise.all([api("/api/admin/accounts?per_page=200"), api("/api/sync/status"),
    api("/api/admin/overrides"), filterOptions()]);
  const act = (email, action, body) => async () => {
    try { await api(`/api/admin/accounts/${encodeURIComponent(email)}/${action}`, { method: "POST", body: JSON.stringify(body || {}) }); await adminPage(); }
    catch (e) { failure(e); }
  };
  const rows = accounts.accounts.map((a) => el("tr", { "data-email": a.email },
    el("td", {}, a.email), el("td", {}, a.role), el("td", {}, a.status),
    el("td", {}, a.status !== "approved" ? el("button", { type: "button", onclick: act(a.email, "approve") }, "Approve") : null,
      a.status === "approved" ? el("button", { type: "button", onclick: act(a.email, "disable") }, "Disable") : null)));
  const outcome = (run) => typeof run.outcome === "string" ? run.outcome : Object.keys(run.outcome)[0];
  const notes = (run) => run.outcome.failed ? run.outcome.failed.reason
    : run.outcome.succeeded ? [...run.outcome.succeeded.warnings, run.outcome.succeeded.quarantined.length ? `${run.outcome.succeeded.quarantined.length} quarantined` : ""].filter(Boolean).join("; ") : "";
  const runs = sync.history.recent_runs.map((run) => el("tr", {},
    el("td", {}, dateTime(run.started_at)), el("td", {}, outcome(run)),
    el("td", {}, notes(run)),
    el("td", { class: "num" }, run.duration_ms === null ? "–" : `${(run.duration_ms / 1000).toFixed(1)} s`)));
  const lastSuccess = sync.history.recent_runs.find((run) => run.outcome.succeeded);
  const quarantined = (lastSuccess ? lastSuccess.outcome.succeeded.quarantined : []).map((q) => el("li", {}, `${q.model} ${q.id ?? ""}: ${q.reason}`));
  const syncNow = el("button", { type: "button", onclick: async () => {
    try { await api("/api/sync", { method: "POST", body: "{}" }); syncNow.textContent = "Sync queued"; } catch (e) { failure(e); }
  } }, "Sync now");
  const syncSection = sync.configured
    ? [syncNow, el("p", { class: "muted" }, sync.schedule.next_run_at ? `Next run ${dateTime(sync.schedule.next_run_at)}` : "")]
    : [el("p", { class: "muted" }, "No Odoo is configured: set [odoo] url, database, login and password, then restart pipelog.")];

  // Manager overrides: who reports to whom in pipelog when Odoo's employee records are wrong.
  const people = choices.salespeople.map((p) => [p.id, p.label]);
  const overrideStatus = el("p", { role: "status" });
  const setManager = async (user, manager) => {
    try {
      await api(`/api/users/${user}/manager`, { method: "POST", body: JSON.stringify({ manager }),
        headers: { "idempotency-key": crypto.randomUUID() } });
      options = null;
      await adminPage();
    } catch (e) { overrideStatus.className = "error"; overrideStatus.textContent = e.message; }
  };
  const overrideForm = el("form", { class: "inline", id: "override", onsubmit: (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setManager(Number(form.get("user")), form.get("manager") ? Number(form.get("manager")) : null);
  } },
    el("label", {}, "Person", el("select", { name: "user", required: true }, el("option", { value: "" }, "Choose…"), people.map(([v, t]) => el("option", { value: v }, t)))),
    el("label", {}, "Reports to", el("select", { name: "manager" }, el("option", { value: "" }, "Follow Odoo"), people.map(([v, t]) => el("option", { value: v }, t)))),
    el("button", { type: "submit" }, "Set manager"), overrideStatus);
  const overrideRows = overrides.overrides.map((o) => el("tr", { "data-user": o.user_id },
    el("td", {}, o.name), el("td", {}, o.manager_name || (o.manager_id ? `user ${o.manager_id}` : "nobody (top of the tree)")),
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => setManager(o.user_id, null) }, "Follow Odoo again"))));

  // Views are derived from the log: verify compares them with a replay; rebuild replaces them.
  const viewStatus = el("p", { role: "status", id: "views-status" });
  const viewAction = (path, describe) => async (event) => {
    event.target.disabled = true; viewStatus.className = ""; viewStatus.textContent = "Working… (this replays the whole log)";
    try { viewStatus.textContent = describe(await api(path, { method: "POST", body: "{}" })); }
    catch (e) { viewStatus.className = "error"; viewStatus.textContent = e.message; }
    finally { event.target.disabled = false; }
  };
  const verify = el("button", { type: "button", onclick: viewAction("/api/admin/verify", (r) => r.clean
    ? `Views verified: ${r.rows_checked} rows match a replay of ${r.events} events.`
    : `Views differ from the log: ${r.differences_total} differences, ${r.problems.length} problems. ${r.differences.join("; ")} ${r.problems.join("; ")} Rebuild to repair them.`) }, "Verify views");
  const rebuild = el("button", { type: "button", onclick: viewAction("/api/admin/rebuild", (r) => `Rebuilt ${r.rows} rows from ${r.events} events in ${r.seconds.toFixed(1)} s.`) }, "Rebuild views");

  show(el("h1", {}, "Admin"),
    el("section", {}, el("h2", {}, "Accounts"),
      accounts.total > accounts.accounts.length
        ? el("p", { class: "muted" }, `Showing ${accounts.accounts.length} of ${accounts.total}, those waiting for approval first.`) : null,
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Email"), el("th", {}, "Role"), el("th", {}, "Status"), el("th", {}, ""))), el("tbody", {}, rows))),
    el("section", {}, el("h2", {}, "Sync"), ...syncSection,
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Started"), el("th", {}, "Outcome"), el("th", {}, "Errors and warnings"), el("th", { class: "num" }, "Took"))), el("tbody", {}, runs)),
      quarantined.length ? [el("h2", {}, "Quarantined records"), el("ul", {}, quarantined)] : null),
    el("section", {}, el("h2", {}, "Manager overrides"), overrideForm,
      overrideRows.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Person"), el("th", {}, "Reports to"), el("th", {}, ""))), el("tbody", {}, overrideRows))
        : el("p", { class: "muted" }, "None: everyone follows Odoo's employee records.")),
    el("section", {}, el("h2", {}, "Views"), el("div", { class: "inline" }, verify, " ", rebuild), viewStatus),
    el("section", {}, el("h2", {}, "Backup"), el("a", { href: "/api/admin/backup" }, "Download a consistent copy of the data file")));
}

async function route() {
  const [path] = location.hash.replace(/^#\/?/, "").split("?");
  if (path === "login") return loginPage();
  if (path === "signup") return signupPage();
  if (path === "setup") return setupPage();
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
  me = null; options = null; location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();
