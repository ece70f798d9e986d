//! Rewriting half-empty tables into whole pages.
//!
//! redb splits a full leaf in half when a key lands in it, so a table written in random key order,
//! or whose values were rewritten longer, ends up with pages a third to a half empty; nothing
//! merges them while they stay above a third full. Only a copy in key order, through a cursor
//! that packs whole leaves, fills them again; compaction then gives back the pages the old copy
//! held. Owns no data of its own and changes no row: the copy holds the same keys and bytes. It
//! leaves the log alone, whose appends are packed as they are written (see `write_events`) and
//! which is too large to copy in one transaction.

use std::ops::Bound;

use redb::{Key, ReadableTable, ReadableTableMetadata, TableDefinition, Value, WriteTransaction};

use super::StoreError;
use super::tables::{AGGREGATES, Generation, SOURCE_RECORDS, ViewDefinition, view_definition};
use crate::projections::ViewTable;

/// A table is copied once this much of its pages is unused room...
const WORTH_REPACKING_BYTES: u64 = 2 * 1024 * 1024;
/// ...and the room is at least this share of the bytes it stores.
const WORTH_REPACKING_SHARE: u64 = 4;
/// A larger table is left as it is: a transaction holds the pages it writes in memory until it
/// commits, and the copy would hold them all.
const REPACK_AT_MOST_BYTES: u64 = 256 * 1024 * 1024;

/// Where source records and aggregates are copied before they take the old name.
const SOURCE_RECORDS_REPACK: TableDefinition<&str, &[u8]> =
    TableDefinition::new("source_records_v1_repack");
const AGGREGATES_REPACK: TableDefinition<&str, &[u8]> =
    TableDefinition::new("aggregates_v1_repack");

/// Copies every table worth it (see [`WORTH_REPACKING_BYTES`] and [`REPACK_AT_MOST_BYTES`]) in
/// key order in `txn`, and returns the unused room the old copies had. Views go through the
/// copies a rebuild fills, which exist only within a rebuild's transaction.
pub(super) fn sparse_tables(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let mut freed = repack(txn, SOURCE_RECORDS, SOURCE_RECORDS_REPACK)?;
    freed += repack(txn, AGGREGATES, AGGREGATES_REPACK)?;
    for table in ViewTable::ALL {
        freed += match (
            view_definition(table, Generation::Live),
            view_definition(table, Generation::Rebuild),
        ) {
            (ViewDefinition::ById(live), ViewDefinition::ById(scratch)) => {
                repack(txn, live, scratch)?
            }
            (ViewDefinition::ByName(live), ViewDefinition::ByName(scratch)) => {
                repack(txn, live, scratch)?
            }
            _ => unreachable!("invariant: both generations of a view share its key type"),
        };
    }
    Ok(freed)
}

/// Copies `table` into `scratch` in key order and gives the copy `table`'s name, when the room
/// unused in its pages is worth it. Returns that room (0 when it was left as it is).
fn repack<K: Key + 'static, V: Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<K, V>,
    scratch: TableDefinition<K, V>,
) -> Result<u64, StoreError> {
    let unused = {
        let source = match txn.open_table(table) {
            Ok(source) => source,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(other) => return Err(other.into()),
        };
        let stats = source.stats()?;
        let unused = stats.fragmented_bytes();
        let stored = stats.stored_bytes();
        if unused < WORTH_REPACKING_BYTES
            || unused < stored / WORTH_REPACKING_SHARE
            || stored > REPACK_AT_MOST_BYTES
        {
            return Ok(0);
        }
        txn.delete_table(scratch)?;
        let mut target = txn.open_table(scratch)?;
        let mut at_end = target.upper_bound_mut(Bound::<K::SelfType<'_>>::Unbounded)?;
        for entry in source.iter()? {
            let (key, value) = entry?;
            at_end.insert_before(key.value(), value.value())?;
        }
        at_end.close()?;
        unused
    };
    txn.delete_table(table)?;
    txn.rename_table(scratch, table)?;
    Ok(unused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase};

    const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("table");
    const SCRATCH: TableDefinition<&str, &[u8]> = TableDefinition::new("table_repack");

    fn stats(db: &Database) -> redb::TableStats {
        let txn = db.begin_read().expect("reads");
        let table = txn.open_table(TABLE).expect("opens");
        table.stats().expect("stats")
    }

    /// Distinct keys in a scattered order (100,003 is prime, so `i * 7,919` modulo it never
    /// repeats for `i` below it), as Odoo's ids are once turned into text keys.
    fn scattered(count: u64) -> Vec<String> {
        (0..count)
            .map(|i| format!("crm.lead/{}", i * 7_919 % 100_003))
            .collect()
    }

    #[test]
    fn a_table_written_in_random_order_is_packed_and_keeps_every_row() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::create(dir.path().join("repack.redb")).expect("creates");
        let keys = scattered(100_000);
        let value = |key: &str| format!("{key}:{}", "x".repeat(100)).into_bytes();
        let txn = db.begin_write().expect("writes");
        {
            let mut table = txn.open_table(TABLE).expect("opens");
            for key in &keys {
                table
                    .insert(key.as_str(), value(key).as_slice())
                    .expect("inserts");
            }
        }
        txn.commit().expect("commits");
        let before = stats(&db);
        assert!(
            before.fragmented_bytes() > WORTH_REPACKING_BYTES,
            "the random order leaves room: {}",
            before.fragmented_bytes()
        );

        let txn = db.begin_write().expect("writes");
        let freed = repack(&txn, TABLE, SCRATCH).expect("repacks");
        txn.commit().expect("commits");
        let after = stats(&db);
        assert_eq!(freed, before.fragmented_bytes());
        assert_eq!(after.stored_bytes(), before.stored_bytes());
        assert!(
            after.leaf_pages() * 10 < before.leaf_pages() * 8,
            "{} leaf pages, from {}",
            after.leaf_pages(),
            before.leaf_pages()
        );
        let txn = db.begin_read().expect("reads");
        let table = txn.open_table(TABLE).expect("opens");
        assert_eq!(table.len().expect("len"), keys.len() as u64);
        for key in &keys {
            let stored = table.get(key.as_str()).expect("reads").expect("kept");
            assert_eq!(stored.value(), value(key).as_slice());
        }
        let scratch = txn.open_table(SCRATCH).map(|t| t.len().expect("len"));
        assert!(
            scratch.is_err(),
            "the scratch copy took the name: {scratch:?}"
        );
    }

    #[test]
    fn a_packed_table_is_left_as_it_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::create(dir.path().join("repack.redb")).expect("creates");
        let txn = db.begin_write().expect("writes");
        {
            let mut table = txn.open_table(TABLE).expect("opens");
            for i in 0..1_000 {
                let key = format!("k{i:05}");
                table
                    .insert(key.as_str(), [7u8; 100].as_slice())
                    .expect("inserts");
            }
        }
        assert_eq!(repack(&txn, TABLE, SCRATCH).expect("looks"), 0);
        assert_eq!(repack(&txn, SCRATCH, TABLE).expect("no table"), 0);
        txn.commit().expect("commits");
    }
}
