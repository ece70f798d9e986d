// Clicks every number on a dashboard and checks that the list it opens holds exactly that number,
// in that currency: its deals, its value and (for open deals) its weighted value, to the cent.
// Every clickable number on the page says what its list must hold (`data-currency`, `data-count`,
// `data-cents`, `data-weighted-cents`); this checks those against the text shown and the list.
import assert from "node:assert/strict";
import { open, ready, syncRuns } from "./support.mjs";

// The numbers on the page with what they claim, grouped by what they open.
async function numbersOn(page) {
  return page.evaluate(() => [...document.querySelectorAll("main a[data-figure]")].map((a, index) => ({
    index,
    href: a.getAttribute("href"),
    // A stage bar shows its name, then "deals · value".
    text: (a.querySelector(".values") || a).textContent.trim(),
    currency: a.dataset.currency,
    count: Number(a.dataset.count),
    cents: a.dataset.cents === undefined ? null : Number(a.dataset.cents),
    weighted: a.dataset.weightedCents === undefined ? null : Number(a.dataset.weightedCents),
    inChart: !!a.closest("svg"),
  })));
}

const keyOf = (n) => `${n.href}|${n.currency}|${n.count}|${n.cents}|${n.weighted}`;

// The text shown must be one of the figures the number claims (a count, or money in its currency),
// except for rates and averages, and for chart columns, whose value the readout and table give.
async function checkText(page, number) {
  if (number.inChart || /%|–/.test(number.text)) return;
  // Its count, its value, its weighted value, or (the average deal) its value per deal.
  const { expected, average } = await page.evaluate(({ currency, count, cents, weighted }) => {
    const locale = navigator.language || "en";
    const money = (c) => new Intl.NumberFormat(locale, { style: "currency", currency, maximumFractionDigits: 0 }).format(c / 100);
    return {
      expected: [count.toLocaleString(locale), cents === null ? null : money(cents), weighted === null ? null : money(weighted)].filter(Boolean),
      average: cents !== null && count ? money(Math.round(cents / count)) : null,
    };
  }, number);
  for (const part of number.text.split(" · ")) {
    assert.ok(expected.includes(part) || part === average, `"${part}" is none of ${JSON.stringify(expected)} (${number.href})`);
  }
}

// The charts' tables are closed disclosures: opened, so that their numbers can be clicked too.
async function drawn(page, hash) {
  await ready(page, hash);
  await page.evaluate(() => document.querySelectorAll("details.as-table").forEach((d) => { d.open = true; }));
}

// Clicks the number, reads the list's totals, and goes back.
async function listBehind(page, hash, number) {
  await page.locator("main a[data-figure]").nth(number.index).click();
  await page.waitForFunction(() => (document.getElementById("main").dataset.ready || "").startsWith("#/opportunities"));
  const totals = await page.evaluate(() => [...document.querySelectorAll("#totals li")].map((li) => ({
    currency: li.dataset.currency, count: Number(li.dataset.count), cents: Number(li.dataset.valueCents), weighted: Number(li.dataset.weightedCents) })));
  await page.goBack();
  await drawn(page, hash);
  return totals;
}

function mismatch(number, totals) {
  const others = totals.filter((t) => t.currency !== number.currency);
  if (others.length) return `lists other currencies: ${JSON.stringify(others)}`;
  const list = totals[0] || { count: 0, cents: 0, weighted: 0 };
  if (list.count !== number.count) return `${list.count} deals listed, ${number.count} claimed`;
  if (number.cents !== null && list.cents !== number.cents) return `${list.cents} cents listed, ${number.cents} claimed`;
  if (number.weighted !== null && list.weighted !== number.weighted) return `${list.weighted} weighted cents listed, ${number.weighted} claimed`;
  return null;
}

/**
 * Clicks every number on the dashboard at `hash`. A mismatch fails unless a sync ran since the
 * page was drawn; then the page is drawn again and what changed is clicked again.
 * Returns how many numbers were shown and how many distinct lists were opened.
 */
export async function clickEveryNumber(page, base, hash, label) {
  const verified = new Set();
  let shown = 0;
  for (let round = 1; ; round++) {
    await open(page, base, hash);
    await drawn(page, hash);
    const runs = await syncRuns(page, base);
    const numbers = await numbersOn(page);
    shown = numbers.length;
    assert.ok(numbers.length > 0, `${label}: numbers to click`);
    let overtaken = false;
    for (const number of numbers) {
      const key = keyOf(number);
      if (verified.has(key)) continue;
      await checkText(page, number);
      const problem = mismatch(number, await listBehind(page, hash, number));
      if (problem) {
        if (round < 5 && (await syncRuns(page, base)) !== runs) { overtaken = true; break; }
        assert.fail(`${label}: ${number.text} (${number.href}): ${problem}`);
      }
      verified.add(key);
    }
    if (!overtaken) return { shown, lists: verified.size };
  }
}
