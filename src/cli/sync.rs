//! `sync`, once or on the schedule.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use pipelog::config::Settings;
use pipelog::store::Store;
use pipelog::sync::odoo::OdooClient;
use pipelog::sync::{RunRequest, Syncer};

use super::shutdown_signal;
use crate::OdooArgs;

/// The store and a syncer for one-shot and scheduled syncs from the command line.
pub(crate) fn open_syncer(path: &Path, odoo: &OdooArgs) -> anyhow::Result<(Syncer, Settings)> {
    let settings = odoo.settings()?;
    let odoo_settings = settings
        .odoo
        .clone()
        .context("no Odoo is configured: set PIPELOG_ODOO_URL (or --odoo-url, or odoo.url in the config file)")?;
    let store =
        Arc::new(Store::open(path).with_context(|| format!("cannot open {}", path.display()))?);
    store.set_snapshot_every(settings.snapshot_every_events);
    let syncer = Syncer::new(
        store,
        OdooClient::new(odoo_settings)?,
        settings.sync.clone(),
    );
    Ok((syncer, settings))
}

pub(crate) fn sync(path: &Path, request: RunRequest, odoo: &OdooArgs) -> anyhow::Result<ExitCode> {
    let (syncer, _) = open_syncer(path, odoo)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match runtime.block_on(syncer.run(request)) {
        Ok(report) => {
            println!(
                "sync completed in {:.1} s: {} events",
                report.duration_ms as f64 / 1000.0,
                report.events
            );
            let width = report.counts.keys().map(String::len).max().unwrap_or(12);
            for (model, counts) in &report.counts {
                println!(
                    "  {model:<width$} fetched {:>7}  created {:>6}  updated {:>6}  deleted {:>5}  quarantined {:>4}",
                    counts.fetched,
                    counts.created,
                    counts.updated,
                    counts.deleted,
                    counts.quarantined
                );
            }
            for warning in &report.warnings {
                println!("warning: {warning}");
            }
            for record in &report.quarantined {
                println!(
                    "quarantined: {} {} ({})",
                    record.model,
                    record.id.map(|id| id.to_string()).unwrap_or("?".into()),
                    record.reason
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("sync failed: {error}");
            Ok(ExitCode::from(1))
        }
    }
}

/// A sync the schedule loop runs, reporting each outcome on stdout.
struct ScheduledSync(Syncer);

impl pipelog::sync::schedule::SyncJob for ScheduledSync {
    async fn run(&self, request: RunRequest) -> Result<(), String> {
        match self.0.run(request).await {
            Ok(report) => {
                println!(
                    "{} sync completed in {:.1} s: {} events",
                    jiff::Timestamp::now(),
                    report.duration_ms as f64 / 1000.0,
                    report.events
                );
                Ok(())
            }
            Err(error) => {
                println!("{} sync failed: {error}", jiff::Timestamp::now());
                Err(error.to_string())
            }
        }
    }
}

pub(crate) fn sync_on_schedule(
    path: &Path,
    first: RunRequest,
    odoo: &OdooArgs,
) -> anyhow::Result<ExitCode> {
    use pipelog::sync::schedule::{ScheduleState, SyncTrigger, SystemClock, run_loop};
    let (syncer, settings) = open_syncer(path, odoo)?;
    let job = ScheduledSync(syncer);
    let stop = job.0.stop_handle();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (shutdown, listening) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            eprintln!("stopping: a running sync ends at its next page");
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = shutdown.send(true);
        });
        let trigger = SyncTrigger::default();
        trigger.request(first);
        println!(
            "syncing now, then on schedule {:?} (UTC); Ctrl-C stops",
            settings.schedule.pattern()
        );
        let state = std::sync::Mutex::new(ScheduleState::default());
        run_loop(
            &job,
            &settings.schedule,
            &trigger,
            &state,
            &SystemClock,
            listening,
        )
        .await;
    });
    Ok(ExitCode::SUCCESS)
}
