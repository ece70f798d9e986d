//! The dashboard: figures over everything a viewer (or a person within their reach) can see,
//! optionally narrowed to one team or stage.
//!
//! Unnarrowed figures come straight from the precomputed dashboard metrics; a narrowed view, a
//! date range and the monthly trends sum the compact opportunity facts instead, with the same
//! [`Contribution`] arithmetic, so both paths agree to the cent (a property test checks it).

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::drill::Drill;
use super::history::{Boundaries, facts_as_of};
use super::id_set::IdSet;
use super::team_table::{TeamRow, team_table};
use super::{QueryError, amount};
use crate::auth::Viewer;
use crate::domain::{Cents, OdooId};
use crate::projections::history::timestamp;
use crate::projections::{
    Aggregate, EVERYTHING, MetricsView, NO_STAGE, OpportunityFact, Performer, SyncOutcome,
    TeamMemberMetrics, Totals,
};
use crate::store::Snapshot;

#[derive(Debug, Clone, Default)]
pub struct DashboardQuery {
    /// Someone within the viewer's reach; the viewer themselves when `None`.
    pub user: Option<OdooId>,
    /// Only opportunities of this sales team.
    pub team: Option<OdooId>,
    /// Only opportunities in this stage.
    pub stage: Option<OdooId>,
    /// Won revenue counts deals closed in this range (inclusive); all time when `None`.
    pub from: Option<Date>,
    pub to: Option<Date>,
    /// Data older than this is flagged stale.
    pub stale_after_seconds: u64,
    /// Every figure as it was at this moment (see `queries::history`); now when `None`.
    pub as_of: Option<Timestamp>,
}

impl DashboardQuery {
    fn is_narrowed(&self) -> bool {
        self.team.is_some()
            || self.stage.is_some()
            || self.period().is_some()
            || self.as_of.is_some()
    }

    /// Team and stage narrow everything; a closing period keeps the open deals (they are about
    /// now) and the closed ones closed within it.
    pub(super) fn admits(&self, fact: &OpportunityFact) -> bool {
        self.team.is_none_or(|team| fact.team == Some(team))
            && self
                .stage
                .is_none_or(|stage| fact.stage.unwrap_or(NO_STAGE) == stage)
            && super::in_closing_period(fact, self.from, self.to)
    }

    /// The closing period, both ends included (an open end reaches as far as dates go); `None`
    /// for all time.
    fn period(&self) -> Option<(Date, Date)> {
        (self.from.is_some() || self.to.is_some())
            .then(|| (self.from.unwrap_or(Date::MIN), self.to.unwrap_or(Date::MAX)))
    }

    /// Refuses a period that ends before it starts.
    pub(super) fn check_period(&self) -> Result<(), QueryError> {
        match self.period() {
            Some((from, to)) if from > to => {
                Err(QueryError::BadInput("from must not be after to".into()))
            }
            _ => Ok(()),
        }
    }
}

/// Active (open or won) opportunities in one stage.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageFigure {
    pub stage_id: OdooId,
    pub stage: String,
    pub sequence: i64,
    pub count: i64,
    pub value: f64,
    pub value_cents: Cents,
    /// The `/api/opportunities` query that lists exactly these deals.
    pub drill: String,
}

/// The list queries behind a currency's figures: `open` (pipeline, weighted pipeline, open
/// count), `won` (won revenue and count), `lost`, `closed` (won or lost: the win rates) and
/// `active` (open or won: the average deal).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FigureDrills {
    pub open: String,
    pub won: String,
    pub lost: String,
    pub closed: String,
    pub active: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CurrencyFigures {
    pub pipeline_value: f64,
    pub pipeline_cents: Cents,
    pub weighted_pipeline_value: f64,
    pub weighted_pipeline_cents: Cents,
    /// Won in the period (all time without one).
    pub won_revenue: f64,
    pub won_cents: Cents,
    /// Open opportunities, now.
    pub active_opportunities: i64,
    pub won_count: i64,
    pub lost_count: i64,
    pub lost_cents: Cents,
    pub win_rate_by_count: Option<f64>,
    pub win_rate_by_value: Option<f64>,
    pub average_deal_size: Option<f64>,
    pub by_stage: Vec<StageFigure>,
    pub drill: FigureDrills,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TopPerformer {
    pub user_id: OdooId,
    pub name: String,
    pub currency: String,
    pub won_revenue: f64,
    pub won_cents: Cents,
    pub won_count: i64,
    /// Their own deals won, in this currency (and the dashboard's team, stage and period).
    pub drill: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Freshness {
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_sync_at: Option<Timestamp>,
    /// When the schedule runs next; the server fills it in (the log does not know).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_sync_at: Option<Timestamp>,
    pub last_sync_failed: bool,
    pub last_error: Option<String>,
    pub stale: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DashboardReport {
    /// Whose figures these are; `None` for everything (admins).
    pub user_id: Option<OdooId>,
    pub name: String,
    pub is_manager: bool,
    /// Amounts per currency: never added across currencies.
    pub currencies: BTreeMap<String, CurrencyFigures>,
    /// Rows that add up to the cards, per currency: the subject's own deals, each direct
    /// report's whole reach (for everything: each top of the hierarchy, unassigned deals, people
    /// outside the hierarchy), and the total.
    pub team_table: Vec<TeamRow>,
    pub top_performers: Vec<TopPerformer>,
    pub data_freshness: Freshness,
    /// With `as_of`: the moment, and where known history begins (`None` for now).
    pub history: Option<PastMoment>,
}

/// The moment a past answer is about, and what was not known then.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PastMoment {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: Timestamp,
    #[serde(flatten)]
    pub boundaries: Boundaries,
    /// The figures are incomplete: see `before_known_history` and `deals_partial`.
    pub partial: bool,
}

/// Stage names and their order, by id.
pub(super) type StageNames = BTreeMap<OdooId, (String, i64)>;

fn figures(
    totals: &Totals,
    stages: &StageNames,
    currency: &str,
    base: &Drill,
    query: &DashboardQuery,
) -> CurrencyFigures {
    let base = base.clone().with("currency", currency);
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
                value_cents: s.value,
                drill: base
                    .clone()
                    .with("stage", id)
                    .with("status", "active")
                    .closed_in(query)
                    .query(),
            }
        })
        .collect();
    by_stage.sort_by_key(|s| (s.sequence, s.stage_id));
    let deals = totals.open_count + totals.won_count;
    let closed = base.clone().closed_in(query);
    CurrencyFigures {
        pipeline_value: amount(totals.open_value),
        pipeline_cents: totals.open_value,
        weighted_pipeline_value: amount(totals.weighted_value),
        weighted_pipeline_cents: totals.weighted_value,
        won_revenue: amount(totals.won_value),
        won_cents: totals.won_value,
        active_opportunities: totals.open_count,
        won_count: totals.won_count,
        lost_count: totals.lost_count,
        lost_cents: totals.lost_value,
        // Lost deals keep the stage they were lost in, a won stage holds only won deals: within
        // one stage a win rate says nothing.
        win_rate_by_count: totals.win_rate_by_count().filter(|_| query.stage.is_none()),
        win_rate_by_value: totals.win_rate_by_value().filter(|_| query.stage.is_none()),
        average_deal_size: (deals > 0)
            .then(|| amount(totals.open_value + totals.won_value) / deals as f64),
        by_stage,
        drill: FigureDrills {
            open: base.clone().with("status", "open").query(),
            won: closed.clone().with("status", "won").query(),
            lost: closed.clone().with("status", "lost").query(),
            closed: closed.clone().with("status", "closed").query(),
            active: closed.with("status", "active").query(),
        },
    }
}

pub(super) fn all_figures(
    aggregate: &Aggregate,
    stages: &StageNames,
    base: &Drill,
    query: &DashboardQuery,
) -> BTreeMap<String, CurrencyFigures> {
    aggregate
        .by_currency
        .iter()
        .map(|(currency, totals)| {
            (
                currency.clone(),
                figures(totals, stages, currency, base, query),
            )
        })
        .collect()
}

/// The owners whose opportunities count: everyone (`None`), or a subject's whole reach.
pub(super) struct Reach(Option<IdSet>);

impl Reach {
    pub(super) fn of(snapshot: &Snapshot, subject: Option<OdooId>) -> Result<Reach, QueryError> {
        Ok(Reach(match subject {
            Some(user) => Some(IdSet::new(
                snapshot
                    .access(user)?
                    .map(|a| a.visible_users)
                    .unwrap_or_default(),
            )),
            None => None,
        }))
    }

    pub(super) fn includes(&self, owner: Option<OdooId>) -> bool {
        match &self.0 {
            None => true,
            Some(owners) => owner.is_some_and(|owner| owners.contains(owner)),
        }
    }
}

/// The facts a figure sums: every fact of the snapshot (shared, not copied) and which of them
/// count.
pub(super) struct AdmittedFacts {
    all: std::sync::Arc<Vec<OpportunityFact>>,
    admitted: Vec<usize>,
    /// What the moment of a past answer did not know.
    pub(super) past: Option<PastMoment>,
}

impl AdmittedFacts {
    pub(super) fn iter(&self) -> impl Iterator<Item = &OpportunityFact> {
        self.admitted.iter().map(|&index| &self.all[index])
    }
}

/// The facts within `reach` that `query` admits.
pub(super) fn facts_in(
    snapshot: &Snapshot,
    reach: &Reach,
    query: &DashboardQuery,
) -> Result<AdmittedFacts, QueryError> {
    let (all, as_of) = match query.as_of {
        Some(at) => {
            let as_of = facts_as_of(snapshot, at, false)?;
            (as_of.facts.clone(), Some(as_of))
        }
        None => (snapshot.opportunity_facts()?, None),
    };
    let admitted: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, fact)| reach.includes(fact.salesperson) && query.admits(fact))
        .map(|(index, _)| index)
        .collect();
    let past = as_of.map(|as_of| {
        let boundaries = as_of.boundaries(admitted.iter().map(|&index| &all[index]));
        PastMoment {
            as_of: timestamp(as_of.at),
            partial: boundaries.partial(),
            boundaries,
        }
    });
    Ok(AdmittedFacts {
        all,
        admitted,
        past,
    })
}

/// The dashboard metrics of `stored`'s subject, summed again from `facts` (already narrowed): the
/// same shape, the same members in the team table, the same ranking.
fn metrics_from_facts(
    snapshot: &Snapshot,
    stored: &MetricsView,
    facts: &AdmittedFacts,
) -> Result<MetricsView, QueryError> {
    let mut unassigned = Aggregate::default();
    let mut own: HashMap<OdooId, Aggregate> = HashMap::new();
    for fact in facts.iter() {
        let Some(contribution) = fact.contribution() else {
            continue;
        };
        match contribution.owner {
            Some(owner) => own.entry(owner).or_default().add(&contribution, 1),
            None => unassigned.add(&contribution, 1),
        }
    }
    // Sums of integers, so adding the owners' totals gives what adding every deal would, at a
    // fraction of the work.
    let mut visible = unassigned.clone();
    for aggregate in own.values() {
        visible.add_aggregate(aggregate, 1);
    }
    let mut team = Vec::with_capacity(stored.team.len());
    let mut in_a_row = HashSet::new();
    for member in &stored.team {
        let mut totals = Aggregate::default();
        let subtree = snapshot
            .access(member.user_id)?
            .map(|access| access.visible_users)
            .unwrap_or_default();
        for user in subtree {
            if let Some(aggregate) = own.get(&user) {
                totals.add_aggregate(aggregate, 1);
            }
            in_a_row.insert(user);
        }
        team.push(TeamMemberMetrics {
            user_id: member.user_id,
            totals: totals.summary(),
        });
    }
    let everything = stored.user_id == EVERYTHING;
    let mut outside = Aggregate::default();
    if everything {
        for (owner, aggregate) in &own {
            if !in_a_row.contains(owner) {
                outside.add_aggregate(aggregate, 1);
            }
        }
    } else {
        unassigned = Aggregate::default();
    }
    let mut members: Vec<OdooId> = own.keys().copied().collect();
    members.sort_unstable();
    let top_performers = Performer::rank(&visible, members, |user| own.get(&user));
    Ok(MetricsView {
        user_id: stored.user_id,
        own: own.remove(&stored.user_id).unwrap_or_default(),
        visible,
        team,
        unassigned,
        outside,
        top_performers,
    })
}

/// Whose figures to show: `user` if within reach, else the viewer; `None` means everything (admins).
pub(super) fn subject(viewer: &Viewer, user: Option<OdooId>) -> Result<Option<OdooId>, QueryError> {
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
    let stages: StageNames = snapshot
        .stages()?
        .into_iter()
        .map(|s| (s.id, (s.name, s.sequence)))
        .collect();
    query.check_period()?;
    let mut history = None;
    let metrics = if query.is_narrowed() {
        let facts = facts_in(snapshot, &Reach::of(snapshot, subject)?, query)?;
        history = facts.past.clone();
        metrics_from_facts(snapshot, &metrics, &facts)?
    } else {
        metrics
    };
    let base = Drill::of(subject, query);
    let name_of = |user: OdooId| -> Result<String, QueryError> {
        Ok(snapshot
            .profile(user)?
            .map(|p| p.name)
            .unwrap_or_else(|| format!("user {user}")))
    };
    let mut top_performers = Vec::new();
    for performer in &metrics.top_performers {
        top_performers.push(TopPerformer {
            user_id: performer.user_id,
            name: name_of(performer.user_id)?,
            currency: performer.currency.clone(),
            won_revenue: amount(performer.won_value),
            won_cents: performer.won_value,
            won_count: performer.won_count,
            drill: Drill::of(None, query)
                .with("salesperson", performer.user_id)
                .with("currency", &performer.currency)
                .with("status", "won")
                .closed_in(query)
                .query(),
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
    let team_table = team_table(&metrics, &name, name_of, &stages, &base, query)?;
    Ok(DashboardReport {
        team_table,
        user_id: subject,
        name,
        is_manager,
        currencies: all_figures(&metrics.visible, &stages, &base, query),
        top_performers,
        data_freshness: Freshness {
            last_sync_at: sync.last_success_at,
            next_sync_at: None,
            last_sync_failed: last_failed,
            last_error: if last_failed { last_error } else { None },
            stale,
        },
        history,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::Event;

    use crate::projections::{Contribution, ReadModel};
    use crate::store::{CommandBatch, Store};
    use crate::testing::{arb_batches, brute_force_managers, brute_force_sees};

    fn store_with(batches: Vec<Vec<Event>>) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("pipelog.redb")).expect("opens");
        for batch in batches {
            store
                .append(CommandBatch::new(
                    batch
                        .into_iter()
                        .map(crate::domain::NewEvent::new)
                        .collect(),
                ))
                .expect("appends");
        }
        (dir, store)
    }

    /// The pipeline of `subject`'s reach (everything for `None`) narrowed by team and stage,
    /// summed straight from the model's records.
    fn brute_force_visible(
        model: &ReadModel,
        subject: Option<OdooId>,
        team: Option<OdooId>,
        stage: Option<OdooId>,
    ) -> Aggregate {
        let managers = brute_force_managers(model);
        let mut visible = Aggregate::default();
        for record in model.opportunities().values() {
            let owner = record.user_id.filter(|u| model.users().contains_key(u));
            let in_reach = match subject {
                None => true,
                Some(subject) => owner.is_some_and(|o| brute_force_sees(&managers, subject, o)),
            };
            let admitted = team.is_none_or(|t| record.team_id == Some(t))
                && stage.is_none_or(|s| record.stage_id.unwrap_or(NO_STAGE) == s);
            let contribution =
                Contribution::of(record, record.stage_id.and_then(|s| model.stages().get(&s)));
            if let (true, true, Some(contribution)) = (in_reach, admitted, contribution) {
                visible.add(&contribution, 1);
            }
        }
        visible
    }

    fn check(batches: Vec<Vec<Event>>) -> Result<(), TestCaseError> {
        let (_dir, store) = store_with(batches);
        let snapshot = store.read().expect("snapshot");
        let (users, teams, stages) = store
            .with_model(|m| {
                (
                    m.users().keys().copied().collect::<Vec<_>>(),
                    m.teams().keys().copied().collect::<Vec<_>>(),
                    m.stages().keys().copied().collect::<Vec<_>>(),
                )
            })
            .expect("model");
        let subjects = users.iter().map(|&u| Some(u)).chain([None]);
        for subject in subjects {
            let Some(stored) = snapshot
                .metrics(subject.unwrap_or(EVERYTHING))
                .expect("read")
            else {
                continue;
            };
            let reach = Reach::of(&snapshot, subject).expect("reach");
            // Unnarrowed, the facts give back the precomputed metrics exactly.
            let facts = facts_in(&snapshot, &reach, &DashboardQuery::default()).expect("facts");
            let summed = metrics_from_facts(&snapshot, &stored, &facts).expect("sums");
            prop_assert_eq!(&summed, &stored, "metrics of {:?}", subject);
            // Narrowed, they equal a brute-force sum over the raw records.
            let narrowings = teams
                .iter()
                .map(|&t| (Some(t), None))
                .chain(stages.iter().chain([&NO_STAGE]).map(|&s| (None, Some(s))));
            for (team, stage) in narrowings {
                let query = DashboardQuery {
                    team,
                    stage,
                    ..DashboardQuery::default()
                };
                let facts = facts_in(&snapshot, &reach, &query).expect("facts");
                let narrowed = metrics_from_facts(&snapshot, &stored, &facts).expect("sums");
                let expected = store
                    .with_model(|m| brute_force_visible(m, subject, team, stage))
                    .expect("model");
                prop_assert_eq!(
                    &narrowed.visible,
                    &expected,
                    "{:?} narrowed to team {:?} stage {:?}",
                    subject,
                    team,
                    stage
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn facts_sum_to_the_precomputed_metrics_and_narrow_like_brute_force(batches in arb_batches()) {
            check(batches)?;
        }
    }
}
