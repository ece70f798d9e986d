// One bar of the waterfall: the deals behind it, each with its share and how it stood at both
// ends; their shares add up to the bar. CSV of exactly these rows.
import { api } from "../api.js";
import { csvOf, download } from "../csv.js";
import { el } from "../dom.js";
import { count, dateTime, money, plainDate } from "../format.js";

const signed = (n, text) => (n > 0 ? `+${text}` : text);

function moment(m) {
  if (!m.exists) return "did not exist";
  return [m.status, m.stage, m.salesperson || "unassigned", money(m.expected_revenue_cents, m.currency),
    m.date_deadline ? `closing ${plainDate(m.date_deadline)}` : "no expected close", m.in_window ? "in the window" : "outside the window"]
    .filter(Boolean).join(" · ");
}

function csv(data) {
  const rows = data.deals.map((d) => [d.id, d.name, d.count, (d.value_cents / 100).toFixed(2), data.currency, moment(d.before), moment(d.after)]);
  return csvOf(["id", "name", "count", "value", "currency", "before", "after"], rows);
}

export async function waterfallPage(view) {
  const query = new URLSearchParams(view.hash.split("?")[1] || "");
  const data = await api(`/api/history/waterfall/deals?${query}`);
  const back = new URLSearchParams(query);
  back.delete("bar"); back.delete("currency");
  view.show(el("h1", {}, `Waterfall: ${data.bar.replace(/_/g, " ")}`),
    el("p", {}, el("a", { href: `#/history?${back}` }, "← Back to the history")),
    el("section", {},
      el("ul", { class: "totals", id: "totals" }, el("li", { "data-currency": data.currency, "data-count": data.count, "data-value-cents": data.value_cents },
        el("strong", {}, data.currency), ` ${signed(data.count, count(data.count))} deals · ${signed(data.value_cents, money(data.value_cents, data.currency))}`)),
      el("p", { class: "muted" }, `From ${dateTime(query.get("from"))} to ${query.get("to") ? dateTime(query.get("to")) : "now"}, `
        + `for deals expected to close ${plainDate(query.get("close_from"))} – ${plainDate(query.get("close_to"))}.`),
      el("button", { type: "button", onclick: () => download(`waterfall-${data.bar}.csv`, csv(data)) }, "Export CSV"),
      data.deals.length ? el("table", { class: "list" },
        el("thead", {}, el("tr", {}, ["Deal", "Share", "Before", "After"].map((name) => el("th", { class: name === "Share" ? "num" : undefined }, name)))),
        el("tbody", {}, data.deals.map((d) => el("tr", { "data-id": d.id },
          el("td", { "data-label": "Deal" }, el("a", { href: `#/opportunity/${d.id}` }, d.name)),
          el("td", { class: "num", "data-label": "Share" }, `${signed(d.count, count(d.count))} · ${signed(d.value_cents, money(d.value_cents, data.currency))}`),
          el("td", { "data-label": "Before" }, moment(d.before)),
          el("td", { "data-label": "After" }, moment(d.after))))))
        : el("p", { class: "muted" }, "No deals in this bar.")));
}
