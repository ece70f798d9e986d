// Stage velocity and conversion over a range: time in each stage, what became of the deals that
// entered it, the sales cycle and the win rate by month of closing.
import { api } from "../api.js";
import { barList } from "../charts.js";
import { csvOf, download } from "../csv.js";
import { el, go } from "../dom.js";
import { count, dateTime, money, monthName, percent } from "../format.js";

const days = (d) => (d === null || d === undefined ? "–" : `${d} d`);

export async function velocityPage(view) {
  const query = new URLSearchParams(view.hash.split("?")[1] || "");
  const data = await api(`/api/history/velocity?${query}`);
  const scope = new URLSearchParams();
  for (const key of ["user", "team"]) if (query.get(key)) scope.set(key, query.get(key));
  const form = el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams(scope);
    for (const [key, value] of new FormData(event.target)) if (value) next.set(key, value);
    go("velocity", next);
  } },
    el("label", {}, "from", el("input", { type: "date", name: "from", value: data.from.slice(0, 10) })),
    el("label", {}, "to", el("input", { type: "date", name: "to", value: query.get("to") || "" })),
    el("button", { type: "submit", name: "apply" }, "Apply"));
  const stageList = (s) => `#/opportunities?${new URLSearchParams({ ...Object.fromEntries(scope), stage: s.stage_id, status: "open" })}`;
  const bars = data.stages.filter((s) => s.time_in_stage.count).length
    ? barList("Median days in each stage", data.stages.filter((s) => s.time_in_stage.count).map((s) => ({
      name: s.stage, count: s.time_in_stage.count, cents: Math.round((s.time_in_stage.median_days || 0) * 10), href: stageList(s), meaning: "open",
      text: `median ${days(s.time_in_stage.median_days)} · average ${days(s.time_in_stage.average_days)} · ${count(s.time_in_stage.count)} stays`,
      attrs: { "data-stage": s.stage_id } })))
    : el("p", { class: "muted" }, "No stay in a stage ended in this range.");
  const head = ["Stage", "Entered", "Moved on", "Went back", "Won", "Lost", "Removed", "Still there", "Median days", "Average days"];
  const cells = (s) => [s.stage, s.entered, s.moved_on, s.went_back, s.won, s.lost, s.removed, s.still_there, s.time_in_stage.median_days ?? "", s.time_in_stage.average_days ?? ""];
  const conversion = data.stages.length ? el("table", { class: "list", id: "conversion" },
    el("thead", {}, el("tr", {}, head.map((h, i) => el("th", { class: i ? "num" : undefined }, h)))),
    el("tbody", {}, data.stages.map((s) => el("tr", { "data-stage": s.stage_id }, cells(s).map((c, i) =>
      el("td", { class: i ? "num" : undefined, "data-label": head[i] }, i ? String(c === "" ? "–" : c) : c))))))
    : el("p", { class: "muted" }, "No deal entered a stage in this range.");
  const rates = Object.entries(data.win_rate).map(([currency, months]) => el("section", { "data-currency": currency },
    el("h2", {}, `Win rate by month of closing, ${currency}`),
    el("table", { class: "list" }, el("thead", {}, el("tr", {}, ["Month", "Won", "Lost", "Win rate (count)", "Win rate (value)"].map((h, i) => el("th", { class: i ? "num" : undefined }, h)))),
      el("tbody", {}, months.map((m) => el("tr", {},
        el("td", { "data-label": "Month" }, monthName(m.month, "long")),
        el("td", { class: "num", "data-label": "Won" }, `${count(m.won_count)} · ${money(m.won_cents, currency)}`),
        el("td", { class: "num", "data-label": "Lost" }, `${count(m.lost_count)} · ${money(m.lost_cents, currency)}`),
        el("td", { class: "num", "data-label": "Win rate (count)" }, percent(m.win_rate_by_count)),
        el("td", { class: "num", "data-label": "Win rate (value)" }, percent(m.win_rate_by_value))))))));
  view.show(el("h1", {}, "Velocity and conversion"),
    el("p", {}, el("a", { href: `#/history?${scope}` }, "← History"), " · ", el("a", { href: `#/risk?${scope}` }, "Deals at risk")),
    form,
    el("p", { class: "muted" }, `${dateTime(data.from)} – ${dateTime(data.to)}. A stay counts when it ends in the range; what became of a deal counts for the entries in the range.`),
    el("section", { id: "stages" }, el("h2", {}, "Time in stage"), bars,
      el("h3", {}, "Conversion"), el("button", { type: "button", class: "secondary", onclick: () => download("velocity.csv", csvOf(head, data.stages.map(cells))) }, "Export CSV"), conversion),
    el("section", { id: "cycle" }, el("h2", {}, "Sales cycle (created → won)"),
      el("p", {}, `Median ${days(data.sales_cycle.median_days)}, average ${days(data.sales_cycle.average_days)}, over ${count(data.sales_cycle.count)} deals won in the range.`),
      data.cycles_from_first_read ? el("p", { class: "muted" }, `${count(data.cycles_from_first_read)} of them are measured from pipelog's first read: their earlier history is not known.`) : null),
    rates);
}
