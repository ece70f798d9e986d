//! A simulated Odoo: the CRM behind `pipelog serve --demo`, the fake server used by the tests and
//! benchmarks, and `cargo run --example fake_odoo`.
//!
//! Owns a deterministic in-memory CRM (users, employees, teams, stages, partners, opportunities) that
//! answers Odoo's external API with Odoo's real quirks (`false` for empty values, many2one pairs,
//! whole-second UTC datetimes, errors inside HTTP 200, archived records hidden without
//! `active_test: false`, salesmen who see only their own leads) and a past in its chatter (part of
//! it can be held back, to happen as its clock passes it), keeps changing when asked, and can
//! inject faults, and can answer as slowly as a real server with a given number of workers. It must
//! not touch the store: it is a source, like a real Odoo.

pub mod crm;
mod generate;
mod past;
pub mod query;
mod render;
mod schema;
mod search;
pub mod server;
mod tracking;
mod workload;

pub use crm::{Crm, CrmOptions};
pub use server::{FakeOdoo, Fault, FaultKind, FaultedMethod, serve};
pub use workload::Workload;
