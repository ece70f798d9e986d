//! Request handlers: parse, call the layer that knows, answer. Shared helpers live here; the
//! handlers are grouped by who calls them.

mod admin;
mod commands;
mod reads;
mod session;

pub use admin::*;
pub use commands::*;
pub use reads::*;
pub use session::*;

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState, CurrentViewer, SESSION_COOKIE};
use crate::auth::{
    SESSION_ABSOLUTE, SessionRecord, new_session_token, token_hash, verify_password,
};
use crate::domain::{Event, Metadata, NewEvent, normalize_email};
use crate::projections::LoginStatus;
use crate::queries::{self, DashboardQuery, OpportunityFilter, SortKey, StatusFilter};
use crate::store::{CommandBatch, Store};
use crate::sync::RunRequest;

/// The client's address, when the server knows it (not in in-process tests).
pub struct ClientAddress(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(ClientAddress(address.unwrap_or_else(|| "unknown".into())))
    }
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(ApiError::internal)?
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(value)| value)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

pub async fn health(State(state): State<AppState>) -> Response {
    let schedule = state.schedule.lock().map(|s| s.clone()).unwrap_or_default();
    let store = state.store.clone();
    let sync =
        tokio::task::spawn_blocking(move || store.read().and_then(|s| s.sync_status())).await;
    match sync {
        Ok(Ok(sync)) => Json(json!({
            "status": "ok",
            "store": "ok",
            "sync": {
                "configured": state.sync_configured,
                "running": schedule.running,
                "next_run_at": schedule.next_run_at,
                "consecutive_failures": schedule.consecutive_failures,
                "last_finished_at": schedule.last_finished_at,
                "last_error": schedule.last_error,
                "last_success_at": sync.last_success_at,
                "last_failure_at": sync.last_failure_at,
            },
        }))
        .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "store": "error"})),
        )
            .into_response(),
    }
}

fn parse<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|value| {
            value
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("{name}: {value:?} is not valid")))
        })
        .transpose()
}

fn only(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::BadRequest(format!(
            "unknown parameter {unknown:?}; known: {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

fn require_admin(current: &CurrentViewer) -> Result<(), ApiError> {
    if current.viewer.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only admins can do this".into()))
    }
}

/// `Idempotency-Key` and `If-Match` of a command.
fn command_request(headers: &HeaderMap) -> Result<crate::commands::Request, ApiError> {
    let command_id = headers.get("idempotency-key").map(|v| {
        v.to_str()
            .map(|s| s.trim().to_string())
            .map_err(|_| ApiError::BadRequest("Idempotency-Key must be text".into()))
    });
    let command_id = command_id.transpose()?.filter(|k| !k.is_empty());
    if command_id.as_ref().is_some_and(|k| k.len() > 200) {
        return Err(ApiError::BadRequest(
            "Idempotency-Key is too long (200 characters at most)".into(),
        ));
    }
    let expected_version = headers
        .get(header::IF_MATCH)
        .map(|v| {
            v.to_str()
                .ok()
                .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("If-Match must be a version number, e.g. \"3\"".into())
                })
        })
        .transpose()?;
    Ok(crate::commands::Request {
        expected_version,
        command_id,
    })
}

fn appended(result: crate::store::Appended) -> Response {
    let version = result.versions.last().copied();
    let mut response = Json(json!({"positions": result.positions, "versions": result.versions, "replayed": result.replayed})).into_response();
    if let Some(version) = version.and_then(|v| HeaderValue::from_str(&format!("\"{v}\"")).ok()) {
        response.headers_mut().insert(header::ETAG, version);
    }
    response
}
