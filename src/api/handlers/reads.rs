//! Reads within the viewer's reach: dashboards, trends, filter choices, opportunities, the team
//! and the sync status. Parameters are checked here; the answers come from `queries`.

use super::*;

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
