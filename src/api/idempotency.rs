//! `Idempotency-Key` as the IETF draft describes it: a key belongs to its caller and route, is
//! bound to the request it first came with (a fingerprint of method, path and body), and while
//! that request is still running a second one with the same key is refused (409) instead of
//! doing the work twice. The stored outcome itself lives in the store, next to the events.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::http::HeaderMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};

/// Longest key accepted.
const MAX_KEY_LENGTH: usize = 200;

/// Keys whose request is being processed now.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<String>>);

/// Holds a key as in flight until dropped (the handler's answer is sent).
pub struct Claim {
    state: AppState,
    key: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.state
            .guards
            .in_flight
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// A command request's key, scoped, and its fingerprint.
pub struct ScopedKey {
    pub key: String,
    pub fingerprint: String,
}

/// The request's `Idempotency-Key`, if any, scoped to `caller` and `route` (the route template,
/// e.g. `POST /api/opportunities/{id}/assign`), with the fingerprint of `request` (the path's ids
/// and the body).
pub fn scoped_key(
    headers: &HeaderMap,
    caller: &str,
    route: &str,
    request: &impl Serialize,
) -> Result<Option<ScopedKey>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be text".into()))?
        .trim();
    if key.is_empty() {
        return Ok(None);
    }
    if key.len() > MAX_KEY_LENGTH {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key is too long ({MAX_KEY_LENGTH} characters at most)"
        )));
    }
    let request = serde_json::to_string(request).map_err(ApiError::internal)?;
    let fingerprint = Sha256::digest(format!("{route}\n{request}"));
    Ok(Some(ScopedKey {
        // Unit separators cannot occur in an email or a route; a key may hold anything else.
        key: format!("api\u{1f}{caller}\u{1f}{route}\u{1f}{key}"),
        fingerprint: fingerprint.iter().map(|b| format!("{b:02x}")).collect(),
    }))
}

/// Marks `key` as in flight, or refuses when a request with it is running already.
pub fn claim(state: &AppState, key: &str) -> Result<Claim, ApiError> {
    let mut running = state
        .guards
        .in_flight
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if !running.insert(key.to_string()) {
        return Err(ApiError::InProgress(
            "a request with this Idempotency-Key is still being processed; retry once it has answered"
                .into(),
        ));
    }
    Ok(Claim {
        state: state.clone(),
        key: key.to_string(),
    })
}
