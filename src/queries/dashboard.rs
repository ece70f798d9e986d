//! The dashboard: figures over everything a viewer (or a person within their reach) can see.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::{QueryError, amount};
use crate::auth::Viewer;
use crate::domain::OdooId;
use crate::projections::{
    Aggregate, DealStatus, EVERYTHING, OpportunityView, SyncOutcome, Totals, ViewTable,
};
use crate::store::Snapshot;

#[derive(Debug, Clone, Default)]
pub struct DashboardQuery {
    /// Someone within the viewer's reach; the viewer themselves when `None`.
    pub user: Option<OdooId>,
    /// Won revenue counts deals closed in this range (inclusive); all time when `None`.
    pub from: Option<Date>,
    pub to: Option<Date>,
    /// Data older than this is flagged stale.
    pub stale_after_seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageFigure {
    pub stage_id: OdooId,
    pub stage: String,
    pub sequence: i64,
    pub count: i64,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CurrencyFigures {
    pub pipeline_value: f64,
    pub weighted_pipeline_value: f64,
    pub won_revenue: f64,
    pub active_opportunities: i64,
    pub won_count: i64,
    pub lost_count: i64,
    pub win_rate_by_count: Option<f64>,
    pub win_rate_by_value: Option<f64>,
    pub average_deal_size: Option<f64>,
    pub by_stage: Vec<StageFigure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TeamMember {
    pub user_id: OdooId,
    pub name: String,
    pub currencies: BTreeMap<String, CurrencyFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Performer {
    pub user_id: OdooId,
    pub name: String,
    pub currency: String,
    pub won_revenue: f64,
    pub won_count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    pub last_sync_at: Option<Timestamp>,
    pub last_sync_failed: bool,
    pub last_error: Option<String>,
    pub stale: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DashboardReport {
    /// Whose figures these are; `None` for everything (admins).
    pub user_id: Option<OdooId>,
    pub name: String,
    pub is_manager: bool,
    /// Amounts per currency: never added across currencies.
    pub currencies: BTreeMap<String, CurrencyFigures>,
    pub team_metrics: Vec<TeamMember>,
    pub top_performers: Vec<Performer>,
    pub data_freshness: Freshness,
}

fn figures(
    totals: &Totals,
    stages: &BTreeMap<OdooId, (String, i64)>,
    won_in_range: Option<i64>,
) -> CurrencyFigures {
    let mut by_stage: Vec<StageFigure> = totals
        .by_stage
        .iter()
        .map(|(id, s)| {
            let (name, sequence) = stages
                .get(id)
                .cloned()
                .unwrap_or_else(|| ("(no stage)".into(), i64::MAX));
            StageFigure {
                stage_id: *id,
                stage: name,
                sequence,
                count: s.count,
                value: amount(s.value),
            }
        })
        .collect();
    by_stage.sort_by_key(|s| (s.sequence, s.stage_id));
    let deals = totals.open_count + totals.won_count;
    CurrencyFigures {
        pipeline_value: amount(totals.open_value),
        weighted_pipeline_value: amount(totals.weighted_value),
        won_revenue: amount(won_in_range.unwrap_or(totals.won_value)),
        active_opportunities: totals.open_count,
        won_count: totals.won_count,
        lost_count: totals.lost_count,
        win_rate_by_count: totals.win_rate_by_count(),
        win_rate_by_value: totals.win_rate_by_value(),
        average_deal_size: (deals > 0)
            .then(|| amount(totals.open_value + totals.won_value) / deals as f64),
        by_stage,
    }
}

fn all_figures(
    aggregate: &Aggregate,
    stages: &BTreeMap<OdooId, (String, i64)>,
    won: Option<&BTreeMap<String, i64>>,
) -> BTreeMap<String, CurrencyFigures> {
    aggregate
        .by_currency
        .iter()
        .map(|(currency, totals)| {
            let in_range = won.map(|w| w.get(currency).copied().unwrap_or(0));
            (currency.clone(), figures(totals, stages, in_range))
        })
        .collect()
}

/// Won revenue per currency for deals closed within `[from, to]`, over what `reach` accepts.
fn won_between(
    snapshot: &Snapshot,
    from: Date,
    to: Date,
    reach: impl Fn(&OpportunityView) -> bool,
) -> Result<BTreeMap<String, i64>, QueryError> {
    let mut won = BTreeMap::new();
    for view in snapshot.views::<OpportunityView>(ViewTable::Opportunities)? {
        let closed_in_range = view
            .date_closed
            .map(|at| at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())
            .is_some_and(|day| day >= from && day <= to);
        if view.kind == crate::domain::LeadKind::Opportunity
            && view.status == DealStatus::Won
            && closed_in_range
            && reach(&view)
        {
            *won.entry(view.currency.clone()).or_insert(0) += view.expected_revenue;
        }
    }
    Ok(won)
}

/// The owners whose opportunities count: everyone (`None`), or a subject's whole reach.
struct Reach(Option<Vec<OdooId>>);

impl Reach {
    fn of(snapshot: &Snapshot, subject: Option<OdooId>) -> Result<Reach, QueryError> {
        Ok(Reach(match subject {
            Some(user) => Some(
                snapshot
                    .access(user)?
                    .map(|a| a.visible_users)
                    .unwrap_or_default(),
            ),
            None => None,
        }))
    }

    fn includes(&self, view: &OpportunityView) -> bool {
        match &self.0 {
            None => true,
            Some(owners) => view
                .salesperson
                .as_ref()
                .is_some_and(|s| owners.binary_search(&s.id).is_ok()),
        }
    }
}

/// Whose figures to show: `user` if within reach, else the viewer; `None` means everything (admins).
fn subject(viewer: &Viewer, user: Option<OdooId>) -> Result<Option<OdooId>, QueryError> {
    match user.or(if viewer.is_admin() {
        None
    } else {
        viewer.user_id()
    }) {
        Some(user) if viewer.sees_user(user) => Ok(Some(user)),
        Some(_) => Err(QueryError::NotFound),
        None if viewer.is_admin() => Ok(None),
        None => Err(QueryError::NotFound),
    }
}

pub fn dashboard(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &DashboardQuery,
) -> Result<DashboardReport, QueryError> {
    let subject = subject(viewer, query.user)?;
    let key = subject.unwrap_or(EVERYTHING);
    let metrics = snapshot.metrics(key)?.ok_or(QueryError::NotFound)?;
    let stages: BTreeMap<OdooId, (String, i64)> = snapshot
        .stages()?
        .into_iter()
        .map(|s| (s.id, (s.name, s.sequence)))
        .collect();
    let won = match (query.from, query.to) {
        (None, None) => None,
        (from, to) => {
            let from = from.unwrap_or(Date::MIN);
            let to = to.unwrap_or(Date::MAX);
            if from > to {
                return Err(QueryError::BadInput("from must not be after to".into()));
            }
            let reach = Reach::of(snapshot, subject)?;
            Some(won_between(snapshot, from, to, |view| {
                reach.includes(view)
            })?)
        }
    };
    let name_of = |user: OdooId| -> Result<String, QueryError> {
        Ok(snapshot
            .profile(user)?
            .map(|p| p.name)
            .unwrap_or_else(|| format!("user {user}")))
    };
    let mut team_metrics = Vec::new();
    for member in &metrics.team {
        team_metrics.push(TeamMember {
            user_id: member.user_id,
            name: name_of(member.user_id)?,
            currencies: all_figures(&member.totals, &stages, None),
        });
    }
    let mut top_performers = Vec::new();
    for performer in &metrics.top_performers {
        top_performers.push(Performer {
            user_id: performer.user_id,
            name: name_of(performer.user_id)?,
            currency: performer.currency.clone(),
            won_revenue: amount(performer.won_value),
            won_count: performer.won_count,
        });
    }
    let sync = snapshot.sync_status()?;
    let last_failed = sync
        .last_run()
        .is_some_and(|run| matches!(run.outcome, SyncOutcome::Failed { .. }));
    let last_error = sync.recent_runs.iter().find_map(|run| match &run.outcome {
        SyncOutcome::Failed { reason } => Some(reason.clone()),
        _ => None,
    });
    let stale = sync.last_success_at.is_none_or(|at| {
        Timestamp::now().duration_since(at).as_secs() > query.stale_after_seconds as i64
    });
    let (name, is_manager) = match subject {
        Some(user) => {
            let profile = snapshot.profile(user)?;
            (
                profile.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
                profile.is_some_and(|p| p.is_manager),
            )
        }
        None => ("Everyone".to_string(), true),
    };
    Ok(DashboardReport {
        user_id: subject,
        name,
        is_manager,
        currencies: all_figures(&metrics.visible, &stages, won.as_ref()),
        team_metrics,
        top_performers,
        data_freshness: Freshness {
            last_sync_at: sync.last_success_at,
            last_sync_failed: last_failed,
            last_error: if last_failed { last_error } else { None },
            stale,
        },
    })
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MonthFigure {
    /// `YYYY-MM`.
    pub month: String,
    pub count: i64,
    pub value: f64,
    /// Weighted value (forecast only).
    pub weighted: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CurrencyTrends {
    /// Open opportunities by expected closing month.
    pub forecast: Vec<MonthFigure>,
    /// Won opportunities by closing month.
    pub won: Vec<MonthFigure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrendsReport {
    pub user_id: Option<OdooId>,
    pub currencies: BTreeMap<String, CurrencyTrends>,
}

/// Forecast and won revenue by month over the reach of `user` (the viewer by default). Reads every
/// opportunity row, so the dashboard loads it after its headline figures.
pub fn trends(
    snapshot: &Snapshot,
    viewer: &Viewer,
    user: Option<OdooId>,
) -> Result<TrendsReport, QueryError> {
    let subject = subject(viewer, user)?;
    let reach = Reach::of(snapshot, subject)?;
    let mut forecast: BTreeMap<(String, String), MonthFigure> = BTreeMap::new();
    let mut won: BTreeMap<(String, String), MonthFigure> = BTreeMap::new();
    for view in snapshot.views::<OpportunityView>(ViewTable::Opportunities)? {
        let in_reach = reach.includes(&view);
        if !in_reach || view.kind != crate::domain::LeadKind::Opportunity {
            continue;
        }
        let (month, into) = match view.status {
            DealStatus::Open => match view.date_deadline {
                Some(day) => (
                    format!("{:04}-{:02}", day.year(), day.month()),
                    &mut forecast,
                ),
                None => continue,
            },
            DealStatus::Won => match view.date_closed {
                Some(at) => {
                    let day = at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
                    (format!("{:04}-{:02}", day.year(), day.month()), &mut won)
                }
                None => continue,
            },
            DealStatus::Lost => continue,
        };
        let figure = into
            .entry((view.currency.clone(), month.clone()))
            .or_insert_with(|| MonthFigure {
                month,
                ..MonthFigure::default()
            });
        figure.count += 1;
        figure.value += amount(view.expected_revenue);
        figure.weighted += amount(view.weighted_revenue);
    }
    let mut currencies: BTreeMap<String, CurrencyTrends> = BTreeMap::new();
    for ((currency, _), figure) in forecast {
        currencies
            .entry(currency)
            .or_default()
            .forecast
            .push(figure);
    }
    for ((currency, _), figure) in won {
        currencies.entry(currency).or_default().won.push(figure);
    }
    Ok(TrendsReport {
        user_id: subject,
        currencies,
    })
}
