// pipelog's dashboard: a small single-page app over the JSON API, in ES modules (no build step,
// no third-party code, no inline script: the Content-Security-Policy forbids it). Untrusted text
// only ever goes in text nodes. This file routes; each page is a module under js/pages/.
import { api, forget, session } from "./js/api.js";
import { beginView, failure } from "./js/dom.js";
import { loginPage, setupPage, signupPage } from "./js/pages/account.js";
import { activityPage } from "./js/pages/activity.js";
import { adminPage } from "./js/pages/admin.js";
import { dashboardPage } from "./js/pages/dashboard.js";
import { historyPage } from "./js/pages/history.js";
import { opportunitiesPage } from "./js/pages/opportunities.js";
import { opportunityPage } from "./js/pages/opportunity.js";
import { riskPage } from "./js/pages/risk.js";
import { teamPage } from "./js/pages/team.js";
import { velocityPage } from "./js/pages/velocity.js";
import { waterfallPage } from "./js/pages/waterfall.js";

const nav = document.getElementById("nav");
const PUBLIC = { login: loginPage, signup: signupPage, setup: setupPage };

async function route() {
  const view = beginView();
  const [path] = location.hash.replace(/^#\/?/, "").split("?");
  try {
    if (PUBLIC[path]) {
      nav.hidden = true;
      await PUBLIC[path](view);
      return view.ready();
    }
    if (!session.me) session.me = await api("/api/me");
    nav.hidden = false;
    document.getElementById("nav-admin").hidden = !session.me.is_admin;
    document.getElementById("demo-banner").hidden = !session.me.demo;
    if (path.startsWith("opportunity/")) await opportunityPage(view, path.slice("opportunity/".length));
    else if (path === "opportunities") await opportunitiesPage(view);
    else if (path === "team") await teamPage(view);
    else if (path === "history") await historyPage(view);
    else if (path === "waterfall") await waterfallPage(view);
    else if (path === "activity") await activityPage(view);
    else if (path === "risk") await riskPage(view);
    else if (path === "velocity") await velocityPage(view);
    else if (path === "admin") await adminPage(view);
    else if (path === "" || path === "dashboard") await dashboardPage(view);
    else throw Object.assign(new Error("no such page"), { status: 404 });
    view.ready();
  } catch (error) {
    if (error.status === 401) return;
    failure(view, error);
    view.ready();
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  let answer = null;
  try { answer = await api("/api/auth/logout", { method: "POST" }); } catch { /* signed out either way */ }
  forget();
  // Signed in through the identity provider: its own session is still open; offer to end it too.
  session.endSessionUrl = answer && answer.end_session_url;
  location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();
