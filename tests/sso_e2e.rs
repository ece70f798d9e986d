//! Single sign-on against a real OpenID provider: the npm package `oidc-provider`
//! (`tests/browser/oidc_provider.mjs`, started here with Node on loopback) and the real binary,
//! through its redirect flow with a plain HTTP client: new accounts and their approval, linking by
//! a verified email, refusals (unverified email, another identity, domain, tenant on a templated
//! issuer, cancel, replayed state, wrong audience, expiry, bad signature, tampered nonce, an unknown
//! key until the provider publishes it), a provider that is down, and password sign-in switched
//! off for everyone but admins. Needs `npm ci --prefix tests/browser`.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::{Running, start_server};

const CLIENT_ID: &str = "pipelog-tests";
const CLIENT_SECRET: &str = "a-client-secret-for-tests";

/// The provider's process, killed when dropped.
struct Provider {
    child: Child,
    url: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scripts() -> PathBuf {
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        scripts.join("node_modules/oidc-provider").exists(),
        "single sign-on tests need the provider: run `npm ci --prefix tests/browser`"
    );
    scripts
}

impl Provider {
    fn start(redirect_uris: &[String]) -> Provider {
        let mut child = Command::new("node")
            .arg("oidc_provider.mjs")
            .current_dir(scripts())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URIS", redirect_uris.join(","))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let port = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(port) = line.strip_prefix("READY ") {
                        break port.trim().to_string();
                    }
                }
                _ => panic!("the provider did not start"),
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Provider {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn control(&self, settings: Value) {
        let answer = plain()
            .post(format!("{}/control", self.url))
            .json(&settings)
            .send()
            .expect("control");
        assert_eq!(answer.status(), 204);
    }

    fn next_person(&self, sub: &str, email: &str, verified: bool) {
        self.control(json!({
            "account": { "sub": sub, "email": email, "email_verified": verified, "name": format!("Person {sub}") },
            "mode": "normal",
            "cancel": false,
        }));
    }
}

/// No redirects followed, no cookies kept: each hop is looked at.
fn plain() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// A pipelog server with `[sso]` settings, on a data file of its own with one admin.
struct Pipelog {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config: PathBuf,
    url: String,
}

impl Pipelog {
    /// A server to be, with an admin, and the provider that knows its callback; `sso` is the
    /// `[sso]` section, with `PROVIDER` for the provider's URL.
    fn with_provider(sso: &str) -> (Pipelog, Provider) {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("pipelog.redb");
        let config = dir.path().join("pipelog.toml");
        let url = format!("http://127.0.0.1:{port}");
        let provider = Provider::start(&[format!("{url}/api/auth/sso/callback")]);
        let sso = sso.replace("PROVIDER", &provider.url);
        std::fs::write(
            &config,
            format!("[sso]\nclient_id = \"{CLIENT_ID}\"\n{sso}\n"),
        )
        .expect("config");
        let pipelog = Pipelog {
            _dir: dir,
            data,
            config,
            url,
        };
        pipelog.add_account("admin@example.com", "admin-password", true);
        (pipelog, provider)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = support::pipelog_command(&self.data, &self.config, args);
        command.env("PIPELOG_SSO_CLIENT_SECRET", CLIENT_SECRET);
        command
    }

    fn add_account(&self, email: &str, password: &str, admin: bool) {
        let mut args = vec!["user", "add", email];
        if admin {
            args.push("--admin");
        }
        support::add_account(self.command(&args), password);
    }

    fn serve(&self) -> Running {
        let listen = self.url.trim_start_matches("http://").to_string();
        let (child, url) =
            start_server(self.command(&["serve", "--listen", &listen, "--base-url", &self.url]));
        assert_eq!(url, self.url);
        Running { child, url }
    }
}

fn location(answer: &reqwest::blocking::Response) -> String {
    answer.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string()
}

fn cookies_of(answer: &reqwest::blocking::Response, jar: &mut BTreeMap<String, String>) {
    for value in answer.headers().get_all("set-cookie") {
        let pair = value
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .unwrap_or("");
        if let Some((name, value)) = pair.split_once('=') {
            jar.insert(name.trim().to_string(), value.to_string());
        }
    }
}

fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where a browser lands at pipelog after asking to sign in, and the pipelog cookies it then
/// holds. The provider's own cookies are fresh for each sign-in: nobody is signed in there yet.
struct Landing {
    /// The last redirect pipelog answered: `/#/dashboard` or `/#/login?sso_error=...`.
    at: String,
    pipelog_cookies: BTreeMap<String, String>,
    /// The callback URL the provider sent the browser to, to replay it.
    callback: String,
}

impl Landing {
    fn error(&self) -> Option<&str> {
        self.at.split("sso_error=").nth(1)
    }

    fn session(&self) -> String {
        format!(
            "pipelog_session={}",
            self.pipelog_cookies
                .get("pipelog_session")
                .expect("a session")
        )
    }
}

fn sign_in(pipelog: &str) -> Landing {
    let client = plain();
    let mut pipelog_jar = BTreeMap::new();
    let start = client
        .get(format!("{pipelog}/api/auth/sso/start"))
        .send()
        .expect("start");
    assert_eq!(start.status(), 303);
    cookies_of(&start, &mut pipelog_jar);
    let mut url = location(&start);
    if url.starts_with('/') {
        return Landing {
            at: url,
            pipelog_cookies: pipelog_jar,
            callback: String::new(),
        };
    }
    let mut provider_jar = BTreeMap::new();
    for _ in 0..20 {
        if url.starts_with(pipelog) {
            let back = client
                .get(&url)
                .header("cookie", cookie_header(&pipelog_jar))
                .send()
                .expect("callback");
            assert_eq!(back.status(), 303, "{url}");
            cookies_of(&back, &mut pipelog_jar);
            return Landing {
                at: location(&back),
                pipelog_cookies: pipelog_jar,
                callback: url,
            };
        }
        let hop = client
            .get(&url)
            .header("cookie", cookie_header(&provider_jar))
            .send()
            .expect("provider");
        cookies_of(&hop, &mut provider_jar);
        assert!(
            hop.status().is_redirection(),
            "the provider answered {} at {url}: {}",
            hop.status(),
            hop.text().unwrap_or_default()
        );
        let next = location(&hop);
        url = reqwest::Url::parse(&url)
            .and_then(|base| base.join(&next))
            .expect("a URL")
            .to_string();
    }
    panic!("too many redirects");
}

fn me(pipelog: &str, session: &str) -> Value {
    let answer = plain()
        .get(format!("{pipelog}/api/me"))
        .header("cookie", session)
        .send()
        .expect("me");
    assert_eq!(answer.status(), 200);
    answer.json().expect("json")
}

fn password_sign_in(pipelog: &str, email: &str, password: &str) -> reqwest::blocking::Response {
    plain()
        .post(format!("{pipelog}/api/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .expect("login")
}

fn admin_session(pipelog: &str) -> String {
    let answer = password_sign_in(pipelog, "admin@example.com", "admin-password");
    assert_eq!(answer.status(), 200);
    support::session_cookie(&answer)
}

#[test]
fn people_sign_in_through_the_provider_and_accounts_follow_the_rules() {
    let (pipelog, provider) = Pipelog::with_provider(
        "issuer = \"PROVIDER\"\nallowed_domains = [\"example.com\"]\npassword_sign_in = false\nlabel = \"Sign in with Example ID\"",
    );
    pipelog.add_account("bob@example.com", "bob-password", false);
    let server = pipelog.serve();
    let url = server.url.clone();

    let options: Value = plain()
        .get(format!("{url}/api/auth/options"))
        .send()
        .expect("options")
        .json()
        .expect("json");
    assert_eq!(options["sso"]["label"], "Sign in with Example ID");
    assert_eq!(options["password_sign_in"], false);
    assert_eq!(options["signup"], false);

    // A new person: an account waiting for an admin, then approved, then signed in.
    provider.next_person("ann-sub", "Ann@Example.com", true);
    assert_eq!(sign_in(&url).error(), Some("pending"));
    let admin = admin_session(&url);
    let approve = plain()
        .post(format!("{url}/api/admin/accounts/ann@example.com/approve"))
        .header("cookie", &admin)
        .send()
        .expect("approve");
    assert_eq!(approve.status(), 200);
    let landing = sign_in(&url);
    assert_eq!(landing.at, "/#/dashboard");
    let ann = me(&url, &landing.session());
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["name"], "Person ann-sub");

    // The same state again: refused, and no session.
    let replay = plain()
        .get(&landing.callback)
        .header("cookie", cookie_header(&landing.pipelog_cookies))
        .send()
        .expect("replay");
    assert_eq!(location(&replay), "/#/login?sso_error=expired");
    assert!(
        !replay
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap_or("").starts_with("pipelog_session=")),
        "a replayed state begins no session"
    );

    // An existing account (made with a password) is linked by a verified email.
    provider.next_person("bob-sub", "bob@example.com", true);
    let landing = sign_in(&url);
    assert_eq!(landing.at, "/#/dashboard");
    assert_eq!(me(&url, &landing.session())["email"], "bob@example.com");
    // ... and not by an unverified one, nor to an account that has another identity already.
    provider.next_person("mallory-sub", "carol@example.com", false);
    assert_eq!(sign_in(&url).error(), Some("unverified"));
    provider.next_person("mallory-sub", "bob@example.com", true);
    assert_eq!(sign_in(&url).error(), Some("linked"));
    // Bob's identity still signs in as Bob, whatever email the provider now says.
    provider.next_person("bob-sub", "robert@example.com", true);
    let landing = sign_in(&url);
    assert_eq!(me(&url, &landing.session())["email"], "bob@example.com");
    provider.next_person("eve-sub", "eve@elsewhere.org", true);
    assert_eq!(sign_in(&url).error(), Some("domain"));
    provider.next_person("ann-sub", "ann@example.com", true);
    provider.control(json!({ "cancel": true }));
    assert_eq!(sign_in(&url).error(), Some("cancelled"));

    // A disabled account signs in no more, through the provider either.
    let disable = plain()
        .post(format!("{url}/api/admin/accounts/ann@example.com/disable"))
        .header("cookie", &admin)
        .send()
        .expect("disable");
    assert_eq!(disable.status(), 200);
    provider.next_person("ann-sub", "ann@example.com", true);
    assert_eq!(sign_in(&url).error(), Some("disabled"));

    // Password sign-in is off: Bob cannot use his password, the admin still can.
    let refused = password_sign_in(&url, "bob@example.com", "bob-password");
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Sign in with Example ID"),
        "{body}"
    );

    // The log records how each sign-in happened.
    let events: Value = plain()
        .get(format!("{url}/api/events?limit=1000"))
        .header("cookie", &admin)
        .send()
        .expect("events")
        .json()
        .expect("json");
    let logins: Vec<(String, Option<String>)> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["event"]["type"] == "UserLoggedIn")
        .map(|event| {
            (
                event["event"]["data"]["email"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                event["event"]["data"]["provider"]
                    .as_str()
                    .map(str::to_string),
            )
        })
        .collect();
    let through_provider = Some(provider.url.clone());
    assert!(
        logins.contains(&("ann@example.com".into(), through_provider.clone())),
        "{logins:?}"
    );
    assert!(
        logins.contains(&("bob@example.com".into(), through_provider)),
        "{logins:?}"
    );
    assert!(
        logins.contains(&("admin@example.com".into(), None)),
        "{logins:?}"
    );

    // Signing out of a provider's session offers the provider's end-session URL.
    let out = plain()
        .post(format!("{url}/api/auth/logout"))
        .header("cookie", landing.session())
        .send()
        .expect("logout");
    assert_eq!(out.status(), 200);
    let out: Value = out.json().expect("json");
    assert!(
        out["end_session_url"]
            .as_str()
            .is_some_and(|end| end.starts_with(&provider.url) && end.contains("client_id=")),
        "{out}"
    );
}

#[test]
fn tokens_the_provider_did_not_sign_for_this_sign_in_are_refused() {
    let (pipelog, provider) = Pipelog::with_provider(
        "issuer = \"PROVIDER\"\nrequire_approval = false\nkey_refetch_seconds = 1",
    );
    let server = pipelog.serve();
    let url = server.url.clone();

    provider.next_person("dan-sub", "dan@example.com", true);
    for mode in [
        "wrong_audience",
        "expired",
        "bad_signature",
        "nonce",
        "unknown_key",
    ] {
        provider.control(json!({ "mode": mode }));
        assert_eq!(sign_in(&url).error(), Some("token"), "{mode}");
    }
    // The provider rotates to the second key: after the floor, pipelog reads the key set again.
    provider.control(json!({ "mode": "unknown_key", "publish_second_key": true }));
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let landing = sign_in(&url);
    assert_eq!(landing.at, "/#/dashboard", "a rotated key is found");
    assert_eq!(me(&url, &landing.session())["email"], "dan@example.com");
    provider.control(json!({ "mode": "normal" }));
    assert_eq!(
        sign_in(&url).at,
        "/#/dashboard",
        "the first key still works"
    );
}

#[test]
fn a_templated_issuer_admits_only_allowed_tenants_and_a_provider_down_is_said() {
    let (pipelog, provider) = Pipelog::with_provider(
        "issuer = \"PROVIDER/organizations/v2.0\"\nmicrosoft = true\nallowed_tenants = [\"tenant-a\"]\nallowed_domains = [\"example.com\"]\nrequire_approval = false",
    );
    let server = pipelog.serve();
    let url = server.url.clone();

    let person = |tenant: &str, oid: &str| {
        provider.control(json!({
            "account": { "sub": format!("pairwise-{oid}"), "email": "fay@example.com", "email_verified": false,
                         "name": "Fay", "tid": tenant, "oid": oid },
            "mode": "templated",
        }));
    };
    person("tenant-b", "fay-oid");
    assert_eq!(sign_in(&url).error(), Some("tenant"));
    // Entra ID's email is vouched for by an allowed domain, and the account is keyed by `oid`.
    person("tenant-a", "fay-oid");
    let landing = sign_in(&url);
    assert_eq!(landing.at, "/#/dashboard");
    assert_eq!(me(&url, &landing.session())["email"], "fay@example.com");
    // A token whose issuer names another tenant than its `tid` is refused.
    provider.control(json!({ "mode": "normal" }));
    assert_eq!(sign_in(&url).error(), Some("token"));
    drop(server);

    // The provider is down: the sign-in page says so.
    drop(provider);
    let down = pipelog.serve();
    assert_eq!(sign_in(&down.url).error(), Some("unreachable"));
}

#[test]
fn the_sign_in_button_goes_through_the_provider_in_a_real_browser() {
    let (pipelog, provider) = Pipelog::with_provider(
        "issuer = \"PROVIDER\"\nrequire_approval = false\nlabel = \"Sign in with Microsoft\"",
    );
    let server = pipelog.serve();
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let output = Command::new("node")
        .arg("sso.mjs")
        .args([
            server.url.as_str(),
            provider.url.as_str(),
            &shots.display().to_string(),
            "Sign in with Microsoft",
        ])
        .current_dir(scripts())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_str(stdout.trim()).expect("results");
    assert_eq!(results["signed_in_as"], "gil@example.com");
}
