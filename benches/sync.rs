//! Sync at scale against the simulated Odoo on loopback (2,000 users, 100,000 opportunities,
//! 20,000 partners), beside its physical limit: the same pages fetched from the same server by the
//! same client, with nothing done to them. Prints `BENCH <name> <value> <unit>` lines.
//!
//! The raw fetch and the initial full sync (each into a fresh data file) alternate for a few
//! rounds, and the medians are reported: the machines are shared, so one pair can be far off.
//!
//! Then the same against a simulated Odoo that answers as a real server does: each call holds one
//! of its workers for a fixed time per call plus a time per record (40 ms + 1 µs by default), so
//! that pipelog's requests in flight can be compared with the sequential raw fetch, on a server
//! with spare workers and on one with a single worker.
//!
//! `cargo bench --bench sync`; `PIPELOG_BENCH_OPPORTUNITIES=N` shrinks the CRM for a quick run,
//! `PIPELOG_BENCH_ROUNDS=N` sets the rounds (default 5; 3 for the modelled server),
//! `PIPELOG_BENCH_CALL_MS` and `PIPELOG_BENCH_RECORD_US` the modelled server's times.

mod common;

use common::{bench, env_number, serve_fake_odoo, synced_crm};

use std::sync::Arc;
use std::time::Instant;

use pipelog::demo::{FakeOdoo, Workload};
use pipelog::store::Store;
use pipelog::sync::mapping::SyncModel;
use pipelog::sync::odoo::{Call, OdooClient};
use pipelog::sync::{RunRequest, SyncOptions, Syncer};
use serde_json::{Value, json};

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// CPU seconds this process has used (user + system), from /proc; `None` elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Wall-clock and CPU seconds of `work`.
fn timed<T>(work: impl FnOnce() -> T) -> (T, f64, f64) {
    let cpu = process_cpu_seconds().unwrap_or(0.0);
    let started = Instant::now();
    let out = work();
    let wall = started.elapsed().as_secs_f64();
    (out, wall, process_cpu_seconds().unwrap_or(0.0) - cpu)
}

/// The physical limit: every page a full sync reads, fetched and parsed, nothing else.
async fn raw_fetch(client: &OdooClient, page_size: usize) -> u64 {
    let mut records = 0;
    for model in SyncModel::ALL {
        let mut last_id = 0;
        loop {
            let call = Call::new()
                .param("domain", json!([["id", ">", last_id]]))
                .param("fields", json!(model.wanted_fields()))
                .param("limit", json!(page_size))
                .param("order", json!("id asc"))
                .param("context", json!({"active_test": false}))
                .param("load", Value::Null);
            let page = client
                .call(model.odoo_name(), "search_read", call)
                .await
                .expect("page");
            let page = page.as_array().cloned().unwrap_or_default();
            records += page.len() as u64;
            match page.last().and_then(|r| r["id"].as_u64()) {
                Some(id) if page.len() == page_size => last_id = id,
                _ => break,
            }
        }
    }
    records
}

fn main() {
    let opportunities = env_number("PIPELOG_BENCH_OPPORTUNITIES", 100_000);
    let rounds = env_number("PIPELOG_BENCH_ROUNDS", 5).max(1);
    // The import of Odoo's change history has a bench of its own (`history`).
    let options = synced_crm(opportunities, 0);
    println!(
        "# simulated Odoo: {} users, {opportunities} opportunities, {} partners",
        options.users, options.partners
    );
    let fake = FakeOdoo::new(options);
    let (runtime, url) = serve_fake_odoo(&fake);
    let sync_options = SyncOptions::default();

    let (mut raws, mut fulls, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut raw_cpus, mut full_cpus) = (Vec::new(), Vec::new());
    let mut last = None;
    for round in 1..=rounds {
        let client = OdooClient::new(fake.admin_settings(&url)).expect("client");
        let before_raw = fake.calls_by_model();
        let (fetched, raw, raw_cpu) =
            timed(|| runtime.block_on(raw_fetch(&client, sync_options.page_size)));
        let before_full = fake.calls_by_model();
        let (dir, store, syncer) = fresh_syncer(&fake, &url, sync_options.clone());
        let (full, full_s, full_cpu) = timed(|| runtime.block_on(syncer.run(full_run())));
        let full = full.expect("full sync");
        if round == 1 {
            println!(
                "# calls of the raw fetch: {}",
                calls_since(&before_raw, &before_full)
            );
            println!(
                "# calls of the full sync: {}",
                calls_since(&before_full, &fake.calls_by_model())
            );
        }
        println!(
            "# round {round}: raw fetch {raw:.3} s ({fetched} records, {raw_cpu:.2} CPU s), full sync {full_s:.3} s ({} events, {full_cpu:.2} CPU s), {:.2}x",
            full.events,
            full_s / raw
        );
        raws.push(raw);
        fulls.push(full_s);
        ratios.push(full_s / raw);
        raw_cpus.push(raw_cpu);
        full_cpus.push(full_cpu);
        last = Some((dir, store, syncer, full.events));
    }
    let Some((_dir, store, syncer, full_events)) = last else {
        return;
    };
    bench("raw_fetch_s", median(&raws), "s");
    bench("raw_fetch_cpu_s", median(&raw_cpus), "s");
    bench("initial_full_sync_s", median(&fulls), "s");
    bench("initial_full_sync_cpu_s", median(&full_cpus), "s");
    bench("initial_full_sync_vs_raw_fetch", median(&ratios), "x");
    bench("initial_full_sync_events", full_events as f64, "events");

    let again = runtime
        .block_on(syncer.run(RunRequest::default()))
        .expect("resync");
    bench("no_change_resync_s", again.duration_ms as f64 / 1000.0, "s");
    bench("no_change_resync_events", again.events as f64, "events");

    let changes = opportunities / 100;
    fake.crm().mutate(changes);
    let incremental = runtime
        .block_on(syncer.run(RunRequest::default()))
        .expect("incremental");
    bench(
        "incremental_1pct_sync_s",
        incremental.duration_ms as f64 / 1000.0,
        "s",
    );
    bench(
        "incremental_1pct_sync_events",
        incremental.events as f64,
        "events",
    );
    println!("# {changes} random changes made in the simulated Odoo before the incremental sync");

    let verify = store.verify(&mut |_| {}).expect("verify");
    assert!(verify.is_clean(), "views verify after the syncs");

    modelled_server(&runtime, &fake, &url, sync_options.page_size);
}

/// The calls made between two counts, by model and method, with their total.
fn calls_since(
    before: &std::collections::BTreeMap<(String, String), u64>,
    after: &std::collections::BTreeMap<(String, String), u64>,
) -> String {
    let mut total = 0;
    let mut parts = Vec::new();
    for ((model, method), count) in after {
        let made = count
            - before
                .get(&(model.clone(), method.clone()))
                .copied()
                .unwrap_or(0);
        if made > 0 {
            total += made;
            parts.push(format!("{model}.{method} {made}"));
        }
    }
    format!("{total} ({})", parts.join(", "))
}

/// A syncer with `options` on a fresh data file.
fn fresh_syncer(
    fake: &FakeOdoo,
    url: &str,
    options: SyncOptions,
) -> (tempfile::TempDir, Arc<Store>, Syncer) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&dir.path().join("sync.redb")).expect("store"));
    let syncer = Syncer::new(
        store.clone(),
        OdooClient::new(fake.admin_settings(url)).expect("client"),
        options,
    );
    (dir, store, syncer)
}

fn full_run() -> RunRequest {
    RunRequest {
        full: true,
        allow_mass_delete: false,
        ..RunRequest::default()
    }
}

/// Full syncs with 1, 2 and 4 requests in flight against a server of four workers, and with 1
/// and the default against a server of one, each beside the sequential raw fetch of its round.
fn modelled_server(
    runtime: &tokio::runtime::Runtime,
    fake: &Arc<FakeOdoo>,
    url: &str,
    page_size: usize,
) {
    let rounds = env_number("PIPELOG_BENCH_ROUNDS", 3).max(1);
    let per_call = std::time::Duration::from_millis(env_number("PIPELOG_BENCH_CALL_MS", 40) as u64);
    let per_record =
        std::time::Duration::from_micros(env_number("PIPELOG_BENCH_RECORD_US", 1) as u64);
    let default_in_flight = SyncOptions::default().requests_in_flight;
    let runs: Vec<(usize, usize)> = vec![(4, 1), (4, 2), (4, 4), (1, 1), (1, default_in_flight)];
    println!(
        "# modelled server: {} ms per call + {} us per record",
        per_call.as_millis(),
        per_record.as_micros()
    );
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    let mut raws = Vec::new();
    for round in 1..=rounds {
        let mut line = format!("# modelled round {round}:");
        for (index, &(workers, in_flight)) in runs.iter().enumerate() {
            fake.set_workload(Some(Workload {
                workers,
                per_call,
                per_record,
            }));
            // The raw fetch is sequential: one worker or four answer it alike.
            if index == 0 {
                let client = OdooClient::new(fake.admin_settings(url)).expect("client");
                let (_, raw, _) = timed(|| runtime.block_on(raw_fetch(&client, page_size)));
                raws.push(raw);
                line += &format!(" raw fetch {raw:.2} s;");
            }
            let options = SyncOptions {
                requests_in_flight: in_flight,
                ..SyncOptions::default()
            };
            let (_dir, _store, syncer) = fresh_syncer(fake, url, options);
            let (report, seconds, _) = timed(|| runtime.block_on(syncer.run(full_run())));
            report.expect("full sync");
            let ratio = seconds / raws[raws.len() - 1];
            ratios[index].push(ratio);
            line +=
                &format!(" {workers} workers/{in_flight} in flight {seconds:.2} s ({ratio:.2}x);");
        }
        println!("{line}");
    }
    fake.set_workload(None);
    bench("modelled_raw_fetch_s", median(&raws), "s");
    for (&(workers, in_flight), ratios) in runs.iter().zip(&ratios) {
        bench(
            &format!("modelled_full_sync_vs_raw_fetch_{workers}_workers_{in_flight}_in_flight"),
            median(ratios),
            "x",
        );
    }
}
