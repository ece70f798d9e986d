// The reporting tree within the viewer's reach; each person opens their dashboard.
import { api } from "../api.js";
import { el } from "../dom.js";

function tree(nodes) {
  return el("ul", {}, nodes.map((n) => el("li", {}, el("a", { href: `#/dashboard?user=${n.user_id}` }, n.name),
    n.job_title ? el("span", { class: "muted" }, ` · ${n.job_title}`) : null, n.reports.length ? tree(n.reports) : null)));
}

export async function teamPage(view) {
  const data = await api("/api/team");
  view.show(el("h1", {}, "Team"), el("section", {}, data.team.length ? tree(data.team) : el("p", { class: "muted" }, "No reporting line yet.")));
}
