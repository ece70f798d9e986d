//! History reads within the viewer's reach: the waterfall and its bars' deals, the trend and the
//! activity feed, slipped and stale deals, stage velocity. The pipeline as of a moment is the
//! dashboard's and the list's `as_of`.

use super::*;
use crate::queries::history::{
    ActivityPage, ActivityQuery, Bar, Every, RangeQuery, SlippedReport, StaleQuery, StaleReport,
    TrendQuery, TrendReport, VelocityReport, WaterfallDeals, WaterfallQuery, WaterfallReport,
};

const WATERFALL_PARAMETERS: &[&str] = &["user", "team", "from", "to", "close_from", "close_to"];

fn required<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::BadRequest(format!("{name} is required")))
}

fn waterfall_query(params: &HashMap<String, String>) -> Result<WaterfallQuery, ApiError> {
    Ok(WaterfallQuery {
        user: parse(params, "user")?,
        team: parse(params, "team")?,
        from: required(range_start(params, "from")?, "from")?,
        to: moment(params, "to")?.unwrap_or_else(Timestamp::now),
        close_from: required(parse(params, "close_from")?, "close_from")?,
        close_to: required(parse(params, "close_to")?, "close_to")?,
    })
}

#[utoipa::path(
    get, path = "/api/history/waterfall", tag = "history", security(("session" = [])),
    params(
        ("from" = String, Query, description = "the opening moment: a date (the start of that UTC day) or an RFC 3339 timestamp"),
        ("to" = Option<String>, Query, description = "the closing moment: a date (the end of that UTC day) or a timestamp (default: now)"),
        ("close_from" = String, Query, format = Date, description = "the closing window's first day"),
        ("close_to" = String, Query, format = Date, description = "the closing window's last day"),
        ("user" = Option<u64>, Query, description = "someone within your reach (default: yourself)"),
        ("team" = Option<u64>, Query, description = "only deals of this team (at each moment)"),
    ),
    responses((status = 200, body = WaterfallReport), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
pub async fn waterfall(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only(&params, WATERFALL_PARAMETERS)?;
    let query = waterfall_query(&params)?;
    let viewer = current.viewer;
    let report = blocking(&state, move |store| {
        Ok(queries::history::waterfall(
            &store.read()?,
            &viewer,
            &query,
        )?)
    })
    .await?;
    Ok(Json(report).into_response())
}

#[utoipa::path(
    get, path = "/api/history/waterfall/deals", tag = "history", security(("session" = [])),
    params(
        ("bar" = String, Query, description = "opening, closing or a movement (created, pulled_in, first_known, value_increased, restored, reopened, moved_in, value_decreased, pushed_out, won, lost, moved_out, removed)"),
        ("currency" = String, Query, description = "ISO currency code"),
        ("from" = String, Query, description = "as for the waterfall"),
        ("to" = Option<String>, Query, description = "as for the waterfall"),
        ("close_from" = String, Query, format = Date, description = "as for the waterfall"),
        ("close_to" = String, Query, format = Date, description = "as for the waterfall"),
        ("user" = Option<u64>, Query, description = "as for the waterfall"),
        ("team" = Option<u64>, Query, description = "as for the waterfall"),
    ),
    responses((status = 200, body = WaterfallDeals), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
pub async fn waterfall_deals(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let mut known = WATERFALL_PARAMETERS.to_vec();
    known.extend(["bar", "currency"]);
    only(&params, &known)?;
    let query = waterfall_query(&params)?;
    let bar = choice(
        &params,
        "bar",
        Bar::parse,
        "opening, closing or a movement of the waterfall",
    )?;
    let bar = required(bar, "bar")?;
    let currency = required(params.get("currency").cloned(), "currency")?;
    let viewer = current.viewer;
    let deals = blocking(&state, move |store| {
        Ok(queries::history::waterfall_deals(
            &store.read()?,
            &viewer,
            &query,
            bar,
            &currency,
        )?)
    })
    .await?;
    Ok(Json(deals).into_response())
}

#[utoipa::path(
    get, path = "/api/history/trend", tag = "history", security(("session" = [])),
    params(
        ("from" = String, Query, format = Date, description = "the first day"),
        ("to" = Option<String>, Query, format = Date, description = "the last day (default: today)"),
        ("every" = Option<String>, Query, description = "day, week (from Monday) or month (default: day)"),
        ("user" = Option<u64>, Query, description = "someone within your reach (default: yourself)"),
        ("team" = Option<u64>, Query, description = "only deals of this team (at each moment)"),
    ),
    responses((status = 200, body = TrendReport), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
pub async fn history_trend(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only(&params, &["user", "team", "from", "to", "every"])?;
    let today = crate::projections::history::utc_day(Timestamp::now());
    let query = TrendQuery {
        user: parse(&params, "user")?,
        team: parse(&params, "team")?,
        from: required(parse(&params, "from")?, "from")?,
        to: parse(&params, "to")?.unwrap_or(today),
        every: choice(&params, "every", Every::parse, "day, week or month")?.unwrap_or(Every::Day),
    };
    let viewer = current.viewer;
    let report = blocking(&state, move |store| {
        Ok(queries::history::trend(&store.read()?, &viewer, &query)?)
    })
    .await?;
    Ok(Json(report).into_response())
}

#[utoipa::path(
    get, path = "/api/history/activity", tag = "history", security(("session" = [])),
    params(
        ("user" = Option<u64>, Query, description = "someone within your reach (default: yourself)"),
        ("own" = Option<bool>, Query, description = "only that person's own deals, not their team's"),
        ("page" = Option<u64>, Query, description = "from 1"),
        ("per_page" = Option<u64>, Query, description = "1 to 500 (default 50)"),
    ),
    responses((status = 200, body = ActivityPage), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
pub async fn history_activity(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only(&params, &["user", "own", "page", "per_page"])?;
    let query = ActivityQuery {
        user: parse(&params, "user")?,
        own_only: parse(&params, "own")?.unwrap_or(false),
        page: parse(&params, "page")?.unwrap_or(1),
        per_page: parse(&params, "per_page")?.unwrap_or(50),
    };
    let viewer = current.viewer;
    let page = blocking(&state, move |store| {
        Ok(queries::history::activity(&store.read()?, &viewer, &query)?)
    })
    .await?;
    Ok(Json(page).into_response())
}

/// Whose deals and from when to when: `from` (default: `default_days` before `to`) and `to`
/// (default: now).
fn range_query(
    params: &HashMap<String, String>,
    default_days: i64,
) -> Result<RangeQuery, ApiError> {
    only(params, &["user", "team", "from", "to"])?;
    let to = moment(params, "to")?.unwrap_or_else(Timestamp::now);
    let from = match range_start(params, "from")? {
        Some(from) => from,
        None => to - jiff::SignedDuration::from_hours(24 * default_days),
    };
    Ok(RangeQuery {
        user: parse(params, "user")?,
        team: parse(params, "team")?,
        from,
        to,
    })
}

#[utoipa::path(
    get, path = "/api/history/slipped", tag = "history", security(("session" = [])),
    params(
        ("from" = Option<String>, Query, description = "slips from this moment (default: 90 days before `to`)"),
        ("to" = Option<String>, Query, description = "until this moment (default: now); overdue deals are those open then"),
        ("user" = Option<u64>, Query, description = "someone within your reach (default: yourself)"),
        ("team" = Option<u64>, Query, description = "only deals of this team (at each moment)"),
    ),
    responses((status = 200, body = SlippedReport), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
pub async fn history_slipped(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = range_query(&params, 90)?;
    let viewer = current.viewer;
    let report = blocking(&state, move |store| {
        Ok(queries::history::slipped(&store.read()?, &viewer, &query)?)
    })
    .await?;
    Ok(Json(report).into_response())
}

#[utoipa::path(
    get, path = "/api/history/stale", tag = "history", security(("session" = [])),
    params(
        ("user" = Option<u64>, Query, description = "someone within your reach (default: yourself)"),
        ("team" = Option<u64>, Query, description = "only deals of this team"),
    ),
    responses((status = 200, body = StaleReport), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
pub async fn history_stale(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    only(&params, &["user", "team"])?;
    let query = StaleQuery {
        user: parse(&params, "user")?,
        team: parse(&params, "team")?,
        now: Timestamp::now(),
    };
    let viewer = current.viewer;
    let rules = state.options.stale_rules.clone();
    let report = blocking(&state, move |store| {
        Ok(queries::history::stale(
            &store.read()?,
            &viewer,
            &query,
            &rules,
        )?)
    })
    .await?;
    Ok(Json(report).into_response())
}

#[utoipa::path(
    get, path = "/api/history/velocity", tag = "history", security(("session" = [])),
    params(
        ("from" = Option<String>, Query, description = "from this moment (default: a year before `to`)"),
        ("to" = Option<String>, Query, description = "until this moment (default: now)"),
        ("user" = Option<u64>, Query, description = "someone within your reach (default: yourself)"),
        ("team" = Option<u64>, Query, description = "only deals of this team (at each moment)"),
    ),
    responses((status = 200, body = VelocityReport), (status = 404, description = "not found, or not within your reach", body = ErrorBody)),
)]
pub async fn history_velocity(
    State(state): State<AppState>,
    current: CurrentViewer,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = range_query(&params, 365)?;
    let viewer = current.viewer;
    let report = blocking(&state, move |store| {
        Ok(queries::history::velocity(&store.read()?, &viewer, &query)?)
    })
    .await?;
    Ok(Json(report).into_response())
}
