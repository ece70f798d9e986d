//! Where the data file's bytes go: each table's entries, the bytes of its keys and values, and
//! the pages it occupies. The rest of the file is redb's own tables and pages left free by
//! earlier writes (which `pipelog compact` gives back).

use redb::{MultimapTableHandle, ReadableTableMetadata, TableHandle};
use serde::Serialize;

use super::{Snapshot, StoreError};

/// What one table takes in the data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSize {
    pub name: String,
    pub entries: u64,
    /// Keys and values as stored, without the b-tree around them.
    pub stored_bytes: u64,
    /// The pages that hold them (leaves and branches).
    pub page_bytes: u64,
    /// Unused room inside those pages.
    pub fragmented_bytes: u64,
}

impl Snapshot {
    /// Every table of the file, the largest first.
    pub fn table_sizes(&self) -> Result<Vec<TableSize>, StoreError> {
        let mut sizes = Vec::new();
        for handle in self.txn.list_tables().map_err(redb::Error::from)? {
            let name = handle.name().to_string();
            let table = self
                .txn
                .open_untyped_table(handle)
                .map_err(redb::Error::from)?;
            sizes.push(size_of(name, &table)?);
        }
        for handle in self.txn.list_multimap_tables().map_err(redb::Error::from)? {
            let name = handle.name().to_string();
            let table = self
                .txn
                .open_untyped_multimap_table(handle)
                .map_err(redb::Error::from)?;
            sizes.push(size_of(name, &table)?);
        }
        sizes.sort_by(|a, b| b.page_bytes.cmp(&a.page_bytes).then(a.name.cmp(&b.name)));
        Ok(sizes)
    }
}

fn size_of(name: String, table: &impl ReadableTableMetadata) -> Result<TableSize, StoreError> {
    let stats = table.stats().map_err(redb::Error::from)?;
    Ok(TableSize {
        name,
        entries: table.len().map_err(redb::Error::from)?,
        stored_bytes: stats.stored_bytes(),
        // Counted in bytes, not pages: a large value (the model snapshot) fills one page of a
        // higher order, which a count of pages would take for 4 KiB.
        page_bytes: stats.stored_bytes() + stats.metadata_bytes() + stats.fragmented_bytes(),
        fragmented_bytes: stats.fragmented_bytes(),
    })
}
