// The JSON API as the page uses it: the signed-in person, the filter choices, and errors that say
// what the server said.
export const session = { me: null, options: null };

/** Forgets who is signed in (after a sign-out, or a lapsed session). */
export function forget() {
  session.me = null;
  session.options = null;
}

export async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options,
    headers: { "content-type": "application/json", ...(options.headers || {}) } });
  // A lapsed session sends you to sign-in; a refused sign-in says why, where it happened.
  if (response.status === 401 && !path.startsWith("/api/auth/")) {
    forget();
    location.hash = "#/login";
    throw Object.assign(new Error("Please sign in."), { status: 401 });
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    const error = new Error((body && body.error && body.error.message) || response.statusText || `HTTP ${response.status}`);
    error.status = response.status;
    error.code = body && body.error && body.error.code;
    throw error;
  }
  return body;
}

/** Teams, the people within reach and the stages: fetched once per sign-in. */
export async function filterOptions() {
  if (!session.options) session.options = await api("/api/filters");
  return session.options;
}

// crypto.randomUUID exists only on https and localhost; a server on a plain-http LAN address is
// common, and getRandomValues works there too.
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A command: JSON body, an idempotency key, optionally the version it applies to. */
export function command(path, body, ifMatch) {
  const headers = { "idempotency-key": randomKey() };
  if (ifMatch !== undefined) headers["if-match"] = `"${ifMatch}"`;
  return api(path, { method: "POST", body: JSON.stringify(body || {}), headers });
}
