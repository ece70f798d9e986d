//! Sign-in and reach: Argon2id password hashes, session tokens, login throttling, and who may see
//! what. Owns the access decision every read goes through; knows nothing of HTTP.

mod access;
mod password;
mod session;
mod throttle;

pub use access::{Reach, Viewer, resolve_viewer};
pub use password::{check_new_password, hash_password, verify_password};
pub use session::{SESSION_ABSOLUTE, SESSION_IDLE, SessionRecord, new_session_token, token_hash};
pub use throttle::Throttle;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the password cannot be hashed: {0}")]
    Hash(String),
    #[error("the password must be at least {min} characters long")]
    TooShort { min: usize },
}

/// Shortest password accepted for new accounts.
pub const MIN_PASSWORD_LENGTH: usize = 8;
