//! The `<db>.pending` file: object and container updates appended to a
//! flat file and merged into SQLite in batches, in Swift's format.
//!
//! Each record is `:` followed by the base64 of a protocol-2 pickle of a
//! tuple (containers: name, created_at, size, content_type, etag, deleted,
//! policy, ctype_timestamp, meta_timestamp; accounts: name, put_timestamp,
//! delete_timestamp, object_count, bytes_used, deleted, policy). Writers and
//! the committer hold an `flock` on `<db dir>/.lock`, as Swift's
//! `lock_parent_directory` does, so Swift's brokers and ours can share a
//! database directory. A record is appended while the file is at most
//! [`PENDING_CAP`] bytes; past that, the file and the new records are merged
//! at once. Readers merge the file before they read. Merging is idempotent
//! (a record never replaces a newer or equal row), so a crash between the
//! merge and the truncation loses nothing and repeats nothing visible. A
//! record that does not decode is logged and dropped, as Swift drops it.
//! Like Swift, the append is flushed but not fsynced.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::{Broker, DbKind, ObjectRow};
use crate::storage::hashes::{lock_dir_timeout, DirLock};
use crate::storage::pickle::Pickle;
use crate::storage::timestamp::decode_timestamps;
use crate::storage::{Result, StorageError, Timestamp};

/// Swift's cap on the pending file: past this many bytes the next update
/// merges the whole file into the database instead of growing it.
pub const PENDING_CAP: u64 = 131_072;

/// How long a writer waits for the directory lock (Swift's default).
pub const PENDING_TIMEOUT: Duration = Duration::from_secs(10);

/// A container's stats as an account database records them.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRecord {
    pub name: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub object_count: i64,
    pub bytes_used: i64,
    pub policy: u32,
}

/// One pending update.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Object(ObjectRow),
    Container(ContainerRecord),
}

/// The pending file of a database file.
pub fn pending_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".pending");
    PathBuf::from(p)
}

impl Record {
    /// `:` + base64(pickle(tuple)), one record of the file.
    pub fn encode(&self) -> Vec<u8> {
        let text = |s: &str| Pickle::Str(s.to_string());
        let tuple = match self {
            Record::Object(r) => Pickle::Tuple(vec![
                text(&r.name),
                text(&r.ts.internal()),
                Pickle::Int(if r.deleted { 0 } else { r.size as i64 }),
                text(&r.content_type),
                text(&r.etag),
                Pickle::Int(i64::from(r.deleted)),
                Pickle::Int(i64::from(r.policy)),
                r.ctype_ts.map_or(Pickle::None, |t| text(&t.internal())),
                r.meta_ts.map_or(Pickle::None, |t| text(&t.internal())),
            ]),
            Record::Container(c) => Pickle::Tuple(vec![
                text(&c.name),
                text(&c.put_timestamp),
                text(&c.delete_timestamp),
                Pickle::Int(c.object_count),
                Pickle::Int(c.bytes_used),
                Pickle::Int(i64::from(c.is_deleted())),
                Pickle::Int(i64::from(c.policy)),
            ]),
        };
        let mut out = vec![b':'];
        out.extend_from_slice(B64.encode(tuple.dumps()).as_bytes());
        out
    }

    /// Decodes one record (the text between two `:`) of a `kind` database.
    pub fn decode(kind: DbKind, entry: &[u8]) -> std::result::Result<Record, String> {
        let raw = B64.decode(entry).map_err(|e| format!("bad base64: {e}"))?;
        let items = match Pickle::loads(&raw).map_err(|e| e.to_string())? {
            Pickle::List(items) | Pickle::Tuple(items) if items.len() >= 6 => items,
            other => return Err(format!("not a record tuple: {other:?}")),
        };
        let text = |i: usize| items.get(i).and_then(Pickle::as_text).unwrap_or_default();
        let int = |i: usize| -> std::result::Result<i64, String> {
            match items.get(i) {
                Some(Pickle::Int(n)) => Ok(*n),
                Some(Pickle::Bool(b)) => Ok(i64::from(*b)),
                Some(Pickle::None) | None => Ok(0),
                Some(other) => other
                    .as_text()
                    .and_then(|t| t.trim().parse().ok())
                    .ok_or_else(|| format!("field {i} is not a number: {other:?}")),
            }
        };
        let policy = u32::try_from(int(6)?).map_err(|e| e.to_string())?;
        Ok(match kind {
            DbKind::Container => {
                let created = text(1);
                // `created_at` may carry encoded content-type and metadata
                // times; explicit ones (fields 7 and 8) override them, and
                // an explicit content-type time also sets the metadata time.
                let (ts, mut ctype, mut meta) = decode_timestamps(&created)
                    .ok_or_else(|| format!("bad timestamp {created:?}"))?;
                let stamp = |i: usize| -> std::result::Result<Option<Timestamp>, String> {
                    match items.get(i).and_then(Pickle::as_text) {
                        Some(t) if !t.is_empty() => Timestamp::parse(&t)
                            .map(Some)
                            .ok_or_else(|| format!("bad timestamp {t:?}")),
                        _ => Ok(None),
                    }
                };
                if let Some(t) = stamp(7)? {
                    (ctype, meta) = (t, t);
                }
                if let Some(t) = stamp(8)? {
                    meta = t;
                }
                let size = int(2)?;
                Record::Object(ObjectRow {
                    name: text(0),
                    ts,
                    size: u64::try_from(size).map_err(|e| e.to_string())?,
                    content_type: text(3),
                    etag: text(4),
                    deleted: int(5)? != 0,
                    policy,
                    ctype_ts: (ctype != ts).then_some(ctype),
                    meta_ts: (meta != ctype).then_some(meta),
                })
            }
            DbKind::Account => Record::Container(ContainerRecord {
                name: text(0),
                put_timestamp: text(1),
                delete_timestamp: text(2),
                object_count: int(3)?,
                bytes_used: int(4)?,
                policy,
            }),
        })
    }
}

impl ContainerRecord {
    /// Swift's rule: deleted after its last PUT and holding no objects.
    pub fn is_deleted(&self) -> bool {
        let ts = |s: &str| Timestamp::parse(s).unwrap_or_default();
        ts(&self.delete_timestamp) > ts(&self.put_timestamp) && self.object_count == 0
    }
}

fn lock(db: &Path, timeout: Duration) -> Result<DirLock> {
    let dir = db.parent().unwrap_or(Path::new("."));
    lock_dir_timeout(dir, timeout)?.ok_or_else(|| StorageError::LockTimeout(dir.join(".lock")))
}

/// Records updates for the database at `db` without opening it: appended
/// to its pending file, or (past the cap) merged with the file's records at
/// once through `broker` (opened here when `None`). `NotFound` when there
/// is no database.
pub fn put_records(
    db: &Path,
    kind: DbKind,
    records: &[Record],
    broker: Option<&Broker>,
    timeout: Duration,
) -> Result<()> {
    if !db.is_file() {
        return Err(StorageError::NotFound);
    }
    let _held = lock(db, timeout)?;
    if pending_size(db) > PENDING_CAP {
        let opened;
        let b = match broker {
            Some(b) => b,
            None => {
                opened = Broker::open(db, kind)?.ok_or(StorageError::NotFound)?;
                &opened
            }
        };
        return b.commit_locked(records);
    }
    append(db, records)
}

/// [`put_records`] without waiting: `None` when another writer or a merge
/// holds the lock, or when the file is past the cap (the merge that is due
/// is work for a thread that may wait). Appending takes a few system calls
/// on cached pages, so a request handler can call this in place of handing
/// the update to a blocking thread.
pub fn try_append_records(db: &Path, records: &[Record]) -> Option<Result<()>> {
    if !db.is_file() {
        return Some(Err(StorageError::NotFound));
    }
    let dir = db.parent().unwrap_or(Path::new("."));
    let _held = match lock_dir_timeout(dir, Duration::ZERO) {
        Ok(Some(held)) => held,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    if pending_size(db) > PENDING_CAP {
        return None;
    }
    Some(append(db, records))
}

fn pending_size(db: &Path) -> u64 {
    std::fs::metadata(pending_path(db)).map_or(0, |m| m.len())
}

/// Appends records to the pending file; the caller holds the lock.
fn append(db: &Path, records: &[Record]) -> Result<()> {
    let pending = pending_path(db);
    let buf: Vec<u8> = records.iter().flat_map(Record::encode).collect();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&pending)
        .map_err(|e| StorageError::io(&pending, e))?;
    f.write_all(&buf)
        .map_err(|e| StorageError::io(&pending, e))?;
    Ok(())
}

impl Broker {
    /// Appends updates to the pending file (see [`put_records`]).
    pub fn put_records(&self, records: &[Record]) -> Result<()> {
        put_records(
            &self.path,
            self.kind,
            records,
            Some(self),
            self.pending_timeout,
        )
    }

    /// Merges the pending file into the database (Swift's
    /// `_commit_puts_stale_ok`): every read calls this first. With
    /// `stale_reads_ok`, a lock held too long or a busy database leaves the
    /// records for later instead of failing the read.
    pub fn commit_pending(&self) -> Result<()> {
        let pending = pending_path(&self.path);
        // An empty or missing file needs no lock: nothing was appended
        // before this read began.
        if std::fs::metadata(&pending).map_or(true, |m| m.len() == 0) {
            return Ok(());
        }
        let merged =
            lock(&self.path, self.pending_timeout).and_then(|_held| self.commit_locked(&[]));
        match merged {
            Err(StorageError::LockTimeout(_)) | Err(StorageError::Db(_)) if self.stale_reads_ok => {
                Ok(())
            }
            other => other,
        }
    }

    /// Merges the pending file and `extra` in one transaction, then empties
    /// the file. The caller holds the directory lock.
    fn commit_locked(&self, extra: &[Record]) -> Result<()> {
        super::prealloc::preallocate(&self.path)?;
        let pending = pending_path(&self.path);
        let mut raw = Vec::new();
        let file = match OpenOptions::new().read(true).write(true).open(&pending) {
            Ok(mut f) => {
                f.read_to_end(&mut raw)
                    .map_err(|e| StorageError::io(&pending, e))?;
                Some(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StorageError::io(&pending, e)),
        };
        let mut records = Vec::new();
        for entry in raw.split(|&b| b == b':').filter(|e| !e.is_empty()) {
            match Record::decode(self.kind, entry) {
                Ok(r) => records.push(r),
                Err(why) => tracing::error!(
                    "Invalid pending entry {}: {} ({why})",
                    pending.display(),
                    String::from_utf8_lossy(entry)
                ),
            }
        }
        records.extend_from_slice(extra);
        if !records.is_empty() {
            self.merge_records(&records)?;
        }
        if let Some(f) = file {
            if !raw.is_empty() {
                f.set_len(0).map_err(|e| StorageError::io(&pending, e))?;
            }
        }
        Ok(())
    }

    /// Writes records into SQLite in one transaction, each only where it is
    /// newer than what is there.
    fn merge_records(&self, records: &[Record]) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for r in records {
            match r {
                Record::Object(row) => super::merge::merge_object(&tx, row)?,
                Record::Container(c) => super::insert_container(&tx, c)?,
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_look_like_python() {
        let row = ObjectRow {
            name: "o".into(),
            ts: Timestamp::parse("1700000000").unwrap(),
            size: 4096,
            content_type: "text/plain".into(),
            etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            deleted: false,
            policy: 0,
            ..ObjectRow::default()
        };
        let enc = Record::Object(row.clone()).encode();
        assert_eq!(enc[0], b':');
        let raw = B64.decode(&enc[1..]).unwrap();
        // Protocol 2, a MARK ... TUPLE of the nine fields, two Nones last,
        // then CPython's memo entry for the tuple (BINPUT n) and STOP.
        assert_eq!(&raw[..3], b"\x80\x02(");
        let n = raw.len();
        assert_eq!(&raw[n - 6..n - 3], b"NNt", "{raw:?}");
        assert_eq!((raw[n - 3], raw[n - 1]), (b'q', b'.'), "{raw:?}");
        assert_eq!(
            Record::decode(DbKind::Container, &enc[1..]).unwrap(),
            Record::Object(row)
        );
        let c = ContainerRecord {
            name: "c".into(),
            put_timestamp: "1700000000.00000".into(),
            delete_timestamp: "0".into(),
            object_count: 3,
            bytes_used: 1 << 40,
            policy: 1,
        };
        let enc = Record::Container(c.clone()).encode();
        assert_eq!(
            Record::decode(DbKind::Account, &enc[1..]).unwrap(),
            Record::Container(c)
        );
        assert!(Record::decode(DbKind::Account, b"!!notbase64").is_err());
        assert!(Record::decode(DbKind::Account, B64.encode(b"junk").as_bytes()).is_err());
    }
}
