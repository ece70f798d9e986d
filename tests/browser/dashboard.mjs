// Drives the dashboard of a running `pipelog serve --demo` in headless Chromium and checks what
// people see against the API. Usage: node dashboard.mjs BASE_URL SCREENSHOT_DIR
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { navigationMedian } from "./timing.mjs";

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
});
const results = {};
const errors = [];

async function signIn(email, viewport = { width: 1280, height: 900 }, colorScheme = "light") {
  const context = await browser.newContext({ viewport, colorScheme, acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${email}: ${e}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`${email}: ${m.text()}`); });
  await page.goto(`${base}/#/login`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", "demo");
  await page.click("button[type=submit]");
  await page.waitForSelector("section[data-currency], section .muted");
  return { context, page };
}

// The demo keeps changing (a sync every minute): a mismatch between the page and the API fails the
// test only if no sync ran while it was checked; otherwise the check runs again.
async function stable(page, check) {
  const syncRuns = async () => (await (await page.request.get(`${base}/api/sync/status`)).json()).history.runs_total;
  for (let attempt = 1; ; attempt++) {
    const before = await syncRuns();
    try { return await check(); }
    catch (error) { if (attempt >= 3 || (await syncRuns()) === before) throw error; }
  }
}

// The figures on the page equal the API's, for the same session.
async function checkFigures(page, label) {
  return stable(page, async () => {
  await page.goto(`${base}/#/team`);
  await page.waitForSelector("h1:text('Team')");
  await page.goto(`${base}/#/dashboard`);
  await page.waitForSelector("section[data-currency], section .muted");
  const api = await (await page.request.get(`${base}/api/dashboard`)).json();
  for (const [currency, figures] of Object.entries(api.currencies)) {
    const section = page.locator(`section[data-currency="${currency}"]`);
    const active = await section.locator(".card", { hasText: "Open opportunities" }).locator(".value").textContent();
    assert.equal(Number(active), figures.active_opportunities, `${label}: active ${currency}`);
    const open = await section.locator(".card", { hasText: "Open pipeline" }).locator(".value").textContent();
    assert.equal(Number(open.replace(/[^0-9]/g, "")), Math.round(figures.pipeline_value), `${label}: open pipeline ${currency}`);
  }
  return api;
  });
}

async function total(page) {
  await page.goto(`${base}/#/opportunities`);
  await page.waitForSelector("#total");
  return Number((await page.textContent("#total")).replace(/[^0-9]/g, ""));
}

// Admin: everything; a manager: their subtree; a salesperson: their own.
// Keyboard: the sign-in page starts in its form, the navigation is hidden until signed in, and Tab
// goes email, password, submit.
{
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/#/login`);
  await page.waitForSelector("form.login input[name=email]");
  assert.equal(await page.isVisible("#nav"), false, "no navigation before sign-in");
  const focused = () => page.evaluate(() => document.activeElement.name || document.activeElement.type || document.activeElement.tagName);
  assert.equal(await focused(), "email", "focus starts in the form");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "password");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "submit");
  await context.close();
}

const admin = await signIn("admin@example.com");
// A page that is not there says so and offers a way back.
await admin.page.goto(`${base}/#/opportunity/999999999`);
await admin.page.waitForSelector("h1:has-text('Not found')");
await admin.page.click("a:has-text('Back to the dashboard')");
await admin.page.waitForSelector("section[data-currency]");
const adminApi = await checkFigures(admin.page, "admin");
await admin.page.waitForSelector("svg[data-chart=forecast]");
await admin.page.waitForSelector("svg[data-chart=won]");
await stable(admin.page, async () => {
  await admin.page.goto(`${base}/#/dashboard`);
  await admin.page.waitForSelector("svg[data-chart=forecast]");
  await admin.page.selectOption("select[name=period]", "year");
  await admin.page.click("button[name=apply]");
  await admin.page.waitForFunction(() => location.hash.includes("from="));
  await admin.page.waitForSelector("#period-note");
  await admin.page.waitForSelector("svg[data-chart=forecast]");
  const yearly = await (await admin.page.request.get(`${base}/api/dashboard?${admin.page.url().split("?")[1]}`)).json();
  for (const [currency, figures] of Object.entries(yearly.currencies)) {
    const won = await admin.page.locator(`section[data-currency="${currency}"] .card`, { hasText: "Won revenue" }).locator(".value").textContent();
    assert.equal(Number(won.replace(/[^0-9]/g, "")), Math.round(figures.won_revenue), `won this year ${currency}`);
  }
});
await admin.page.screenshot({ path: `${shots}/dashboard-admin.png`, fullPage: true });
await admin.page.goto(`${base}/#/dashboard`);
await admin.page.waitForSelector("section[data-currency]");
const team = await (await admin.page.request.get(`${base}/api/team`)).json();
const people = [];
const walk = (nodes, depth) => nodes.forEach((n) => { people.push({ ...n, depth }); walk(n.reports, depth + 1); });
walk(team.team, 0);
const accounts = (await (await admin.page.request.get(`${base}/api/admin/accounts`)).json()).accounts;
const emailOf = (userId) => accounts.find((a) => a.user_id === userId)?.email;
const manager = people.find((p) => p.depth >= 1 && p.reports.some((r) => r.reports.length === 0) && emailOf(p.user_id));
const seller = people.find((p) => p.reports.length === 0 && emailOf(p.user_id));
assert.ok(manager && seller, "a manager and a salesperson with accounts");
const adminTotal = await total(admin.page);

const managerSession = await signIn(emailOf(manager.user_id));
await checkFigures(managerSession.page, "manager");
const managerTotal = await total(managerSession.page);
const sellerSession = await signIn(emailOf(seller.user_id));
await checkFigures(sellerSession.page, "salesperson");
const sellerTotal = await total(sellerSession.page);
assert.ok(sellerTotal < adminTotal && managerTotal <= adminTotal, `reach: seller ${sellerTotal}, manager ${managerTotal}, admin ${adminTotal}`);
results.totals = { admin: adminTotal, manager: managerTotal, salesperson: sellerTotal };

// Shared filters: a team narrows every card, and lands in the URL.
const options = await (await admin.page.request.get(`${base}/api/filters`)).json();
assert.ok(options.teams.length && options.stages.length && options.salespeople.length, "filter choices");
// Namesakes (the demo has two Luis Evans) can be told apart in every picker.
{
  const names = options.salespeople.map((p) => p.name);
  assert.ok(names.some((n, i) => names.indexOf(n) !== i), "the demo has namesakes");
  await admin.page.goto(`${base}/#/dashboard`);
  await admin.page.waitForSelector("select[name=user] option", { state: "attached" });
  const labels = (await admin.page.locator("select[name=user] option").allTextContents()).slice(1);
  assert.equal(labels.length, names.length);
  assert.equal(new Set(labels).size, labels.length, "every person in the picker is told apart");
}
// The figures are defined on the page, behind a disclosure that works by tap or keyboard.
{
  await admin.page.goto(`${base}/#/dashboard`);
  await admin.page.waitForSelector("details.definitions summary");
  assert.equal(await admin.page.isVisible("details.definitions dl"), false);
  await admin.page.click("details.definitions summary");
  const terms = await admin.page.locator("details.definitions dt").allTextContents();
  for (const label of await admin.page.locator("section[data-currency] .card .label").allTextContents()) {
    assert.ok(terms.includes(label), `${label} is defined on the page: ${JSON.stringify(terms)}`);
  }
}
// Keyboard: browsing a filter with the arrow keys applies nothing; Apply does, and the focus stays
// on it after the page is drawn again.
{
  await admin.page.goto(`${base}/#/dashboard`);
  await admin.page.waitForSelector("section[data-currency]");
  await admin.page.focus("select[name=team]");
  await admin.page.keyboard.press("ArrowDown");
  await admin.page.keyboard.press("ArrowDown");
  assert.ok(!admin.page.url().includes("team="), "arrow keys do not apply a filter");
  assert.equal(await admin.page.evaluate(() => document.activeElement.name), "team", "focus stays in the select");
  await admin.page.evaluate(() => document.querySelectorAll("section[data-currency]").forEach((s) => s.setAttribute("data-old", "")));
  await admin.page.focus("button[name=apply]");
  await admin.page.keyboard.press("Enter");
  await admin.page.waitForFunction(() => location.hash.includes("team="));
  await admin.page.waitForSelector("section[data-currency]:not([data-old]), section .muted");
  assert.equal(await admin.page.evaluate(() => document.activeElement.name), "apply", "focus is kept after the re-render");
}
await stable(admin.page, async () => {
  await admin.page.goto(`${base}/#/dashboard`);
  await admin.page.waitForSelector("section[data-currency]");
  // Mark what is on screen now, so that the checks below wait for the narrowed render.
  await admin.page.evaluate(() => document.querySelectorAll("section[data-currency]").forEach((s) => s.setAttribute("data-old", "")));
  await admin.page.selectOption("select[name=team]", String(options.teams[0].id));
  await admin.page.click("button[name=apply]");
  await admin.page.waitForFunction(() => location.hash.includes("team="));
  await admin.page.waitForSelector("section[data-currency]:not([data-old])");
  await admin.page.waitForSelector("svg[data-chart=forecast]");
  const teamQuery = admin.page.url().split("?")[1];
  const teamApi = await (await admin.page.request.get(`${base}/api/dashboard?${teamQuery}`)).json();
  assert.notDeepEqual(teamApi.currencies, adminApi.currencies, "a team narrows the figures");
  for (const [currency, figures] of Object.entries(teamApi.currencies)) {
    const active = await admin.page.locator(`section[data-currency="${currency}"] .card`, { hasText: "Open opportunities" }).locator(".value").textContent();
    assert.equal(Number(active), figures.active_opportunities, `team filter: active ${currency}`);
  }
  await admin.page.screenshot({ path: `${shots}/dashboard-team.png`, fullPage: true });

  // Every number drills down to the opportunities behind it (a card, a stage bar, a month): the
  // list holds that currency only, and its totals are the number clicked, to the cent.
  const [teamCurrency, teamFigures] = Object.entries(teamApi.currencies)[0];
  const listTotals = async (currency) => {
    await admin.page.waitForSelector("#totals");
    const item = admin.page.locator(`#totals li[data-currency="${currency}"]`);
    const others = await admin.page.locator(`#totals li:not([data-currency="${currency}"])`).count();
    assert.equal(others, 0, "a drill-down lists one currency");
    return { count: Number(await item.getAttribute("data-count")), cents: Number(await item.getAttribute("data-value-cents")) };
  };
  await admin.page.locator(`section[data-currency="${teamCurrency}"] .card`, { hasText: "Open opportunities" }).locator("a").click();
  await admin.page.waitForFunction(() => location.hash.startsWith("#/opportunities") && location.hash.includes("team="));
  assert.deepEqual(await listTotals(teamCurrency), { count: teamFigures.active_opportunities, cents: teamFigures.pipeline_cents }, "card drill-down");
  assert.equal(Number(await admin.page.textContent("#total")), teamFigures.active_opportunities);
  await admin.page.goBack();
  await admin.page.waitForSelector("svg[data-chart=stages] a");
  const stage = teamFigures.by_stage[0];
  await admin.page.locator(`section[data-currency="${teamCurrency}"] svg[data-chart=stages] a[data-stage="${stage.stage_id}"]`).click();
  await admin.page.waitForFunction(() => location.hash.includes("stage="));
  assert.deepEqual(await listTotals(teamCurrency), { count: stage.count, cents: stage.value_cents }, "stage bar drill-down");
  await admin.page.goBack();
  await admin.page.waitForSelector("svg[data-chart=forecast] a");
  const trends = await (await admin.page.request.get(`${base}/api/dashboard/trends?${teamQuery}`)).json();
  // Every bar of the forecast: overdue, each month shown, and no expected close.
  const series = trends.currencies[teamCurrency];
  const bars = [series.overdue, ...series.forecast.slice(0, 16), series.no_expected_close].filter(Boolean);
  assert.ok(series.overdue && series.no_expected_close, "the demo has overdue and undated deals");
  for (const bar of [bars[0], bars[1], bars[bars.length - 1]]) {
    await admin.page.locator(`section[data-currency="${teamCurrency}"] svg[data-chart=forecast] a[data-month="${bar.month}"]`).click();
    await admin.page.waitForFunction(() => location.hash.startsWith("#/opportunities"));
    assert.deepEqual(await listTotals(teamCurrency), { count: bar.count, cents: bar.value_cents }, `forecast ${bar.month} drill-down`);
    await admin.page.goBack();
    await admin.page.waitForSelector("svg[data-chart=forecast] a");
  }
  await admin.page.screenshot({ path: `${shots}/drill-down.png`, fullPage: true });
});

// Drill down: the manager's team table → a report's dashboard → their opportunities → a timeline.
const { page } = managerSession;
await page.goto(`${base}/#/dashboard`);
await page.waitForSelector("section h2:text('Team')");
await stable(page, async () => {
  await page.goto(`${base}/#/dashboard`);
  await page.waitForSelector("section h2:text('Team')");
  const mine = await (await page.request.get(`${base}/api/dashboard`)).json();
  const [rowCurrency, rowFigures] = Object.entries(mine.team_metrics[0].currencies)[0];
  await page.locator("section:has(h2:text('Team')) tbody td.num a").first().click();
  await page.waitForFunction(() => location.hash.startsWith("#/opportunities") && location.hash.includes("user="));
  await page.waitForSelector("#totals");
  const row = page.locator(`#totals li[data-currency="${rowCurrency}"]`);
  assert.equal(Number(await row.getAttribute("data-count")), rowFigures.active_opportunities, "team table drill-down: count");
  assert.equal(Number(await row.getAttribute("data-value-cents")), rowFigures.pipeline_cents, "team table drill-down: value");
});
await page.goBack();
await page.waitForSelector("section h2:text('Team')");
await page.locator("section:has(h2:text('Team')) tbody tr td:first-child a").first().click();
await page.waitForFunction(() => location.hash.includes("user="));
await page.waitForSelector("section[data-currency], section .muted");
await page.screenshot({ path: `${shots}/dashboard-report.png`, fullPage: true });
await page.goto(`${base}/#/opportunities?sort=-revenue`);
await page.waitForSelector("tbody tr a");
await page.locator("tbody tr a").first().click();
await page.waitForSelector("ol.timeline li");
await page.screenshot({ path: `${shots}/opportunity.png`, fullPage: true });

// Reassign (as the admin), confirming the dialog; the page shows the outcome.
admin.page.on("dialog", (dialog) => dialog.accept());
await admin.page.goto(`${base}/#/opportunities?status=open&sort=-revenue`);
await admin.page.waitForSelector("tbody tr a");
await admin.page.locator("tbody tr a").first().click();
await admin.page.waitForSelector("#reassign select[name=salesperson]");
const leadId = admin.page.url().split("/").pop();
const before = await (await admin.page.request.get(`${base}/api/opportunities/${leadId}`)).json();
const sent = admin.page.waitForRequest((r) => r.url().endsWith(`/api/opportunities/${leadId}/assign`));
// Choose and submit at once: nothing may re-render the form in between.
await admin.page.selectOption("#reassign select[name=salesperson]", String(seller.user_id));
await admin.page.click("#reassign button[type=submit]");
assert.equal((await sent).headers()["if-match"], `"${before.version}"`, "the page sends the version it shows");
await admin.page.waitForSelector("ol.timeline li:has-text('Assigned')");
await admin.page.waitForSelector("#reassign [role=status]:has-text('Reassigned to')");
await admin.page.screenshot({ path: `${shots}/reassigned.png`, fullPage: true });

// Someone else reassigns it meanwhile: the page's next attempt is refused, says why, and reloads.
const now = await (await admin.page.request.get(`${base}/api/opportunities/${leadId}`)).json();
const other = people.find((p) => p.user_id !== seller.user_id && p.user_id !== now.opportunity.salesperson?.id);
const behind = await admin.page.request.post(`${base}/api/opportunities/${leadId}/assign`, {
  data: { salesperson: other.user_id }, headers: { "if-match": `"${now.version}"` } });
assert.equal(behind.status(), 200, "a reassignment behind the page's back");
await admin.page.selectOption("#reassign select[name=salesperson]", String(manager.user_id));
await admin.page.click("#reassign button[type=submit]");
await admin.page.waitForSelector("#reassign [role=status]:has-text('changed since the page was loaded')");
await admin.page.screenshot({ path: `${shots}/reassign-conflict.png`, fullPage: true });
await admin.page.click("#reassign [role=status] button");
await admin.page.waitForSelector("#reassign [role=status]:has-text('Reloaded')");

// Approve a pending sign-up.
const visitor = await (await browser.newContext()).newPage();
await visitor.goto(`${base}/#/login`);
await visitor.fill("input[name=email]", "nobody@example.com");
await visitor.fill("input[name=password]", "wrong-password");
await visitor.click("button[type=submit]");
await visitor.waitForSelector("[role=alert].error");
assert.equal(new URL(visitor.url()).hash, "#/login", "a refused sign-in stays on the page, saying why");
await visitor.click("a:text('Ask for one')");
await visitor.fill("input[name=name]", "Newcomer");
await visitor.fill("input[name=email]", "newcomer@example.com");
await visitor.fill("input[name=password]", "long-enough");
await visitor.click("button[type=submit]");
await visitor.waitForSelector("[role=alert]:has-text('waiting for approval')");
await visitor.screenshot({ path: `${shots}/signup.png` });
await admin.page.goto(`${base}/#/admin`);
await admin.page.locator("tr[data-email='newcomer@example.com'] button", { hasText: "Approve" }).click();
await admin.page.waitForSelector("tr[data-email='newcomer@example.com'] button:text('Disable')");
// The approved newcomer has no Odoo user: the dashboard says why it is empty and what to do.
await visitor.goto(`${base}/#/login`);
await visitor.fill("input[name=email]", "newcomer@example.com");
await visitor.fill("input[name=password]", "long-enough");
await visitor.click("button[type=submit]");
await visitor.waitForSelector("h1:text('Nothing to show yet')");
assert.ok((await visitor.textContent("main")).includes("not linked to an Odoo user"), "an unlinked account is told why");

// A manager override, then back to Odoo's; and the views verified against the log.
await admin.page.selectOption("#override select[name=user]", String(seller.user_id));
await admin.page.selectOption("#override select[name=manager]", String(manager.user_id));
await admin.page.click("#override button[type=submit]");
await admin.page.waitForSelector(`tr[data-user="${seller.user_id}"]`);
const overridden = await (await admin.page.request.get(`${base}/api/admin/overrides`)).json();
assert.ok(overridden.overrides.some((o) => o.user_id === seller.user_id && o.manager_id === manager.user_id), "override listed");
await admin.page.screenshot({ path: `${shots}/admin.png`, fullPage: true });
await admin.page.locator(`tr[data-user="${seller.user_id}"] button`).click();
await admin.page.waitForSelector(`tr[data-user="${seller.user_id}"]`, { state: "detached" });
await admin.page.click("button:text('Verify views')");
await admin.page.waitForSelector("#views-status:has-text('Views verified')");

// CSV export of exactly what is shown.
await stable(admin.page, async () => {
  await admin.page.goto(`${base}/#/opportunities?status=won`);
  await admin.page.waitForSelector("#total");
  const shown = Number((await admin.page.textContent("#total")).replace(/[^0-9]/g, ""));
  const [download] = await Promise.all([admin.page.waitForEvent("download"), admin.page.click("button:text('Export CSV')")]);
  const csv = await (await import("node:fs/promises")).readFile(await download.path(), "utf8");
  assert.equal(csv.trim().split("\n").length - 1, shown, "CSV rows = rows shown");
});

// Dark mode on a phone.
const phone = await signIn("admin@example.com", { width: 390, height: 844 }, "dark");
await phone.page.screenshot({ path: `${shots}/phone-dark.png`, fullPage: true });
const background = await phone.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
assert.notEqual(background, "rgb(247, 248, 250)", "dark background");

// Time from navigation to numbers on screen, measured in the page (Performance API).
results.dashboard_navigation_ms_median = await navigationMedian(admin.page);
results.opportunities = Object.values(adminApi.currencies).reduce((n, f) => n + f.active_opportunities, 0);

// The conflict and the missing page provoked above are the only failed requests a page may log.
const provoked = errors.filter((e) => e.includes("status of 409 (Conflict)") || e.includes("status of 404 (Not Found)"));
assert.equal(provoked.length, 2, `the provoked conflict and 404: ${provoked}`);
assert.deepEqual(errors.filter((e) => !provoked.includes(e)), [], "no errors in the pages");
await browser.close();
console.log(JSON.stringify(results));
