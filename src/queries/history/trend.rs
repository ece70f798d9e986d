//! The trend: open pipeline, weighted pipeline and won revenue per day, week or month.
//!
//! A point is the pipeline as of the end of its period (exactly what the dashboard shows with
//! `as_of` at that instant) and the revenue won in the period (the dashboard's won revenue with
//! that period, as of the same instant). Computed in one pass over every deal's versions: a
//! version holds from its time until the next one's, so it adds to every point in between.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use super::super::QueryError;
use super::super::drill::Drill;
use super::{Boundaries, Lookups, Scope, end_of_day};
use crate::auth::Viewer;
use crate::domain::{Cents, OdooId};
use crate::projections::DealStatus;
use crate::projections::history::{micros, timestamp};
use crate::store::Snapshot;

/// The most points one trend may have (daily over about three years).
pub const MAX_POINTS: usize = 1_100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    Day,
    /// Weeks start on Monday.
    Week,
    Month,
}

impl Every {
    pub fn parse(text: &str) -> Option<Every> {
        match text {
            "day" => Some(Every::Day),
            "week" => Some(Every::Week),
            "month" => Some(Every::Month),
            _ => None,
        }
    }

    fn start_of(self, day: Date) -> Date {
        match self {
            Every::Day => day,
            Every::Week => day
                .checked_sub(i64::from(day.weekday().to_monday_zero_offset()).days())
                .unwrap_or(day),
            Every::Month => day.first_of_month(),
        }
    }

    fn next(self, start: Date) -> Option<Date> {
        let step = match self {
            Every::Day => 1.day(),
            Every::Week => 1.week(),
            Every::Month => 1.month(),
        };
        start.checked_add(step).ok()
    }
}

#[derive(Debug, Clone)]
pub struct TrendQuery {
    pub user: Option<OdooId>,
    pub team: Option<OdooId>,
    pub from: Date,
    pub to: Date,
    pub every: Every,
}

/// One point in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrendPoint {
    /// The first day of the period.
    #[schema(value_type = String, format = Date)]
    pub start: Date,
    /// Its last day (clipped to the range).
    #[schema(value_type = String, format = Date)]
    pub end: Date,
    /// The instant the open figures are taken at: the end of `end`.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub open_count: i64,
    pub open_cents: Cents,
    pub weighted_cents: Cents,
    /// Won during the period (by the day Odoo closed it), as known at `at`.
    pub won_count: i64,
    pub won_cents: Cents,
    /// Open deals at `at` whose probability was not known yet (left out of `weighted_cents`).
    pub deals_partial: i64,
    /// The `/api/opportunities` queries behind the open and won figures.
    pub open_drill: String,
    pub won_drill: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrendReport {
    pub user_id: Option<OdooId>,
    pub every: Every,
    pub currencies: BTreeMap<String, Vec<TrendPoint>>,
    pub history: Boundaries,
}

/// The periods of the range: (first day, last day clipped to the range).
fn periods(query: &TrendQuery) -> Result<Vec<(Date, Date)>, QueryError> {
    if query.from > query.to {
        return Err(QueryError::BadInput("from must not be after to".into()));
    }
    let mut periods = Vec::new();
    let mut start = query.every.start_of(query.from);
    while start <= query.to {
        let next = query.every.next(start);
        let end = next.and_then(|n| n.yesterday().ok()).unwrap_or(Date::MAX);
        periods.push((start.max(query.from), end.min(query.to)));
        if periods.len() > MAX_POINTS {
            return Err(QueryError::BadInput(format!(
                "a trend has at most {MAX_POINTS} points: take a longer period or a shorter range"
            )));
        }
        match next {
            Some(next) => start = next,
            None => break,
        }
    }
    Ok(periods)
}

/// Per point: open count, open value, weighted, partial (as differences to sum), won count and
/// value (direct).
#[derive(Clone, Copy, Default)]
struct Sums {
    open: [i64; 4],
    won: [i64; 2],
}

pub fn trend(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &TrendQuery,
) -> Result<TrendReport, QueryError> {
    let scope = Scope::of(snapshot, viewer, query.user, query.team)?;
    let periods = periods(query)?;
    let instants: Vec<i64> = periods
        .iter()
        .map(|(_, end)| micros(end_of_day(*end)))
        .collect();
    let lookups = Lookups::of(snapshot)?;
    let timelines = snapshot.timelines()?;
    let mut sums: BTreeMap<String, Vec<Sums>> = BTreeMap::new();
    let (known_from, first_read_at) = (timelines.known_from, timelines.first_read_at);
    for timeline in timelines.iter() {
        for (index, version) in timeline.versions.iter().enumerate() {
            let state = &version.state;
            let counts = state.exists && state.opportunity && scope.holds(&lookups, state);
            if !counts {
                continue;
            }
            let until = timeline
                .versions
                .get(index + 1)
                .map_or(i64::MAX, |next| next.at);
            let low = instants.partition_point(|&t| t < version.at);
            let high = instants.partition_point(|&t| t < until);
            if low >= high {
                continue;
            }
            let currency = timeline.currency(state);
            let series = match sums.get_mut(currency) {
                Some(series) => series,
                None => sums
                    .entry(currency.to_string())
                    .or_insert_with(|| vec![Sums::default(); instants.len() + 1]),
            };
            match lookups.status(state) {
                DealStatus::Open => {
                    let weighted = if state.untracked_known {
                        state.weighted_revenue()
                    } else {
                        0
                    };
                    let add = [
                        1,
                        state.expected_revenue,
                        weighted,
                        i64::from(!state.untracked_known),
                    ];
                    for (slot, value) in add.into_iter().enumerate() {
                        series[low].open[slot] += value;
                        series[high].open[slot] -= value;
                    }
                }
                DealStatus::Won => {
                    // Won revenue of a period counts at that period's own instant.
                    if let Some(day) = state.closed_on {
                        let period = periods.partition_point(|(_, end)| *end < day);
                        if period >= low && period < high && periods[period].0 <= day {
                            series[period].won[0] += 1;
                            series[period].won[1] += state.expected_revenue;
                        }
                    }
                }
                DealStatus::Lost => {}
            }
        }
    }
    let base = Drill::scoped(scope.subject, query.team);
    let currencies = sums
        .into_iter()
        .map(|(currency, series)| {
            let mut running = [0i64; 4];
            let points = periods
                .iter()
                .zip(&instants)
                .zip(series)
                .map(|(((start, end), &at), sums)| {
                    for (total, add) in running.iter_mut().zip(sums.open) {
                        *total += add;
                    }
                    let at = timestamp(at);
                    let drill = base.clone().with("currency", &currency).with("as_of", at);
                    TrendPoint {
                        start: *start,
                        end: *end,
                        at,
                        open_count: running[0],
                        open_cents: running[1],
                        weighted_cents: running[2],
                        deals_partial: running[3],
                        won_count: sums.won[0],
                        won_cents: sums.won[1],
                        open_drill: drill.clone().with("status", "open").query(),
                        won_drill: drill
                            .with("status", "won")
                            .with("closed_from", start)
                            .with("closed_to", end)
                            .query(),
                    }
                })
                .collect();
            (currency, points)
        })
        .collect();
    let first_instant = instants.first().copied().unwrap_or(i64::MIN);
    Ok(TrendReport {
        user_id: scope.subject,
        every: query.every,
        currencies,
        history: Boundaries {
            known_from: known_from.map(timestamp),
            first_read_at: first_read_at.map(timestamp),
            before_known_history: known_from.is_none_or(|known| first_instant < known),
            deals_partial: 0,
        },
    })
}
