//! The real `pipelog serve --demo` answers as its OpenAPI document says: every documented read,
//! as an admin and as a salesperson, and commands and errors, each checked against the schema the
//! document gives for that route, method and status (formats included).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Running, session_cookie};

struct Checker {
    document: Value,
    http: reqwest::blocking::Client,
    url: String,
    checked: usize,
}

impl Checker {
    /// Validates `response` against the document's schema for `template`, `method` and its status.
    fn check(
        &mut self,
        template: &str,
        method: &str,
        response: reqwest::blocking::Response,
    ) -> Value {
        let status = response.status().as_u16().to_string();
        let described = &self.document["paths"][template][method]["responses"][&status];
        assert!(
            described.is_object(),
            "{method} {template} answered {status}, which the document does not describe"
        );
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().expect("body");
        if !content_type.starts_with("application/json") {
            let media = content_type.split(';').next().unwrap_or_default();
            assert!(
                described["content"][media].is_object() || described["content"].is_null(),
                "{method} {template} {status}: {media} is not described"
            );
            return Value::Null;
        }
        let body: Value = serde_json::from_str(&text).expect("JSON body");
        let mut schema = described["content"]["application/json"]["schema"].clone();
        assert!(
            schema.is_object(),
            "{method} {template} {status} has no JSON schema"
        );
        schema["components"] = self.document["components"].clone();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|error| panic!("schema of {method} {template} {status}: {error}"));
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .take(5)
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status} does not match its schema: {errors:#?}\n{}",
            &text[..text.len().min(2_000)]
        );
        self.checked += 1;
        body
    }

    fn get(&mut self, template: &str, path: &str, cookie: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", cookie)
            .send()
            .expect("request");
        self.check(template, "get", response)
    }

    fn post(&mut self, template: &str, path: &str, cookie: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", cookie)
            .json(&body)
            .send()
            .expect("request");
        self.check(template, "post", response)
    }
}

fn sign_in(http: &reqwest::blocking::Client, url: &str, email: &str) -> String {
    let response = http
        .post(format!("{url}/api/auth/login"))
        .json(&json!({"email": email, "password": "demo"}))
        .send()
        .expect("login");
    assert_eq!(response.status(), 200);
    session_cookie(&response)
}

#[test]
fn real_answers_match_the_openapi_document() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Running::demo(&dir.path().join("demo.redb"));
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let document: Value = http
        .get(format!("{}/api/openapi.json", server.url))
        .send()
        .expect("document")
        .json()
        .expect("json");
    let mut checker = Checker {
        document,
        http: http.clone(),
        url: server.url.clone(),
        checked: 0,
    };
    let admin = sign_in(&http, &server.url, "admin@example.com");
    let accounts = checker.get(
        "/api/admin/accounts",
        "/api/admin/accounts?per_page=200",
        &admin,
    );
    let member = accounts["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["role"] == "member" && a["user_id"].is_u64())
        .expect("a linked member")
        .clone();
    let member_cookie = sign_in(&http, &server.url, member["email"].as_str().expect("email"));
    let page = checker.get(
        "/api/opportunities",
        "/api/opportunities?per_page=5",
        &admin,
    );
    let lead = page["items"][0]["id"].as_u64().expect("an opportunity");
    let user = member["user_id"].as_u64().expect("user id");

    let day = |days_from_today: i64| {
        let today = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date();
        today
            .checked_add(jiff::Span::new().days(days_from_today))
            .expect("a date")
    };
    let (past, quarter_end, year_ago) = (day(-90), day(90), day(-365));
    let waterfall = format!("from={past}&close_from={past}&close_to={quarter_end}");

    // The history reads, as an admin and as a salesperson: answered, not refused.
    for cookie in [&admin, &member_cookie] {
        for (template, path) in [
            ("/api/dashboard", format!("/api/dashboard?as_of={past}")),
            (
                "/api/opportunities",
                format!("/api/opportunities?as_of={past}&status=open&sort=name"),
            ),
            (
                "/api/history/waterfall",
                format!("/api/history/waterfall?{waterfall}"),
            ),
            (
                "/api/history/waterfall",
                format!(
                    "/api/history/waterfall?from={}&close_from={past}&close_to={quarter_end}",
                    day(0)
                ),
            ),
            (
                "/api/history/waterfall/deals",
                format!("/api/history/waterfall/deals?{waterfall}&bar=opening&currency=USD"),
            ),
            (
                "/api/history/trend",
                format!("/api/history/trend?from={year_ago}&every=week"),
            ),
            (
                "/api/history/activity",
                "/api/history/activity?per_page=20".to_string(),
            ),
            ("/api/history/slipped", "/api/history/slipped".to_string()),
            ("/api/history/stale", "/api/history/stale".to_string()),
            ("/api/history/velocity", "/api/history/velocity".to_string()),
        ] {
            let answer = checker.get(template, &path, cookie);
            assert!(answer.get("error").is_none(), "{path}: {answer}");
        }
    }

    // Every documented read, as an admin and as a salesperson.
    for cookie in [&admin, &member_cookie] {
        for (template, path) in [
            ("/healthz", "/healthz".to_string()),
            ("/api/me", "/api/me".to_string()),
            ("/api/dashboard", "/api/dashboard".to_string()),
            (
                "/api/dashboard",
                "/api/dashboard?from=2026-01-01&to=2026-12-31".to_string(),
            ),
            ("/api/dashboard/trends", "/api/dashboard/trends".to_string()),
            ("/api/filters", "/api/filters".to_string()),
            (
                "/api/opportunities",
                "/api/opportunities?status=closed&sort=-revenue".to_string(),
            ),
            (
                "/api/opportunities/{id}",
                format!("/api/opportunities/{lead}"),
            ),
            ("/api/team", "/api/team".to_string()),
            ("/api/sync/status", "/api/sync/status".to_string()),
            ("/api/admin/overrides", "/api/admin/overrides".to_string()),
            ("/api/events", "/api/events?limit=200".to_string()),
            (
                "/api/admin/accounts",
                "/api/admin/accounts?status=pending".to_string(),
            ),
        ] {
            checker.get(template, &path, cookie);
        }
    }
    checker.get(
        "/api/dashboard",
        &format!("/api/dashboard?user={user}"),
        &admin,
    );
    checker.get("/", "/", &admin);
    checker.get("/metrics", "/metrics", &admin);

    // Commands, with their replays and refusals.
    let assign = format!("/api/opportunities/{lead}/assign");
    let keyed = |key: &str, body: Value| {
        http.post(format!("{}{assign}", server.url))
            .header("cookie", &admin)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .expect("assign")
    };
    let first = keyed("schema-1", json!({"salesperson": user}));
    checker.check("/api/opportunities/{id}/assign", "post", first);
    let replay = keyed("schema-1", json!({"salesperson": user}));
    assert_eq!(
        checker.check("/api/opportunities/{id}/assign", "post", replay)["replayed"],
        true
    );
    let reused = keyed("schema-1", json!({"salesperson": user + 1}));
    checker.check("/api/opportunities/{id}/assign", "post", reused);
    let stale = http
        .post(format!("{}{assign}", server.url))
        .header("cookie", &admin)
        .header("if-match", "\"1\"")
        .json(&json!({"salesperson": user}))
        .send()
        .expect("stale");
    assert_eq!(stale.status(), 409);
    checker.check("/api/opportunities/{id}/assign", "post", stale);
    checker.post(
        "/api/opportunities/{id}/assign",
        &assign,
        &member_cookie,
        json!({"salesperson": user}),
    );
    checker.post(
        "/api/users/{id}/manager",
        &format!("/api/users/{user}/manager"),
        &admin,
        json!({"manager": null}),
    );
    checker.post("/api/sync", "/api/sync", &admin, json!({}));
    checker.post("/api/sync", "/api/sync", &member_cookie, json!({}));
    checker.post(
        "/api/admin/verify",
        "/api/admin/verify",
        &admin,
        json!(null),
    );
    checker.post(
        "/api/auth/signup",
        "/api/auth/signup",
        "",
        json!({"email": "schema@example.com", "name": "Schema", "password": "long enough"}),
    );
    checker.post(
        "/api/admin/accounts/{email}/{action}",
        "/api/admin/accounts/schema@example.com/approve",
        &admin,
        json!(null),
    );
    checker.post(
        "/api/admin/accounts/{email}/{action}",
        "/api/admin/accounts/schema@example.com/role",
        &admin,
        json!({"role": "admin"}),
    );

    // Errors are described where they happen, in the one shape.
    checker.get(
        "/api/opportunities/{id}",
        "/api/opportunities/999999999",
        &admin,
    );
    checker.get(
        "/api/opportunities/{id}",
        "/api/opportunities/not-a-number",
        &admin,
    );
    checker.get("/api/dashboard", "/api/dashboard?unknown=1", &admin);
    checker.get(
        "/api/history/waterfall",
        &format!("/api/history/waterfall?from={quarter_end}&to={past}&close_from={past}&close_to={quarter_end}"),
        &admin,
    );
    checker.get("/api/dashboard", "/api/dashboard?as_of=yesterday", &admin);
    checker.get("/api/me", "/api/me", "");
    checker.post(
        "/api/auth/login",
        "/api/auth/login",
        "",
        json!({"email": "admin@example.com", "password": "wrong"}),
    );
    checker.post(
        "/api/auth/signup",
        "/api/auth/signup",
        "",
        json!({"email": "x", "name": "x".repeat(5_000), "password": "x"}),
    );
    checker.post(
        "/api/setup",
        "/api/setup",
        "",
        json!({"token": "nope", "email": "a@b.c", "name": "A", "password": "long enough"}),
    );
    let logout = http
        .post(format!("{}/api/auth/logout", server.url))
        .header("cookie", &member_cookie)
        .send()
        .expect("logout");
    checker.check("/api/auth/logout", "post", logout);
    assert!(
        checker.checked >= 40,
        "only {} answers checked",
        checker.checked
    );
}
