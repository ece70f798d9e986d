//! The API described as OpenAPI 3.1, served at `/api/openapi.json`, generated from the handlers'
//! annotations and the Rust types they answer with (utoipa), so the description and the answers
//! cannot drift apart. What every operation shares (the session scheme, the errors any request can
//! meet) is added here once; a test checks that every route of the router is described, and
//! another that real answers validate against their schemas.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::handlers;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pipelog",
        description = "Sales pipeline from Odoo, with reach by reporting hierarchy. Amounts are per currency, never summed across currencies. Every error has the shape of ErrorBody."
    ),
    paths(
        crate::web::index,
        crate::web::asset,
        handlers::health,
        super::metrics::render,
        document,
        handlers::login,
        handlers::logout,
        handlers::sign_in_options,
        handlers::sso_start,
        handlers::sso_callback,
        handlers::me,
        handlers::signup,
        handlers::setup,
        handlers::dashboard,
        handlers::trends,
        handlers::waterfall,
        handlers::waterfall_deals,
        handlers::history_trend,
        handlers::history_activity,
        handlers::history_slipped,
        handlers::history_stale,
        handlers::history_velocity,
        handlers::filters,
        handlers::opportunities,
        handlers::opportunity,
        handlers::assign_opportunity,
        handlers::team,
        handlers::sync_status,
        handlers::sync_now,
        handlers::accounts,
        handlers::change_account,
        handlers::assign_manager,
        handlers::overrides,
        handlers::events,
        handlers::backup,
        handlers::verify,
        handlers::rebuild,
    ),
    // Types named only as parameters are not collected from the paths: they are listed here.
    components(schemas(super::answers::ErrorBody, super::answers::AccountAction))
)]
struct ApiDoc;

/// Answers any operation may give, added to every one that does not describe them itself.
fn shared_responses(operation: &Value) -> Vec<(&'static str, &'static str)> {
    let mut shared = vec![(
        "500",
        "an internal error; the message has a request id for the log",
    )];
    if operation.get("security").is_some() {
        shared.push(("401", "not signed in, or the session ended"));
    }
    let has_query = operation["parameters"]
        .as_array()
        .is_some_and(|parameters| parameters.iter().any(|p| p["in"] != "header"));
    if has_query || operation.get("requestBody").is_some() {
        shared.push(("400", "bad input: the message says what is wrong"));
    }
    if operation.get("requestBody").is_some() {
        shared.push(("403", "a cross-site request (Sec-Fetch-Site or Origin)"));
        shared.push(("408", "the body took too long to arrive"));
        shared.push(("413", "the body is larger than this route accepts"));
        shared.push(("415", "the body is not JSON"));
    }
    shared
}

pub fn build() -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    document["components"]["securitySchemes"] = json!({
        "session": {"type": "apiKey", "in": "cookie", "name": super::SESSION_COOKIE}
    });
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    if let Some(paths) = document["paths"].as_object_mut() {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                let shared = shared_responses(operation);
                let Some(responses) = operation["responses"].as_object_mut() else {
                    continue;
                };
                for (status, description) in shared {
                    responses.entry(status).or_insert_with(
                        || json!({"description": description, "content": error.clone()}),
                    );
                }
            }
        }
    }
    document
}

#[utoipa::path(
    get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "this document", body = Object)),
)]
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
            // axum's catch-all `{*path}` is OpenAPI's `{path}`.
            let path = path.replace("{*", "{");
            assert!(
                document["paths"][&path][method].is_object(),
                "{method} {path} is not in the OpenAPI document"
            );
        }
        let documented: usize = document["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |methods| methods.len()))
            .sum();
        assert_eq!(
            documented,
            routes.len(),
            "documented operations that no route serves"
        );
    }

    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target.clone());
                }
                map.values().for_each(|v| references(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| references(v, found)),
            _ => {}
        }
    }

    #[test]
    fn the_dashboard_parameters_described_are_those_it_reads() {
        let document = build();
        for path in ["/api/dashboard", "/api/dashboard/trends"] {
            let described: Vec<String> = document["paths"][path]["get"]["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .map(|p| p["name"].as_str().expect("name").to_string())
                .collect();
            assert_eq!(described, handlers::DASHBOARD_PARAMETERS, "{path}");
        }
    }

    #[test]
    fn every_reference_resolves() {
        let document = build();
        let mut found = Vec::new();
        references(&document, &mut found);
        assert!(found.len() > 50, "{} references", found.len());
        for target in found {
            let pointer = target.strip_prefix('#').expect("local reference");
            assert!(
                document.pointer(pointer).is_some(),
                "{target} does not resolve"
            );
        }
    }

    #[test]
    fn ids_are_integers_and_every_operation_says_how_it_fails() {
        let document = build();
        let id = &document["paths"]["/api/opportunities/{id}"]["get"]["parameters"][0];
        assert_eq!(id["schema"]["type"], "integer", "{id}");
        let assign = &document["paths"]["/api/opportunities/{id}/assign"]["post"]["responses"];
        for status in [
            "200", "400", "401", "403", "404", "409", "413", "422", "500", "502",
        ] {
            assert!(
                assign[status].is_object(),
                "assign lacks {status}: {assign}"
            );
        }
        assert!(document["paths"]["/api/auth/signup"]["post"]["responses"]["429"].is_object());
        assert!(document["paths"]["/api/auth/logout"]["post"]["responses"]["204"].is_object());
        assert!(document["components"]["schemas"]["DashboardReport"].is_object());
    }
}
