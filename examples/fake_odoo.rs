//! A simulated Odoo server for trying pipelog, for tests and for benchmarks.
//!
//!     cargo run --release --example fake_odoo -- --listen 127.0.0.1:8069 --users 50 --opportunities 2000 --seed 7
//!
//! Speaks JSON-RPC (and JSON-2 with `--odoo-version 19`). Sign in as `admin`/`admin` (database
//! `salesdemo`). `POST /__fake/mutate {"count": N}` changes data; `POST /__fake/faults` injects faults.

use std::time::Duration;

use clap::Parser;
use pipelog::demo::{CrmOptions, FakeOdoo, Workload, serve};

#[derive(Parser)]
#[command(about = "A simulated Odoo server (JSON-RPC and JSON-2) with a generated sales CRM")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8069")]
    listen: String,
    /// Internal sales users in the hierarchy.
    #[arg(long, default_value_t = 20)]
    users: usize,
    #[arg(long, default_value_t = 200)]
    opportunities: usize,
    /// Customer accounts (res.partner).
    #[arg(long, default_value_t = 60)]
    partners: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Comma-separated currency codes; the first is the company currency.
    #[arg(long, default_value = "USD", value_delimiter = ',')]
    currencies: Vec<String>,
    /// The Odoo major version to behave as: 18 (JSON-RPC only) or 19 (JSON-2 as well).
    #[arg(long, default_value_t = 18)]
    odoo_version: u32,
    #[arg(long, default_value = "salesdemo")]
    database: String,
    #[arg(long, default_value = "admin")]
    admin_password: String,
    /// An API key for admin (needed for JSON-2).
    #[arg(long)]
    api_key: Option<String>,
    /// Make random changes every this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    mutate_every: u64,
    /// How many changes each time.
    #[arg(long, default_value_t = 5)]
    mutations: usize,
    /// About how many tracked changes each deal had in the year before now (0: no past).
    #[arg(long, default_value_t = 4)]
    history_changes: u32,
    /// Answer as a real server would: each call takes this many milliseconds (0: as fast as it can).
    #[arg(long, default_value_t = 0)]
    call_ms: u64,
    /// ...plus this many microseconds per record answered.
    #[arg(long, default_value_t = 0)]
    record_us: u64,
    /// Calls answered at once (with --call-ms or --record-us); more wait for a worker.
    #[arg(long, default_value_t = 4)]
    workers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = FakeOdoo::new(CrmOptions {
        users: args.users,
        opportunities: args.opportunities,
        partners: args.partners,
        seed: args.seed,
        currencies: args.currencies,
        version: args.odoo_version,
        database: args.database,
        admin_password: args.admin_password,
        admin_api_key: args.api_key,
        history_changes: args.history_changes,
        held_back_days: 0,
    });
    if args.call_ms > 0 || args.record_us > 0 {
        fake.set_workload(Some(Workload {
            workers: args.workers,
            per_call: Duration::from_millis(args.call_ms),
            per_record: Duration::from_micros(args.record_us),
        }));
    }
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!(
        "fake Odoo {}.0 listening on http://{}",
        args.odoo_version,
        listener.local_addr()?
    );
    if args.mutate_every > 0 {
        let changing = fake.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(args.mutate_every));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                changing.crm().mutate(args.mutations);
            }
        });
    }
    serve(listener, fake, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
