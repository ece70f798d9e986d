// Signing in, asking for an account, and creating the first admin: small forms that post JSON
// and say what happened where it happened.
import { api, forget } from "../api.js";
import { el, params } from "../dom.js";

function accountForm(view, title, fields, submitText, submit, footer) {
  const message = el("p", { role: "alert" });
  const form = el("form", { class: "login", onsubmit: async (event) => {
    event.preventDefault();
    message.className = "";
    try { message.textContent = await submit(Object.fromEntries(new FormData(form))) || ""; }
    catch (e) { message.className = "error"; message.textContent = e.message; }
  } },
    el("h1", {}, title),
    fields.map(([name, label, type, autocomplete]) => el("label", {}, label, el("input", { name, type, autocomplete, required: true,
      minlength: type === "password" && autocomplete === "new-password" ? 8 : undefined }))),
    el("button", { type: "submit" }, submitText), message, footer);
  view.show(form);
  // Keyboard users start in the form, not in the header.
  form.querySelector("input").focus();
}

export function loginPage(view) {
  accountForm(view, "Sign in", [["email", "Email", "email", "username"], ["password", "Password", "password", "current-password"]], "Sign in",
    async (data) => {
      await api("/api/auth/login", { method: "POST", body: JSON.stringify(data) });
      forget();
      location.hash = "#/dashboard";
    }, el("p", { class: "muted" }, "No account yet? ", el("a", { href: "#/signup" }, "Ask for one")));
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
