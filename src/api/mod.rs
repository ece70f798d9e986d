//! The HTTP API: routes, the session extractor, CSRF and security headers. Handlers are thin: they
//! parse, call `queries`, `auth` or the store, and map errors in one place (`error`).

mod error;
mod handlers;
mod metrics;
pub mod openapi;

pub use metrics::RequestMetrics;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::auth::{SessionRecord, Throttle, Viewer, resolve_viewer, token_hash};
use crate::store::Store;
use crate::sync::schedule::{ScheduleState, SyncTrigger};

pub const SESSION_COOKIE: &str = "pipelog_session";

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Add `Secure` to cookies (serving over TLS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// The public base URL, e.g. `https://pipeline.example.com`, for Origin checks.
    pub base_url: Option<String>,
    /// Running on the built-in demo CRM.
    pub demo: bool,
    /// Dashboards flag data older than this as stale.
    pub stale_after: Duration,
}

/// Everything a request may need.
pub struct Shared {
    pub store: Arc<Store>,
    pub trigger: Arc<SyncTrigger>,
    pub schedule: Arc<Mutex<ScheduleState>>,
    pub sync_configured: bool,
    /// For write-backs (reassignments); `None` when no Odoo is configured.
    pub odoo: Option<Arc<crate::sync::odoo::OdooClient>>,
    pub options: ServerOptions,
    pub metrics: RequestMetrics,
    /// A one-time token for creating the first admin, and when it stops working.
    pub setup: Mutex<Option<(String, std::time::Instant)>>,
    pub account_throttle: Throttle,
    pub address_throttle: Throttle,
}

pub type AppState = Arc<Shared>;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(crate::web::index))
        .route("/assets/{*path}", get(crate::web::asset))
        .route("/healthz", get(handlers::health))
        .route("/metrics", get(metrics::render))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/auth/login", post(handlers::login))
        .route("/api/auth/logout", post(handlers::logout))
        .route("/api/me", get(handlers::me))
        .route("/api/dashboard", get(handlers::dashboard))
        .route("/api/dashboard/trends", get(handlers::trends))
        .route("/api/filters", get(handlers::filters))
        .route("/api/opportunities", get(handlers::opportunities))
        .route("/api/opportunities/{id}", get(handlers::opportunity))
        .route("/api/team", get(handlers::team))
        .route("/api/sync/status", get(handlers::sync_status))
        .route("/api/sync", post(handlers::sync_now))
        .route("/api/auth/signup", post(handlers::signup))
        .route("/api/setup", post(handlers::setup))
        .route("/api/admin/accounts", get(handlers::accounts))
        .route(
            "/api/admin/accounts/{email}/{action}",
            post(handlers::change_account),
        )
        .route("/api/users/{id}/manager", post(handlers::assign_manager))
        .route("/api/admin/overrides", get(handlers::overrides))
        .route(
            "/api/opportunities/{id}/assign",
            post(handlers::assign_opportunity),
        )
        .route("/api/events", get(handlers::events))
        .route("/api/admin/backup", get(handlers::backup))
        .route("/api/admin/verify", post(handlers::verify))
        .route("/api/admin/rebuild", post(handlers::rebuild))
        .layer(middleware::from_fn_with_state(state.clone(), csrf))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .with_state(state)
}

/// Refuses state-changing requests a browser sent from another site: `Sec-Fetch-Site` must be
/// same-origin (or absent, as from non-browser clients), and an `Origin`, if present, must match.
async fn csrf(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return Ok(next.run(request).await);
    }
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(ApiError::Forbidden(format!(
            "cross-site request refused (Sec-Fetch-Site: {site})"
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && !origin_allowed(origin, headers, state.options.base_url.as_deref())
    {
        return Err(ApiError::Forbidden(format!(
            "cross-site request refused (Origin: {origin})"
        )));
    }
    Ok(next.run(request).await)
}

fn origin_allowed(origin: &str, headers: &HeaderMap, base_url: Option<&str>) -> bool {
    let origin = origin.trim_end_matches('/');
    if let Some(base) = base_url {
        return origin.eq_ignore_ascii_case(base.trim_end_matches('/'));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    response
}

/// The signed-in viewer: a live session of an approved account.
pub struct CurrentViewer {
    pub viewer: Viewer,
    pub token_hash: String,
}

fn session_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

impl FromRequestParts<AppState> for CurrentViewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token =
            session_token(parts).ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
        let hash = token_hash(&token);
        let store = state.store.clone();
        tokio::task::spawn_blocking(move || {
            let snapshot = store.read()?;
            let session: SessionRecord = snapshot
                .session(&hash)?
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or_else(|| {
                    ApiError::Unauthorized("your session has ended; sign in again".into())
                })?;
            let now = jiff::Timestamp::now();
            if !session.is_live(now) {
                store.delete_session(&hash)?;
                return Err(ApiError::Unauthorized(
                    "your session has ended; sign in again".into(),
                ));
            }
            let viewer = resolve_viewer(&snapshot, &session.email)?.ok_or_else(|| {
                ApiError::Forbidden("this account is waiting for approval or disabled".into())
            })?;
            // Refresh the idle clock at most every few minutes: each refresh is a durable write.
            if now.duration_since(session.last_seen_at).as_secs() > 300 {
                let refreshed = SessionRecord {
                    last_seen_at: now,
                    ..session
                };
                store.put_session(
                    &hash,
                    &serde_json::to_vec(&refreshed).map_err(ApiError::internal)?,
                )?;
            }
            Ok(CurrentViewer {
                viewer,
                token_hash: hash,
            })
        })
        .await
        .map_err(ApiError::internal)?
    }
}

#[cfg(test)]
mod command_tests;
#[cfg(test)]
pub(super) mod tests;
