//! `GET /api/dashboard` as the top manager of 2,000 users / 100,000 opportunities, under load from
//! concurrent keep-alive clients on loopback, while full syncs run against the simulated Odoo.
//! Load generator, server and simulated Odoo share the machine's cores. Prints `BENCH` lines.
//!
//! `cargo bench --bench api`; `PIPELOG_BENCH_OPPORTUNITIES=N` and `PIPELOG_BENCH_SECONDS=S` shrink it.

mod common;

use common::bench;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipelog::api::{self, Guards, RequestMetrics, ServerOptions, Shared};
use pipelog::auth::hash_password;
use pipelog::demo::{CrmOptions, FakeOdoo, serve};
use pipelog::domain::{Event, NewEvent, Role};
use pipelog::store::{CommandBatch, Store};
use pipelog::sync::odoo::OdooClient;
use pipelog::sync::schedule::{ScheduleState, SyncTrigger};
use pipelog::sync::{RunRequest, SyncOptions, Syncer};
use std::sync::Mutex as StdMutex;

const CONCURRENCY: usize = 32;

fn main() {
    let opportunities: usize = std::env::var("PIPELOG_BENCH_OPPORTUNITIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seconds: u64 = std::env::var("PIPELOG_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fake = FakeOdoo::new(CrmOptions {
        users: 2_000,
        opportunities,
        partners: 20_000,
        seed: 5,
        ..CrmOptions::default()
    });
    let odoo_listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let odoo_url = format!("http://{}", odoo_listener.local_addr().expect("addr"));
    runtime.spawn(serve(odoo_listener, fake.clone(), std::future::pending()));

    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(Store::open(&dir.path().join("api.redb")).expect("store"));
    let syncer = Arc::new(Syncer::new(
        store.clone(),
        OdooClient::new(fake.admin_settings(&odoo_url)).expect("client"),
        SyncOptions::default(),
    ));
    runtime
        .block_on(syncer.run(RunRequest::default()))
        .expect("initial sync");

    // The top of the hierarchy: the user whose reach is largest.
    let top = store
        .with_model(|m| {
            m.users()
                .keys()
                .copied()
                .max_by_key(|u| m.hierarchy().subtree(*u).len())
        })
        .expect("model")
        .expect("a user");
    let email = store
        .with_model(|m| m.users()[&top].email.clone())
        .expect("model")
        .expect("an email");
    store
        .set_credential(
            &email.to_lowercase(),
            &hash_password("bench-password").expect("hash"),
        )
        .expect("credential");
    let register = Event::UserRegistered {
        email: email.clone(),
        name: "Top".into(),
        role: Role::Member,
        approved: true,
    };
    store
        .append(CommandBatch::new(vec![NewEvent::new(register)]))
        .expect("account");
    let reach = store
        .read()
        .expect("snapshot")
        .access(top)
        .expect("read")
        .map(|a| a.visible_users.len())
        .unwrap_or(0);
    println!(
        "# top manager: user {top}, reach {reach} users; {opportunities} opportunities; {CONCURRENCY} clients for {seconds} s"
    );

    let state = Arc::new(Shared {
        store: store.clone(),
        trigger: Arc::new(SyncTrigger::default()),
        schedule: Arc::new(Mutex::new(ScheduleState::default())),
        sync_configured: true,
        odoo: None,
        options: ServerOptions::for_tests(),
        metrics: RequestMetrics::default(),
        setup: StdMutex::new(None),
        guards: Guards::default(),
        sso: None,
    });
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    runtime.spawn(async move { axum::serve(listener, api::router(state)).await });

    let cookie = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{url}/api/auth/login"))
            .json(&serde_json::json!({"email": email, "password": "bench-password"}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200);
        let header = response.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .to_string();
        header.split(';').next().expect("pair").to_string()
    });

    // Syncs keep running (with changes to apply) for the whole measurement.
    let syncing = Arc::new(AtomicBool::new(true));
    let (sync_flag, sync_fake, sync_job) = (syncing.clone(), fake.clone(), syncer.clone());
    let sync_runs = runtime.spawn(async move {
        let mut runs = 0u32;
        while sync_flag.load(Ordering::SeqCst) {
            sync_fake.crm().mutate(200);
            sync_job
                .run(RunRequest::default())
                .await
                .expect("sync during load");
            runs += 1;
        }
        runs
    });

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (latencies, errors) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (url, cookie) = (url.clone(), cookie.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    match client
                        .get(format!("{url}/api/dashboard"))
                        .header("cookie", &cookie)
                        .send()
                        .await
                    {
                        Ok(response) if response.status() == 200 => {
                            let _ = response.bytes().await;
                            latencies.push(started.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for task in tasks {
            let (latencies, failed) = task.await.expect("client task");
            all.extend(latencies);
            errors += failed;
        }
        (all, errors)
    });
    syncing.store(false, Ordering::SeqCst);
    let runs = runtime.block_on(sync_runs).expect("sync task");

    // Reads that sum or sort every opportunity in reach (the compact facts), for the same manager,
    // idle: median of 20 each.
    let idle_median_ms = |path: &str| -> f64 {
        runtime.block_on(async {
            let client = reqwest::Client::new();
            let mut samples = Vec::new();
            for _ in 0..20 {
                let started = Instant::now();
                let response = client
                    .get(format!("{url}{path}"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200, "{path}");
                let _ = response.bytes().await;
                samples.push(started.elapsed());
            }
            samples.sort();
            samples[samples.len() / 2].as_secs_f64() * 1e3
        })
    };
    for (name, path) in [
        (
            "opportunity_list_page_median_ms",
            "/api/opportunities?per_page=50",
        ),
        (
            "opportunity_search_page_median_ms",
            "/api/opportunities?per_page=50&q=renewal",
        ),
        ("dashboard_by_team_median_ms", "/api/dashboard?team=1"),
        (
            "dashboard_with_period_median_ms",
            "/api/dashboard?from=2026-01-01&to=2026-12-31",
        ),
        ("trends_median_ms", "/api/dashboard/trends"),
    ] {
        bench(name, idle_median_ms(path), "ms");
    }

    let mut sorted = latencies.clone();
    sorted.sort();
    let percentile = |p: f64| {
        sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
    };
    bench(
        "dashboard_requests_per_s",
        sorted.len() as f64 / seconds as f64,
        "req/s",
    );
    bench("dashboard_latency_p50_ms", percentile(0.50), "ms");
    bench("dashboard_latency_p99_ms", percentile(0.99), "ms");
    bench("dashboard_errors", errors as f64, "requests");
    bench("syncs_during_load", runs as f64, "runs");
}
