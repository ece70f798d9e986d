//! The domain: events (past-tense facts) and the records they carry.
//!
//! Owns the event vocabulary and its JSON shape. Must not touch I/O: no redb, no HTTP, no clock reads
//! beyond what callers pass in.

pub mod events;
pub mod records;
#[cfg(test)]
pub(crate) mod samples;

pub use events::{
    AggregateKind, AggregateRef, EVENT_SCHEMA_VERSION, Event, EventEnvelope, ExpectedVersion,
    ExternalIdentity, FieldChange, HistoryGap, Metadata, ModelSyncCounts, NewEvent,
    QuarantinedRecord, Role,
};
pub use records::{
    AccountRecord, Cents, EmployeeRecord, LeadKind, MAX_EMAIL_LENGTH, OdooId, OpportunityRecord,
    StageRecord, TeamRecord, UserRecord, is_email_address, normalize_email, prorated_cents,
    weighted_cents,
};
