//! Login throttling per key (an account, a client address): a few failures are free, then each
//! further attempt within the window is refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    failures_allowed: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    pub fn new(failures_allowed: u32, window: Duration) -> Throttle {
        Throttle {
            failures_allowed,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when `key` has failed too often within the window.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(key) {
            Some((count, since))
                if *count >= self.failures_allowed && since.elapsed() < self.window =>
            {
                Err(self.window - since.elapsed())
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = failures
            .entry(key.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        if failures.len() > 100_000 {
            let window = self.window;
            failures.retain(|_, (_, since)| since.elapsed() < window);
        }
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_allowed_failures_until_success_or_the_window_passes() {
        let throttle = Throttle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(throttle.check("ann").is_ok());
            throttle.failed("ann");
        }
        assert!(throttle.check("ann").is_err());
        assert!(throttle.check("bob").is_ok(), "keys are independent");
        throttle.succeeded("ann");
        assert!(throttle.check("ann").is_ok());
        let short = Throttle::new(1, Duration::from_millis(0));
        short.failed("x");
        assert!(short.check("x").is_ok(), "the window has passed");
    }
}
