//! Sync: from Odoo into the event log, safely, on a schedule.
//!
//! Owns the Odoo client and wire shapes (`odoo`), the mapping to domain records (`mapping`), the
//! pure diff from held records to events (`plan`), fetched pages into one append (`apply`), one
//! run (`engine`) and the schedule loop
//! (`schedule`). It writes only through the store's append API and never touches view tables.

pub mod apply;
pub mod engine;
#[cfg(test)]
mod engine_tests;
pub mod history;
pub mod mapping;
pub mod odoo;
pub mod plan;
pub mod schedule;

pub use engine::{RunRequest, SyncError, SyncOptions, SyncReport, Syncer};
