//! The read side: projections that fold the event log into materialized views.
//!
//! Owns the view shapes and the pure fold ([`ReadModel::apply`], [`ReadModel::settle`]). Must not
//! touch I/O: the store persists the rows this module renders, in the same transaction as the events.
//!
//! - `user_profiles` (+ `logins`): identity, Odoo linkage, the reporting hierarchy, role and approval.
//! - `opportunity_view`: denormalized opportunities and who can see each.
//! - `user_access_matrix`: what each user can see (their whole subtree; admins everything).
//! - `dashboard_metrics`: per-user pipeline figures over their reach, kept exact incrementally.
//! - `opportunity_history`: each deal's past as states in effective-time order (see [`history`]).

pub mod hierarchy;
pub mod history;
pub mod metrics;
pub mod model;
pub mod rows;
pub mod views;

pub use hierarchy::{Hierarchy, ManagerSource};
pub use metrics::{Aggregate, Contribution, DealStatus, NO_STAGE, Totals, currency_entry};
pub use model::{
    Anomaly, DealTimes, MODEL_SNAPSHOT_VERSION, ReadModel, SYNC_STATUS_KEY, SnapshotError,
};
pub use rows::{RowKey, ViewRow, ViewTable, decode};
pub use views::*;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
