// How numbers, money and dates read on the page: in the browser's language, money always in its
// own currency and from integer cents.
export const locale = navigator.language || "en";

const formatters = new Map();
function formatter(key, make) {
  if (!formatters.has(key)) formatters.set(key, make());
  return formatters.get(key);
}

/** Cents as money in `currency`, whole units (e.g. €12,500). */
export function money(cents, currency) {
  try {
    return formatter(`m:${currency}`, () => new Intl.NumberFormat(locale, { style: "currency", currency, maximumFractionDigits: 0 })).format(cents / 100);
  } catch {
    return `${Math.round(cents / 100).toLocaleString(locale)} ${currency}`;
  }
}

/** Cents as short money for axes and labels (e.g. €1.2M). */
export function compactMoney(cents, currency) {
  try {
    return formatter(`c:${currency}`, () => new Intl.NumberFormat(locale, { style: "currency", currency, notation: "compact", maximumFractionDigits: 1 })).format(cents / 100);
  } catch {
    return money(cents, currency);
  }
}

export const count = (n) => Number(n).toLocaleString(locale);
export const percent = (rate) => rate === null || rate === undefined ? "–"
  : formatter("p", () => new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 })).format(rate);
export const dateTime = (text) => text ? new Date(text).toLocaleString(locale) : "–";
export const plainDate = (text) => text ? new Date(`${text}T00:00:00Z`).toLocaleDateString(locale, { timeZone: "UTC" }) : "–";

/** `2026-10` as "Oct 2026" (`short`) or "October 2026" (`long`). */
export function monthName(month, style = "short") {
  const [year, number] = month.split("-").map(Number);
  if (!year || !number) return month;
  return formatter(`mo:${style}`, () => new Intl.DateTimeFormat(locale, { month: style, year: "numeric", timeZone: "UTC" }))
    .format(new Date(Date.UTC(year, number - 1, 1)));
}
