//! A read-only handle on a data file: status, verify, backup and export beside a running server.

use std::path::Path;

use redb::{Builder, ConcurrencyMode, ReadOnlyDatabase, ReadableDatabase};

use super::replay;
use super::tables::FORMAT_VERSION;
use super::{CACHE_BYTES, ReplayProgress, Snapshot, StoreError, VerifyReport, open_error};

/// A read-only handle on a data file, usable beside a running server (which keeps writing).
pub struct ReadOnlyStore {
    db: ReadOnlyDatabase,
}

impl ReadOnlyStore {
    pub fn open(path: &Path) -> Result<ReadOnlyStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let db = Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .set_cache_size(CACHE_BYTES)
            .open_read_only(path)
            .map_err(|error| open_error(error, path))?;
        let store = ReadOnlyStore { db };
        match store.read()?.format_version()? {
            None => Err(StoreError::NotPipelog {
                path: path.to_path_buf(),
                reason: "no format version".into(),
            }),
            Some(found) if found > FORMAT_VERSION => Err(StoreError::NewerFormat {
                path: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            }),
            Some(_) => Ok(store),
        }
    }

    pub fn read(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot::new(self.db.begin_read()?))
    }

    pub fn verify(
        &self,
        progress: &mut dyn FnMut(ReplayProgress),
    ) -> Result<VerifyReport, StoreError> {
        replay::verify(&self.read()?, progress)
    }
}
