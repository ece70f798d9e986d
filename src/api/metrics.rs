//! `/metrics` in Prometheus' text format: request latency by route, sync runs by outcome and their
//! duration, events in the log. Counted here by hand: a few atomics need no exporter crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    total: u64,
    sum: f64,
}

/// Request latencies by (method, route, status class).
#[derive(Default)]
pub struct RequestMetrics {
    by_route: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl RequestMetrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut by_route = self.by_route.lock().unwrap_or_else(|p| p.into_inner());
        let histogram = by_route
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.counts[i] += 1;
            }
        }
        histogram.total += 1;
        histogram.sum += seconds;
    }
}

pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    // The route template, not the path: ids in paths would make a series per record.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state.metrics.observe(&method, &route, status, seconds);
    // The route template only: no query strings, no headers, so no session ids or secrets.
    tracing::debug!(%method, %route, status, ms = seconds * 1e3, "request");
    response
}

#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")),
)]
pub async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP pipelog_http_request_duration_seconds HTTP request latency by route."
    );
    let _ = writeln!(
        out,
        "# TYPE pipelog_http_request_duration_seconds histogram"
    );
    {
        let by_route = state
            .metrics
            .by_route
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for ((method, route, status), histogram) in by_route.iter() {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                let _ = writeln!(
                    out,
                    "pipelog_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "pipelog_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.total
            );
            let _ = writeln!(
                out,
                "pipelog_http_request_duration_seconds_sum{{{labels}}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "pipelog_http_request_duration_seconds_count{{{labels}}} {}",
                histogram.total
            );
        }
    }
    let store = state.store.clone();
    let facts = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
        let snapshot = store.read()?;
        let lag = snapshot
            .checkpoints()?
            .values()
            .map(|c| snapshot.last_position().map(|p| p.saturating_sub(*c)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            snapshot.last_position()?,
            snapshot.sync_status()?,
            lag.into_iter().max().unwrap_or(0),
            snapshot.view_schema()?,
        ))
    })
    .await;
    if let Ok(Ok((events, sync, lag, schema))) = facts {
        let _ = writeln!(
            out,
            "# HELP pipelog_view_checkpoint_lag_events Events the furthest-behind view has not applied (0: all current).\n# TYPE pipelog_view_checkpoint_lag_events gauge\npipelog_view_checkpoint_lag_events {lag}"
        );
        let _ = writeln!(
            out,
            "# HELP pipelog_view_schema_version Schema version of the stored views.\n# TYPE pipelog_view_schema_version gauge\npipelog_view_schema_version {}",
            schema.unwrap_or(0)
        );
        let _ = writeln!(
            out,
            "# HELP pipelog_events_total Events in the log.\n# TYPE pipelog_events_total counter\npipelog_events_total {events}"
        );
        let succeeded = sync.runs_total.saturating_sub(sync.failures_total);
        let _ = writeln!(
            out,
            "# HELP pipelog_sync_runs_total Sync runs by outcome.\n# TYPE pipelog_sync_runs_total counter"
        );
        let _ = writeln!(
            out,
            "pipelog_sync_runs_total{{outcome=\"succeeded_or_running\"}} {succeeded}"
        );
        let _ = writeln!(
            out,
            "pipelog_sync_runs_total{{outcome=\"failed\"}} {}",
            sync.failures_total
        );
        if let Some(ms) = sync.last_run().and_then(|run| run.duration_ms) {
            let _ = writeln!(
                out,
                "# HELP pipelog_sync_last_duration_seconds Duration of the last finished sync.\n# TYPE pipelog_sync_last_duration_seconds gauge"
            );
            let _ = writeln!(
                out,
                "pipelog_sync_last_duration_seconds {}",
                ms as f64 / 1000.0
            );
        }
        if let Some(at) = sync.last_success_at {
            let _ = writeln!(
                out,
                "# HELP pipelog_sync_last_success_timestamp_seconds When the last sync succeeded.\n# TYPE pipelog_sync_last_success_timestamp_seconds gauge"
            );
            let _ = writeln!(
                out,
                "pipelog_sync_last_success_timestamp_seconds {}",
                at.as_second()
            );
        }
    }
    let running = state.schedule.lock().map(|s| s.running).unwrap_or(false);
    let _ = writeln!(
        out,
        "# HELP pipelog_sync_running Whether a sync is running.\n# TYPE pipelog_sync_running gauge\npipelog_sync_running {}",
        u8::from(running)
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}
