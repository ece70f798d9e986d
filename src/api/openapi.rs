//! The API described as OpenAPI 3.1, served at `/api/openapi.json`. Built from [`OPERATIONS`]; a
//! test reads the router's source and fails if a route is missing here.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    SignedIn,
    Admin,
}

pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
    /// Example request body, when there is one.
    pub body: Option<&'static str>,
    /// Honours `Idempotency-Key` and `If-Match`.
    pub command: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    access: Access,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        access,
        query: &[],
        body: None,
        command: false,
    }
}

/// The filters shared by the dashboard's figures and trends.
const DASHBOARD_FILTERS: &[(&str, &str)] = &[
    ("user", "someone within reach (default: yourself)"),
    ("team", "team id: only that team's opportunities"),
    (
        "stage",
        "stage id: only opportunities in that stage (0: without a stage)",
    ),
    ("from", "won revenue from this date (YYYY-MM-DD)"),
    ("to", "won revenue until this date"),
];

pub const OPERATIONS: &[Operation] = &[
    op(
        "get",
        "/",
        "The dashboard (a page of the embedded web app)",
        Access::Public,
    ),
    op(
        "get",
        "/assets/{*path}",
        "The dashboard's embedded files (ETag, no-cache)",
        Access::Public,
    ),
    op(
        "get",
        "/api/admin/backup",
        "A consistent copy of the data file (sessions left out), taken while writes go on",
        Access::Admin,
    ),
    op(
        "get",
        "/api/admin/overrides",
        "Users whose manager is set in pipelog, overriding Odoo",
        Access::Admin,
    ),
    op(
        "post",
        "/api/admin/verify",
        "Replay the log into scratch views and compare them with the live ones (read only)",
        Access::Admin,
    ),
    op(
        "post",
        "/api/admin/rebuild",
        "Replay the log into fresh views and swap them in atomically; writes wait meanwhile",
        Access::Admin,
    ),
    op(
        "get",
        "/healthz",
        "Liveness, store and sync state",
        Access::Public,
    ),
    op("get", "/metrics", "Prometheus metrics", Access::Public),
    op("get", "/api/openapi.json", "This document", Access::Public),
    Operation {
        body: Some(r#"{"email": "ann@example.com", "password": "..."}"#),
        ..op(
            "post",
            "/api/auth/login",
            "Sign in; sets the session cookie",
            Access::Public,
        )
    },
    op("post", "/api/auth/logout", "Sign out", Access::SignedIn),
    Operation {
        body: Some(r#"{"email": "ann@example.com", "name": "Ann", "password": "..."}"#),
        ..op(
            "post",
            "/api/auth/signup",
            "Ask for an account (pending until an admin approves)",
            Access::Public,
        )
    },
    Operation {
        body: Some(
            r#"{"token": "...", "email": "admin@example.com", "name": "Admin", "password": "..."}"#,
        ),
        ..op(
            "post",
            "/api/setup",
            "Create the first admin with the one-time token `serve` printed",
            Access::Public,
        )
    },
    op(
        "get",
        "/api/me",
        "The signed-in account, its Odoo user, manager and direct reports",
        Access::SignedIn,
    ),
    Operation {
        query: DASHBOARD_FILTERS,
        ..op(
            "get",
            "/api/dashboard",
            "Pipeline figures over everything within reach, per currency",
            Access::SignedIn,
        )
    },
    Operation {
        query: &[
            ("stage", "stage id (0: without a stage)"),
            ("salesperson", "user id: their own opportunities"),
            (
                "user",
                "user id: everything within their reach (them and their subtree)",
            ),
            ("team", "team id"),
            (
                "status",
                "open, won, lost, active (open or won) or closed (won or lost)",
            ),
            (
                "closed_from",
                "closed (won or lost) from this date (YYYY-MM-DD, UTC)",
            ),
            ("closed_to", "closed until this date"),
            ("q", "text in the name, account or salesperson"),
            ("close_from", "expected close from (YYYY-MM-DD)"),
            ("close_to", "expected close until"),
            (
                "sort",
                "expected_close, revenue, name, stage, salesperson; - for descending",
            ),
            ("page", "from 1"),
            ("per_page", "1 to 1000, default 50"),
            ("include_leads", "true to list leads too"),
        ],
        ..op(
            "get",
            "/api/opportunities",
            "Opportunities within reach (Accept: text/csv exports every page)",
            Access::SignedIn,
        )
    },
    Operation {
        query: DASHBOARD_FILTERS,
        ..op(
            "get",
            "/api/dashboard/trends",
            "Forecast by expected closing month and won revenue by month, per currency (every month: the period does not narrow it)",
            Access::SignedIn,
        )
    },
    op(
        "get",
        "/api/filters",
        "What the dashboard filters offer you: teams, the people within your reach, stages",
        Access::SignedIn,
    ),
    op(
        "get",
        "/api/opportunities/{id}",
        "One opportunity with its full history",
        Access::SignedIn,
    ),
    Operation {
        body: Some(r#"{"salesperson": 12}"#),
        command: true,
        ..op(
            "post",
            "/api/opportunities/{id}/assign",
            "Reassign (managers within their subtree, admins); written to Odoo first",
            Access::SignedIn,
        )
    },
    op(
        "get",
        "/api/team",
        "Your reporting subtree as a tree",
        Access::SignedIn,
    ),
    op(
        "get",
        "/api/sync/status",
        "Sync schedule and recent runs",
        Access::SignedIn,
    ),
    Operation {
        body: Some(r#"{"full": false, "allow_mass_delete": false}"#),
        ..op(
            "post",
            "/api/sync",
            "Sync now (requests during a run merge into one)",
            Access::Admin,
        )
    },
    Operation {
        query: &[
            ("status", "pending, approved or disabled"),
            ("q", "part of the email or name"),
            ("page", "from 1"),
            ("per_page", "1 to 200 (default 50)"),
        ],
        ..op(
            "get",
            "/api/admin/accounts",
            "Sign-in accounts, those waiting for approval first, paged (`total` counts them all)",
            Access::Admin,
        )
    },
    Operation {
        body: Some(r#"{"role": "admin"}"#),
        command: true,
        ..op(
            "post",
            "/api/admin/accounts/{email}/{action}",
            "approve, disable, or role (body: role)",
            Access::Admin,
        )
    },
    Operation {
        body: Some(r#"{"manager": 7}"#),
        command: true,
        ..op(
            "post",
            "/api/users/{id}/manager",
            "Override a user's Odoo manager (null: follow Odoo)",
            Access::Admin,
        )
    },
    Operation {
        query: &[("after", "position to start after"), ("limit", "1 to 1000")],
        ..op(
            "get",
            "/api/events",
            "The audit log, oldest first",
            Access::Admin,
        )
    },
];

pub fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for operation in OPERATIONS {
        let mut parameters: Vec<Value> = operation
            .query
            .iter()
            .map(|(name, description)| json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}}))
            .collect();
        let mut start = 0;
        while let Some(open) = operation.path[start..].find('{') {
            let from = start + open + 1;
            let Some(close) = operation.path[from..].find('}') else {
                break;
            };
            let name = &operation.path[from..from + close];
            parameters.push(
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}),
            );
            start = from + close;
        }
        if operation.command {
            parameters.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "description": "a retry with the same key returns the first answer and changes nothing", "schema": {"type": "string"}}));
            parameters.push(json!({"name": "If-Match", "in": "header", "required": false, "description": "the version you saw (ETag); a stale one answers 409 with the current version", "schema": {"type": "string"}}));
        }
        let mut entry = json!({
            "summary": operation.summary,
            "parameters": parameters,
            "responses": {
                "200": {"description": "success"},
                "400": {"description": "bad input: the error says what is wrong"},
                "401": {"description": "not signed in"},
                "404": {"description": "not found, or not within your reach"},
            },
        });
        match operation.access {
            Access::Public => {}
            Access::SignedIn => entry["security"] = json!([{"session": []}]),
            Access::Admin => {
                entry["security"] = json!([{"session": []}]);
                entry["responses"]["403"] = json!({"description": "admins only"});
            }
        }
        if let Some(example) = operation.body {
            let example: Value = serde_json::from_str(example).unwrap_or(Value::Null);
            entry["requestBody"] = json!({"content": {"application/json": {"example": example}}});
        }
        let item = paths
            .entry(operation.path.to_string())
            .or_insert_with(|| json!({}));
        item[operation.method] = entry;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "pipelog", "version": env!("CARGO_PKG_VERSION"), "description": "Sales pipeline from Odoo, with reach by reporting hierarchy. Amounts are per currency, never summed across currencies."},
        "components": {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": super::SESSION_COOKIE}}},
        "paths": paths,
    })
}

pub async fn document() -> Response {
    Json(build()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route(...)` in the router source, with each method chained on it.
    fn routed() -> Vec<(String, String)> {
        // Formatting may break a call over lines: compare on the source with whitespace folded.
        let flat = include_str!("mod.rs")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace("( ", "(");
        let mut found = Vec::new();
        for chunk in flat.split(".route(\"").skip(1) {
            let Some((path, rest)) = chunk.split_once('"') else {
                continue;
            };
            let call = rest
                .split(".route(")
                .next()
                .unwrap_or(rest)
                .split(".layer(")
                .next()
                .unwrap_or(rest);
            for method in ["get", "post", "put", "patch", "delete"] {
                if call.contains(&format!(" {method}(")) || call.contains(&format!(".{method}(")) {
                    found.push((method.to_string(), path.to_string()));
                }
            }
        }
        found
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let routes = routed();
        assert!(routes.len() >= 18, "found {} routes", routes.len());
        let document = build();
        for (method, path) in &routes {
            assert!(
                document["paths"][path][method].is_object(),
                "{method} {path} is not in the OpenAPI document"
            );
        }
        let documented: usize = OPERATIONS.len();
        assert_eq!(
            documented,
            routes.len(),
            "documented operations that no route serves"
        );
    }
}
