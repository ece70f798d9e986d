// Pipeline history: what moved a closing window's open pipeline between two days (the waterfall),
// the open, weighted and won figures over time (the trend) and the latest changes. Every number
// opens the deals behind it, by the `drill` query the API gives with it.
import { api, filterOptions, session } from "../api.js";
import { columnChart, waterfallChart } from "../charts.js";
import { el, go, select } from "../dom.js";
import { count, dateTime, plainDate } from "../format.js";
import { feedList } from "./activity.js";

const iso = (d) => d.toISOString().slice(0, 10);
const today = () => new Date();

/** Monday of this week (UTC): "since last Monday" is the question sales managers ask. */
function lastMonday() {
  const now = today();
  const offset = (now.getUTCDay() + 6) % 7;
  return iso(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - offset)));
}

function quarter(shift = 0) {
  const now = today();
  const start = Math.floor(now.getUTCMonth() / 3) * 3 + 3 * shift;
  return [iso(new Date(Date.UTC(now.getUTCFullYear(), start, 1))), iso(new Date(Date.UTC(now.getUTCFullYear(), start + 3, 0)))];
}

const WINDOWS = [["quarter", "This quarter", () => quarter(0)], ["next", "Next quarter", () => quarter(1)],
  ["year", "This year", () => [`${today().getUTCFullYear()}-01-01`, `${today().getUTCFullYear()}-12-31`]]];

/** The page's questions, with defaults for what the address leaves out. */
function questions(query) {
  const [closeFrom, closeTo] = quarter(0);
  const yearAgo = new Date(Date.UTC(today().getUTCFullYear() - 1, today().getUTCMonth(), today().getUTCDate() + 1));
  return {
    user: query.get("user") || "",
    team: query.get("team") || "",
    from: query.get("from") || lastMonday(),
    to: query.get("to") || "",
    close_from: query.get("close_from") || closeFrom,
    close_to: query.get("close_to") || closeTo,
    trend_from: query.get("trend_from") || iso(yearAgo),
    every: query.get("every") || "week",
  };
}

function form(q, choices) {
  const window = WINDOWS.find(([, , range]) => range()[0] === q.close_from && range()[1] === q.close_to);
  return el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) if (value && key !== "window") next.set(key, value);
    go("history", next);
  } },
    select("user", "Whose", choices.salespeople.map((p) => [p.id, p.label]), q.user, session.me && !session.me.is_admin ? "Me and my team" : "Everyone"),
    select("team", "Team", choices.teams.map((t) => [t.id, t.name]), q.team, "All teams"),
    el("label", {}, "Changes since", el("input", { type: "date", name: "from", value: q.from, required: true })),
    el("label", {}, "until", el("input", { type: "date", name: "to", value: q.to })),
    el("label", {}, "Closing", el("select", { name: "window", onchange: (event) => {
      const found = WINDOWS.find(([value]) => value === event.target.value);
      if (!found) return;
      const [from, to] = found[2]();
      event.target.form.elements.close_from.value = from;
      event.target.form.elements.close_to.value = to;
    } }, [...WINDOWS.map(([value, text]) => [value, text]), ["custom", "Custom"]].map(([value, text]) =>
      el("option", { value, selected: window ? window[0] === value : value === "custom" }, text)))),
    el("label", {}, "from", el("input", { type: "date", name: "close_from", value: q.close_from, required: true })),
    el("label", {}, "to", el("input", { type: "date", name: "close_to", value: q.close_to, required: true })),
    el("label", {}, "Trend from", el("input", { type: "date", name: "trend_from", value: q.trend_from, required: true })),
    select("every", "per", [["day", "day"], ["week", "week"], ["month", "month"]], q.every, null),
    el("button", { type: "submit", name: "apply" }, "Apply"));
}

/** What the answers could not know, in words. */
export function limits(history) {
  if (!history) return null;
  const notes = [];
  if (history.known_from) notes.push(`Known history begins ${dateTime(history.known_from)}.`);
  if (history.before_known_history) notes.push("This question reaches before it: deals older than their known history are missing.");
  if (history.first_read_at) {
    notes.push(`Odoo never tracks probability and expected close: they are known from pipelog's first read of each deal (the earliest ${dateTime(history.first_read_at)}). `
      + "Before that, weighted figures leave the deal out and a closing window counts it as not dated; when its expected close became known, the waterfall shows it as “first known”.");
  }
  if (history.deals_partial) notes.push(`${count(history.deals_partial)} deals in this answer had not been read by pipelog yet at that moment.`);
  return notes.length ? el("p", { class: "note", id: "history-limits" }, notes.join(" ")) : null;
}

const BAR_NAMES = {
  opening: "Opening", created: "+ Created", pulled_in: "+ Pulled in", first_known: "± First known", value_increased: "+ Value increased",
  restored: "+ Restored", reopened: "+ Reopened", moved_in: "+ Moved into reach", value_decreased: "− Value decreased",
  pushed_out: "− Pushed out", won: "− Won", lost: "− Lost", moved_out: "− Moved out of reach", removed: "− Removed", closing: "Closing",
};

function waterfall(currency, figures) {
  const bar = (b, total) => ({ name: BAR_NAMES[b.bar] || b.bar, count: b.count, cents: b.value_cents, total,
    href: `#/waterfall?${b.drill}`, attrs: { "data-bar": b.bar } });
  const bars = [bar(figures.opening, true), ...figures.movements.map((b) => bar(b, false)), bar(figures.closing, true)];
  return waterfallChart(`What moved the open pipeline in ${currency}`, bars, currency);
}

// A period's two label lines: its first day, and the year under January and the first column.
function periodLabel(start, every, i) {
  const date = new Date(`${start}T00:00:00Z`);
  const text = every === "month"
    ? date.toLocaleDateString(undefined, { month: "short", timeZone: "UTC" })
    : date.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  return [text, i === 0 || (date.getUTCMonth() === 0 && date.getUTCDate() <= 7) ? String(date.getUTCFullYear()) : null];
}

function trendCharts(currency, points, every) {
  const long = (p) => `${plainDate(p.start)} – ${plainDate(p.end)}`;
  const open = columnChart({ name: "trend", label: `Open and weighted pipeline in ${currency}, at the end of each ${every}`, bucketName: "Period",
    series: [{ key: "open", meaning: "open", name: "Open" }, { key: "weighted", meaning: "weighted", name: "Weighted" }],
    buckets: points.map((p, i) => ({ count: p.open_count, label: periodLabel(p.start, every, i), long: `${long(p)} (at its end)`,
      values: { open: p.open_cents, weighted: p.weighted_cents }, href: `#/opportunities?${p.open_drill}`, attrs: { "data-at": p.at } })),
  }, currency);
  const won = columnChart({ name: "trend-won", label: `Won revenue in ${currency} per ${every}`, bucketName: "Period",
    series: [{ key: "won", meaning: "won", name: "Won" }],
    buckets: points.map((p, i) => ({ count: p.won_count, label: periodLabel(p.start, every, i), long: long(p),
      values: { won: p.won_cents }, href: `#/opportunities?${p.won_drill}`, attrs: { "data-at": p.at } })),
  }, currency);
  const partial = points.some((p) => p.deals_partial > 0)
    ? el("p", { class: "muted" }, "Weighted figures leave out deals whose probability was not known yet (see above).") : null;
  return [el("h3", {}, `Open pipeline per ${every}`), open, partial, el("h3", {}, `Won revenue per ${every}`), won];
}

export async function historyPage(view) {
  const query = new URLSearchParams(view.hash.split("?")[1] || "");
  const q = questions(query);
  const scope = new URLSearchParams();
  if (q.user) scope.set("user", q.user);
  if (q.team) scope.set("team", q.team);
  const flow = new URLSearchParams(scope);
  for (const key of ["from", "to", "close_from", "close_to"]) if (q[key]) flow.set(key, q[key]);
  const trend = new URLSearchParams(scope);
  trend.set("from", q.trend_from);
  trend.set("every", q.every);
  const feed = new URLSearchParams(scope);
  feed.delete("team");
  feed.set("per_page", "15");
  const [flows, trends, latest, choices] = await Promise.all([
    api(`/api/history/waterfall?${flow}`), api(`/api/history/trend?${trend}`),
    api(`/api/history/activity?${feed}`), filterOptions()]);
  const currencies = [...new Set([...Object.keys(flows.currencies), ...Object.keys(trends.currencies)])].sort();
  const window = `expected to close ${plainDate(q.close_from)} – ${plainDate(q.close_to)}`;
  const span = `${plainDate(q.from)} → ${q.to ? plainDate(q.to) : "now"}`;
  const sections = currencies.map((currency) => el("section", { "data-currency": currency },
    el("h2", {}, currency),
    el("h3", {}, "What moved the open pipeline ", el("span", { class: "when" }, `${window}, ${span}`)),
    flows.currencies[currency] ? waterfall(currency, flows.currencies[currency]) : el("p", { class: "muted" }, "Nothing in this window."),
    trendCharts(currency, trends.currencies[currency] || [], q.every)));
  if (!currencies.length) sections.push(el("section", {}, el("p", { class: "muted" }, "No history within your reach yet.")));
  const more = new URLSearchParams(feed);
  more.delete("per_page");
  view.show(el("h1", {}, "History"),
    el("p", {}, el("a", { href: `#/risk?${scope}` }, "Deals at risk (slipping, overdue, stale)"), " · ",
      el("a", { href: `#/velocity?${scope}` }, "Velocity and conversion")),
    form(q, choices), limits(flows.history),
    el("details", { class: "definitions" }, el("summary", {}, "What the figures mean"),
      el("p", {}, "The waterfall starts from the open pipeline of deals expected to close in the window at the end of the first day "
        + "and adds every movement until the end of the last one (or now). A deal that moved several ways is in each of those bars with its own share; "
        + "opening + the movements = closing, in each currency, by count and by value. Reach is today's team applied to the past: "
        + "a deal counts while it was owned by someone in it."),
      el("p", {}, "The trend shows the open and weighted pipeline as they were at the end of each period, and the revenue won in it.")),
    sections,
    el("section", {}, el("h2", {}, "Latest changes"), feedList(latest.items),
      latest.total > latest.items.length ? el("p", {}, el("a", { href: `#/activity?${more}` }, `All ${count(latest.total)} changes →`)) : null));
  performance.mark("history:figures");
}
