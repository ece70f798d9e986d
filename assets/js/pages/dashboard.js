// The dashboard: per currency, the cards, the pipeline by stage, the forecast, won revenue over
// time, the team table and the top performers. Every number links to the list behind it, by the
// `drill` query the API gives with it (never rebuilt here).
import { api, filterOptions, session } from "../api.js";
import { barList, columnChart, figureLink } from "../charts.js";
import { el, go, select } from "../dom.js";
import { limits } from "./history.js";
import { count, dateTime, monthName, money, percent, plainDate } from "../format.js";

/** The list behind a number, optionally sorted. */
export const listing = (drill, sort) => `#/opportunities?${drill}${sort ? `&sort=${sort}` : ""}`;

// What each figure means, in the words the README uses; a disclosure, so it works on touch too.
const DEFINITIONS = [
  ["Open pipeline", "the expected revenue of open opportunities (neither won nor lost), now."],
  ["Weighted pipeline", "each open opportunity's expected revenue times its probability, added up, now."],
  ["Won revenue", "the expected revenue of opportunities won in the period (all time without one)."],
  ["Win rate (count)", "won ÷ (won + lost), counting the deals closed in the period; not shown for one stage (lost deals keep the stage they were lost in)."],
  ["Win rate (value)", "won value ÷ (won + lost value), over the same deals."],
  ["Average deal", "(open + won value) ÷ (open + won deals), won ones closed in the period: what an opportunity that is not lost is worth."],
  ["Open opportunities", "how many are open now."],
  ["By stage", "open opportunities, and those won in the period, in each stage; lost ones are in no bar."],
  ["Forecast", "open opportunities by expected closing month from this month on; “Overdue”: expected before today; “No date”: no expected close."],
  ["Team", "one row per direct report (their whole team), your own deals, and for admins unassigned deals and people outside the hierarchy; the total row is the cards."],
];

function definitions() {
  return el("details", { class: "definitions" }, el("summary", {}, "What the figures mean"),
    el("dl", {}, DEFINITIONS.map(([term, text]) => [el("dt", {}, term), el("dd", {}, text)])),
    el("p", { class: "muted" }, "Every number opens the list of opportunities behind it; amounts are never added across currencies."));
}

const iso = (d) => d.toISOString().slice(0, 10);
function periodRange(period) {
  const now = new Date();
  const y = now.getFullYear(), m = now.getMonth();
  if (period === "month") return [iso(new Date(Date.UTC(y, m, 1))), iso(new Date(Date.UTC(y, m + 1, 0)))];
  if (period === "quarter") { const q = Math.floor(m / 3) * 3; return [iso(new Date(Date.UTC(y, q, 1))), iso(new Date(Date.UTC(y, q + 3, 0)))]; }
  if (period === "year") return [`${y}-01-01`, `${y}-12-31`];
  if (period === "12m") return [iso(new Date(Date.UTC(y - 1, m, now.getDate() + 1))), iso(new Date(Date.UTC(y, m, now.getDate())))];
  return null;
}
const PRESETS = [["", "All time"], ["month", "This month"], ["quarter", "This quarter"], ["year", "This year"], ["12m", "Last 12 months"]];
function matchesPeriod(period, query) {
  const range = periodRange(period);
  return range ? query.get("from") === range[0] && query.get("to") === range[1] : !query.get("from") && !query.get("to");
}

function filterForm(query, choices) {
  const preset = PRESETS.find(([value]) => matchesPeriod(value, query));
  return el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) if (value && key !== "period") next.set(key, value);
    go("dashboard", next);
  } },
    el("label", {}, "Closed in", el("select", { name: "period", onchange: (event) => {
      // A preset fills the dates; a custom range is typed into them. Apply applies either.
      if (event.target.value === "custom") return;
      const range = periodRange(event.target.value);
      event.target.form.elements.from.value = range ? range[0] : "";
      event.target.form.elements.to.value = range ? range[1] : "";
    } }, [...PRESETS, ["custom", "Custom range"]].map(([value, text]) =>
      el("option", { value, selected: preset ? preset[0] === value : value === "custom" }, text)))),
    el("label", {}, "from", el("input", { type: "date", name: "from", value: query.get("from") || "" })),
    el("label", {}, "to", el("input", { type: "date", name: "to", value: query.get("to") || "" })),
    select("team", "Team", choices.teams.map((t) => [t.id, t.name]), query.get("team"), "All teams"),
    select("user", "Whose", choices.salespeople.map((p) => [p.id, p.label]), query.get("user"), session.me && !session.me.is_admin ? "Me and my team" : "Everyone"),
    select("stage", "Stage", choices.stages.map((s) => [s.id, s.name]), query.get("stage"), "All stages"),
    el("label", {}, "As of", el("input", { type: "date", name: "as_of", value: (query.get("as_of") || "").slice(0, 10), max: new Date().toISOString().slice(0, 10) })),
    el("button", { type: "submit", name: "apply" }, "Apply"),
    [...query.keys()].length ? el("a", { href: "#/dashboard" }, "Clear filters") : null);
}

/** With "as of": which moment the figures are about, and what was not known then. */
function asOfNote(history) {
  if (!history) return null;
  return [el("p", { class: "note", id: "as-of-note" }, `The pipeline as it was at ${dateTime(history.as_of)}, within today's reach. `,
    el("a", { href: "#/dashboard" }, "Back to now")), history.partial ? limits(history) : null];
}

function freshness(fresh) {
  if (fresh.last_sync_failed) return el("span", { class: "badge bad", role: "status" }, `Last sync failed: ${fresh.last_error || ""}`);
  if (fresh.stale) return el("span", { class: "badge bad", role: "status" }, fresh.last_sync_at ? `Data may be stale (last sync ${dateTime(fresh.last_sync_at)})` : "Not synced yet");
  return el("span", { class: "badge good" }, `Synced ${dateTime(fresh.last_sync_at)}${fresh.next_sync_at ? ` · next ${dateTime(fresh.next_sync_at)}` : ""}`);
}

function card(label, when, value, link) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label, el("span", { class: "when" }, when)),
    link ? figureLink(value, link.href, link.currency, link.figure, { class: "value" }) : el("div", { class: "value" }, value));
}

// The figure a drill must add up to: `active` open ones, `won`, `closed` (won + lost), `all` (open + won).
const open = (f) => ({ count: f.active_opportunities, cents: f.pipeline_cents, weighted: f.weighted_pipeline_cents });
const won = (f) => ({ count: f.won_count, cents: f.won_cents });
const closed = (f) => ({ count: f.won_count + f.lost_count, cents: f.won_cents + f.lost_cents });
const active = (f) => ({ count: f.active_opportunities + f.won_count, cents: f.pipeline_cents + f.won_cents });

function cards(currency, f, periodText, now) {
  const link = (drill, figure, sort) => ({ href: listing(drill, sort), currency, figure });
  const rate = (value) => value === null ? "–" : percent(value);
  return el("div", { class: "cards" },
    card("Open pipeline", now, money(f.pipeline_cents, currency), link(f.drill.open, open(f))),
    card("Weighted pipeline", now, money(f.weighted_pipeline_cents, currency), link(f.drill.open, open(f), "-revenue")),
    card("Open opportunities", now, count(f.active_opportunities), link(f.drill.open, open(f))),
    card("Won revenue", periodText, money(f.won_cents, currency), link(f.drill.won, won(f))),
    card("Win rate (count)", periodText, rate(f.win_rate_by_count), link(f.drill.closed, closed(f))),
    card("Win rate (value)", periodText, rate(f.win_rate_by_value), link(f.drill.closed, closed(f), "-revenue")),
    card("Average deal", `open ${now} + won ${periodText}`, f.average_deal_size === null ? "–" : money(Math.round(active(f).cents / active(f).count), currency),
      link(f.drill.active, active(f))));
}

function stageBars(currency, f) {
  if (!f.by_stage.length) return el("p", { class: "muted" }, "No open or won opportunities here.");
  return barList("Pipeline by stage", f.by_stage.map((stage) => ({
    name: stage.stage, count: stage.count, cents: stage.value_cents, href: listing(stage.drill),
    meaning: /won/i.test(stage.stage) ? "won" : "open", attrs: { "data-stage": stage.stage_id },
  })), currency);
}

// A month's two label lines: the month, and the year under January and the first column.
function monthLabel(month, i) {
  const [year, number] = month.split("-");
  const short = monthName(month).replace(/\s*\d{4}\s*/, "").replace(/[.,]$/, "") || month;
  return [short, i === 0 || number === "01" ? year : null];
}

function forecastChart(currency, series) {
  const buckets = [];
  if (series.overdue) buckets.push({ ...series.overdue, meaning: "overdue", label: ["Overdue", null], long: "Overdue (expected before today)" });
  series.forecast.forEach((m, i) => buckets.push({ ...m, label: monthLabel(m.month, i), long: monthName(m.month, "long") }));
  if (series.no_expected_close) buckets.push({ ...series.no_expected_close, meaning: "undated", label: ["No date", null], long: "No expected close" });
  if (!buckets.length) return el("p", { class: "muted" }, "No open opportunities.");
  return columnChart({ name: "forecast", label: `Open pipeline in ${currency} by expected closing month`,
    series: [{ key: "open", meaning: "open", name: "Open" }, { key: "weighted", meaning: "weighted", name: "Weighted" }],
    buckets: buckets.map((b) => ({ ...b, href: listing(b.drill), values: { open: b.value_cents, weighted: b.weighted_cents }, attrs: { "data-month": b.month } })),
  }, currency);
}

function wonChart(currency, series) {
  if (!series.won.length) return el("p", { class: "muted" }, "Nothing won in this period.");
  return columnChart({ name: "won", label: `Won revenue in ${currency} by closing month`,
    series: [{ key: "won", meaning: "won", name: "Won" }],
    buckets: series.won.map((m, i) => ({ ...m, label: monthLabel(m.month, i), long: monthName(m.month, "long"),
      href: listing(m.drill), values: { won: m.value_cents }, attrs: { "data-month": m.month } })),
  }, currency);
}

const ROW_ORDER = { own: 0, report: 1, unassigned: 2, outside: 3, total: 4 };

function teamTable(currency, rows, query) {
  const cell = (label, f, text, figure, drill) => el("td", { class: "num", "data-label": label }, f ? figureLink(text, listing(drill), currency, figure) : "–");
  const line = (row) => {
    const f = row.currencies[currency];
    const person = new URLSearchParams(query);
    if (row.user_id !== null) person.set("user", row.user_id);
    const name = row.kind === "report" ? el("a", { href: `#/dashboard?${person}` }, row.name)
      : row.kind === "own" ? `${row.name} (own deals)` : row.name;
    return el("tr", { class: row.kind, "data-kind": row.kind },
      el(row.kind === "total" ? "th" : "td", {}, name),
      cell("Open pipeline", f, f && money(f.pipeline_cents, currency), f && open(f), f && f.drill.open),
      cell("Weighted", f, f && money(f.weighted_pipeline_cents, currency), f && open(f), f && f.drill.open),
      cell("Won", f, f && money(f.won_cents, currency), f && won(f), f && f.drill.won),
      cell("Win rate", f, f && (f.win_rate_by_count === null ? "–" : percent(f.win_rate_by_count)), f && closed(f), f && f.drill.closed));
  };
  const shown = rows.filter((row) => row.kind === "report" || row.currencies[currency]).sort((a, b) => ROW_ORDER[a.kind] - ROW_ORDER[b.kind]);
  const body = shown.filter((row) => row.kind !== "total");
  const total = shown.filter((row) => row.kind === "total");
  return el("div", { class: "scroll" }, el("table", { class: "team list", "data-currency": currency },
    el("thead", {}, el("tr", {}, el("th", {}, "Person"), el("th", { class: "num" }, "Open pipeline"),
      el("th", { class: "num" }, "Weighted"), el("th", { class: "num" }, "Won"), el("th", { class: "num" }, "Win rate"))),
    el("tbody", {}, body.map(line)), el("tfoot", {}, total.map(line))));
}

function topPerformers(currency, performers) {
  const mine = performers.filter((p) => p.currency === currency);
  if (!mine.length) return null;
  return [el("h3", {}, "Top performers"), el("ol", { class: "top" }, mine.map((p) => el("li", {}, `${p.name}: `,
    figureLink(money(p.won_cents, currency), listing(p.drill), currency, { count: p.won_count, cents: p.won_cents }),
    ` (${count(p.won_count)} won)`)))];
}

export async function dashboardPage(view) {
  const me = session.me;
  if (me && !me.is_admin && me.user_id === null) {
    return view.show(el("h1", {}, "Nothing to show yet"), el("section", {}, el("p", {},
      `Your account (${me.email}) is not linked to an Odoo user, so no opportunities are within your reach. `
      + "Accounts link by email: ask an admin to check that your Odoo user has this email, or to sign you up with the one it has.")));
  }
  const query = params(view);
  const [data, choices] = await Promise.all([api(`/api/dashboard?${query}`), filterOptions()]);
  const from = query.get("from"), to = query.get("to");
  const asOf = query.get("as_of");
  const nowText = asOf ? `on ${plainDate(asOf.slice(0, 10))}` : "now";
  const periodText = from || to ? `closed ${from ? plainDate(from) : "…"} – ${to ? plainDate(to) : "…"}` : "all time";
  const hasTeam = data.team_table.some((row) => row.kind !== "own" && row.kind !== "total");
  const sections = Object.entries(data.currencies).map(([currency, f]) => el("section", { "data-currency": currency },
    el("h2", {}, currency),
    cards(currency, f, periodText, nowText),
    el("h3", {}, "Pipeline by stage"), stageBars(currency, f),
    // The trends arrive after the figures: their space is kept, so nothing moves when they do.
    el("h3", {}, "Forecast by expected closing month ", el("span", { class: "when" }, `open ${nowText}`)), el("div", { class: "chart-slot", "data-slot": "forecast" }),
    el("h3", {}, "Won revenue by month ", el("span", { class: "when" }, periodText)), el("div", { class: "chart-slot", "data-slot": "won" }),
    hasTeam ? [el("h3", {}, "Team"), teamTable(currency, data.team_table, query)] : null,
    topPerformers(currency, data.top_performers)));
  if (!sections.length) {
    const why = me && me.sync_configured === false && !me.demo
      ? "No Odoo is configured, so nothing is synced: set [odoo] url, database, login and password (see `pipelog config example`), then restart."
      : [...query.keys()].length ? "No opportunities match these filters." : "No opportunities yet. Once Odoo is synced, your pipeline appears here.";
    sections.push(el("section", {}, el("p", { class: "muted" }, why)));
  }
  const periodNote = from || to
    ? el("p", { class: "muted", id: "period-note" }, `Won, win rates, the average deal, the team's Won and Win rate, top performers and the won chart: deals ${periodText}. Open pipeline, weighted pipeline, open opportunities and the forecast: now.`)
    : null;
  const stageNote = query.get("stage") ? el("p", { class: "muted" }, "Win rates are not shown for one stage: lost deals keep the stage they were lost in.") : null;
  if (!view.show(el("h1", {}, data.user_id === null ? "Everyone" : data.name), freshness(data.data_freshness),
    filterForm(query, choices), asOfNote(data.history), periodNote, stageNote, definitions(), sections)) return;
  performance.mark("dashboard:numbers");
  const trends = await api(`/api/dashboard/trends?${query}`);
  if (!view.isCurrent()) return;
  for (const section of sections.filter((s) => s.dataset.currency)) {
    const series = trends.currencies[section.dataset.currency] || { forecast: [], won: [] };
    section.querySelector("[data-slot=forecast]").replaceChildren(forecastChart(section.dataset.currency, series));
    section.querySelector("[data-slot=won]").replaceChildren(wonChart(section.dataset.currency, series));
  }
}

function params(view) {
  return new URLSearchParams(view.hash.split("?")[1] || "");
}
