//! The shapes of the materialized views, as stored (postcard) and served (JSON).
//!
//! Views are disposable: they can always be rebuilt from the log. When a shape here changes,
//! bump [`VIEW_SCHEMA_VERSION`] and the store rebuilds the views on open.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::hierarchy::ManagerSource;
use super::metrics::{Aggregate, Contribution, DealStatus, NO_STAGE, Totals};
use crate::domain::{Cents, LeadKind, ModelSyncCounts, OdooId, QuarantinedRecord, Role};

/// Version of every view shape below; a mismatch on open triggers a rebuild.
/// 11: opportunity views compressed like time lines (see `store::codec`).
pub const VIEW_SCHEMA_VERSION: u32 = 11;

/// Key of the dashboard row that covers everything (what admins see). Odoo ids start at 1.
pub const EVERYTHING: OdooId = 0;

/// The projections, by the name of their checkpoint.
pub const PROJECTIONS: [&str; 4] = [
    "user_profiles",
    "opportunity_view",
    "user_access_matrix",
    "dashboard_metrics",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginStatus {
    Pending,
    Approved,
    Disabled,
}

/// The pipelog account linked to an Odoo user (by email).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedLogin {
    pub email: String,
    pub role: Role,
    pub status: LoginStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserProfileView {
    pub user_id: OdooId,
    pub name: String,
    pub login: String,
    pub email: Option<String>,
    pub active: bool,
    pub employee_id: Option<OdooId>,
    pub team_id: Option<OdooId>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<OdooId>,
    pub manager_source: Option<ManagerSource>,
    pub direct_reports: Vec<OdooId>,
    /// Everyone below this user, sorted.
    pub subtree: Vec<OdooId>,
    pub is_manager: bool,
    /// The user's manager data formed a cycle, which was cut (see `pipelog status`).
    pub in_manager_cycle: bool,
    pub login_account: Option<LinkedLogin>,
}

/// A pipelog sign-in account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginView {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: LoginStatus,
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<Timestamp>,
    /// The Odoo user with the same email, whose place in the hierarchy gives this account its reach.
    pub user_id: Option<OdooId>,
    /// The OpenID provider's identity the account signs in as, once linked.
    #[serde(default)]
    pub external_identity: Option<crate::domain::ExternalIdentity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NamedRef {
    pub id: OdooId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageRef {
    pub id: OdooId,
    pub name: String,
    pub sequence: i64,
    pub is_won: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountRef {
    pub id: OdooId,
    pub name: String,
    pub city: Option<String>,
    pub country: Option<String>,
}

/// One opportunity (or lead), denormalized for listing and detail pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpportunityView {
    pub id: OdooId,
    pub name: String,
    pub kind: LeadKind,
    pub status: DealStatus,
    pub stage: Option<StageRef>,
    /// In cents of `currency`.
    #[serde(rename = "expected_revenue_cents")]
    pub expected_revenue: Cents,
    /// In cents of `currency`; zero unless open.
    #[serde(rename = "weighted_revenue_cents")]
    pub weighted_revenue: Cents,
    pub currency: String,
    pub probability: f64,
    #[schema(value_type = Option<String>, format = Date)]
    pub date_deadline: Option<Date>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub date_closed: Option<Timestamp>,
    pub lost_reason: Option<String>,
    pub salesperson: Option<NamedRef>,
    /// The salesperson's managers, nearest first.
    pub manager_chain: Vec<OdooId>,
    pub team: Option<NamedRef>,
    pub account: Option<AccountRef>,
    /// Users who can see it through the hierarchy (salesperson and manager chain); admins see all.
    pub visible_to: Vec<OdooId>,
}

/// The few fields of an opportunity that filters, sorts and sums need: a compact companion of
/// [`OpportunityView`] under the same key, so that a dashboard or a list over 100,000 opportunities
/// scans small rows instead of decoding every full view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityFact {
    pub id: OdooId,
    pub kind: LeadKind,
    pub status: DealStatus,
    pub salesperson: Option<OdooId>,
    pub team: Option<OdooId>,
    /// As Odoo has it, known stage or not (what the dashboard metrics count it under).
    pub stage: Option<OdooId>,
    /// Shared, not copied: a question over 100,000 facts hands the same few codes around.
    pub currency: Arc<str>,
    pub expected_revenue: Cents,
    /// Zero unless open.
    pub weighted_revenue: Cents,
    pub date_deadline: Option<Date>,
    /// The UTC day it was closed (won or lost), when Odoo says.
    pub closed_on: Option<Date>,
    /// The name, the account's name and the salesperson's name, lower-cased, each ended by a NUL:
    /// what a text search looks in, without decoding the full view.
    pub search: String,
}

impl OpportunityFact {
    /// The searchable text of an opportunity, as [`OpportunityFact::search`] holds it.
    pub fn search_text<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
        let mut text = String::new();
        for field in fields {
            text.push_str(&field.to_lowercase());
            text.push('\0');
        }
        text
    }

    /// Whether the name, the account or the salesperson contains `needle` (lower-cased).
    pub fn mentions(&self, needle: &str) -> bool {
        self.search.split('\0').any(|field| field.contains(needle))
    }
}

impl OpportunityFact {
    /// What it adds to the pipeline figures; `None` for leads, exactly as the dashboard metrics.
    pub fn contribution(&self) -> Option<Contribution> {
        (self.kind == LeadKind::Opportunity).then(|| Contribution {
            owner: self.salesperson,
            currency: self.currency.clone(),
            status: self.status,
            stage_id: self.stage.unwrap_or(NO_STAGE),
            value: self.expected_revenue,
            weighted: self.weighted_revenue,
        })
    }
}

/// What one Odoo user can see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessView {
    pub user_id: OdooId,
    /// The linked pipelog account is an admin: everything is visible.
    pub everything: bool,
    /// Owners whose opportunities this user sees: themselves and their whole subtree, sorted.
    pub visible_users: Vec<OdooId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamMemberMetrics {
    pub user_id: OdooId,
    /// The report's whole reach (their own deals and their subtree's), without the stage breakdown.
    pub totals: Aggregate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performer {
    pub user_id: OdooId,
    pub currency: String,
    pub won_value: Cents,
    pub won_count: i64,
}

/// How many top performers a dashboard lists.
pub const TOP_PERFORMERS: usize = 5;

impl Performer {
    /// The best closers among `members` in each currency of `reach` (at most
    /// [`TOP_PERFORMERS`] per currency, by won value): ordered by currency, then rank.
    pub fn rank<'a>(
        reach: &Aggregate,
        members: impl IntoIterator<Item = OdooId>,
        own: impl Fn(OdooId) -> Option<&'a Aggregate>,
    ) -> Vec<Performer> {
        let mut by_currency: BTreeMap<&str, Vec<Performer>> = reach
            .by_currency
            .keys()
            .map(|currency| (currency.as_str(), Vec::new()))
            .collect();
        for user_id in members {
            let Some(aggregate) = own(user_id) else {
                continue;
            };
            for (currency, totals) in &aggregate.by_currency {
                if let Some(performers) = by_currency.get_mut(currency.as_str())
                    && totals.won_count > 0
                {
                    performers.push(Performer {
                        user_id,
                        currency: currency.clone(),
                        won_value: totals.won_value,
                        won_count: totals.won_count,
                    });
                }
            }
        }
        by_currency
            .into_values()
            .flat_map(|mut performers| {
                performers.sort_by(|a, b| {
                    b.won_value
                        .cmp(&a.won_value)
                        .then(b.won_count.cmp(&a.won_count))
                        .then(a.user_id.cmp(&b.user_id))
                });
                performers.truncate(TOP_PERFORMERS);
                performers
            })
            .collect()
    }
}

/// Dashboard figures for one user over everything they can see ([`EVERYTHING`] for admins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsView {
    pub user_id: OdooId,
    /// The user's own deals.
    pub own: Aggregate,
    /// Everything the user can see: own deals plus the whole subtree's.
    pub visible: Aggregate,
    /// One row per direct report ([`EVERYTHING`]: per top of the hierarchy).
    pub team: Vec<TeamMemberMetrics>,
    /// [`EVERYTHING`] only: deals with no salesperson (or one that is not a synced user).
    pub unassigned: Aggregate,
    /// [`EVERYTHING`] only: deals whose salesperson is in no row of `team` (a share user, or
    /// someone in a manager cycle), so that the rows add up to `visible`.
    pub outside: Aggregate,
    /// The best closers in reach by won value in the reach's main currency.
    pub top_performers: Vec<Performer>,
}

impl MetricsView {
    pub fn totals(&self, currency: &str) -> Option<&Totals> {
        self.visible.by_currency.get(currency)
    }
}

/// How a sync run ended. Externally tagged: postcard cannot decode internally tagged enums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    Running,
    Succeeded {
        counts: std::collections::BTreeMap<String, ModelSyncCounts>,
        warnings: Vec<String>,
        quarantined: Vec<QuarantinedRecord>,
    },
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncRunView {
    pub run_id: Uuid,
    pub full: bool,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    pub duration_ms: Option<u64>,
    pub outcome: SyncOutcome,
}

/// Sync history, derived from the sync events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncStatusView {
    /// Newest first, at most [`SyncStatusView::RECENT_RUNS`].
    pub recent_runs: Vec<SyncRunView>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_failure_at: Option<Timestamp>,
    pub runs_total: u64,
    pub failures_total: u64,
}

impl SyncStatusView {
    pub const RECENT_RUNS: usize = 20;

    pub fn last_run(&self) -> Option<&SyncRunView> {
        self.recent_runs.first()
    }
}
