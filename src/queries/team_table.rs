//! The dashboard's team table: rows that split the dashboard's deals without overlap (the
//! subject's own deals, each direct report's whole reach; for everything, each top of the
//! hierarchy, unassigned deals and the deals of people outside the hierarchy) and a total row
//! equal to the cards, per currency. Each cell carries the list query behind it.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::QueryError;
use super::dashboard::{CurrencyFigures, DashboardQuery, StageNames, all_figures};
use super::drill::Drill;
use crate::domain::OdooId;
use crate::projections::{Aggregate, EVERYTHING, MetricsView};
use crate::store::Snapshot;

/// What a row of the team table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamRowKind {
    /// The subject's own deals (no such row for everything: admins own no deals as such).
    Own,
    /// A direct report's whole reach (for everything: a top of the hierarchy's).
    Report,
    /// Everything only: deals with no salesperson (or one that is not a synced user).
    Unassigned,
    /// Everything only: deals whose salesperson is in no report row (a share user, or someone in
    /// a manager cycle).
    Outside,
    /// The sum of the rows: the dashboard's cards.
    Total,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamRow {
    pub kind: TeamRowKind,
    /// The person of an `own` or `report` row.
    pub user_id: Option<OdooId>,
    pub name: String,
    /// Per currency; a currency missing here has no deals in this row.
    pub currencies: BTreeMap<String, CurrencyFigures>,
}

/// The rows of `metrics` (already narrowed like the dashboard), drilled from `base`.
pub(super) fn team_table(
    metrics: &MetricsView,
    subject_name: &str,
    name_of: impl Fn(OdooId) -> Result<String, QueryError>,
    stages: &StageNames,
    base: &Drill,
    query: &DashboardQuery,
) -> Result<Vec<TeamRow>, QueryError> {
    let row = |kind, user_id, name: String, aggregate: &Aggregate, drill: Drill| TeamRow {
        kind,
        user_id,
        name,
        currencies: all_figures(&aggregate.summary(), stages, &drill, query),
    };
    let mut rows = Vec::with_capacity(metrics.team.len() + 3);
    let everything = metrics.user_id == EVERYTHING;
    if !everything && !metrics.own.is_empty() {
        rows.push(row(
            TeamRowKind::Own,
            Some(metrics.user_id),
            subject_name.to_string(),
            &metrics.own,
            base.clone().with("salesperson", metrics.user_id),
        ));
    }
    for member in &metrics.team {
        rows.push(row(
            TeamRowKind::Report,
            Some(member.user_id),
            name_of(member.user_id)?,
            &member.totals,
            base.clone().with("user", member.user_id),
        ));
    }
    if everything {
        for (kind, name, aggregate, owner) in [
            (
                TeamRowKind::Unassigned,
                "Unassigned",
                &metrics.unassigned,
                "unassigned",
            ),
            (
                TeamRowKind::Outside,
                "Outside the hierarchy",
                &metrics.outside,
                "outside",
            ),
        ] {
            if !aggregate.is_empty() {
                rows.push(row(
                    kind,
                    None,
                    name.into(),
                    aggregate,
                    base.clone().with("owner", owner),
                ));
            }
        }
    }
    rows.push(row(
        TeamRowKind::Total,
        None,
        "Total".into(),
        &metrics.visible,
        base.clone(),
    ));
    Ok(rows)
}

/// Everyone in a report row of the everything dashboard: each top of the hierarchy and their
/// subtree. Deals of anyone else are "outside the hierarchy".
pub(super) fn in_the_hierarchy(snapshot: &Snapshot) -> Result<HashSet<OdooId>, QueryError> {
    let mut members = HashSet::new();
    let Some(everything) = snapshot.metrics(EVERYTHING)? else {
        return Ok(members);
    };
    for root in everything.team {
        if let Some(access) = snapshot.access(root.user_id)? {
            members.extend(access.visible_users);
        }
    }
    Ok(members)
}
