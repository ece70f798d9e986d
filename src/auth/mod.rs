//! Sign-in and reach: Argon2id password hashes, session tokens, login throttling, single sign-on
//! through OpenID Connect (`oidc`), and who may see what. Owns the access decision every read goes
//! through; knows nothing of HTTP serving.

mod access;
pub mod oidc;
mod password;
mod session;
mod throttle;

pub use access::{Reach, Viewer, resolve_viewer};
pub use password::{
    MAX_NAME_CHARS, MAX_PASSWORD_BYTES, check_new_account, check_new_password, hash_password,
    verify_password,
};
pub use session::{
    SESSION_ABSOLUTE, SESSION_IDLE, SessionRecord, new_session_token, secrets_equal, token_hash,
};
pub use throttle::{Backoff, RateLimit, SignInThrottle, SignUpLimits};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the password cannot be hashed: {0}")]
    Hash(String),
    #[error("the password must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("the {what} is too long ({max} at most)")]
    TooLong { what: &'static str, max: usize },
    #[error("that is not an email address (name@example.com, at most 254 characters)")]
    NotAnEmail,
    #[error("a name is needed")]
    NameMissing,
    #[error("the name cannot contain control characters")]
    NameInvalid,
}

/// Shortest password accepted for new accounts.
pub const MIN_PASSWORD_LENGTH: usize = 8;
