//! Commands people give: manager overrides and reassignment (written to Odoo first).

use super::*;

#[derive(Deserialize, Serialize)]
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

#[derive(Deserialize, Serialize)]
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
