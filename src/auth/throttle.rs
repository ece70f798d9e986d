//! Throttles for the two doors anyone can knock on: sign-in and sign-up. In memory (a restart
//! forgets them, which only ever lets a client try again sooner).
//!
//! Sign-in never locks an account: failures of one (account, address) pair earn that pair growing
//! delays; failures from addresses that never signed in to the account add up to a slower limit
//! across addresses, which the owner's known addresses are exempt from, so a stranger who knows an
//! email cannot lock its owner out, and an office behind one address is not locked by one typist.
//! Failures from one address across many accounts (a password spray) earn that address delays too,
//! after a generous allowance.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Growing delays per key: `free` failures cost nothing; the next waits `base`, then twice as long
/// each time, up to `max`. A key is forgotten `forget_after` its last failure.
pub struct Backoff {
    free: u32,
    base: Duration,
    max: Duration,
    forget_after: Duration,
    keys: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Keys held at most; past this, forgotten keys are swept out (and the oldest if need be).
const MAX_KEYS: usize = 100_000;

impl Backoff {
    pub fn new(free: u32, base: Duration, max: Duration, forget_after: Duration) -> Backoff {
        Backoff {
            free,
            base,
            max,
            forget_after,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn delay(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(30);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }

    /// `Err(wait)` while `key` must still wait after its last failure.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let Some(&(failures, last)) = keys.get(key) else {
            return Ok(());
        };
        let ready_at = last + self.delay(failures);
        if now < ready_at {
            Err(ready_at - now)
        } else {
            Ok(())
        }
    }

    pub fn failed(&self, key: &str, now: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let entry = keys.entry(key.to_string()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= self.forget_after {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        if keys.len() > MAX_KEYS {
            let forget_after = self.forget_after;
            keys.retain(|_, (_, last)| now.saturating_duration_since(*last) < forget_after);
        }
    }

    pub fn forget(&self, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The sign-in throttle: per (account, address) pair, per account across unknown addresses, and
/// per address across accounts.
pub struct SignInThrottle {
    pairs: Backoff,
    accounts: Backoff,
    addresses: Backoff,
    /// Addresses each account signed in from successfully: exempt from its account-wide limit.
    known: Mutex<HashMap<String, HashSet<String>>>,
}

/// Addresses remembered per account.
const KNOWN_ADDRESSES: usize = 32;

impl Default for SignInThrottle {
    fn default() -> Self {
        let hour = Duration::from_secs(3_600);
        SignInThrottle {
            // Five typos are free; then 1 s, 2 s, 4 s … up to 15 minutes.
            pairs: Backoff::new(
                5,
                Duration::from_secs(1),
                Duration::from_secs(15 * 60),
                hour,
            ),
            // Twenty failures from strangers are free; then 1 s doubling up to 5 minutes.
            accounts: Backoff::new(
                20,
                Duration::from_secs(1),
                Duration::from_secs(5 * 60),
                hour,
            ),
            // A spray over many accounts from one address: 100 free, then up to a minute.
            addresses: Backoff::new(100, Duration::from_secs(1), Duration::from_secs(60), hour),
            known: Mutex::new(HashMap::new()),
        }
    }
}

impl SignInThrottle {
    fn pair(account: &str, address: &str) -> String {
        format!("{account}\u{0}{address}")
    }

    fn is_known(&self, account: &str, address: &str) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(account)
            .is_some_and(|addresses| addresses.contains(address))
    }

    /// `Err(wait)` when this attempt must wait; the password is not even checked then.
    pub fn check(&self, account: &str, address: &str, now: Instant) -> Result<(), Duration> {
        self.pairs.check(&Self::pair(account, address), now)?;
        self.addresses.check(address, now)?;
        if !self.is_known(account, address) {
            self.accounts.check(account, now)?;
        }
        Ok(())
    }

    pub fn failed(&self, account: &str, address: &str, now: Instant) {
        self.pairs.failed(&Self::pair(account, address), now);
        self.addresses.failed(address, now);
        if !self.is_known(account, address) {
            self.accounts.failed(account, now);
        }
    }

    pub fn succeeded(&self, account: &str, address: &str) {
        self.pairs.forget(&Self::pair(account, address));
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() > MAX_KEYS {
            known.clear();
        }
        let addresses = known.entry(account.to_string()).or_default();
        if addresses.len() >= KNOWN_ADDRESSES {
            addresses.clear();
        }
        addresses.insert(address.to_string());
    }
}

/// At most `limit` events per key within a fixed window.
pub struct RateLimit {
    limit: u32,
    window: Duration,
    keys: Mutex<HashMap<String, (u32, Instant)>>,
}

impl RateLimit {
    pub fn new(limit: u32, window: Duration) -> RateLimit {
        RateLimit {
            limit,
            window,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `key`, or `Err(wait)` when the window's allowance is spent.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() > MAX_KEYS {
            let window = self.window;
            keys.retain(|_, (_, since)| now.saturating_duration_since(*since) < window);
        }
        let entry = keys.entry(key.to_string()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        if entry.0 >= self.limit {
            return Err(self.window - now.saturating_duration_since(entry.1));
        }
        entry.0 += 1;
        Ok(())
    }
}

/// Sign-ups: a few per client address, and a bound for everyone together, per hour.
pub struct SignUpLimits {
    per_address: RateLimit,
    total: RateLimit,
}

impl Default for SignUpLimits {
    fn default() -> Self {
        let hour = Duration::from_secs(3_600);
        SignUpLimits {
            per_address: RateLimit::new(5, hour),
            total: RateLimit::new(50, hour),
        }
    }
}

impl SignUpLimits {
    pub fn take(&self, address: &str, now: Instant) -> Result<(), Duration> {
        self.per_address.take(address, now)?;
        self.total.take("", now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_grows_after_the_free_failures_and_caps() {
        let backoff = Backoff::new(2, S, 8 * S, 3_600 * S);
        let t0 = Instant::now();
        backoff.failed("k", t0);
        backoff.failed("k", t0);
        assert_eq!(backoff.check("k", t0), Err(S), "third try waits 1 s");
        assert!(backoff.check("k", t0 + S).is_ok());
        backoff.failed("k", t0 + S);
        assert_eq!(backoff.check("k", t0 + S), Err(2 * S));
        for _ in 0..10 {
            backoff.failed("k", t0 + S);
        }
        assert_eq!(backoff.check("k", t0 + S), Err(8 * S), "capped");
        assert!(backoff.check("other", t0).is_ok(), "keys are independent");
        backoff.failed("k", t0 + 4_000 * S);
        assert!(
            backoff.check("k", t0 + 4_000 * S).is_ok(),
            "forgotten, then one failure"
        );
    }

    #[test]
    fn a_stranger_cannot_lock_the_owner_out_of_their_own_address() {
        let throttle = SignInThrottle::default();
        let t0 = Instant::now();
        throttle.succeeded("ann@example.com", "10.0.0.1");
        for _ in 0..200 {
            throttle.failed("ann@example.com", "203.0.113.9", t0);
        }
        assert!(
            throttle
                .check("ann@example.com", "203.0.113.9", t0)
                .is_err()
        );
        assert!(
            throttle.check("ann@example.com", "10.0.0.1", t0).is_ok(),
            "the owner's known address is exempt from the account-wide limit"
        );
        assert!(
            throttle
                .check("ann@example.com", "198.51.100.7", t0)
                .is_err(),
            "another unknown address shares the account-wide limit"
        );
    }

    #[test]
    fn one_typist_behind_a_shared_address_does_not_lock_the_others() {
        let throttle = SignInThrottle::default();
        let t0 = Instant::now();
        for _ in 0..30 {
            throttle.failed("bob@example.com", "192.0.2.1", t0);
        }
        assert!(throttle.check("bob@example.com", "192.0.2.1", t0).is_err());
        assert!(throttle.check("cy@example.com", "192.0.2.1", t0).is_ok());
        throttle.succeeded("bob@example.com", "192.0.2.1");
        assert!(throttle.check("bob@example.com", "192.0.2.1", t0).is_ok());
    }

    #[test]
    fn rate_limits_count_per_key_and_reset_with_the_window() {
        let limits = SignUpLimits::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limits.take("a", t0).is_ok());
        }
        assert!(limits.take("a", t0).is_err());
        let mut taken = 5;
        for n in 0..100 {
            if limits.take(&format!("b{n}"), t0).is_ok() {
                taken += 1;
            }
        }
        assert_eq!(taken, 50, "the total bound holds across addresses");
        assert!(limits.take("a", t0 + 3_601 * S).is_ok());
    }
}
