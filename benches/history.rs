//! The first sync's import of Odoo's change history at scale: the real `pipelog sync` binary, in a
//! process of its own, against the simulated Odoo on loopback (2,000 users, 100,000 opportunities
//! with about ten tracking values each, about 1,000,000 in all). Prints `BENCH <name> <value>
//! <unit>` lines: the whole first sync, the history part of it (from its first progress line to
//! the end), the history events per second, and the process's peak memory (VmHWM, sampled every
//! 20 ms).
//!
//! `cargo bench --bench history`; `PIPELOG_BENCH_OPPORTUNITIES=N` shrinks the CRM,
//! `PIPELOG_BENCH_CHANGES=N` sets the tracked changes per deal (default 7).

mod common;

use common::{bench, env_number, serve_fake_odoo, synced_crm};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipelog::demo::FakeOdoo;

/// The peak resident memory of process `pid` so far, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let opportunities = env_number("PIPELOG_BENCH_OPPORTUNITIES", 100_000);
    let changes = env_number("PIPELOG_BENCH_CHANGES", 7) as u32;
    let generating = Instant::now();
    let fake = FakeOdoo::new(synced_crm(opportunities, changes));
    let (messages, values) = {
        let crm = fake.crm();
        let count = |model: &str| crm.table(model).map_or(0, |t| t.len());
        (count("mail.message"), count("mail.tracking.value"))
    };
    println!(
        "# simulated Odoo: 2000 users, {opportunities} opportunities, {messages} messages with {values} tracking values (generated in {:.1} s)",
        generating.elapsed().as_secs_f64()
    );
    let (_runtime, url) = serve_fake_odoo(&fake);

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("history.redb");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&data)
        .arg("sync")
        .env("PIPELOG_ODOO_URL", &url)
        .env("PIPELOG_ODOO_DB", "salesdemo")
        .env("PIPELOG_ODOO_LOGIN", "admin")
        .env("PIPELOG_ODOO_PASSWORD", "admin")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipelog runs");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let history_began = std::thread::spawn(move || {
        let mut began = None;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if began.is_none() && line.contains("reading Odoo's change history") {
                began = Some(Instant::now());
            }
        }
        began
    });
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let finished = Instant::now();
    let output = child.wait_with_output().expect("output");
    let summary = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(status.success(), "the sync failed: {summary}");
    println!("# {}", summary.trim().replace('\n', "\n# "));
    let began = history_began.join().ok().flatten().unwrap_or(started);

    let report = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(&data)
        .args(["status", "--json"])
        .output()
        .expect("status");
    let status: serde_json::Value = serde_json::from_slice(&report.stdout).expect("status json");
    let by_type = &status["events_by_type"];
    let history_events = by_type["OpportunityHistoryBegins"].as_u64().unwrap_or(0)
        + by_type["OpportunityChangeRecorded"].as_u64().unwrap_or(0);
    let whole = (finished - started).as_secs_f64();
    let history = (finished - began).as_secs_f64();
    bench("first_sync_with_history_s", whole, "s");
    bench("history_import_s", history, "s");
    bench("history_tracking_values", values as f64, "values");
    bench("history_events", history_events as f64, "events");
    bench(
        "history_events_per_s",
        history_events as f64 / history,
        "events/s",
    );
    bench(
        "history_tracking_values_per_s",
        values as f64 / history,
        "values/s",
    );
    bench("first_sync_peak_rss_mib", peak as f64 / 1024.0, "MiB");
}
