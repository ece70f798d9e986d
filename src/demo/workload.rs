//! How long the simulated Odoo takes to answer, and how many calls it serves at once: a model of a
//! production server's workers, for benchmarks and tests of a client that asks several pages at a
//! time. It owns only timing; what a call answers is `query`'s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Each object call holds one of `workers` for `per_call` plus `per_record` for each record it
/// answers with; calls beyond the workers wait for one, as they queue at a real Odoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub workers: usize,
    pub per_call: Duration,
    pub per_record: Duration,
}

impl Workload {
    /// The time a worker spends on an answer of `records` records.
    pub fn service_time(&self, records: usize) -> Duration {
        self.per_call + self.per_record.saturating_mul(records as u32)
    }
}

/// The workload in force (none: answers are as fast as the simulator computes them) and a count
/// of the object calls being served, with its peak.
#[derive(Default)]
pub(super) struct Workers {
    model: Mutex<Option<(Workload, Arc<Semaphore>)>>,
    calls: Arc<Mutex<CallsAtOnce>>,
}

#[derive(Default)]
struct CallsAtOnce {
    now: u64,
    peak: u64,
}

/// One object call being served; it frees its worker and its place in the count when dropped.
pub(super) struct CallInProgress {
    workload: Option<Workload>,
    _worker: Option<OwnedSemaphorePermit>,
    calls: Arc<Mutex<CallsAtOnce>>,
}

impl Workers {
    pub(super) fn set(&self, workload: Option<Workload>) {
        let model = workload.map(|w| (w, Arc::new(Semaphore::new(w.workers.max(1)))));
        *self.model.lock().unwrap_or_else(|p| p.into_inner()) = model;
    }

    /// The most object calls served at once since the last reset.
    pub(super) fn peak(&self) -> u64 {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).peak
    }

    pub(super) fn reset_peak(&self) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.peak = calls.now;
    }

    /// Counts a call in, once a worker is free for it.
    pub(super) async fn begin(&self) -> CallInProgress {
        let model = self.model.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (workload, worker) = match model {
            Some((workload, semaphore)) => (Some(workload), semaphore.acquire_owned().await.ok()),
            None => (None, None),
        };
        {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            calls.now += 1;
            calls.peak = calls.peak.max(calls.now);
        }
        CallInProgress {
            workload,
            _worker: worker,
            calls: self.calls.clone(),
        }
    }
}

impl CallInProgress {
    /// Holds the worker for as long as the workload says an answer of this size takes.
    pub(super) async fn work_on(&self, answer: Option<&Value>) {
        if let Some(workload) = self.workload {
            let records = answer.and_then(Value::as_array).map_or(1, Vec::len);
            tokio::time::sleep(workload.service_time(records)).await;
        }
    }
}

impl Drop for CallInProgress {
    fn drop(&mut self) {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.now = calls.now.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_takes_the_call_time_plus_the_time_per_record() {
        let workload = Workload {
            workers: 2,
            per_call: Duration::from_millis(40),
            per_record: Duration::from_micros(1),
        };
        assert_eq!(workload.service_time(2_000), Duration::from_millis(42));
        assert_eq!(workload.service_time(0), Duration::from_millis(40));
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_workers_wait_and_the_peak_counts_those_served() {
        let workers = Arc::new(Workers::default());
        workers.set(Some(Workload {
            workers: 2,
            per_call: Duration::from_millis(100),
            per_record: Duration::ZERO,
        }));
        let started = tokio::time::Instant::now();
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let workers = workers.clone();
                tokio::spawn(async move {
                    let call = workers.begin().await;
                    call.work_on(None).await;
                })
            })
            .collect();
        for call in calls {
            call.await.expect("call");
        }
        assert_eq!(workers.peak(), 2);
        // Two rounds of two: 200 ms on the paused clock.
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }
}
