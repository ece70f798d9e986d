//! The bodies of `pipelog`'s commands, one file per concern; `main.rs` parses the arguments and
//! dispatches here. Errors are anyhow at this edge, with their context.

pub(crate) mod data;
pub(crate) mod inspect;
pub(crate) mod serve;
pub(crate) mod sync;

use std::path::Path;

use anyhow::Context;
use pipelog::store::{ReadOnlyStore, Store};

/// Opens the file read-only. A file left behind by a crash is first recovered by opening it as the
/// writer (redb's own repair), which only works when no other process has it open.
pub(crate) fn open_read_only(path: &Path) -> anyhow::Result<ReadOnlyStore> {
    match ReadOnlyStore::open(path) {
        Err(pipelog::store::StoreError::NeedsRecovery { .. }) => {
            eprintln!(
                "{} was not closed cleanly; recovering it first",
                path.display()
            );
            drop(Store::open(path).with_context(|| format!("cannot recover {}", path.display()))?);
            ReadOnlyStore::open(path).with_context(|| format!("cannot open {}", path.display()))
        }
        other => other.with_context(|| format!("cannot open {}", path.display())),
    }
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// The process's peak resident memory, from /proc (Linux).
pub(crate) fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{} MiB", kib / 1024))
}
