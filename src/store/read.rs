//! Reading: a snapshot of the log and the views, consistent with itself while writes go on.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, TableError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{EventEnvelope, OdooId};
use crate::projections::history::{Timeline, TimelineSet};
use crate::projections::{
    AccessView, EVERYTHING, LoginView, MetricsView, OpportunityFact, OpportunityView, PROJECTIONS,
    RowKey, SYNC_STATUS_KEY, SyncStatusView, UserProfileView, VIEW_SCHEMA_VERSION, ViewTable,
    decode,
};

use super::StoreError;
use super::aggregates::AggregateRow;
use super::codec::{self, Corpus, Dictionaries};
use super::tables::{
    CHECKPOINTS, EVENT_TYPE_COUNTS, EVENTS, Generation, META, META_FACTS_GENERATION,
    META_VIEW_SCHEMA, SOURCE_RECORDS, SYNC_CURSORS, ViewDefinition, view_definition,
};

pub struct Snapshot {
    pub(super) txn: ReadTransaction,
    facts: Option<Arc<FactsCache>>,
    dictionaries: Arc<Dictionaries>,
}

/// Rows of one generation of the opportunity data, decoded once and shared: every list, search,
/// narrowed dashboard and history question reads all of them, and between two writes they are
/// the same.
pub struct Decoded<T>(Mutex<Option<(u64, Arc<T>)>>);

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Decoded(Mutex::new(None))
    }
}

impl<T> Decoded<T> {
    fn get(&self, generation: u64) -> Option<Arc<T>> {
        let cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|(held, _)| *held == generation)
            .map(|(_, value)| value.clone())
    }

    fn keep(&self, generation: u64, value: Arc<T>) {
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // An older snapshot read late must not push out a newer generation.
        if cached.as_ref().is_none_or(|(held, _)| *held <= generation) {
            *cached = Some((generation, value));
        }
    }
}

/// What snapshots of one store share: the opportunity facts and the deals' time lines.
#[derive(Default)]
pub struct FactsCache {
    facts: Decoded<Vec<OpportunityFact>>,
    timelines: Decoded<TimelineSet>,
}

/// What `pipelog status --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub events: u64,
    pub events_by_type: BTreeMap<String, u64>,
    pub last_position: u64,
    /// Records of type opportunity (leads are not counted).
    pub opportunities: u64,
    pub leads: u64,
    pub users: u64,
    pub logins: u64,
    pub last_sync: Option<crate::projections::SyncRunView>,
    pub last_sync_success_at: Option<jiff::Timestamp>,
    /// The position of the writer's model snapshot, when the file has a usable one: a start
    /// folds only the events after it.
    pub model_snapshot_at: Option<u64>,
}

/// Opens a table that may not exist in an old snapshot as empty.
fn missing_is_empty<T>(result: Result<T, TableError>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(table) => Ok(Some(table)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The facts generation recorded in `meta` (see `META_FACTS_GENERATION`), for readers and for
/// the write that bumps it.
pub(super) fn facts_generation_in(
    meta: &impl ReadableTable<&'static str, &'static str>,
) -> Result<u64, StoreError> {
    Ok(meta
        .get(META_FACTS_GENERATION)?
        .and_then(|value| value.value().parse().ok())
        .unwrap_or(0))
}

impl Snapshot {
    pub(super) fn new(txn: ReadTransaction) -> Self {
        Snapshot {
            txn,
            facts: None,
            dictionaries: Arc::default(),
        }
    }

    /// A snapshot that shares decoded facts and compression dictionaries with others.
    pub(super) fn sharing(
        txn: ReadTransaction,
        cache: Arc<FactsCache>,
        dictionaries: Arc<Dictionaries>,
    ) -> Self {
        Snapshot {
            txn,
            facts: Some(cache),
            dictionaries,
        }
    }

    fn unpacker(&self) -> Result<EventReader<'_>, StoreError> {
        codec::reading(&self.txn, Some(&self.dictionaries))
    }

    /// Which generation of the opportunity facts this snapshot holds (0 before any was written).
    fn facts_generation(&self) -> Result<u64, StoreError> {
        match missing_is_empty(self.txn.open_table(META))? {
            Some(meta) => facts_generation_in(&meta),
            None => Ok(0),
        }
    }

    pub(super) fn txn(&self) -> &ReadTransaction {
        &self.txn
    }

    pub fn last_position(&self) -> Result<u64, StoreError> {
        let Some(events) = missing_is_empty(self.txn.open_table(EVENTS))? else {
            return Ok(0);
        };
        Ok(events.last()?.map(|(key, _)| key.value()).unwrap_or(0))
    }

    pub fn event_count(&self) -> Result<u64, StoreError> {
        let Some(events) = missing_is_empty(self.txn.open_table(EVENTS))? else {
            return Ok(0);
        };
        Ok(events.len()?)
    }

    pub fn events_by_type(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut by_type = BTreeMap::new();
        if let Some(counts) = missing_is_empty(self.txn.open_table(EVENT_TYPE_COUNTS))? {
            for entry in counts.iter()? {
                let (name, count) = entry?;
                by_type.insert(name.value().to_string(), count.value());
            }
        }
        Ok(by_type)
    }

    /// Up to `limit` events after `after`, oldest first.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<EventEnvelope>, StoreError> {
        let Some(events) = missing_is_empty(self.txn.open_table(EVENTS))? else {
            return Ok(Vec::new());
        };
        let mut unpacker = self.unpacker()?;
        let mut found = Vec::new();
        for entry in events.range(after.saturating_add(1)..)?.take(limit) {
            let (position, bytes) = entry?;
            found.push(unpack_event(
                &mut unpacker,
                position.value(),
                bytes.value(),
            )?);
        }
        Ok(found)
    }

    pub fn format_version(&self) -> Result<Option<u32>, StoreError> {
        let Some(meta) = missing_is_empty(self.txn.open_table(META))? else {
            return Ok(None);
        };
        Ok(meta
            .get(super::tables::META_FORMAT_VERSION)?
            .and_then(|v| v.value().parse().ok()))
    }

    /// Every event of one aggregate (e.g. `opportunity/42`), oldest first.
    pub fn aggregate_events(&self, aggregate: &str) -> Result<Vec<EventEnvelope>, StoreError> {
        let Some(row) = self.aggregate(aggregate)? else {
            return Ok(Vec::new());
        };
        let Some(events) = missing_is_empty(self.txn.open_table(EVENTS))? else {
            return Ok(Vec::new());
        };
        let mut unpacker = self.unpacker()?;
        let mut found = Vec::new();
        for position in row.positions {
            if let Some(bytes) = events.get(position)? {
                found.push(unpack_event(&mut unpacker, position, bytes.value())?);
            }
        }
        Ok(found)
    }

    /// The outcome first returned for a command id, if that command was seen, and the fingerprint
    /// of the request it answered.
    pub fn command(&self, command_id: &str) -> Result<Option<super::StoredCommand>, StoreError> {
        let Some(table) = missing_is_empty(self.txn.open_table(super::tables::COMMANDS))? else {
            return Ok(None);
        };
        let Some(stored) = table.get(command_id)? else {
            return Ok(None);
        };
        let mut stored = super::StoredCommand::decode(command_id, stored.value())?;
        stored.appended.replayed = true;
        Ok(Some(stored))
    }

    /// An aggregate's current version (`kind/id`), 0 when it has no events.
    pub fn aggregate_version(&self, aggregate: &str) -> Result<u64, StoreError> {
        Ok(self.aggregate(aggregate)?.map_or(0, |row| row.version))
    }

    fn aggregate(&self, aggregate: &str) -> Result<Option<AggregateRow>, StoreError> {
        let Some(table) = missing_is_empty(self.txn.open_table(super::tables::AGGREGATES))? else {
            return Ok(None);
        };
        let Some(stored) = table.get(aggregate)? else {
            return Ok(None);
        };
        AggregateRow::decode(stored.value())
            .map(Some)
            .map_err(|reason| StoreError::Damaged(format!("aggregate {aggregate}: {reason}")))
    }

    pub fn view_schema(&self) -> Result<Option<u32>, StoreError> {
        view_schema_in(&self.txn)
    }

    pub fn checkpoints(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut found = BTreeMap::new();
        if let Some(table) = missing_is_empty(self.txn.open_table(CHECKPOINTS))? {
            for entry in table.iter()? {
                let (name, position) = entry?;
                found.insert(name.value().to_string(), position.value());
            }
        }
        Ok(found)
    }

    /// Whether every projection's checkpoint is at `position`.
    pub fn checkpoints_at(&self, position: u64) -> Result<bool, StoreError> {
        let found = self.checkpoints()?;
        Ok(PROJECTIONS
            .iter()
            .all(|name| found.get(*name) == Some(&position)))
    }

    /// Stored checksums of source records, by key (`model/id`); `None` for records not held.
    pub fn source_checksums(&self, keys: &[String]) -> Result<Vec<Option<u64>>, StoreError> {
        let Some(table) = missing_is_empty(self.txn.open_table(SOURCE_RECORDS))? else {
            return Ok(vec![None; keys.len()]);
        };
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            let checksum = table.get(key.as_str())?.and_then(|v| {
                let bytes: [u8; 8] = v.value().get(..8)?.try_into().ok()?;
                Some(u64::from_le_bytes(bytes))
            });
            found.push(checksum);
        }
        Ok(found)
    }

    /// The raw JSON of one source record.
    pub fn source_record(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(table) = missing_is_empty(self.txn.open_table(SOURCE_RECORDS))? else {
            return Ok(None);
        };
        let Some(stored) = table.get(key)? else {
            return Ok(None);
        };
        let json = self
            .unpacker()?
            .json(Corpus::Sources, stored.value())
            .map_err(|reason| StoreError::Damaged(format!("source record {key}: {reason}")))?;
        Ok(Some(json.into_owned()))
    }

    pub fn credential(&self, email: &str) -> Result<Option<String>, StoreError> {
        let Some(table) = missing_is_empty(self.txn.open_table(super::tables::CREDENTIALS))? else {
            return Ok(None);
        };
        Ok(table.get(email)?.map(|v| v.value().to_string()))
    }

    pub fn session(&self, token_hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(table) = missing_is_empty(self.txn.open_table(super::tables::SESSIONS))? else {
            return Ok(None);
        };
        Ok(table.get(token_hash)?.map(|v| v.value().to_vec()))
    }

    pub fn sync_cursor(&self, model: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(table) = missing_is_empty(self.txn.open_table(SYNC_CURSORS))? else {
            return Ok(None);
        };
        Ok(table.get(model)?.map(|v| v.value().to_vec()))
    }

    /// The bytes of one view row, as its projection rendered them.
    pub fn row(&self, table: ViewTable, key: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(stored) = self.stored_row(table, key)? else {
            return Ok(None);
        };
        match stored_corpus(&self.txn, table, Generation::Live)? {
            Some(corpus) => {
                unpack_row(&mut self.unpacker()?, corpus, table, key, &stored).map(Some)
            }
            None => Ok(Some(stored)),
        }
    }

    fn stored_row(&self, table: ViewTable, key: &RowKey) -> Result<Option<Vec<u8>>, StoreError> {
        match (view_definition(table, Generation::Live), key) {
            (ViewDefinition::ById(definition), RowKey::Id(id)) => {
                let Some(open) = missing_is_empty(self.txn.open_table(definition))? else {
                    return Ok(None);
                };
                Ok(open.get(*id)?.map(|v| v.value().to_vec()))
            }
            (ViewDefinition::ByName(definition), RowKey::Name(name)) => {
                let Some(open) = missing_is_empty(self.txn.open_table(definition))? else {
                    return Ok(None);
                };
                Ok(open.get(name.as_str())?.map(|v| v.value().to_vec()))
            }
            _ => Ok(None),
        }
    }

    fn view<T: DeserializeOwned>(
        &self,
        table: ViewTable,
        key: RowKey,
    ) -> Result<Option<T>, StoreError> {
        let Some(bytes) = self.row(table, &key)? else {
            return Ok(None);
        };
        decode_row(table, &key, &bytes).map(Some)
    }

    /// Every row of a view, decoded, in key order.
    pub fn views<T: DeserializeOwned>(&self, table: ViewTable) -> Result<Vec<T>, StoreError> {
        self.rows(table)?
            .into_iter()
            .map(|(key, bytes)| decode_row(table, &key, &bytes))
            .collect()
    }

    pub fn profile(&self, user: OdooId) -> Result<Option<UserProfileView>, StoreError> {
        self.view(ViewTable::UserProfiles, RowKey::Id(user))
    }

    pub fn opportunity(&self, id: OdooId) -> Result<Option<OpportunityView>, StoreError> {
        self.view(ViewTable::Opportunities, RowKey::Id(id))
    }

    /// Every opportunity's compact facts, in id order; decoded once per generation when the
    /// snapshot shares a cache.
    pub fn opportunity_facts(&self) -> Result<Arc<Vec<OpportunityFact>>, StoreError> {
        self.shared(|cache| &cache.facts, || self.decode_opportunity_facts())
    }

    /// Every deal's time line (deleted deals included), in id order; shared like the facts.
    pub fn timelines(&self) -> Result<Arc<TimelineSet>, StoreError> {
        self.shared(
            |cache| &cache.timelines,
            || {
                self.views::<Timeline>(ViewTable::OpportunityHistory)
                    .map(TimelineSet::new)
            },
        )
    }

    /// The decoded rows of this snapshot's generation: from the cache when it holds them.
    fn shared<T>(
        &self,
        slot: impl Fn(&FactsCache) -> &Decoded<T>,
        decode: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<Arc<T>, StoreError> {
        let generation = match &self.facts {
            Some(cache) => {
                let generation = self.facts_generation()?;
                if let Some(value) = slot(cache).get(generation) {
                    return Ok(value);
                }
                Some((cache, generation))
            }
            None => None,
        };
        let value = Arc::new(decode()?);
        if let Some((cache, generation)) = generation {
            slot(cache).keep(generation, value.clone());
        }
        Ok(value)
    }

    /// The Odoo users pipelog holds, in id order.
    pub fn user_ids(&self) -> Result<Vec<OdooId>, StoreError> {
        let ViewDefinition::ById(definition) =
            view_definition(ViewTable::UserProfiles, Generation::Live)
        else {
            return Ok(Vec::new());
        };
        let Some(open) = missing_is_empty(self.txn.open_table(definition))? else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::with_capacity(open.len()? as usize);
        for entry in open.iter()? {
            ids.push(entry?.0.value());
        }
        Ok(ids)
    }

    pub fn timeline(&self, id: OdooId) -> Result<Option<Timeline>, StoreError> {
        self.view(ViewTable::OpportunityHistory, RowKey::Id(id))
    }

    fn decode_opportunity_facts(&self) -> Result<Vec<OpportunityFact>, StoreError> {
        let table = ViewTable::OpportunityFacts;
        let ViewDefinition::ById(definition) = view_definition(table, Generation::Live) else {
            return Ok(Vec::new());
        };
        let Some(open) = missing_is_empty(self.txn.open_table(definition))? else {
            return Ok(Vec::new());
        };
        let mut facts = Vec::with_capacity(open.len()? as usize);
        for entry in open.iter()? {
            let (key, value) = entry?;
            facts.push(decode_row(table, &RowKey::Id(key.value()), value.value())?);
        }
        Ok(facts)
    }

    /// The full views of `ids`, in that order; ids without one are left out.
    pub fn opportunities(&self, ids: &[OdooId]) -> Result<Vec<OpportunityView>, StoreError> {
        let table = ViewTable::Opportunities;
        let ViewDefinition::ById(definition) = view_definition(table, Generation::Live) else {
            return Ok(Vec::new());
        };
        let Some(open) = missing_is_empty(self.txn.open_table(definition))? else {
            return Ok(Vec::new());
        };
        let corpus = stored_corpus(&self.txn, table, Generation::Live)?;
        let mut unpacker = self.unpacker()?;
        let mut views = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(value) = open.get(id)? else {
                continue;
            };
            let key = RowKey::Id(id);
            let rendered = match corpus {
                Some(corpus) => Cow::Owned(unpack_row(
                    &mut unpacker,
                    corpus,
                    table,
                    &key,
                    value.value(),
                )?),
                None => Cow::Borrowed(value.value()),
            };
            views.push(decode_row(table, &key, &rendered)?);
        }
        Ok(views)
    }

    pub fn access(&self, user: OdooId) -> Result<Option<AccessView>, StoreError> {
        self.view(ViewTable::UserAccess, RowKey::Id(user))
    }

    /// Dashboard figures of one user, or of everything with [`EVERYTHING`].
    pub fn metrics(&self, user: OdooId) -> Result<Option<MetricsView>, StoreError> {
        self.view(ViewTable::DashboardMetrics, RowKey::Id(user))
    }

    pub fn login(&self, email: &str) -> Result<Option<LoginView>, StoreError> {
        self.view(
            ViewTable::Logins,
            RowKey::Name(crate::domain::normalize_email(email)),
        )
    }

    /// Every stage, in pipeline order (sequence, then id).
    pub fn stages(&self) -> Result<Vec<crate::projections::StageRef>, StoreError> {
        let mut stages: Vec<crate::projections::StageRef> = self.views(ViewTable::Stages)?;
        stages.sort_by_key(|s| (s.sequence, s.id));
        Ok(stages)
    }

    /// Every sales team, by name.
    pub fn teams(&self) -> Result<Vec<crate::projections::NamedRef>, StoreError> {
        let mut teams: Vec<crate::projections::NamedRef> = self.views(ViewTable::Teams)?;
        teams.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(teams)
    }

    pub fn sync_status(&self) -> Result<SyncStatusView, StoreError> {
        Ok(self
            .view(ViewTable::SyncStatus, RowKey::Name(SYNC_STATUS_KEY.into()))?
            .unwrap_or_default())
    }

    /// Every row of a live view table, in key order.
    pub fn rows(&self, table: ViewTable) -> Result<Vec<(RowKey, Vec<u8>)>, StoreError> {
        table_rows(&self.txn, table, Generation::Live)
    }

    pub fn row_count(&self, table: ViewTable) -> Result<u64, StoreError> {
        Ok(match view_definition(table, Generation::Live) {
            ViewDefinition::ById(d) => missing_is_empty(self.txn.open_table(d))?
                .map(|t| t.len())
                .transpose()?,
            ViewDefinition::ByName(d) => missing_is_empty(self.txn.open_table(d))?
                .map(|t| t.len())
                .transpose()?,
        }
        .unwrap_or(0))
    }

    pub fn status(&self) -> Result<StatusReport, StoreError> {
        let everything = self.metrics(EVERYTHING)?;
        let opportunities = everything
            .map(|m| {
                m.visible
                    .by_currency
                    .values()
                    .map(|t| t.deal_count())
                    .sum::<i64>()
            })
            .unwrap_or(0)
            .max(0) as u64;
        let all_records = self.row_count(ViewTable::Opportunities)?;
        let sync = self.sync_status()?;
        Ok(StatusReport {
            events: self.event_count()?,
            events_by_type: self.events_by_type()?,
            last_position: self.last_position()?,
            opportunities,
            leads: all_records.saturating_sub(opportunities),
            users: self.row_count(ViewTable::UserProfiles)?,
            logins: self.row_count(ViewTable::Logins)?,
            last_sync_success_at: sync.last_success_at,
            last_sync: sync.recent_runs.into_iter().next(),
            model_snapshot_at: match super::snapshot::find(&self.txn)? {
                super::snapshot::Found::Usable { position } => Some(position),
                _ => None,
            },
        })
    }
}

fn decode_row<T: DeserializeOwned>(
    table: ViewTable,
    key: &RowKey,
    bytes: &[u8],
) -> Result<T, StoreError> {
    decode(bytes).map_err(|error| StoreError::CorruptView {
        table: table.name(),
        key: key.to_string(),
        reason: error.to_string(),
    })
}

/// The corpus a view's rows are stored in (see [`Corpus::of_view`]), if they are compressed. The
/// copies a rebuild fills are always of this build's schema.
fn stored_corpus(
    txn: &ReadTransaction,
    table: ViewTable,
    generation: Generation,
) -> Result<Option<Corpus>, StoreError> {
    if Corpus::of_view(table, VIEW_SCHEMA_VERSION).is_none() {
        return Ok(None);
    }
    let schema = match generation {
        Generation::Rebuild => VIEW_SCHEMA_VERSION,
        Generation::Live => view_schema_in(txn)?.unwrap_or(0),
    };
    Ok(Corpus::of_view(table, schema))
}

/// The view schema the live views of `txn` were written with.
fn view_schema_in(txn: &ReadTransaction) -> Result<Option<u32>, StoreError> {
    let Some(meta) = missing_is_empty(txn.open_table(META))? else {
        return Ok(None);
    };
    Ok(meta
        .get(META_VIEW_SCHEMA)?
        .and_then(|v| v.value().parse().ok()))
}

fn unpack_row<T: ReadableTable<u32, &'static [u8]>>(
    unpacker: &mut codec::Unpacker<'_, T>,
    corpus: Corpus,
    table: ViewTable,
    key: &RowKey,
    stored: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let unpacked = unpacker
        .json(corpus, stored)
        .map_err(|reason| StoreError::CorruptView {
            table: table.name(),
            key: key.to_string(),
            reason,
        })?;
    Ok(unpacked.into_owned())
}

/// Every row of one generation of a view, as its projection rendered them, in key order.
pub(super) fn table_rows(
    txn: &ReadTransaction,
    table: ViewTable,
    generation: Generation,
) -> Result<Vec<(RowKey, Vec<u8>)>, StoreError> {
    let mut rows = Vec::new();
    for_each_row(txn, table, generation, |key, bytes| {
        rows.push((key, bytes));
        Ok(())
    })?;
    Ok(rows)
}

/// Hands every row of one generation of a view to `visit`, as its projection rendered them, in
/// key order, one at a time: a table's rows are never all in memory at once.
pub(super) fn for_each_row(
    txn: &ReadTransaction,
    table: ViewTable,
    generation: Generation,
    mut visit: impl FnMut(RowKey, Vec<u8>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let corpus = stored_corpus(txn, table, generation)?;
    let mut unpacker = codec::reading(txn, None)?;
    let mut hand_over = |key: RowKey, stored: &[u8]| match corpus {
        Some(corpus) => {
            let unpacked = unpack_row(&mut unpacker, corpus, table, &key, stored)?;
            visit(key, unpacked)
        }
        None => visit(key, stored.to_vec()),
    };
    match view_definition(table, generation) {
        ViewDefinition::ById(definition) => {
            if let Some(open) = missing_is_empty(txn.open_table(definition))? {
                for entry in open.iter()? {
                    let (key, value) = entry?;
                    hand_over(RowKey::Id(key.value()), value.value())?;
                }
            }
        }
        ViewDefinition::ByName(definition) => {
            if let Some(open) = missing_is_empty(txn.open_table(definition))? {
                for entry in open.iter()? {
                    let (key, value) = entry?;
                    hand_over(RowKey::Name(key.value().to_string()), value.value())?;
                }
            }
        }
    }
    Ok(())
}

/// Reads events (and source records) of a read transaction back to JSON.
pub(super) type EventReader<'a> = codec::Unpacker<'a, redb::ReadOnlyTable<u32, &'static [u8]>>;

/// The event stored at `position`, decompressed and decoded.
pub(super) fn unpack_event<T: ReadableTable<u32, &'static [u8]>>(
    unpacker: &mut codec::Unpacker<'_, T>,
    position: u64,
    stored: &[u8],
) -> Result<EventEnvelope, StoreError> {
    let json = unpacker
        .json(Corpus::Events, stored)
        .map_err(|reason| StoreError::CorruptEvent { position, reason })?;
    decode_event(position, &json)
}

pub(super) fn decode_event(position: u64, bytes: &[u8]) -> Result<EventEnvelope, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::CorruptEvent {
        position,
        reason: error.to_string(),
    })
}
