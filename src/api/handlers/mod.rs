//! Request handlers: parse, call the layer that knows, answer. Shared helpers live here; the
//! handlers are grouped by who calls them.

mod admin;
mod commands;
mod history;
mod reads;
mod session;
mod sso;

pub use admin::*;
pub use commands::*;
pub use history::*;
pub use reads::*;
pub use session::*;
pub use sso::*;

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;

use super::answers::*;
use super::client::ClientAddress;
use super::{ApiError, AppState, CurrentViewer, SESSION_COOKIE};
use crate::auth::{
    SESSION_ABSOLUTE, SessionRecord, new_session_token, token_hash, verify_password,
};
use crate::domain::{Event, Metadata, NewEvent, normalize_email};
use crate::projections::LoginStatus;
use crate::queries::{self, DashboardQuery, OpportunityFilter, OwnerFilter, SortKey, StatusFilter};

// Named by the handlers' OpenAPI annotations.
use crate::queries::{
    DashboardReport, FilterOptions, OpportunityDetail, OpportunityPage, TrendsReport,
};
use crate::store::{CommandBatch, Store};
use crate::sync::RunRequest;

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
    body.map(|Json(value)| value).map_err(|rejection| {
        // A body the client sent too slowly surfaces as a failure to read it.
        let mut source: Option<&dyn std::error::Error> = Some(&rejection);
        while let Some(error) = source {
            if error.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::RequestTimeout("the request body took too long to arrive".into());
            }
            source = error.source();
        }
        ApiError::rejected(rejection.status(), rejection.body_text())
    })
}

#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "the data file cannot be read", body = Health),
    ),
)]
pub async fn health(State(state): State<AppState>) -> Response {
    let schedule = state.schedule.lock().map(|s| s.clone()).unwrap_or_default();
    let store = state.store.clone();
    let sync =
        tokio::task::spawn_blocking(move || store.read().and_then(|s| s.sync_status())).await;
    match sync {
        Ok(Ok(sync)) => Json(Health {
            status: "ok".into(),
            store: "ok".into(),
            sync: Some(HealthSync {
                configured: state.sync_configured,
                running: schedule.running,
                next_run_at: schedule.next_run_at,
                consecutive_failures: schedule.consecutive_failures,
                last_finished_at: schedule.last_finished_at,
                last_error: schedule.last_error,
                last_success_at: sync.last_success_at,
                last_failure_at: sync.last_failure_at,
            }),
        })
        .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
                store: "error".into(),
                sync: None,
            }),
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

/// A moment: an RFC 3339 timestamp, or a date for the end of that UTC day.
fn moment(params: &HashMap<String, String>, name: &str) -> Result<Option<Timestamp>, ApiError> {
    moment_read(params, name, crate::queries::history::parse_moment)
}

/// The start of a range: an RFC 3339 timestamp, or a date for the start of that UTC day.
fn range_start(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<Timestamp>, ApiError> {
    moment_read(params, name, crate::queries::history::parse_range_start)
}

fn moment_read(
    params: &HashMap<String, String>,
    name: &str,
    read: fn(&str) -> Option<Timestamp>,
) -> Result<Option<Timestamp>, ApiError> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|value| {
            read(value).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{name}: {value:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp"
                ))
            })
        })
        .transpose()
}

/// A parameter that is one of a few words: `read` turns it into a value, and a word it does not
/// know is refused with what the choices are (`choices`).
fn choice<T>(
    params: &HashMap<String, String>,
    name: &str,
    read: impl Fn(&str) -> Option<T>,
    choices: &str,
) -> Result<Option<T>, ApiError> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|text| {
            read(text)
                .ok_or_else(|| ApiError::BadRequest(format!("{name}: {text:?} is not {choices}")))
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

/// A command's `If-Match`, and its `Idempotency-Key` scoped to the caller and `route` and bound
/// to `request` (the path's ids and the body). The key is claimed while the command runs: keep the
/// returned claim until the answer is ready.
fn command_request(
    state: &AppState,
    headers: &HeaderMap,
    current: &CurrentViewer,
    route: &str,
    request: &impl serde::Serialize,
) -> Result<(crate::commands::Request, Option<super::idempotency::Claim>), ApiError> {
    let scoped =
        super::idempotency::scoped_key(headers, &current.viewer.login.email, route, request)?;
    let claim = scoped
        .as_ref()
        .map(|scoped| super::idempotency::claim(state, &scoped.key))
        .transpose()?;
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
    let (command_id, fingerprint) = match scoped {
        Some(scoped) => (Some(scoped.key), Some(scoped.fingerprint)),
        None => (None, None),
    };
    Ok((
        crate::commands::Request {
            expected_version,
            command_id,
            fingerprint,
        },
        claim,
    ))
}

fn appended(result: crate::store::Appended) -> Response {
    let version = result.versions.last().copied();
    let mut response = Json(super::answers::CommandOutcome {
        positions: result.positions,
        versions: result.versions,
        replayed: result.replayed,
    })
    .into_response();
    if let Some(version) = version.and_then(|v| HeaderValue::from_str(&format!("\"{v}\"")).ok()) {
        response.headers_mut().insert(header::ETAG, version);
    }
    response
}
