//! History questions: the pipeline as it was at any moment, what moved between two moments, the
//! trend over a range and the latest changes. Answers from the deals' time lines (the history
//! view), never by replaying the log. No HTTP here.
//!
//! Reach is today's team applied to the past: a deal counts for a viewer at a moment when it was
//! owned then by someone within the viewer's reach now. Before pipelog first read a deal, its
//! probability and expected close are not known (Odoo never tracks them): such a deal adds
//! nothing to weighted figures and has no expected close, and the answer says it is partial.

mod activity;
mod risk;
mod trend;
mod velocity;
mod waterfall;

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use super::QueryError;
use super::dashboard::{Reach, subject};
use super::id_set::IdSet;
use crate::auth::Viewer;
use crate::domain::{LeadKind, OdooId};
use crate::projections::history::{DealState, Timeline, micros, timestamp, utc_day};
use crate::projections::{
    AccountRef, DealStatus, NamedRef, OpportunityFact, OpportunityView, StageRef,
};
use crate::store::Snapshot;

pub use activity::{ActivityItem, ActivityPage, ActivityQuery, FieldMove, activity};
pub use risk::{
    OverdueDeal, SlippedDeal, SlippedReport, SlipsByPerson, StaleDeal, StaleQuery, StaleReport,
    StaleRules, StaleTotals, slipped, stale,
};
pub use trend::{Every, TrendPoint, TrendQuery, TrendReport, trend};
pub use velocity::{Durations, MonthWinRate, StageVelocity, VelocityReport, velocity};

pub use waterfall::{
    Bar, DealMoment, Movement, WaterfallBar, WaterfallCurrency, WaterfallDeal, WaterfallDeals,
    WaterfallQuery, WaterfallReport, waterfall, waterfall_deals,
};

/// Whose deals, and from when to when: what the slipped deals and the velocity ask.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    /// Someone within the viewer's reach (default: the viewer; everything for admins).
    pub user: Option<OdooId>,
    /// Only deals of this team (at each moment).
    pub team: Option<OdooId>,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// Whose deals a history question counts: the subject's reach today (everything for `None`),
/// and one team when asked, applied to each deal's state of the moment.
pub(crate) struct Scope {
    pub(crate) subject: Option<OdooId>,
    reach: Reach,
    team: Option<OdooId>,
}

impl Scope {
    /// The scope of `user` (the viewer by default) within the viewer's reach.
    pub(crate) fn of(
        snapshot: &Snapshot,
        viewer: &Viewer,
        user: Option<OdooId>,
        team: Option<OdooId>,
    ) -> Result<Scope, QueryError> {
        let subject = subject(viewer, user)?;
        Ok(Scope {
            subject,
            reach: Reach::of(snapshot, subject)?,
            team,
        })
    }

    /// Whether a deal in `state` was then owned by someone in reach, and of the team.
    pub(crate) fn holds(&self, lookups: &Lookups, state: &DealState) -> bool {
        self.reach.includes(lookups.salesperson(state))
            && self.team.is_none_or(|team| state.team_id == Some(team))
    }
}

/// Where known history begins, and whether an answer reaches before what is known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Boundaries {
    /// The earliest moment any deal's history is known from (its first tracking record or, without
    /// one, pipelog's first read).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub known_from: Option<Timestamp>,
    /// When pipelog first read any deal: probability and expected close are known from then.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_read_at: Option<Timestamp>,
    /// The answer reaches before `known_from`: deals older than their known history are missing.
    pub before_known_history: bool,
    /// Deals in the answer whose probability and expected close were not known yet: weighted
    /// figures leave them out and closing-window figures treat them as undated.
    pub deals_partial: u64,
}

impl Boundaries {
    pub fn partial(&self) -> bool {
        self.before_known_history || self.deals_partial > 0
    }
}

/// What turns a deal's past state into the figures the live views give: today's stages (won or
/// not), the users pipelog holds (a salesperson it does not hold counts as outside), and the
/// current search text.
pub(crate) struct Lookups {
    won_stages: IdSet,
    users: IdSet,
    pub(crate) stages: HashMap<OdooId, StageRef>,
    teams: HashMap<OdooId, String>,
    names: HashMap<OdooId, String>,
}

impl Lookups {
    pub(crate) fn of(snapshot: &Snapshot) -> Result<Lookups, QueryError> {
        let stages: HashMap<OdooId, StageRef> = snapshot
            .stages()?
            .into_iter()
            .map(|stage| (stage.id, stage))
            .collect();
        Ok(Lookups {
            won_stages: IdSet::new(stages.values().filter(|s| s.is_won).map(|s| s.id)),
            users: IdSet::new(snapshot.user_ids()?),
            stages,
            teams: snapshot
                .teams()?
                .into_iter()
                .map(|team| (team.id, team.name))
                .collect(),
            names: HashMap::new(),
        })
    }

    /// Adds the users' names, for answers that show them.
    pub(crate) fn with_names(mut self, snapshot: &Snapshot) -> Result<Lookups, QueryError> {
        for user in self.users.iter() {
            if let Some(profile) = snapshot.profile(user)? {
                self.names.insert(user, profile.name);
            }
        }
        Ok(self)
    }

    pub(crate) fn status(&self, state: &DealState) -> DealStatus {
        DealStatus::from_flags(
            state.active,
            state.stage_id.is_some_and(|s| self.won_stages.contains(s)),
        )
    }

    /// The salesperson as the live views name them: `None` unless pipelog holds the user.
    pub(crate) fn salesperson(&self, state: &DealState) -> Option<OdooId> {
        state.user_id.filter(|&u| self.users.contains(u))
    }

    pub(crate) fn user_name(&self, user: OdooId) -> String {
        self.names
            .get(&user)
            .cloned()
            .unwrap_or_else(|| format!("user {user}"))
    }

    pub(crate) fn stage_name(&self, stage: OdooId) -> String {
        self.stages
            .get(&stage)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| format!("stage {stage}"))
    }

    pub(crate) fn team_name(&self, team: OdooId) -> String {
        self.teams
            .get(&team)
            .cloned()
            .unwrap_or_else(|| format!("team {team}"))
    }

    /// The deal's compact facts in this state, exactly as the live views would render them.
    pub(crate) fn fact(
        &self,
        timeline: &Timeline,
        state: &DealState,
        currency: Arc<str>,
        search: String,
    ) -> OpportunityFact {
        let status = self.status(state);
        OpportunityFact {
            id: timeline.id,
            kind: if state.opportunity {
                LeadKind::Opportunity
            } else {
                LeadKind::Lead
            },
            status,
            salesperson: self.salesperson(state),
            team: state.team_id,
            stage: state.stage_id,
            currency,
            expected_revenue: state.expected_revenue,
            weighted_revenue: if status == DealStatus::Open && state.untracked_known {
                state.weighted_revenue()
            } else {
                0
            },
            date_deadline: state.date_deadline.filter(|_| state.untracked_known),
            closed_on: state.closed_on,
            search,
        }
    }
}

/// The pipeline as it was at one moment: every deal that existed then, as facts in id order
/// (the shape the dashboard and the lists sum), with what was not known yet.
pub struct AsOf {
    pub facts: Arc<Vec<OpportunityFact>>,
    /// Deals whose probability and expected close were not known at that moment, sorted.
    pub partial: Vec<OdooId>,
    pub known_from: Option<i64>,
    pub first_read_at: Option<i64>,
    pub at: i64,
}

impl AsOf {
    /// What an answer over `facts` (some of this moment's) says of its limits.
    pub fn boundaries<'a>(
        &self,
        facts: impl IntoIterator<Item = &'a OpportunityFact>,
    ) -> Boundaries {
        let deals_partial = facts
            .into_iter()
            .filter(|fact| self.partial.binary_search(&fact.id).is_ok())
            .count() as u64;
        Boundaries {
            known_from: self.known_from.map(timestamp),
            first_read_at: self.first_read_at.map(timestamp),
            before_known_history: self.known_from.is_none_or(|known| self.at < known),
            deals_partial,
        }
    }
}

/// The facts of every deal as of `at`. `with_search` adds the searchable text (the current
/// name, account and salesperson) that a text search needs.
pub fn facts_as_of(
    snapshot: &Snapshot,
    at: Timestamp,
    with_search: bool,
) -> Result<AsOf, QueryError> {
    let lookups = Lookups::of(snapshot)?;
    let timelines = snapshot.timelines()?;
    let current = if with_search {
        Some(snapshot.opportunity_facts()?)
    } else {
        None
    };
    let at = micros(at);
    let mut facts = Vec::with_capacity(timelines.len());
    let mut partial = Vec::new();
    let (known_from, first_read_at) = (timelines.known_from, timelines.first_read_at);
    let mut next_current = 0;
    for found in timelines.states_at(at) {
        if !found.state.exists {
            continue;
        }
        let timeline = &timelines[found.index];
        let search = match &current {
            Some(current) => search_text(current, &mut next_current, timeline),
            None => String::new(),
        };
        if !found.state.untracked_known {
            partial.push(timeline.id);
        }
        facts.push(lookups.fact(timeline, &found.state, found.currency.clone(), search));
    }
    Ok(AsOf {
        facts: Arc::new(facts),
        partial,
        known_from,
        first_read_at,
        at,
    })
}

/// The current search text of `timeline`'s deal (facts and time lines are both in id order, so
/// one pass finds them); a deleted deal is found by its last name.
fn search_text(current: &[OpportunityFact], next: &mut usize, timeline: &Timeline) -> String {
    while *next < current.len() && current[*next].id < timeline.id {
        *next += 1;
    }
    match current.get(*next) {
        Some(fact) if fact.id == timeline.id => fact.search.clone(),
        _ => OpportunityFact::search_text([timeline.name.as_str()]),
    }
}

/// Opportunity views as of a moment, for the lists behind past figures: the state of then
/// (stage, owner, value, expected close, outcome), the current name and account. Whom a deal
/// is visible to now is left out: the detail page answers that, within today's reach.
pub fn views_as_of(
    snapshot: &Snapshot,
    ids: &[OdooId],
    at: Timestamp,
) -> Result<Vec<OpportunityView>, QueryError> {
    let lookups = Lookups::of(snapshot)?.with_names(snapshot)?;
    let timelines = snapshot.timelines()?;
    let at = micros(at);
    // The current views (name, account) of those that still exist, read in one pass.
    let mut current: HashMap<OdooId, OpportunityView> = snapshot
        .opportunities(ids)?
        .into_iter()
        .map(|view| (view.id, view))
        .collect();
    let mut views = Vec::with_capacity(ids.len());
    for &id in ids {
        let Some(index) = timelines.position(id) else {
            continue;
        };
        let timeline = &timelines[index];
        let Some((version, currency)) = timelines
            .at_with_currency(index, at)
            .filter(|(v, _)| v.state.exists)
        else {
            continue;
        };
        views.push(view_of(
            &lookups,
            timeline,
            &version.state,
            currency.clone(),
            current.remove(&id),
        ));
    }
    Ok(views)
}

fn view_of(
    lookups: &Lookups,
    timeline: &Timeline,
    state: &DealState,
    currency: Arc<str>,
    current: Option<OpportunityView>,
) -> OpportunityView {
    let fact = lookups.fact(timeline, state, currency, String::new());
    let account = state.account_id.map(|id| {
        current
            .as_ref()
            .and_then(|view| view.account.clone())
            .filter(|account| account.id == id)
            .unwrap_or_else(|| AccountRef {
                id,
                name: format!("account {id}"),
                city: None,
                country: None,
            })
    });
    let closed_at = |day: Date| {
        current
            .as_ref()
            .and_then(|view| view.date_closed)
            .filter(|at| utc_day(*at) == day)
            .or_else(|| start_of_day(day))
    };
    OpportunityView {
        id: timeline.id,
        name: current
            .as_ref()
            .map(|view| view.name.clone())
            .unwrap_or_else(|| timeline.name.clone()),
        kind: fact.kind,
        status: fact.status,
        stage: state
            .stage_id
            .and_then(|stage| lookups.stages.get(&stage).cloned()),
        expected_revenue: fact.expected_revenue,
        weighted_revenue: fact.weighted_revenue,
        currency: fact.currency.to_string(),
        probability: if state.untracked_known {
            state.probability
        } else {
            0.0
        },
        date_deadline: fact.date_deadline,
        date_closed: state.closed_on.and_then(closed_at),
        lost_reason: timeline.text(state.lost_reason).map(str::to_string),
        salesperson: fact.salesperson.map(|id| NamedRef {
            id,
            name: lookups.user_name(id),
        }),
        manager_chain: Vec::new(),
        team: state.team_id.map(|id| NamedRef {
            id,
            name: lookups.team_name(id),
        }),
        account,
        visible_to: Vec::new(),
    }
}

/// The last instant of a UTC day: "as of 1 March" means at the end of it.
pub fn end_of_day(day: Date) -> Timestamp {
    day.tomorrow()
        .ok()
        .and_then(start_of_day)
        .map(|start| start - jiff::SignedDuration::from_micros(1))
        .unwrap_or(Timestamp::MAX)
}

/// Midnight UTC at the start of a day.
pub fn start_of_day(day: Date) -> Option<Timestamp> {
    day.at(0, 0, 0, 0)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Reads a moment: an RFC 3339 timestamp, or a date for the end of that UTC day.
pub fn parse_moment(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>()
        .ok()
        .or_else(|| text.parse::<Date>().ok().map(end_of_day))
}

/// Reads the start of a range: an RFC 3339 timestamp, or a date for the start of that UTC day
/// ("since Monday" counts Monday's changes).
pub fn parse_range_start(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok().or_else(|| {
        let day = text.parse::<Date>().ok()?;
        day.yesterday().ok().map(end_of_day)
    })
}

#[cfg(test)]
mod tests;
