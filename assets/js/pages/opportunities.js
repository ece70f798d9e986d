// The list of opportunities: filters in the address, totals per currency over every page, pages,
// and a CSV export of exactly what the filters select.
import { api, filterOptions } from "../api.js";
import { el, go, select } from "../dom.js";
import { count, money, plainDate } from "../format.js";

// Drill-down terms the form has no field for: kept when the form is applied, and said in words.
const SCOPE = ["user", "currency", "owner", "close_from", "close_to", "closed_from", "closed_to", "no_expected_close", "as_of"];

const STATUSES = [["open", "open"], ["won", "won"], ["lost", "lost"], ["active", "open or won"], ["closed", "won or lost"]];
const SORTS = [["", "expected close"], ["-expected_close", "expected close, latest first"], ["-revenue", "revenue ↓"], ["revenue", "revenue ↑"],
  ["name", "name"], ["stage", "stage"], ["salesperson", "salesperson"]];

function scopeInWords(query, choices) {
  const person = query.get("user") && choices.salespeople.find((p) => String(p.id) === query.get("user"));
  const range = (from, to) => `${from ? plainDate(from) : "…"} – ${to ? plainDate(to) : "…"}`;
  return [
    query.get("user") ? `within ${person ? person.label : `user ${query.get("user")}`}'s reach` : null,
    query.get("owner") === "unassigned" ? "with no salesperson" : null,
    query.get("owner") === "outside" ? "of people outside the hierarchy" : null,
    query.get("currency") ? `in ${query.get("currency")}` : null,
    query.get("close_from") || query.get("close_to") ? `expected to close ${range(query.get("close_from"), query.get("close_to"))}` : null,
    query.get("no_expected_close") === "true" ? "without an expected close" : null,
    query.get("closed_from") || query.get("closed_to") ? `closed ${range(query.get("closed_from"), query.get("closed_to"))} (open ones too)` : null,
    query.get("as_of") ? `as they were at ${new Date(query.get("as_of").length > 10 ? query.get("as_of") : `${query.get("as_of")}T23:59:59Z`).toLocaleString()}` : null,
  ].filter(Boolean);
}

function totals(data) {
  // What every page holds together, per currency (amounts are never added across currencies).
  return el("ul", { class: "totals", id: "totals" }, Object.entries(data.totals).map(([currency, t]) =>
    el("li", { "data-currency": currency, "data-count": t.count, "data-value-cents": t.value_cents, "data-weighted-cents": t.weighted_cents },
      el("strong", {}, currency), ` ${count(t.count)} · ${money(t.value_cents, currency)}`,
      t.weighted_cents ? ` · weighted ${money(t.weighted_cents, currency)}` : "")));
}

function exportButton(query) {
  const status = el("span", { role: "status" });
  const button = el("button", { type: "button", onclick: async () => {
    button.disabled = true;
    status.textContent = " Preparing…";
    try {
      const response = await fetch(`/api/opportunities?${query}`, { headers: { accept: "text/csv" }, credentials: "same-origin" });
      if (!response.ok) throw new Error(`the export failed (HTTP ${response.status})`);
      const link = el("a", { href: URL.createObjectURL(await response.blob()), download: "opportunities.csv" });
      document.body.append(link); link.click(); link.remove();
      status.textContent = "";
    } catch (error) {
      status.className = "error";
      status.textContent = ` ${error.message}`;
    } finally { button.disabled = false; }
  } }, "Export CSV");
  return [button, status];
}

export async function opportunitiesPage(view) {
  const query = new URLSearchParams(view.hash.split("?")[1] || "");
  if (!query.get("per_page")) query.set("per_page", "50");
  const [data, choices] = await Promise.all([api(`/api/opportunities?${query}`), filterOptions()]);
  const form = el("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, value] of new FormData(event.target)) if (value) next.set(key, value);
    go("opportunities", next);
  } },
    SCOPE.filter((key) => query.get(key)).map((key) => el("input", { type: "hidden", name: key, value: query.get(key) })),
    el("label", {}, "Search", el("input", { name: "q", type: "search", value: query.get("q") || "", placeholder: "name, account, salesperson" })),
    select("status", "Status", STATUSES, query.get("status"), "any"),
    select("team", "Team", choices.teams.map((t) => [t.id, t.name]), query.get("team"), "All teams"),
    select("salesperson", "Salesperson", choices.salespeople.map((p) => [p.id, p.label]), query.get("salesperson"), "Anyone"),
    select("stage", "Stage", choices.stages.map((s) => [s.id, s.name]), query.get("stage"), "All stages"),
    select("sort", "Sort", SORTS.slice(1), query.get("sort"), SORTS[0][1]),
    el("button", { type: "submit", name: "apply" }, "Apply"),
    [...query.keys()].some((k) => k !== "per_page") ? el("a", { href: "#/opportunities" }, "Clear filters") : null);
  const scope = scopeInWords(query, choices);
  const rows = data.items.map((o) => el("tr", { "data-id": o.id },
    el("td", { "data-label": "Name" }, el("a", { href: `#/opportunity/${o.id}` }, o.name)),
    el("td", { "data-label": "Stage" }, o.stage ? o.stage.name : "–"),
    el("td", { "data-label": "Status" }, o.status),
    el("td", { class: "num", "data-label": "Expected" }, money(o.expected_revenue_cents, o.currency)),
    el("td", { "data-label": "Salesperson" }, o.salesperson ? o.salesperson.name : "unassigned"),
    el("td", { "data-label": "Expected close" }, plainDate(o.date_deadline))));
  const page = data.page, pages = Math.max(1, Math.ceil(data.total / data.per_page));
  const to = (n) => { const next = new URLSearchParams(query); next.set("page", String(n)); return `#/opportunities?${next}`; };
  view.show(el("h1", {}, "Opportunities"), form,
    el("section", {},
      el("p", { class: "muted" }, el("span", { id: "total" }, String(data.total)), ` opportunities${scope.length ? ", " + scope.join(", ") : ""}`),
      totals(data), exportButton(query),
      data.items.length ? el("table", { class: "list" }, el("thead", {}, el("tr", {}, ["Name", "Stage", "Status", "Expected", "Salesperson", "Expected close"]
        .map((name) => el("th", { class: name === "Expected" ? "num" : undefined }, name)))), el("tbody", {}, rows))
        : el("p", { class: "muted" }, "Nothing matches these filters."),
      el("nav", { class: "pager", "aria-label": "Pages" },
        page > 1 ? el("a", { href: to(page - 1) }, "← Previous") : null,
        el("span", {}, `Page ${page} of ${pages}`),
        page < pages ? el("a", { href: to(page + 1) }, "Next →") : null)));
  performance.mark("opportunities:rows");
}
