//! Scale benchmarks of the core, each printed as `BENCH <name> <value> <unit>`, with SQLite (WAL,
//! events as rows; dashboards by recursive CTE and GROUP BY) measured side by side in the same run.
//! The append is compared with two SQLite peers: one that keeps only the log, and one that also
//! keeps the same views in the same transactions (`common::sqlite_views`).
//!
//! `cargo bench --bench scale` runs everything at full size (1,000,000 events; 2,000 users;
//! 100,000 opportunities). `PIPELOG_BENCH_EVENTS=N` shrinks the log for a quick run.

mod common;

use common::{bench, number_between};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pipelog::domain::{Event, NewEvent, OdooId};
use pipelog::store::{CommandBatch, Store};
use rusqlite::{Connection, params};

use common::crm::*;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// SQLite peer of the log: the same envelopes as rows, WAL, durable commits, the same batches, with
/// the unique (aggregate, version) index that optimistic concurrency needs.
/// With `views`, the peer also keeps the views of `common::sqlite_views` in each transaction.
fn sqlite_append(path: &Path, total: u64, views: bool) -> (u64, Duration) {
    let connection = Connection::open(path).expect("sqlite");
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    connection
        .pragma_update(None, "synchronous", "FULL")
        .expect("durable commits");
    connection
        .execute_batch(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, aggregate TEXT NOT NULL, version INTEGER NOT NULL, body BLOB NOT NULL);
             CREATE UNIQUE INDEX events_aggregate ON events (aggregate, version);
             CREATE TABLE versions (aggregate TEXT PRIMARY KEY, version INTEGER NOT NULL);",
        )
        .expect("schema");
    if views {
        connection
            .execute_batch(common::sqlite_views::SCHEMA)
            .expect("views schema");
    }
    let mut position = 0u64;
    let started = Instant::now();
    let mut connection = connection;
    for batch in log_batches(total) {
        let txn = connection.transaction().expect("txn");
        {
            let mut current = txn
                .prepare_cached("SELECT version FROM versions WHERE aggregate = ?1")
                .expect("prepare");
            let mut upsert = txn
                .prepare_cached("INSERT INTO versions (aggregate, version) VALUES (?1, ?2) ON CONFLICT(aggregate) DO UPDATE SET version = ?2")
                .expect("prepare");
            let mut insert = txn
                .prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3, ?4)")
                .expect("prepare");
            for event in batch {
                position += 1;
                let aggregate = event.aggregate().to_string();
                let version: u64 = current
                    .query_row(params![aggregate], |row| row.get(0))
                    .unwrap_or(0)
                    + 1;
                let envelope = serde_json::json!({"position": position, "aggregate": aggregate, "version": version, "event": event});
                let body = serde_json::to_vec(&envelope).expect("json");
                insert
                    .execute(params![position, aggregate, version, body])
                    .expect("insert");
                upsert.execute(params![aggregate, version]).expect("upsert");
                if views {
                    common::sqlite_views::apply(&txn, position, &event);
                }
            }
        }
        txn.commit().expect("commit");
    }
    (position, started.elapsed())
}

/// SQLite peer of the dashboard: the same figures from tables of users and opportunities, by a
/// recursive CTE over the hierarchy and GROUP BY.
fn sqlite_dashboard(path: &Path, store: &Store, top: OdooId, rounds: usize) -> Duration {
    let mut connection = Connection::open(path).expect("sqlite");
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    connection
        .execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, manager_id INTEGER);
             CREATE INDEX users_manager ON users (manager_id);
             CREATE TABLE opportunities (id INTEGER PRIMARY KEY, owner INTEGER, stage INTEGER, currency TEXT,
                 status TEXT, value INTEGER, weighted INTEGER);
             CREATE INDEX opportunities_owner ON opportunities (owner);",
        )
        .expect("schema");
    let txn = connection.transaction().expect("txn");
    store
        .with_model(|model| {
            let hierarchy = model.hierarchy();
            for &user in model.users().keys() {
                txn.execute(
                    "INSERT INTO users VALUES (?1, ?2)",
                    params![user, hierarchy.manager(user)],
                )
                .expect("insert");
            }
            for (&id, o) in model.opportunities() {
                let won = o
                    .stage_id
                    .and_then(|s| model.stages().get(&s))
                    .is_some_and(|s| s.is_won);
                let status = if !o.active {
                    "lost"
                } else if won {
                    "won"
                } else {
                    "open"
                };
                let weighted = if status == "open" {
                    o.weighted_revenue()
                } else {
                    0
                };
                txn.execute(
                    "INSERT INTO opportunities VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id,
                        o.user_id,
                        o.stage_id,
                        o.currency,
                        status,
                        o.expected_revenue,
                        weighted
                    ],
                )
                .expect("insert");
            }
        })
        .expect("model");
    txn.commit().expect("commit");
    let query = "WITH RECURSIVE reach(id) AS (SELECT ?1 UNION ALL SELECT u.id FROM users u JOIN reach ON u.manager_id = reach.id)
                 SELECT currency, status, stage, count(*), sum(value), sum(weighted)
                 FROM opportunities WHERE owner IN (SELECT id FROM reach) GROUP BY currency, status, stage";
    let mut statement = connection.prepare(query).expect("prepare");
    let mut samples = Vec::with_capacity(rounds);
    let mut rows = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let found: Vec<(String, String, Option<i64>, i64, i64, i64)> = statement
            .query_map(params![top], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        samples.push(started.elapsed());
        rows = found.len();
    }
    assert!(rows > 0, "the SQLite dashboard found figures");
    median(samples)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported: everything runs.
    let total: u64 = std::env::var("PIPELOG_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("bench.redb");
    println!(
        "# {total} events; {USERS} users; {OPPORTUNITIES} opportunities; {ACCOUNTS} accounts; batches of {BATCH}"
    );

    // 1. Batched durable append, with every view updated in the same transactions.
    let store = Store::open(&data).expect("store");
    let (appended, took) = append_log(&store, total);
    let pipelog_rate = appended as f64 / took.as_secs_f64();
    bench("append_events_per_s", pipelog_rate, "events/s");
    let sqlite_path = dir.path().join("peer-log.sqlite");
    let (sqlite_appended, sqlite_took) = sqlite_append(&sqlite_path, total, false);
    let sqlite_rate = sqlite_appended as f64 / sqlite_took.as_secs_f64();
    bench("append_events_per_s_sqlite", sqlite_rate, "events/s");
    bench("append_ratio_vs_sqlite", pipelog_rate / sqlite_rate, "x");
    std::fs::remove_file(&sqlite_path).ok();
    let sqlite_path = dir.path().join("peer-views.sqlite");
    let (appended, took) = sqlite_append(&sqlite_path, total, true);
    let views_rate = appended as f64 / took.as_secs_f64();
    bench(
        "append_events_per_s_sqlite_with_views",
        views_rate,
        "events/s",
    );
    bench(
        "append_ratio_vs_sqlite_with_views",
        pipelog_rate / views_rate,
        "x",
    );
    std::fs::remove_file(&sqlite_path).ok();

    // 2. Dashboard read for the top manager (a fresh read transaction per read, like a request).
    let top = 1;
    let rounds = 2_000;
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let metrics = store
            .read()
            .expect("snapshot")
            .metrics(top)
            .expect("read")
            .expect("row");
        std::hint::black_box(&metrics);
        samples.push(started.elapsed());
    }
    let pipelog_read = median(samples);
    bench(
        "dashboard_read_median_ms",
        pipelog_read.as_secs_f64() * 1e3,
        "ms",
    );
    let sqlite_read = sqlite_dashboard(&dir.path().join("peer-dashboard.sqlite"), &store, top, 50);
    bench(
        "dashboard_read_median_ms_sqlite",
        sqlite_read.as_secs_f64() * 1e3,
        "ms",
    );
    bench(
        "dashboard_read_ratio_vs_sqlite",
        sqlite_read.as_secs_f64() / pipelog_read.as_secs_f64(),
        "x",
    );

    // 3. Moving a VP's ~500-person subtree under another VP and back, durably.
    let subtree = store
        .read()
        .expect("snapshot")
        .profile(2)
        .expect("read")
        .expect("VP")
        .subtree
        .len()
        + 1;
    bench("hierarchy_move_subtree_size", subtree as f64, "users");
    let mut moves = Vec::new();
    for round in 0..6 {
        let manager = if round % 2 == 0 { 3 } else { 1 };
        let event = Event::EmployeeUpdated {
            id: 10_002,
            changes: change("manager_id", serde_json::json!(manager + 10_000)),
        };
        let started = Instant::now();
        store
            .append(CommandBatch::new(vec![NewEvent::new(event)]))
            .expect("move");
        moves.push(started.elapsed());
    }
    bench(
        "hierarchy_move_median_ms",
        median(moves).as_secs_f64() * 1e3,
        "ms",
    );
    drop(store);

    // 4. Rebuild in a fresh process (three times; the median), so that its peak memory is its own.
    let binary = env!("CARGO_BIN_EXE_pipelog");
    let mut rates = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..3 {
        let output = Command::new(binary)
            .arg("--data")
            .arg(&data)
            .arg("rebuild")
            .output()
            .expect("runs pipelog rebuild");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "rebuild failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!("# {}", stdout.trim());
        rates.push(number_between(&stdout, "s: ", " events/s"));
        peaks.push(number_between(&stdout, "peak memory ", " MiB"));
    }
    rates.sort_by(f64::total_cmp);
    peaks.sort_by(f64::total_cmp);
    bench("rebuild_events_per_s", rates[1], "events/s");
    bench("rebuild_peak_memory_mib", peaks[1], "MiB");
    let file_size = std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0);
    bench("data_file_mib", file_size as f64 / (1024.0 * 1024.0), "MiB");
}
