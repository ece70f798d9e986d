//! The data file's size beside its own log as text: the real `pipelog sync` binary against the
//! simulated Odoo on loopback (2,000 users, 100,000 opportunities, a year of tracked changes),
//! first a full sync into a new file, then a simulated year of changes synced week by week. After
//! each, prints the file's bytes, the bytes of `export-events` (NDJSON) and of that export gzipped,
//! the ratio file ÷ NDJSON (goal ≤ 0.5), and the per-table bytes that `pipelog status` shows.
//!
//! `cargo bench --bench storage`; `PIPELOG_BENCH_OPPORTUNITIES=N` shrinks the CRM,
//! `PIPELOG_BENCH_CHANGES=N` sets the tracked changes per deal before the first sync (default 4,
//! 0 for none), `PIPELOG_BENCH_WEEKS=N` the weeks of changes after it (default 52) and
//! `PIPELOG_BENCH_WEEKLY_CHANGES=N` the changes made in each (default 8,000: about four a deal in
//! the year).

mod common;

use common::{bench, env_number, serve_fake_odoo, synced_crm};

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pipelog::demo::FakeOdoo;

fn pipelog(data: &Path, args: &[&str], url: &str) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_pipelog"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("PIPELOG_ODOO_URL", url)
        .env("PIPELOG_ODOO_DB", "salesdemo")
        .env("PIPELOG_ODOO_LOGIN", "admin")
        .env("PIPELOG_ODOO_PASSWORD", "admin")
        .output()
        .expect("pipelog runs");
    assert!(
        output.status.success(),
        "pipelog {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Prints the sizes of `data` beside its export, under `stage`.
fn report(stage: &str, data: &Path, url: &str) {
    let export = data.with_extension("ndjson");
    pipelog(
        data,
        &["export-events", export.to_str().expect("utf-8 path")],
        url,
    );
    let ndjson = std::fs::read(&export).expect("export");
    let _ = std::fs::remove_file(&export);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&ndjson).expect("gzips");
    let gzipped = gzip.finish().expect("gzips").len();
    let file = std::fs::metadata(data).expect("data file").len();
    let status = pipelog(data, &["status"], url);
    let text = String::from_utf8_lossy(&status.stdout);
    let tables = text
        .lines()
        .skip_while(|line| !line.starts_with("data file size"))
        .collect::<Vec<_>>();
    println!("# {stage}:\n# {}", tables.join("\n# "));
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    bench(&format!("{stage}_file_mib"), mib(file), "MiB");
    bench(
        &format!("{stage}_ndjson_mib"),
        mib(ndjson.len() as u64),
        "MiB",
    );
    bench(
        &format!("{stage}_ndjson_gzip_mib"),
        mib(gzipped as u64),
        "MiB",
    );
    bench(
        &format!("{stage}_file_per_ndjson"),
        file as f64 / ndjson.len() as f64,
        "x",
    );
}

fn main() {
    let opportunities = env_number("PIPELOG_BENCH_OPPORTUNITIES", 100_000);
    let changes = env_number("PIPELOG_BENCH_CHANGES", 4) as u32;
    let weeks = env_number("PIPELOG_BENCH_WEEKS", 52);
    let weekly_changes = env_number("PIPELOG_BENCH_WEEKLY_CHANGES", 8_000);
    let fake = FakeOdoo::new(synced_crm(opportunities, changes));
    println!(
        "# simulated Odoo: 2000 users, {opportunities} opportunities, {changes} tracked changes a deal before the first sync, then {weeks} weeks of {weekly_changes} changes"
    );
    let (_runtime, url) = serve_fake_odoo(&fake);

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("storage.redb");
    let started = Instant::now();
    pipelog(&data, &["sync"], &url);
    bench("first_sync_s", started.elapsed().as_secs_f64(), "s");
    report("after_first_sync", &data, &url);

    let started = Instant::now();
    for _ in 0..weeks {
        {
            let mut crm = fake.crm();
            crm.mutate(weekly_changes);
            crm.advance_clock(Duration::from_secs(7 * 24 * 3600));
        }
        pipelog(&data, &["sync"], &url);
    }
    bench(
        "weekly_sync_mean_s",
        started.elapsed().as_secs_f64() / weeks.max(1) as f64,
        "s",
    );
    report("after_a_year_of_changes", &data, &url);
}
