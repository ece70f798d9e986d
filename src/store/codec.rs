//! The stored form of the largest values the file keeps: event envelopes and Odoo's raw records
//! (JSON), and deals' time lines (postcard). Values of one kind repeat their keys and most of their
//! contents, so each is kept as a zstd frame over a dictionary trained on the file's own values of
//! that kind, which lets even one small value compress well (a 640-byte event to about 115). An
//! event or source record that starts with `{` is plain JSON: values written before their corpus
//! has its first dictionary, and every file written before compression, read unchanged. What the
//! bytes mean is the caller's; this module owns only their stored form.
//!
//! Dictionaries live in `dictionaries_v1` under ids that, once committed, are never reused, so a
//! dictionary read from a committed transaction can be shared by every later reader of the file.
//! A dictionary is trained inside a write transaction once its corpus has grown [`GROWTH`]× since
//! the last one, from values spread over the newer half of the log for events (the events to come
//! look like the recent ones) and over all of them for the other corpora; the values the previous
//! dictionary served are then written again with the new one in the same transaction, while they
//! are few enough ([`REWRITE_AT_MOST`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableError, WriteTransaction};
use zstd::zstd_safe::{CCtx, CDict, CParameter, DCtx, DDict, ResetDirective};

use super::StoreError;
use super::tables::{DICTIONARIES, EVENTS, LIVE_HISTORY, LIVE_OPPORTUNITIES, META, SOURCE_RECORDS};
use crate::projections::ViewTable;

/// First byte of a compressed value, then the dictionary id (u32, little-endian), then the frame.
const COMPRESSED: u8 = 1;
/// First byte of an uncompressed value of a corpus that [tags](Corpus::tags_plain) them.
pub(super) const PLAIN: u8 = 0;
const HEADER_BYTES: usize = 5;
const LEVEL: i32 = 3;
const DICTIONARY_BYTES: usize = 64 * 1024;
/// Values a dictionary is trained on (about 2.5 MB of events).
const SAMPLES: u64 = 4_000;
/// A corpus gets its first dictionary once it holds this many values...
const FIRST_TRAINING_AT: u64 = 2_000;
/// ...and a new one each time it has grown this many times since the last.
const GROWTH: u64 = 4;
/// Beyond this many values, a new dictionary serves only the values to come: rewriting more in one
/// transaction would hold the writer for seconds, and by then the kinds of values have settled.
const REWRITE_AT_MOST: u64 = 500_000;
/// A frame claiming more than this is not one pipelog wrote.
const LARGEST_VALUE: u64 = 256 * 1024 * 1024;
/// Values read or rewritten at a time while a new dictionary is put to use.
const REWRITE_CHUNK: usize = 10_000;

/// Which stored values a dictionary serves; each corpus has its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Corpus {
    /// `events_v1`: position → envelope.
    Events,
    /// `source_records_v1`: key → 8-byte checksum, then the record.
    Sources,
    /// `opportunity_history_v1`: deal id → its time line. Postcard has no first byte of its own,
    /// so a plain row is tagged [`PLAIN`].
    History,
    /// `opportunity_view_v1`: deal id → its denormalized view, tagged like [`Corpus::History`].
    /// Its names (stages, teams, salespeople, accounts) repeat from row to row, which a
    /// dictionary takes up.
    Deals,
}

impl Corpus {
    /// The corpora of view rows.
    pub const VIEWS: [Corpus; 2] = [Corpus::History, Corpus::Deals];

    /// The corpus the rows of a view are stored in, for views written with view schema
    /// `schema`: time lines from schema 10 on, opportunity views from 11 on. Other views, and
    /// older rows (read by `verify` before the rebuild that replaces them), are postcard as
    /// they are.
    pub fn of_view(table: ViewTable, schema: u32) -> Option<Corpus> {
        match table {
            ViewTable::OpportunityHistory if schema >= 10 => Some(Corpus::History),
            ViewTable::Opportunities if schema >= 11 => Some(Corpus::Deals),
            _ => None,
        }
    }

    /// Bytes before the JSON in each stored value.
    fn prefix_bytes(self) -> usize {
        match self {
            Corpus::Events | Corpus::History | Corpus::Deals => 0,
            Corpus::Sources => 8,
        }
    }

    /// Whether a value without a dictionary starts with [`PLAIN`] (else it is JSON as it is).
    fn tags_plain(self) -> bool {
        matches!(self, Corpus::History | Corpus::Deals)
    }

    fn meta_key(self) -> &'static str {
        match self {
            Corpus::Events => "events_dictionary",
            Corpus::Sources => "sources_dictionary",
            Corpus::History => "history_dictionary",
            Corpus::Deals => "deals_dictionary",
        }
    }

    /// The table of a corpus keyed by number.
    fn numbered_table(self) -> Option<TableDefinition<'static, u64, &'static [u8]>> {
        match self {
            Corpus::Events => Some(EVENTS),
            Corpus::History => Some(LIVE_HISTORY),
            Corpus::Deals => Some(LIVE_OPPORTUNITIES),
            Corpus::Sources => None,
        }
    }
}

/// A trained dictionary, ready for both directions.
pub struct Dictionary {
    id: u32,
    encoder: CDict<'static>,
    decoder: DDict<'static>,
}

impl Dictionary {
    fn new(id: u32, bytes: &[u8]) -> Result<Dictionary, String> {
        let encoder = CDict::try_create(bytes, LEVEL).ok_or("zstd refused the dictionary")?;
        let decoder = DDict::try_create(bytes).ok_or("zstd refused the dictionary")?;
        Ok(Dictionary {
            id,
            encoder,
            decoder,
        })
    }
}

/// Dictionaries read from committed transactions, shared by the readers of one file.
#[derive(Default)]
pub struct Dictionaries {
    loaded: Mutex<HashMap<u32, Arc<Dictionary>>>,
}

impl Dictionaries {
    fn get(&self, id: u32) -> Option<Arc<Dictionary>> {
        self.loaded.lock().ok()?.get(&id).cloned()
    }

    fn keep(&self, dictionary: &Arc<Dictionary>) {
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(dictionary.id, dictionary.clone());
        }
    }
}

thread_local! {
    static DECOMPRESSOR: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// Turns stored values back into JSON, within one transaction.
pub struct Unpacker<'a, T> {
    table: Option<T>,
    /// Set for read transactions only: what a write transaction reads may not be committed.
    shared: Option<&'a Dictionaries>,
    local: HashMap<u32, Arc<Dictionary>>,
}

/// An unpacker for a read transaction, sharing what it loads through `shared`.
pub fn reading<'a>(
    txn: &redb::ReadTransaction,
    shared: Option<&'a Dictionaries>,
) -> Result<Unpacker<'a, redb::ReadOnlyTable<u32, &'static [u8]>>, StoreError> {
    let table = match txn.open_table(DICTIONARIES) {
        Ok(table) => Some(table),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(other) => return Err(other.into()),
    };
    Ok(Unpacker {
        table,
        shared,
        local: HashMap::new(),
    })
}

/// An unpacker for a write transaction (which sees its own, uncommitted dictionaries).
pub fn writing(
    txn: &WriteTransaction,
) -> Result<Unpacker<'static, redb::Table<'_, u32, &'static [u8]>>, StoreError> {
    Ok(Unpacker {
        table: Some(txn.open_table(DICTIONARIES)?),
        shared: None,
        local: HashMap::new(),
    })
}

impl<T: ReadableTable<u32, &'static [u8]>> Unpacker<'_, T> {
    /// The JSON of a stored value of `corpus` (its prefix, if any, left off).
    pub fn json<'v>(&mut self, corpus: Corpus, stored: &'v [u8]) -> Result<Cow<'v, [u8]>, String> {
        let body = stored
            .get(corpus.prefix_bytes()..)
            .ok_or("the value is shorter than its prefix")?;
        match body.first() {
            Some(&COMPRESSED) => {}
            Some(&PLAIN) if corpus.tags_plain() => return Ok(Cow::Borrowed(&body[1..])),
            _ if corpus.tags_plain() => return Err("the value has no known first byte".into()),
            _ => return Ok(Cow::Borrowed(body)),
        }
        let (id, frame) = split_header(body)?;
        let dictionary = self.dictionary(id)?;
        expand(frame, &dictionary).map(Cow::Owned)
    }

    fn dictionary(&mut self, id: u32) -> Result<Arc<Dictionary>, String> {
        if let Some(found) = self.local.get(&id) {
            return Ok(found.clone());
        }
        if let Some(found) = self.shared.and_then(|shared| shared.get(id)) {
            self.local.insert(id, found.clone());
            return Ok(found);
        }
        let stored = self
            .table
            .as_ref()
            .ok_or_else(|| format!("dictionary {id} is not in the file"))?
            .get(id)
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("dictionary {id} is not in the file"))?;
        let dictionary = Arc::new(Dictionary::new(id, stored.value())?);
        if let Some(shared) = self.shared {
            shared.keep(&dictionary);
        }
        self.local.insert(id, dictionary.clone());
        Ok(dictionary)
    }
}

fn split_header(body: &[u8]) -> Result<(u32, &[u8]), String> {
    let id = body
        .get(1..HEADER_BYTES)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or("the compressed value has no dictionary id")?;
    Ok((id, &body[HEADER_BYTES..]))
}

fn expand(frame: &[u8], dictionary: &Dictionary) -> Result<Vec<u8>, String> {
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .map_err(|_| "the compressed value has no valid zstd frame header")?
        .ok_or("the compressed value does not say its size")?;
    if size > LARGEST_VALUE {
        return Err(format!("the compressed value claims {size} bytes"));
    }
    let mut json = Vec::with_capacity(size as usize);
    DECOMPRESSOR
        .with_borrow_mut(|dctx| dctx.decompress_using_ddict(&mut json, frame, &dictionary.decoder))
        .map_err(|code| {
            format!(
                "the value does not decompress: {}",
                zstd::zstd_safe::get_error_name(code)
            )
        })?;
    Ok(json)
}

/// Writes values of one corpus in its current stored form, within one write transaction.
pub struct Packer<'a> {
    corpus: Corpus,
    dictionary: Option<Arc<Dictionary>>,
    context: &'a mut CCtx<'static>,
    frame: &'a mut Vec<u8>,
}

impl Packer<'_> {
    /// `prefix`, then `json` as stored: a frame over the current dictionary, or as it is when the
    /// corpus has none yet.
    pub fn pack(
        &mut self,
        prefix: &[u8],
        json: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        out.clear();
        out.extend_from_slice(prefix);
        let Some(dictionary) = &self.dictionary else {
            if self.corpus.tags_plain() {
                out.push(PLAIN);
            }
            out.extend_from_slice(json);
            return Ok(());
        };
        self.frame.clear();
        self.frame
            .reserve(zstd::zstd_safe::compress_bound(json.len()));
        if let Err(code) =
            self.context
                .compress_with_cdict(&mut *self.frame, json, &dictionary.encoder)
        {
            // A failed call leaves its frame open, and the context serves every later write.
            let _ = self.context.reset(ResetDirective::SessionOnly);
            return Err(zstd_error(code));
        }
        out.push(COMPRESSED);
        out.extend_from_slice(&dictionary.id.to_le_bytes());
        out.extend_from_slice(self.frame);
        Ok(())
    }
}

fn compression_context() -> Result<CCtx<'static>, StoreError> {
    let mut context = CCtx::create();
    // The id is in the value's own header, and the size lets a reader allocate once.
    context
        .set_parameter(CParameter::DictIdFlag(false))
        .and_then(|_| context.set_parameter(CParameter::ContentSizeFlag(true)))
        .and_then(|_| context.set_parameter(CParameter::ChecksumFlag(false)))
        .map_err(zstd_error)?;
    Ok(context)
}

fn zstd_error(code: usize) -> StoreError {
    StoreError::Encode(format!("zstd: {}", zstd::zstd_safe::get_error_name(code)))
}

/// Where a corpus stands: its current dictionary, and how many values it held when that was
/// trained (0 and 0 before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct CorpusState {
    dictionary: u32,
    trained_at: u64,
}

fn corpus_state(txn: &WriteTransaction, corpus: Corpus) -> Result<CorpusState, StoreError> {
    let meta = txn.open_table(META)?;
    let Some(stored) = meta.get(corpus.meta_key())? else {
        return Ok(CorpusState::default());
    };
    let text = stored.value();
    let parsed = text.split_once(' ').and_then(|(id, at)| {
        Some(CorpusState {
            dictionary: id.parse().ok()?,
            trained_at: at.parse().ok()?,
        })
    });
    parsed.ok_or_else(|| StoreError::Damaged(format!("meta {} is {text:?}", corpus.meta_key())))
}

fn set_corpus_state(
    txn: &WriteTransaction,
    corpus: Corpus,
    state: CorpusState,
) -> Result<(), StoreError> {
    let text = format!("{} {}", state.dictionary, state.trained_at);
    txn.open_table(META)?
        .insert(corpus.meta_key(), text.as_str())?;
    Ok(())
}

/// The writer's current dictionaries, kept between write transactions. A cached one is used only
/// while the file's meta names it, so a dictionary trained in a transaction that failed is never
/// used again.
#[derive(Default)]
pub struct Packers {
    current: HashMap<Corpus, Arc<Dictionary>>,
    /// One compression context for every write: each holds about a megabyte of tables, set up
    /// once rather than in every transaction.
    context: Option<CCtx<'static>>,
    frame: Vec<u8>,
}

impl Packers {
    /// A packer for `corpus` in `txn`.
    pub fn packer(
        &mut self,
        txn: &WriteTransaction,
        corpus: Corpus,
    ) -> Result<Packer<'_>, StoreError> {
        let state = corpus_state(txn, corpus)?;
        let dictionary = if state.dictionary == 0 {
            None
        } else {
            match self.current.get(&corpus) {
                Some(cached) if cached.id == state.dictionary => Some(cached.clone()),
                _ => {
                    let loaded = writing(txn)?
                        .dictionary(state.dictionary)
                        .map_err(StoreError::Damaged)?;
                    self.current.insert(corpus, loaded.clone());
                    Some(loaded)
                }
            }
        };
        let context = match &mut self.context {
            Some(context) => context,
            empty => empty.insert(compression_context()?),
        };
        Ok(Packer {
            corpus,
            dictionary,
            context,
            frame: &mut self.frame,
        })
    }

    /// Trains a new dictionary for `corpus` when it has grown enough since the last, and rewrites
    /// the values the last one served with it. Returns whether it trained one.
    pub fn train_if_due(
        &mut self,
        txn: &WriteTransaction,
        corpus: Corpus,
    ) -> Result<bool, StoreError> {
        let state = corpus_state(txn, corpus)?;
        let count = corpus_len(txn, corpus)?;
        let due_at = if state.trained_at == 0 {
            FIRST_TRAINING_AT
        } else {
            state.trained_at.saturating_mul(GROWTH)
        };
        if count < due_at {
            return Ok(false);
        }
        let rewrite = if count - state.trained_at > REWRITE_AT_MOST {
            Rewrite::Nothing
        } else if corpus == Corpus::Events {
            // Later events were written with the last dictionary, earlier ones rewritten with it.
            Rewrite::After(state.trained_at)
        } else {
            // A time line or source record may have been written with any.
            Rewrite::After(0)
        };
        self.train(txn, corpus, state, count, rewrite)
    }

    /// Trains a dictionary for `corpus` now, whatever its size, and rewrites every value with it:
    /// the upgrade of a file written before compression.
    pub fn compress_all(
        &mut self,
        txn: &WriteTransaction,
        corpus: Corpus,
    ) -> Result<bool, StoreError> {
        let state = corpus_state(txn, corpus)?;
        let count = corpus_len(txn, corpus)?;
        if count == 0 {
            return Ok(false);
        }
        self.train(txn, corpus, state, count, Rewrite::After(0))
    }

    fn train(
        &mut self,
        txn: &WriteTransaction,
        corpus: Corpus,
        state: CorpusState,
        count: u64,
        rewrite: Rewrite,
    ) -> Result<bool, StoreError> {
        let samples = samples(txn, corpus, count)?;
        let id = next_dictionary_id(txn)?;
        let trained = zstd::dict::from_samples(&samples, DICTIONARY_BYTES)
            .map_err(|error| error.to_string())
            .and_then(|bytes| Dictionary::new(id, &bytes).map(|dictionary| (bytes, dictionary)));
        let (bytes, dictionary) = match trained {
            Ok(trained) => trained,
            Err(reason) => {
                // Values too alike or too few to train on: try again once the corpus has grown.
                tracing::debug!(?corpus, %reason, "no dictionary trained");
                set_corpus_state(
                    txn,
                    corpus,
                    CorpusState {
                        trained_at: count,
                        ..state
                    },
                )?;
                return Ok(false);
            }
        };
        txn.open_table(DICTIONARIES)?.insert(id, bytes.as_slice())?;
        set_corpus_state(
            txn,
            corpus,
            CorpusState {
                dictionary: id,
                trained_at: count,
            },
        )?;
        self.current.insert(corpus, Arc::new(dictionary));
        if let Rewrite::After(after) = rewrite {
            match corpus.numbered_table() {
                Some(table) => rewrite_numbered(self, txn, corpus, table, after)?,
                None => rewrite_sources(self, txn)?,
            }
        }
        Ok(true)
    }
}

/// Which values a new dictionary is put to use on at once.
enum Rewrite {
    Nothing,
    /// Those after this key (every one for 0).
    After(u64),
}

fn corpus_len(txn: &WriteTransaction, corpus: Corpus) -> Result<u64, StoreError> {
    Ok(match corpus.numbered_table() {
        Some(table) => txn.open_table(table)?.len()?,
        None => txn.open_table(SOURCE_RECORDS)?.len()?,
    })
}

fn next_dictionary_id(txn: &WriteTransaction) -> Result<u32, StoreError> {
    let table = txn.open_table(DICTIONARIES)?;
    let last = table.last()?.map(|(id, _)| id.value()).unwrap_or(0);
    Ok(last + 1)
}

/// Up to [`SAMPLES`] values of `corpus`, unpacked and spread evenly: for events over the newer
/// half of the log, for the others over all of them (source records' kinds are in key order).
fn samples(txn: &WriteTransaction, corpus: Corpus, count: u64) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut unpacker = writing(txn)?;
    let mut found = Vec::new();
    let mut keep = |stored: &[u8]| -> Result<(), StoreError> {
        let json = unpacker
            .json(corpus, stored)
            .map_err(|reason| StoreError::Damaged(format!("a value to train on: {reason}")))?;
        found.push(json.into_owned());
        Ok(())
    };
    let (first, spread) = match corpus {
        Corpus::Events => (count / 2 + 1, count - count / 2),
        Corpus::Sources | Corpus::History | Corpus::Deals => (0, count),
    };
    let step = (spread / SAMPLES).max(1) as usize;
    match corpus.numbered_table() {
        Some(table) => {
            for entry in txn.open_table(table)?.range(first..)?.step_by(step) {
                keep(entry?.1.value())?;
            }
        }
        None => {
            for entry in txn.open_table(SOURCE_RECORDS)?.iter()?.step_by(step) {
                keep(entry?.1.value())?;
            }
        }
    }
    Ok(found)
}

/// Writes the values of a numbered corpus after key `after` again with its new dictionary.
fn rewrite_numbered(
    packers: &mut Packers,
    txn: &WriteTransaction,
    corpus: Corpus,
    table: TableDefinition<'static, u64, &'static [u8]>,
    after: u64,
) -> Result<(), StoreError> {
    let mut packer = packers.packer(txn, corpus)?;
    let mut unpacker = writing(txn)?;
    let mut values = txn.open_table(table)?;
    let mut from = after.saturating_add(1);
    loop {
        let mut chunk = Vec::with_capacity(REWRITE_CHUNK);
        for entry in values.range(from..)?.take(REWRITE_CHUNK) {
            let (key, stored) = entry?;
            let key = key.value();
            let unpacked = unpacker
                .json(corpus, stored.value())
                .map_err(|reason| StoreError::Damaged(format!("{corpus:?} {key}: {reason}")))?;
            let mut repacked = Vec::new();
            packer.pack(&[], &unpacked, &mut repacked)?;
            chunk.push((key, repacked));
        }
        let (Some(&(first, _)), Some(&(last, _))) = (chunk.first(), chunk.last()) else {
            return Ok(());
        };
        // Taken out and put back through a cursor, not overwritten in place: a value a few bytes
        // longer would split every whole leaf it lands in (see `repack`).
        values.retain_in(first..=last, |_, _| false)?;
        let mut gap = values.lower_bound_mut(Bound::Included(first))?;
        for (key, repacked) in &chunk {
            gap.insert_before(*key, repacked.as_slice())?;
        }
        gap.close()?;
        match last.checked_add(1) {
            Some(next) => from = next,
            None => return Ok(()),
        }
    }
}

/// Writes every source record again with the corpus's new dictionary.
fn rewrite_sources(packers: &mut Packers, txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut packer = packers.packer(txn, Corpus::Sources)?;
    let mut unpacker = writing(txn)?;
    let mut records = txn.open_table(SOURCE_RECORDS)?;
    let mut after: Option<String> = None;
    loop {
        let mut chunk = Vec::with_capacity(REWRITE_CHUNK);
        let range = match &after {
            Some(key) => records.range::<&str>(key.as_str()..)?,
            None => records.range::<&str>(..)?,
        };
        for entry in range {
            let (key, stored) = entry?;
            let key = key.value();
            if after.as_deref() == Some(key) {
                continue;
            }
            let stored = stored.value();
            let json = unpacker
                .json(Corpus::Sources, stored)
                .map_err(|reason| StoreError::Encode(format!("source record {key}: {reason}")))?;
            let mut repacked = Vec::new();
            packer.pack(
                &stored[..Corpus::Sources.prefix_bytes()],
                &json,
                &mut repacked,
            )?;
            chunk.push((key.to_string(), repacked));
            if chunk.len() == REWRITE_CHUNK {
                break;
            }
        }
        let (Some((first, _)), Some((last, _))) = (chunk.first(), chunk.last()) else {
            return Ok(());
        };
        records.retain_in::<&str, _>(first.as_str()..=last.as_str(), |_, _| false)?;
        let mut gap = records.lower_bound_mut(Bound::Included(first.as_str()))?;
        for (key, repacked) in &chunk {
            gap.insert_before(key.as_str(), repacked.as_slice())?;
        }
        gap.close()?;
        after = Some(last.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase};

    #[test]
    fn views_are_compressed_from_the_schema_that_began_to() {
        assert_eq!(Corpus::of_view(ViewTable::OpportunityHistory, 9), None);
        assert_eq!(
            Corpus::of_view(ViewTable::OpportunityHistory, 10),
            Some(Corpus::History)
        );
        assert_eq!(Corpus::of_view(ViewTable::Opportunities, 10), None);
        assert_eq!(
            Corpus::of_view(ViewTable::Opportunities, 11),
            Some(Corpus::Deals)
        );
        assert_eq!(Corpus::of_view(ViewTable::OpportunityFacts, 11), None);
        for corpus in Corpus::VIEWS {
            assert!(
                corpus.tags_plain(),
                "{corpus:?}: postcard has no first byte of its own"
            );
        }
    }

    fn database() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::create(dir.path().join("codec.redb")).expect("creates");
        (dir, db)
    }

    /// An event-like JSON value: the same keys, values that differ a little.
    fn event_json(position: u64) -> Vec<u8> {
        format!(
            r#"{{"position":{position},"aggregate_type":"opportunity","aggregate_id":"{}","event":{{"type":"OpportunityChangeRecorded","data":{{"id":{},"changes":[{{"field":"stage_id","before":{},"after":{}}}],"author":"Author {}"}}}}}}"#,
            position % 977,
            position % 977,
            position % 5,
            position % 7,
            position % 31
        )
        .into_bytes()
    }

    fn append_events(
        db: &Database,
        packers: &mut Packers,
        positions: std::ops::RangeInclusive<u64>,
    ) {
        let txn = db.begin_write().expect("write");
        {
            let mut packer = packers.packer(&txn, Corpus::Events).expect("packer");
            let mut events = txn.open_table(EVENTS).expect("events");
            let mut stored = Vec::new();
            for position in positions {
                packer
                    .pack(&[], &event_json(position), &mut stored)
                    .expect("packs");
                events.insert(position, stored.as_slice()).expect("inserts");
            }
        }
        packers.train_if_due(&txn, Corpus::Events).expect("trains");
        txn.commit().expect("commits");
    }

    fn stored_events(db: &Database) -> Vec<(u64, Vec<u8>)> {
        let read = db.begin_read().expect("read");
        let events = read.open_table(EVENTS).expect("events");
        events
            .iter()
            .expect("iterates")
            .map(|entry| {
                let (position, stored) = entry.expect("entry");
                (position.value(), stored.value().to_vec())
            })
            .collect()
    }

    fn unpacked(db: &Database, stored: &[u8], corpus: Corpus) -> Result<Vec<u8>, String> {
        let read = db.begin_read().expect("read");
        let shared = Dictionaries::default();
        let mut unpacker = reading(&read, Some(&shared)).expect("unpacker");
        unpacker.json(corpus, stored).map(Cow::into_owned)
    }

    #[test]
    fn events_read_back_the_same_before_and_after_their_first_dictionary() {
        let (_dir, db) = database();
        let mut packers = Packers::default();
        append_events(&db, &mut packers, 1..=1_000);
        assert!(
            stored_events(&db)
                .iter()
                .all(|(position, stored)| *stored == event_json(*position)),
            "below the first training every event is kept as plain JSON"
        );
        append_events(&db, &mut packers, 1_001..=FIRST_TRAINING_AT);
        append_events(
            &db,
            &mut packers,
            FIRST_TRAINING_AT + 1..=FIRST_TRAINING_AT + 500,
        );
        let stored = stored_events(&db);
        assert_eq!(stored.len() as u64, FIRST_TRAINING_AT + 500);
        let (mut json_bytes, mut stored_bytes) = (0, 0);
        for (position, value) in &stored {
            assert_eq!(
                value.first(),
                Some(&COMPRESSED),
                "event {position} is compressed"
            );
            let json = unpacked(&db, value, Corpus::Events).expect("unpacks");
            assert_eq!(json, event_json(*position), "event {position}");
            json_bytes += json.len();
            stored_bytes += value.len();
        }
        assert!(
            stored_bytes * 3 < json_bytes,
            "{stored_bytes} bytes stored for {json_bytes} of JSON"
        );
    }

    #[test]
    fn a_dictionary_trained_in_a_transaction_that_failed_is_never_used() {
        let (_dir, db) = database();
        let mut packers = Packers::default();
        append_events(&db, &mut packers, 1..=FIRST_TRAINING_AT - 1);
        let txn = db.begin_write().expect("write");
        {
            let mut events = txn.open_table(EVENTS).expect("events");
            events
                .insert(FIRST_TRAINING_AT, event_json(FIRST_TRAINING_AT).as_slice())
                .expect("inserts");
        }
        assert!(packers.train_if_due(&txn, Corpus::Events).expect("trains"));
        txn.abort().expect("aborts");
        // The writer still caches the aborted dictionary; the file names none.
        let txn = db.begin_write().expect("write");
        let packer = packers.packer(&txn, Corpus::Events).expect("packer");
        assert!(packer.dictionary.is_none());
        drop(packer);
        txn.abort().expect("aborts");
        append_events(
            &db,
            &mut packers,
            FIRST_TRAINING_AT..=FIRST_TRAINING_AT + 10,
        );
        for (position, stored) in stored_events(&db) {
            assert_eq!(
                unpacked(&db, &stored, Corpus::Events),
                Ok(event_json(position))
            );
        }
    }

    #[test]
    fn a_value_whose_dictionary_is_missing_or_whose_frame_is_cut_is_an_error() {
        let (_dir, db) = database();
        let mut packers = Packers::default();
        append_events(&db, &mut packers, 1..=FIRST_TRAINING_AT);
        let (_, stored) = stored_events(&db).pop().expect("one event");
        let mut foreign = stored.clone();
        foreign[1..HEADER_BYTES].copy_from_slice(&999u32.to_le_bytes());
        assert!(
            unpacked(&db, &foreign, Corpus::Events)
                .expect_err("no such dictionary")
                .contains("dictionary 999")
        );
        assert!(unpacked(&db, &stored[..stored.len() - 3], Corpus::Events).is_err());
        assert!(unpacked(&db, &[COMPRESSED, 1], Corpus::Events).is_err());
    }

    #[test]
    fn time_lines_are_tagged_so_postcard_bytes_are_never_taken_for_a_frame() {
        let (_dir, db) = database();
        let mut packers = Packers::default();
        let txn = db.begin_write().expect("write");
        let mut packer = packers.packer(&txn, Corpus::History).expect("packer");
        let row = [COMPRESSED, 2, 3];
        let mut stored = Vec::new();
        packer.pack(&[], &row, &mut stored).expect("packs");
        txn.commit().expect("commits");
        assert_eq!(stored, [PLAIN, COMPRESSED, 2, 3]);
        assert_eq!(unpacked(&db, &stored, Corpus::History), Ok(row.to_vec()));
        assert!(unpacked(&db, &row[1..], Corpus::History).is_err());
    }

    #[test]
    fn source_records_keep_their_checksum_in_front() {
        let (_dir, db) = database();
        let mut packers = Packers::default();
        let record = |id: u64| format!(r#"{{"id":{id},"name":"Lead {id}","stage_id":[1,"New"]}}"#);
        let key = |id: u64| format!("crm.lead/{id}");
        let txn = db.begin_write().expect("write");
        {
            let mut packer = packers.packer(&txn, Corpus::Sources).expect("packer");
            let mut records = txn.open_table(SOURCE_RECORDS).expect("records");
            let mut stored = Vec::new();
            for id in 1..=FIRST_TRAINING_AT {
                packer
                    .pack(&id.to_le_bytes(), record(id).as_bytes(), &mut stored)
                    .expect("packs");
                records
                    .insert(key(id).as_str(), stored.as_slice())
                    .expect("inserts");
            }
        }
        assert!(packers.train_if_due(&txn, Corpus::Sources).expect("trains"));
        txn.commit().expect("commits");
        let read = db.begin_read().expect("read");
        let records = read.open_table(SOURCE_RECORDS).expect("records");
        for id in [1, 777, FIRST_TRAINING_AT] {
            let stored = records
                .get(key(id).as_str())
                .expect("get")
                .expect("held")
                .value()
                .to_vec();
            assert_eq!(stored[..8], id.to_le_bytes(), "the checksum of {id}");
            assert_eq!(stored[8], COMPRESSED);
            assert_eq!(
                unpacked(&db, &stored, Corpus::Sources),
                Ok(record(id).into_bytes())
            );
        }
    }
}
