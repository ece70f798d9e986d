//! The sync schedule: one loop, driven by a cron expression. Runs never overlap (the loop runs each
//! sync to its end before it looks at the clock again), a tick that passes during a long run is
//! skipped, "sync now" requests made during a run collapse into one follow-up run, and failures back
//! off exponentially.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Notify, watch};

use super::engine::RunRequest;

#[derive(Debug, thiserror::Error)]
#[error("invalid sync schedule {pattern:?}: {reason} (a cron expression such as \"*/5 * * * *\")")]
pub struct ScheduleError {
    pattern: String,
    reason: String,
}

/// A parsed cron expression (5 fields, or 6 with seconds), evaluated in UTC.
#[derive(Debug, Clone)]
pub struct Schedule {
    pattern: String,
    cron: croner::Cron,
}

impl Schedule {
    pub fn parse(pattern: &str) -> Result<Schedule, ScheduleError> {
        let cron = croner::parser::CronParser::new()
            .parse(pattern)
            .map_err(|error| ScheduleError {
                pattern: pattern.into(),
                reason: error.to_string(),
            })?;
        Ok(Schedule {
            pattern: pattern.to_string(),
            cron,
        })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The first tick strictly after `now`.
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let utc =
            chrono::DateTime::from_timestamp(now.as_second(), now.subsec_nanosecond() as u32)?;
        let next = self.cron.find_next_occurrence(&utc, false).ok()?;
        Timestamp::new(next.timestamp(), next.timestamp_subsec_nanos() as i32).ok()
    }
}

/// "Sync now" requests. Many requests before the loop gets to them make one run; `full` and
/// `allow_mass_delete` and `backfill_history` stick if any request asked for them.
#[derive(Default)]
pub struct SyncTrigger {
    notify: Notify,
    full: AtomicBool,
    allow_mass_delete: AtomicBool,
    backfill_history: AtomicBool,
}

impl SyncTrigger {
    pub fn request(&self, request: RunRequest) {
        if request.full {
            self.full.store(true, Ordering::SeqCst);
        }
        if request.allow_mass_delete {
            self.allow_mass_delete.store(true, Ordering::SeqCst);
        }
        if request.backfill_history {
            self.backfill_history.store(true, Ordering::SeqCst);
        }
        // One stored permit at most: requests during a run merge into one follow-up.
        self.notify.notify_one();
    }

    fn take(&self) -> RunRequest {
        RunRequest {
            full: self.full.swap(false, Ordering::SeqCst),
            allow_mass_delete: self.allow_mass_delete.swap(false, Ordering::SeqCst),
            backfill_history: self.backfill_history.swap(false, Ordering::SeqCst),
        }
    }
}

/// What the loop is doing, for status pages.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ScheduleState {
    pub running: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_run_at: Option<Timestamp>,
    pub consecutive_failures: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_finished_at: Option<Timestamp>,
    /// The last run's error, kept here too because a run that failed on the store (a full disk)
    /// may not have been able to record it in the log.
    pub last_error: Option<String>,
}

/// A sync the loop can run.
pub trait SyncJob: Send + Sync {
    fn run(
        &self,
        request: RunRequest,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// The wall clock; tests drive it from tokio's paused time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Wait before retrying after `failures` failures in a row: 1 min, 2, 4, ... at most 1 hour.
pub fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(60u64.saturating_mul(1u64 << (failures - 1).min(6)))
        .min(Duration::from_secs(3_600))
}

/// Runs `job` on `schedule` and on request until `shutdown` turns true.
pub async fn run_loop<J: SyncJob>(
    job: &J,
    schedule: &Schedule,
    trigger: &SyncTrigger,
    state: &Mutex<ScheduleState>,
    clock: &dyn Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    let mut last_failure: Option<Timestamp> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let now = clock.now();
        let earliest = last_failure
            .map(|at| at + backoff(failures))
            .filter(|at| *at > now)
            .unwrap_or(now);
        let next = schedule.next_after(earliest);
        set(state, |s| s.next_run_at = next);
        let wait = next
            .map(|next| next.duration_since(now).unsigned_abs())
            .unwrap_or(Duration::from_secs(3_600));
        let request = tokio::select! {
            _ = tokio::time::sleep(wait) => {
                if next.is_none() {
                    continue;
                }
                RunRequest::default()
            }
            _ = trigger.notify.notified() => trigger.take(),
            _ = shutdown.changed() => return,
        };
        set(state, |s| s.running = true);
        let outcome = job.run(request).await;
        let finished = clock.now();
        let last_error = match outcome {
            Ok(()) => {
                failures = 0;
                last_failure = None;
                None
            }
            Err(error) => {
                failures += 1;
                last_failure = Some(finished);
                tracing::warn!(error = %error, failures, retry_in_s = backoff(failures).as_secs(), "scheduled sync failed");
                Some(error)
            }
        };
        set(state, |s| {
            s.running = false;
            s.consecutive_failures = failures;
            s.last_finished_at = Some(finished);
            s.last_error = last_error;
        });
    }
}

fn set(state: &Mutex<ScheduleState>, change: impl FnOnce(&mut ScheduleState)) {
    let mut guard = state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    change(&mut guard);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    use super::*;

    /// Wall time that moves with tokio's (paused) clock.
    struct TokioClock {
        start: Timestamp,
        origin: tokio::time::Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> Timestamp {
            self.start + self.origin.elapsed()
        }
    }

    struct CountingJob {
        runs: AtomicU32,
        fulls: AtomicU32,
        duration: Duration,
        fail: bool,
        running: AtomicBool,
        overlapped: AtomicBool,
    }

    impl CountingJob {
        fn new(duration: Duration, fail: bool) -> Arc<CountingJob> {
            Arc::new(CountingJob {
                runs: AtomicU32::new(0),
                fulls: AtomicU32::new(0),
                duration,
                fail,
                running: AtomicBool::new(false),
                overlapped: AtomicBool::new(false),
            })
        }
    }

    impl SyncJob for Arc<CountingJob> {
        async fn run(&self, request: RunRequest) -> Result<(), String> {
            if self.running.swap(true, Ordering::SeqCst) {
                self.overlapped.store(true, Ordering::SeqCst);
            }
            self.runs.fetch_add(1, Ordering::SeqCst);
            if request.full {
                self.fulls.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(self.duration).await;
            self.running.store(false, Ordering::SeqCst);
            if self.fail {
                Err("odoo down".into())
            } else {
                Ok(())
            }
        }
    }

    struct Harness {
        job: Arc<CountingJob>,
        trigger: Arc<SyncTrigger>,
        state: Arc<Mutex<ScheduleState>>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    fn start(job: Arc<CountingJob>, pattern: &str) -> Harness {
        let schedule = Schedule::parse(pattern).expect("valid");
        let trigger = Arc::new(SyncTrigger::default());
        let state = Arc::new(Mutex::new(ScheduleState::default()));
        let (stop, shutdown) = watch::channel(false);
        let clock = TokioClock {
            start: Timestamp::from_second(1_800_000_000).expect("valid"),
            origin: tokio::time::Instant::now(),
        };
        let (job2, trigger2, state2) = (job.clone(), trigger.clone(), state.clone());
        let task = tokio::spawn(async move {
            run_loop(&job2, &schedule, &trigger2, &state2, &clock, shutdown).await
        });
        Harness {
            job,
            trigger,
            state,
            stop,
            task,
        }
    }

    #[test]
    fn schedules_parse_and_find_the_next_tick() {
        let schedule = Schedule::parse("*/5 * * * *").expect("valid");
        let now = Timestamp::from_second(1_800_000_030).expect("valid"); // 2027-01-15 08:00:30 UTC
        let next = schedule.next_after(now).expect("a next tick");
        assert_eq!(next.as_second() % 300, 0);
        assert!(next > now && next.as_second() - now.as_second() <= 300);
        let error = Schedule::parse("every five minutes").expect_err("invalid");
        assert!(error.to_string().contains("cron expression"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(240));
        assert_eq!(backoff(30), Duration::from_secs(3_600));
    }

    #[tokio::test(start_paused = true)]
    async fn runs_on_every_tick_and_skips_ticks_missed_during_a_long_run() {
        // Ticks every 10 s; each run takes 25 s: runs never overlap and missed ticks are dropped.
        let h = start(
            CountingJob::new(Duration::from_secs(25), false),
            "*/10 * * * * *",
        );
        tokio::time::sleep(Duration::from_secs(100)).await;
        let runs = h.job.runs.load(Ordering::SeqCst);
        assert!((3..=4).contains(&runs), "{runs} runs in 100 s");
        assert!(!h.job.overlapped.load(Ordering::SeqCst));
        h.stop.send(true).expect("loop listens");
        h.task.await.expect("loop ends");
    }

    #[tokio::test(start_paused = true)]
    async fn requests_during_a_run_collapse_into_one_follow_up() {
        let h = start(
            CountingJob::new(Duration::from_secs(30), false),
            "0 0 * * *",
        );
        h.trigger.request(RunRequest::default());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(h.job.runs.load(Ordering::SeqCst), 1);
        for _ in 0..5 {
            h.trigger.request(RunRequest {
                full: true,
                allow_mass_delete: false,
                ..RunRequest::default()
            });
        }
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(
            h.job.runs.load(Ordering::SeqCst),
            2,
            "five requests, one follow-up"
        );
        assert_eq!(h.job.fulls.load(Ordering::SeqCst), 1);
        assert!(!h.state.lock().expect("state").running);
        h.stop.send(true).expect("loop listens");
        h.task.await.expect("loop ends");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off() {
        // Every 10 s, but each failure pushes the next run out: 1 min, then 2, then 4.
        let h = start(
            CountingJob::new(Duration::from_secs(1), true),
            "*/10 * * * * *",
        );
        tokio::time::sleep(Duration::from_secs(8 * 60)).await;
        let runs = h.job.runs.load(Ordering::SeqCst);
        assert!(
            (3..=4).contains(&runs),
            "{runs} runs in 8 minutes with backoff"
        );
        let state = h.state.lock().expect("state").clone();
        assert_eq!(state.consecutive_failures, runs);
        assert!(state.next_run_at.is_some());
        h.stop.send(true).expect("loop listens");
        h.task.await.expect("loop ends");
    }
}
