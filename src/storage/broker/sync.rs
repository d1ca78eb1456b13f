//! What database replication needs from a broker, as Swift's
//! `DatabaseBroker` provides it: the replication info, rows since a ROWID,
//! merging rows and sync points from a peer, merging the stat timestamps,
//! re-identifying a copied database, and reclaiming old tombstones.
//!
//! Rows travel as JSON objects with Swift's column names (`ROWID`, `name`,
//! `created_at`, ... for objects; `put_timestamp`, `delete_timestamp`, ...
//! for containers), so a Swift replicator and ours exchange the same items.

use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};

use super::{parse_metadata, ts_of, Broker, DbKind, ObjectRow};
use crate::storage::timestamp::decode_timestamps;
use crate::storage::{Result, Timestamp};

/// One row as a JSON object, or a sync point, as sent between replicas.
pub type Row = Map<String, Value>;

impl DbKind {
    /// The table of rows the database holds (`object` or `container`).
    pub fn item_table(self) -> &'static str {
        match self {
            DbKind::Account => "container",
            DbKind::Container => "object",
        }
    }
}

fn sync_table(incoming: bool) -> &'static str {
    if incoming {
        "incoming_sync"
    } else {
        "outgoing_sync"
    }
}

fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => json!(String::from_utf8_lossy(b)),
    }
}

fn text(row: &Row, key: &str) -> String {
    match row.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn int(row: &Row, key: &str) -> i64 {
    match row.get(key) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(n.as_f64().unwrap_or(0.0) as i64),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        Some(Value::Bool(b)) => i64::from(*b),
        _ => 0,
    }
}

impl Broker {
    /// The highest ROWID ever used in the item table (`-1` for none), from
    /// `sqlite_sequence` as Swift reads it.
    pub fn max_row(&self) -> Result<i64> {
        let seq: Option<i64> = self
            .conn()
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = ?1 LIMIT 1",
                params![self.kind.item_table()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(seq.unwrap_or(-1))
    }

    /// The raw metadata JSON of the stat row.
    pub fn raw_metadata(&self) -> Result<String> {
        let table = self.kind.stat_table();
        Ok(self
            .conn()
            .query_row(&format!("SELECT metadata FROM {table}"), [], |r| {
                r.get::<_, Option<String>>(0)
            })?
            .unwrap_or_default())
    }

    /// Swift's `get_replication_info()`: the stat row with the item count
    /// as `count`, the raw `metadata`, `max_row` (and, for containers,
    /// `db_state` and `shard_max_row`), keys in Swift's order.
    pub fn replication_info(&self) -> Result<Row> {
        self.commit_pending()?;
        let sql = match self.kind {
            DbKind::Container => {
                "SELECT account, container, created_at, put_timestamp, delete_timestamp, status, \
                 status_changed_at, object_count, bytes_used, reported_put_timestamp, \
                 reported_delete_timestamp, reported_object_count, reported_bytes_used, hash, id, \
                 x_container_sync_point1, x_container_sync_point2, storage_policy_index \
                 FROM container_stat"
            }
            DbKind::Account => {
                "SELECT account, created_at, put_timestamp, delete_timestamp, status_changed_at, \
                 container_count, object_count, bytes_used, hash, id FROM account_stat"
            }
        };
        let mut info = self.conn().query_row(sql, [], |r| {
            let mut m = Map::new();
            for (i, name) in r.as_ref().column_names().iter().enumerate() {
                m.insert(name.to_string(), json_of(r.get_ref(i)?));
            }
            Ok(m)
        })?;
        let count_key = match self.kind {
            DbKind::Container => {
                info.insert("db_state".into(), json!("unsharded"));
                "object_count"
            }
            DbKind::Account => "container_count",
        };
        let count = info.shift_remove(count_key).unwrap_or(json!(0));
        info.insert("count".into(), count);
        info.insert("metadata".into(), json!(self.raw_metadata()?));
        info.insert("max_row".into(), json!(self.max_row()?));
        if self.kind == DbKind::Container {
            let shard: Option<i64> = self
                .conn()
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'shard_range'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            info.insert("shard_max_row".into(), json!(shard.unwrap_or(-1)));
        }
        Ok(info)
    }

    /// Up to `count` rows with a ROWID above `start`, in ROWID order.
    pub fn items_since(&self, start: i64, count: usize) -> Result<Vec<Row>> {
        self.commit_pending()?;
        let table = self.kind.item_table();
        let mut stmt = self.conn().prepare(&format!(
            "SELECT * FROM {table} WHERE ROWID > ?1 ORDER BY ROWID ASC LIMIT ?2"
        ))?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let rows = stmt.query_map(params![start, count as i64], |r| {
            let mut m = Map::new();
            for (i, name) in names.iter().enumerate() {
                m.insert(name.clone(), json_of(r.get_ref(i)?));
            }
            Ok(m)
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Merges a peer's rows: per name (and policy, for objects) the newer
    /// row wins. With `source`, the incoming sync point for that peer
    /// moves up to the last ROWID merged.
    pub fn merge_items(&self, items: &[Row], source: Option<&str>) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let mut max_rowid = -1i64;
        for item in items {
            max_rowid = max_rowid.max(int(item, "ROWID"));
            let name = text(item, "name");
            let policy = int(item, "storage_policy_index");
            match self.kind {
                DbKind::Container => {
                    // The peer's `created_at` carries the row's three times.
                    let created = text(item, "created_at");
                    let (ts, ctype, meta) = decode_timestamps(&created).unwrap_or_default();
                    let row = ObjectRow {
                        name,
                        ts,
                        size: u64::try_from(int(item, "size")).unwrap_or(0),
                        content_type: text(item, "content_type"),
                        etag: text(item, "etag"),
                        deleted: int(item, "deleted") != 0,
                        policy: u32::try_from(policy).unwrap_or(0),
                        ctype_ts: (ctype != ts).then_some(ctype),
                        meta_ts: (meta != ctype).then_some(meta),
                    };
                    super::merge::merge_object(&tx, &row)?;
                }
                DbKind::Account => {
                    let mut put = text(item, "put_timestamp");
                    let mut del = text(item, "delete_timestamp");
                    let objects = int(item, "object_count");
                    let mut deleted = int(item, "deleted");
                    let existing: Option<(String, String)> = tx
                        .query_row(
                            "SELECT put_timestamp, delete_timestamp FROM container \
                             WHERE name = ?1 AND deleted IN (0, 1)",
                            params![name],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    if let Some((old_put, old_del)) = existing {
                        if ts_of(&old_put) > ts_of(&put) {
                            put = old_put;
                        }
                        if ts_of(&old_del) > ts_of(&del) {
                            del = old_del;
                        }
                        deleted = i64::from(ts_of(&del) > ts_of(&put) && objects == 0);
                    }
                    tx.execute(
                        "DELETE FROM container WHERE name = ?1 AND deleted IN (0, 1)",
                        params![name],
                    )?;
                    tx.execute(
                        "INSERT INTO container (name, put_timestamp, delete_timestamp, object_count, \
                         bytes_used, deleted, storage_policy_index) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![name, put, del, objects, int(item, "bytes_used"), deleted, policy],
                    )?;
                }
            }
        }
        if let Some(src) = source {
            if !items.is_empty() {
                merge_sync(&tx, "incoming_sync", src, max_rowid)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The sync point recorded for a peer database id (`-1` if none).
    pub fn get_sync(&self, remote_id: &str, incoming: bool) -> Result<i64> {
        let table = sync_table(incoming);
        let p: Option<i64> = self
            .conn()
            .query_row(
                &format!("SELECT sync_point FROM {table} WHERE remote_id = ?1"),
                params![remote_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(p.unwrap_or(-1))
    }

    /// The whole sync table as `{remote_id, sync_point}` objects.
    pub fn get_syncs(&self, incoming: bool) -> Result<Vec<Row>> {
        let table = sync_table(incoming);
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT remote_id, sync_point FROM {table}"))?;
        let rows = stmt.query_map([], |r| {
            let mut m = Map::new();
            m.insert("remote_id".into(), json_of(r.get_ref(0)?));
            m.insert("sync_point".into(), json_of(r.get_ref(1)?));
            Ok(m)
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Merges sync points (each only moves up).
    pub fn merge_syncs(&self, points: &[Row], incoming: bool) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        for p in points {
            merge_sync(
                &tx,
                sync_table(incoming),
                &text(p, "remote_id"),
                int(p, "sync_point"),
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Keeps the oldest `created_at` and the newest put and delete
    /// timestamps; `status_changed_at` moves when the deleted state flips.
    pub fn merge_timestamps(&self, created: &str, put: &str, delete: &str) -> Result<()> {
        let table = self.kind.stat_table();
        let before = self.is_deleted()?;
        let info = self.info()?;
        let created = if ts_of(created) < ts_of(&info.created_at) && !created.is_empty() {
            created.to_string()
        } else {
            info.created_at
        };
        let put = if ts_of(put) > ts_of(&info.put_timestamp) {
            put.to_string()
        } else {
            info.put_timestamp
        };
        let delete = if ts_of(delete) > ts_of(&info.delete_timestamp) {
            delete.to_string()
        } else {
            info.delete_timestamp
        };
        self.conn().execute(
            &format!(
                "UPDATE {table} SET created_at = ?1, put_timestamp = ?2, delete_timestamp = ?3"
            ),
            params![created, put, delete],
        )?;
        if before != self.is_deleted()? {
            self.conn().execute(
                &format!("UPDATE {table} SET status_changed_at = ?1"),
                params![Timestamp::now().internal()],
            )?;
        }
        Ok(())
    }

    /// Gives a copied-in database its own id (`<uuid>-<device>`) and
    /// records that it holds everything of `remote_id` up to its last row.
    pub fn newid(&self, remote_id: &str, device: &str) -> Result<()> {
        let table = self.kind.stat_table();
        let tx = self.conn().unchecked_transaction()?;
        tx.execute(
            &format!("UPDATE {table} SET id = ?1"),
            params![format!("{}-{device}", uuid::Uuid::new_v4())],
        )?;
        let last: Option<i64> = tx
            .query_row(
                &format!(
                    "SELECT ROWID FROM {} ORDER BY ROWID DESC LIMIT 1",
                    self.kind.item_table()
                ),
                [],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT OR REPLACE INTO incoming_sync (sync_point, remote_id) VALUES (?1, ?2)",
            params![last.unwrap_or(-1), remote_id],
        )?;
        if self.kind == DbKind::Container {
            tx.execute(
                "UPDATE container_stat SET reported_put_timestamp = 0, reported_delete_timestamp = 0, \
                 reported_object_count = 0, reported_bytes_used = 0",
                [],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies a peer's raw metadata JSON (newer timestamps win per key).
    pub fn merge_raw_metadata(&self, raw: &str) -> Result<()> {
        self.update_metadata(&parse_metadata(raw))
    }

    /// Drops deleted rows older than `age` and sync rows not updated since
    /// `sync_age` (UNIX seconds), as Swift's `reclaim`.
    pub fn reclaim(&self, age: f64, sync_age: f64) -> Result<()> {
        self.commit_pending()?;
        let cutoff = Timestamp::parse(&format!("{age:.5}"))
            .unwrap_or_default()
            .internal();
        let sql = match self.kind {
            DbKind::Container => "DELETE FROM object WHERE deleted = 1 AND created_at < ?1",
            DbKind::Account => "DELETE FROM container WHERE deleted = 1 AND delete_timestamp < ?1",
        };
        self.conn().execute(sql, params![cutoff])?;
        for t in ["incoming_sync", "outgoing_sync"] {
            self.conn().execute(
                &format!("DELETE FROM {t} WHERE updated_at < ?1"),
                params![sync_age as i64],
            )?;
        }
        Ok(())
    }

    /// Empty and deleted for longer than `reclaim_age` seconds before `now`.
    pub fn is_reclaimable(&self, now: f64, reclaim_age: f64) -> Result<bool> {
        let i = self.info()?;
        let count = match self.kind {
            DbKind::Account => i.container_count,
            DbKind::Container => i.object_count,
        };
        let limit = Timestamp::parse(&format!("{:.5}", now - reclaim_age)).unwrap_or_default();
        let (put, del) = (ts_of(&i.put_timestamp), ts_of(&i.delete_timestamp));
        Ok(count == 0 && limit > del && del > put)
    }

    /// Container DBs: whether the account has been told the current stats.
    pub fn reported_up_to_date(&self) -> Result<bool> {
        self.commit_pending()?;
        if self.kind != DbKind::Container {
            return Ok(true);
        }
        Ok(self.conn().query_row(
            "SELECT reported_put_timestamp = put_timestamp AND reported_delete_timestamp = \
             delete_timestamp AND reported_bytes_used = bytes_used AND reported_object_count = \
             object_count FROM container_stat",
            [],
            |r| r.get::<_, bool>(0),
        )?)
    }

    /// Holds SQLite's shared lock while `f` runs, so no writer commits in
    /// between (used to copy the file consistently).
    pub fn with_read_lock<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        self.commit_pending()?;
        self.conn().execute_batch("BEGIN DEFERRED")?;
        let locked: Result<i64> = self
            .conn()
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(Into::into);
        let out = locked.map(|_| f());
        self.conn().execute_batch("COMMIT")?;
        out
    }
}

fn merge_sync(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    remote_id: &str,
    point: i64,
) -> Result<()> {
    let n = tx.execute(
        &format!("UPDATE {table} SET sync_point = max(?1, sync_point) WHERE remote_id = ?2"),
        params![point, remote_id],
    )?;
    if n == 0 {
        tx.execute(
            &format!("INSERT INTO {table} (sync_point, remote_id) VALUES (?1, ?2)"),
            params![point, remote_id],
        )?;
    }
    Ok(())
}
