//! Read-side queries for the API: dashboards, opportunity lists and details with their history, the
//! team tree. Every query takes the [`Viewer`] and answers only within its reach; something out of
//! reach is "not found", never "forbidden". No HTTP here.

mod dashboard;
mod drill;
mod filters;
pub mod history;
mod id_set;
mod opportunities;
mod team_table;
mod trends;

use serde::Serialize;

pub use dashboard::{DashboardQuery, DashboardReport, PastMoment, dashboard};
pub use filters::{FilterOptions, filter_options};
pub use opportunities::{
    HistoryEntry, ListTotals, OpportunityDetail, OpportunityFilter, OpportunityPage, OwnerFilter,
    SortKey, StatusFilter, all_opportunities, list_opportunities, opportunity_detail, to_csv,
    totals_of,
};
pub use team_table::{TeamRow, TeamRowKind};
pub use trends::{TrendsReport, trends};

use crate::auth::Viewer;
use crate::domain::OdooId;
use crate::store::{Snapshot, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `fact` belongs to the closing period `[from, to]` (either end open, or both for all
/// time): a period is about closed deals, so open ones always do; closed ones when they closed in
/// it. The dashboard and the lists both mean this by a period.
pub(crate) fn in_closing_period(
    fact: &crate::projections::OpportunityFact,
    from: Option<jiff::civil::Date>,
    to: Option<jiff::civil::Date>,
) -> bool {
    fact.status == crate::projections::DealStatus::Open
        || (from.is_none() && to.is_none())
        || fact
            .closed_on
            .is_some_and(|day| from.is_none_or(|from| day >= from) && to.is_none_or(|to| day <= to))
}

/// Cents as an amount in currency units.
pub fn amount(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// One person in the team tree.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamNode {
    pub user_id: OdooId,
    pub name: String,
    pub job_title: Option<String>,
    /// The same shape again, one level down.
    #[schema(no_recursion)]
    pub reports: Vec<TeamNode>,
}

/// The viewer's reporting subtree as a tree (admins: everyone, from the top).
pub fn team(snapshot: &Snapshot, viewer: &Viewer) -> Result<Vec<TeamNode>, QueryError> {
    let roots: Vec<OdooId> = match viewer.user_id() {
        Some(user) if !viewer.is_admin() => vec![user],
        _ if viewer.is_admin() => {
            let mut roots = Vec::new();
            for profile in snapshot.views::<crate::projections::UserProfileView>(
                crate::projections::ViewTable::UserProfiles,
            )? {
                if profile.manager_id.is_none()
                    && profile.active
                    && (profile.is_manager || profile.employee_id.is_some())
                {
                    roots.push(profile.user_id);
                }
            }
            roots
        }
        _ => Vec::new(),
    };
    roots
        .into_iter()
        .map(|root| node(snapshot, root, 0))
        .collect::<Result<Vec<_>, _>>()
        .map(|nodes| nodes.into_iter().flatten().collect())
}

fn node(snapshot: &Snapshot, user: OdooId, depth: usize) -> Result<Option<TeamNode>, QueryError> {
    // Cycles were cut in the views; the depth bound is a second guard.
    if depth > 64 {
        return Ok(None);
    }
    let Some(profile) = snapshot.profile(user)? else {
        return Ok(None);
    };
    let mut reports = Vec::new();
    for report in &profile.direct_reports {
        if let Some(child) = node(snapshot, *report, depth + 1)? {
            reports.push(child);
        }
    }
    Ok(Some(TeamNode {
        user_id: user,
        name: profile.name,
        job_title: profile.job_title,
        reports,
    }))
}

/// A user whose manager an admin set in pipelog, overriding Odoo.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ManagerOverride {
    pub user_id: OdooId,
    pub name: String,
    pub manager_id: Option<OdooId>,
    pub manager_name: Option<String>,
}

/// Every manager override in force, by name (admins only: callers check).
pub fn manager_overrides(snapshot: &Snapshot) -> Result<Vec<ManagerOverride>, QueryError> {
    let profiles = snapshot.views::<crate::projections::UserProfileView>(
        crate::projections::ViewTable::UserProfiles,
    )?;
    let names: std::collections::HashMap<OdooId, &str> = profiles
        .iter()
        .map(|p| (p.user_id, p.name.as_str()))
        .collect();
    let mut overrides: Vec<ManagerOverride> = profiles
        .iter()
        .filter(|p| p.manager_source == Some(crate::projections::ManagerSource::Override))
        .map(|p| ManagerOverride {
            user_id: p.user_id,
            name: p.name.clone(),
            manager_id: p.manager_id,
            manager_name: p
                .manager_id
                .and_then(|m| names.get(&m).map(|n| n.to_string())),
        })
        .collect();
    overrides.sort_by(|a, b| a.name.cmp(&b.name).then(a.user_id.cmp(&b.user_id)));
    Ok(overrides)
}
