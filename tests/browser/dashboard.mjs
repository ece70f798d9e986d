// Drives the dashboard of a running `pipelog serve --demo` in headless Chromium and checks what
// people see against the API. Usage: node dashboard.mjs BASE_URL SCREENSHOT_DIR
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { clickEveryNumber } from "./figures.mjs";
import { checkLayout, launch, open, ready, signIn as signInWith, stable } from "./support.mjs";
import { navigationMedian } from "./timing.mjs";

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const results = { numbers: {} };
const errors = [];
const signIn = (email, options) => signInWith(browser, base, errors, email, options);
const json = async (page, path) => (await page.request.get(`${base}${path}`)).json();

// The cards on the page equal the API's, for the same session.
async function checkCards(page, label, hash = "#/dashboard") {
  return stable(page, base, async () => {
    await open(page, base, hash);
    const api = await json(page, `/api/dashboard?${hash.split("?")[1] || ""}`);
    for (const [currency, figures] of Object.entries(api.currencies)) {
      const card = (name) => page.locator(`section[data-currency="${currency}"] .card`, { hasText: name }).locator(".value").textContent();
      assert.equal(Number((await card("Open opportunities")).replace(/[^0-9]/g, "")), figures.active_opportunities, `${label}: open ${currency}`);
      assert.equal(Number((await card("Open pipeline")).replace(/[^0-9]/g, "")), Math.round(figures.pipeline_cents / 100), `${label}: open pipeline ${currency}`);
      assert.equal(Number((await card("Won revenue")).replace(/[^0-9]/g, "")), Math.round(figures.won_cents / 100), `${label}: won ${currency}`);
    }
    return api;
  });
}

async function total(page) {
  await open(page, base, "#/opportunities");
  return Number((await page.textContent("#total")).replace(/[^0-9]/g, ""));
}

// Keyboard: the sign-in page starts in its form, the navigation is hidden until signed in, and Tab
// goes email, password, submit.
{
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/#/login`);
  await ready(page, "#/login");
  assert.equal(await page.isVisible("#nav"), false, "no navigation before sign-in");
  const focused = () => page.evaluate(() => document.activeElement.name || document.activeElement.type || document.activeElement.tagName);
  assert.equal(await focused(), "email", "focus starts in the form");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "password");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "submit");
  await context.close();
}

const admin = await signIn("admin@example.com", { viewport: { width: 1440, height: 900 } });
// A page that is not there says so and offers a way back.
await admin.page.goto(`${base}/#/opportunity/999999999`);
await admin.page.waitForSelector("h1:has-text('Not found')");
await admin.page.click("a:has-text('Back to the dashboard')");
await ready(admin.page, "#/dashboard");
const adminApi = await checkCards(admin.page, "admin");

const team = await json(admin.page, "/api/team");
const people = [];
const walk = (nodes, depth) => nodes.forEach((n) => { people.push({ ...n, depth }); walk(n.reports, depth + 1); });
walk(team.team, 0);
const accounts = (await json(admin.page, "/api/admin/accounts")).accounts;
const emailOf = (userId) => accounts.find((a) => a.user_id === userId)?.email;
const manager = people.find((p) => p.depth >= 1 && p.reports.some((r) => r.reports.length === 0) && emailOf(p.user_id));
const seller = people.find((p) => p.reports.length === 0 && emailOf(p.user_id));
assert.ok(manager && seller, "a manager and a salesperson with accounts");
const options = await json(admin.page, "/api/filters");
assert.ok(options.teams.length && options.stages.length && options.salespeople.length, "filter choices");

const managerSession = await signIn(emailOf(manager.user_id));
await checkCards(managerSession.page, "manager");
const sellerSession = await signIn(emailOf(seller.user_id));
await checkCards(sellerSession.page, "salesperson");
results.totals = { admin: await total(admin.page), manager: await total(managerSession.page), salesperson: await total(sellerSession.page) };
assert.ok(results.totals.salesperson < results.totals.admin && results.totals.manager <= results.totals.admin, `reach: ${JSON.stringify(results.totals)}`);

// Every number, for each kind of viewer, with and without filters: the list behind it holds
// exactly it, in its currency.
const year = new Date().getUTCFullYear();
const views = [
  ["admin", admin.page, "#/dashboard"],
  ["admin, this year and a team", admin.page, `#/dashboard?from=${year}-01-01&to=${year}-12-31&team=${options.teams[0].id}`],
  ["manager", managerSession.page, "#/dashboard"],
  ["manager, one stage", managerSession.page, `#/dashboard?stage=${options.stages[0].id}`],
  ["salesperson", sellerSession.page, "#/dashboard"],
  ["salesperson, this year", sellerSession.page, `#/dashboard?from=${year}-01-01&to=${year}-12-31`],
];
for (const [label, page, hash] of views) {
  results.numbers[label] = await clickEveryNumber(page, base, hash, label);
}
// The manager's team table has a row per report and their own deals, and adds up (the API test
// checks every cent; here the page shows the rows the API gives).
{
  const page = managerSession.page;
  await open(page, base, "#/dashboard");
  const mine = await json(page, "/api/dashboard");
  const kinds = new Set(mine.team_table.map((row) => row.kind));
  assert.ok(kinds.has("report") && kinds.has("total"), `manager's rows: ${[...kinds]}`);
  const [currency] = Object.keys(mine.currencies);
  const rows = await page.locator(`table.team[data-currency="${currency}"] tr[data-kind]`).count();
  assert.equal(rows, mine.team_table.filter((row) => row.kind === "report" || row.currencies[currency]).length, "a row per team table entry");
  // A stage filter makes win rates meaningless: the page says so instead of showing 0 % or 100 %.
  await open(page, base, `#/dashboard?stage=${options.stages[0].id}`);
  assert.ok((await page.textContent("main")).includes("Win rates are not shown for one stage"));
}

// A period narrows every closing figure, and the page says so.
await open(admin.page, base, `#/dashboard?from=${year}-01-01&to=${year}-12-31`);
await admin.page.waitForSelector("#period-note");
await admin.page.screenshot({ path: `${shots}/dashboard-admin-period.png`, fullPage: true });

// Namesakes (the demo has two Luis Evans) can be told apart in every picker.
{
  const names = options.salespeople.map((p) => p.name);
  assert.ok(names.some((n, i) => names.indexOf(n) !== i), "the demo has namesakes");
  await open(admin.page, base, "#/dashboard");
  const labels = (await admin.page.locator("select[name=user] option").allTextContents()).slice(1);
  assert.equal(labels.length, names.length);
  assert.equal(new Set(labels).size, labels.length, "every person in the picker is told apart");
}
// The figures are defined on the page, behind a disclosure that works by tap or keyboard.
{
  assert.equal(await admin.page.isVisible("details.definitions dl"), false);
  await admin.page.click("details.definitions summary");
  const terms = await admin.page.locator("details.definitions dt").allTextContents();
  for (const label of await admin.page.locator("section[data-currency] .card .label").allTextContents()) {
    const term = terms.find((t) => label.startsWith(t));
    assert.ok(term, `${label} is defined on the page: ${JSON.stringify(terms)}`);
  }
}
// Charts read without hovering: an axis, value labels, a legend, and the same figures as a table.
{
  const forecast = admin.page.locator("section[data-currency] figure[data-chart=forecast]").first();
  assert.ok(await forecast.locator("text.tick").count() >= 3, "an axis with ticks");
  assert.ok(await forecast.locator("line.grid").count() >= 2, "gridlines");
  assert.ok(await forecast.locator("text.value").count() >= 1, "value labels where they fit");
  const legend = await forecast.locator("ul.legend li").allTextContents();
  assert.deepEqual(legend, ["Open", "Weighted", "Overdue (open)", "No expected close (open)"], "a legend");
  const columns = await forecast.locator("svg a").count();
  await forecast.locator("details.as-table summary").click();
  assert.equal(await forecast.locator("tbody tr").count(), columns, "the table has a row per column");
  const months = await forecast.locator("tbody th").allTextContents();
  assert.ok(months.includes("Overdue (expected before today)") && months.includes("No expected close"), "overdue and undated deals are shown");
  assert.ok(months.some((m) => new RegExp(`\\b${year}\\b|\\b${year + 1}\\b`).test(m)), `months read in words: ${months}`);
}
// Keyboard: browsing a filter with the arrow keys applies nothing; Apply does, and the focus stays
// on it after the page is drawn again.
{
  await open(admin.page, base, "#/dashboard");
  await admin.page.focus("select[name=team]");
  await admin.page.keyboard.press("ArrowDown");
  await admin.page.keyboard.press("ArrowDown");
  assert.ok(!admin.page.url().includes("team="), "arrow keys do not apply a filter");
  assert.equal(await admin.page.evaluate(() => document.activeElement.name), "team", "focus stays in the select");
  await admin.page.focus("button[name=apply]");
  await admin.page.keyboard.press("Enter");
  await admin.page.waitForFunction(() => location.hash.includes("team=") && document.getElementById("main").dataset.ready === location.hash);
  assert.equal(await admin.page.evaluate(() => document.activeElement.name), "apply", "focus is kept after the re-render");
}

// Drill down: the manager's team table → a report's dashboard → their opportunities → a timeline.
{
  const { page } = managerSession;
  await open(page, base, "#/dashboard");
  await page.locator("table.team tbody tr[data-kind=report] td:first-child a").first().click();
  await page.waitForFunction(() => location.hash.includes("user=") && document.getElementById("main").dataset.ready === location.hash);
  await page.screenshot({ path: `${shots}/dashboard-report.png`, fullPage: true });
  await open(page, base, "#/opportunities?sort=-revenue");
  await page.locator("tbody tr a").first().click();
  await page.waitForSelector("ol.timeline li");
  // The deal in Odoo: the simulated Odoo (version 18) names it at /odoo/crm/<id>.
  const id = page.url().split("/").pop();
  const href = await page.getAttribute("#odoo-link", "href");
  assert.match(href, new RegExp(`/odoo/crm/${id}$`), "a link to the deal in Odoo 17.2 and later");
  const detail = await json(page, `/api/opportunities/${id}`);
  const inOdoo = await page.request.get(href);
  assert.equal(inOdoo.status(), 200);
  assert.ok((await inOdoo.text()).includes(detail.opportunity.name.replace(/&/g, "&amp;").replace(/</g, "&lt;")), "the link opens that deal");
  await page.screenshot({ path: `${shots}/opportunity.png`, fullPage: true });
}

// Reassign (as the admin), confirming the dialog; the page shows the outcome.
const dialogs = [];
admin.page.on("dialog", (dialog) => { dialogs.push(dialog.message()); dialog.accept(); });
await open(admin.page, base, "#/opportunities?status=open&sort=-revenue");
await admin.page.locator("tbody tr a").first().click();
await admin.page.waitForSelector("#reassign select[name=salesperson]");
const leadId = admin.page.url().split("/").pop();
const before = await json(admin.page, `/api/opportunities/${leadId}`);
const sent = admin.page.waitForRequest((r) => r.url().endsWith(`/api/opportunities/${leadId}/assign`));
// Choose and submit at once: nothing may re-render the form in between.
await admin.page.selectOption("#reassign select[name=salesperson]", String(seller.user_id));
await admin.page.click("#reassign button[type=submit]");
assert.equal((await sent).headers()["if-match"], `"${before.version}"`, "the page sends the version it shows");
await admin.page.waitForSelector("ol.timeline li:has-text('Assigned')");
await admin.page.waitForSelector("#reassign [role=status]:has-text('Reassigned to')");
await admin.page.screenshot({ path: `${shots}/reassigned.png`, fullPage: true });

// Someone else reassigns it meanwhile: the page's next attempt is refused, says why, and reloads.
const now = await json(admin.page, `/api/opportunities/${leadId}`);
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
await ready(visitor, "#/login");
await visitor.fill("input[name=email]", "nobody@example.com");
await visitor.fill("input[name=password]", "wrong-password");
await visitor.click("button[type=submit]");
await visitor.waitForSelector("[role=alert].error");
assert.equal(new URL(visitor.url()).hash, "#/login", "a refused sign-in stays on the page, saying why");
await visitor.click("a:text('Ask for one')");
await ready(visitor, "#/signup");
await visitor.fill("input[name=name]", "Newcomer");
await visitor.fill("input[name=email]", "newcomer@example.com");
await visitor.fill("input[name=password]", "long-enough");
await visitor.click("button[type=submit]");
await visitor.waitForSelector("[role=alert]:has-text('waiting for approval')");
await visitor.screenshot({ path: `${shots}/signup.png` });
await open(admin.page, base, "#/admin");
await admin.page.locator("tr[data-email='newcomer@example.com'] button", { hasText: "Approve" }).click();
await admin.page.waitForSelector("tr[data-email='newcomer@example.com'] button:text('Disable')");
// The approved newcomer has no Odoo user: the dashboard says why it is empty and what to do.
// Until the sign-in page is drawn, the sign-up form is still the one on screen.
await visitor.goto(`${base}/#/login`);
await ready(visitor, "#/login");
await visitor.fill("input[name=email]", "newcomer@example.com");
await visitor.fill("input[name=password]", "long-enough");
await visitor.click("button[type=submit]");
await visitor.waitForSelector("h1:text('Nothing to show yet')");
assert.ok((await visitor.textContent("main")).includes("not linked to an Odoo user"), "an unlinked account is told why");

// Admin: names and last sign-in; a role change and a disable, each confirmed; errors in place.
{
  const page = admin.page;
  await open(page, base, "#/admin");
  const row = (email) => page.locator(`tr[data-email='${email}']`);
  assert.ok((await row("admin@example.com").textContent()).includes("Demo Admin"), "names are shown");
  assert.ok(!(await row("newcomer@example.com").textContent()).includes("never"), "the newcomer's sign-in is shown");
  dialogs.length = 0;
  await row("newcomer@example.com").locator("button", { hasText: "Make admin" }).click();
  await page.waitForSelector("tr[data-email='newcomer@example.com'] button:text('Make member')");
  assert.match(dialogs[0], /Make Newcomer \(newcomer@example.com\) an admin/, "the role change is confirmed first");
  await row("newcomer@example.com").locator("button", { hasText: "Make member" }).click();
  await page.waitForSelector("tr[data-email='newcomer@example.com'] button:text('Make admin')");
  await row("newcomer@example.com").locator("button", { hasText: "Disable" }).click();
  await page.waitForSelector("tr[data-email='newcomer@example.com'] button:text('Approve')");
  assert.match(dialogs.at(-1), /Disable Newcomer/, "disabling is confirmed first");
  // Disabling yourself is refused: the page says so in place and stays.
  await row("admin@example.com").locator("button", { hasText: "Disable" }).click();
  await page.waitForSelector("#accounts-status.error:has-text('your own account')");
  assert.ok(await page.isVisible("h2:text('Manager overrides')"), "the rest of the page stays");
  // A sync started here shows while it runs, and the runs table follows it without a reload.
  const runsBefore = (await json(page, "/api/sync/status")).history.runs_total;
  const firstRun = await page.textContent("#runs tbody tr:first-child td:first-child");
  await page.click("button:text('Sync now')");
  await page.waitForFunction(([before]) => {
    const first = document.querySelector("#runs tbody tr:first-child td:first-child");
    return first && first.textContent !== before;
  }, [firstRun], { timeout: 20000 });
  assert.ok((await json(page, "/api/sync/status")).history.runs_total > runsBefore, "a run was recorded");
}

// A manager override, then back to Odoo's; and the views verified against the log.
await open(admin.page, base, "#/admin");
await admin.page.selectOption("#override select[name=user]", String(seller.user_id));
await admin.page.selectOption("#override select[name=manager]", String(manager.user_id));
await admin.page.click("#override button[type=submit]");
await admin.page.waitForSelector(`tr[data-user="${seller.user_id}"]`);
const overridden = await json(admin.page, "/api/admin/overrides");
assert.ok(overridden.overrides.some((o) => o.user_id === seller.user_id && o.manager_id === manager.user_id), "override listed");
await admin.page.screenshot({ path: `${shots}/admin.png`, fullPage: true });
await admin.page.locator(`tr[data-user="${seller.user_id}"] button`).click();
await admin.page.waitForSelector(`tr[data-user="${seller.user_id}"]`, { state: "detached" });
await admin.page.click("button:text('Verify views')");
await admin.page.waitForSelector("#views-status:has-text('Views verified')");

// CSV export of exactly what is shown.
await stable(admin.page, base, async () => {
  await open(admin.page, base, "#/opportunities?status=won");
  const shown = Number((await admin.page.textContent("#total")).replace(/[^0-9]/g, ""));
  const [download] = await Promise.all([admin.page.waitForEvent("download"), admin.page.click("button:text('Export CSV')")]);
  const csv = await readFile(await download.path(), "utf8");
  assert.equal(csv.trim().split("\n").length - 1, shown, "CSV rows = rows shown");
});

const screens = [["desktop", { width: 1440, height: 900 }], ["phone", { width: 390, height: 844 }]];
for (const [screen, viewport] of screens) {
  for (const colorScheme of ["light", "dark"]) {
    const { page, context } = await signIn("admin@example.com", { viewport, colorScheme, hasTouch: screen === "phone" });
    for (const [name, hash] of [["dashboard", "#/dashboard"], ["list", "#/opportunities?status=open"], ["admin", "#/admin"]]) {
      await open(page, base, hash);
      await checkLayout(page, `${name} on ${screen}, ${colorScheme}`);
      await page.screenshot({ path: `${shots}/${name}-${screen}-${colorScheme}.png`, fullPage: true });
    }
    if (colorScheme === "dark") {
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.notEqual(background, "rgb(247, 248, 250)", "dark background");
    }
    if (screen === "phone" && colorScheme === "light") {
      // Touch: a first tap on a column shows its values, a second opens its list.
      await open(page, base, "#/dashboard");
      const column = page.locator("section[data-currency] figure[data-chart=forecast] svg a").nth(1);
      await column.tap();
      const readout = await page.textContent("section[data-currency] figure[data-chart=forecast] .readout");
      assert.match(readout, /deals?, open .+, weighted /, "a tap shows the column's values");
      assert.equal(new URL(page.url()).hash, "#/dashboard", "the first tap stays on the dashboard");
      await column.tap();
      await page.waitForFunction(() => location.hash.startsWith("#/opportunities"));
      await page.screenshot({ path: `${shots}/phone-tapped-list.png`, fullPage: true });
    }
    await context.close();
  }
}

// Time from navigation to numbers on screen, measured in the page (Performance API).
results.dashboard_navigation_ms_median = await navigationMedian(admin.page);
results.opportunities = Object.values(adminApi.currencies).reduce((n, f) => n + f.active_opportunities, 0);

// The provoked failures are the only failed requests a page may log: the missing page, the
// conflict, and disabling yourself.
const provoked = errors.filter((e) => /status of (409 \(Conflict\)|404 \(Not Found\)|400 \(Bad Request\))/.test(e));
assert.equal(provoked.length, 3, `the provoked 404, conflict and refusal: ${provoked}`);
assert.deepEqual(errors.filter((e) => !provoked.includes(e)), [], "no errors in the pages");
await browser.close();
console.log(JSON.stringify(results));
