//! Commands through the router: sign-up and approval, roles, manager overrides with versions and
//! idempotency keys, and reassignment written back to a (simulated) Odoo.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use super::tests::{account, app, app_with, get, login, post, send, session};
use crate::demo::{CrmOptions, FakeOdoo, Fault, FaultKind};
use crate::domain::Role;
use crate::sync::odoo::OdooClient;
use crate::sync::{RunRequest, SyncOptions, Syncer};

fn command(path: &str, cookie: &str, body: serde_json::Value) -> Request<Body> {
    post(path, "")
        .header(header::COOKIE, cookie)
        .body(Body::from(body.to_string()))
        .expect("request")
}

#[tokio::test]
async fn a_sign_up_waits_for_approval() {
    let app = app();
    account(&app.store, "boss@example.com", Role::Admin, true);
    let body = json!({"email": "Newbie@Example.com", "name": "Newbie", "password": "long-enough"});
    let signup = send(
        &app,
        post("/api/auth/signup", "")
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await;
    assert_eq!(signup.status, StatusCode::ACCEPTED, "{}", signup.text);
    let waiting = login(&app, "newbie@example.com", "long-enough").await;
    assert_eq!(waiting.status, StatusCode::FORBIDDEN);
    let boss = session(&app, "boss@example.com").await;
    let listed = get(&app, &boss, "/api/admin/accounts").await;
    assert!(
        listed.text.contains("newbie@example.com") && listed.text.contains("pending"),
        "{}",
        listed.text
    );
    let approve = send(
        &app,
        command(
            "/api/admin/accounts/newbie@example.com/approve",
            &boss,
            json!({}),
        ),
    )
    .await;
    assert_eq!(approve.status, StatusCode::OK, "{}", approve.text);
    let signed_in = login(&app, "newbie@example.com", "long-enough").await;
    assert_eq!(signed_in.status, StatusCode::OK);
    let newbie = signed_in.headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let refused = send(
        &app,
        command(
            "/api/admin/accounts/boss@example.com/disable",
            &newbie,
            json!({}),
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let weak = send(
        &app,
        post("/api/auth/signup", "")
            .body(Body::from(
                json!({"email": "x@y.z", "name": "x", "password": "short"}).to_string(),
            ))
            .expect("request"),
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn manager_overrides_take_versions_and_idempotency_keys() {
    let app = app();
    super::tests::append(
        &app.store,
        vec![
            crate::domain::Event::UserCreated {
                id: 1,
                record: crate::domain::samples::user("Ann", "ann@example.com"),
            },
            crate::domain::Event::UserCreated {
                id: 2,
                record: crate::domain::samples::user("Bob", "bob@example.com"),
            },
        ],
    );
    account(&app.store, "boss@example.com", Role::Admin, true);
    let boss = session(&app, "boss@example.com").await;
    let with = |key: &str, version: &str| {
        post("/api/users/2/manager", "")
            .header(header::COOKIE, &boss)
            .header("idempotency-key", key)
            .header(header::IF_MATCH, version)
            .body(Body::from(json!({"manager": 1}).to_string()))
            .expect("request")
    };
    let first = send(&app, with("k1", "\"1\"")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.headers[header::ETAG], "\"2\"");
    let retry = send(&app, with("k1", "\"1\"")).await;
    assert_eq!(retry.body["replayed"], true);
    assert_eq!(retry.body["positions"], first.body["positions"]);
    let stale = send(&app, with("k2", "\"1\"")).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.body["error"]["current_version"], 2);
    let profile = app
        .store
        .read()
        .expect("snapshot")
        .profile(2)
        .expect("read")
        .expect("profile");
    assert_eq!(profile.manager_id, Some(1));
    let listed = get(&app, &boss, "/api/admin/overrides").await;
    assert_eq!(
        listed.body["overrides"],
        json!([{"user_id": 2, "name": "Bob", "manager_id": 1, "manager_name": "Ann"}])
    );
    let events = app
        .store
        .read()
        .expect("snapshot")
        .events_by_type()
        .expect("counts");
    assert_eq!(events.get("ManagerAssigned"), Some(&1));
}

struct OdooUnderTest {
    fake: Arc<FakeOdoo>,
    client: Arc<OdooClient>,
}

async fn odoo() -> OdooUnderTest {
    let fake = FakeOdoo::new(CrmOptions {
        users: 10,
        opportunities: 40,
        partners: 10,
        ..CrmOptions::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(crate::demo::serve(
        listener,
        fake.clone(),
        std::future::pending(),
    ));
    let client = Arc::new(OdooClient::new(fake.admin_settings(&url)).expect("client"));
    OdooUnderTest { fake, client }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassignment_is_written_to_odoo_first_and_confirmed_by_the_next_sync() {
    let odoo = odoo().await;
    let app = app_with(Some(odoo.client.clone()));
    let sync_client = OdooClient::new(odoo.client.settings().clone()).expect("client");
    let syncer = Syncer::new(app.store.clone(), sync_client, SyncOptions::default());
    syncer.run(RunRequest::default()).await.expect("first sync");
    account(&app.store, "boss@example.com", Role::Admin, true);
    let boss = session(&app, "boss@example.com").await;
    let (lead, owner) = {
        let crm = odoo.fake.crm();
        let (id, lead) = crm
            .table("crm.lead")
            .expect("leads")
            .iter()
            .find(|(_, l)| l["user_id"].as_u64().is_some() && l["active"] == json!(true))
            .expect("an owned lead");
        (*id, lead["user_id"].as_u64().expect("owner"))
    };
    let target = if owner == 11 { 12 } else { 11 };
    let assign = |key: &str| {
        post(&format!("/api/opportunities/{lead}/assign"), "")
            .header(header::COOKIE, &boss)
            .header("idempotency-key", key)
            .body(Body::from(json!({"salesperson": target}).to_string()))
            .expect("request")
    };

    // Odoo refuses: the caller gets the reason, nothing is recorded.
    odoo.fake.inject(Fault {
        kind: FaultKind::AuthFailure,
        after: 0,
        count: 1,
        delay_ms: 0,
        only: None,
    });
    let refused = send(&app, assign("try-1")).await;
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{}", refused.text);
    assert!(
        refused.text.contains("refused the credentials"),
        "{}",
        refused.text
    );
    assert!(
        !app.store
            .read()
            .expect("snapshot")
            .events_by_type()
            .expect("counts")
            .contains_key("OpportunityAssigned"),
        "nothing recorded when Odoo refuses"
    );

    let done = send(&app, assign("try-2")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(
        odoo.fake.crm().table("crm.lead").expect("leads")[&lead]["user_id"],
        json!(target)
    );
    let again = send(&app, assign("try-2")).await;
    assert_eq!(again.body["replayed"], true, "{}", again.text);
    let view = app
        .store
        .read()
        .expect("snapshot")
        .opportunity(lead)
        .expect("read")
        .expect("row");
    assert_eq!(view.salesperson.map(|s| s.id), Some(target));

    let before = app
        .store
        .read()
        .expect("snapshot")
        .events_by_type()
        .expect("counts");
    syncer.run(RunRequest::default()).await.expect("next sync");
    let after = app
        .store
        .read()
        .expect("snapshot")
        .events_by_type()
        .expect("counts");
    assert_eq!(after.get("OpportunityAssigned"), Some(&1));
    assert_eq!(
        after.get("OpportunityUpdated"),
        before.get("OpportunityUpdated"),
        "the sync confirms without a second event"
    );

    let stale = send(
        &app,
        post(&format!("/api/opportunities/{lead}/assign"), "")
            .header(header::COOKIE, &boss)
            .header(header::IF_MATCH, "\"1\"")
            .body(Body::from(json!({"salesperson": owner}).to_string()))
            .expect("request"),
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
}

#[tokio::test]
async fn the_setup_token_creates_one_admin_once() {
    let app = app();
    let body = |token: &str| {
        json!({"token": token, "email": "first@example.com", "name": "First", "password": "long-enough"}).to_string()
    };
    let wrong = send(
        &app,
        post("/api/setup", "")
            .body(Body::from(body("guess")))
            .expect("request"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let created = send(
        &app,
        post("/api/setup", "")
            .body(Body::from(body("setup-token")))
            .expect("request"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(
        login(&app, "first@example.com", "long-enough").await.status,
        StatusCode::OK
    );
    let again = send(
        &app,
        post("/api/setup", "")
            .body(Body::from(body("setup-token")))
            .expect("request"),
    )
    .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "one use only");
}
