import { chromium } from "playwright-core";
const [base, shots, hash = "#/dashboard", email = "admin@example.com"] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
for (const [w, h, scheme] of [[1440, 900, "light"], [390, 844, "dark"]]) {
  const context = await browser.newContext({ viewport: { width: w, height: h }, colorScheme: scheme });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.log("pageerror", String(e)));
  page.on("console", (m) => { if (m.type() === "error") console.log("console", m.text()); });
  await page.goto(`${base}/#/login`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", "demo");
  await page.click("button[type=submit]");
  await page.waitForFunction(() => document.getElementById("main").dataset.ready === "#/dashboard");
  await page.goto(`${base}/${hash}`);
  await page.waitForFunction((h) => document.getElementById("main").dataset.ready === h, hash);
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${shots}/scratch-${w}-${scheme}.png`, fullPage: true });
}
await browser.close();
