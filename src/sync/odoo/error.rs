//! Errors talking to Odoo. Each says what to fix, and whether trying again can help.

/// An Odoo error. Messages never contain the password or API key.
#[derive(Debug, thiserror::Error)]
pub enum OdooError {
    #[error("the Odoo URL {url:?} is not valid: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("cannot reach Odoo at {url}: {reason}")]
    Unreachable { url: String, reason: String },

    #[error("Odoo did not answer within {seconds} s ({what})")]
    Timeout { what: String, seconds: u64 },

    #[error("Odoo answered HTTP {status} to {what}")]
    Http { status: u16, what: String },

    #[error("Odoo sent an unreadable answer to {what}: {reason}")]
    Malformed { what: String, reason: String },

    #[error(
        "Odoo refused the credentials of {login:?}: check the login and the password or API key (PIPELOG_ODOO_LOGIN, PIPELOG_ODOO_PASSWORD)"
    )]
    BadCredentials { login: String },

    #[error("Odoo has no database {database:?}: check the database name (PIPELOG_ODOO_DB)")]
    UnknownDatabase { database: String },

    #[error(
        "the Odoo account {login:?} may not {what}: {message}. Give it Sales / Administrator rights"
    )]
    AccessRights {
        login: String,
        what: String,
        message: String,
    },

    #[error("Odoo refused {what}: {name}: {message}")]
    Server {
        what: String,
        name: String,
        message: String,
    },

    #[error("Odoo {version} is not supported: pipelog speaks to Odoo 16 and later")]
    Unsupported { version: String },
}

impl OdooError {
    /// Whether the same call may succeed if tried again (a network or server hiccup).
    pub fn is_transient(&self) -> bool {
        match self {
            OdooError::Unreachable { .. }
            | OdooError::Timeout { .. }
            | OdooError::Malformed { .. } => true,
            OdooError::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}
