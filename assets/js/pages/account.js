// Signing in, asking for an account, and creating the first admin: small forms that post JSON
// and say what happened where it happened.
import { api, forget, session } from "../api.js";
import { el, params } from "../dom.js";

function accountForm(view, title, fields, submitText, submit, footer, notices = []) {
  const message = el("p", { role: "alert" });
  const form = el("form", { class: "login", onsubmit: async (event) => {
    event.preventDefault();
    message.className = "";
    try { message.textContent = await submit(Object.fromEntries(new FormData(form))) || ""; }
    catch (e) { message.className = "error"; message.textContent = e.message; }
  } },
    el("h1", {}, title), notices,
    fields.map(([name, label, type, autocomplete]) => el("label", {}, label, el("input", { name, type, autocomplete, required: true,
      minlength: type === "password" && autocomplete === "new-password" ? 8 : undefined }))),
    el("button", { type: "submit" }, submitText), message, footer);
  view.show(form);
  // Keyboard users start in the form, not in the header.
  form.querySelector("a.sso, input").focus();
}

// What the identity provider's way back means, in words a person can act on.
const SSO_ERRORS = {
  unreachable: "The identity provider cannot be reached just now. Try again in a minute; if it persists, tell an admin.",
  cancelled: "The sign-in was cancelled at the identity provider.",
  expired: "That sign-in took too long or was already used. Start again.",
  refused: "The identity provider refused the sign-in. Try again; if it persists, tell an admin.",
  token: "The identity provider's answer could not be trusted, so you were not signed in. Tell an admin.",
  domain: "Accounts of your email domain may not sign in here.",
  tenant: "Accounts of your organization may not sign in here.",
  unverified: "The identity provider does not confirm your email address, so it cannot be matched to an account here. Ask an admin.",
  linked: "Your email's account here already signs in through another identity. Ask an admin.",
  pending: "Your account is waiting for an admin's approval. You can sign in once it is approved.",
  disabled: "Your account is disabled. Ask an admin.",
  busy: "Too many sign-ins were begun from here. Wait a few minutes, then try again.",
  internal: "Something went wrong on the server. Try again; if it persists, tell an admin.",
};

export async function loginPage(view) {
  let options = { password_sign_in: true, signup: true, sso: null };
  try { options = await api("/api/auth/options"); } catch { /* offer the password form */ }
  const problem = params().get("sso_error");
  const endSession = session.endSessionUrl;
  session.endSessionUrl = null;
  const notices = [
    problem && el("p", { class: "error", role: "alert" }, SSO_ERRORS[problem] || SSO_ERRORS.refused),
    endSession && el("p", { class: "muted" }, "You are signed out of pipelog. ",
      el("a", { href: endSession }, "Sign out of the identity provider too")),
    options.sso && el("p", {}, el("a", { class: "button sso", href: options.sso.start_url }, options.sso.label)),
    options.sso && el("p", { class: "muted" }, options.password_sign_in ? "or with your email and password:" : "Admins may still sign in with a password:"),
  ].filter(Boolean);
  const footer = options.signup ? el("p", { class: "muted" }, "No account yet? ", el("a", { href: "#/signup" }, "Ask for one")) : null;
  accountForm(view, "Sign in", [["email", "Email", "email", "username"], ["password", "Password", "password", "current-password"]], "Sign in",
    async (data) => {
      await api("/api/auth/login", { method: "POST", body: JSON.stringify(data) });
      forget();
      location.hash = "#/dashboard";
    }, footer, notices);
}

export function signupPage(view) {
  accountForm(view, "Ask for an account", [["name", "Name", "text", "name"], ["email", "Work email (as in Odoo)", "email", "username"],
    ["password", "Password (8 characters or more)", "password", "new-password"]], "Ask for an account",
    async (data) => {
      await api("/api/auth/signup", { method: "POST", body: JSON.stringify(data) });
      return "Thanks: your account is waiting for approval. An admin has to approve it before you can sign in.";
    }, el("p", { class: "muted" }, el("a", { href: "#/login" }, "Back to sign-in")));
}

// The one-time link pipelog prints at its first start, when it has no admin yet.
export function setupPage(view) {
  const token = params().get("token") || "";
  accountForm(view, "Create the first admin", [["name", "Name", "text", "name"], ["email", "Email", "email", "username"],
    ["password", "Password (8 characters or more)", "password", "new-password"]], "Create the admin",
    async (data) => {
      await api("/api/setup", { method: "POST", body: JSON.stringify({ ...data, token }) });
      location.hash = "#/login";
    }, el("p", { class: "muted" }, "This link works once, for 30 minutes after pipelog started."));
}
