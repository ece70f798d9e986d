//! Getting data out and back in: online backups (a consistent copy taken in one read transaction
//! while writes go on), event export and import as NDJSON, and compaction.

use std::fs::OpenOptions;
use std::io::{BufRead, Write};
use std::ops::Bound;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use redb::{Builder, Database, ReadTransaction, ReadableTable, TableDefinition};

use super::aggregates;
use super::codec::{self, Corpus};
use super::read::decode_event;
use super::repack;
use super::tables::{
    AGGREGATES, CHECKPOINTS, COMMANDS, CREDENTIALS, DICTIONARIES, EVENT_TYPE_COUNTS, EVENTS,
    Generation, META, MODEL_SNAPSHOT, SOURCE_RECORDS, SYNC_CURSORS, ViewDefinition,
    view_definition,
};
use super::{Store, StoreError};
use crate::domain::EventEnvelope;
use crate::projections::ViewTable;
use std::sync::atomic::Ordering;

/// What a backup copied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    pub events: u64,
    pub bytes: u64,
}

const BACKUP_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Rows copied per transaction: a copy in one transaction would hold the whole file's pages in
/// memory until its commit.
const COPY_CHUNK_ROWS: usize = 10_000;

fn copy<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &ReadTransaction,
    to: &Database,
    table: TableDefinition<K, V>,
) -> Result<u64, StoreError> {
    let source = match from.open_table(table) {
        Ok(source) => source,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(other) => return Err(other.into()),
    };
    let mut entries = source.iter()?;
    let mut copied = 0;
    loop {
        let mut txn = to.begin_write()?;
        // The copy is made durable once, at the end (see `backup`).
        txn.set_durability(redb::Durability::None)
            .map_err(|error| StoreError::Encode(format!("backup: {error}")))?;
        let mut in_chunk = 0;
        {
            let mut target = txn.open_table(table)?;
            // Rows arrive in key order, so a cursor at the end packs whole leaves: the copy
            // carries none of the source's half-empty pages.
            let mut at_end = target.upper_bound_mut(Bound::<K::SelfType<'_>>::Unbounded)?;
            for entry in entries.by_ref() {
                let (key, value) = entry?;
                at_end.insert_before(key.value(), value.value())?;
                in_chunk += 1;
                if in_chunk == COPY_CHUNK_ROWS {
                    break;
                }
            }
            at_end.close()?;
        }
        txn.commit()?;
        copied += in_chunk as u64;
        if in_chunk < COPY_CHUNK_ROWS {
            return Ok(copied);
        }
    }
}

/// Copies every table of `from` into a new file at `out` (mode 0600). Sessions are left out: a
/// restored copy asks everyone to sign in again.
pub(super) fn backup(from: &ReadTransaction, out: &Path) -> Result<BackupReport, StoreError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|source| StoreError::Create {
            path: out.to_path_buf(),
            source,
        })?;
    // A small page cache: the copy is written once and never read back here.
    let mut target = Builder::new()
        .set_cache_size(BACKUP_CACHE_BYTES)
        .create(out)?;
    // The format marker (META) goes last: a copy cut short by a crash has none, so it never opens
    // as a pipelog file that lacks part of its data.
    // The dictionaries first: the events and source records copied after them need them.
    copy(from, &target, DICTIONARIES)?;
    let events = copy(from, &target, EVENTS)?;
    copy(from, &target, AGGREGATES)?;
    copy(from, &target, COMMANDS)?;
    copy(from, &target, EVENT_TYPE_COUNTS)?;
    copy(from, &target, CHECKPOINTS)?;
    copy(from, &target, SOURCE_RECORDS)?;
    copy(from, &target, SYNC_CURSORS)?;
    copy(from, &target, CREDENTIALS)?;
    // It matches the views copied in the same read transaction, so the copy starts as fast.
    copy(from, &target, MODEL_SNAPSHOT)?;
    for table in ViewTable::ALL {
        match view_definition(table, Generation::Live) {
            ViewDefinition::ById(definition) => copy(from, &target, definition)?,
            ViewDefinition::ByName(definition) => copy(from, &target, definition)?,
        };
    }
    copy(from, &target, META)?;
    // One durable commit makes every chunk above durable with it.
    target.begin_write()?.commit()?;
    // The chunks' own commits left pages behind that the copy no longer needs.
    target.compact()?;
    drop(target);
    let bytes = file_length(out);
    Ok(BackupReport { events, bytes })
}

/// Writes the whole log, one stored JSON event per line. Returns how many.
pub(super) fn export(from: &ReadTransaction, out: &mut dyn Write) -> Result<u64, StoreError> {
    let events = match from.open_table(EVENTS) {
        Ok(events) => events,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(other) => return Err(other.into()),
    };
    let mut unpacker = codec::reading(from, None)?;
    let mut written = 0;
    for entry in events.iter()? {
        let (position, bytes) = entry?;
        let json = unpacker
            .json(Corpus::Events, bytes.value())
            .map_err(|reason| StoreError::CorruptEvent {
                position: position.value(),
                reason,
            })?;
        out.write_all(&json)
            .and_then(|_| out.write_all(b"\n"))
            .map_err(|e| StoreError::Encode(format!("cannot write the export: {e}")))?;
        written += 1;
    }
    Ok(written)
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the data file is not empty ({0} events): import into a new file")]
    NotEmpty(u64),
    #[error("line {line}: {reason}")]
    Line { line: u64, reason: String },
    #[error("cannot read the input: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The data file's length in bytes (0 when it cannot be read: only reports and the decision to
/// compact use it).
pub(super) fn file_length(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Free pages are worth giving back once they are an eighth of the file...
const WORTH_COMPACTING_SHARE: u64 = 8;
/// ...and at least this much.
const WORTH_COMPACTING_BYTES: u64 = 16 * 1024 * 1024;

/// Events imported per transaction.
const IMPORT_BATCH: usize = 10_000;

impl Store {
    /// A consistent copy of the file at `out`, taken while writes go on.
    pub fn backup(&self, out: &Path) -> Result<BackupReport, StoreError> {
        backup(self.read()?.txn(), out)
    }

    pub fn export_events(&self, out: &mut dyn Write) -> Result<u64, StoreError> {
        export(self.read()?.txn(), out)
    }

    /// Imports an export into an empty file, exactly as written (positions, ids, times), then
    /// rebuilds the views. Refuses gaps, duplicate positions and malformed lines, naming the line.
    pub fn import_events(&self, input: &mut dyn BufRead) -> Result<u64, ImportError> {
        let existing = self.read()?.last_position()?;
        if existing > 0 {
            return Err(ImportError::NotEmpty(existing));
        }
        let mut batch: Vec<(EventEnvelope, String)> = Vec::with_capacity(IMPORT_BATCH);
        let mut expected = 1u64;
        for (line_number, line) in (1u64..).zip(input.lines()) {
            let line = line.map_err(ImportError::Read)?;
            if line.trim().is_empty() {
                continue;
            }
            let envelope =
                decode_event(expected, line.as_bytes()).map_err(|error| ImportError::Line {
                    line: line_number,
                    reason: error.to_string(),
                })?;
            if envelope.position != expected {
                let reason = if envelope.position < expected {
                    format!(
                        "position {} repeats or goes back (expected {expected})",
                        envelope.position
                    )
                } else {
                    format!(
                        "position {} leaves a gap (expected {expected})",
                        envelope.position
                    )
                };
                return Err(ImportError::Line {
                    line: line_number,
                    reason,
                });
            }
            expected += 1;
            batch.push((envelope, line));
            if batch.len() == IMPORT_BATCH {
                self.write_imported(std::mem::take(&mut batch))?;
            }
        }
        self.write_imported(batch)?;
        self.rebuild(&mut |_| {})?;
        Ok(expected - 1)
    }

    fn write_imported(&self, batch: Vec<(EventEnvelope, String)>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut writer = self.lock_writer()?;
        self.guarded(&mut writer, |writer| {
            let txn = self.begin_write()?;
            let mut by_aggregate = aggregates::Appended::default();
            {
                let mut packer = writer.packers.packer(&txn, Corpus::Events)?;
                let mut stored = Vec::new();
                let mut events = txn.open_table(EVENTS)?;
                let mut at_end = events.upper_bound_mut(Bound::<u64>::Unbounded)?;
                let mut counts = txn.open_table(EVENT_TYPE_COUNTS)?;
                for (envelope, line) in &batch {
                    packer.pack(&[], line.as_bytes(), &mut stored)?;
                    at_end.insert_before(envelope.position, stored.as_slice())?;
                    by_aggregate.add(envelope);
                    let type_name = envelope.event.type_name();
                    let count = counts.get(type_name)?.map(|v| v.value()).unwrap_or(0);
                    counts.insert(type_name, count + 1)?;
                }
                at_end.close()?;
            }
            by_aggregate.write(&txn)?;
            writer.packers.train_if_due(&txn, Corpus::Events)?;
            txn.commit()?;
            Ok(())
        })
    }

    /// [`Store::give_back_free_pages`] once the file has grown by an eighth (and 16 MiB) since this
    /// store last looked: the file grows only when its free pages do not suffice, and counting them
    /// reads every page, so the length says cheaply when it is worth a look. For the end of each
    /// sync run: a first sync, or one whose writes left many pages behind, is followed by a compaction.
    pub fn give_back_free_pages_if_grown(&self) {
        let checked = self.length_checked.load(Ordering::Relaxed);
        let grown_enough = (checked / WORTH_COMPACTING_SHARE).max(WORTH_COMPACTING_BYTES);
        if file_length(&self.path) < checked.saturating_add(grown_enough) {
            return;
        }
        self.give_back_free_pages();
    }

    /// [`Store::compact_if_worthwhile`], saying in the log what it did: it is done on the side of
    /// other work (a sync run, a rebuild), whose outcome a failure here does not change (the pages
    /// stay free for later writes to reuse).
    pub fn give_back_free_pages(&self) {
        match self.compact_if_worthwhile() {
            Ok(Some((before, after))) => tracing::info!(
                before_bytes = before,
                after_bytes = after,
                "gave the data file's free pages back"
            ),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "the data file could not be compacted"),
        }
        self.length_checked
            .store(file_length(&self.path), Ordering::Relaxed);
    }

    /// Gives the file's free pages back to the file system when they are a large share of it, as
    /// after a first sync or a rebuild: later writes reuse free pages, but only a compaction
    /// shrinks the file. Tables whose pages are largely empty are first copied whole in key order
    /// (see `repack`), which frees the pages they held. Writes wait for it (about 1.5 s per GB);
    /// it is skipped while a read is in progress, in this process or another. Returns the sizes
    /// before and after when it ran.
    pub fn compact_if_worthwhile(&self) -> Result<Option<(u64, u64)>, StoreError> {
        let mut writer = self.lock_writer()?;
        self.guarded(&mut writer, |_| {
            let used = self.with_database(|db| {
                let txn = db.begin_write()?;
                if repack::sparse_tables(&txn)? > 0 {
                    txn.commit()?;
                } else {
                    txn.abort()?;
                }
                // redb frees the pages a commit let go of at the next commit: until then they
                // count as allocated, and the last writes' (or the copies') would not be seen.
                db.begin_write()?.commit()?;
                let txn = db.begin_write()?;
                let stats = txn.stats()?;
                txn.abort()?;
                Ok(stats.allocated_pages() * stats.page_size() as u64)
            })?;
            let before = file_length(&self.path);
            let free = before.saturating_sub(used);
            if free < WORTH_COMPACTING_BYTES || free < before / WORTH_COMPACTING_SHARE {
                tracing::debug!(free_bytes = free, "compaction not worth it");
                return Ok(None);
            }
            let mut slot = self.db.write().map_err(|_| StoreError::Unavailable {
                cause: "a reader thread panicked".into(),
            })?;
            let db = slot.as_mut().ok_or_else(|| self.closed())?;
            match db.compact() {
                Ok(_) => {}
                Err(redb::CompactionError::TransactionInProgress) => {
                    tracing::debug!("compaction skipped: a read is in progress");
                    return Ok(None);
                }
                Err(error) => return Err(error.into()),
            }
            let after = file_length(&self.path);
            Ok(Some((before, after)))
        })
    }

    /// Gives the file's free space back to the file system. Needs the file to itself.
    pub fn compact(mut self) -> Result<(u64, u64), StoreError> {
        let before = file_length(&self.path);
        let closed = self.closed();
        self.db
            .get_mut()
            .map_err(|_| StoreError::Unavailable {
                cause: "a reader thread panicked".into(),
            })?
            .as_mut()
            .ok_or(closed)?
            .compact()?;
        let path = self.path.clone();
        drop(self);
        let after = file_length(&path);
        Ok((before, after))
    }
}

impl super::ReadOnlyStore {
    /// A consistent copy of the file at `out`, taken beside a running server.
    pub fn backup(&self, out: &Path) -> Result<BackupReport, StoreError> {
        backup(self.read()?.txn(), out)
    }

    pub fn export_events(&self, out: &mut dyn Write) -> Result<u64, StoreError> {
        export(self.read()?.txn(), out)
    }
}
