//! The writer's model kept in the file, so that opening a file with a long log does not replay
//! all of it. A snapshot is written in the same transaction as the view rows of its position, so
//! it always matches a commit; loading it and folding the events after that position gives the
//! model a replay of the whole log gives (`pipelog verify` checks exactly that).
//!
//! A snapshot is discarded, and the log replayed, when its version or the view schema it was
//! taken with is not this build's, or when the event at its position is not the one it names
//! (a log that is not the one it was taken of).
//!
//! The model is stored deflated (flate2's fastest level), compressed as it is encoded, so that a
//! write never holds the whole encoding at once.

use std::io::Read;
use std::sync::atomic::Ordering;

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec;
use super::read::unpack_event;
use super::tables::{EVENTS, MODEL_SNAPSHOT};
use super::{Store, StoreError, Writer};
use crate::projections::{MODEL_SNAPSHOT_VERSION, ReadModel, VIEW_SCHEMA_VERSION};

const HEADER: &str = "header";
/// The model in one value, as files before chunking hold it: still read, never written.
const WHOLE_MODEL: &str = "model";
/// The model in pieces `model/00000`, `model/00001`, … of [`CHUNK_BYTES`] each.
const CHUNK_PREFIX: &str = "model/";
/// A piece with its key fits one 16 KiB page: a value larger than a page gets a page of its own,
/// rounded up to a power of two, and a model in one value (5 MB for 100,000 deals) took 8 MiB, a
/// block that compaction can seldom move lower in the file, so the file could not shrink under it.
const CHUNK_BYTES: usize = 16 * 1024 - 256;

fn chunk_key(index: usize) -> String {
    format!("{CHUNK_PREFIX}{index:05}")
}

/// How many events a write lets pass before it writes the model again: at most this many are
/// replayed when a server starts after a crash (a clean stop writes one first).
pub const SNAPSHOT_EVERY_EVENTS: u64 = 100_000;

/// Whether a model at `position` is at least `every` (at least 1) events ahead of its snapshot
/// at `snapshot_at`.
pub(super) fn is_due(position: u64, snapshot_at: u64, every: u64) -> bool {
    position.saturating_sub(snapshot_at) >= every.max(1)
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    snapshot_version: u32,
    view_schema: u32,
    position: u64,
    /// The id of the event at `position`.
    event_id: Uuid,
}

/// What the file holds.
pub(super) enum Found {
    None,
    Usable { position: u64 },
    Discarded { reason: String },
}

/// Writes `model`'s snapshot in `txn`, replacing the one held. `event_id` is the id of the event
/// at the model's last position.
pub(super) fn write(
    txn: &WriteTransaction,
    model: &ReadModel,
    event_id: Uuid,
) -> Result<(), StoreError> {
    let header = Header {
        snapshot_version: MODEL_SNAPSHOT_VERSION,
        view_schema: VIEW_SCHEMA_VERSION,
        position: model.last_position(),
        event_id,
    };
    let encode_error = |error: &dyn std::fmt::Display| StoreError::Encode(error.to_string());
    let header = postcard::to_allocvec(&header).map_err(|error| encode_error(&error))?;
    let compressor = DeflateEncoder::new(Vec::new(), Compression::fast());
    let compressed = model
        .write_snapshot(compressor)
        .map_err(|error| encode_error(&error))?
        .finish()
        .map_err(|error| encode_error(&error))?;
    let mut table = txn.open_table(MODEL_SNAPSHOT)?;
    table.retain(|key, _| key == HEADER)?;
    for (index, chunk) in compressed.chunks(CHUNK_BYTES).enumerate() {
        table.insert(chunk_key(index).as_str(), chunk)?;
    }
    table.insert(HEADER, header.as_slice())?;
    Ok(())
}

/// The id of the event at `position` of the log `txn` writes.
pub(super) fn event_id_in(
    txn: &WriteTransaction,
    position: u64,
) -> Result<Option<Uuid>, StoreError> {
    let events = txn.open_table(EVENTS)?;
    let found = events.get(position)?;
    let mut unpacker = codec::writing(txn)?;
    found
        .map(|bytes| {
            unpack_event(&mut unpacker, position, bytes.value()).map(|event| event.event_id)
        })
        .transpose()
}

/// The snapshot held in the file `txn` reads, if it can be used for its log.
pub(super) fn find(txn: &ReadTransaction) -> Result<Found, StoreError> {
    let table = match txn.open_table(MODEL_SNAPSHOT) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Found::None),
        Err(other) => return Err(other.into()),
    };
    let Some(header) = table.get(HEADER)? else {
        return Ok(Found::None);
    };
    let discarded = |reason: String| Ok(Found::Discarded { reason });
    let header: Header = match postcard::from_bytes(header.value()) {
        Ok(header) => header,
        Err(error) => return discarded(format!("its header cannot be read ({error})")),
    };
    if header.snapshot_version != MODEL_SNAPSHOT_VERSION {
        return discarded(format!(
            "it has version {}, this pipelog writes {MODEL_SNAPSHOT_VERSION}",
            header.snapshot_version
        ));
    }
    if header.view_schema != VIEW_SCHEMA_VERSION {
        return discarded(format!(
            "it was taken with view schema {}, this pipelog has {VIEW_SCHEMA_VERSION}",
            header.view_schema
        ));
    }
    let events = txn.open_table(EVENTS)?;
    let mut unpacker = codec::reading(txn, None)?;
    let at_position = match events.get(header.position)? {
        Some(bytes) => Some(unpack_event(&mut unpacker, header.position, bytes.value())?.event_id),
        None => None,
    };
    if at_position != Some(header.event_id) {
        return discarded(format!(
            "the log's event at position {} is not the one it was taken at",
            header.position
        ));
    }
    if table.get(WHOLE_MODEL)?.is_some() || table.get(chunk_key(0).as_str())?.is_some() {
        Ok(Found::Usable {
            position: header.position,
        })
    } else {
        discarded("its model is missing".into())
    }
}

/// The snapshot's model, encoded (after [`find`] found it usable). Bytes that do not inflate
/// give an empty encoding, which does not decode: the snapshot is then not used.
pub(super) fn model_bytes(txn: &ReadTransaction) -> Result<Vec<u8>, StoreError> {
    let table = txn.open_table(MODEL_SNAPSHOT)?;
    let mut compressed = Vec::new();
    match table.get(WHOLE_MODEL)? {
        Some(whole) => compressed.extend_from_slice(whole.value()),
        None => {
            for chunk in table.range::<&str>(CHUNK_PREFIX..)? {
                let (key, chunk) = chunk?;
                if !key.value().starts_with(CHUNK_PREFIX) {
                    break;
                }
                compressed.extend_from_slice(chunk.value());
            }
        }
    }
    let mut model = Vec::new();
    if let Err(error) = DeflateDecoder::new(compressed.as_slice()).read_to_end(&mut model) {
        tracing::warn!(%error, "the model snapshot does not inflate");
        model.clear();
    }
    Ok(model)
}

impl Store {
    /// Sets how many events a write lets pass before it writes the model snapshot again
    /// (default [`SNAPSHOT_EVERY_EVENTS`]; at least 1).
    pub fn set_snapshot_every(&self, events: u64) {
        self.snapshot_every.store(events.max(1), Ordering::Relaxed);
    }

    pub(super) fn snapshot_due(&self, writer: &Writer) -> bool {
        writer.model.as_ref().is_some_and(|model| {
            is_due(
                model.last_position(),
                writer.snapshot_at,
                self.snapshot_every.load(Ordering::Relaxed),
            )
        })
    }

    /// Writes the model snapshot, if the loaded model is ahead of the one in the file: a server
    /// does this when it stops, so that the next start replays nothing. Says whether it wrote.
    pub fn save_snapshot(&self) -> Result<bool, StoreError> {
        self.save_snapshot_after(1)
    }

    /// Writes the model snapshot if it is due (see [`Store::set_snapshot_every`]): what a sync
    /// does when its run ends. Says whether it wrote.
    pub fn save_snapshot_if_due(&self) -> Result<bool, StoreError> {
        self.save_snapshot_after(self.snapshot_every.load(Ordering::Relaxed))
    }

    /// Writes the model snapshot if the model is at least `events` ahead of it.
    fn save_snapshot_after(&self, events: u64) -> Result<bool, StoreError> {
        let mut writer = self.lock_writer()?;
        let due = self.guarded(&mut writer, |writer| {
            let position = self.loaded_model(writer, &mut |_| {})?.last_position();
            Ok(is_due(position, writer.snapshot_at, events))
        })?;
        if due {
            self.guarded(&mut writer, |writer| self.write_snapshot(writer))?;
        }
        Ok(due)
    }

    /// Keeps writes from writing the model snapshot until the guard is dropped: a sync's run
    /// writes one when it ends ([`Store::save_snapshot_if_due`]) instead of several while its
    /// pages come in, when memory is at its peak.
    pub fn defer_snapshots(&self) -> DeferredSnapshots<'_> {
        self.snapshots_deferred.fetch_add(1, Ordering::AcqRel);
        DeferredSnapshots { store: self }
    }

    /// Whether a write may write the model snapshot now.
    pub(super) fn snapshots_allowed(&self) -> bool {
        self.snapshots_deferred.load(Ordering::Acquire) == 0
    }

    /// Writes the loaded model's snapshot in a transaction of its own.
    pub(super) fn write_snapshot(&self, writer: &mut Writer) -> Result<(), StoreError> {
        let Some(model) = writer.model.as_ref() else {
            return Ok(());
        };
        let txn = self.begin_write()?;
        let Some(event_id) = event_id_in(&txn, model.last_position())? else {
            txn.abort()?;
            return Ok(());
        };
        write(&txn, model, event_id)?;
        txn.commit()?;
        writer.snapshot_at = model.last_position();
        Ok(())
    }
}

/// See [`Store::defer_snapshots`].
pub struct DeferredSnapshots<'s> {
    store: &'s Store,
}

impl Drop for DeferredSnapshots<'_> {
    fn drop(&mut self) {
        self.store.snapshots_deferred.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::Event;
    use crate::domain::samples::opportunity;
    use crate::store::tests::{events, no_progress, seed, temp_store};
    use crate::store::{ReplayProgress, Store};
    use crate::testing::arb_batches;

    /// How many events a load of `store` folds (the tail after the snapshot, or the whole log).
    fn events_folded_at_load(path: &std::path::Path, snapshot_every: u64) -> u64 {
        let store = Store::open(path).expect("opens");
        store.set_snapshot_every(snapshot_every);
        let mut folded = 0;
        store
            .load_model(&mut |progress: ReplayProgress| folded = progress.events_total)
            .expect("loads");
        folded
    }

    fn snapshot_position(store: &Store) -> Option<u64> {
        let report = store.verify(&mut no_progress).expect("verifies");
        assert!(report.is_clean(), "{:?}", report.problems);
        report.model_snapshot.and_then(|check| check.position)
    }

    #[test]
    fn a_reopened_file_folds_only_the_events_after_its_snapshot() {
        let (_dir, path, store) = temp_store();
        store.set_snapshot_every(3);
        seed(&store);
        assert_eq!(snapshot_position(&store), Some(3));
        store
            .append(events(vec![Event::OpportunityCreated {
                id: 101,
                record: opportunity(Some(7), 1, 700),
            }]))
            .expect("appends");
        drop(store);
        assert_eq!(events_folded_at_load(&path, 3), 1);

        // A clean stop saves the model: the next start folds nothing.
        let store = Store::open(&path).expect("opens");
        assert!(store.save_snapshot().expect("saves"));
        assert!(!store.save_snapshot().expect("nothing new"));
        assert_eq!(snapshot_position(&store), Some(4));
        drop(store);
        assert_eq!(events_folded_at_load(&path, 3), 0);
    }

    /// Appends `deals` deals with names that do not compress away, so the model spans chunks.
    fn seed_many(store: &Store, deals: u64) {
        seed(store);
        let created = (0..deals)
            .map(|i| Event::OpportunityCreated {
                id: 1_000 + i,
                record: crate::domain::OpportunityRecord {
                    name: format!("Deal {:x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                    ..opportunity(Some(7), 1, 1_000 + i as i64)
                },
            })
            .collect();
        store.append(events(created)).expect("appends");
    }

    fn stored_chunks(store: &Store) -> usize {
        let txn = store.begin_write().expect("writes");
        let table = txn.open_table(MODEL_SNAPSHOT).expect("table");
        let chunks = table
            .iter()
            .expect("reads")
            .filter(|entry| {
                let (key, value) = entry.as_ref().expect("reads");
                assert!(value.value().len() <= CHUNK_BYTES);
                key.value().starts_with(CHUNK_PREFIX)
            })
            .count();
        assert!(table.get(WHOLE_MODEL).expect("reads").is_none());
        chunks
    }

    #[test]
    fn a_model_larger_than_a_chunk_is_stored_in_pieces_and_loads_whole() {
        let (_dir, path, store) = temp_store();
        seed_many(&store, 3_000);
        assert!(store.save_snapshot().expect("saves"));
        let chunks = stored_chunks(&store);
        assert!(chunks > 2, "{chunks} chunks");
        // A smaller model replaces every piece of the larger one.
        store
            .append(events(vec![Event::OpportunityDeleted { id: 1_000 }]))
            .expect("appends");
        assert!(store.save_snapshot().expect("saves"));
        assert_eq!(stored_chunks(&store), chunks);
        assert_eq!(snapshot_position(&store), Some(3_004));
        drop(store);
        assert_eq!(events_folded_at_load(&path, 1_000_000), 0);
        let store = Store::open(&path).expect("opens");
        assert!(
            store
                .with_model(|model| model.opportunity(1_000).is_none()
                    && model.opportunity(3_999).is_some())
                .expect("model")
        );
    }

    #[test]
    fn a_model_stored_in_one_value_by_an_older_pipelog_still_loads() {
        let (_dir, path, store) = temp_store();
        seed_many(&store, 3_000);
        assert!(store.save_snapshot().expect("saves"));
        let txn = store.begin_write().expect("writes");
        {
            let mut table = txn.open_table(MODEL_SNAPSHOT).expect("table");
            let mut whole = Vec::new();
            for entry in table.iter().expect("reads") {
                let (key, value) = entry.expect("reads");
                if key.value().starts_with(CHUNK_PREFIX) {
                    whole.extend_from_slice(value.value());
                }
            }
            table
                .retain(|key, _| !key.starts_with(CHUNK_PREFIX))
                .expect("removes");
            table
                .insert(WHOLE_MODEL, whole.as_slice())
                .expect("inserts");
        }
        txn.commit().expect("commits");
        assert_eq!(snapshot_position(&store), Some(3_003));
        drop(store);
        assert_eq!(events_folded_at_load(&path, 1_000_000), 0);
    }

    #[test]
    fn a_snapshot_of_another_version_is_discarded_and_written_again() {
        let (_dir, path, store) = temp_store();
        store.set_snapshot_every(1);
        seed(&store);
        let txn = store.begin_write().expect("writes");
        {
            let mut table = txn.open_table(MODEL_SNAPSHOT).expect("table");
            let header = Header {
                snapshot_version: MODEL_SNAPSHOT_VERSION + 1,
                view_schema: VIEW_SCHEMA_VERSION,
                position: 3,
                event_id: Uuid::nil(),
            };
            let header = postcard::to_allocvec(&header).expect("encodes");
            table.insert(HEADER, header.as_slice()).expect("inserts");
        }
        txn.commit().expect("commits");
        let report = store.verify(&mut no_progress).expect("verifies");
        assert!(report.is_clean());
        let check = report.model_snapshot.expect("reported");
        assert_eq!(check.position, None);
        assert!(check.outcome.contains("has version"), "{}", check.outcome);
        drop(store);

        // The whole log is replayed, and the snapshot written again.
        assert_eq!(events_folded_at_load(&path, 1), 3);
        assert_eq!(events_folded_at_load(&path, 1), 0);
    }

    #[test]
    fn verify_reports_a_snapshot_that_does_not_match_the_log() {
        let (_dir, _path, store) = temp_store();
        seed(&store);
        // A model that holds one deal more than the log at the same position.
        let mut wrong = ReadModel::for_replay();
        let read = store.read().expect("reads");
        for envelope in read.events_after(0, 10).expect("reads") {
            wrong.apply(&envelope);
        }
        wrong.apply(&crate::testing::envelope(
            3,
            Event::OpportunityCreated {
                id: 555,
                record: opportunity(Some(7), 1, 1),
            },
        ));
        wrong.finish_fold();
        let txn = store.begin_write().expect("writes");
        let event_id = event_id_in(&txn, 3).expect("reads").expect("exists");
        write(&txn, &wrong, event_id).expect("writes");
        txn.commit().expect("commits");

        let report = store.verify(&mut no_progress).expect("verifies");
        assert!(!report.is_clean());
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("model snapshot at position 3")),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn after_a_failed_write_the_model_comes_back_from_the_snapshot() {
        let (_dir, _path, store) = temp_store();
        store.set_snapshot_every(1);
        seed(&store);
        {
            // As a failed commit leaves it: the model ahead of the file.
            let mut writer = store.writer.lock().expect("writer");
            let ahead = crate::testing::envelope(4, Event::OpportunityDeleted { id: 100 });
            writer.model.as_mut().expect("loaded").apply(&ahead);
            let failure = StoreError::Unavailable {
                cause: "No space left on device (os error 28)".into(),
            };
            store.mark_failed(&mut writer, &failure);
        }
        let mut folded = None;
        store
            .load_model(&mut |progress: ReplayProgress| folded = Some(progress.events_total))
            .expect("reopens and loads");
        assert_eq!(
            folded,
            Some(0),
            "loaded from the snapshot, nothing replayed"
        );
        assert!(
            store
                .with_model(|model| model.opportunity(100).is_some())
                .expect("model"),
            "the model is the file's, not the one that ran ahead"
        );
        assert_eq!(snapshot_position(&store), Some(3));
    }

    #[test]
    fn deferred_snapshots_wait_for_the_end_of_the_run() {
        let (_dir, _path, store) = temp_store();
        store.set_snapshot_every(2);
        let deferred = store.defer_snapshots();
        seed(&store);
        assert_eq!(snapshot_position(&store), None, "none while deferred");
        drop(deferred);
        assert!(store.save_snapshot_if_due().expect("saves"));
        assert_eq!(snapshot_position(&store), Some(3));
        store
            .append(events(vec![Event::OpportunityDeleted { id: 100 }]))
            .expect("appends");
        assert!(!store.save_snapshot_if_due().expect("not due"));
        assert_eq!(snapshot_position(&store), Some(3));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        /// Through the real store: whatever is appended, wherever snapshots fall, a file reopened
        /// from its snapshot goes on exactly as one that never stopped (its views verify, and so
        /// does its snapshot).
        #[test]
        fn a_store_reopened_from_its_snapshot_goes_on_as_if_never_stopped(
            before in arb_batches(),
            after in arb_batches(),
            every in 1u64..20,
        ) {
            let (_dir, path, store) = temp_store();
            store.set_snapshot_every(every);
            for batch in before {
                store.append(events(batch)).expect("appends");
            }
            drop(store);
            let store = Store::open(&path).expect("reopens");
            store.set_snapshot_every(every);
            for batch in after {
                store.append(events(batch)).expect("appends");
            }
            let report = store.verify(&mut no_progress).expect("verifies");
            prop_assert!(report.is_clean(), "{:?} {:?}", report.problems, report.differences.iter().map(ToString::to_string).collect::<Vec<_>>());
        }
    }
}
