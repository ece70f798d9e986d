// CSV from rows already on the page: what a spreadsheet opens, with formulas neutralised.

/** Text as a CSV field; a leading =, +, -, @ would run as a formula in a spreadsheet. */
export function field(text) {
  let value = String(text ?? "");
  if (/^[=+\-@\t\r]/.test(value)) value = `'${value}`;
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export const csvOf = (head, rows) => [head, ...rows].map((row) => row.map(field).join(",")).join("\n") + "\n";

/** Saves `text` as `name`. */
export function download(name, text) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
}
