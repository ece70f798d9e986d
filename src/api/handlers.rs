//! Request handlers: parse, call the layer that knows, answer.

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// A hash to verify against when the account does not exist, so both failures take as long.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$dGhpcyBpcyBub3QgYSByZWFsIGhhc2ggYXQgYWxsIQ";

fn session_cookie(state: &AppState, token: &str, max_age: u64) -> HeaderValue {
    let secure = if state.options.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&cookie)
        .unwrap_or_else(|_| HeaderValue::from_static("pipelog_session=; Max-Age=0"))
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(body)?;
    let email = normalize_email(&request.email);
    for (throttle, key) in [
        (&state.account_throttle, &email),
        (&state.address_throttle, &address),
    ] {
        throttle
            .check(key)
            .map_err(|wait| ApiError::TooManyRequests {
                retry_after_seconds: wait.as_secs().max(1),
            })?;
    }
    let previous = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            pair.trim()
                .strip_prefix(&format!("{SESSION_COOKIE}="))
                .map(str::to_string)
        })
        .next();
    let task_state = state.clone();
    let outcome = blocking(&state, move |store| {
        let snapshot = store.read()?;
        let login = snapshot.login(&email)?;
        let stored = snapshot.credential(&email)?;
        let valid = verify_password(stored.as_deref().unwrap_or(DUMMY_HASH), &request.password)
            && stored.is_some();
        let Some(login) = login.filter(|_| valid) else {
            task_state.account_throttle.failed(&email);
            task_state.address_throttle.failed(&address);
            return Err(ApiError::Unauthorized("wrong email or password".into()));
        };
        match login.status {
            LoginStatus::Pending => {
                return Err(ApiError::Forbidden(
                    "your account is waiting for an admin's approval".into(),
                ));
            }
            LoginStatus::Disabled => {
                return Err(ApiError::Forbidden(
                    "your account is disabled; ask an admin".into(),
                ));
            }
            LoginStatus::Approved => {}
        }
        task_state.account_throttle.succeeded(&email);
        task_state.address_throttle.succeeded(&address);
        // A new session id at every sign-in: a session planted before sign-in is worthless.
        if let Some(old) = previous {
            store.delete_session(&token_hash(&old))?;
        }
        let token = new_session_token();
        let now = jiff::Timestamp::now();
        let session = SessionRecord {
            email: email.clone(),
            created_at: now,
            last_seen_at: now,
        };
        store.put_session(
            &token_hash(&token),
            &serde_json::to_vec(&session).map_err(ApiError::internal)?,
        )?;
        let metadata = Metadata {
            actor: Some(email.clone()),
            source: Some("api".into()),
            ..Metadata::default()
        };
        store.append(CommandBatch::new(vec![
            NewEvent::new(Event::UserLoggedIn {
                email: email.clone(),
            })
            .with_metadata(metadata),
        ]))?;
        Ok((token, login))
    })
    .await?;
    let (token, login) = outcome;
    let mut response =
        Json(json!({"email": login.email, "name": login.name, "role": login.role})).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&state, &token, SESSION_ABSOLUTE.as_secs()),
    );
    Ok(response)
}

pub async fn logout(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    let hash = current.token_hash.clone();
    blocking(&state, move |store| Ok(store.delete_session(&hash)?)).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    Ok(response)
}

pub async fn me(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    let viewer = current.viewer;
    let user = viewer.user_id();
    let profile = blocking(&state, move |store| {
        Ok(match user {
            Some(user) => store.read()?.profile(user)?,
            None => None,
        })
    })
    .await?;
    Ok(Json(json!({
        "email": viewer.login.email,
        "name": viewer.login.name,
        "role": viewer.login.role,
        "is_admin": viewer.is_admin(),
        "user_id": user,
        "manager_id": profile.as_ref().and_then(|p| p.manager_id),
        "direct_reports": profile.as_ref().map(|p| p.direct_reports.clone()).unwrap_or_default(),
        "is_manager": profile.as_ref().is_some_and(|p| p.is_manager),
        "job_title": profile.as_ref().and_then(|p| p.job_title.clone()),
        "demo": state.options.demo,
        "sync_configured": state.sync_configured,
    }))
    .into_response())
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

pub async fn dashboard(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = dashboard_query(&state, &params)?;
    let viewer = current.viewer;
    let mut report = blocking(&state, move |store| {
        Ok(queries::dashboard(&store.read()?, &viewer, &query)?)
    })
    .await?;
    report.data_freshness.next_sync_at = state
        .schedule
        .lock()
        .map(|s| s.next_run_at)
        .unwrap_or_default();
    Ok(Json(report).into_response())
}

/// The dashboard's filters, shared by its figures and its trends (which show every month, so
/// they take the period but do not narrow to it).
fn dashboard_query(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<DashboardQuery, ApiError> {
    only(params, &["user", "team", "stage", "from", "to"])?;
    Ok(DashboardQuery {
        user: parse(params, "user")?,
        team: parse(params, "team")?,
        stage: parse(params, "stage")?,
        from: parse::<Date>(params, "from")?,
        to: parse::<Date>(params, "to")?,
        stale_after_seconds: state.options.stale_after.as_secs(),
    })
}

pub async fn filters(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    let viewer = current.viewer;
    let options = blocking(&state, move |store| {
        Ok(queries::filter_options(&store.read()?, &viewer)?)
    })
    .await?;
    Ok(Json(options).into_response())
}

fn opportunity_filter(params: &HashMap<String, String>) -> Result<OpportunityFilter, ApiError> {
    only(
        params,
        &[
            "stage",
            "salesperson",
            "team",
            "status",
            "q",
            "close_from",
            "close_to",
            "sort",
            "page",
            "per_page",
            "include_leads",
            "user",
            "closed_from",
            "closed_to",
        ],
    )?;
    let status = match params.get("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(StatusFilter::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status: {text:?} is not open, won, lost, active (open or won) or closed (won or lost)"
            ))
        })?),
    };
    let (sort, descending) = match params.get("sort").filter(|s| !s.is_empty()) {
        Some(text) => SortKey::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!("sort: {text:?} is not one of expected_close, revenue, name, stage, salesperson (prefix - for descending)"))
        })?,
        None => (SortKey::ExpectedClose, false),
    };
    Ok(OpportunityFilter {
        stage: parse(params, "stage")?,
        salesperson: parse(params, "salesperson")?,
        team: parse(params, "team")?,
        status,
        close_from: parse(params, "close_from")?,
        close_to: parse(params, "close_to")?,
        user: parse(params, "user")?,
        closed_from: parse(params, "closed_from")?,
        closed_to: parse(params, "closed_to")?,
        text: params
            .get("q")
            .filter(|q| !q.trim().is_empty())
            .map(|q| q.trim().to_string()),
        include_leads: parse(params, "include_leads")?.unwrap_or(false),
        sort,
        descending,
        page: parse(params, "page")?.unwrap_or(1),
        per_page: parse(params, "per_page")?.unwrap_or(50),
    })
}

pub async fn opportunities(
    State(state): State<AppState>,
    current: CurrentViewer,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filter = opportunity_filter(&params)?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    let viewer = current.viewer;
    if wants_csv {
        let csv = blocking(&state, move |store| {
            let rows = queries::all_opportunities(&store.read()?, &viewer, &filter)?;
            Ok(queries::to_csv(&rows))
        })
        .await?;
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"opportunities.csv\"",
                ),
            ],
            csv,
        )
            .into_response());
    }
    let page = blocking(&state, move |store| {
        Ok(queries::list_opportunities(
            &store.read()?,
            &viewer,
            &filter,
        )?)
    })
    .await?;
    Ok(Json(page).into_response())
}

pub async fn opportunity(
    State(state): State<AppState>,
    current: CurrentViewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not an opportunity id")))?;
    let viewer = current.viewer;
    let detail = blocking(&state, move |store| {
        Ok(queries::opportunity_detail(&store.read()?, &viewer, id)?)
    })
    .await?;
    Ok(Json(detail).into_response())
}

pub async fn team(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    let viewer = current.viewer;
    let tree = blocking(&state, move |store| {
        Ok(queries::team(&store.read()?, &viewer)?)
    })
    .await?;
    Ok(Json(json!({"team": tree})).into_response())
}

pub async fn sync_status(
    State(state): State<AppState>,
    _current: CurrentViewer,
) -> Result<Response, ApiError> {
    let schedule = state.schedule.lock().map(|s| s.clone()).unwrap_or_default();
    let status = blocking(&state, |store| Ok(store.read()?.sync_status()?)).await?;
    Ok(
        Json(json!({"configured": state.sync_configured, "schedule": schedule, "history": status}))
            .into_response(),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    #[serde(default)]
    full: bool,
    #[serde(default)]
    allow_mass_delete: bool,
}

pub async fn sync_now(
    State(state): State<AppState>,
    current: CurrentViewer,
    body: Result<Json<SyncRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !current.viewer.is_admin() {
        return Err(ApiError::Forbidden("only admins can start a sync".into()));
    }
    if !state.sync_configured {
        return Err(ApiError::BadRequest(
            "no Odoo is configured: set PIPELOG_ODOO_URL and restart".into(),
        ));
    }
    let request = match body {
        Ok(Json(request)) => request,
        Err(JsonRejection::MissingJsonContentType(_)) => SyncRequest::default(),
        Err(other) => return Err(ApiError::BadRequest(other.body_text())),
    };
    state.trigger.request(RunRequest {
        full: request.full,
        allow_mass_delete: request.allow_mass_delete,
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"queued": true}))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    email: String,
    name: String,
    password: String,
}

/// A new account waits for an admin. The answer is the same whether or not the email was known.
pub async fn signup(
    State(state): State<AppState>,
    body: Result<Json<SignupRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(body)?;
    let email = normalize_email(&request.email);
    if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        return Err(ApiError::BadRequest(format!(
            "{:?} is not an email address",
            request.email
        )));
    }
    if request.password.chars().count() < crate::auth::MIN_PASSWORD_LENGTH {
        return Err(ApiError::BadRequest(format!(
            "the password must be at least {} characters long",
            crate::auth::MIN_PASSWORD_LENGTH
        )));
    }
    if request.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name is required".into()));
    }
    blocking(&state, move |store| {
        if store.read()?.login(&email)?.is_some() {
            return Ok(());
        }
        let hash = crate::auth::hash_password(&request.password).map_err(ApiError::internal)?;
        store.set_credential(&email, &hash)?;
        let metadata = Metadata {
            actor: Some(email.clone()),
            source: Some("api".into()),
            ..Metadata::default()
        };
        let event = Event::UserRegistered {
            email,
            name: request.name.trim().to_string(),
            role: crate::domain::Role::Member,
            approved: false,
        };
        store.append(CommandBatch::new(vec![
            NewEvent::new(event).with_metadata(metadata),
        ]))?;
        Ok(())
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "pending", "message": "an admin has to approve the account before it can sign in"}))).into_response())
}

fn require_admin(current: &CurrentViewer) -> Result<(), ApiError> {
    if current.viewer.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only admins can do this".into()))
    }
}

pub async fn accounts(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    let rows = blocking(&state, |store| {
        let snapshot = store.read()?;
        Ok(snapshot
            .views::<crate::projections::LoginView>(crate::projections::ViewTable::Logins)?)
    })
    .await?;
    Ok(Json(json!({"accounts": rows})).into_response())
}

pub async fn overrides(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    let rows = blocking(&state, |store| {
        Ok(queries::manager_overrides(&store.read()?)?)
    })
    .await?;
    Ok(Json(json!({"overrides": rows})).into_response())
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    role: crate::domain::Role,
}

pub async fn change_account(
    State(state): State<AppState>,
    current: CurrentViewer,
    Path((email, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<RoleRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    use crate::commands::AccountChange;
    let change = match action.as_str() {
        "approve" => AccountChange::Approve,
        "disable" => AccountChange::Disable,
        "role" => AccountChange::Role(json_body(body)?.role),
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown action {other:?}: approve, disable or role"
            )));
        }
    };
    let request = command_request(&headers)?;
    let viewer = current.viewer;
    let result = blocking(&state, move |store| {
        Ok(crate::commands::change_account(
            store, &viewer, &email, change, &request,
        )?)
    })
    .await?;
    Ok(appended(result))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagerRequest {
    /// The new manager's user id, or null to follow Odoo again.
    manager: Option<u64>,
}

pub async fn assign_manager(
    State(state): State<AppState>,
    current: CurrentViewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<ManagerRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user: u64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not a user id")))?;
    let manager = json_body(body)?.manager;
    let request = command_request(&headers)?;
    let viewer = current.viewer;
    let result = blocking(&state, move |store| {
        Ok(crate::commands::assign_manager(
            store, &viewer, user, manager, &request,
        )?)
    })
    .await?;
    Ok(appended(result))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    salesperson: u64,
}

pub async fn assign_opportunity(
    State(state): State<AppState>,
    current: CurrentViewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<AssignRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let opportunity: u64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not an opportunity id")))?;
    let salesperson = json_body(body)?.salesperson;
    let request = command_request(&headers)?;
    let result = crate::commands::assign_opportunity(
        &state.store,
        state.odoo.as_deref(),
        &current.viewer,
        opportunity,
        salesperson,
        &request,
    )
    .await?;
    Ok(appended(result))
}

pub async fn events(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    only(&params, &["after", "limit"])?;
    let after: u64 = parse(&params, "after")?.unwrap_or(0);
    let limit: usize = parse(&params, "limit")?.unwrap_or(100);
    if limit == 0 || limit > 1_000 {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    let events = blocking(&state, move |store| {
        Ok(store.read()?.events_after(after, limit)?)
    })
    .await?;
    let next = events.last().map(|e| e.position);
    Ok(Json(json!({"events": events, "next_after": next})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    token: String,
    email: String,
    name: String,
    password: String,
}

/// Creates the first admin with the one-time token `serve` printed; the token then stops working.
pub async fn setup(
    State(state): State<AppState>,
    body: Result<Json<SetupRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = json_body(body)?;
    {
        let mut setup = state.setup.lock().unwrap_or_else(|p| p.into_inner());
        let valid = setup.as_ref().is_some_and(|(token, until)| {
            std::time::Instant::now() < *until
                && token.len() == request.token.len()
                && token
                    .bytes()
                    .zip(request.token.bytes())
                    .fold(0u8, |d, (a, b)| d | (a ^ b))
                    == 0
        });
        if !valid {
            return Err(ApiError::Forbidden(
                "this setup link is not valid (used, expired, or mistyped)".into(),
            ));
        }
        *setup = None;
    }
    let email = normalize_email(&request.email);
    if !email.contains('@')
        || request.password.chars().count() < crate::auth::MIN_PASSWORD_LENGTH
        || request.name.trim().is_empty()
    {
        // Put nothing back: a new token needs a restart, so a mistake costs one restart, not a leak.
        return Err(ApiError::BadRequest(format!(
            "an email, a name and a password of at least {} characters are needed; restart pipelog for a new link",
            crate::auth::MIN_PASSWORD_LENGTH
        )));
    }
    blocking(&state, move |store| {
        let hash = crate::auth::hash_password(&request.password).map_err(ApiError::internal)?;
        store.set_credential(&email, &hash)?;
        let metadata = Metadata {
            actor: Some(email.clone()),
            source: Some("setup".into()),
            ..Metadata::default()
        };
        let event = Event::UserRegistered {
            email,
            name: request.name.trim().to_string(),
            role: crate::domain::Role::Admin,
            approved: true,
        };
        store.append(CommandBatch::new(vec![
            NewEvent::new(event).with_metadata(metadata),
        ]))?;
        Ok(())
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"status": "created", "message": "sign in with the new admin account"})),
    )
        .into_response())
}

/// Streams a consistent copy of the data file.
pub async fn backup(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    let bytes = blocking(&state, |store| {
        let dir = tempfile_dir()?;
        let path = dir.join("backup.redb");
        let taken = store.backup(&path).map_err(ApiError::internal);
        let bytes = taken.and_then(|_| std::fs::read(&path).map_err(ApiError::internal));
        let _ = std::fs::remove_dir_all(&dir);
        bytes
    })
    .await?;
    let name = format!(
        "attachment; filename=\"pipelog-{}.redb\"",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
    );
    let disposition =
        HeaderValue::from_str(&name).unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        bytes,
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}

/// A private scratch directory for one backup.
fn tempfile_dir() -> Result<std::path::PathBuf, ApiError> {
    let dir =
        std::env::temp_dir().join(format!("pipelog-backup-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir(&dir).map_err(ApiError::internal)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(ApiError::internal)?;
    Ok(dir)
}

pub async fn trends(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = dashboard_query(&state, &params)?;
    let viewer = current.viewer;
    let report = blocking(&state, move |store| {
        Ok(queries::trends(&store.read()?, &viewer, &query)?)
    })
    .await?;
    Ok(Json(report).into_response())
}

/// How many view differences a verify answer lists (the total is always given).
const DIFFERENCES_SHOWN: usize = 20;

pub async fn verify(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    let report = blocking(&state, |store| Ok(store.verify(&mut |_| {})?)).await?;
    let shown: Vec<String> = report
        .differences
        .iter()
        .take(DIFFERENCES_SHOWN)
        .map(ToString::to_string)
        .collect();
    Ok(Json(json!({
        "clean": report.is_clean(),
        "events": report.events,
        "rows_checked": report.rows_checked,
        "differences_total": report.differences.len(),
        "differences": shown,
        "problems": report.problems,
    }))
    .into_response())
}

pub async fn rebuild(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    let report = blocking(&state, |store| Ok(store.rebuild(&mut |_| {})?)).await?;
    tracing::info!(
        by = %current.viewer.login.email,
        events = report.events,
        rows = report.rows,
        seconds = report.total_seconds,
        "views rebuilt from the log"
    );
    Ok(Json(json!({
        "events": report.events,
        "rows": report.rows,
        "seconds": report.total_seconds,
    }))
    .into_response())
}
