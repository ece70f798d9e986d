//! Start-up on a long log: `pipelog serve` on a file of N events (default 10,000,000: 2,000
//! users, 100,000 opportunities, then random changes), timed from the process's start until
//! `/healthz` answers and until an admin's dashboard does (signing in included), with the
//! process's peak memory (VmHWM) then. Side by side in the same run, alternating, three rounds
//! each: the file as pipelog leaves it (a model snapshot; the start folds only the events after
//! it), and the peer, the same file with its snapshot table dropped (the start replays the whole
//! log, as every start did before snapshots). Each `BENCH` figure is the median of its three.
//!
//! Then the same log replayed whole, once each in a process of its own: `pipelog verify` and
//! `pipelog rebuild`, with their rates and peak memory.
//!
//! `cargo bench --bench startup`; `PIPELOG_BENCH_EVENTS=N` for a shorter log.

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::crm::append_log;
use common::{bench, number_between};
use pipelog::store::Store;
use support::{add_account, pipelog_command, session_cookie, start_server};

const ADMIN: &str = "admin@bench.example";
const PASSWORD: &str = "bench-password-1";

struct Start {
    healthz: Duration,
    dashboard: Duration,
    peak_mib: f64,
}

fn peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn drop_model_snapshot(data: &Path) {
    let db = redb::Database::open(data).expect("opens the file");
    let txn = db.begin_write().expect("writes");
    txn.delete_table(redb::TableDefinition::<&str, &[u8]>::new(
        "model_snapshot_v1",
    ))
    .expect("drops the table");
    txn.commit().expect("commits");
}

fn start(data: &Path, config: &Path) -> Start {
    let started = Instant::now();
    let (mut child, url) = start_server(pipelog_command(
        data,
        config,
        &["serve", "--listen", "127.0.0.1:0"],
    ));
    let client = reqwest::blocking::Client::new();
    while !client
        .get(format!("{url}/healthz"))
        .send()
        .is_ok_and(|answer| answer.status().is_success())
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let healthz = started.elapsed();
    let login = client
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"email": ADMIN, "password": PASSWORD}))
        .send()
        .expect("signs in");
    assert!(login.status().is_success(), "sign-in: {}", login.status());
    let cookie = session_cookie(&login);
    let dashboard = client
        .get(format!("{url}/api/dashboard"))
        .header("cookie", cookie)
        .send()
        .expect("answers");
    assert!(
        dashboard.status().is_success(),
        "dashboard: {}",
        dashboard.status()
    );
    let body: serde_json::Value = dashboard.json().expect("JSON");
    std::hint::black_box(body);
    let dashboard = started.elapsed();
    let peak_mib = peak_mib(child.id());
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(stopped.success());
    assert!(child.wait().expect("waits").success(), "a clean stop");
    Start {
        healthz,
        dashboard,
        peak_mib,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn report(name: &str, starts: &[Start]) {
    let seconds = |pick: fn(&Start) -> Duration| {
        median(starts.iter().map(|s| pick(s).as_secs_f64()).collect())
    };
    bench(&format!("{name}_healthz_s"), seconds(|s| s.healthz), "s");
    bench(
        &format!("{name}_dashboard_s"),
        seconds(|s| s.dashboard),
        "s",
    );
    let peak = median(starts.iter().map(|s| s.peak_mib).collect());
    bench(&format!("{name}_peak_rss_mib"), peak, "MiB");
}

fn main() {
    let total = common::env_number("PIPELOG_BENCH_EVENTS", 10_000_000) as u64;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("bench.redb");
    let config = dir.path().join("pipelog.toml");
    std::fs::write(&config, "").expect("config");
    println!("# {total} events; 2000 users; 100000 opportunities");

    let store = Store::open(&data).expect("store");
    let (appended, took) = append_log(&store, total);
    bench(
        "write_log_events_per_s",
        appended as f64 / took.as_secs_f64(),
        "events/s",
    );
    // As a server leaves it when it stops.
    store.save_snapshot().expect("saves the model snapshot");
    drop(store);
    add_account(
        pipelog_command(&data, &config, &["user", "add", ADMIN, "--admin"]),
        PASSWORD,
    );
    let size = std::fs::metadata(&data).map_or(0, |m| m.len());
    bench("data_file_mib", size as f64 / (1024.0 * 1024.0), "MiB");

    let (mut from_snapshot, mut replaying) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let with = start(&data, &config);
        drop_model_snapshot(&data);
        let without = start(&data, &config);
        println!(
            "# round {round}: from the snapshot {:.2} s to /healthz, {:.2} s to a dashboard, {:.0} MiB; replaying the log {:.2} s, {:.2} s, {:.0} MiB",
            with.healthz.as_secs_f64(),
            with.dashboard.as_secs_f64(),
            with.peak_mib,
            without.healthz.as_secs_f64(),
            without.dashboard.as_secs_f64(),
            without.peak_mib
        );
        from_snapshot.push(with);
        replaying.push(without);
    }
    report("start_from_snapshot", &from_snapshot);
    report("start_replaying_the_log", &replaying);
    let ratio = median(
        replaying
            .iter()
            .map(|s| s.dashboard.as_secs_f64())
            .collect(),
    ) / median(
        from_snapshot
            .iter()
            .map(|s| s.dashboard.as_secs_f64())
            .collect(),
    );
    bench("start_to_dashboard_ratio_replay_vs_snapshot", ratio, "x");

    // The same log replayed whole by `verify` (read-only) and then by `rebuild`, each once in a
    // process of its own, so that its peak memory is its own. The snapshot was dropped by the
    // last round, so rebuild writes a fresh one.
    for (command, rate_after) in [("verify", " s, "), ("rebuild", " s: ")] {
        let output = pipelog_command(&data, &config, &[command])
            .output()
            .expect("runs pipelog");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "{command} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!("# {}", stdout.trim());
        bench(
            &format!("{command}_events_per_s"),
            number_between(&stdout, rate_after, " events/s"),
            "events/s",
        );
        bench(
            &format!("{command}_peak_memory_mib"),
            number_between(&stdout, "peak memory ", " MiB"),
            "MiB",
        );
    }
}
