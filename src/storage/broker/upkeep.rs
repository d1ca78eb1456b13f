//! What the background daemons do to a database besides serving it: the
//! container's last stats reported to its account (`reported_*` columns,
//! kept by the container updater) and quarantine of a broken database
//! (`<dev>/quarantined/{accounts,containers}/<hash>`, as Swift's broker).

use std::path::{Path, PathBuf};

use rusqlite::params;

use super::{Broker, DbKind};
use crate::storage::atomic::{fsync_dir, mkdirs};
use crate::storage::{Result, StorageError};

/// A container's stats as last reported to its account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reported {
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub object_count: i64,
    pub bytes_used: i64,
}

impl Broker {
    /// Container DB: the `reported_*` columns.
    pub fn reported(&self) -> Result<Reported> {
        Ok(self.conn.query_row(
            "SELECT reported_put_timestamp, reported_delete_timestamp, reported_object_count, \
             reported_bytes_used FROM container_info",
            [],
            |r| {
                Ok(Reported {
                    put_timestamp: r.get(0)?,
                    delete_timestamp: r.get(1)?,
                    object_count: r.get(2)?,
                    bytes_used: r.get(3)?,
                })
            },
        )?)
    }

    /// Container DB: records what the account servers now know.
    pub fn set_reported(&self, r: &Reported) -> Result<()> {
        self.conn.execute(
            "UPDATE container_info SET reported_put_timestamp = ?1, \
             reported_delete_timestamp = ?2, reported_object_count = ?3, reported_bytes_used = ?4",
            params![
                r.put_timestamp,
                r.delete_timestamp,
                r.object_count,
                r.bytes_used
            ],
        )?;
        Ok(())
    }
}

/// Whether an error means the database file itself is broken (Swift's
/// `possibly_quarantine` test).
pub fn is_corruption(err: &StorageError) -> Option<&'static str> {
    let msg = err.to_string();
    if msg.contains("database disk image is malformed") || msg.contains("malformed database schema")
    {
        Some("malformed database")
    } else if msg.contains(" is not a database") {
        Some("corrupted database")
    } else if msg.contains("disk I/O error") {
        Some("disk error while accessing database")
    } else {
        None
    }
}

/// Moves the directory of the database at `db_file`
/// (`<dev>/<datadir>/<part>/<sfx>/<hash>/<hash>.db`) to
/// `<dev>/quarantined/<datadir>/<hash>` (with a unique suffix if taken).
pub fn quarantine_db(db_file: &Path, kind: DbKind) -> Result<PathBuf> {
    let bad = || StorageError::InvalidName(db_file.display().to_string());
    let db_dir = db_file.parent().ok_or_else(bad)?;
    let dev = db_dir.ancestors().nth(4).ok_or_else(bad)?;
    let qdir = dev.join("quarantined").join(kind.datadir());
    mkdirs(&qdir)?;
    let name = db_dir.file_name().ok_or_else(bad)?;
    let mut target = qdir.join(name);
    if target.exists() {
        let mut n = name.to_os_string();
        n.push(format!("-{}", uuid::Uuid::new_v4().simple()));
        target = qdir.join(n);
    }
    std::fs::rename(db_dir, &target).map_err(|e| StorageError::io(db_dir, e))?;
    fsync_dir(&qdir)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::super::db_path;
    use super::*;
    use crate::storage::Timestamp;

    #[test]
    fn reported_round_trip_and_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("sda1");
        let hash = "0123456789abcdef0123456789abcdef";
        let path = db_path(&dev, DbKind::Container, "3", hash);
        let ts = Timestamp::parse("5.0").unwrap();
        let b = Broker::create(&path, DbKind::Container, "a", Some("c"), ts, 0).unwrap();
        assert_eq!(b.reported().unwrap().put_timestamp, "0");
        let r = Reported {
            put_timestamp: ts.internal(),
            delete_timestamp: "0".into(),
            object_count: 3,
            bytes_used: 42,
        };
        b.set_reported(&r).unwrap();
        assert_eq!(b.reported().unwrap(), r);
        drop(b);
        let to = quarantine_db(&path, DbKind::Container).unwrap();
        assert_eq!(to, dev.join("quarantined/containers").join(hash));
        assert!(to.join(format!("{hash}.db")).is_file());
        assert!(!path.exists());
    }
}
