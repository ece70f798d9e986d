// Drives the history pages of a running `pipelog serve --demo` in headless Chromium: the waterfall
// adds up on the page and each bar opens exactly its deals; the trend's columns open the lists
// as of their instant; the dashboard as of a past day reconciles like today's; a manager's page
// holds only their reach; phones and desktops, light and dark.
// Usage: node history.mjs BASE_URL SCREENSHOT_DIR
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { clickEveryNumber } from "./figures.mjs";
import { checkLayout, launch, open, ready, signIn as signInWith, stable } from "./support.mjs";

const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await launch();
const errors = [];
const results = { bars: 0, columns: 0 };
const signIn = (email, options) => signInWith(browser, base, errors, email, options);
const json = async (page, path) => (await page.request.get(`${base}${path}`)).json();
const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

// A window over the whole demo (a year back, a year ahead), so that every bar has deals.
const hash = `#/history?from=${day(-120)}&close_from=${day(-400)}&close_to=${day(400)}&trend_from=${day(-365)}&every=month`;

/** The waterfall on the page: per currency, its bars with what they claim. */
async function barsOn(page) {
  return page.evaluate(() => [...document.querySelectorAll("section[data-currency] figure[data-chart=waterfall] a[data-figure]")]
    .map((a, index) => ({ index, bar: a.dataset.bar, currency: a.dataset.currency, count: Number(a.dataset.count), cents: Number(a.dataset.cents) })));
}

async function checkWaterfall(page, label) {
  return stable(page, base, async () => {
    await open(page, base, hash);
    const bars = await barsOn(page);
    assert.ok(bars.length >= 2, `${label}: a waterfall is drawn`);
    const currencies = [...new Set(bars.map((b) => b.currency))];
    for (const currency of currencies) {
      const mine = bars.filter((b) => b.currency === currency);
      const opening = mine.find((b) => b.bar === "opening"), closing = mine.find((b) => b.bar === "closing");
      const moved = mine.filter((b) => b !== opening && b !== closing);
      assert.equal(opening.count + moved.reduce((n, b) => n + b.count, 0), closing.count, `${label} ${currency}: opening + movements = closing (count)`);
      assert.equal(opening.cents + moved.reduce((n, b) => n + b.cents, 0), closing.cents, `${label} ${currency}: opening + movements = closing (value)`);
    }
    for (const bar of bars) {
      await page.locator("section[data-currency] figure[data-chart=waterfall] a[data-figure]").nth(bar.index).click();
      await page.waitForFunction(() => (document.getElementById("main").dataset.ready || "").startsWith("#/waterfall"));
      const total = await page.evaluate(() => {
        const li = document.querySelector("#totals li");
        const rows = [...document.querySelectorAll("table.list tbody tr")].length;
        return { currency: li.dataset.currency, count: Number(li.dataset.count), cents: Number(li.dataset.valueCents), rows };
      });
      assert.deepEqual({ currency: total.currency, count: total.count, cents: total.cents },
        { currency: bar.currency, count: bar.count, cents: bar.cents }, `${label}: the ${bar.bar} bar in ${bar.currency} lists its deals`);
      if (bar.count !== 0 || bar.cents !== 0) assert.ok(total.rows > 0, `${label}: the ${bar.bar} bar shows rows`);
      results.bars += 1;
      if (bar.bar === "opening" && label === "admin") await page.screenshot({ path: `${shots}/waterfall-deals.png`, fullPage: true });
      await page.goBack();
      await ready(page, hash);
    }
    return bars;
  });
}

// The trend's columns: each opens the list as of its instant, and that list holds the column.
async function checkTrend(page, label) {
  await open(page, base, hash);
  const columns = await page.evaluate(() => [...document.querySelectorAll("figure[data-chart=trend] svg a[data-figure]")]
    .map((a, index) => ({ index, currency: a.dataset.currency, count: Number(a.dataset.count), cents: Number(a.dataset.cents), weighted: Number(a.dataset.weightedCents) })));
  assert.ok(columns.length >= 10, `${label}: a trend of months`);
  for (const column of columns.filter((_, i) => i % 4 === 0)) {
    const href = await page.locator("figure[data-chart=trend] svg a[data-figure]").nth(column.index).getAttribute("href");
    const query = href.split("?")[1];
    const list = await json(page, `/api/opportunities?${query}&per_page=1`);
    const totals = list.totals[column.currency] || { count: 0, value_cents: 0, weighted_cents: 0 };
    assert.deepEqual([totals.count, totals.value_cents, totals.weighted_cents], [column.count, column.cents, column.weighted],
      `${label}: the trend column ${href} equals its list`);
    results.columns += 1;
  }
}

const admin = await signIn("admin@example.com");
await checkWaterfall(admin.page, "admin");
await checkTrend(admin.page, "admin");
// The dashboard as of a past day: every number equals the list behind it, as of that day.
results.as_of_numbers = await clickEveryNumber(admin.page, base, `#/dashboard?as_of=${day(-60)}`, "admin as of");
await open(admin.page, base, `#/dashboard?as_of=${day(-60)}`);
assert.ok(await admin.page.isVisible("#as-of-note"), "the as-of dashboard says which moment it shows");
await admin.page.screenshot({ path: `${shots}/dashboard-as-of.png`, fullPage: true });

// A manager sees only the changes of deals within their reach.
const flatten = (nodes, depth = 0) => nodes.flatMap((n) => [{ ...n, depth }, ...flatten(n.reports, depth + 1)]);
const accounts = (await json(admin.page, "/api/admin/accounts")).accounts;
const emailOf = (userId) => accounts.find((a) => a.user_id === userId)?.email;
const manager = flatten((await json(admin.page, "/api/team")).team).find((p) => p.depth >= 1 && p.reports.length && emailOf(p.user_id));
assert.ok(manager, "a manager with an account");
const managerSession = await signIn(emailOf(manager.user_id));
await checkWaterfall(managerSession.page, "manager");
const reach = new Set(flatten((await json(managerSession.page, "/api/team")).team).map((p) => p.name));
const feed = await json(managerSession.page, "/api/history/activity?per_page=200");
for (const item of feed.items) {
  for (const change of item.changes.filter((c) => c.field === "user_id")) {
    assert.ok(reach.has(change.before) || reach.has(change.after), `the feed shows ${item.name}'s hand-over only when one side is in reach`);
  }
}
results.manager_feed = feed.total;

// Deals at risk and velocity: what the page lists is what the API answers, the stale totals
// included.
await open(admin.page, base, "#/risk");
const staleApi = await json(admin.page, "/api/history/stale");
const staleRows = await admin.page.locator("#stale-deals tbody tr").count();
assert.equal(staleRows, staleApi.deals.length, "every stale deal the API gives is listed");
for (const [currency, totals] of Object.entries(staleApi.currencies)) {
  const listed = staleApi.deals.filter((d) => d.currency === currency);
  if (staleApi.total === staleApi.deals.length) {
    assert.deepEqual([listed.length, listed.reduce((n, d) => n + d.expected_revenue_cents, 0)], [totals.count, totals.value_cents], `stale ${currency} adds up`);
  }
}
await open(admin.page, base, "#/velocity");
const velocityApi = await json(admin.page, "/api/history/velocity");
assert.equal(await admin.page.locator("#conversion tbody tr").count(), velocityApi.stages.length, "a conversion row per stage");
results.stale = staleApi.total;
results.stages = velocityApi.stages.length;

for (const [screen, viewport] of [["desktop", { width: 1440, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
  for (const colorScheme of ["light", "dark"]) {
    const { page, context } = await signIn("admin@example.com", { viewport, colorScheme, hasTouch: screen === "phone" });
    for (const [name, at] of [["history", hash], ["activity", "#/activity"], ["risk", "#/risk"], ["velocity", "#/velocity"]]) {
      await open(page, base, at);
      await checkLayout(page, `${name} on ${screen}, ${colorScheme}`);
      await page.screenshot({ path: `${shots}/${name}-${screen}-${colorScheme}.png`, fullPage: true });
    }
    await context.close();
  }
}

assert.deepEqual(errors, [], "no errors in the pages");
await browser.close();
console.log(JSON.stringify(results));
