//! Every redb table pipelog uses, in one place. Each name carries a format version: a format change is
//! a new table plus a migration, never a silent reinterpretation of old bytes.

use redb::TableDefinition;

use crate::projections::ViewTable;

/// Format of the file as a whole; a file with a larger number was written by a newer pipelog.
/// 2: events, source records and time lines compressed (`store::codec`), and `aggregates_v1`.
pub const FORMAT_VERSION: u32 = 2;

/// `format_version`, `view_schema_version`, creation time.
pub const META: TableDefinition<&str, &str> = TableDefinition::new("meta_v1");
/// The event log: position → JSON envelope.
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events_v1");
/// `kind/id` → the aggregate's current version and the positions of its events
/// (see `store::aggregates`).
pub const AGGREGATES: TableDefinition<&str, &[u8]> = TableDefinition::new("aggregates_v1");
/// Format 1's `kind/id` → version, moved into [`AGGREGATES`] on upgrade.
pub const FORMAT_1_AGGREGATE_VERSIONS: TableDefinition<&str, u64> =
    TableDefinition::new("aggregate_versions_v1");
/// Format 1's (`kind/id`, position) → (), moved into [`AGGREGATES`] on upgrade.
pub const FORMAT_1_AGGREGATE_EVENTS: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("aggregate_events_v1");
/// Command id → the outcome first returned for it (JSON), so retries append nothing.
pub const COMMANDS: TableDefinition<&str, &[u8]> = TableDefinition::new("commands_v1");
/// Event type name → number of events of that type in the log.
pub const EVENT_TYPE_COUNTS: TableDefinition<&str, u64> =
    TableDefinition::new("event_type_counts_v1");
/// Projection name → the last position applied to its view.
pub const CHECKPOINTS: TableDefinition<&str, u64> = TableDefinition::new("checkpoints_v1");

/// `model/id` → 8-byte little-endian checksum of the source record, then its raw JSON.
pub const SOURCE_RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("source_records_v1");
/// Odoo model → its sync cursor (JSON: watermark, last reconcile).
pub const SYNC_CURSORS: TableDefinition<&str, &[u8]> = TableDefinition::new("sync_cursors_v1");

/// Lower-case email → Argon2id PHC string. Secrets: never in the event log.
pub const CREDENTIALS: TableDefinition<&str, &str> = TableDefinition::new("credentials_v1");
/// SHA-256 of a session token (hex) → session (JSON). The token itself is never stored.
pub const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions_v1");

/// Compression dictionary id → the zstd dictionary (see `store::codec`); ids are never reused.
pub const DICTIONARIES: TableDefinition<u32, &[u8]> = TableDefinition::new("dictionaries_v1");

/// The writer's model as of one position (see `store::snapshot`): `header` and `model`, postcard.
pub const MODEL_SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("model_snapshot_v1");

pub const META_FORMAT_VERSION: &str = "format_version";
pub const META_VIEW_SCHEMA: &str = "view_schema_version";
/// Bumped in every write transaction that changes the opportunity facts or time lines: a
/// snapshot with the same number holds the same rows, so decoded rows can be shared (see
/// `FactsCache`).
pub const META_FACTS_GENERATION: &str = "facts_generation";

/// How a view table is keyed.
pub enum ViewDefinition {
    ById(TableDefinition<'static, u64, &'static [u8]>),
    ByName(TableDefinition<'static, &'static str, &'static [u8]>),
}

const USER_PROFILES: &str = "user_profiles_v1";
const LOGINS: &str = "logins_v1";
const OPPORTUNITIES: &str = "opportunity_view_v1";
const USER_ACCESS: &str = "user_access_matrix_v1";
const DASHBOARD_METRICS: &str = "dashboard_metrics_v1";
const SYNC_STATUS: &str = "sync_status_v1";
const STAGES: &str = "stages_v1";
const OPPORTUNITY_FACTS: &str = "opportunity_facts_v1";
const TEAMS: &str = "teams_v1";
const OPPORTUNITY_HISTORY: &str = "opportunity_history_v1";

const USER_PROFILES_NEXT: &str = "user_profiles_v1_rebuild";
const LOGINS_NEXT: &str = "logins_v1_rebuild";
const OPPORTUNITIES_NEXT: &str = "opportunity_view_v1_rebuild";
const USER_ACCESS_NEXT: &str = "user_access_matrix_v1_rebuild";
const DASHBOARD_METRICS_NEXT: &str = "dashboard_metrics_v1_rebuild";
const SYNC_STATUS_NEXT: &str = "sync_status_v1_rebuild";
const STAGES_NEXT: &str = "stages_v1_rebuild";
const OPPORTUNITY_FACTS_NEXT: &str = "opportunity_facts_v1_rebuild";
const TEAMS_NEXT: &str = "teams_v1_rebuild";
const OPPORTUNITY_HISTORY_NEXT: &str = "opportunity_history_v1_rebuild";

/// Which copy of a view table: the live one, or the one a rebuild fills before swapping it in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    Live,
    Rebuild,
}

/// The live history view, whose rows the writer reads back before a write (see `hold_timelines`).
pub const LIVE_HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new(OPPORTUNITY_HISTORY);
/// The live opportunity views, a compressed corpus like the history (see `store::codec`).
pub const LIVE_OPPORTUNITIES: TableDefinition<u64, &[u8]> = TableDefinition::new(OPPORTUNITIES);

pub fn view_definition(table: ViewTable, generation: Generation) -> ViewDefinition {
    let live = generation == Generation::Live;
    let pick =
        |live_name: &'static str, next_name: &'static str| if live { live_name } else { next_name };
    match table {
        ViewTable::UserProfiles => ViewDefinition::ById(TableDefinition::new(pick(
            USER_PROFILES,
            USER_PROFILES_NEXT,
        ))),
        ViewTable::Logins => {
            ViewDefinition::ByName(TableDefinition::new(pick(LOGINS, LOGINS_NEXT)))
        }
        ViewTable::Opportunities => ViewDefinition::ById(TableDefinition::new(pick(
            OPPORTUNITIES,
            OPPORTUNITIES_NEXT,
        ))),
        ViewTable::UserAccess => {
            ViewDefinition::ById(TableDefinition::new(pick(USER_ACCESS, USER_ACCESS_NEXT)))
        }
        ViewTable::DashboardMetrics => ViewDefinition::ById(TableDefinition::new(pick(
            DASHBOARD_METRICS,
            DASHBOARD_METRICS_NEXT,
        ))),
        ViewTable::SyncStatus => {
            ViewDefinition::ByName(TableDefinition::new(pick(SYNC_STATUS, SYNC_STATUS_NEXT)))
        }
        ViewTable::Stages => ViewDefinition::ById(TableDefinition::new(pick(STAGES, STAGES_NEXT))),
        ViewTable::OpportunityFacts => ViewDefinition::ById(TableDefinition::new(pick(
            OPPORTUNITY_FACTS,
            OPPORTUNITY_FACTS_NEXT,
        ))),
        ViewTable::Teams => ViewDefinition::ById(TableDefinition::new(pick(TEAMS, TEAMS_NEXT))),
        ViewTable::OpportunityHistory => ViewDefinition::ById(TableDefinition::new(pick(
            OPPORTUNITY_HISTORY,
            OPPORTUNITY_HISTORY_NEXT,
        ))),
    }
}
