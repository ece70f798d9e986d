//! Commands people give: manager overrides and reassignment (written to Odoo first).

use super::*;
use crate::api::answers::{AssignRequest, ManagerRequest};

#[utoipa::path(
    post, path = "/api/users/{id}/manager", tag = "admin", security(("session" = [])),
    params(
        ("id" = u64, Path, description = "the user's Odoo id"),
        ("Idempotency-Key" = Option<String>, Header, description = "a retry of the same request returns the first answer and changes nothing; the key belongs to you and this route"),
        ("If-Match" = Option<String>, Header, description = "the version you saw (ETag); a stale one answers 409 with the current version"),
    ),
    request_body = ManagerRequest,
    responses(
        (status = 200, body = CommandOutcome, headers(("ETag" = String, description = "the user's version"))),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "not found, or not within your reach", body = ErrorBody),
        (status = 409, description = "a stale If-Match, or the same key still running", body = ErrorBody),
        (status = 422, description = "the Idempotency-Key was used for another request", body = ErrorBody),
    ),
)]
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
    let (request, _claim) = command_request(
        &state,
        &headers,
        &current,
        "POST /api/users/{id}/manager",
        &(user, manager),
    )?;
    let viewer = current.viewer;
    let result = blocking(&state, move |store| {
        Ok(crate::commands::assign_manager(
            store, &viewer, user, manager, &request,
        )?)
    })
    .await?;
    Ok(appended(result))
}

#[utoipa::path(
    post, path = "/api/opportunities/{id}/assign", tag = "commands", security(("session" = [])),
    params(
        ("id" = u64, Path, description = "the opportunity's Odoo id"),
        ("Idempotency-Key" = Option<String>, Header, description = "a retry of the same request returns the first answer and changes nothing; the key belongs to you and this route"),
        ("If-Match" = Option<String>, Header, description = "the version you saw (ETag); a stale one answers 409 with the current version"),
    ),
    request_body = AssignRequest,
    responses(
        (status = 200, description = "written to Odoo, then recorded", body = CommandOutcome, headers(("ETag" = String, description = "the opportunity's version"))),
        (status = 403, description = "only managers (within their subtree) and admins", body = ErrorBody),
        (status = 404, description = "not found, or not within your reach", body = ErrorBody),
        (status = 409, description = "a stale If-Match, or the same key still running", body = ErrorBody),
        (status = 422, description = "the Idempotency-Key was used for another request", body = ErrorBody),
        (status = 502, description = "Odoo refused; nothing was recorded", body = ErrorBody),
    ),
)]
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
    let (request, _claim) = command_request(
        &state,
        &headers,
        &current,
        "POST /api/opportunities/{id}/assign",
        &(opportunity, salesperson),
    )?;
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
