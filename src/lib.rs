//! pipelog: a sales pipeline dashboard for Odoo CRM, built on an append-only event log.
//!
//! Module map:
//! - [`domain`]: events (past-tense facts) and the CRM records they carry. No I/O.
//! - [`projections`]: the read side, a pure fold of events into materialized views. No I/O.
//! - [`store`]: the one redb file: the event log, the view tables, rebuild and verify. The only module
//!   that imports redb.
//! - [`sync`]: Odoo's API client, mapping and planning, one sync run, the schedule loop.
//! - [`config`]: configuration from file, environment and flags, validated in one place.
//! - [`demo`]: a simulated Odoo (the demo CRM, the fake server for tests and benchmarks).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod commands;
pub mod config;
pub mod demo;
pub mod domain;
pub mod migrate;
pub mod projections;
pub mod queries;
pub mod store;
pub mod sync;
#[cfg(test)]
pub(crate) mod testing;
pub mod web;
