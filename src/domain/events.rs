//! Events: past-tense facts, the only thing pipelog stores as truth.
//!
//! An event is stored inside an [`EventEnvelope`] as JSON. The envelope carries a schema version so a
//! future format change can be upcast on read; payload fields are additive (unknown fields are ignored,
//! missing optional fields default), so the log stays readable in both directions for years.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::{
    AccountRecord, EmployeeRecord, OdooId, OpportunityRecord, StageRecord, TeamRecord, UserRecord,
};

/// The envelope format this version writes; older ones are upcast on read.
pub const EVENT_SCHEMA_VERSION: u16 = 1;

/// One changed field: what it was, what it became. Values are JSON so history queries can show them
/// without knowing the record type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl FieldChange {
    pub fn new<T: Serialize + ?Sized>(field: &str, before: &T, after: &T) -> Self {
        FieldChange {
            field: field.to_string(),
            // Serializing plain record fields (strings, numbers, options, dates) cannot fail.
            before: serde_json::to_value(before).unwrap_or(serde_json::Value::Null),
            after: serde_json::to_value(after).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A field whose tracked history does not lead to the value Odoo holds: between `after` (the last
/// tracked change, or the creation) and `before` (the next tracked change, or the first read)
/// it changed without a trace in Odoo's chatter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryGap {
    pub field: String,
    /// What the tracking says the field was.
    pub tracked: serde_json::Value,
    /// What it was found to be next.
    pub found: serde_json::Value,
    pub after: Option<Timestamp>,
    pub before: Option<Timestamp>,
}

/// Role of a pipelog account.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees everything and manages accounts.
    Admin,
    /// Sees what the reporting hierarchy gives them.
    Member,
}

/// Counts for one Odoo model in one sync run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelSyncCounts {
    pub fetched: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    #[serde(default)]
    pub quarantined: u64,
    /// Why this run compared every id with Odoo's to find hard deletes (a full sync, the
    /// periodic check, or a count that differed); `None` when it did not.
    #[serde(default)]
    pub reconciled: Option<String>,
}

impl ModelSyncCounts {
    pub fn add(&mut self, more: &ModelSyncCounts) {
        self.fetched += more.fetched;
        self.created += more.created;
        self.updated += more.updated;
        self.deleted += more.deleted;
        self.quarantined += more.quarantined;
        if self.reconciled.is_none() {
            self.reconciled.clone_from(&more.reconciled);
        }
    }
}

/// A source record a sync could not read, left out of the views until it is fixed at the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarantinedRecord {
    pub model: String,
    pub id: Option<u64>,
    pub reason: String,
}

/// Every fact pipelog records. Serialized as `{"type": "...", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    UserCreated {
        id: OdooId,
        record: UserRecord,
    },
    UserUpdated {
        id: OdooId,
        changes: Vec<FieldChange>,
    },
    UserDeleted {
        id: OdooId,
    },

    EmployeeCreated {
        id: OdooId,
        record: EmployeeRecord,
    },
    EmployeeUpdated {
        id: OdooId,
        changes: Vec<FieldChange>,
    },
    EmployeeDeleted {
        id: OdooId,
    },

    OpportunityCreated {
        id: OdooId,
        record: OpportunityRecord,
    },
    OpportunityUpdated {
        id: OdooId,
        changes: Vec<FieldChange>,
    },
    OpportunityDeleted {
        id: OdooId,
    },
    /// Odoo's "lost": the opportunity was archived (`active = false`).
    OpportunityArchived {
        id: OdooId,
        #[serde(default)]
        lost_reason: Option<String>,
    },
    /// Odoo's "restore": a lost opportunity is active again.
    OpportunityRestored {
        id: OdooId,
    },
    /// A salesperson change made through pipelog (and written back to Odoo).
    OpportunityAssigned {
        id: OdooId,
        from: Option<OdooId>,
        to: Option<OdooId>,
    },
    /// A stage change made through pipelog.
    OpportunityStageChanged {
        id: OdooId,
        from: Option<OdooId>,
        to: Option<OdooId>,
    },
    /// Where a deal's known past begins, rebuilt from Odoo's change tracking: the deal as it was
    /// when Odoo created it (effective at its `create_date`). Fields Odoo does not track
    /// (probability, expected closing) carry the values pipelog first read. History only: the
    /// current views keep the record the sync read.
    OpportunityHistoryBegins {
        id: OdooId,
        record: OpportunityRecord,
        /// When pipelog first read the deal: untracked fields are known from then on.
        first_read_at: Option<Timestamp>,
        /// Where Odoo's tracking and its record disagree (tracking switched on late, a field
        /// changed by SQL); the record wins.
        #[serde(default)]
        gaps: Vec<HistoryGap>,
    },
    /// A change Odoo tracked (a chatter message with tracking values), effective at the
    /// message's date. One per message; fields pipelog does not hold are left out.
    OpportunityChangeRecorded {
        id: OdooId,
        changes: Vec<FieldChange>,
        /// The `mail.message` id.
        message_id: OdooId,
        /// The message's author (a `res.partner`) and their name.
        #[serde(default)]
        author_id: Option<OdooId>,
        #[serde(default)]
        author: Option<String>,
    },

    AccountCreated {
        id: OdooId,
        record: AccountRecord,
    },
    AccountUpdated {
        id: OdooId,
        changes: Vec<FieldChange>,
    },
    AccountDeleted {
        id: OdooId,
    },

    TeamCreated {
        id: OdooId,
        record: TeamRecord,
    },
    TeamUpdated {
        id: OdooId,
        changes: Vec<FieldChange>,
    },
    TeamDeleted {
        id: OdooId,
    },

    StageCreated {
        id: OdooId,
        record: StageRecord,
    },
    StageUpdated {
        id: OdooId,
        changes: Vec<FieldChange>,
    },
    StageDeleted {
        id: OdooId,
    },

    /// Somebody signed up (or was added) with this email; pending until approved unless `approved`.
    UserRegistered {
        email: String,
        name: String,
        role: Role,
        #[serde(default)]
        approved: bool,
    },
    UserApproved {
        email: String,
    },
    /// An account was disabled: it keeps its history but can no longer sign in.
    UserDisabled {
        email: String,
    },
    UserRoleChanged {
        email: String,
        role: Role,
    },
    UserLoggedIn {
        email: String,
        /// How: the issuer of a single sign-on, or absent for a password (and in events recorded
        /// before single sign-on existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
    },
    /// The account signs in through an OpenID provider as this identity from now on.
    ExternalIdentityLinked {
        email: String,
        identity: ExternalIdentity,
    },
    /// A sign-up that waited too long for approval was dropped: the email may sign up again.
    SignupExpired {
        email: String,
    },
    /// An admin's override of the Odoo manager of `user_id`; `manager_id: None` removes the override.
    ManagerAssigned {
        user_id: OdooId,
        manager_id: Option<OdooId>,
    },

    SyncStarted {
        run_id: Uuid,
        full: bool,
    },
    SyncCompleted {
        run_id: Uuid,
        counts: BTreeMap<String, ModelSyncCounts>,
        duration_ms: u64,
        /// Problems worth an admin's attention that did not stop the sync.
        #[serde(default)]
        warnings: Vec<String>,
        #[serde(default)]
        quarantined: Vec<QuarantinedRecord>,
    },
    SyncFailed {
        run_id: Uuid,
        reason: String,
        duration_ms: u64,
    },
}

/// What an event is about: the unit of optimistic concurrency.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    User,
    Employee,
    Opportunity,
    Account,
    Team,
    Stage,
    /// A pipelog sign-in account, identified by its lower-case email.
    Login,
    SyncRun,
}

impl AggregateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateKind::User => "user",
            AggregateKind::Employee => "employee",
            AggregateKind::Opportunity => "opportunity",
            AggregateKind::Account => "account",
            AggregateKind::Team => "team",
            AggregateKind::Stage => "stage",
            AggregateKind::Login => "login",
            AggregateKind::SyncRun => "sync_run",
        }
    }
}

/// An aggregate's kind and id, e.g. `opportunity/42`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AggregateRef {
    pub kind: AggregateKind,
    pub id: String,
}

impl fmt::Display for AggregateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.id)
    }
}

impl Event {
    /// The event's type name as stored (`"OpportunityUpdated"`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::UserCreated { .. } => "UserCreated",
            Event::UserUpdated { .. } => "UserUpdated",
            Event::UserDeleted { .. } => "UserDeleted",
            Event::EmployeeCreated { .. } => "EmployeeCreated",
            Event::EmployeeUpdated { .. } => "EmployeeUpdated",
            Event::EmployeeDeleted { .. } => "EmployeeDeleted",
            Event::OpportunityCreated { .. } => "OpportunityCreated",
            Event::OpportunityUpdated { .. } => "OpportunityUpdated",
            Event::OpportunityDeleted { .. } => "OpportunityDeleted",
            Event::OpportunityArchived { .. } => "OpportunityArchived",
            Event::OpportunityRestored { .. } => "OpportunityRestored",
            Event::OpportunityAssigned { .. } => "OpportunityAssigned",
            Event::OpportunityStageChanged { .. } => "OpportunityStageChanged",
            Event::OpportunityHistoryBegins { .. } => "OpportunityHistoryBegins",
            Event::OpportunityChangeRecorded { .. } => "OpportunityChangeRecorded",
            Event::AccountCreated { .. } => "AccountCreated",
            Event::AccountUpdated { .. } => "AccountUpdated",
            Event::AccountDeleted { .. } => "AccountDeleted",
            Event::TeamCreated { .. } => "TeamCreated",
            Event::TeamUpdated { .. } => "TeamUpdated",
            Event::TeamDeleted { .. } => "TeamDeleted",
            Event::StageCreated { .. } => "StageCreated",
            Event::StageUpdated { .. } => "StageUpdated",
            Event::StageDeleted { .. } => "StageDeleted",
            Event::UserRegistered { .. } => "UserRegistered",
            Event::UserApproved { .. } => "UserApproved",
            Event::UserDisabled { .. } => "UserDisabled",
            Event::UserRoleChanged { .. } => "UserRoleChanged",
            Event::UserLoggedIn { .. } => "UserLoggedIn",
            Event::ExternalIdentityLinked { .. } => "ExternalIdentityLinked",
            Event::SignupExpired { .. } => "SignupExpired",
            Event::ManagerAssigned { .. } => "ManagerAssigned",
            Event::SyncStarted { .. } => "SyncStarted",
            Event::SyncCompleted { .. } => "SyncCompleted",
            Event::SyncFailed { .. } => "SyncFailed",
        }
    }

    /// The aggregate this event belongs to.
    pub fn aggregate(&self) -> AggregateRef {
        use AggregateKind as K;
        let (kind, id) = match self {
            Event::UserCreated { id, .. }
            | Event::UserUpdated { id, .. }
            | Event::UserDeleted { id } => (K::User, id.to_string()),
            Event::ManagerAssigned { user_id, .. } => (K::User, user_id.to_string()),
            Event::EmployeeCreated { id, .. }
            | Event::EmployeeUpdated { id, .. }
            | Event::EmployeeDeleted { id } => (K::Employee, id.to_string()),
            Event::OpportunityCreated { id, .. }
            | Event::OpportunityUpdated { id, .. }
            | Event::OpportunityDeleted { id }
            | Event::OpportunityArchived { id, .. }
            | Event::OpportunityRestored { id }
            | Event::OpportunityAssigned { id, .. }
            | Event::OpportunityStageChanged { id, .. }
            | Event::OpportunityHistoryBegins { id, .. }
            | Event::OpportunityChangeRecorded { id, .. } => (K::Opportunity, id.to_string()),
            Event::AccountCreated { id, .. }
            | Event::AccountUpdated { id, .. }
            | Event::AccountDeleted { id } => (K::Account, id.to_string()),
            Event::TeamCreated { id, .. }
            | Event::TeamUpdated { id, .. }
            | Event::TeamDeleted { id } => (K::Team, id.to_string()),
            Event::StageCreated { id, .. }
            | Event::StageUpdated { id, .. }
            | Event::StageDeleted { id } => (K::Stage, id.to_string()),
            Event::UserRegistered { email, .. }
            | Event::UserApproved { email }
            | Event::UserDisabled { email }
            | Event::UserRoleChanged { email, .. }
            | Event::UserLoggedIn { email, .. }
            | Event::ExternalIdentityLinked { email, .. }
            | Event::SignupExpired { email } => (K::Login, super::records::normalize_email(email)),
            Event::SyncStarted { run_id, .. }
            | Event::SyncCompleted { run_id, .. }
            | Event::SyncFailed { run_id, .. } => (K::SyncRun, run_id.to_string()),
        };
        AggregateRef { kind, id }
    }
}

/// An account's identity at an OpenID provider: stable across sign-ins, unlike the email.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExternalIdentity {
    /// The ID token's `iss` (for Entra ID, the tenant-specific one).
    pub issuer: String,
    /// The provider's `sub`, or Entra ID's `oid`.
    pub subject: String,
}

/// Who or what caused an event, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metadata {
    /// The account or process that acted (`"sync"`, `"admin@example.com"`).
    #[serde(default)]
    pub actor: Option<String>,
    /// Where the fact came from (`"odoo"`, `"api"`, `"migration"`, `"cli"`).
    #[serde(default)]
    pub source: Option<String>,
    /// Groups the events of one sync run or one request.
    #[serde(default)]
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one.
    #[serde(default)]
    pub causation_id: Option<Uuid>,
}

/// What the writer may assume about an aggregate's version before appending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    #[default]
    Any,
    /// The aggregate must have no events yet.
    NoStream,
    /// The aggregate's current version must be exactly this.
    Exactly(u64),
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event: Event,
    pub expected_version: ExpectedVersion,
    /// The source's own time of the change (Odoo's `write_date`), when there is one.
    pub effective_at: Option<Timestamp>,
    pub metadata: Metadata,
}

impl NewEvent {
    pub fn new(event: Event) -> Self {
        NewEvent {
            event,
            expected_version: ExpectedVersion::Any,
            effective_at: None,
            metadata: Metadata::default(),
        }
    }

    pub fn expecting(mut self, version: ExpectedVersion) -> Self {
        self.expected_version = version;
        self
    }

    pub fn effective_at(mut self, at: Option<Timestamp>) -> Self {
        self.effective_at = at;
        self
    }

    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventEnvelope {
    /// Global position: assigned in the write transaction, strictly increasing, no gaps, from 1.
    pub position: u64,
    pub event_id: Uuid,
    pub schema_version: u16,
    pub aggregate_type: AggregateKind,
    pub aggregate_id: String,
    /// The aggregate's version after this event (its first event is version 1).
    pub aggregate_version: u64,
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: Timestamp,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub effective_at: Option<Timestamp>,
    #[serde(default)]
    pub metadata: Metadata,
    /// `{"type": "<event type>", "data": {...}}`.
    #[schema(value_type = Object)]
    pub event: Event,
}

impl EventEnvelope {
    /// The time the fact is about: the source's time when known, else when it was recorded.
    pub fn occurred_at(&self) -> Timestamp {
        self.effective_at.unwrap_or(self.recorded_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_type_and_data() {
        let event = Event::OpportunityRestored { id: 5 };
        let json = serde_json::to_string(&event).expect("serializes");
        assert_eq!(json, r#"{"type":"OpportunityRestored","data":{"id":5}}"#);
        assert_eq!(event.type_name(), "OpportunityRestored");
    }

    #[test]
    fn type_name_matches_the_serialized_tag_for_every_variant() {
        let samples = crate::domain::samples::one_of_each_event();
        for event in samples {
            let value = serde_json::to_value(&event).expect("serializes");
            assert_eq!(value["type"], event.type_name());
        }
    }

    #[test]
    fn an_envelope_from_an_older_writer_without_optional_fields_decodes() {
        let json = r#"{"position":1,"event_id":"01890a5d-ac96-774b-bcce-b302099a8057","schema_version":1,
            "aggregate_type":"opportunity","aggregate_id":"9","aggregate_version":1,
            "recorded_at":"2026-03-01T10:00:00Z","event":{"type":"OpportunityArchived","data":{"id":9}},
            "some_future_field":true}"#;
        let envelope: EventEnvelope = serde_json::from_str(json).expect("decodes");
        assert_eq!(envelope.metadata, Metadata::default());
        assert_eq!(
            envelope.event,
            Event::OpportunityArchived {
                id: 9,
                lost_reason: None
            }
        );
    }

    #[test]
    fn login_aggregates_are_case_insensitive() {
        let a = Event::UserApproved {
            email: "Ann@Example.com".into(),
        };
        let b = Event::UserLoggedIn {
            email: "ann@example.com".into(),
            provider: None,
        };
        assert_eq!(a.aggregate(), b.aggregate());
        assert_eq!(a.aggregate().to_string(), "login/ann@example.com");
    }
}
