//! On-disk storage shared by the storage servers and the background daemons.
//!
//! Everything here is a synchronous library API over Swift's layout: object
//! files (`diskfile`), their pickled xattr metadata (`metadata`), the SQLite
//! broker used by account and container servers (`broker`), device checks
//! (`device`), atomic writes (`atomic`) and an in-memory double (`mem`). The
//! HTTP servers call into it from blocking tasks; replicators, auditors and
//! updaters can call it directly. Nothing here knows about HTTP.

pub mod atomic;
pub mod broker;
pub mod device;
pub mod diskfile;
pub mod expiring;
pub mod hasher;
pub mod hashes;
pub mod hashpath;
pub mod mem;
pub mod metadata;
pub mod objstore;
pub mod pickle;
pub mod pickler;
pub mod replication;
pub mod timestamp;
pub mod tmpfile;

pub use objstore::{ObjectInfo, ObjectKey, ObjectReader, ObjectState, ObjectStore, ObjectWriter};
pub use timestamp::Timestamp;

use std::path::PathBuf;

/// Errors from the storage layer. Servers map these to HTTP statuses in one place.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("device {0} is not mounted or not a directory")]
    DeviceUnavailable(String),
    #[error("device {0} is below its free-space reserve")]
    InsufficientSpace(String),
    #[error("filesystem at {0} does not support extended attributes (user xattrs)")]
    XattrUnsupported(PathBuf),
    #[error("invalid name: {0}")]
    InvalidName(String),
    #[error("object not found")]
    NotFound,
    /// A database's user metadata would exceed Swift's limits (count or size).
    #[error("{0}")]
    MetadataLimit(String),
    #[error("corrupt metadata in {path}: {reason}")]
    BadMetadata { path: PathBuf, reason: String },
    #[error("object {0} was quarantined")]
    Quarantined(PathBuf),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("pickle error: {0}")]
    Pickle(String),
    /// Another process held a database's directory lock for too long.
    #[error("timed out waiting for the lock on {0}")]
    LockTimeout(PathBuf),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl StorageError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                StorageError::InsufficientSpace(path.display().to_string())
            }
            _ => StorageError::Io { path, source },
        }
    }
}

/// Result alias for the storage layer.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
