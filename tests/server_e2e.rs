//! The real `pipelog serve` against the simulated Odoo: CSRF refusal, sign-in throttling,
//! reassignment written back (and Odoo refusing it), idempotent retries, version conflicts, and
//! a restart that keeps sessions and data.

mod support;

use std::process::Child;
use std::time::Duration;

use pipelog::demo::{Fault, FaultKind};
use serde_json::{Value, json};
use support::{FakeServer, Pipelog, small_crm, start_server};

fn start(pipelog: &Pipelog) -> (Child, String) {
    start_server(pipelog.command(&["serve", "--listen", "127.0.0.1:0"]))
}

fn stop(mut child: Child) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("waits");
    assert!(status.success(), "clean exit: {status}");
}

#[test]
fn csrf_throttling_write_back_idempotency_conflicts_and_restarts_on_the_real_binary() {
    let server = FakeServer::start(small_crm());
    let pipelog = Pipelog::new(&server.url, "schedule = \"0 0 1 1 *\"");
    pipelog.add_admin("boss@example.com", "boss-password");
    assert!(pipelog.sync(&[]).status.success());
    let (child, url) = start(&pipelog);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let login = |password: &str| {
        client
            .post(format!("{url}/api/auth/login"))
            .json(&json!({"email": "boss@example.com", "password": password}))
            .send()
            .expect("login")
    };

    // A cross-site form post is refused before it does anything.
    let cross = client
        .post(format!("{url}/api/auth/login"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"email": "boss@example.com", "password": "boss-password"}))
        .send()
        .expect("request");
    assert_eq!(cross.status(), 403);

    let signed_in = login("boss-password");
    assert_eq!(signed_in.status(), 200);
    let cookie = support::session_cookie(&signed_in);

    // Reassignment: Odoo refuses once (nothing recorded), then accepts; a retry is a replay; a stale
    // version is a conflict.
    let (lead, owner) = {
        let crm = server.fake.crm();
        let (id, record) = crm
            .table("crm.lead")
            .expect("leads")
            .iter()
            .find(|(_, l)| l["user_id"].as_u64().is_some())
            .expect("an owned lead");
        (*id, record["user_id"].as_u64().expect("owner"))
    };
    let target = if owner == 11 { 12 } else { 11 };
    // The version the page would send back: the deal's events so far (its first read and the
    // past imported from Odoo's tracking).
    let detail: Value = client
        .get(format!("{url}/api/opportunities/{lead}"))
        .header("cookie", &cookie)
        .send()
        .expect("detail")
        .json()
        .expect("json");
    let version = detail["version"].as_u64().expect("version");
    let seen = format!("\"{version}\"");
    let assign = |key: &str, version: Option<&str>| {
        let mut request = client
            .post(format!("{url}/api/opportunities/{lead}/assign"))
            .header("cookie", &cookie)
            .header("idempotency-key", key)
            .json(&json!({"salesperson": target}));
        if let Some(version) = version {
            request = request.header("if-match", version);
        }
        request.send().expect("request")
    };
    server.fake.inject(Fault {
        kind: FaultKind::AuthFailure,
        after: 0,
        count: 2,
        delay_ms: 0,
        only: None,
    });
    let refused = assign("a-1", None);
    assert_eq!(refused.status(), 502);
    assert!(refused.text().expect("body").contains("refused"));
    server.fake.clear_faults();
    let done = assign("a-2", Some(&seen));
    assert_eq!(done.status(), 200);
    let body: Value = done.json().expect("json");
    let again: Value = assign("a-2", Some(&seen)).json().expect("json");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["positions"], body["positions"]);
    assert_eq!(
        server.fake.crm().table("crm.lead").expect("leads")[&lead]["user_id"],
        json!(target)
    );
    let stale = assign("a-3", Some(&seen));
    assert_eq!(stale.status(), 409);
    let stale: Value = stale.json().expect("json");
    assert_eq!(stale["error"]["current_version"], version + 1);

    // Five wrong passwords, then even the right one waits.
    for _ in 0..5 {
        assert_eq!(login("wrong-password").status(), 401);
    }
    assert_eq!(login("boss-password").status(), 429);

    // A restart keeps the session and the data.
    stop(child);
    let (child, url) = start(&pipelog);
    let me = client
        .get(format!("{url}/api/me"))
        .header("cookie", &cookie)
        .send()
        .expect("me");
    assert_eq!(me.status(), 200, "the session survived the restart");
    let detail: Value = client
        .get(format!("{url}/api/opportunities/{lead}"))
        .header("cookie", &cookie)
        .send()
        .expect("detail")
        .json()
        .expect("json");
    assert_eq!(detail["opportunity"]["salesperson"]["id"], target);
    assert!(
        detail["history"]
            .as_array()
            .expect("history")
            .iter()
            .any(|h| h["event"] == "OpportunityAssigned")
    );
    stop(child);
}
