//! Reads within the viewer's reach: dashboards, trends, filter choices, opportunities, the team
//! and the sync status. Parameters are checked here; the answers come from `queries`.

use super::*;
use crate::api::answers::{DashboardFilters, SyncStatus, Team};

#[utoipa::path(
    get, path = "/api/dashboard", tag = "reads", security(("session" = [])),
    params(DashboardFilters),
    responses((status = 200, body = DashboardReport), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
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

/// The query parameters [`DashboardFilters`] describes.
pub const DASHBOARD_PARAMETERS: &[&str] = &["user", "team", "stage", "from", "to", "as_of"];

/// The dashboard's filters, shared by its figures and its trends (which show every month, so
/// they take the period but do not narrow to it).
fn dashboard_query(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<DashboardQuery, ApiError> {
    only(params, DASHBOARD_PARAMETERS)?;
    Ok(DashboardQuery {
        user: parse(params, "user")?,
        team: parse(params, "team")?,
        stage: parse(params, "stage")?,
        from: parse::<Date>(params, "from")?,
        to: parse::<Date>(params, "to")?,
        stale_after_seconds: state.options.stale_after.as_secs(),
        as_of: moment(params, "as_of")?,
    })
}

#[utoipa::path(
    get, path = "/api/filters", tag = "reads", security(("session" = [])),
    responses((status = 200, body = FilterOptions)),
)]
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
            "currency",
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
            "no_expected_close",
            "owner",
            "as_of",
        ],
    )?;
    let status = choice(
        params,
        "status",
        StatusFilter::parse,
        "open, won, lost, active (open or won) or closed (won or lost)",
    )?;
    let owner = choice(
        params,
        "owner",
        OwnerFilter::parse,
        "unassigned (no salesperson) or outside (a salesperson outside the hierarchy)",
    )?;
    let (sort, descending) = choice(
        params,
        "sort",
        SortKey::parse,
        "one of expected_close, revenue, name, stage, salesperson (prefix - for descending)",
    )?
    .unwrap_or((SortKey::ExpectedClose, false));
    Ok(OpportunityFilter {
        stage: parse(params, "stage")?,
        salesperson: parse(params, "salesperson")?,
        team: parse(params, "team")?,
        currency: params
            .get("currency")
            .filter(|c| !c.trim().is_empty())
            .map(|c| c.trim().to_uppercase()),
        status,
        owner,
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
        no_expected_close: parse(params, "no_expected_close")?.unwrap_or(false),
        as_of: moment(params, "as_of")?,
        sort,
        descending,
        page: parse(params, "page")?.unwrap_or(1),
        per_page: parse(params, "per_page")?.unwrap_or(50),
    })
}

#[utoipa::path(
    get, path = "/api/opportunities", tag = "reads", security(("session" = [])),
    params(
        ("status" = Option<String>, Query, description = "open, won, lost, active (open or won) or closed (won or lost)"),
        ("stage" = Option<u64>, Query, description = "stage id (0: without a stage)"),
        ("salesperson" = Option<u64>, Query, description = "the salesperson's own opportunities"),
        ("user" = Option<u64>, Query, description = "someone's whole reach"),
        ("team" = Option<u64>, Query, description = "team id"),
        ("currency" = Option<String>, Query, description = "ISO currency code, e.g. EUR"),
        ("q" = Option<String>, Query, description = "text in the name, account or salesperson"),
        ("close_from" = Option<String>, Query, format = Date, description = "expected close from (YYYY-MM-DD)"),
        ("close_to" = Option<String>, Query, format = Date, description = "expected close until"),
        ("closed_from" = Option<String>, Query, format = Date, description = "won or lost from"),
        ("closed_to" = Option<String>, Query, format = Date, description = "won or lost until"),
        ("include_leads" = Option<bool>, Query, description = "leads too, not only opportunities"),
        ("no_expected_close" = Option<bool>, Query, description = "only those without an expected close"),
        ("owner" = Option<String>, Query, description = "unassigned (no salesperson) or outside (a salesperson in no row of the everything dashboard's team table)"),
        ("as_of" = Option<String>, Query, description = "the deals as they were at this moment: a date (end of that UTC day) or an RFC 3339 timestamp"),
        ("sort" = Option<String>, Query, description = "expected_close, revenue, name, stage or salesperson; prefix - for descending"),
        ("page" = Option<u64>, Query, description = "from 1"),
        ("per_page" = Option<u64>, Query, description = "1 to 1000 (default 50)"),
    ),
    responses(
        (status = 200, description = "a page as JSON, or with `Accept: text/csv` every page as CSV", content(
            (OpportunityPage = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "not found, or not within your reach", body = ErrorBody),
    ),
)]
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

#[utoipa::path(
    get, path = "/api/opportunities/{id}", tag = "reads", security(("session" = [])),
    params(("id" = u64, Path, description = "the opportunity's Odoo id")),
    responses(
        (status = 200, body = OpportunityDetail, headers(("ETag" = String, description = "the opportunity's version, for If-Match"))),
        (status = 404, description = "not found, or not within your reach", body = ErrorBody),
    ),
)]
pub async fn opportunity(
    State(state): State<AppState>,
    current: CurrentViewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not an opportunity id")))?;
    let viewer = current.viewer;
    let mut detail = blocking(&state, move |store| {
        Ok(queries::opportunity_detail(&store.read()?, &viewer, id)?)
    })
    .await?;
    detail.odoo_url = state.odoo.as_ref().map(|odoo| odoo.lead_url(id));
    let etag = HeaderValue::from_str(&format!("\"{}\"", detail.version));
    let mut response = Json(detail).into_response();
    if let Ok(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

#[utoipa::path(
    get, path = "/api/team", tag = "reads", security(("session" = [])),
    responses((status = 200, body = Team)),
)]
pub async fn team(
    State(state): State<AppState>,
    current: CurrentViewer,
) -> Result<Response, ApiError> {
    let viewer = current.viewer;
    let tree = blocking(&state, move |store| {
        Ok(queries::team(&store.read()?, &viewer)?)
    })
    .await?;
    Ok(Json(Team { team: tree }).into_response())
}

#[utoipa::path(
    get, path = "/api/sync/status", tag = "reads", security(("session" = [])),
    responses((status = 200, body = SyncStatus)),
)]
pub async fn sync_status(
    State(state): State<AppState>,
    _current: CurrentViewer,
) -> Result<Response, ApiError> {
    let schedule = state.schedule.lock().map(|s| s.clone()).unwrap_or_default();
    let status = blocking(&state, |store| Ok(store.read()?.sync_status()?)).await?;
    Ok(Json(SyncStatus {
        configured: state.sync_configured,
        schedule,
        history: status,
    })
    .into_response())
}

#[utoipa::path(
    get, path = "/api/dashboard/trends", tag = "reads", security(("session" = [])),
    params(DashboardFilters),
    responses((status = 200, body = TrendsReport), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
pub async fn trends(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = dashboard_query(&state, &params)?;
    let viewer = current.viewer;
    let report = blocking(&state, move |store| {
        let today =
            crate::projections::history::utc_day(query.as_of.unwrap_or_else(jiff::Timestamp::now));
        Ok(queries::trends(&store.read()?, &viewer, &query, today)?)
    })
    .await?;
    Ok(Json(report).into_response())
}
