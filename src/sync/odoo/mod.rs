//! Odoo's external API: the client, its errors and Odoo's value shapes. Wire types stay here: the
//! rest of pipelog sees domain records.

mod client;
mod error;
mod links;
pub mod wire;

pub use client::{Call, OdooClient, OdooSettings, Protocol, ProtocolChoice, Secret, Session};
pub use error::OdooError;
pub use links::lead_url;
