//! The store's errors. Each says what happened and, where one exists, what to do about it.

use std::path::PathBuf;

use crate::domain::ExpectedVersion;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the data file {path} is in use by another pipelog process; stop it, or use the running server's API"
    )]
    AlreadyOpen { path: PathBuf },

    #[error(
        "the data file {path} has format {found}, written by a newer pipelog; this version reads format {supported} at most: upgrade pipelog"
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("there is no data file at {path}; check --data (or PIPELOG_DATA)")]
    Missing { path: PathBuf },

    #[error(
        "the data file {path} was not closed cleanly; open it once with a writing command (e.g. pipelog rebuild) to recover it"
    )]
    NeedsRecovery { path: PathBuf },

    #[error("the data file {path} is not a pipelog data file: {reason}")]
    NotPipelog { path: PathBuf, reason: String },

    #[error("cannot create the data file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("version conflict on {aggregate}: expected {expected}, current version is {actual}")]
    Conflict {
        aggregate: String,
        expected: ExpectedVersionText,
        actual: u64,
    },

    #[error("the command id {command_id} was used before for a different request")]
    CommandReused { command_id: String },

    #[error("the event at position {position} cannot be read: {reason}")]
    CorruptEvent { position: u64, reason: String },

    #[error("the row {key} of view {table} cannot be read: {reason}")]
    CorruptView {
        table: &'static str,
        key: String,
        reason: String,
    },

    #[error("the data file is damaged: {0}")]
    Damaged(String),

    #[error("an event cannot be encoded: {0}")]
    Encode(String),

    #[error(
        "the data file cannot be written or read right now ({cause}); pipelog reopens it on the next request, so fix the cause (disk space, permissions) and retry: what was committed is intact"
    )]
    Unavailable { cause: String },

    #[error("storage error: {0}")]
    Storage(#[from] redb::Error),
}

impl StoreError {
    /// Failures of the file itself (I/O, a closed or corrupt file), after which redb refuses further
    /// access until the file is reopened.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            StoreError::Storage(_) | StoreError::Unavailable { .. }
        )
    }

    /// Conflicts are the caller's to resolve (reload and retry); everything else is not.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// [`ExpectedVersion`] as it reads in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedVersionText(pub ExpectedVersion);

impl std::fmt::Display for ExpectedVersionText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no events yet"),
            ExpectedVersion::Exactly(version) => write!(f, "version {version}"),
        }
    }
}

macro_rules! from_redb {
    ($($error:ty),*) => {
        $(impl From<$error> for StoreError {
            fn from(error: $error) -> Self {
                StoreError::Storage(redb::Error::from(error))
            }
        })*
    };
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::CursorError,
    redb::CompactionError
);
