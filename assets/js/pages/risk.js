// Deals at risk: whose expected close keeps slipping (per salesperson, and the deals), open deals
// whose expected close has passed, and open deals nobody has touched for longer than their stage
// allows. Each table exports as CSV.
import { api } from "../api.js";
import { barList } from "../charts.js";
import { csvOf, download } from "../csv.js";
import { el } from "../dom.js";
import { count, dateTime, money, plainDate } from "../format.js";

const exportButton = (name, head, rows) =>
  el("button", { type: "button", class: "secondary", onclick: () => download(name, csvOf(head, rows)) }, "Export CSV");

function table(columns, rows, attrs = {}) {
  if (!rows.length) return el("p", { class: "muted" }, "None.");
  return el("table", { class: "list", ...attrs },
    el("thead", {}, el("tr", {}, columns.map(([name, , numeric]) => el("th", { class: numeric ? "num" : undefined }, name)))),
    el("tbody", {}, rows.map((row) => el("tr", { "data-id": row.id },
      columns.map(([name, cell, numeric]) => el("td", { class: numeric ? "num" : undefined, "data-label": name }, cell(row)))))));
}

const dealLink = (d) => el("a", { href: `#/opportunity/${d.id}` }, d.name);
const value = (d) => money(d.expected_revenue_cents, d.currency);
const more = (shown, total) => (total > shown ? el("p", { class: "muted" }, `The first ${count(shown)} of ${count(total)}.`) : null);

export async function riskPage(view) {
  const query = new URLSearchParams(view.hash.split("?")[1] || "");
  const scope = new URLSearchParams();
  for (const key of ["user", "team"]) if (query.get(key)) scope.set(key, query.get(key));
  const range = new URLSearchParams(scope);
  for (const key of ["from", "to"]) if (query.get(key)) range.set(key, query.get(key));
  const [slips, stale] = await Promise.all([api(`/api/history/slipped?${range}`), api(`/api/history/stale?${scope}`)]);
  const person = (p) => { const next = new URLSearchParams(scope); if (p.user_id !== null) next.set("user", p.user_id); return `#/risk?${next}`; };
  const people = slips.people.length ? barList("Days slipped per salesperson", slips.people.map((p) => ({
    name: p.name, count: p.deals, cents: p.days, href: person(p), meaning: "overdue",
    text: `${count(p.deals)} deals · ${count(p.slips)} slips · ${count(p.days)} days`, attrs: { "data-user": p.user_id ?? "" },
  }))) : el("p", { class: "muted" }, "No expected close moved later in this range.");
  const thresholds = Object.entries(stale.days_by_stage).map(([stage, days]) => `${stage}: ${days} days`);
  view.show(el("h1", {}, "Deals at risk"),
    el("p", {}, el("a", { href: `#/history?${scope}` }, "← History"), " · ", el("a", { href: `#/velocity?${scope}` }, "Velocity and conversion")),
    el("section", { id: "slipped" }, el("h2", {}, "Slipping expected close ", el("span", { class: "when" }, `${dateTime(slips.from)} – ${dateTime(slips.to)}`)),
      el("p", { class: "muted" }, "A slip is a change of expected close to a later day, counted for whoever owned the deal then. Odoo does not track expected close: slips are known from pipelog's first read on."),
      people,
      el("h3", {}, "Deals that slipped"),
      exportButton("slipped.csv", ["id", "name", "salesperson", "slips", "days", "expected close", "value", "currency"],
        slips.deals.map((d) => [d.id, d.name, d.salesperson || "", d.slips, d.days, d.date_deadline || "", (d.expected_revenue_cents / 100).toFixed(2), d.currency])),
      table([["Deal", dealLink], ["Salesperson", (d) => d.salesperson || "unassigned"], ["Slips", (d) => count(d.slips), true],
        ["Days", (d) => count(d.days), true], ["Expected close", (d) => plainDate(d.date_deadline)], ["Value", value, true]], slips.deals, { id: "slipped-deals" }),
      more(slips.deals.length, slips.deals_total)),
    el("section", { id: "overdue" }, el("h2", {}, "Open, expected close passed"),
      el("p", {}, el("a", { href: `#/opportunities?${slips.overdue_drill}` }, `All ${count(slips.overdue_total)} in the list`)),
      exportButton("overdue.csv", ["id", "name", "salesperson", "stage", "expected close", "days overdue", "value", "currency"],
        slips.overdue.map((d) => [d.id, d.name, d.salesperson || "", d.stage || "", d.date_deadline, d.days_overdue, (d.expected_revenue_cents / 100).toFixed(2), d.currency])),
      table([["Deal", dealLink], ["Salesperson", (d) => d.salesperson || "unassigned"], ["Stage", (d) => d.stage || "–"],
        ["Expected close", (d) => plainDate(d.date_deadline)], ["Days overdue", (d) => count(d.days_overdue), true], ["Value", value, true]], slips.overdue),
      more(slips.overdue.length, slips.overdue_total)),
    el("section", { id: "stale" }, el("h2", {}, "Stale: no change for too long"),
      el("p", { class: "muted" }, `Open deals with no change at the source for ${stale.default_days} days${thresholds.length ? ` (${thresholds.join(", ")})` : ""}; the one that went stale last first.`),
      el("ul", { class: "totals" }, Object.entries(stale.currencies).map(([currency, t]) => el("li", { "data-currency": currency, "data-count": t.count, "data-value-cents": t.value_cents },
        el("strong", {}, currency), ` ${count(t.count)} · ${money(t.value_cents, currency)}`))),
      exportButton("stale.csv", ["id", "name", "salesperson", "stage", "last change", "days", "value", "currency"],
        stale.deals.map((d) => [d.id, d.name, d.salesperson || "", d.stage || "", d.last_change_at, d.days_without_change, (d.expected_revenue_cents / 100).toFixed(2), d.currency])),
      table([["Deal", dealLink], ["Salesperson", (d) => d.salesperson || "unassigned"], ["Stage", (d) => d.stage || "–"],
        ["Last change", (d) => dateTime(d.last_change_at)], ["Days", (d) => count(d.days_without_change), true], ["Value", value, true]], stale.deals, { id: "stale-deals" }),
      more(stale.deals.length, stale.total)));
}
