// What the browser scripts share: a browser, signing in, waiting for a page to be fully drawn, and
// retrying a check that a sync of the moving demo may have overtaken.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
}

/** Waits until the app has fully drawn `hash` (its late parts, such as the charts, included). */
export async function ready(page, hash) {
  await page.waitForFunction((wanted) => {
    const main = document.getElementById("main");
    if (!main || (wanted ? main.dataset.ready !== wanted : !main.dataset.ready)) return false;
    // Column charts draw once they have a width (next frame).
    return [...main.querySelectorAll("figure[data-chart] .plot")].every((plot) => plot.querySelector("svg"));
  }, hash);
}

/** Opens `hash` (e.g. `#/dashboard?team=1`) and waits until it is fully drawn. */
export async function open(page, base, hash) {
  const url = `${base}/${hash}`;
  // Going to the address already shown draws nothing new: load it again instead.
  if (page.url() === url) await page.reload();
  else await page.goto(url);
  await ready(page, hash);
}

/** Signs `email` in (password `demo`) in a new context, errors collected into `errors`. */
export async function signIn(browser, base, errors, email, { viewport = { width: 1280, height: 900 }, colorScheme = "light", hasTouch = false } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, hasTouch, acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${email}: ${e}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`${email}: ${m.text()}`); });
  await page.goto(`${base}/#/login`);
  await ready(page, "#/login");
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", "demo");
  await page.click("button[type=submit]");
  await ready(page, "#/dashboard");
  return { context, page };
}

/** How many syncs have run: a check that a sync overtook may be run again. */
export async function syncRuns(page, base) {
  return (await (await page.request.get(`${base}/api/sync/status`)).json()).history.runs_total;
}

// The demo keeps changing (a sync every minute): a mismatch between the page and the API fails the
// test only if no sync ran while it was checked; otherwise the check runs again.
export async function stable(page, base, check) {
  for (let attempt = 1; ; attempt++) {
    const before = await syncRuns(page, base);
    try { return await check(); }
    catch (error) { if (attempt >= 4 || (await syncRuns(page, base)) === before) throw error; }
  }
}

// Phones and desktops, light and dark: readable (no text under 12 px), nothing cut off.
export async function checkLayout(page, label) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${label}: the page is ${overflow}px wider than the screen`);
  const small = await page.evaluate(() => {
    const tiny = [];
    for (const node of document.querySelectorAll("main *")) {
      if (!node.childNodes.length || ![...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim())) continue;
      const box = node.getBoundingClientRect();
      if (!box.width || !box.height || node.closest("details:not([open])")) continue;
      let size = parseFloat(getComputedStyle(node).fontSize);
      const svg = node.closest("svg");
      // SVG text scales with its drawing.
      if (svg && svg.viewBox.baseVal && svg.viewBox.baseVal.width) size *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      if (size < 11.99) tiny.push(`${node.tagName}.${node.getAttribute("class") || ""} "${node.textContent.trim().slice(0, 20)}" ${size.toFixed(1)}px`);
    }
    return tiny;
  });
  assert.deepEqual(small, [], `${label}: text under 12 px`);
}
