//! Admin-only: accounts, sync now, the audit log, backup, and verifying or rebuilding the views.

use super::*;

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
