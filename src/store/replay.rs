//! Replaying the log: loading the read model, `rebuild` (fresh views swapped in atomically) and
//! `verify` (fresh views compared with the live ones).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use redb::{ReadOnlyTable, ReadTransaction, ReadableTableMetadata, WriteTransaction};
use serde::Serialize;

use crate::domain::EventEnvelope;
use crate::projections::{ReadModel, RowKey, VIEW_SCHEMA_VERSION, ViewRow, ViewTable};

use super::codec;
use super::read::{EventReader, for_each_row, unpack_event};
use super::tables::{EVENTS, Generation, META, META_VIEW_SCHEMA, ViewDefinition, view_definition};
use super::{Snapshot, Store, StoreError, snapshot, write_checkpoints, write_rows};

/// How often replay reports progress, in events.
const PROGRESS_EVERY: u64 = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct ReplayProgress {
    pub events_done: u64,
    pub events_total: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub events: u64,
    pub rows: u64,
    pub replay_seconds: f64,
    pub total_seconds: f64,
}

impl RebuildReport {
    pub fn events_per_second(&self) -> f64 {
        if self.total_seconds > 0.0 {
            self.events as f64 / self.total_seconds
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// The replay produced a row the live view lacks.
    Missing,
    /// The live view has a row the replay did not produce.
    Unexpected,
    /// Both have the row, with different content.
    Differs,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDifference {
    pub field: String,
    pub live: serde_json::Value,
    pub expected: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewDifference {
    pub view: &'static str,
    pub key: String,
    pub kind: DifferenceKind,
    pub fields: Vec<FieldDifference>,
}

impl fmt::Display for ViewDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DifferenceKind::Missing => {
                write!(f, "{} {}: missing from the live view", self.view, self.key)
            }
            DifferenceKind::Unexpected => write!(
                f,
                "{} {}: in the live view but not in the log",
                self.view, self.key
            ),
            DifferenceKind::Differs => {
                write!(f, "{} {}: differs", self.view, self.key)?;
                for field in &self.fields {
                    write!(
                        f,
                        "\n    {}: live {} , expected {}",
                        field.field, field.live, field.expected
                    )?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub events: u64,
    pub rows_checked: u64,
    pub differences: Vec<ViewDifference>,
    /// Checkpoints, counters and schema markers that disagree with the log.
    pub problems: Vec<String>,
    /// What was found of the writer's model snapshot; `None` when the file has none.
    pub model_snapshot: Option<ModelSnapshotCheck>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelSnapshotCheck {
    /// The position it was taken at, when it is usable.
    pub position: Option<u64>,
    pub outcome: String,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty() && self.problems.is_empty()
    }
}

/// Events decoded per message between the reading and the folding thread.
const DECODE_CHUNK: usize = 2_048;

/// Folds the whole log into a fresh read model (not yet settled), counting events by type.
///
/// Reading and JSON decoding run on a second thread while this one applies the events: decoding
/// is a third of the work, and the fold itself must stay sequential.
pub(super) fn fold_counting(
    txn: &ReadTransaction,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<(ReadModel, BTreeMap<String, u64>), StoreError> {
    fold_onto(txn, ReadModel::for_replay(), 1, progress)
}

/// Folds the log from position `from` on into `model` (one folding a replay), counting the
/// events folded by type.
fn fold_onto(
    txn: &ReadTransaction,
    mut model: ReadModel,
    from: u64,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<(ReadModel, BTreeMap<String, u64>), StoreError> {
    let started = Instant::now();
    let mut counts: HashMap<&'static str, u64> = HashMap::new();
    let events = match txn.open_table(EVENTS) {
        Ok(events) => events,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok((model, BTreeMap::new())),
        Err(other) => return Err(other.into()),
    };
    let mut unpacker = codec::reading(txn, None)?;
    let total = events.len()?.saturating_sub(from.saturating_sub(1));
    let mut done = 0u64;
    let (sender, receiver) =
        std::sync::mpsc::sync_channel::<Result<Vec<EventEnvelope>, StoreError>>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            if let Err(error) = decode_in_chunks(&events, &mut unpacker, from, &sender) {
                // The folding side stops at the first error; if it is gone, so is the need to say it.
                let _ = sender.send(Err(error));
            }
        });
        for chunk in receiver {
            for envelope in chunk? {
                *counts.entry(envelope.event.type_name()).or_default() += 1;
                model.apply(&envelope);
                done += 1;
                if done.is_multiple_of(PROGRESS_EVERY) {
                    progress(ReplayProgress {
                        events_done: done,
                        events_total: total,
                        elapsed: started.elapsed(),
                    });
                }
            }
        }
        Ok::<(), StoreError>(())
    })?;
    progress(ReplayProgress {
        events_done: done,
        events_total: total,
        elapsed: started.elapsed(),
    });
    let counts = counts
        .into_iter()
        .map(|(name, count)| (name.to_string(), count))
        .collect();
    Ok((model, counts))
}

fn decode_in_chunks(
    events: &ReadOnlyTable<u64, &[u8]>,
    unpacker: &mut EventReader<'_>,
    from: u64,
    sender: &SyncSender<Result<Vec<EventEnvelope>, StoreError>>,
) -> Result<(), StoreError> {
    let mut chunk = Vec::with_capacity(DECODE_CHUNK);
    for (expected_position, entry) in (from..).zip(events.range(from..)?) {
        let (position, bytes) = entry?;
        let position = position.value();
        if position != expected_position {
            return Err(StoreError::CorruptEvent {
                position,
                reason: format!("the log has a gap: expected position {expected_position}"),
            });
        }
        chunk.push(unpack_event(unpacker, position, bytes.value())?);
        if chunk.len() == DECODE_CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(DECODE_CHUNK));
            if sender.send(Ok(full)).is_err() {
                return Ok(());
            }
        }
    }
    if !chunk.is_empty() {
        let _ = sender.send(Ok(chunk));
    }
    Ok(())
}

pub(super) fn fold(
    txn: &ReadTransaction,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<ReadModel, StoreError> {
    fold_counting(txn, progress).map(|(model, _)| model)
}

/// The writer's model, finished: from the model snapshot and the events after it when the file
/// has a usable one, else by replaying the whole log. Also says the snapshot's position (0 for
/// none).
pub(super) fn load(
    txn: &ReadTransaction,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<(ReadModel, u64), StoreError> {
    let (mut model, snapshot_at) = match resume_from_snapshot(txn, progress)? {
        Some(resumed) => resumed,
        None => (fold_onto(txn, ReadModel::for_loading(), 1, progress)?.0, 0),
    };
    model.finish_fold();
    model.release_timelines();
    Ok((model, snapshot_at))
}

/// The snapshot's model with the events after it folded in (not finished), and its position;
/// `None` when there is no usable snapshot (the reason is logged).
fn resume_from_snapshot(
    txn: &ReadTransaction,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<Option<(ReadModel, u64)>, StoreError> {
    let (position, bytes) = match snapshot::find(txn)? {
        snapshot::Found::None => return Ok(None),
        snapshot::Found::Discarded { reason } => {
            tracing::info!(%reason, "the model snapshot is not used: replaying the whole log");
            return Ok(None);
        }
        snapshot::Found::Usable { position } => (position, snapshot::model_bytes(txn)?),
    };
    let model = match ReadModel::replay_from_snapshot(&bytes) {
        Ok(model) if model.last_position() == position => model,
        Ok(model) => {
            tracing::warn!(
                position,
                model_position = model.last_position(),
                "the model snapshot disagrees with its header: replaying the whole log"
            );
            return Ok(None);
        }
        Err(error) => {
            tracing::warn!(%error, "replaying the whole log");
            return Ok(None);
        }
    };
    let (model, _) = fold_onto(txn, model, position + 1, progress)?;
    Ok(Some((model, position)))
}

/// Fills fresh copies of every view table with `rows`, then swaps them in for the live ones, all in
/// `txn`: readers see the old views until it commits.
pub(super) fn replace_views(
    txn: &WriteTransaction,
    rows: &[ViewRow],
    position: u64,
    packers: &mut codec::Packers,
) -> Result<(), StoreError> {
    for table in ViewTable::ALL {
        match view_definition(table, Generation::Rebuild) {
            ViewDefinition::ById(next) => {
                txn.delete_table(next)?;
                drop(txn.open_table(next)?);
            }
            ViewDefinition::ByName(next) => {
                txn.delete_table(next)?;
                drop(txn.open_table(next)?);
            }
        }
    }
    write_rows(txn, rows, Generation::Rebuild, packers)?;
    for table in ViewTable::ALL {
        match (
            view_definition(table, Generation::Live),
            view_definition(table, Generation::Rebuild),
        ) {
            (ViewDefinition::ById(live), ViewDefinition::ById(next)) => {
                txn.delete_table(live)?;
                txn.rename_table(next, live)?;
            }
            (ViewDefinition::ByName(live), ViewDefinition::ByName(next)) => {
                txn.delete_table(live)?;
                txn.rename_table(next, live)?;
            }
            _ => unreachable!("invariant: both generations of a view share its key type"),
        }
    }
    let mut meta = txn.open_table(META)?;
    let version = VIEW_SCHEMA_VERSION.to_string();
    meta.insert(META_VIEW_SCHEMA, version.as_str())?;
    drop(meta);
    // The facts tables were swapped, whatever rows came with them.
    super::bump_facts_generation(txn)?;
    for corpus in codec::Corpus::VIEWS {
        packers.train_if_due(txn, corpus)?;
    }
    write_checkpoints(txn, position)
}

impl Store {
    /// Replays the whole log into fresh view tables and swaps them in atomically. Appends wait until
    /// it is done; readers keep the old views until the swap.
    pub fn rebuild(
        &self,
        progress: &mut dyn FnMut(ReplayProgress),
    ) -> Result<RebuildReport, StoreError> {
        let mut writer = self.lock_writer()?;
        let started = Instant::now();
        let snapshot = self.begin_read()?;
        let mut model = fold(&snapshot, progress)?;
        let rows = model.finish_replay_releasing_timelines();
        let replay_seconds = started.elapsed().as_secs_f64();
        self.guarded(&mut writer, |writer| {
            let txn = self.begin_write()?;
            replace_views(&txn, &rows, model.last_position(), &mut writer.packers)?;
            if let Some(event_id) = snapshot::event_id_in(&txn, model.last_position())? {
                snapshot::write(&txn, &model, event_id)?;
            }
            txn.commit()?;
            Ok(())
        })?;
        writer.snapshot_at = model.last_position();
        let report = RebuildReport {
            events: model.last_position(),
            rows: rows.len() as u64,
            replay_seconds,
            total_seconds: started.elapsed().as_secs_f64(),
        };
        model.release_timelines();
        writer.model = Some(model);
        drop((writer, snapshot));
        // The old views' pages are all free now.
        self.give_back_free_pages();
        Ok(report)
    }
}

/// Replays the log of `snapshot` into scratch state and compares it with its views, row by row.
pub(super) fn verify(
    snapshot: &Snapshot,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<VerifyReport, StoreError> {
    let (mut model, counts) = fold_counting(snapshot.txn(), progress)?;
    let expected = model.finish_replay_releasing_timelines();
    let position = model.last_position();
    let mut report = VerifyReport {
        events: position,
        rows_checked: 0,
        differences: Vec::new(),
        problems: Vec::new(),
        model_snapshot: None,
    };
    verify_model_snapshot(snapshot.txn(), &model, &mut report)?;
    for table in ViewTable::ALL {
        // `expected` is sorted by table, then key.
        let first = expected.partition_point(|row| row.table < table);
        let end = expected.partition_point(|row| row.table <= table);
        let wanted: Vec<(&RowKey, &[u8])> = expected[first..end]
            .iter()
            .filter_map(|row| Some((&row.key, row.value.as_deref()?)))
            .collect();
        let live_rows = compare_table(snapshot.txn(), table, &wanted, &mut report.differences)?;
        report.rows_checked += live_rows.max(wanted.len() as u64);
    }
    if snapshot.view_schema()? != Some(VIEW_SCHEMA_VERSION) {
        report.problems.push(format!(
            "view schema is not {VIEW_SCHEMA_VERSION}: run pipelog rebuild"
        ));
    }
    for (projection, checkpoint) in snapshot.checkpoints()? {
        if checkpoint != position {
            report.problems.push(format!(
                "checkpoint of {projection} is {checkpoint}, the log ends at {position}"
            ));
        }
    }
    let stored_counts = snapshot.events_by_type()?;
    if stored_counts != counts {
        report.problems.push(format!(
            "event counts by type disagree with the log: stored {stored_counts:?}, counted {counts:?}"
        ));
    }
    Ok(report)
}

/// Checks that the model snapshot, with the events after it, gives the replayed `model`.
fn verify_model_snapshot(
    txn: &ReadTransaction,
    model: &ReadModel,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    let (position, bytes) = match snapshot::find(txn)? {
        snapshot::Found::None => return Ok(()),
        snapshot::Found::Discarded { reason } => {
            report.model_snapshot = Some(ModelSnapshotCheck {
                position: None,
                outcome: format!("not used ({reason}): the next start replays the whole log"),
            });
            return Ok(());
        }
        snapshot::Found::Usable { position } => (position, snapshot::model_bytes(txn)?),
    };
    let mismatch = |what: String| {
        format!(
            "the model snapshot at position {position} {what}: run pipelog rebuild to write it again"
        )
    };
    let problem = match ReadModel::replay_from_snapshot(&bytes) {
        Err(error) => Some(mismatch(format!("cannot be read ({error})"))),
        Ok(resumed) => {
            let (mut resumed, _) = fold_onto(txn, resumed, position + 1, &mut |_| {})?;
            resumed.finish_fold();
            let same = ReadModel::same_snapshot(&resumed.snapshot(), &model.snapshot())
                .map_err(|error| StoreError::Encode(error.to_string()))?;
            (!same).then(|| mismatch("and the log after it differ from a replay".into()))
        }
    };
    report.model_snapshot = Some(ModelSnapshotCheck {
        position: Some(position),
        outcome: match &problem {
            Some(_) => "differs from a replay".into(),
            None => "matches a replay".into(),
        },
    });
    report.problems.extend(problem);
    Ok(())
}

/// Compares the live rows of `table`, read one at a time in key order, with the `wanted` rows (in
/// the same order), adding what differs to `differences`; returns how many live rows it read.
fn compare_table(
    txn: &ReadTransaction,
    table: ViewTable,
    wanted: &[(&RowKey, &[u8])],
    differences: &mut Vec<ViewDifference>,
) -> Result<u64, StoreError> {
    let difference = |key: &RowKey, kind, fields| ViewDifference {
        view: table.name(),
        key: key.to_string(),
        kind,
        fields,
    };
    let mut next = 0;
    let mut live_rows = 0;
    for_each_row(txn, table, Generation::Live, |key, live| {
        live_rows += 1;
        while let Some(&(missing, _)) = wanted.get(next).filter(|(wanted, _)| **wanted < key) {
            differences.push(difference(missing, DifferenceKind::Missing, Vec::new()));
            next += 1;
        }
        match wanted.get(next) {
            Some(&(wanted_key, wanted_bytes)) if *wanted_key == key => {
                if live != wanted_bytes {
                    let fields = field_differences(table, &live, wanted_bytes);
                    differences.push(difference(&key, DifferenceKind::Differs, fields));
                }
                next += 1;
            }
            _ => differences.push(difference(&key, DifferenceKind::Unexpected, Vec::new())),
        }
        Ok(())
    })?;
    for &(missing, _) in &wanted[next..] {
        differences.push(difference(missing, DifferenceKind::Missing, Vec::new()));
    }
    Ok(live_rows)
}

fn field_differences(table: ViewTable, live: &[u8], wanted: &[u8]) -> Vec<FieldDifference> {
    let undecodable =
        |error: postcard::Error| serde_json::Value::String(format!("<unreadable: {error}>"));
    let live = table.decode_json(live).unwrap_or_else(undecodable);
    let wanted = table.decode_json(wanted).unwrap_or_else(undecodable);
    let mut found = Vec::new();
    json_differences("", &live, &wanted, &mut found);
    found
}

fn json_differences(
    path: &str,
    live: &serde_json::Value,
    wanted: &serde_json::Value,
    found: &mut Vec<FieldDifference>,
) {
    use serde_json::Value;
    match (live, wanted) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                json_differences(
                    &child,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    found,
                );
            }
        }
        _ if live != wanted => found.push(FieldDifference {
            field: if path.is_empty() {
                "(row)".into()
            } else {
                path.to_string()
            },
            live: live.clone(),
            expected: wanted.clone(),
        }),
        _ => {}
    }
}
