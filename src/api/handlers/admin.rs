//! Admin-only: accounts, sync now, the audit log, backup, and verifying or rebuilding the views.

use super::*;
use crate::api::answers::{
    AccountAction, AccountsPage, EventsPage, Overrides, Queued, Rebuilt, RoleRequest, SyncRequest,
    Verified,
};

#[utoipa::path(
    post, path = "/api/sync", tag = "admin", security(("session" = [])), request_body(content = Option<SyncRequest>, description = "optional"),
    responses(
        (status = 202, description = "queued (repeated requests merge into one run)", body = Queued),
        (status = 403, description = "admins only", body = ErrorBody),
    ),
)]
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
        backfill_history: request.backfill_history,
    });
    Ok((StatusCode::ACCEPTED, Json(Queued { queued: true })).into_response())
}

/// Accounts per page at most.
const MAX_ACCOUNTS_PER_PAGE: usize = 200;

/// Sign-in accounts, those waiting for approval first, then by email; paged, and narrowed by
/// `status` (pending, approved, disabled) and `q` (part of the email or name).
#[utoipa::path(
    get, path = "/api/admin/accounts", tag = "admin", security(("session" = [])),
    params(
        ("status" = Option<String>, Query, description = "pending, approved or disabled"),
        ("q" = Option<String>, Query, description = "part of the email or name"),
        ("page" = Option<u64>, Query, description = "from 1"),
        ("per_page" = Option<u64>, Query, description = "1 to 200 (default 50)"),
    ),
    responses((status = 200, description = "those waiting for approval first, then by email", body = AccountsPage), (status = 403, description = "admins only", body = ErrorBody)),
)]
pub async fn accounts(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    only(&params, &["page", "per_page", "status", "q"])?;
    let page: usize = parse(&params, "page")?.unwrap_or(1);
    let per_page: usize = parse(&params, "per_page")?.unwrap_or(50);
    if page == 0 || per_page == 0 || per_page > MAX_ACCOUNTS_PER_PAGE {
        return Err(ApiError::BadRequest(format!(
            "page starts at 1; per_page must be between 1 and {MAX_ACCOUNTS_PER_PAGE}"
        )));
    }
    let status = match params.get("status").map(String::as_str) {
        None | Some("") => None,
        Some("pending") => Some(LoginStatus::Pending),
        Some("approved") => Some(LoginStatus::Approved),
        Some("disabled") => Some(LoginStatus::Disabled),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status {other:?}: pending, approved or disabled"
            )));
        }
    };
    let needle = params.get("q").map(|q| q.trim().to_lowercase());
    let mut rows = blocking(&state, |store| {
        let snapshot = store.read()?;
        Ok(snapshot
            .views::<crate::projections::LoginView>(crate::projections::ViewTable::Logins)?)
    })
    .await?;
    rows.retain(|login| {
        status.is_none_or(|status| login.status == status)
            && needle.as_deref().is_none_or(|needle| {
                login.email.contains(needle) || login.name.to_lowercase().contains(needle)
            })
    });
    rows.sort_by(|a, b| {
        (a.status != LoginStatus::Pending, &a.email)
            .cmp(&(b.status != LoginStatus::Pending, &b.email))
    });
    let total = rows.len();
    let shown: Vec<_> = rows
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    Ok(Json(AccountsPage {
        accounts: shown,
        total,
        page,
        per_page,
    })
    .into_response())
}

#[utoipa::path(
    get, path = "/api/admin/overrides", tag = "admin", security(("session" = [])),
    responses((status = 200, body = Overrides), (status = 403, description = "admins only", body = ErrorBody)),
)]
pub async fn overrides(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    let rows = blocking(&state, |store| {
        Ok(queries::manager_overrides(&store.read()?)?)
    })
    .await?;
    Ok(Json(Overrides { overrides: rows }).into_response())
}

#[utoipa::path(
    post, path = "/api/admin/accounts/{email}/{action}", tag = "admin", security(("session" = [])),
    params(
        ("email" = String, Path),
        ("action" = AccountAction, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "a retry of the same request returns the first answer and changes nothing; the key belongs to you and this route"),
        ("If-Match" = Option<String>, Header, description = "the version you saw (ETag); a stale one answers 409 with the current version"),
    ),
    request_body(content = Option<RoleRequest>, description = "with `role` only"),
    responses(
        (status = 200, body = CommandOutcome, headers(("ETag" = String, description = "the account's version"))),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "not found, or not within your reach", body = ErrorBody),
        (status = 409, description = "a stale If-Match, or the same key still running", body = ErrorBody),
        (status = 422, description = "the Idempotency-Key was used for another request", body = ErrorBody),
    ),
)]
pub async fn change_account(
    State(state): State<AppState>,
    current: CurrentViewer,
    Path((email, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<RoleRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    use crate::commands::AccountChange;
    let parsed: AccountAction = serde_json::from_value(serde_json::Value::String(action.clone()))
        .map_err(|_| {
        ApiError::BadRequest(format!(
            "unknown action {action:?}: approve, disable or role"
        ))
    })?;
    let (change, role) = match parsed {
        AccountAction::Approve => (AccountChange::Approve, None),
        AccountAction::Disable => (AccountChange::Disable, None),
        AccountAction::Role => {
            let role = json_body(body)?.role;
            (AccountChange::Role(role), Some(role))
        }
    };
    let (request, _claim) = command_request(
        &state,
        &headers,
        &current,
        "POST /api/admin/accounts/{email}/{action}",
        &(&email, &action, role),
    )?;
    let viewer = current.viewer;
    let result = blocking(&state, move |store| {
        Ok(crate::commands::change_account(
            store, &viewer, &email, change, &request,
        )?)
    })
    .await?;
    Ok(appended(result))
}

#[utoipa::path(
    get, path = "/api/events", tag = "admin", security(("session" = [])),
    params(
        ("after" = Option<u64>, Query, description = "events after this position (default 0)"),
        ("limit" = Option<u64>, Query, description = "1 to 1000 (default 100)"),
    ),
    responses((status = 200, body = EventsPage), (status = 403, description = "admins only", body = ErrorBody)),
)]
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
    Ok(Json(EventsPage {
        events,
        next_after: next,
    })
    .into_response())
}

/// Streams a consistent copy of the data file. The copy is taken into a private scratch file that
/// is unlinked as soon as it is open, so it never outlives the download; at most
/// [`BACKUP_DOWNLOADS`](crate::api::BACKUP_DOWNLOADS) run at once.
#[utoipa::path(
    get, path = "/api/admin/backup", tag = "admin", security(("session" = [])),
    responses(
        (status = 200, description = "a consistent copy of the data file (sessions left out), streamed", body = [u8], content_type = "application/octet-stream"),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 503, description = "two downloads are running already", body = ErrorBody),
    ),
)]
pub async fn backup(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    require_admin(&current)?;
    let permit = state
        .guards
        .downloads
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::Unavailable(
                "other backup downloads are running; try again when one has finished".into(),
            )
        })?;
    let file = blocking(&state, |store| {
        let dir = tempfile_dir()?;
        let path = dir.join("backup.redb");
        let opened = store
            .backup(&path)
            .map_err(ApiError::internal)
            .and_then(|_| std::fs::File::open(&path).map_err(ApiError::internal));
        let _ = std::fs::remove_dir_all(&dir);
        opened
    })
    .await?;
    let length = file.metadata().map_err(ApiError::internal)?.len();
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(PermitHolding {
        file: tokio::fs::File::from_std(file),
        _permit: permit,
    }));
    let name = format!(
        "attachment; filename=\"pipelog-{}.redb\"",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
    );
    let disposition =
        HeaderValue::from_str(&name).unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}

/// The backup file being streamed, holding its download slot until the stream is dropped.
struct PermitHolding {
    file: tokio::fs::File,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl tokio::io::AsyncRead for PermitHolding {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.file).poll_read(cx, buf)
    }
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

/// How many view differences a verify answer lists (the total is always given).
const DIFFERENCES_SHOWN: usize = 20;

#[utoipa::path(
    post, path = "/api/admin/verify", tag = "admin", security(("session" = [])),
    responses((status = 200, body = Verified), (status = 403, description = "admins only", body = ErrorBody)),
)]
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
    Ok(Json(Verified {
        clean: report.is_clean(),
        events: report.events,
        rows_checked: report.rows_checked,
        differences_total: report.differences.len(),
        differences: shown,
        problems: report.problems,
    })
    .into_response())
}

#[utoipa::path(
    post, path = "/api/admin/rebuild", tag = "admin", security(("session" = [])),
    responses((status = 200, body = Rebuilt), (status = 403, description = "admins only", body = ErrorBody)),
)]
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
    Ok(Json(Rebuilt {
        events: report.events,
        rows: report.rows,
        seconds: report.total_seconds,
    })
    .into_response())
}
