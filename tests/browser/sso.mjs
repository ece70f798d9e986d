// Single sign-on in a real browser: the sign-in page's button, the way through the provider
// (oidc_provider.mjs) and back, signing out with the provider's end-session link offered, and a
// cancelled sign-in explained on a phone in dark mode.
//   node sso.mjs <pipelog URL> <provider URL> <screenshot dir> <button label>
import assert from "node:assert/strict";
import { checkLayout, launch, ready } from "./support.mjs";

const [base, provider, shots, label] = process.argv.slice(2);
const errors = [];

async function control(settings) {
  const answer = await fetch(`${provider}/control`, { method: "POST", body: JSON.stringify(settings) });
  assert.equal(answer.status, 204);
}

async function newPage(browser, options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  return { context, page };
}

const browser = await launch();
const results = {};
try {
  await control({ account: { sub: "gil-sub", email: "gil@example.com", email_verified: true, name: "Gil Browser" }, mode: "normal", cancel: false });
  const { context, page } = await newPage(browser, { viewport: { width: 1280, height: 900 }, colorScheme: "light" });
  await page.goto(`${base}/#/login`);
  await ready(page, "#/login");
  const button = page.locator("a.sso");
  assert.equal((await button.textContent()).trim(), label);
  await checkLayout(page, "sign-in, desktop");
  await page.screenshot({ path: `${shots}/sso-sign-in-desktop-light.png`, fullPage: true });
  await button.click();
  await ready(page, "#/dashboard");
  const me = await (await page.request.get(`${base}/api/me`)).json();
  results.signed_in_as = me.email;
  assert.equal(me.email, "gil@example.com");
  await page.click("#logout");
  await ready(page, "#/login");
  const endSession = page.locator("a", { hasText: "Sign out of the identity provider too" });
  results.end_session_url = await endSession.getAttribute("href");
  assert.ok(results.end_session_url.startsWith(provider), results.end_session_url);
  await page.screenshot({ path: `${shots}/sso-signed-out-desktop-light.png`, fullPage: true });
  await context.close();

  await control({ cancel: true });
  const phone = await newPage(browser, { viewport: { width: 390, height: 844 }, colorScheme: "dark", hasTouch: true, isMobile: true });
  await phone.page.goto(`${base}/#/login`);
  await ready(phone.page, "#/login");
  await phone.page.locator("a.sso").click();
  await ready(phone.page, "#/login?sso_error=cancelled");
  results.cancelled_message = (await phone.page.locator("p.error").textContent()).trim();
  assert.match(results.cancelled_message, /cancelled/);
  await checkLayout(phone.page, "sign-in after a cancel, phone");
  await phone.page.screenshot({ path: `${shots}/sso-cancelled-phone-dark.png`, fullPage: true });
  await phone.context.close();
  assert.deepEqual(errors, [], "no errors in the page");
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
