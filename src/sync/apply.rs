//! Fetched pages into events: checksums against the source records held, mapping, planning, and
//! one append of the events with their source records. Runs on a blocking thread while the next
//! pages are fetched; it never talks to Odoo and never awaits.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use serde_json::Value;

use super::mapping::{Lookups, SyncModel, SyncedRecord, map_record};
use super::plan::plan_change;
use crate::domain::{Metadata, ModelSyncCounts, OdooId, QuarantinedRecord};
use crate::projections::ReadModel;
use crate::store::{CommandBatch, SourceRecord, SourceUpdates, Store, StoreError};

/// Records of one model as Odoo returned them.
#[derive(Debug)]
pub struct Page {
    pub model: SyncModel,
    pub records: Vec<Value>,
    /// Partners asked for because opportunities refer to them; other partners are synced only
    /// while pipelog already holds them.
    pub referenced: bool,
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

/// Each page's records with their raw bytes and checksums.
fn unpack(pages: Vec<Page>, applied: &mut Applied) -> Vec<Incoming> {
    let mut incoming = Vec::new();
    for page in pages {
        applied.count(page.model).fetched += page.records.len() as u64;
        for record in page.records {
            let id = record["id"].as_u64();
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

    fn partner(name: &str) -> Value {
        json!({"id": 7, "name": name, "is_company": true, "active": true, "write_date": false})
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
