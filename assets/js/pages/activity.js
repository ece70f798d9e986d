// The activity feed: the latest changes to deals within reach, newest first, paged.
import { api } from "../api.js";
import { el } from "../dom.js";
import { count, dateTime, money, plainDate } from "../format.js";

const FIELD_NAMES = {
  user_id: "salesperson", team_id: "team", stage_id: "stage", account_id: "customer", currency: "currency",
  expected_revenue: "expected revenue", probability: "probability", prorated_revenue: "weighted revenue",
  date_deadline: "expected close", date_closed: "closed on", active: "active", lost_reason: "lost reason", kind: "type", exists: "exists",
};

function shown(field, value, currency) {
  if (value === null || value === undefined) return "none";
  if (field === "expected_revenue" || field === "prorated_revenue") return money(value, currency);
  if (field === "date_deadline" || field === "date_closed") return plainDate(value);
  if (field === "probability") return `${value} %`;
  if (field === "active") return value ? "yes" : "no (lost)";
  return String(value);
}

const SOURCES = { sync: "read by the sync", tracking: "tracked in Odoo", history_begins: "created (known history begins)", pipelog: "changed here" };

/** The changes as a list: when, which deal, who, what moved. */
export function feedList(items) {
  if (!items.length) return el("p", { class: "muted" }, "No changes within your reach.");
  return el("ol", { class: "feed", id: "feed" }, items.map((item) => el("li", { "data-id": item.opportunity_id },
    el("div", {}, el("strong", {}, dateTime(item.at)), " · ",
      el("a", { href: `#/opportunity/${item.opportunity_id}` }, item.name), " · ",
      el("span", { class: "muted" }, item.first_seen && item.source === "sync" ? "first read" : SOURCES[item.source] || item.source),
      item.actor ? el("span", { class: "muted" }, ` by ${item.actor}`) : null),
    item.changes.length ? el("div", { class: "changes" }, item.changes.map((c, i) => [i ? "; " : "",
      `${FIELD_NAMES[c.field] || c.field}: ${shown(c.field, c.before, item.currency)} → ${shown(c.field, c.after, item.currency)}`])) : null)));
}

export async function activityPage(view) {
  const query = new URLSearchParams(view.hash.split("?")[1] || "");
  if (!query.get("per_page")) query.set("per_page", "50");
  const data = await api(`/api/history/activity?${query}`);
  const pages = Math.max(1, Math.ceil(data.total / data.per_page));
  const to = (n) => { const next = new URLSearchParams(query); next.set("page", String(n)); return `#/activity?${next}`; };
  view.show(el("h1", {}, "Latest changes"),
    el("section", {}, el("p", { class: "muted" }, `${count(data.total)} changes within reach, newest first.`),
      feedList(data.items),
      el("nav", { class: "pager", "aria-label": "Pages" },
        data.page > 1 ? el("a", { href: to(data.page - 1) }, "← Newer") : null,
        el("span", {}, `Page ${data.page} of ${pages}`),
        data.page < pages ? el("a", { href: to(data.page + 1) }, "Older →") : null)));
}
