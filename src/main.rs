//! The `pipelog` command line: parses arguments and calls into the library. Errors are reported
//! here, once, with their context.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pipelog::projections::ViewTable;
use pipelog::store::{ReadOnlyStore, ReplayProgress, Snapshot, StatusReport, Store};

/// pipelog: your Odoo sales pipeline, as an append-only event log with live dashboards.
///
/// Everything lives in one data file (--data). Copy it while pipelog is stopped to back it up.
#[derive(Parser)]
#[command(name = "pipelog", version, about, long_about)]
struct Cli {
    /// The data file (created with mode 0600 when missing).
    #[arg(
        long,
        global = true,
        env = "PIPELOG_DATA",
        default_value = "./pipelog.redb"
    )]
    data: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what the data file holds: events by type, opportunities, users, the last sync.
    /// Works beside a running server.
    Status {
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay the whole event log into fresh views and swap them in atomically.
    Rebuild,
    /// Replay the log into scratch views and compare them with the live ones; exits 1 on any
    /// difference. Works beside a running server.
    Verify {
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Status { json } => status(&cli.data, json),
        Command::Rebuild => rebuild(&cli.data),
        Command::Verify { json } => verify(&cli.data, json),
    }
}

fn open_read_only(path: &Path) -> anyhow::Result<ReadOnlyStore> {
    ReadOnlyStore::open(path).with_context(|| format!("cannot open {}", path.display()))
}

#[derive(serde::Serialize)]
struct StatusOutput {
    data_file: PathBuf,
    #[serde(flatten)]
    report: StatusReport,
    /// Users whose manager data formed a cycle (the cycle was cut).
    manager_cycles: Vec<u64>,
}

fn status(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_read_only(path)?;
    let snapshot = store.read()?;
    let output = StatusOutput {
        data_file: path.to_path_buf(),
        report: snapshot.status()?,
        manager_cycles: users_in_manager_cycles(&snapshot)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&output)?);
        return Ok(ExitCode::SUCCESS);
    }
    let report = &output.report;
    let mut out = std::io::stdout().lock();
    writeln!(out, "data file      {}", path.display())?;
    writeln!(
        out,
        "events         {} (last position {})",
        report.events, report.last_position
    )?;
    writeln!(
        out,
        "opportunities  {} (and {} leads)",
        report.opportunities, report.leads
    )?;
    writeln!(
        out,
        "users          {} ({} sign-in accounts)",
        report.users, report.logins
    )?;
    match &report.last_sync {
        Some(run) => writeln!(
            out,
            "last sync      {:?} started {}",
            run.outcome, run.started_at
        )?,
        None => writeln!(out, "last sync      never")?,
    }
    if !output.manager_cycles.is_empty() {
        writeln!(
            out,
            "manager cycles cut for users {:?}: fix the managers in Odoo",
            output.manager_cycles
        )?;
    }
    if !report.events_by_type.is_empty() {
        writeln!(out, "events by type")?;
        for (name, count) in &report.events_by_type {
            writeln!(out, "  {name:<26} {count}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn users_in_manager_cycles(snapshot: &Snapshot) -> anyhow::Result<Vec<u64>> {
    let mut users = Vec::new();
    for (key, bytes) in snapshot.rows(ViewTable::UserProfiles)? {
        let profile: pipelog::projections::UserProfileView =
            pipelog::projections::decode(&bytes)
                .with_context(|| format!("user profile {key} is unreadable"))?;
        if profile.in_manager_cycle {
            users.push(profile.user_id);
        }
    }
    Ok(users)
}

fn print_progress(progress: ReplayProgress) {
    if progress.events_total == 0 {
        return;
    }
    let seconds = progress.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "replayed {}/{} events ({:.0}%), {:.0} events/s",
        progress.events_done,
        progress.events_total,
        100.0 * progress.events_done as f64 / progress.events_total as f64,
        progress.events_done as f64 / seconds,
    );
}

fn rebuild(path: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let report = store.rebuild(&mut print_progress)?;
    println!(
        "rebuilt the views from {} events ({} rows) in {:.2} s: {:.0} events/s; peak memory {}",
        report.events,
        report.rows,
        report.total_seconds,
        report.events_per_second(),
        peak_memory().unwrap_or_else(|| "unknown".into()),
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_read_only(path)?;
    let report = store.verify(&mut print_progress)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for difference in &report.differences {
            println!("{difference}");
        }
        for problem in &report.problems {
            println!("{problem}");
        }
        if report.is_clean() {
            println!(
                "verified {} events: all {} view rows match a replay of the log",
                report.events, report.rows_checked
            );
        } else {
            println!(
                "{} differences and {} other problems: run `pipelog rebuild` to rebuild the views from the log",
                report.differences.len(),
                report.problems.len()
            );
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The process's peak resident memory, from /proc (Linux).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{} MiB", kib / 1024))
}
