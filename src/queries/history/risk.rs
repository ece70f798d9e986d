//! Deals at risk: those whose expected close keeps slipping, open ones whose expected close has
//! passed, and open ones nobody has touched for longer than their stage allows.
//!
//! A slip is a change of expected close to a later day, both days known (pipelog had read the
//! deal: Odoo never tracks the field). It counts for whoever owned the deal when it slipped,
//! within today's reach.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::super::QueryError;
use super::{Lookups, RangeQuery, Scope};
use crate::auth::Viewer;
use crate::domain::{Cents, OdooId};
use crate::projections::DealStatus;
use crate::projections::history::{Timeline, micros, timestamp, utc_day};
use crate::store::Snapshot;

/// The most deals a risk list holds; `total` says how many there were.
pub const MAX_LISTED: usize = 500;

/// One salesperson's slips.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SlipsByPerson {
    /// `None`: deals without a salesperson (or one pipelog does not hold).
    pub user_id: Option<OdooId>,
    pub name: String,
    pub deals: u64,
    pub slips: u64,
    /// Days the expected close moved later, all slips added.
    pub days: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlippedDeal {
    pub id: OdooId,
    pub name: String,
    pub salesperson: Option<String>,
    pub slips: u64,
    pub days: i64,
    /// Its expected close now (or when it was last known).
    #[schema(value_type = Option<String>, format = Date)]
    pub date_deadline: Option<Date>,
    pub currency: String,
    pub expected_revenue_cents: Cents,
}

/// An open deal whose expected close has passed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OverdueDeal {
    pub id: OdooId,
    pub name: String,
    pub salesperson: Option<String>,
    pub stage: Option<String>,
    #[schema(value_type = String, format = Date)]
    pub date_deadline: Date,
    pub days_overdue: i64,
    pub currency: String,
    pub expected_revenue_cents: Cents,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlippedReport {
    pub user_id: Option<OdooId>,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Most days slipped first.
    pub people: Vec<SlipsByPerson>,
    /// Most slips first, at most [`MAX_LISTED`].
    pub deals: Vec<SlippedDeal>,
    pub deals_total: usize,
    /// Open at `to`, expected to close before that day; longest overdue first.
    pub overdue: Vec<OverdueDeal>,
    pub overdue_total: usize,
    /// The `/api/opportunities` query listing the overdue deals (as of `to`).
    pub overdue_drill: String,
}

pub fn slipped(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &RangeQuery,
) -> Result<SlippedReport, QueryError> {
    if query.from >= query.to {
        return Err(QueryError::BadInput("from must be before to".into()));
    }
    let scope = Scope::of(snapshot, viewer, query.user, query.team)?;
    let lookups = Lookups::of(snapshot)?.with_names(snapshot)?;
    let timelines = snapshot.timelines()?;
    let (from, to) = (micros(query.from), micros(query.to));
    let today = utc_day(query.to);
    let mut people: HashMap<Option<OdooId>, SlipsByPerson> = HashMap::new();
    let mut deals = Vec::new();
    let mut overdue = Vec::new();
    for (index, timeline) in timelines.iter().enumerate() {
        let mut slips: BTreeMap<Option<OdooId>, (u64, i64)> = BTreeMap::new();
        for pair in timeline.versions.windows(2) {
            let (before, after) = (&pair[0].state, &pair[1].state);
            if pair[1].at <= from || pair[1].at > to || !before.untracked_known || !after.exists {
                continue;
            }
            if !scope.holds(&lookups, after) {
                continue;
            }
            let owner = lookups.salesperson(after);
            if let (Some(was), Some(now)) = (before.date_deadline, after.date_deadline)
                && now > was
            {
                let entry = slips.entry(owner).or_default();
                entry.0 += 1;
                entry.1 += (now - was).get_days() as i64;
            }
        }
        let last = timelines.at(index, to).map(|v| v.state);
        for (owner, (count, days)) in &slips {
            let person = people.entry(*owner).or_insert_with(|| SlipsByPerson {
                user_id: *owner,
                name: owner.map_or_else(|| "unassigned".into(), |u| lookups.user_name(u)),
                ..SlipsByPerson::default()
            });
            person.deals += 1;
            person.slips += count;
            person.days += days;
        }
        if !slips.is_empty() {
            let state = last.unwrap_or_default();
            deals.push(SlippedDeal {
                id: timeline.id,
                name: timeline.name.clone(),
                salesperson: lookups.salesperson(&state).map(|u| lookups.user_name(u)),
                slips: slips.values().map(|(c, _)| c).sum(),
                days: slips.values().map(|(_, d)| d).sum(),
                date_deadline: state.date_deadline.filter(|_| state.untracked_known),
                currency: timeline.currency(&state).to_string(),
                expected_revenue_cents: state.expected_revenue,
            });
        }
        if let Some(deal) =
            last.and_then(|state| overdue_deal(&lookups, &scope, timeline, &state, today))
        {
            overdue.push(deal);
        }
    }
    let mut people: Vec<SlipsByPerson> = people.into_values().collect();
    people.sort_by(|a, b| b.days.cmp(&a.days).then(a.user_id.cmp(&b.user_id)));
    deals.sort_by(|a, b| {
        b.slips
            .cmp(&a.slips)
            .then(b.days.cmp(&a.days))
            .then(a.id.cmp(&b.id))
    });
    overdue.sort_by(|a, b| b.days_overdue.cmp(&a.days_overdue).then(a.id.cmp(&b.id)));
    let (deals_total, overdue_total) = (deals.len(), overdue.len());
    deals.truncate(MAX_LISTED);
    overdue.truncate(MAX_LISTED);
    let overdue_drill = super::super::drill::Drill::scoped(scope.subject, query.team)
        .with("status", "open")
        .with("close_to", today.yesterday().unwrap_or(today))
        .with("as_of", timestamp(to))
        .query();
    Ok(SlippedReport {
        user_id: scope.subject,
        from: query.from,
        to: query.to,
        people,
        deals,
        deals_total,
        overdue,
        overdue_total,
        overdue_drill,
    })
}

fn overdue_deal(
    lookups: &Lookups,
    scope: &Scope,
    timeline: &Timeline,
    state: &crate::projections::history::DealState,
    today: Date,
) -> Option<OverdueDeal> {
    let open = state.exists && state.opportunity && lookups.status(state) == DealStatus::Open;
    let owner = lookups.salesperson(state);
    let deadline = state.date_deadline.filter(|_| state.untracked_known)?;
    (open && scope.holds(lookups, state) && deadline < today).then(|| OverdueDeal {
        id: timeline.id,
        name: timeline.name.clone(),
        salesperson: owner.map(|u| lookups.user_name(u)),
        stage: state.stage_id.map(|s| lookups.stage_name(s)),
        date_deadline: deadline,
        days_overdue: (today - deadline).get_days() as i64,
        currency: timeline.currency(state).to_string(),
        expected_revenue_cents: state.expected_revenue,
    })
}

/// How long an open deal may go without a change before it is stale: a default, and per stage
/// (by name, as people configure it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleRules {
    pub days: u32,
    pub by_stage: BTreeMap<String, u32>,
}

impl Default for StaleRules {
    fn default() -> Self {
        StaleRules {
            days: 30,
            by_stage: BTreeMap::new(),
        }
    }
}

impl StaleRules {
    pub fn days_for(&self, stage: Option<&str>) -> u32 {
        stage
            .and_then(|name| {
                self.by_stage
                    .iter()
                    .find(|(configured, _)| configured.eq_ignore_ascii_case(name))
            })
            .map_or(self.days, |(_, days)| *days)
    }
}

#[derive(Debug, Clone)]
pub struct StaleQuery {
    pub user: Option<OdooId>,
    pub team: Option<OdooId>,
    pub now: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaleDeal {
    pub id: OdooId,
    pub name: String,
    pub salesperson: Option<String>,
    pub stage: Option<String>,
    /// Its last change at the source.
    #[schema(value_type = String, format = DateTime)]
    pub last_change_at: Timestamp,
    pub days_without_change: i64,
    /// The threshold of its stage.
    pub stale_after_days: u32,
    pub currency: String,
    pub expected_revenue_cents: Cents,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StaleReport {
    pub user_id: Option<OdooId>,
    /// Newest-stale first (the one that went stale last), at most [`MAX_LISTED`].
    pub deals: Vec<StaleDeal>,
    pub total: usize,
    /// Per currency: how many are stale and what they are worth.
    pub currencies: BTreeMap<String, StaleTotals>,
    pub default_days: u32,
    pub days_by_stage: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct StaleTotals {
    pub count: i64,
    pub value_cents: Cents,
}

pub fn stale(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &StaleQuery,
    rules: &StaleRules,
) -> Result<StaleReport, QueryError> {
    let scope = Scope::of(snapshot, viewer, query.user, query.team)?;
    let lookups = Lookups::of(snapshot)?.with_names(snapshot)?;
    let timelines = snapshot.timelines()?;
    let now = micros(query.now);
    let mut deals = Vec::new();
    let mut currencies: BTreeMap<String, StaleTotals> = BTreeMap::new();
    for (index, timeline) in timelines.iter().enumerate() {
        let Some(version) = timelines.at(index, now) else {
            continue;
        };
        let state = &version.state;
        let owner = lookups.salesperson(state);
        let open = state.exists && state.opportunity && lookups.status(state) == DealStatus::Open;
        if !open || !scope.holds(&lookups, state) {
            continue;
        }
        let stage = state.stage_id.map(|s| lookups.stage_name(s));
        let limit = rules.days_for(stage.as_deref());
        let days = (now - version.at) / 86_400_000_000;
        if days < i64::from(limit) {
            continue;
        }
        let currency = timeline.currency(state).to_string();
        let totals = currencies.entry(currency.clone()).or_default();
        totals.count += 1;
        totals.value_cents += state.expected_revenue;
        deals.push(StaleDeal {
            id: timeline.id,
            name: timeline.name.clone(),
            salesperson: owner.map(|u| lookups.user_name(u)),
            stage,
            last_change_at: timestamp(version.at),
            days_without_change: days,
            stale_after_days: limit,
            currency,
            expected_revenue_cents: state.expected_revenue,
        });
    }
    // Newest-stale first: the one whose threshold passed last.
    let went_stale = |deal: &StaleDeal| {
        deal.last_change_at.as_second() + i64::from(deal.stale_after_days) * 86_400
    };
    deals.sort_by(|a, b| went_stale(b).cmp(&went_stale(a)).then(a.id.cmp(&b.id)));
    let total = deals.len();
    deals.truncate(MAX_LISTED);
    Ok(StaleReport {
        user_id: scope.subject,
        deals,
        total,
        currencies,
        default_days: rules.days,
        days_by_stage: rules.by_stage.clone(),
    })
}
