// How long the dashboard takes to show its numbers, measured inside the page with the Performance
// API: the app sets the mark `dashboard:numbers` when its figures are on screen (and
// `opportunities:rows` when a list is).

// Median of `runs` in-app navigations to `hash`: from the hash change to the page's `mark`.
export async function navigationMedian(page, hash = "#/dashboard", mark = "dashboard:numbers", runs = 5) {
  const timings = [];
  for (let i = 0; i < runs; i++) {
    await page.evaluate(() => { location.hash = "#/team"; });
    await page.waitForSelector("h1:text('Team')");
    timings.push(await page.evaluate(([target, name]) => new Promise((resolve) => {
      performance.clearMarks();
      const start = performance.now();
      const observer = new PerformanceObserver((list) => {
        const done = list.getEntriesByName(name)[0];
        if (done) { observer.disconnect(); resolve(done.startTime - start); }
      });
      observer.observe({ type: "mark" });
      location.hash = target;
    }), [hash, mark]));
  }
  return median(timings);
}

// Median of `runs` full page loads of `hash`: from navigation start to the page's `mark`
// (assets revalidated, the session checked, the figures fetched and drawn).
export async function loadMedian(page, base, hash = "#/dashboard", mark = "dashboard:numbers", runs = 5) {
  const timings = [];
  for (let i = 0; i < runs; i++) {
    await page.goto("about:blank");
    await page.goto(`${base}/${hash}`);
    timings.push(await page.evaluate((name) => new Promise((resolve) => {
      const found = () => performance.getEntriesByName(name)[0];
      if (found()) return resolve(found().startTime);
      const observer = new PerformanceObserver(() => {
        if (found()) { observer.disconnect(); resolve(found().startTime); }
      });
      observer.observe({ type: "mark" });
    }), mark));
  }
  return median(timings);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// The layout shift (Chromium's Layout Instability API, summed as in CLS) from a full load of
// `hash` until its trend charts are drawn: figures arriving must not push the page around.
export async function loadLayoutShift(page, base, hash = "#/dashboard") {
  await page.goto("about:blank");
  await page.addInitScript(() => {
    window.__shift = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__shift += entry.value;
    }).observe({ type: "layout-shift", buffered: true });
  });
  await page.goto(`${base}/${hash}`);
  await page.waitForSelector("figure[data-chart=won] svg, [data-slot=won] p");
  await page.waitForTimeout(200);
  return page.evaluate(() => window.__shift);
}
