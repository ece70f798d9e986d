//! `status`, `verify` and `rebuild`: what the data file holds, and its views checked or rebuilt.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pipelog::projections::ViewTable;
use pipelog::store::{ReplayProgress, Snapshot, StatusReport, Store, TableSize};

use super::{open_read_only, peak_memory};

#[derive(serde::Serialize)]
struct StatusOutput {
    data_file: PathBuf,
    #[serde(flatten)]
    report: StatusReport,
    /// Users whose manager data formed a cycle (the cycle was cut).
    manager_cycles: Vec<u64>,
    file_bytes: u64,
    /// Every table of the file, the largest first; the rest of `file_bytes` is redb's own
    /// tables and free pages.
    tables: Vec<TableSize>,
}

pub(crate) fn status(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_read_only(path)?;
    let snapshot = store.read()?;
    let output = StatusOutput {
        data_file: path.to_path_buf(),
        report: snapshot.status()?,
        manager_cycles: users_in_manager_cycles(&snapshot)?,
        file_bytes: std::fs::metadata(path)
            .with_context(|| format!("cannot read the size of {}", path.display()))?
            .len(),
        tables: snapshot.table_sizes()?,
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
        Some(run) => writeln!(out, "last sync      {}", describe_run(run))?,
        None => writeln!(out, "last sync      never")?,
    }
    match report.model_snapshot_at {
        Some(position) => writeln!(
            out,
            "model snapshot at position {position}: a start folds the {} events after it",
            report.last_position.saturating_sub(position)
        )?,
        None => writeln!(
            out,
            "model snapshot none yet: a start replays the whole log"
        )?,
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
    write_space(&mut out, output.file_bytes, &output.tables)?;
    Ok(ExitCode::SUCCESS)
}

/// Where the file's bytes go, table by table.
fn write_space(out: &mut impl Write, file_bytes: u64, tables: &[TableSize]) -> std::io::Result<()> {
    writeln!(out, "data file size {}", megabytes(file_bytes))?;
    writeln!(
        out,
        "  {:<28} {:>10} {:>11} {:>11}",
        "table", "entries", "stored", "on pages"
    )?;
    for table in tables {
        writeln!(
            out,
            "  {:<28} {:>10} {:>11} {:>11}",
            table.name,
            table.entries,
            megabytes(table.stored_bytes),
            megabytes(table.page_bytes)
        )?;
    }
    let in_tables: u64 = tables.iter().map(|t| t.page_bytes).sum();
    writeln!(
        out,
        "  {:<51} {:>11}",
        "redb's own tables and free pages",
        megabytes(file_bytes.saturating_sub(in_tables))
    )
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

pub(crate) fn describe_run(run: &pipelog::projections::SyncRunView) -> String {
    use pipelog::projections::SyncOutcome;
    let took = run
        .duration_ms
        .map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0))
        .unwrap_or_default();
    match &run.outcome {
        SyncOutcome::Running => format!("running since {}", run.started_at),
        SyncOutcome::Succeeded {
            warnings,
            quarantined,
            ..
        } => format!(
            "succeeded {}{took}{}{}",
            run.started_at,
            if warnings.is_empty() {
                String::new()
            } else {
                format!("; {} warnings", warnings.len())
            },
            if quarantined.is_empty() {
                String::new()
            } else {
                format!("; {} records quarantined", quarantined.len())
            },
        ),
        SyncOutcome::Failed { reason } => format!("FAILED {}{took}: {reason}", run.started_at),
    }
}

pub(crate) fn users_in_manager_cycles(snapshot: &Snapshot) -> anyhow::Result<Vec<u64>> {
    let mut users = Vec::new();
    for profile in
        snapshot.views::<pipelog::projections::UserProfileView>(ViewTable::UserProfiles)?
    {
        if profile.in_manager_cycle {
            users.push(profile.user_id);
        }
    }
    Ok(users)
}

pub(crate) fn print_progress(progress: ReplayProgress) {
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

pub(crate) fn rebuild(path: &Path) -> anyhow::Result<ExitCode> {
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

pub(crate) fn verify(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let store = open_read_only(path)?;
    let started = std::time::Instant::now();
    let report = store.verify(&mut print_progress)?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for difference in &report.differences {
            println!("{difference}");
        }
        for problem in &report.problems {
            println!("{problem}");
        }
        if let Some(check) = &report.model_snapshot {
            match check.position {
                Some(position) => {
                    println!("model snapshot at position {position}: {}", check.outcome)
                }
                None => println!("model snapshot: {}", check.outcome),
            }
        }
        if report.is_clean() {
            println!(
                "verified {} events: all {} view rows match a replay of the log (in {:.2} s, {:.0} events/s; peak memory {})",
                report.events,
                report.rows_checked,
                seconds,
                report.events as f64 / seconds.max(1e-9),
                peak_memory().unwrap_or_else(|| "unknown".into()),
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
