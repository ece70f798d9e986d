//! The shapes of the API's own answers and request bodies (those not already a query's result),
//! as Rust types: handlers build them, and the OpenAPI document is generated from them, so the two
//! cannot drift apart.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{EventEnvelope, OdooId, Role};
use crate::projections::{LoginView, SyncStatusView};
use crate::queries::{ManagerOverride, TeamNode};
use crate::sync::schedule::ScheduleState;

/// The dashboard's filters, shared by its figures and its trends.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardFilters {
    /// Someone within your reach (default: yourself).
    pub user: Option<OdooId>,
    /// Only that team's opportunities.
    pub team: Option<OdooId>,
    /// Only opportunities in that stage (0: without a stage).
    pub stage: Option<OdooId>,
    /// Won revenue from this date (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<jiff::civil::Date>,
    /// Won revenue until this date (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<jiff::civil::Date>,
    /// Every figure as it was at this moment: a date (the end of that UTC day) or an RFC 3339
    /// timestamp. The answer's `history` says where known history begins.
    #[param(value_type = Option<String>)]
    pub as_of: Option<String>,
}

/// Every error: what went wrong, in a stable code and in words.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`, `timeout`,
    /// `conflict`, `in_progress`, `payload_too_large`, `unsupported_media_type`,
    /// `idempotency_key_reused`, `throttled`, `odoo_refused`, `unavailable` or `internal`.
    pub code: String,
    pub message: String,
    /// With `conflict`: the record's version now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (with HTTP 503) when the data file cannot be read.
    pub status: String,
    /// `ok` or `error`.
    pub store: String,
    /// Absent when the store cannot be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<HealthSync>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthSync {
    pub configured: bool,
    pub running: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_run_at: Option<jiff::Timestamp>,
    pub consecutive_failures: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_finished_at: Option<jiff::Timestamp>,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success_at: Option<jiff::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_failure_at: Option<jiff::Timestamp>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    #[schema(max_length = 1024)]
    pub password: String,
}

/// The account now signed in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignedIn {
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// Signed out of pipelog; the provider's own session may still be open.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignedOut {
    /// Where to sign out of the identity provider too.
    pub end_session_url: String,
}

/// How people may sign in here, for the sign-in page (asked before signing in).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SignInOptions {
    /// Whether email and password work for everyone (when not, only for admins).
    pub password_sign_in: bool,
    /// Whether people may ask for an account with a password.
    pub signup: bool,
    /// Single sign-on, when configured.
    pub sso: Option<SsoOption>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SsoOption {
    /// The button's text, e.g. "Sign in with Microsoft".
    pub label: String,
    /// Where the button goes: it redirects to the identity provider.
    pub start_url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub is_admin: bool,
    /// The Odoo user this account is linked to by email; `null` when none has its email.
    pub user_id: Option<OdooId>,
    pub manager_id: Option<OdooId>,
    pub direct_reports: Vec<OdooId>,
    pub is_manager: bool,
    pub job_title: Option<String>,
    pub demo: bool,
    pub sync_configured: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    #[schema(max_length = 100)]
    pub name: String,
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The one-time token `serve` printed.
    pub token: String,
    #[schema(max_length = 254, format = Email)]
    pub email: String,
    #[schema(max_length = 100)]
    pub name: String,
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// A request taken, with what happens next.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// `pending` (a sign-up) or `created` (the first admin).
    pub status: String,
    pub message: String,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Read every record and look for deletions.
    #[serde(default)]
    pub full: bool,
    /// Let this run delete more than the mass-delete guard allows.
    #[serde(default)]
    pub allow_mass_delete: bool,
    /// Read the past of every deal that has none yet from Odoo's change tracking in this run.
    #[serde(default)]
    pub backfill_history: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Queued {
    pub queued: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountsPage {
    pub accounts: Vec<LoginView>,
    /// How many match, on every page.
    pub total: usize,
    pub page: usize,
    pub per_page: usize,
}

/// What `POST /api/admin/accounts/{email}/{action}` does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountAction {
    Approve,
    Disable,
    /// Change the role to the body's `role`.
    Role,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    pub role: Role,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagerRequest {
    /// The new manager's user id, or null to follow Odoo again.
    pub manager: Option<OdooId>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub salesperson: OdooId,
}

/// What a command appended (or, replayed, what it appended the first time).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CommandOutcome {
    pub positions: Vec<u64>,
    /// Each event's aggregate version after the append; the last is the `ETag`.
    pub versions: Vec<u64>,
    /// The same request was answered before with this `Idempotency-Key`; nothing was appended.
    pub replayed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overrides {
    pub overrides: Vec<ManagerOverride>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Team {
    pub team: Vec<TeamNode>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStatus {
    pub configured: bool,
    pub schedule: ScheduleState,
    pub history: SyncStatusView,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<EventEnvelope>,
    /// Pass as `after` for the next page; `null` when this page is empty.
    pub next_after: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Verified {
    pub clean: bool,
    pub events: u64,
    pub rows_checked: u64,
    pub differences_total: usize,
    /// The first differences, in words.
    pub differences: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rebuilt {
    pub events: u64,
    pub rows: u64,
    pub seconds: f64,
}
