//! Sessions: a random token in an HttpOnly cookie; only its SHA-256 is stored, so a copy of the data
//! file does not hand out live sessions.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A session ends after this long without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(8 * 3_600);
/// And after this long in any case.
pub const SESSION_ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 3_600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub email: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The OpenID provider's issuer, for a session begun by single sign-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl SessionRecord {
    pub fn is_live(&self, now: Timestamp) -> bool {
        let idle = now.duration_since(self.last_seen_at).as_secs_f64();
        let age = now.duration_since(self.created_at).as_secs_f64();
        idle < SESSION_IDLE.as_secs_f64() && age < SESSION_ABSOLUTE.as_secs_f64()
    }
}

/// 244 random bits (two v4 UUIDs), hex.
pub fn new_session_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether two secrets are equal, in a time that does not depend on where they differ (only on
/// their length, which is not secret here).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_only_their_hash_is_kept() {
        let (a, b) = (new_session_token(), new_session_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn sessions_expire_when_idle_or_old() {
        let start = Timestamp::from_second(1_800_000_000).expect("valid");
        let session = SessionRecord {
            email: "a@b".into(),
            created_at: start,
            last_seen_at: start,
            provider: None,
        };
        assert!(session.is_live(start + Duration::from_secs(3_600)));
        assert!(!session.is_live(start + SESSION_IDLE));
        let busy = SessionRecord {
            last_seen_at: start + SESSION_ABSOLUTE - Duration::from_secs(1),
            ..session
        };
        assert!(!busy.is_live(start + SESSION_ABSOLUTE));
    }
}
