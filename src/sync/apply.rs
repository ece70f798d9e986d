//! Fetched pages into events: checksums against the source records held, mapping, planning, and
//! one append of the events with their source records. Runs on a blocking thread while the next
//! pages are fetched; it never talks to Odoo and never awaits.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::mapping::{Lookups, SyncModel, SyncedRecord, map_record};
use super::odoo::wire;
use super::plan::plan_change;
use crate::domain::{Metadata, ModelSyncCounts, OdooId, QuarantinedRecord};
use crate::projections::ReadModel;
use crate::store::{CommandBatch, SourceRecord, SourceUpdates, Store, StoreError};

/// Records of one model as Odoo returned them.
#[derive(Debug)]
pub struct Page {
    pub model: SyncModel,
    pub records: Vec<WireRecord>,
    /// Partners asked for because opportunities refer to them; other partners are synced only
    /// while pipelog already holds them.
    pub referenced: bool,
}

/// One record as Odoo sent it: its JSON text, unparsed (a tree of values takes about four times
/// the bytes, and pages wait in queues between fetching and committing), with the few fields
/// the fetching side needs read out.
#[derive(Debug)]
pub struct WireRecord {
    raw: Box<RawValue>,
    pub id: Option<OdooId>,
    pub write_date: Option<String>,
    /// `partner_id`, for the partners a page of leads brings.
    pub partner_id: Option<OdooId>,
}

/// The fields of a record read before it is parsed whole; the others are skipped.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    write_date: Value,
    #[serde(default)]
    partner_id: Value,
}

impl WireRecord {
    pub fn new(raw: Box<RawValue>) -> WireRecord {
        let header: Option<Header> = serde_json::from_str(raw.get()).ok();
        let (id, write_date, partner_id) = match header {
            Some(header) => (
                header.id.as_u64(),
                header.write_date.as_str().map(str::to_string),
                wire::many2one_value(Some(&header.partner_id), "partner_id")
                    .ok()
                    .flatten(),
            ),
            None => (None, None, None),
        };
        WireRecord {
            raw,
            id,
            write_date,
            partner_id,
        }
    }

    /// The record parsed whole (the text is valid JSON: the page was parsed; one that is not an
    /// object is quarantined by its mapping).
    fn parse(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or(Value::Null)
    }
}

/// What applying some pages did.
#[derive(Debug, Default)]
pub struct Applied {
    pub counts: BTreeMap<&'static str, ModelSyncCounts>,
    pub quarantined: Vec<QuarantinedRecord>,
    pub events: u64,
}

/// One record on its way in.
struct Incoming {
    model: SyncModel,
    referenced: bool,
    id: Option<OdooId>,
    source: SourceRecord,
    record: Value,
}

/// Pages read and mapped, ready to be planned against the held records and committed. Preparing
/// needs no lock, so it runs while the previous batch commits.
#[derive(Default)]
pub struct Prepared {
    changed: Vec<Changed>,
    applied: Applied,
}

/// What `map_record` makes of a record: its id, the domain record, and when Odoo last wrote it.
type MappedRecord = (OdooId, SyncedRecord, Option<Timestamp>);

/// A record whose content differs from the one held (or that is new).
struct Changed {
    model: SyncModel,
    referenced: bool,
    source: SourceRecord,
    mapped: MappedRecord,
}

/// FNV-1a over the record's canonical JSON (keys sorted): cheap, stable across versions.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub fn source_key(model: SyncModel, id: OdooId) -> String {
    format!("{}/{id}", model.odoo_name())
}

/// Reads whole pages: records whose checksum did not change are dropped, the others mapped to
/// domain records (or quarantined).
pub fn prepare(store: &Store, pages: Vec<Page>, lookups: &Lookups) -> Result<Prepared, StoreError> {
    let mut prepared = Prepared::default();
    let incoming = unpack(pages, &mut prepared.applied);
    let keys: Vec<String> = incoming.iter().map(|i| i.source.key.clone()).collect();
    let stored = store.read()?.source_checksums(&keys)?;
    for (incoming, stored) in incoming.into_iter().zip(stored) {
        if incoming.id.is_some() && stored == Some(incoming.source.checksum) {
            continue;
        }
        match map_record(incoming.model, &incoming.record, lookups) {
            Ok(mapped) => prepared.changed.push(Changed {
                model: incoming.model,
                referenced: incoming.referenced,
                source: incoming.source,
                mapped,
            }),
            Err(quarantined) => {
                prepared.applied.count(incoming.model).quarantined += 1;
                prepared.applied.quarantined.push(quarantined);
            }
        }
    }
    Ok(prepared)
}

impl Prepared {
    /// Records in all: batches waiting together commit together.
    pub fn len(&self) -> usize {
        self.changed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
    }

    pub fn merge(&mut self, later: Prepared) {
        self.changed.extend(later.changed);
        for (model, counts) in later.applied.counts {
            self.applied.counts.entry(model).or_default().add(&counts);
        }
        self.applied.quarantined.extend(later.applied.quarantined);
    }
}

/// Plans prepared records against the held ones and commits the events with the records'
/// sources, in one transaction.
pub fn commit(
    store: &Store,
    prepared: Prepared,
    metadata: &Metadata,
) -> Result<Applied, StoreError> {
    let Prepared {
        changed,
        mut applied,
    } = prepared;
    if changed.is_empty() {
        return Ok(applied);
    }
    let changed = latest_per_record(changed);
    store.append_planned(|model| {
        let mut events = Vec::new();
        let mut updates = SourceUpdates::default();
        for Changed {
            model: kind,
            referenced,
            source,
            mapped: (id, record, written),
        } in changed
        {
            let current = held_record(model, kind, id);
            if kind == SyncModel::Partner && current.is_none() && !referenced {
                continue;
            }
            updates.upserts.push(source);
            let planned = plan_change(id, current.as_ref(), record, written, metadata);
            if !planned.is_empty() {
                let counts = applied.count(kind);
                match current {
                    None => counts.created += 1,
                    Some(_) => counts.updated += 1,
                }
            }
            events.extend(planned);
        }
        applied.events = events.len() as u64;
        (CommandBatch::new(events), updates)
    })?;
    Ok(applied)
}

impl Applied {
    fn count(&mut self, model: SyncModel) -> &mut ModelSyncCounts {
        self.counts.entry(model.odoo_name()).or_default()
    }
}

/// Each page's records parsed, with their canonical bytes and checksums.
fn unpack(pages: Vec<Page>, applied: &mut Applied) -> Vec<Incoming> {
    let mut incoming = Vec::new();
    for page in pages {
        applied.count(page.model).fetched += page.records.len() as u64;
        for wire in page.records {
            let id = wire.id;
            let record = wire.parse();
            // Keys sorted (a map of values sorts them), so that the checksum does not depend on
            // the order Odoo lists fields in.
            let raw = serde_json::to_vec(&record).unwrap_or_default();
            incoming.push(Incoming {
                model: page.model,
                referenced: page.referenced,
                id,
                source: SourceRecord {
                    key: source_key(page.model, id.unwrap_or(0)),
                    checksum: checksum(&raw),
                    raw,
                },
                record,
            });
        }
    }
    incoming
}

/// One change per record, as last seen: a record that arrived twice in what commits together is
/// never planned twice against the same held state. A partner asked for by an opportunity stays so.
fn latest_per_record(changed: Vec<Changed>) -> Vec<Changed> {
    let referenced: HashSet<String> = changed
        .iter()
        .filter(|c| c.referenced)
        .map(|c| c.source.key.clone())
        .collect();
    let mut seen = HashSet::new();
    let mut latest: Vec<Changed> = changed
        .into_iter()
        .rev()
        .filter(|c| seen.insert(c.source.key.clone()))
        .map(|c| Changed {
            referenced: c.referenced || referenced.contains(&c.source.key),
            ..c
        })
        .collect();
    latest.reverse();
    latest
}

pub fn held_record(model: &ReadModel, kind: SyncModel, id: OdooId) -> Option<SyncedRecord> {
    match kind {
        SyncModel::Stage => model.stages().get(&id).cloned().map(SyncedRecord::Stage),
        SyncModel::Team => model.teams().get(&id).cloned().map(SyncedRecord::Team),
        SyncModel::User => model.users().get(&id).cloned().map(SyncedRecord::User),
        SyncModel::Employee => model
            .employees()
            .get(&id)
            .cloned()
            .map(SyncedRecord::Employee),
        SyncModel::Lead => model
            .opportunities()
            .get(&id)
            .cloned()
            .map(SyncedRecord::Opportunity),
        SyncModel::Partner => model
            .accounts()
            .get(&id)
            .cloned()
            .map(SyncedRecord::Account),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checksums_are_stable_and_sensitive() {
        assert_eq!(checksum(b"{\"id\":1}"), checksum(b"{\"id\":1}"));
        assert_ne!(checksum(b"{\"id\":1}"), checksum(b"{\"id\":2}"));
        assert_eq!(checksum(b""), 0xcbf2_9ce4_8422_2325);
    }

    fn partner(name: &str) -> WireRecord {
        let record =
            json!({"id": 7, "name": name, "is_company": true, "active": true, "write_date": false});
        WireRecord::new(RawValue::from_string(record.to_string()).expect("json"))
    }

    #[test]
    fn a_record_s_header_is_read_without_parsing_it_whole() {
        let raw = r#"{"name": "Deal", "partner_id": [3, "Azure Interior"], "write_date": "2026-11-26 21:30:55", "id": 12}"#;
        let record = WireRecord::new(RawValue::from_string(raw.into()).expect("json"));
        assert_eq!(record.id, Some(12));
        assert_eq!(record.partner_id, Some(3));
        assert_eq!(record.write_date.as_deref(), Some("2026-11-26 21:30:55"));
        let bare = r#"{"id": 13, "partner_id": false, "write_date": false}"#;
        let record = WireRecord::new(RawValue::from_string(bare.into()).expect("json"));
        assert_eq!(
            (record.id, record.partner_id, record.write_date),
            (Some(13), None, None)
        );
        let odd = WireRecord::new(RawValue::from_string(r#""text""#.into()).expect("json"));
        assert_eq!((odd.id, odd.partner_id), (None, None));
        assert_eq!(odd.parse(), json!("text"));
    }

    #[test]
    fn a_record_twice_in_one_commit_is_planned_once_as_last_seen_and_stays_referenced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("apply.redb")).expect("store");
        let lookups = Lookups::default();
        let first = Page {
            model: SyncModel::Partner,
            records: vec![partner("Old name")],
            referenced: true,
        };
        let again = Page {
            model: SyncModel::Partner,
            records: vec![partner("New name")],
            referenced: false,
        };
        let mut batch = prepare(&store, vec![first], &lookups).expect("prepares");
        batch.merge(prepare(&store, vec![again], &lookups).expect("prepares"));
        let applied = commit(&store, batch, &Metadata::default()).expect("commits");

        assert_eq!(applied.events, 1);
        assert_eq!(applied.counts["res.partner"].fetched, 2);
        assert_eq!(applied.counts["res.partner"].created, 1);
        let name = store
            .with_model(|model| model.accounts().get(&7).map(|a| a.name.clone()))
            .expect("model");
        assert_eq!(name.as_deref(), Some("New name"));
    }
}
