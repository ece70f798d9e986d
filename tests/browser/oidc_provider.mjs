// A real, OpenID-certified provider (the `oidc-provider` package) on loopback, for pipelog's
// single sign-on tests. The person who signs in is whoever the test last set (no login form), and
// the test can make the provider misbehave in the ways a relying party must refuse.
//
//   node oidc_provider.mjs            prints "READY <port>" once it listens
//   env: CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated)
//
// Control (POST /control, JSON, every key optional):
//   account: the claims of the next person to sign in ({ sub, email, email_verified, name, tid, oid })
//   mode: how the ID token is changed on its way out: "normal", "wrong_audience", "expired",
//         "bad_signature", "nonce", "unknown_key" (signed with a key the key set lacks),
//         "templated" (issuer `<origin>/<tid>/v2.0`, as Entra ID's multi-tenant endpoints sign)
//   publish_second_key: whether the key set lists the second key (a rotation)
//   cancel: whether the next sign-in is cancelled by the person
// Paths under /organizations/v2.0/ are the provider too, with a discovery document that states the
// templated issuer `<origin>/{tenantid}/v2.0`.
import http from "node:http";
import * as jose from "jose";
import Provider from "oidc-provider";

const TEMPLATE_PREFIX = "/organizations/v2.0";
const control = { account: null, mode: "normal", publish_second_key: false, cancel: false };

async function keyPair(kid) {
  const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
  const { d, p, q, dp, dq, qi, ...publicJwk } = jwk;
  return { jwk, publicJwk, key: privateKey };
}

const first = await keyPair("first");
const second = await keyPair("second");
const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(origin, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: (process.env.REDIRECT_URIS || "").split(",").filter(Boolean),
    post_logout_redirect_uris: [],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  jwks: { keys: [first.jwk] },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "tid", "oid"] },
  // The claims go into the ID token itself, as Entra ID and most providers put them.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = control.account && control.account.sub === sub ? control.account : { sub };
    return { accountId: sub, claims: async () => ({ ...account }) };
  },
});
provider.proxy = false;

async function tamper(idToken) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  const sign = (payload, pair) => new jose.SignJWT(payload)
    .setProtectedHeader({ alg: "RS256", kid: pair.jwk.kid, typ: "JWT" }).sign(pair.key);
  switch (control.mode) {
    case "wrong_audience": return sign({ ...claims, aud: "another-application" }, first);
    case "expired": return sign({ ...claims, iat: now - 7200, exp: now - 3600 }, first);
    case "nonce": return sign({ ...claims, nonce: "not-the-one-pipelog-sent" }, first);
    case "unknown_key": return sign(claims, second);
    case "templated": return sign({ ...claims, iss: `${origin}/${claims.tid}/v2.0` }, first);
    case "bad_signature": {
      const [header, payload, signature] = idToken.split(".");
      const flipped = (signature[0] === "A" ? "B" : "A") + signature.slice(1);
      return [header, payload, flipped].join(".");
    }
    default: return idToken;
  }
}

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === "/token" && ctx.body && ctx.body.id_token && control.mode !== "normal") {
    ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token) };
  }
  if (ctx.path === "/jwks" && control.publish_second_key && ctx.body && ctx.body.keys) {
    ctx.body = { keys: [...ctx.body.keys, second.publicJwk] };
  }
  if (ctx.path === "/.well-known/openid-configuration" && ctx.req.templated && ctx.body) {
    ctx.body = { ...ctx.body, issuer: `${origin}/{tenantid}/v2.0` };
  }
});

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (control.cancel) {
    control.cancel = false;
    return provider.interactionFinished(req, res, { error: "access_denied", error_description: "the person cancelled" });
  }
  if (details.prompt.name === "login") {
    return provider.interactionFinished(req, res, { login: { accountId: control.account.sub } }, { mergeWithLastSubmission: false });
  }
  const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let text = "";
    req.on("data", (chunk) => { text += chunk; });
    req.on("end", () => resolve(text));
    req.on("error", reject);
  });
}

const callback = provider.callback();
server.on("request", async (req, res) => {
  try {
    if (req.method === "POST" && req.url === "/control") {
      Object.assign(control, JSON.parse((await readBody(req)) || "{}"));
      res.writeHead(204).end();
      return;
    }
    if (req.url.startsWith("/interaction/")) {
      await interaction(req, res);
      return;
    }
    if (req.url.startsWith(`${TEMPLATE_PREFIX}/`)) {
      req.url = req.url.slice(TEMPLATE_PREFIX.length);
      req.templated = true;
    }
    callback(req, res);
  } catch (error) {
    res.writeHead(500, { "content-type": "text/plain" }).end(String(error && error.stack || error));
  }
});

console.log(`READY ${server.address().port}`);
