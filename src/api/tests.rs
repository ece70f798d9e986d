//! The router in-process (tower `oneshot`): sign-in, sessions, CSRF, throttling, bad input, and every
//! read endpoint checked against a brute-force model of who may see what, on random hierarchies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::auth::hash_password;
use crate::domain::samples::{employee, opportunity, stage, user};
use crate::domain::{Event, NewEvent, OdooId, Role};
use crate::store::{CommandBatch, Store};
use crate::sync::schedule::{ScheduleState, SyncTrigger};
use crate::testing::{arb_batches, brute_force_managers, brute_force_sees};

pub(super) struct App {
    pub(super) _dir: tempfile::TempDir,
    pub(super) store: Arc<Store>,
    pub(super) router: Router,
}

pub(super) fn app_with(odoo: Option<Arc<crate::sync::odoo::OdooClient>>) -> App {
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(Store::open(&dir.path().join("api.redb")).expect("store"));
    let state = Arc::new(Shared {
        store: store.clone(),
        trigger: Arc::new(SyncTrigger::default()),
        schedule: Arc::new(Mutex::new(ScheduleState::default())),
        sync_configured: true,
        odoo,
        options: ServerOptions {
            stale_after: Duration::from_secs(60),
            ..ServerOptions::for_tests()
        },
        metrics: RequestMetrics::default(),
        setup: Mutex::new(Some((
            "setup-token".into(),
            std::time::Instant::now() + Duration::from_secs(60),
        ))),
        guards: Guards::default(),
        sso: None,
    });
    App {
        _dir: dir,
        store,
        router: router(state),
    }
}

pub(super) fn append(store: &Store, events: Vec<Event>) {
    store
        .append(CommandBatch::new(
            events.into_iter().map(NewEvent::new).collect(),
        ))
        .expect("append");
}

pub(super) fn app() -> App {
    app_with(None)
}

/// A sign-in account with the password "password1".
pub(super) fn account(store: &Store, email: &str, role: Role, approved: bool) {
    store
        .set_credential(email, &hash_password("password1").expect("hash"))
        .expect("credential");
    append(
        store,
        vec![Event::UserRegistered {
            email: email.into(),
            name: email.into(),
            role,
            approved,
        }],
    );
}

/// Ann (1) manages Bob (2); Cat (3) is elsewhere. One deal each, plus one unassigned.
fn seeded() -> App {
    let app = app();
    append(
        &app.store,
        vec![
            Event::StageCreated {
                id: 1,
                record: stage("New", 1, false),
            },
            Event::UserCreated {
                id: 1,
                record: user("Ann", "ann@example.com"),
            },
            Event::UserCreated {
                id: 2,
                record: user("Bob", "bob@example.com"),
            },
            Event::UserCreated {
                id: 3,
                record: user("Cat", "cat@example.com"),
            },
            Event::EmployeeCreated {
                id: 10,
                record: employee("Ann", Some(1), None),
            },
            Event::EmployeeCreated {
                id: 20,
                record: employee("Bob", Some(2), Some(10)),
            },
            Event::EmployeeCreated {
                id: 30,
                record: employee("Cat", Some(3), None),
            },
            Event::OpportunityCreated {
                id: 101,
                record: opportunity(Some(1), 1, 1_000),
            },
            Event::OpportunityCreated {
                id: 102,
                record: opportunity(Some(2), 1, 2_000),
            },
            Event::OpportunityCreated {
                id: 103,
                record: opportunity(Some(3), 1, 4_000),
            },
            Event::OpportunityCreated {
                id: 104,
                record: opportunity(None, 1, 8_000),
            },
        ],
    );
    for email in ["ann@example.com", "bob@example.com", "cat@example.com"] {
        account(&app.store, email, Role::Member, true);
    }
    account(&app.store, "boss@example.com", Role::Admin, true);
    account(&app.store, "new@example.com", Role::Member, false);
    app
}

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: axum::http::HeaderMap,
    pub(super) body: Value,
    pub(super) text: String,
}

pub(super) async fn send(app: &App, request: Request<Body>) -> Answer {
    let response = app.router.clone().oneshot(request).await.expect("answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).to_string();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    }
}

pub(super) fn post(path: &str, body: &str) -> axum::http::request::Builder {
    let _ = body;
    Request::post(path).header(header::CONTENT_TYPE, "application/json")
}

pub(super) async fn login(app: &App, email: &str, password: &str) -> Answer {
    let body = json!({"email": email, "password": password}).to_string();
    send(
        app,
        post("/api/auth/login", &body)
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

/// Signs in and returns the session cookie.
pub(super) async fn session(app: &App, email: &str) -> String {
    let answer = login(app, email, "password1").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let cookie = answer.headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_string();
    cookie.split(';').next().expect("name=value").to_string()
}

pub(super) async fn get(app: &App, cookie: &str, path: &str) -> Answer {
    send(
        app,
        Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

#[tokio::test]
async fn sign_in_sets_a_safe_cookie_and_hides_which_part_was_wrong() {
    let app = seeded();
    let answer = login(&app, "ANN@example.com", "password1").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let cookie = answer.headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let wrong_password = login(&app, "ann@example.com", "nope-nope").await;
    let unknown = login(&app, "who@example.com", "password1").await;
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong_password.body, unknown.body,
        "same answer for unknown email and wrong password"
    );
    let pending = login(&app, "new@example.com", "password1").await;
    assert_eq!(pending.status, StatusCode::FORBIDDEN);
    assert!(pending.text.contains("waiting for an admin's approval"));
    let status = app
        .store
        .read()
        .expect("snapshot")
        .events_by_type()
        .expect("counts");
    assert_eq!(status.get("UserLoggedIn"), Some(&1));
}

#[tokio::test]
async fn sessions_end_at_logout_and_reads_need_one() {
    let app = seeded();
    let anonymous = send(
        &app,
        Request::get("/api/me")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let cookie = session(&app, "bob@example.com").await;
    let me = get(&app, &cookie, "/api/me").await;
    assert_eq!(me.body["user_id"], 2);
    assert_eq!(me.body["manager_id"], 1);
    let out = send(
        &app,
        post("/api/auth/logout", "")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
    assert_eq!(
        get(&app, &cookie, "/api/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled() {
    let app = seeded();
    for _ in 0..5 {
        assert_eq!(
            login(&app, "cat@example.com", "wrong-wrong").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = login(&app, "cat@example.com", "password1").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(
        login(&app, "ann@example.com", "password1").await.status,
        StatusCode::OK,
        "other accounts are not affected"
    );
}

#[tokio::test]
async fn cross_site_writes_are_refused() {
    let app = seeded();
    let body = json!({"email": "ann@example.com", "password": "password1"}).to_string();
    let cross = send(
        &app,
        post("/api/auth/login", &body)
            .header("sec-fetch-site", "cross-site")
            .body(Body::from(body.clone()))
            .expect("request"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let origin = send(
        &app,
        post("/api/auth/login", &body)
            .header(header::HOST, "pipeline.example.com")
            .header(header::ORIGIN, "https://evil.example.net")
            .body(Body::from(body.clone()))
            .expect("request"),
    )
    .await;
    assert_eq!(origin.status, StatusCode::FORBIDDEN);
    // DNS rebinding: the attacker's name in both Host and Origin proves nothing.
    let rebound = send(
        &app,
        post("/api/auth/login", &body)
            .header(header::HOST, "evil.example")
            .header(header::ORIGIN, "http://evil.example")
            .body(Body::from(body.clone()))
            .expect("request"),
    )
    .await;
    assert_eq!(rebound.status, StatusCode::FORBIDDEN);
    let same = send(
        &app,
        post("/api/auth/login", &body)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, "http://127.0.0.1:8080")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .expect("request"),
    )
    .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text);
    assert!(
        same.headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("default-src 'self'")
    );
    assert_eq!(same.headers["x-content-type-options"], "nosniff");
    assert_eq!(same.headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_never_a_500() {
    let app = seeded();
    let malformed = send(
        &app,
        post("/api/auth/login", "")
            .body(Body::from("{not json"))
            .expect("request"),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let unknown_field = send(
        &app,
        post("/api/auth/login", "")
            .body(Body::from(r#"{"email":"a","password":"b","admin":true}"#))
            .expect("request"),
    )
    .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown_field.text.contains("admin"),
        "{}",
        unknown_field.text
    );
    let cookie = session(&app, "ann@example.com").await;
    for (path, expected) in [
        ("/api/opportunities/abc", "not an opportunity id"),
        ("/api/opportunities?status=maybe", "status"),
        ("/api/opportunities?per_page=0", "per_page"),
        ("/api/opportunities?colour=red", "unknown parameter"),
        ("/api/dashboard?from=2026-13-01", "from"),
        ("/api/opportunities?sort=size", "sort"),
        ("/api/dashboard?team=sales", "team"),
        ("/api/dashboard/trends?stage=-1", "stage"),
        ("/api/opportunities?closed_from=yesterday", "closed_from"),
    ] {
        let answer = get(&app, &cookie, path).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text
        );
        assert!(answer.text.contains(expected), "{path}: {}", answer.text);
    }
    let sync = send(
        &app,
        post("/api/sync", "")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(
        sync.status,
        StatusCode::FORBIDDEN,
        "only admins start syncs"
    );
}

#[tokio::test]
async fn managers_see_their_subtree_and_no_one_sees_more() {
    let app = seeded();
    let ann = session(&app, "ann@example.com").await;
    let bob = session(&app, "bob@example.com").await;
    let boss = session(&app, "boss@example.com").await;
    let ids = |answer: Answer| -> Vec<u64> {
        answer.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|o| o["id"].as_u64().expect("id"))
            .collect()
    };
    assert_eq!(
        ids(get(&app, &ann, "/api/opportunities?sort=revenue").await),
        vec![101, 102]
    );
    assert_eq!(ids(get(&app, &bob, "/api/opportunities").await), vec![102]);
    assert_eq!(
        ids(get(&app, &boss, "/api/opportunities?sort=revenue").await),
        vec![101, 102, 103, 104]
    );
    assert_eq!(
        get(&app, &bob, "/api/opportunities/101").await.status,
        StatusCode::NOT_FOUND
    );
    let detail = get(&app, &ann, "/api/opportunities/102").await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["history"][0]["event"], "OpportunityCreated");
    assert_eq!(
        get(&app, &bob, "/api/dashboard?user=1").await.status,
        StatusCode::NOT_FOUND
    );
    let dashboard = get(&app, &ann, "/api/dashboard").await;
    assert_eq!(dashboard.body["currencies"]["USD"]["pipeline_value"], 30.0);
    let reports: Vec<&Value> = dashboard.body["team_table"]
        .as_array()
        .expect("team table")
        .iter()
        .filter(|row| row["kind"] == "report")
        .collect();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["user_id"], 2);
    let csv = send(
        &app,
        Request::get("/api/opportunities")
            .header(header::COOKIE, &bob)
            .header(header::ACCEPT, "text/csv")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(
        csv.text.lines().count(),
        2,
        "header and Bob's one deal: {}",
        csv.text
    );
    let team = get(&app, &ann, "/api/team").await;
    assert_eq!(team.body["team"][0]["reports"][0]["user_id"], 2);
}

/// Appends random events, gives every user an account, and checks each endpoint against the
/// brute-force model for every user.
/// Per-currency count, value and weighted value of listed opportunities, summed from the items.
fn summed(items: &[Value]) -> BTreeMap<String, (i64, i64, i64)> {
    let mut sums: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for item in items {
        let entry = sums
            .entry(item["currency"].as_str().unwrap_or_default().to_string())
            .or_default();
        entry.0 += 1;
        entry.1 += item["expected_revenue_cents"].as_i64().unwrap_or_default();
        entry.2 += item["weighted_revenue_cents"].as_i64().unwrap_or_default();
    }
    sums
}

fn totals(body: &Value) -> BTreeMap<String, (i64, i64, i64)> {
    body["totals"]
        .as_object()
        .map(|totals| {
            totals
                .iter()
                .map(|(currency, t)| {
                    let field = |name: &str| t[name].as_i64().unwrap_or(-1);
                    (
                        currency.clone(),
                        (
                            field("count"),
                            field("value_cents"),
                            field("weighted_cents"),
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The list's totals equal its items summed, per currency, for everything, for each currency, and
/// for a text search, whose matches are those of the full list that mention the text.
async fn check_totals_and_search(app: &App, cookie: &str, all: &Value) -> Result<(), String> {
    let items = all["items"].as_array().cloned().unwrap_or_default();
    if totals(all) != summed(&items) {
        return Err(format!(
            "totals {:?} != items {:?}",
            totals(all),
            summed(&items)
        ));
    }
    for currency in summed(&items).keys() {
        let one = get(
            app,
            cookie,
            &format!("/api/opportunities?per_page=1000&include_leads=true&currency={currency}"),
        )
        .await
        .body;
        let mine: Vec<Value> = items
            .iter()
            .filter(|i| i["currency"] == currency.as_str())
            .cloned()
            .collect();
        if totals(&one) != summed(&mine)
            || one["items"].as_array().map(Vec::len) != Some(mine.len())
        {
            return Err(format!(
                "currency {currency}: {:?} != {:?}",
                totals(&one),
                summed(&mine)
            ));
        }
    }
    let needle = "1";
    let mentions = |item: &&Value| {
        ["name"].iter().any(|f| {
            item[f]
                .as_str()
                .is_some_and(|t| t.to_lowercase().contains(needle))
        }) || ["account", "salesperson"].iter().any(|f| {
            item[f]["name"]
                .as_str()
                .is_some_and(|t| t.to_lowercase().contains(needle))
        })
    };
    let expected: Vec<Value> = items.iter().filter(mentions).cloned().collect();
    let searched = get(
        app,
        cookie,
        &format!("/api/opportunities?per_page=1000&include_leads=true&q={needle}"),
    )
    .await
    .body;
    let found: BTreeSet<u64> = searched["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["id"].as_u64()).collect())
        .unwrap_or_default();
    let wanted: BTreeSet<u64> = expected.iter().filter_map(|i| i["id"].as_u64()).collect();
    if found != wanted || totals(&searched) != summed(&expected) {
        return Err(format!("search {needle:?}: {found:?} != {wanted:?}"));
    }
    Ok(())
}

async fn check_reach(batches: Vec<Vec<Event>>) -> Result<(), TestCaseError> {
    let app = app();
    for batch in batches {
        append(&app.store, batch);
    }
    let (users, managers, opportunities) = app
        .store
        .with_model(|m| {
            let owners: Vec<(OdooId, Option<OdooId>)> = m
                .opportunities()
                .iter()
                .map(|(id, o)| (*id, o.user_id))
                .collect();
            (
                m.users().keys().copied().collect::<Vec<_>>(),
                brute_force_managers(m),
                owners,
            )
        })
        .expect("model");
    let hash = hash_password("password1").expect("hash");
    for &viewer in &users {
        let email = app
            .store
            .with_model(|m| m.users()[&viewer].email.clone())
            .expect("model")
            .unwrap_or_default();
        let normalized = crate::domain::normalize_email(&email);
        app.store
            .set_credential(&normalized, &hash)
            .expect("credential");
        // The random log may hold this login already, pending or an admin: make it an approved member.
        append(
            &app.store,
            vec![Event::UserRegistered {
                email: email.clone(),
                name: "v".into(),
                role: Role::Member,
                approved: true,
            }],
        );
        append(
            &app.store,
            vec![
                Event::UserApproved {
                    email: email.clone(),
                },
                Event::UserRoleChanged {
                    email: email.clone(),
                    role: Role::Member,
                },
            ],
        );
        let login = app
            .store
            .read()
            .expect("snapshot")
            .login(&email)
            .expect("read")
            .expect("login");
        // Several Odoo users can share an email; the account belongs to the one it links to.
        let Some(linked) = login.user_id else {
            continue;
        };
        let cookie = session(&app, &email).await;
        let expected: BTreeSet<u64> = opportunities
            .iter()
            .filter(|(_, owner)| {
                owner.is_some_and(|o| users.contains(&o) && brute_force_sees(&managers, linked, o))
            })
            .map(|(id, _)| *id)
            .collect();
        let listed = get(
            &app,
            &cookie,
            "/api/opportunities?per_page=1000&include_leads=true",
        )
        .await;
        let got: BTreeSet<u64> = listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|o| o["id"].as_u64())
            .collect();
        prop_assert_eq!(&got, &expected, "list for user {}", linked);
        prop_assert_eq!(listed.body["total"].as_u64(), Some(expected.len() as u64));
        check_totals_and_search(&app, &cookie, &listed.body)
            .await
            .map_err(|error| TestCaseError::fail(format!("user {linked}: {error}")))?;
        let csv_request = Request::get("/api/opportunities?include_leads=true")
            .header(header::COOKIE, &cookie)
            .header(header::ACCEPT, "text/csv")
            .body(Body::empty())
            .expect("request");
        let csv = send(&app, csv_request).await;
        let csv_ids: BTreeSet<u64> = csv
            .text
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next()?.parse().ok())
            .collect();
        prop_assert_eq!(&csv_ids, &expected, "CSV for user {}", linked);
        let team = get(&app, &cookie, "/api/team").await;
        let mut in_tree = BTreeSet::new();
        let mut stack: Vec<Value> = team.body["team"].as_array().cloned().unwrap_or_default();
        while let Some(node) = stack.pop() {
            in_tree.insert(node["user_id"].as_u64().expect("id"));
            stack.extend(node["reports"].as_array().cloned().unwrap_or_default());
        }
        let reach: BTreeSet<u64> = users
            .iter()
            .copied()
            .filter(|&u| brute_force_sees(&managers, linked, u))
            .collect();
        prop_assert_eq!(&in_tree, &reach, "team tree for user {}", linked);
        for (id, _) in &opportunities {
            let status = get(&app, &cookie, &format!("/api/opportunities/{id}"))
                .await
                .status;
            prop_assert_eq!(
                status == StatusCode::OK,
                expected.contains(id),
                "detail {} for user {}",
                id,
                linked
            );
        }
        for &other in &users {
            let status = get(&app, &cookie, &format!("/api/dashboard?user={other}"))
                .await
                .status;
            prop_assert_eq!(
                status == StatusCode::OK,
                brute_force_sees(&managers, linked, other),
                "dashboard of {} for {}",
                other,
                linked
            );
            // A dashboard's drill-down: the list within someone else's reach.
            let within = get(
                &app,
                &cookie,
                &format!("/api/opportunities?per_page=1000&include_leads=true&user={other}"),
            )
            .await;
            if !brute_force_sees(&managers, linked, other) {
                prop_assert_eq!(within.status, StatusCode::NOT_FOUND);
                continue;
            }
            let got: BTreeSet<u64> = within.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|o| o["id"].as_u64())
                .collect();
            let wanted: BTreeSet<u64> = opportunities
                .iter()
                .filter(|(id, owner)| {
                    expected.contains(id)
                        && owner.is_some_and(|o| brute_force_sees(&managers, other, o))
                })
                .map(|(id, _)| *id)
                .collect();
            prop_assert_eq!(got, wanted, "list within {}'s reach for {}", other, linked);
        }
        let offered = get(&app, &cookie, "/api/filters").await;
        for person in offered.body["salespeople"].as_array().expect("salespeople") {
            let id = person["id"].as_u64().expect("id");
            prop_assert!(reach.contains(&id), "filter offers {} to {}", id, linked);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_endpoint_answers_within_reach_only(batches in arb_batches()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(check_reach(batches))?;
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = seeded();
    let cookie = session(&app, "ann@example.com").await;
    for id in [101, 102] {
        get(&app, &cookie, &format!("/api/opportunities/{id}")).await;
    }
    let metrics = send(
        &app,
        Request::get("/metrics")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains(r#"pipelog_http_request_duration_seconds_count{method="GET",route="/api/opportunities/{id}",status="200"} 2"#),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("pipelog_events_total"),
        "{}",
        metrics.text
    );
    let openapi = send(
        &app,
        Request::get("/api/openapi.json")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(openapi.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn admins_verify_and_rebuild_the_views_from_the_api() {
    let app = seeded();
    let ann = session(&app, "ann@example.com").await;
    for path in ["/api/admin/verify", "/api/admin/rebuild"] {
        let refused = send(
            &app,
            post(path, "")
                .header(header::COOKIE, &ann)
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    let boss = session(&app, "boss@example.com").await;
    let admin_post = |path: &'static str| {
        post(path, "")
            .header(header::COOKIE, &boss)
            .body(Body::empty())
            .expect("request")
    };
    let events = app
        .store
        .read()
        .expect("snapshot")
        .last_position()
        .expect("position");
    let verified = send(&app, admin_post("/api/admin/verify")).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);
    assert_eq!(verified.body["clean"], true, "{}", verified.text);
    assert_eq!(verified.body["events"], events);
    assert!(verified.body["rows_checked"].as_u64().expect("rows") > 0);
    let rebuilt = send(&app, admin_post("/api/admin/rebuild")).await;
    assert_eq!(rebuilt.status, StatusCode::OK, "{}", rebuilt.text);
    assert_eq!(rebuilt.body["events"], events);
    let again = send(&app, admin_post("/api/admin/verify")).await;
    assert_eq!(again.body["clean"], true, "{}", again.text);
}

#[tokio::test]
async fn admins_download_a_backup_that_opens_and_verifies() {
    let app = seeded();
    let ann = session(&app, "ann@example.com").await;
    assert_eq!(
        get(&app, &ann, "/api/admin/backup").await.status,
        StatusCode::FORBIDDEN
    );
    let boss = session(&app, "boss@example.com").await;
    let response = app
        .router
        .clone()
        .oneshot(
            Request::get("/api/admin/backup")
                .header(header::COOKIE, &boss)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("downloaded.redb");
    std::fs::write(&path, &bytes).expect("write");
    let copy = crate::store::ReadOnlyStore::open(&path).expect("opens");
    assert!(copy.verify(&mut |_| {}).expect("verifies").is_clean());
    assert_eq!(
        copy.read()
            .expect("snapshot")
            .status()
            .expect("status")
            .opportunities,
        4
    );
    assert!(
        copy.read()
            .expect("snapshot")
            .session("anything")
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn trends_stay_within_reach() {
    let app = seeded();
    let bob = session(&app, "bob@example.com").await;
    let own = get(&app, &bob, "/api/dashboard/trends").await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(
        get(&app, &bob, "/api/dashboard/trends?user=1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, &bob, "/api/dashboard/trends?user=3").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deals_without_an_expected_close_come_last_in_a_date_sort() {
    let app = seeded();
    let dated = |id: u64, day: Option<&str>| {
        let mut record = opportunity(Some(1), 1, 100);
        record.date_deadline = day.map(|d| d.parse().expect("date"));
        Event::OpportunityCreated { id, record }
    };
    append(
        &app.store,
        vec![
            dated(201, Some("2026-03-01")),
            dated(202, None),
            dated(203, Some("2026-01-01")),
        ],
    );
    let ann = session(&app, "ann@example.com").await;
    let order = |answer: Answer| -> Vec<u64> {
        answer.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|o| o["id"].as_u64())
            .filter(|id| *id > 200)
            .collect()
    };
    assert_eq!(
        order(get(&app, &ann, "/api/opportunities").await),
        vec![203, 201, 202]
    );
    assert_eq!(
        order(get(&app, &ann, "/api/opportunities?sort=-expected_close").await),
        vec![201, 203, 202]
    );
}
