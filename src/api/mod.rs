//! The HTTP API: routes, the session extractor, CSRF and security headers. Handlers are thin: they
//! parse, call `queries`, `auth` or the store, and map errors in one place (`error`).

pub mod answers;
mod client;
mod error;
mod handlers;
mod idempotency;
mod layers;
mod metrics;
pub mod openapi;
mod server;

pub use metrics::RequestMetrics;
pub use server::{ConnectionLimits, serve};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::auth::{
    SessionRecord, SignInThrottle, SignUpLimits, Viewer, resolve_viewer, token_hash,
};
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
    /// The address the server listens on (`None` in process, with no socket): without a base URL,
    /// Origin checks accept it and loopback.
    pub listen: Option<std::net::SocketAddr>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client; from anyone else
    /// those headers are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// When an open deal is stale (`[history]` in the configuration).
    pub stale_rules: crate::queries::history::StaleRules,
}

impl ServerOptions {
    /// Options for a server with no socket and no proxies (tests, benches).
    pub fn for_tests() -> ServerOptions {
        ServerOptions {
            secure_cookies: false,
            base_url: None,
            demo: false,
            stale_after: Duration::from_secs(3_600),
            listen: None,
            trusted_proxies: Vec::new(),
            stale_rules: crate::queries::history::StaleRules::default(),
        }
    }
}

/// What keeps one client from starving the others: sign-in and sign-up throttles, the idempotency
/// keys being processed, and the slots for backup downloads.
pub struct Guards {
    pub sign_in: SignInThrottle,
    pub sign_up: SignUpLimits,
    /// Single sign-ons begun per client address: each holds server memory until it ends or expires.
    pub sso_starts: crate::auth::RateLimit,
    pub(crate) in_flight: idempotency::InFlight,
    /// A backup download copies the file to disk and streams it: at most this many at once.
    pub downloads: Arc<tokio::sync::Semaphore>,
}

/// Single sign-ons one client address may begin per window.
pub const SSO_STARTS_PER_ADDRESS: u32 = 60;
pub const SSO_STARTS_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Concurrent backup downloads allowed.
pub const BACKUP_DOWNLOADS: usize = 2;

impl Default for Guards {
    fn default() -> Self {
        Guards {
            sign_in: SignInThrottle::default(),
            sign_up: SignUpLimits::default(),
            sso_starts: crate::auth::RateLimit::new(SSO_STARTS_PER_ADDRESS, SSO_STARTS_WINDOW),
            in_flight: idempotency::InFlight::default(),
            downloads: Arc::new(tokio::sync::Semaphore::new(BACKUP_DOWNLOADS)),
        }
    }
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
    pub guards: Guards,
    /// Single sign-on, when `[sso]` is configured.
    pub sso: Option<Arc<crate::auth::oidc::SignOn>>,
}

pub type AppState = Arc<Shared>;

/// The largest body of a sign-in, sign-up or setup request (an email, a name and a password fit
/// in a few hundred bytes).
pub const SIGN_IN_BODY_LIMIT: usize = 4 * 1024;
/// The largest body of any other request (commands carry a few ids).
pub const BODY_LIMIT: usize = 16 * 1024;

pub fn router(state: AppState) -> Router {
    let small = || DefaultBodyLimit::max(SIGN_IN_BODY_LIMIT);
    Router::new()
        .route("/", get(crate::web::index))
        .route("/assets/{*path}", get(crate::web::asset))
        .route("/healthz", get(handlers::health))
        .route("/metrics", get(metrics::render))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/auth/login", post(handlers::login).layer(small()))
        .route("/api/auth/logout", post(handlers::logout))
        .route("/api/auth/options", get(handlers::sign_in_options))
        .route("/api/auth/sso/start", get(handlers::sso_start))
        .route("/api/auth/sso/callback", get(handlers::sso_callback))
        .route("/api/me", get(handlers::me))
        .route("/api/dashboard", get(handlers::dashboard))
        .route("/api/dashboard/trends", get(handlers::trends))
        .route("/api/history/waterfall", get(handlers::waterfall))
        .route(
            "/api/history/waterfall/deals",
            get(handlers::waterfall_deals),
        )
        .route("/api/history/trend", get(handlers::history_trend))
        .route("/api/history/activity", get(handlers::history_activity))
        .route("/api/history/slipped", get(handlers::history_slipped))
        .route("/api/history/stale", get(handlers::history_stale))
        .route("/api/history/velocity", get(handlers::history_velocity))
        .route("/api/filters", get(handlers::filters))
        .route("/api/opportunities", get(handlers::opportunities))
        .route("/api/opportunities/{id}", get(handlers::opportunity))
        .route("/api/team", get(handlers::team))
        .route("/api/sync/status", get(handlers::sync_status))
        .route("/api/sync", post(handlers::sync_now))
        .route("/api/auth/signup", post(handlers::signup).layer(small()))
        .route("/api/setup", post(handlers::setup).layer(small()))
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
        .fallback(layers::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), layers::csrf))
        .layer(middleware::from_fn(layers::errors_as_json))
        .layer(middleware::from_fn(layers::security_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .with_state(state)
}

/// The signed-in viewer: a live session of an approved account.
pub struct CurrentViewer {
    pub viewer: Viewer,
    pub token_hash: String,
    /// The OpenID provider the session was begun through, if any.
    pub provider: Option<String>,
}

/// The value of the cookie `name` a request carries, if not empty.
pub(crate) fn cookie_value(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.to_string())
        .filter(|value| !value.is_empty())
}

fn session_token(parts: &Parts) -> Option<String> {
    cookie_value(&parts.headers, SESSION_COOKIE)
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
            let provider = session.provider.clone();
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
                provider,
            })
        })
        .await
        .map_err(ApiError::internal)?
    }
}

#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod drill_tests;
#[cfg(test)]
pub(super) mod tests;
