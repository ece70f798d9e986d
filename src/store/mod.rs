//! The store: one redb file holding the event log and every view.
//!
//! Owns the file, its tables, the single writer and the in-memory read model that writer keeps
//! current. An append writes its events and the view rows they change in one durable transaction, so
//! a reader never sees an event without its effect. This is the only module that imports redb; it
//! knows nothing of HTTP or Odoo.

mod aggregates;
mod codec;
mod error;
mod portable;
mod read;
mod read_only;
mod repack;
mod replay;
mod sizes;
mod snapshot;
pub mod tables;
mod write;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use jiff::Timestamp;
use redb::{
    Builder, ConcurrencyMode, Database, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{AggregateRef, EVENT_SCHEMA_VERSION, EventEnvelope, ExpectedVersion, NewEvent};
use crate::projections::{PROJECTIONS, ReadModel, RowKey, VIEW_SCHEMA_VERSION, ViewRow, ViewTable};

use codec::{Corpus, Dictionaries, Packers};
pub use error::{ExpectedVersionText, StoreError};
pub use portable::{BackupReport, ImportError};
pub use read::{Snapshot, StatusReport};
pub use read_only::ReadOnlyStore;
pub use replay::{ModelSnapshotCheck, RebuildReport, ReplayProgress, VerifyReport, ViewDifference};
pub use sizes::TableSize;
pub use snapshot::{DeferredSnapshots, SNAPSHOT_EVERY_EVENTS};
use tables::{
    AGGREGATES, CHECKPOINTS, COMMANDS, CREDENTIALS, EVENT_TYPE_COUNTS, EVENTS, FORMAT_VERSION,
    Generation, META, META_FORMAT_VERSION, SESSIONS, SOURCE_RECORDS, SYNC_CURSORS, ViewDefinition,
    view_definition,
};
use write::*;

/// redb's page cache, which also bounds the write buffer of a transaction (at half of it). Its
/// default (1 GiB) would let a replay of a large log hold most of the file in memory; the hot
/// pages (views, the log's tail) fit in far less. A first sync with history peaked at 297–305 MiB
/// with 64 MiB and at 255–259 MiB with 32, and was no slower.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Events appended by one command, atomically: all of them or none.
#[derive(Debug, Clone, Default)]
pub struct CommandBatch {
    /// A retry with the same id returns the first outcome and appends nothing.
    pub command_id: Option<String>,
    /// What the command id is bound to (a hash of the request): a retry with another fingerprint
    /// is refused with [`StoreError::CommandReused`] instead of replayed.
    pub fingerprint: Option<String>,
    pub events: Vec<NewEvent>,
}

impl CommandBatch {
    pub fn new(events: Vec<NewEvent>) -> Self {
        CommandBatch {
            command_id: None,
            fingerprint: None,
            events,
        }
    }

    pub fn with_command_id(mut self, id: impl Into<String>) -> Self {
        self.command_id = Some(id.into());
        self
    }
}

/// Source records and sync cursors written in the same transaction as a sync page's events.
#[derive(Debug, Clone, Default)]
pub struct SourceUpdates {
    pub upserts: Vec<SourceRecord>,
    /// Keys (`model/id`) of records the source no longer has.
    pub deletes: Vec<String>,
    /// Model → cursor (opaque bytes to the store).
    pub cursors: Vec<(String, Vec<u8>)>,
}

impl SourceUpdates {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty() && self.cursors.is_empty()
    }
}

/// The latest raw record of one source record, with a checksum of its canonical content.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    pub key: String,
    pub checksum: u64,
    pub raw: Vec<u8>,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    /// Positions of the appended events, in order.
    pub positions: Vec<u64>,
    /// Each event's aggregate version after the append.
    pub versions: Vec<u64>,
    /// True when the command id had been seen: this is the first outcome, and nothing was appended.
    #[serde(skip)]
    pub replayed: bool,
}

/// A command's first outcome as kept in the commands table, with the fingerprint of the request
/// it answered (absent in files written before fingerprints were kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCommand {
    #[serde(flatten)]
    pub appended: Appended,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl StoredCommand {
    fn decode(command_id: &str, bytes: &[u8]) -> Result<StoredCommand, StoreError> {
        serde_json::from_slice(bytes).map_err(|error| {
            StoreError::Encode(format!("stored outcome of command {command_id}: {error}"))
        })
    }

    /// The answer to the same command id sent again with `fingerprint`: the first outcome, or
    /// [`StoreError::CommandReused`] when the fingerprints differ.
    pub fn replay(
        self,
        command_id: &str,
        fingerprint: &Option<String>,
    ) -> Result<Appended, StoreError> {
        if self.fingerprint.is_some() && self.fingerprint != *fingerprint {
            return Err(StoreError::CommandReused {
                command_id: command_id.to_string(),
            });
        }
        Ok(Appended {
            replayed: true,
            ..self.appended
        })
    }
}

pub struct Store {
    /// `None` only between closing the file after a failed write and reopening it.
    db: RwLock<Option<Database>>,
    path: PathBuf,
    writer: Mutex<Writer>,
    /// Mirrors `Writer::failure.is_some()`, so that readers notice without waiting for the writer.
    failed: AtomicBool,
    facts: Arc<read::FactsCache>,
    /// Compression dictionaries read so far (see `codec`).
    dictionaries: Arc<Dictionaries>,
    /// How many events a write lets pass before it writes the model snapshot again.
    snapshot_every: AtomicU64,
    /// Guards from [`Store::defer_snapshots`] alive now.
    snapshots_deferred: AtomicU32,
    /// The file's length when its free pages were last looked at (see
    /// [`Store::give_back_free_pages_if_grown`]).
    length_checked: AtomicU64,
}

struct Writer {
    /// Loaded on first use (see [`Store::load_model`]).
    model: Option<ReadModel>,
    /// The position of the model snapshot in the file (0 for none).
    snapshot_at: u64,
    /// The dictionaries new events and source records are compressed with.
    packers: Packers,
    /// Why the last write failed. After an I/O error redb refuses every later access to the file,
    /// and the model may be ahead of it: the next access reopens the file and reloads the model, so
    /// that pipelog recovers by itself once the cause (a full disk, say) is gone.
    failure: Option<String>,
}

impl Store {
    /// Opens the data file, creating it (mode 0600) when missing, and loads the read model by
    /// replaying the log. Views written by another view schema are rebuilt.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        create_private_file(path)?;
        let store = Store {
            db: RwLock::new(Some(open_database(path)?)),
            path: path.to_path_buf(),
            writer: Mutex::new(Writer {
                model: None,
                snapshot_at: 0,
                packers: Packers::default(),
                failure: None,
            }),
            failed: AtomicBool::new(false),
            facts: Arc::default(),
            dictionaries: Arc::default(),
            snapshot_every: AtomicU64::new(SNAPSHOT_EVERY_EVENTS),
            snapshots_deferred: AtomicU32::new(0),
            length_checked: AtomicU64::new(0),
        };
        store.initialize()?;
        store
            .length_checked
            .store(portable::file_length(path), Ordering::Relaxed);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rebuilds the views when they were written by another view schema (or are behind the log).
    fn initialize(&self) -> Result<(), StoreError> {
        let read = self.read()?;
        let last = read.last_position()?;
        if read.view_schema()? == Some(VIEW_SCHEMA_VERSION) && read.checkpoints_at(last)? {
            return Ok(());
        }
        drop(read);
        self.rebuild(&mut |_| {})?;
        Ok(())
    }

    /// Loads the writer's read model, if it is not loaded yet: from the model snapshot and the
    /// events after it, or by replaying the whole log when the file has no usable snapshot (and
    /// then writes one, if the log is long enough to need it). Appends do this on first use; a
    /// server calls it at start so that no request waits for it.
    pub fn load_model(&self, progress: &mut dyn FnMut(ReplayProgress)) -> Result<(), StoreError> {
        let mut writer = self.lock_writer()?;
        self.loaded_model(&mut writer, progress)?;
        Ok(())
    }

    fn loaded_model<'w>(
        &self,
        writer: &'w mut Writer,
        progress: &mut dyn FnMut(ReplayProgress),
    ) -> Result<&'w mut ReadModel, StoreError> {
        if writer.model.is_none() {
            let (model, snapshot_at) = replay::load(&self.begin_read()?, progress)?;
            writer.snapshot_at = snapshot_at;
            writer.model = Some(model);
            if self.snapshot_due(writer) {
                self.guarded(writer, |writer| self.write_snapshot(writer))?;
            }
        }
        Ok(writer.model.get_or_insert_default())
    }

    /// The writer, with the file reopened first if the last write failed.
    fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>, StoreError> {
        let mut writer = self.writer.lock().map_err(|_| StoreError::Unavailable {
            cause: "a writer thread panicked".into(),
        })?;
        if writer.failure.is_some() {
            self.reopen(&mut writer)?;
        }
        Ok(writer)
    }

    /// Closes the file after a failed write and opens it again. redb's open recovers the file to
    /// its last commit, which holds the events together with their views, so only the in-memory
    /// model has to be reloaded.
    fn reopen(&self, writer: &mut Writer) -> Result<(), StoreError> {
        let cause = writer.failure.clone().unwrap_or_default();
        let mut slot = self.db.write().map_err(|_| StoreError::Unavailable {
            cause: "a reader thread panicked".into(),
        })?;
        if let Some(failed) = slot.take() {
            // Its error is the failure already recorded.
            let _ = failed.close();
        }
        let db = open_database(&self.path).map_err(|error| StoreError::Unavailable {
            cause: format!("{cause}; reopening the file failed: {error}"),
        })?;
        *slot = Some(db);
        writer.model = None;
        writer.snapshot_at = 0;
        writer.failure = None;
        self.failed.store(false, Ordering::Release);
        tracing::info!(path = %self.path.display(), %cause, "reopened the data file after a failed write");
        Ok(())
    }

    /// Runs one step of a write, recording a storage failure (see [`Writer::failure`]) so that the
    /// next access reopens the file.
    fn guarded<T>(
        &self,
        writer: &mut Writer,
        step: impl FnOnce(&mut Writer) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = step(writer);
        if let Err(error) = &result
            && error.is_storage()
        {
            self.mark_failed(writer, error);
        }
        result
    }

    fn mark_failed(&self, writer: &mut Writer, error: &StoreError) {
        writer.failure = Some(error.to_string());
        self.failed.store(true, Ordering::Release);
    }

    /// A consistent read-only view of the log and every view, isolated from later writes.
    pub fn read(&self) -> Result<Snapshot, StoreError> {
        if self.failed.load(Ordering::Acquire)
            && let Ok(mut writer) = self.writer.try_lock()
            && writer.failure.is_some()
        {
            // A failure here stays recorded; the read below reports it.
            let _ = self.reopen(&mut writer);
        }
        Ok(Snapshot::sharing(
            self.begin_read()?,
            self.facts.clone(),
            self.dictionaries.clone(),
        ))
    }

    fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        self.with_database(|db| Ok(db.begin_read()?))
    }

    /// Callers hold the writer's lock, so the file cannot be reopened under the transaction.
    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        self.with_database(|db| Ok(db.begin_write()?))
    }

    /// Runs `f` on the open database; an error while it is closed after a failed write.
    fn with_database<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let slot = self.db.read().map_err(|_| StoreError::Unavailable {
            cause: "a reader thread panicked".into(),
        })?;
        match slot.as_ref() {
            Some(db) => f(db),
            None => Err(self.closed()),
        }
    }

    fn closed(&self) -> StoreError {
        StoreError::Unavailable {
            cause: format!(
                "{} is closed after a failed write and could not be reopened yet",
                self.path.display()
            ),
        }
    }

    /// Appends one command's events and updates the views, durably.
    pub fn append(&self, batch: CommandBatch) -> Result<Appended, StoreError> {
        only_result(self.append_group(vec![batch])?)
    }

    /// Group commit: appends many commands in one durable transaction. Each command succeeds or fails
    /// (version conflict) on its own; the outer error is for storage failures, which write nothing.
    pub fn append_group(
        &self,
        batches: Vec<CommandBatch>,
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        self.write(|_| (batches, SourceUpdates::default()))
    }

    /// Appends a sync page's events together with its source records and cursors, atomically.
    pub fn append_with_sources(
        &self,
        batch: CommandBatch,
        sources: SourceUpdates,
    ) -> Result<Appended, StoreError> {
        only_result(self.write(|_| (vec![batch], sources))?)
    }

    /// Appends events planned against the read model as it stands, with their source records, in
    /// one transaction: no other write comes between what `plan` saw and what it appends.
    pub fn append_planned(
        &self,
        plan: impl FnOnce(&ReadModel) -> (CommandBatch, SourceUpdates),
    ) -> Result<Appended, StoreError> {
        only_result(self.write(|model| {
            let (batch, sources) = plan(model);
            (vec![batch], sources)
        })?)
    }

    /// Plans batches against the loaded model (under the writer's lock), then appends them with
    /// their source records and updates the views, in one transaction.
    fn write(
        &self,
        plan: impl FnOnce(&ReadModel) -> (Vec<CommandBatch>, SourceUpdates),
    ) -> Result<Vec<Result<Appended, StoreError>>, StoreError> {
        let mut writer = self.lock_writer()?;
        self.guarded(&mut writer, |writer| {
            self.loaded_model(writer, &mut |_| {}).map(|_| ())
        })?;
        let (batches, sources) = plan(writer.model.get_or_insert_default());
        let (txn, written) = self.guarded(&mut writer, |_| {
            let txn = self.begin_write()?;
            let written = plan_events(&txn, batches)?;
            Ok((txn, written))
        })?;
        if written.envelopes.is_empty() {
            self.guarded(&mut writer, |writer| {
                write_events(&txn, &written, &mut writer.packers)?;
                write_sources(&txn, &sources, &mut writer.packers)?;
                if sources.is_empty() && written.commands.is_empty() {
                    txn.abort()?;
                } else {
                    txn.commit()?;
                }
                Ok(())
            })?;
            return Ok(written.results);
        }
        // From here the model moves ahead of the file until commit: any failure discards it (the
        // file is reopened and the model reloaded from the log).
        let (snapshot_at, every) = (
            writer.snapshot_at,
            self.snapshot_every.load(Ordering::Relaxed),
        );
        let Writer { model, packers, .. } = &mut *writer;
        let model = model.get_or_insert_default();
        let outcome = write_and_fold(&txn, &written, &sources, model, packers).and_then(|rows| {
            let position = model.last_position();
            let snapshot_due =
                snapshot::is_due(position, snapshot_at, every) && self.snapshots_allowed();
            if snapshot_due && let Some(last) = written.envelopes.last() {
                snapshot::write(&txn, model, last.event_id)?;
            }
            finish(txn, &rows, position, packers)?;
            Ok(snapshot_due.then_some(position))
        });
        match outcome {
            Ok(snapshot) => {
                if let Some(position) = snapshot {
                    writer.snapshot_at = position;
                }
                Ok(written.results)
            }
            Err(error) => {
                self.mark_failed(&mut writer, &error);
                Err(error)
            }
        }
    }

    /// Replays the log into scratch state and compares it with the live views, row by row.
    pub fn verify(
        &self,
        progress: &mut dyn FnMut(ReplayProgress),
    ) -> Result<VerifyReport, StoreError> {
        replay::verify(&self.read()?, progress)
    }

    /// Sets (or replaces) the password hash of a sign-in account.
    pub fn set_credential(&self, email: &str, password_hash: &str) -> Result<(), StoreError> {
        self.write_side(|txn| {
            txn.open_table(CREDENTIALS)?.insert(email, password_hash)?;
            Ok(())
        })
    }

    pub fn delete_credential(&self, email: &str) -> Result<(), StoreError> {
        self.write_side(|txn| {
            txn.open_table(CREDENTIALS)?.remove(email)?;
            Ok(())
        })
    }

    pub fn put_session(&self, token_hash: &str, session: &[u8]) -> Result<(), StoreError> {
        self.write_side(|txn| {
            txn.open_table(SESSIONS)?.insert(token_hash, session)?;
            Ok(())
        })
    }

    pub fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        self.write_side(|txn| {
            txn.open_table(SESSIONS)?.remove(token_hash)?;
            Ok(())
        })
    }

    /// A durable write to tables outside the log and the views (credentials, sessions).
    fn write_side(
        &self,
        write: impl FnOnce(&WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut writer = self.lock_writer()?;
        self.guarded(&mut writer, |_| {
            let txn = self.begin_write()?;
            write(&txn)?;
            txn.commit()?;
            Ok(())
        })
    }

    /// Runs `f` on the writer's read model (for status reports and tests).
    pub fn with_model<T>(&self, f: impl FnOnce(&ReadModel) -> T) -> Result<T, StoreError> {
        let mut writer = self.lock_writer()?;
        Ok(f(self.loaded_model(&mut writer, &mut |_| {})?))
    }
}

/// The outcome of a write of one command.
fn only_result(mut results: Vec<Result<Appended, StoreError>>) -> Result<Appended, StoreError> {
    results.pop().unwrap_or_else(|| {
        Ok(Appended {
            positions: Vec::new(),
            versions: Vec::new(),
            replayed: false,
        })
    })
}

/// Opens (or creates) the file as this process's writer and checks its format.
fn open_database(path: &Path) -> Result<Database, StoreError> {
    // SingleWriter: read-only commands (status, verify, backup) may open the file beside us.
    let db = Builder::new()
        .set_concurrency_mode(ConcurrencyMode::SingleWriter)
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|error| open_error(error, path))?;
    check_format(&db, path)?;
    Ok(db)
}

fn open_error(error: redb::DatabaseError, path: &Path) -> StoreError {
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
            path: path.to_path_buf(),
        },
        redb::DatabaseError::RepairAborted => StoreError::NeedsRecovery {
            path: path.to_path_buf(),
        },
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(reason)) => {
            StoreError::NotPipelog {
                path: path.to_path_buf(),
                reason,
            }
        }
        other => StoreError::from(other),
    }
}

fn create_private_file(path: &Path) -> Result<(), StoreError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Format 1 to 2, in one transaction: the aggregates' rows are merged, and the events and source
/// records compressed (the time lines are rewritten by the rebuild the view schema asks for).
fn upgrade_format_1(db: &Database) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    tracing::info!("upgrading the data file from format 1 to {FORMAT_VERSION}");
    let txn = db.begin_write()?;
    let aggregates = aggregates::migrate_format_1(&txn)?;
    let mut packers = Packers::default();
    packers.compress_all(&txn, Corpus::Events)?;
    packers.compress_all(&txn, Corpus::Sources)?;
    let version = FORMAT_VERSION.to_string();
    txn.open_table(META)?
        .insert(META_FORMAT_VERSION, version.as_str())?;
    txn.commit()?;
    tracing::info!(
        aggregates,
        seconds = started.elapsed().as_secs_f64(),
        "upgraded the data file to format {FORMAT_VERSION}"
    );
    Ok(())
}

/// Refuses files of a newer format; stamps new files with this version. Tables are created here so
/// that readers can open them in any snapshot.
fn check_format(db: &Database, path: &Path) -> Result<(), StoreError> {
    let found = {
        let read = db.begin_read()?;
        match read.open_table(META) {
            Ok(meta) => meta
                .get(META_FORMAT_VERSION)?
                .map(|v| v.value().to_string()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(other) => return Err(other.into()),
        }
    };
    if let Some(found) = &found {
        let found: u32 = found.parse().map_err(|_| StoreError::NotPipelog {
            path: path.to_path_buf(),
            reason: format!("format version {found:?} is not a number"),
        })?;
        if found > FORMAT_VERSION {
            return Err(StoreError::NewerFormat {
                path: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        if found == 1 {
            upgrade_format_1(db)?;
        }
        return Ok(());
    }
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        if meta.len()? > 0 {
            return Err(StoreError::NotPipelog {
                path: path.to_path_buf(),
                reason: "no format version".into(),
            });
        }
        let version = FORMAT_VERSION.to_string();
        meta.insert(META_FORMAT_VERSION, version.as_str())?;
        txn.open_table(EVENTS)?;
        txn.open_table(AGGREGATES)?;
        txn.open_table(COMMANDS)?;
        txn.open_table(EVENT_TYPE_COUNTS)?;
        txn.open_table(CHECKPOINTS)?;
        txn.open_table(SOURCE_RECORDS)?;
        txn.open_table(SYNC_CURSORS)?;
        txn.open_table(CREDENTIALS)?;
        txn.open_table(SESSIONS)?;
        txn.open_table(tables::MODEL_SNAPSHOT)?;
        for table in ViewTable::ALL {
            match view_definition(table, Generation::Live) {
                ViewDefinition::ById(definition) => drop(txn.open_table(definition)?),
                ViewDefinition::ByName(definition) => drop(txn.open_table(definition)?),
            }
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
pub(super) mod tests;
