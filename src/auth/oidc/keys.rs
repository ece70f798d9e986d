//! The provider's signing keys, cached: a token signed with a key not in the cache makes one
//! refetch (the provider rotated its keys), but no more often than a floor, so tokens with made-up
//! key ids cannot make pipelog hammer the provider.

use std::time::Duration;

use jiff::Timestamp;
use openidconnect::core::CoreJsonWebKeySet;

#[derive(Debug, Clone)]
pub struct KeyCache {
    keys: CoreJsonWebKeySet,
    fetched_at: Option<Timestamp>,
    floor: Duration,
}

impl KeyCache {
    /// An empty cache that refetches at most once per `floor`.
    pub fn new(floor: Duration) -> Self {
        Self {
            keys: CoreJsonWebKeySet::default(),
            fetched_at: None,
            floor,
        }
    }

    pub fn keys(&self) -> &CoreJsonWebKeySet {
        &self.keys
    }

    /// Whether a fetch is allowed at `now`: never fetched, or the floor has passed since.
    pub fn may_fetch(&self, now: Timestamp) -> bool {
        self.fetched_at
            .is_none_or(|at| now.duration_since(at).as_secs_f64() >= self.floor.as_secs_f64())
    }

    pub fn replace(&mut self, keys: CoreJsonWebKeySet, now: Timestamp) {
        self.keys = keys;
        self.fetched_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_waits_for_the_floor() {
        let start = Timestamp::from_second(1_800_000_000).expect("valid");
        let mut cache = KeyCache::new(Duration::from_secs(30));
        assert!(cache.may_fetch(start), "an empty cache fetches");
        cache.replace(CoreJsonWebKeySet::default(), start);
        assert!(!cache.may_fetch(start + Duration::from_secs(29)));
        assert!(cache.may_fetch(start + Duration::from_secs(30)));
    }
}
