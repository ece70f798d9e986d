// Charts drawn with the page's own code: readable without hovering (axis, gridlines, value labels,
// a legend), one colour per meaning on every chart, values on tap for touch screens, and each chart
// also as a table. Every bar is a link to the list behind it and carries what that list must hold
// (`data-currency`, `data-count`, `data-cents`, `data-weighted-cents`).
import { el, svgEl } from "./dom.js";
import { compactMoney, count, money } from "./format.js";

/** What each colour means, everywhere (the CSS gives each class its colour). */
export const MEANINGS = {
  open: "Open",
  weighted: "Weighted",
  won: "Won",
  overdue: "Overdue (open)",
  undated: "No expected close (open)",
  gain: "Adds to the window",
  loss: "Takes from the window",
};

/** The attributes that say which list a number opens and what that list must add up to. */
export function figureData(currency, figure) {
  return {
    "data-figure": "",
    "data-currency": currency,
    "data-count": figure.count,
    "data-cents": figure.cents ?? undefined,
    "data-weighted-cents": figure.weighted ?? undefined,
  };
}

/** A link to the list behind a number. */
export function figureLink(text, href, currency, figure, attrs = {}) {
  return el("a", { href, ...figureData(currency, figure), ...attrs }, text);
}

function legend(meanings) {
  return el("ul", { class: "legend" }, meanings.map((meaning) =>
    el("li", {}, el("span", { class: `swatch ${meaning}`, "aria-hidden": "true" }), MEANINGS[meaning])));
}

// What a column's list must hold: its deals, its first series' value, and the second series'
// (the weighted value) when there is one.
function bucketFigure(spec, bucket) {
  return { count: bucket.count, cents: bucket.values[spec.series[0].key] || 0,
    weighted: spec.series[1] ? bucket.values[spec.series[1].key] || 0 : undefined };
}

// A step between gridlines that reads well: 1, 2 or 5 times a power of ten.
function niceStep(max, lines) {
  const raw = Math.max(1, max / lines);
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw) || raw;
}

// Touch has no hover: the first tap on a bar shows its values, a second tap opens its list.
function tapToShow(link, show) {
  let pointer = "mouse", shownBefore = false;
  // Whether it showed before this tap: the tap's own focus shows it too.
  link.addEventListener("pointerdown", (event) => { pointer = event.pointerType; shownBefore = link.classList.contains("selected"); });
  link.addEventListener("click", (event) => {
    if (pointer === "touch" && !shownBefore) {
      event.preventDefault();
      show();
    }
  });
  link.addEventListener("focus", show);
  link.addEventListener("mouseenter", show);
}

/**
 * Horizontal bars in HTML (the text keeps its size on any screen): one row per item with its
 * name, a bar and its values. `rows`: { name, meaning, count, cents, href, attrs }; with `text`,
 * `cents` only sizes the bar and `text` is shown instead.
 */
export function barList(label, rows, currency) {
  const max = Math.max(1, ...rows.map((row) => row.cents));
  const line = (row) => {
    const parts = [
      el("span", { class: "name" }, row.name),
      el("span", { class: "track", "aria-hidden": "true" },
        svgEl("svg", { viewBox: "0 0 1000 10", preserveAspectRatio: "none" },
          svgEl("rect", { class: row.meaning, x: 0, y: 0, height: 10, width: Math.max(2, Math.round(1000 * row.cents / max)) }))),
      el("span", { class: "values" }, row.text ?? `${count(row.count)} · ${money(row.cents, currency)}`),
    ];
    // A bar of money is a figure its list must add up to; one with its own text just leads on.
    return row.text === undefined
      ? figureLink(parts, row.href, currency, { count: row.count, cents: row.cents }, row.attrs)
      : el("a", { href: row.href, ...row.attrs }, parts);
  };
  return el("figure", { class: "chart" },
    el("ul", { class: "bars", "aria-label": label }, rows.map((row) => el("li", {}, line(row)))),
    rows.some((row) => row.text === undefined) ? legend([...new Set(rows.map((row) => row.meaning))]) : null);
}

/**
 * Columns over time, drawn at the width they are shown at (so labels stay readable), redrawn
 * when that width changes. `spec`:
 * - `label`: what the chart shows, for screen readers and the table's caption;
 * - `series`: [{ key, meaning, name }]: the first is the column, the others narrower inside it;
 * - `buckets`: [{ key, label, long, meaning, count, values: { [series key]: cents }, href, attrs }].
 */
export function columnChart(spec, currency) {
  const holder = el("div", { class: "plot" });
  const readout = el("p", { class: "readout", "aria-live": "polite" }, "Tap or hover a column to see its values.");
  const describe = (bucket) => `${bucket.long}: ${count(bucket.count)} ${bucket.count === 1 ? "deal" : "deals"}, `
    + spec.series.map((s) => `${s.name.toLowerCase()} ${money(bucket.values[s.key] || 0, currency)}`).join(", ");
  let drawnAt = 0;
  const draw = () => {
    const width = Math.max(280, Math.round(holder.clientWidth || 640));
    if (Math.abs(width - drawnAt) < 8) return;
    drawnAt = width;
    holder.replaceChildren(plot(spec, currency, width, (link, bucket) => {
      holder.querySelectorAll("a.selected").forEach((other) => other.classList.remove("selected"));
      link.classList.add("selected");
      readout.textContent = describe(bucket);
    }));
  };
  // Drawn once it has a width; again whenever the width changes (a rotated phone, a resized window).
  new ResizeObserver(draw).observe(holder);
  const meanings = [...new Set([...spec.series.map((s) => s.meaning), ...spec.buckets.map((b) => b.meaning)])].filter(Boolean);
  return el("figure", { class: "chart", "data-chart": spec.name },
    holder, readout, legend(meanings), table(spec, currency));
}

// Which columns get a label under them without two overlapping: the first, the last and the
// named buckets (overdue, no date) always; months in between as room allows.
function labelsThatFit(buckets, slot) {
  const width = (bucket) => 7 * Math.max(...bucket.label.filter(Boolean).map((line) => line.length)) + 6;
  const span = (i) => [slot * (i + 0.5) - width(buckets[i]) / 2, slot * (i + 0.5) + width(buckets[i]) / 2];
  const must = buckets.map((b, i) => i).filter((i) => i === 0 || i === buckets.length - 1 || buckets[i].meaning);
  const taken = must.map(span);
  const chosen = new Set(must);
  buckets.forEach((bucket, i) => {
    if (chosen.has(i)) return;
    const [a, b] = span(i);
    if (taken.every(([c, d]) => b <= c || a >= d)) { chosen.add(i); taken.push([a, b]); }
  });
  return chosen;
}

function plot(spec, currency, width, select) {
  const height = 230, left = 62, right = 8, top = 20, bottom = 40;
  const first = spec.series[0].key;
  const max = Math.max(1, ...spec.buckets.map((b) => b.values[first] || 0));
  const step = niceStep(max, 4);
  const ceiling = Math.ceil(max / step) * step;
  const y = (cents) => top + (height - top - bottom) * (1 - cents / ceiling);
  const chart = svgEl("svg", { class: "columns", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": spec.label });
  for (let tick = 0; tick <= ceiling + 1e-9; tick += step) {
    chart.append(svgEl("line", { class: "grid", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }),
      svgEl("text", { class: "tick", x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, compactMoney(tick, currency)));
  }
  const slot = (width - left - right) / Math.max(1, spec.buckets.length);
  const labelled = labelsThatFit(spec.buckets, slot);
  spec.buckets.forEach((bucket, i) => {
    const x = left + i * slot;
    const link = svgEl("a", { href: bucket.href, ...figureData(currency, bucketFigure(spec, bucket)), ...bucket.attrs });
    link.append(svgEl("title", {}, `${bucket.long}: ${count(bucket.count)} · ${money(bucket.values[first] || 0, currency)}`));
    // The whole column height answers a tap, not only the bar.
    link.append(svgEl("rect", { class: "hit", x, y: top, width: slot, height: height - top - bottom }));
    spec.series.forEach((series, s) => {
      const value = bucket.values[series.key] || 0;
      const barWidth = Math.max(2, slot * (s === 0 ? 0.72 : 0.36));
      link.append(svgEl("rect", { class: `bar ${s === 0 ? bucket.meaning || series.meaning : series.meaning}`,
        x: x + (slot - barWidth) / 2, y: y(value), width: barWidth, height: Math.max(value ? 1 : 0, y(0) - y(value)) }));
    });
    const value = bucket.values[first] || 0;
    if (value && slot >= 40) {
      link.append(svgEl("text", { class: "value", x: x + slot / 2, y: y(value) - 5, "text-anchor": "middle" }, compactMoney(value, currency)));
    }
    chart.append(link);
    tapToShow(link, () => select(link, bucket));
    if (labelled.has(i)) {
      const [line1, line2] = bucket.label;
      chart.append(svgEl("text", { class: "tick", x: x + slot / 2, y: height - bottom + 16, "text-anchor": "middle" }, line1),
        line2 ? svgEl("text", { class: "tick muted", x: x + slot / 2, y: height - bottom + 30, "text-anchor": "middle" }, line2) : null);
    }
  });
  chart.append(svgEl("line", { class: "axis", x1: left, x2: width - right, y1: y(0), y2: y(0) }));
  return chart;
}

// The same figures as a table: for screen readers, and to copy into a spreadsheet.
function table(spec, currency) {
  return el("details", { class: "as-table" }, el("summary", {}, "Show as a table"),
    el("div", { class: "scroll" }, el("table", {},
      el("caption", {}, spec.label),
      el("thead", {}, el("tr", {}, el("th", {}, spec.bucketName || "Month"), el("th", { class: "num" }, "Deals"),
        spec.series.map((s) => el("th", { class: "num" }, s.name)))),
      el("tbody", {}, spec.buckets.map((bucket) => {
        const figure = bucketFigure(spec, bucket);
        return el("tr", {}, el("th", {}, bucket.long),
          el("td", { class: "num" }, figureLink(count(bucket.count), bucket.href, currency, figure)),
          spec.series.map((s) => el("td", { class: "num" }, figureLink(money(bucket.values[s.key] || 0, currency), bucket.href, currency, figure))));
      })))));
}

/**
 * A waterfall in HTML rows (readable on any screen): the opening total, each movement floating
 * from where the one before left the running total, and the closing total. `bars`:
 * [{ name, count, cents, href, total (opening or closing), attrs }], counts and cents signed.
 */
export function waterfallChart(label, bars, currency) {
  let running = 0;
  const spans = bars.map((bar) => {
    const start = bar.total ? 0 : running;
    const end = bar.total ? bar.cents : running + bar.cents;
    running = end;
    return [Math.min(start, end), Math.max(start, end)];
  });
  const low = Math.min(0, ...spans.map(([a]) => a));
  const high = Math.max(1, ...spans.map(([, b]) => b));
  const x = (cents) => Math.round(1000 * (cents - low) / (high - low));
  const signed = (n, text) => (n > 0 ? `+${text}` : text);
  return el("figure", { class: "chart", "data-chart": "waterfall" },
    el("ul", { class: "bars waterfall", "aria-label": label }, bars.map((bar, i) => {
      const meaning = bar.total ? "open" : bar.cents >= 0 && bar.count >= 0 ? "gain" : "loss";
      const [a, b] = spans[i];
      return el("li", { class: bar.total ? "total" : undefined }, figureLink([
        el("span", { class: "name" }, bar.name),
        el("span", { class: "track", "aria-hidden": "true" },
          svgEl("svg", { viewBox: "0 0 1000 10", preserveAspectRatio: "none" },
            svgEl("rect", { class: meaning, x: x(a), y: 0, height: 10, width: Math.max(3, x(b) - x(a)) }))),
        el("span", { class: "values" }, bar.total
          ? `${count(bar.count)} · ${money(bar.cents, currency)}`
          : `${signed(bar.count, count(bar.count))} · ${signed(bar.cents, money(bar.cents, currency))}`),
      ], bar.href, currency, { count: bar.count, cents: bar.cents }, bar.attrs));
    })),
    legend(["open", "gain", "loss"]));
}
