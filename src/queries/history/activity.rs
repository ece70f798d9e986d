//! The activity feed: the latest changes to deals within reach, newest first, paged.
//!
//! A change is in reach when the deal was owned, just before or just after it, by someone within
//! the viewer's reach now; so a deal handed to another team still shows the hand-over.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use super::super::QueryError;
use super::{Lookups, Scope};
use crate::auth::Viewer;
use crate::domain::OdooId;
use crate::projections::history::{Cause, DealState, Timeline, changed_fields, field, timestamp};
use crate::store::Snapshot;

#[derive(Debug, Clone)]
pub struct ActivityQuery {
    /// Someone within the viewer's reach (default: the viewer; everything for admins).
    pub user: Option<OdooId>,
    /// Only deals owned by `user` themselves, not their whole team.
    pub own_only: bool,
    /// 1-based.
    pub page: usize,
    pub per_page: usize,
}

/// One field's move, shown as names (stage, salesperson, team) and plain values.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldMove {
    pub field: String,
    /// A name, a number (cents for money), a date, a boolean or null.
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivityItem {
    pub opportunity_id: OdooId,
    pub name: String,
    /// When it happened at the source.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `sync` (the sync read it), `tracking` (Odoo's chatter), `history_begins` (where the
    /// deal's known past begins) or `pipelog` (a command here).
    pub source: String,
    /// The chatter message's author, or the pipelog account.
    pub actor: Option<String>,
    /// The first time the deal is seen (created, or first read).
    pub first_seen: bool,
    pub currency: String,
    pub changes: Vec<FieldMove>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivityPage {
    pub user_id: Option<OdooId>,
    pub items: Vec<ActivityItem>,
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

pub fn activity(
    snapshot: &Snapshot,
    viewer: &Viewer,
    query: &ActivityQuery,
) -> Result<ActivityPage, QueryError> {
    if query.per_page == 0 || query.per_page > 500 {
        return Err(QueryError::BadInput(
            "per_page must be between 1 and 500".into(),
        ));
    }
    if query.page == 0 {
        return Err(QueryError::BadInput("page starts at 1".into()));
    }
    let scope = Scope::of(snapshot, viewer, query.user, None)?;
    let lookups = Lookups::of(snapshot)?.with_names(snapshot)?;
    let timelines = snapshot.timelines()?;
    let owned = |state: &DealState| match (query.own_only, scope.subject) {
        (true, Some(user)) => lookups.salesperson(state) == Some(user),
        _ => scope.holds(&lookups, state),
    };
    let keep = query.page.saturating_mul(query.per_page);
    // The newest `keep` changes, held as a min-heap on (time, position).
    let mut newest: BinaryHeap<Reverse<(i64, u64, usize, usize)>> = BinaryHeap::new();
    let mut total = 0;
    for (deal, timeline) in timelines.iter().enumerate() {
        for (index, version) in timeline.versions.iter().enumerate() {
            let before = index.checked_sub(1).map(|i| timeline.versions[i].state);
            let in_reach = (version.state.exists && owned(&version.state))
                || before.is_some_and(|b| b.exists && owned(&b));
            if !in_reach {
                continue;
            }
            total += 1;
            let key = (version.at, version.position, deal, index);
            if newest.len() < keep {
                newest.push(Reverse(key));
            } else if newest.peek().is_some_and(|Reverse(oldest)| key > *oldest) {
                newest.pop();
                newest.push(Reverse(key));
            }
        }
    }
    let mut kept: Vec<(i64, u64, usize, usize)> = newest.into_iter().map(|Reverse(k)| k).collect();
    kept.sort_unstable_by(|a, b| b.cmp(a));
    let start = (query.page - 1).saturating_mul(query.per_page);
    let items = kept
        .into_iter()
        .skip(start)
        .map(|(_, _, deal, index)| item(&lookups, &timelines[deal], index))
        .collect();
    Ok(ActivityPage {
        user_id: scope.subject,
        items,
        total,
        page: query.page,
        per_page: query.per_page,
    })
}

fn item(lookups: &Lookups, timeline: &Timeline, index: usize) -> ActivityItem {
    let version = &timeline.versions[index];
    let before = index
        .checked_sub(1)
        .map(|i| timeline.versions[i].state)
        .filter(|state| state.exists);
    let (source, actor) = match version.cause {
        Cause::Sync => ("sync", None),
        Cause::HistoryBegins => ("history_begins", None),
        Cause::Tracking { author } => ("tracking", timeline.text(author)),
        Cause::Pipelog { actor } => ("pipelog", timeline.text(actor)),
    };
    let changes = match before {
        Some(before) => moves(lookups, timeline, &before, &version.state),
        None => Vec::new(),
    };
    ActivityItem {
        opportunity_id: timeline.id,
        name: timeline.name.clone(),
        at: timestamp(version.at),
        source: source.into(),
        actor: actor.map(str::to_string),
        first_seen: before.is_none(),
        currency: timeline.currency(&version.state).to_string(),
        changes,
    }
}

/// The fields that moved, in the order of [`field::NAMES`], with names for ids.
fn moves(
    lookups: &Lookups,
    timeline: &Timeline,
    before: &DealState,
    after: &DealState,
) -> Vec<FieldMove> {
    let mut changed = changed_fields(before, after);
    if !before.untracked_known {
        // Not a change: what Odoo never tracked became known at pipelog's first read.
        changed &= !(field::PROBABILITY | field::DEADLINE | field::PRORATED);
    }
    let show = |bit: u16, state: &DealState| -> Value {
        match bit {
            field::OWNER => state
                .user_id
                .map_or(Value::Null, |u| json!(lookups.user_name(u))),
            field::TEAM => state
                .team_id
                .map_or(Value::Null, |t| json!(lookups.team_name(t))),
            field::STAGE => state
                .stage_id
                .map_or(Value::Null, |s| json!(lookups.stage_name(s))),
            field::ACCOUNT => json!(state.account_id),
            field::CURRENCY => json!(timeline.currency(state)),
            field::EXPECTED => json!(state.expected_revenue),
            field::PROBABILITY => json!(state.probability),
            field::PRORATED => json!(state.prorated_revenue),
            field::DEADLINE => json!(state.date_deadline),
            field::CLOSED => json!(state.closed_on),
            field::ACTIVE => json!(state.active),
            field::LOST_REASON => json!(timeline.text(state.lost_reason)),
            field::KIND => json!(if state.opportunity {
                "opportunity"
            } else {
                "lead"
            }),
            _ => Value::Null,
        }
    };
    let mut moves: Vec<FieldMove> = field::NAMES
        .iter()
        .filter(|(_, bit)| changed & bit != 0)
        .map(|(name, bit)| FieldMove {
            field: (*name).to_string(),
            before: show(*bit, before),
            after: show(*bit, after),
        })
        .collect();
    if changed & field::EXISTS != 0 {
        moves.push(FieldMove {
            field: "exists".into(),
            before: json!(before.exists),
            after: json!(after.exists),
        });
    }
    moves
}
