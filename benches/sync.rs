//! Sync at scale against the simulated Odoo on loopback (2,000 users, 100,000 opportunities,
//! 20,000 partners), beside its physical limit: the same pages fetched from the same server by the
//! same client, with nothing done to them. Prints `BENCH <name> <value> <unit>` lines.
//!
//! `cargo bench --bench sync`; `PIPELOG_BENCH_OPPORTUNITIES=N` shrinks the CRM for a quick run.

use std::sync::Arc;
use std::time::Instant;

use pipelog::demo::{CrmOptions, FakeOdoo, serve};
use pipelog::store::Store;
use pipelog::sync::mapping::SyncModel;
use pipelog::sync::odoo::{Call, OdooClient};
use pipelog::sync::{RunRequest, SyncOptions, Syncer};
use serde_json::{Value, json};

fn bench(name: &str, value: f64, unit: &str) {
    println!("BENCH {name} {value:.3} {unit}");
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
    let opportunities: usize = std::env::var("PIPELOG_BENCH_OPPORTUNITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let options = CrmOptions {
        users: 2_000,
        opportunities,
        partners: 20_000,
        seed: 11,
        currencies: vec!["USD".into(), "EUR".into()],
        ..CrmOptions::default()
    };
    println!(
        "# simulated Odoo: {} users, {opportunities} opportunities, {} partners",
        options.users, options.partners
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fake = FakeOdoo::new(options);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    runtime.spawn(serve(listener, fake.clone(), std::future::pending()));
    let sync_options = SyncOptions::default();

    let started = Instant::now();
    let fetched = runtime.block_on(raw_fetch(
        &OdooClient::new(fake.admin_settings(&url)).expect("client"),
        sync_options.page_size,
    ));
    let raw = started.elapsed();
    bench("raw_fetch_s", raw.as_secs_f64(), "s");
    println!("# raw fetch read {fetched} records");

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(&dir.path().join("sync.redb")).expect("store"));
    let syncer = Syncer::new(
        store.clone(),
        OdooClient::new(fake.admin_settings(&url)).expect("client"),
        sync_options,
    );
    let full = runtime
        .block_on(syncer.run(RunRequest {
            full: true,
            allow_mass_delete: false,
        }))
        .expect("full sync");
    let full_s = full.duration_ms as f64 / 1000.0;
    bench("initial_full_sync_s", full_s, "s");
    bench(
        "initial_full_sync_vs_raw_fetch",
        full_s / raw.as_secs_f64(),
        "x",
    );
    bench("initial_full_sync_events", full.events as f64, "events");

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
}
