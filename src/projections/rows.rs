//! View rows: what a settled read model hands the store to write, already encoded.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::OdooId;

use super::history::Timeline;
use super::views::{
    AccessView, LoginView, MetricsView, NamedRef, OpportunityFact, OpportunityView, StageRef,
    SyncStatusView, UserProfileView,
};

/// The view tables, in the order rows are sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViewTable {
    UserProfiles,
    Logins,
    Opportunities,
    UserAccess,
    DashboardMetrics,
    SyncStatus,
    Stages,
    OpportunityFacts,
    Teams,
    OpportunityHistory,
}

impl ViewTable {
    pub const ALL: [ViewTable; 10] = [
        ViewTable::UserProfiles,
        ViewTable::Logins,
        ViewTable::Opportunities,
        ViewTable::UserAccess,
        ViewTable::DashboardMetrics,
        ViewTable::SyncStatus,
        ViewTable::Stages,
        ViewTable::OpportunityFacts,
        ViewTable::Teams,
        ViewTable::OpportunityHistory,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ViewTable::UserProfiles => "user_profiles",
            ViewTable::Logins => "logins",
            ViewTable::Opportunities => "opportunity_view",
            ViewTable::UserAccess => "user_access_matrix",
            ViewTable::DashboardMetrics => "dashboard_metrics",
            ViewTable::SyncStatus => "sync_status",
            ViewTable::Stages => "stages",
            ViewTable::OpportunityFacts => "opportunity_facts",
            ViewTable::Teams => "teams",
            ViewTable::OpportunityHistory => "opportunity_history",
        }
    }

    /// Decodes a stored row of this table into JSON, for diffs and dumps.
    pub fn decode_json(self, bytes: &[u8]) -> Result<serde_json::Value, postcard::Error> {
        fn json<T: DeserializeOwned + Serialize>(
            bytes: &[u8],
        ) -> Result<serde_json::Value, postcard::Error> {
            let view: T = postcard::from_bytes(bytes)?;
            Ok(serde_json::to_value(view).unwrap_or(serde_json::Value::Null))
        }
        match self {
            ViewTable::UserProfiles => json::<UserProfileView>(bytes),
            ViewTable::Logins => json::<LoginView>(bytes),
            ViewTable::Opportunities => json::<OpportunityView>(bytes),
            ViewTable::UserAccess => json::<AccessView>(bytes),
            ViewTable::DashboardMetrics => json::<MetricsView>(bytes),
            ViewTable::SyncStatus => json::<SyncStatusView>(bytes),
            ViewTable::Stages => json::<StageRef>(bytes),
            ViewTable::OpportunityFacts => json::<OpportunityFact>(bytes),
            ViewTable::Teams => json::<NamedRef>(bytes),
            ViewTable::OpportunityHistory => json::<Timeline>(bytes),
        }
    }
}

/// A row key: Odoo id for most views, a name for logins (the email) and the sync status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RowKey {
    Id(OdooId),
    Name(String),
}

impl std::fmt::Display for RowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowKey::Id(id) => write!(f, "{id}"),
            RowKey::Name(name) => f.write_str(name),
        }
    }
}

/// One row to write; `value: None` deletes the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewRow {
    pub table: ViewTable,
    pub key: RowKey,
    pub value: Option<Vec<u8>>,
}

impl ViewRow {
    pub fn encode<T: Serialize>(table: ViewTable, key: RowKey, view: &T) -> ViewRow {
        let bytes =
            postcard::to_allocvec(view).expect("invariant: view types always encode with postcard");
        ViewRow {
            table,
            key,
            value: Some(bytes),
        }
    }

    pub fn delete(table: ViewTable, key: RowKey) -> ViewRow {
        ViewRow {
            table,
            key,
            value: None,
        }
    }
}

/// Decodes a stored view row.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}
