//! The SQLite broker shared by the account and container servers.
//!
//! Databases live at `<dev>/{accounts,containers}/<part>/<sfx>/<hash>/<hash>.db`
//! with Swift's schema (tables, views and triggers compatible with Swift's
//! `swift-container-info` / `swift-account-info` and its replicators). A
//! container DB holds object rows; an account DB holds container rows. Rows
//! are never updated in place: the newer row replaces the older.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};
use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, OptionalExtension};

use super::atomic::{fsync_dir, mkdirs};
use super::hashpath::hex;
use super::{Result, StorageError, Timestamp};

mod listing;
mod merge;
mod pending;
mod prealloc;
mod schema;
mod sync;
mod upkeep;

pub use listing::{ListParams, ListRow};
pub use merge::extract_swift_bytes;
pub use pending::{
    pending_path, put_records, try_append_records, ContainerRecord, Record, PENDING_CAP,
    PENDING_TIMEOUT,
};
pub use prealloc::{db_preallocation, prealloc_target, set_db_preallocation};
pub use sync::Row;
pub use upkeep::{is_corruption, quarantine_db, Reported};

/// Which kind of database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Account,
    Container,
}

impl DbKind {
    /// The data directory name under a device.
    pub fn datadir(self) -> &'static str {
        match self {
            DbKind::Account => "accounts",
            DbKind::Container => "containers",
        }
    }
    fn stat_table(self) -> &'static str {
        match self {
            DbKind::Account => "account_stat",
            DbKind::Container => "container_stat",
        }
    }
}

/// Path of a database file for a hash.
pub fn db_path(dev: &Path, kind: DbKind, partition: &str, hash: &str) -> PathBuf {
    dev.join(kind.datadir())
        .join(partition)
        .join(&hash[29..])
        .join(hash)
        .join(format!("{hash}.db"))
}

/// Summary of a database's stat row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbInfo {
    pub account: String,
    pub container: Option<String>,
    pub created_at: String,
    pub put_timestamp: String,
    pub delete_timestamp: String,
    pub status_changed_at: String,
    pub object_count: i64,
    pub bytes_used: i64,
    /// Account DBs only.
    pub container_count: i64,
    pub storage_policy_index: u32,
    pub hash: String,
    pub id: String,
    /// Header → (value, timestamp); an empty value means deleted.
    pub metadata: BTreeMap<String, (String, String)>,
}

/// Per-policy usage in an account DB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStat {
    pub policy: u32,
    pub container_count: i64,
    pub object_count: i64,
    pub bytes_used: i64,
}

/// An object row as an object server reports it to a container database.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectRow {
    pub name: String,
    /// The data timestamp (the PUT or DELETE).
    pub ts: Timestamp,
    pub size: u64,
    pub content_type: String,
    pub etag: String,
    pub deleted: bool,
    pub policy: u32,
    /// When the content type was last set, if not at `ts` (Swift's
    /// `ctype_timestamp`, from a POST that changed it).
    pub ctype_ts: Option<Timestamp>,
    /// When the metadata was last set, if not with the content type
    /// (Swift's `meta_timestamp`).
    pub meta_ts: Option<Timestamp>,
}

/// One open account or container database.
pub struct Broker {
    conn: Connection,
    pub path: PathBuf,
    pub kind: DbKind,
    /// How long to wait for the directory lock around the pending file.
    pending_timeout: Duration,
    /// Reads go ahead on what is committed when the pending file cannot be
    /// merged at once (Swift's `stale_reads_ok`).
    stale_reads_ok: bool,
}

fn chexor(old: &str, name: &str, ts: &str) -> String {
    let new = Md5::digest(format!("{name}-{ts}").as_bytes());
    let old = u128::from_str_radix(old, 16).unwrap_or(0);
    format!("{:032x}", old ^ u128::from_be_bytes(new.into()))
}

fn connect(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(25))?;
    // Writers take the write lock when they begin: two deferred
    // transactions that both read and then both write deadlock, and SQLite
    // fails one at once ("database is locked") instead of waiting.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    conn.create_scalar_function(
        "chexor",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let old: String = ctx.get(0)?;
            let name: String = ctx.get(1)?;
            let ts: String = ctx.get(2)?;
            Ok(chexor(&old, &name, &ts))
        },
    )?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; PRAGMA journal_mode = DELETE;",
    )?;
    Ok(conn)
}

impl Broker {
    /// Opens an existing database; `None` if there is none.
    pub fn open(path: &Path, kind: DbKind) -> Result<Option<Broker>> {
        if !path.is_file() {
            return Ok(None);
        }
        Ok(Some(Broker::connected(path, kind)?))
    }

    fn connected(path: &Path, kind: DbKind) -> Result<Broker> {
        Ok(Broker {
            conn: connect(path)?,
            path: path.into(),
            kind,
            pending_timeout: PENDING_TIMEOUT,
            stale_reads_ok: false,
        })
    }

    /// For the servers' GET and HEAD, as Swift's: a short wait for the
    /// pending lock (0.1 s), and a read of what is committed if it stays
    /// busy.
    pub fn stale_reads_ok(mut self) -> Broker {
        self.pending_timeout = Duration::from_millis(100);
        self.stale_reads_ok = true;
        self
    }

    /// Creates a database atomically (built in a temp file, then renamed).
    pub fn create(
        path: &Path,
        kind: DbKind,
        account: &str,
        container: Option<&str>,
        put_timestamp: Timestamp,
        policy: u32,
    ) -> Result<Broker> {
        let dir = path.parent().unwrap_or(Path::new("."));
        mkdirs(dir)?;
        let tmp = dir.join(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
        {
            let conn = connect(&tmp)?;
            let now = Timestamp::now().internal();
            let id = uuid::Uuid::new_v4().to_string();
            let put = put_timestamp.internal();
            conn.execute_batch(schema::SYNC_TABLES)?;
            match kind {
                DbKind::Container => {
                    conn.execute_batch(schema::CONTAINER)?;
                    conn.execute(
                        "INSERT INTO policy_stat (storage_policy_index) VALUES (?1)",
                        params![policy],
                    )?;
                    conn.execute(
                        "INSERT INTO container_info (account, container, created_at, id, put_timestamp, status_changed_at, storage_policy_index) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                        params![account, container.unwrap_or_default(), now, id, put, policy],
                    )?;
                }
                DbKind::Account => {
                    conn.execute_batch(schema::ACCOUNT)?;
                    conn.execute(
                        "UPDATE account_stat SET account = ?1, created_at = ?2, id = ?3, put_timestamp = ?4, status_changed_at = ?4",
                        params![account, now, id, put],
                    )?;
                }
            }
            let f = std::fs::File::open(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
            f.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
        }
        {
            // The directory lock, as Swift's `initialize` takes it.
            let _held = crate::storage::hashes::lock_dir_timeout(dir, PENDING_TIMEOUT)?
                .ok_or_else(|| StorageError::LockTimeout(dir.join(".lock")))?;
            if path.exists() {
                // Lost a race with another creator: use theirs.
                let _ = std::fs::remove_file(&tmp);
            } else {
                std::fs::rename(&tmp, path).map_err(|e| StorageError::io(path, e))?;
                fsync_dir(dir)?;
            }
        }
        Broker::connected(path, kind)
    }

    /// The stat row, counts and metadata.
    pub fn info(&self) -> Result<DbInfo> {
        self.commit_pending()?;
        let mut info = DbInfo::default();
        let meta: String = match self.kind {
            DbKind::Container => self.conn.query_row(
                "SELECT account, container, created_at, put_timestamp, delete_timestamp, status_changed_at, \
                 object_count, bytes_used, storage_policy_index, hash, id, metadata FROM container_stat",
                [],
                |r| {
                    info.account = r.get(0)?;
                    info.container = Some(r.get(1)?);
                    info.created_at = r.get(2)?;
                    info.put_timestamp = r.get(3)?;
                    info.delete_timestamp = r.get(4)?;
                    info.status_changed_at = r.get(5)?;
                    info.object_count = r.get(6)?;
                    info.bytes_used = r.get(7)?;
                    info.storage_policy_index = r.get(8)?;
                    info.hash = r.get(9)?;
                    info.id = r.get(10)?;
                    r.get::<_, Option<String>>(11).map(Option::unwrap_or_default)
                },
            )?,
            DbKind::Account => self.conn.query_row(
                "SELECT account, created_at, put_timestamp, delete_timestamp, status_changed_at, container_count, \
                 object_count, bytes_used, hash, id, metadata FROM account_stat",
                [],
                |r| {
                    info.account = r.get(0)?;
                    info.created_at = r.get(1)?;
                    info.put_timestamp = r.get(2)?;
                    info.delete_timestamp = r.get(3)?;
                    info.status_changed_at = r.get(4)?;
                    info.container_count = r.get(5)?;
                    info.object_count = r.get(6)?;
                    info.bytes_used = r.get(7)?;
                    info.hash = r.get(8)?;
                    info.id = r.get(9)?;
                    r.get::<_, Option<String>>(10).map(Option::unwrap_or_default)
                },
            )?,
        };
        info.metadata = parse_metadata(&meta);
        Ok(info)
    }

    /// Swift's "deleted" test: deleted after the last PUT and empty (an
    /// account is also deleted once its status says so, even with
    /// containers left for the reaper).
    pub fn is_deleted(&self) -> Result<bool> {
        if self.kind == DbKind::Account && self.is_status_deleted()? {
            return Ok(true);
        }
        let i = self.info()?;
        let (put, del) = (ts_of(&i.put_timestamp), ts_of(&i.delete_timestamp));
        let count = if self.kind == DbKind::Account {
            i.container_count
        } else {
            i.object_count
        };
        Ok(del > put && count == 0)
    }

    /// Account DBs: marked deleted (`status` or a delete after the last
    /// PUT), whatever it still holds; what the reaper looks for.
    pub fn is_status_deleted(&self) -> Result<bool> {
        self.commit_pending()?;
        let table = self.kind.stat_table();
        let (status, put, del): (String, String, String) = self.conn.query_row(
            &format!("SELECT status, put_timestamp, delete_timestamp FROM {table}"),
            [],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get(1)?,
                    r.get(2)?,
                ))
            },
        )?;
        Ok(status == "DELETED" || ts_of(&del) > ts_of(&put))
    }

    /// Records a newer PUT of the database itself (revives a deleted one).
    pub fn update_put_timestamp(&self, ts: Timestamp) -> Result<()> {
        let table = self.kind.stat_table();
        self.conn.execute(
            &format!("UPDATE {table} SET put_timestamp = ?1 WHERE put_timestamp < ?1"),
            params![ts.internal()],
        )?;
        Ok(())
    }

    /// Marks the database deleted at `ts`, as Swift's `delete_db`: its
    /// metadata is cleared first (container sharding keys kept), then the
    /// delete timestamp and status `DELETED` are set unless a newer delete
    /// is already recorded.
    pub fn mark_deleted(&self, ts: Timestamp) -> Result<()> {
        let table = self.kind.stat_table();
        let t = ts.internal();
        let keep: &[&str] = match self.kind {
            DbKind::Account => &[],
            DbKind::Container => &[
                "x-container-sysmeta-shard-quoted-root",
                "x-container-sysmeta-shard-root",
                "x-container-sysmeta-sharding",
            ],
        };
        let cleared: BTreeMap<String, (String, String)> = self
            .info()?
            .metadata
            .into_keys()
            .filter(|k| !keep.contains(&k.to_ascii_lowercase().as_str()))
            .map(|k| (k, (String::new(), t.clone())))
            .collect();
        self.update_metadata(&cleared)?;
        self.conn.execute(
            &format!(
                "UPDATE {table} SET delete_timestamp = ?1, status = 'DELETED', \
                 status_changed_at = ?1 WHERE delete_timestamp < ?1"
            ),
            params![t],
        )?;
        Ok(())
    }

    /// Merges metadata updates (newer timestamps win per key).
    pub fn update_metadata(&self, updates: &BTreeMap<String, (String, String)>) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let table = self.kind.stat_table();
        let tx = self.conn.unchecked_transaction()?;
        let raw: String = tx.query_row(&format!("SELECT metadata FROM {table}"), [], |r| {
            r.get::<_, Option<String>>(0).map(Option::unwrap_or_default)
        })?;
        let mut meta = parse_metadata(&raw);
        for (k, (v, t)) in updates {
            if meta.get(k).is_none_or(|(_, old)| ts_of(old) < ts_of(t)) {
                meta.insert(k.clone(), (v.clone(), t.clone()));
            }
        }
        check_user_metadata(&meta)?;
        let json: serde_json::Map<String, serde_json::Value> = meta
            .into_iter()
            .map(|(k, (v, t))| (k, serde_json::json!([v, t])))
            .collect();
        tx.execute(
            &format!("UPDATE {table} SET metadata = ?1"),
            // Written as Swift's `json.dumps` writes it, so both agree byte for byte.
            params![crate::recon::pyfmt::json_dumps(
                &serde_json::Value::Object(json),
                false
            )],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Container DB: records an object PUT (`deleted = false`) or DELETE if newer than what is there.
    #[allow(clippy::too_many_arguments)] // mirrors the object row columns
    pub fn put_object(
        &self,
        name: &str,
        ts: Timestamp,
        size: u64,
        content_type: &str,
        etag: &str,
        deleted: bool,
        policy: u32,
    ) -> Result<()> {
        self.put_objects(&[ObjectRow {
            name: name.into(),
            ts,
            size,
            content_type: content_type.into(),
            etag: etag.into(),
            deleted,
            policy,
            ..ObjectRow::default()
        }])
    }

    /// Container DB: records object rows (appended to the pending file,
    /// merged in order, each only if newer than what is there).
    pub fn put_objects(&self, rows: &[ObjectRow]) -> Result<()> {
        let records: Vec<Record> = rows.iter().cloned().map(Record::Object).collect();
        self.put_records(&records)
    }

    /// Account DB: records a container's latest stats (as sent by a
    /// container server), through the pending file.
    pub fn put_container(
        &self,
        name: &str,
        put_ts: &str,
        delete_ts: &str,
        objects: i64,
        bytes: i64,
        policy: u32,
    ) -> Result<()> {
        self.put_records(&[Record::Container(ContainerRecord {
            name: name.into(),
            put_timestamp: put_ts.into(),
            delete_timestamp: delete_ts.into(),
            object_count: objects,
            bytes_used: bytes,
            policy,
        })])
    }

    /// Account DB: usage per storage policy.
    pub fn policy_stats(&self) -> Result<Vec<PolicyStat>> {
        self.commit_pending()?;
        let mut stmt = self.conn.prepare("SELECT storage_policy_index, container_count, object_count, bytes_used FROM policy_stat ORDER BY storage_policy_index")?;
        let rows = stmt.query_map([], |r| {
            Ok(PolicyStat {
                policy: r.get(0)?,
                container_count: r.get(1)?,
                object_count: r.get(2)?,
                bytes_used: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

// The row lookups of a merge. Both tables are indexed on (deleted, name)
// only, as Swift's schema has it: a lookup by name alone scans the whole
// table, so every one names `deleted IN (0, 1)` (as Swift's merges do) to
// search the index instead. A merge of a full pending file into a large
// container is then a few milliseconds, not seconds. (The object table's
// are in `merge`.)
const CONTAINER_FIND: &str =
    "SELECT put_timestamp, delete_timestamp FROM container WHERE deleted IN (0, 1) AND name = ?1";
const CONTAINER_DELETE: &str = "DELETE FROM container WHERE deleted IN (0, 1) AND name = ?1";

/// Account DB: writes a container's row in `tx`, keeping the newest put
/// and delete timestamps.
fn insert_container(tx: &Connection, c: &ContainerRecord) -> Result<()> {
    let name = &c.name;
    let existing: Option<(String, String)> = tx
        .prepare_cached(CONTAINER_FIND)?
        .query_row(params![name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (mut put, mut del) = (c.put_timestamp.clone(), c.delete_timestamp.clone());
    if let Some((old_put, old_del)) = existing {
        if ts_of(&old_put) > ts_of(&put) {
            put = old_put;
        }
        if ts_of(&old_del) > ts_of(&del) {
            del = old_del;
        }
        tx.prepare_cached(CONTAINER_DELETE)?
            .execute(params![name])?;
    }
    // As Swift's merge: deleted when the newest delete beats the newest
    // put and the report counts no objects, so a stale report (read before
    // a DELETE, arriving after it) does not revive the container.
    let deleted = ts_of(&del) > ts_of(&put) && c.object_count == 0;
    let (objects, bytes) = if deleted {
        (0, 0)
    } else {
        (c.object_count, c.bytes_used)
    };
    tx.prepare_cached(
        "INSERT INTO container (name, put_timestamp, delete_timestamp, object_count, bytes_used, deleted, storage_policy_index) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![name, put, del, objects, bytes, i64::from(deleted), c.policy])?;
    Ok(())
}

/// Parses a stored timestamp, treating junk as zero.
fn ts_of(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_default()
}

fn parse_metadata(raw: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(raw) {
        for (k, v) in m {
            if let Some([val, ts]) = v.as_array().map(Vec::as_slice) {
                out.insert(
                    k,
                    (
                        val.as_str().unwrap_or_default().to_string(),
                        ts.as_str().unwrap_or_default().to_string(),
                    ),
                );
            }
        }
    }
    out
}

/// `hex(md5(...))` re-exported for listing ETags and tests.
/// Swift's limits on a database's whole user metadata (what the clients set
/// with `X-Account-Meta-*` / `X-Container-Meta-*`, counting live values).
const MAX_META_COUNT: usize = 90;
const MAX_META_OVERALL_SIZE: usize = 4096;

fn check_user_metadata(meta: &BTreeMap<String, (String, String)>) -> Result<()> {
    let (mut count, mut size) = (0usize, 0usize);
    for (k, (v, _)) in meta {
        let key = k.to_ascii_lowercase();
        let name = key
            .strip_prefix("x-account-meta-")
            .or_else(|| key.strip_prefix("x-container-meta-"));
        if let (Some(name), false) = (name, v.is_empty()) {
            count += 1;
            size += name.len() + v.len();
        }
    }
    if count > MAX_META_COUNT {
        return Err(StorageError::MetadataLimit(format!(
            "Too many metadata items; max {MAX_META_COUNT}"
        )));
    }
    if size > MAX_META_OVERALL_SIZE {
        return Err(StorageError::MetadataLimit(format!(
            "Total metadata too large; max {MAX_META_OVERALL_SIZE}"
        )));
    }
    Ok(())
}

pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_metadata_is_limited_as_a_whole() {
        let item = |i: usize, v: &str| {
            (
                format!("X-Container-Meta-K{i}"),
                (v.to_string(), "1".into()),
            )
        };
        let mut meta: BTreeMap<_, _> = (0..90).map(|i| item(i, "v")).collect();
        meta.insert("X-Container-Sysmeta-Z".into(), ("x".into(), "1".into()));
        assert!(check_user_metadata(&meta).is_ok());
        meta.insert(item(90, "").0, item(90, "").1);
        assert!(
            check_user_metadata(&meta).is_ok(),
            "empty values are deletions"
        );
        meta.insert(item(91, "v").0, item(91, "v").1);
        assert!(check_user_metadata(&meta)
            .unwrap_err()
            .to_string()
            .contains("Too many"));
        let big: BTreeMap<_, _> = (0..2).map(|i| item(i, &"x".repeat(2100))).collect();
        assert!(check_user_metadata(&big)
            .unwrap_err()
            .to_string()
            .contains("too large"));
    }

    #[test]
    fn merge_lookups_search_the_name_index() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Timestamp::parse("1700000000").unwrap();
        let c = Broker::create(
            &dir.path().join("c.db"),
            DbKind::Container,
            "a",
            Some("c"),
            t0,
            0,
        );
        let a = Broker::create(&dir.path().join("a.db"), DbKind::Account, "a", None, t0, 0);
        let plan = |b: &Broker, sql: &str| -> String {
            let mut st = b
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let args = vec!["x"; st.parameter_count()];
            let rows = st
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .unwrap();
            rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
        };
        let (c, a) = (c.unwrap(), a.unwrap());
        for (b, sql, index) in [
            (&c, merge::OBJECT_FIND, "ix_object_deleted_name"),
            (&c, merge::OBJECT_DELETE, "ix_object_deleted_name"),
            (&a, CONTAINER_FIND, "ix_container_deleted_name"),
            (&a, CONTAINER_DELETE, "ix_container_deleted_name"),
        ] {
            let p = plan(b, sql);
            assert!(p.contains("SEARCH") && p.contains(index), "{sql}: {p}");
        }
        // A newer row replaces the older, an older one is ignored.
        let row = |ts: &str, size| ObjectRow {
            name: "o".into(),
            ts: Timestamp::parse(ts).unwrap(),
            size,
            content_type: "t/p".into(),
            etag: "e".into(),
            deleted: false,
            policy: 0,
            ..ObjectRow::default()
        };
        for r in [
            row("1700000002", 2),
            row("1700000001", 1),
            row("1700000003", 3),
        ] {
            merge::merge_object(&c.conn, &r).unwrap();
        }
        let rows: Vec<(String, i64)> = c
            .conn
            .prepare("SELECT created_at, size FROM object")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows, [("1700000003.00000".to_string(), 3)]);
    }

    #[test]
    fn chexor_is_an_xor() {
        let a = chexor("00000000000000000000000000000000", "o", "1");
        assert_eq!(chexor(&a, "o", "1"), "00000000000000000000000000000000");
    }
}
