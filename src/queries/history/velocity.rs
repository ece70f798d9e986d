//! Stage velocity and conversion over a range: how long deals stay in each stage, what became of
//! those that entered one, how long a won deal took, and the win rate by month of closing.
//!
//! A stay in a stage begins when a deal enters it (or is first known in it) and ends when it moves
//! to another stage, is lost or is removed. Whatever happened counts for the owner of the deal at
//! that moment, within today's reach.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use super::super::QueryError;
use super::{Lookups, RangeQuery, Scope};
use crate::auth::Viewer;
use crate::domain::{Cents, OdooId};
use crate::projections::DealStatus;
use crate::projections::history::{DealState, micros, timestamp, utc_day};
use crate::store::Snapshot;

const DAY_MICROS: f64 = 86_400_000_000.0;

/// Days, as a median and an average over `count` cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Durations {
    pub count: u64,
    pub median_days: Option<f64>,
    pub average_days: Option<f64>,
}

impl Durations {
    fn of(mut micros: Vec<i64>) -> Durations {
        micros.sort_unstable();
        let count = micros.len();
        let days = |m: f64| (m / DAY_MICROS * 10.0).round() / 10.0;
        let median = (count > 0).then(|| {
            let middle = if count % 2 == 1 {
                micros[count / 2] as f64
            } else {
                (micros[count / 2 - 1] as f64 + micros[count / 2] as f64) / 2.0
            };
            days(middle)
        });
        let average =
            (count > 0).then(|| days(micros.iter().map(|&m| m as f64).sum::<f64>() / count as f64));
        Durations {
            count: count as u64,
            median_days: median,
            average_days: average,
        }
    }
}

/// One stage: how long stays in it took (those that ended in the range) and what became of the
/// deals that entered it in the range.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct StageVelocity {
    pub stage_id: OdooId,
    pub stage: String,
    pub sequence: i64,
    pub time_in_stage: Durations,
    pub entered: u64,
    /// On to a later stage (not a won one).
    pub moved_on: u64,
    /// Back to an earlier stage.
    pub went_back: u64,
    pub won: u64,
    pub lost: u64,
    /// Deleted in Odoo (or turned into a lead).
    pub removed: u64,
    /// Still in the stage at the end of the range.
    pub still_there: u64,
}

/// Won and lost deals closed in one month, in one currency.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct MonthWinRate {
    /// `YYYY-MM`.
    pub month: String,
    pub won_count: i64,
    pub won_cents: Cents,
    pub lost_count: i64,
    pub lost_cents: Cents,
    pub win_rate_by_count: Option<f64>,
    pub win_rate_by_value: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VelocityReport {
    pub user_id: Option<OdooId>,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// In stage order.
    pub stages: Vec<StageVelocity>,
    /// From creation (or, without known history, from the first read) to won, for deals won in
    /// the range.
    pub sales_cycle: Durations,
    /// Of those, the cycles measured from pipelog's first read (no earlier history known).
    pub cycles_from_first_read: u64,
    /// Per currency, by month of closing.
    pub win_rate: BTreeMap<String, Vec<MonthWinRate>>,
}

/// What ended a stay.
enum Exit {
    Stage(OdooId),
    Won,
    Lost,
    Removed,
}

pub fn velocity(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &RangeQuery,
) -> Result<VelocityReport, QueryError> {
    if query.from >= query.to {
        return Err(QueryError::BadInput("from must be before to".into()));
    }
    let scope = Scope::of(snapshot, viewer, query.user, query.team)?;
    let lookups = Lookups::of(snapshot)?;
    let timelines = snapshot.timelines()?;
    let (from, to) = (micros(query.from), micros(query.to));
    let counts =
        |state: &DealState| state.exists && state.opportunity && scope.holds(&lookups, state);
    let mut stages: BTreeMap<OdooId, StageVelocity> = BTreeMap::new();
    let mut stays: BTreeMap<OdooId, Vec<i64>> = BTreeMap::new();
    let mut cycles = Vec::new();
    let mut from_first_read = 0;
    let mut months: BTreeMap<(String, String), MonthWinRate> = BTreeMap::new();
    for timeline in timelines.iter() {
        let Some(first) = timeline.versions.first() else {
            continue;
        };
        let begins_at_read = first.state.untracked_known;
        // The stay in progress: its stage, when it began, and whether it began within the range.
        let mut stay: Option<(OdooId, i64, bool)> = None;
        // Whether the previous version existed, its status and whether it counted.
        let mut previous = (false, DealStatus::Lost, false);
        for version in &timeline.versions {
            // What happens after the range cannot change it: a stay still open at its end is
            // "still there".
            if version.at > to {
                break;
            }
            let state = &version.state;
            let (is, counted) = (lookups.status(state), counts(state));
            let exit = match stay {
                Some((stage, _, _)) if !state.exists || !state.opportunity => {
                    Some((stage, Exit::Removed))
                }
                Some((stage, _, _)) if !state.active => Some((stage, Exit::Lost)),
                Some((stage, _, _)) if is == DealStatus::Won => Some((stage, Exit::Won)),
                Some((stage, _, _)) if state.stage_id.unwrap_or(0) != stage => {
                    Some((stage, Exit::Stage(state.stage_id.unwrap_or(0))))
                }
                _ => None,
            };
            if let (Some((stage, exit)), Some((_, began, entered_in_range))) = (exit, stay) {
                if previous.2 {
                    if version.at > from {
                        stays.entry(stage).or_default().push(version.at - began);
                    }
                    if entered_in_range {
                        let figures = stages.entry(stage).or_default();
                        match exit {
                            Exit::Won => figures.won += 1,
                            Exit::Lost => figures.lost += 1,
                            Exit::Removed => figures.removed += 1,
                            Exit::Stage(next) => {
                                let order =
                                    |id: OdooId| lookups.stages.get(&id).map(|s| (s.sequence, id));
                                if order(next) > order(stage) {
                                    figures.moved_on += 1;
                                } else {
                                    figures.went_back += 1;
                                }
                            }
                        }
                    }
                }
                stay = None;
            }
            let in_stage = state.exists && state.opportunity && is == DealStatus::Open;
            if stay.is_none() && in_stage {
                let stage = state.stage_id.unwrap_or(0);
                let entered = version.at > from && counted;
                if entered {
                    stages.entry(stage).or_default().entered += 1;
                }
                stay = Some((stage, version.at, entered));
            }
            let closes = previous.0
                && state.exists
                && state.opportunity
                && previous.1 != is
                && is != DealStatus::Open;
            if closes && version.at > from && counted {
                if is == DealStatus::Won {
                    cycles.push(version.at - first.at);
                    from_first_read += u64::from(begins_at_read);
                }
                let day = state
                    .closed_on
                    .unwrap_or_else(|| utc_day(timestamp(version.at)));
                let month = format!("{:04}-{:02}", day.year(), day.month());
                let entry = months
                    .entry((timeline.currency(state).to_string(), month.clone()))
                    .or_insert_with(|| MonthWinRate {
                        month,
                        ..MonthWinRate::default()
                    });
                if is == DealStatus::Won {
                    entry.won_count += 1;
                    entry.won_cents += state.expected_revenue;
                } else {
                    entry.lost_count += 1;
                    entry.lost_cents += state.expected_revenue;
                }
            }
            previous = (state.exists, is, counted);
        }
        if let Some((stage, _, true)) = stay {
            stages.entry(stage).or_default().still_there += 1;
        }
    }
    let mut stages: Vec<StageVelocity> = stages
        .into_iter()
        .map(|(id, mut figures)| {
            figures.stage_id = id;
            figures.stage = lookups.stage_name(id);
            figures.sequence = lookups.stages.get(&id).map_or(i64::MAX, |s| s.sequence);
            figures.time_in_stage = Durations::of(stays.remove(&id).unwrap_or_default());
            figures
        })
        .collect();
    stages.sort_by_key(|s| (s.sequence, s.stage_id));
    let mut win_rate: BTreeMap<String, Vec<MonthWinRate>> = BTreeMap::new();
    for ((currency, _), mut month) in months {
        let (count, value) = (
            month.won_count + month.lost_count,
            month.won_cents + month.lost_cents,
        );
        month.win_rate_by_count = (count > 0).then(|| month.won_count as f64 / count as f64);
        month.win_rate_by_value = (value > 0).then(|| month.won_cents as f64 / value as f64);
        win_rate.entry(currency).or_default().push(month);
    }
    Ok(VelocityReport {
        user_id: scope.subject,
        from: query.from,
        to: query.to,
        stages,
        sales_cycle: Durations::of(cycles),
        cycles_from_first_read: from_first_read,
        win_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_give_the_median_and_the_average_in_days() {
        let day = 86_400_000_000;
        let d = Durations::of(vec![3 * day, day, 2 * day, 10 * day]);
        assert_eq!(d.count, 4);
        assert_eq!(d.median_days, Some(2.5));
        assert_eq!(d.average_days, Some(4.0));
        assert_eq!(Durations::of(Vec::new()).median_days, None);
    }
}
