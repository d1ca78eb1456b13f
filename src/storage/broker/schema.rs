//! Swift's account and container database schema (tables, views, triggers).
//!
//! Column names, defaults and trigger behaviour must match Swift's so its
//! tools and replicators can read and merge our databases.

pub(super) const SYNC_TABLES: &str = "
CREATE TABLE outgoing_sync (remote_id TEXT UNIQUE, sync_point INTEGER, updated_at TEXT DEFAULT 0);
CREATE TABLE incoming_sync (remote_id TEXT UNIQUE, sync_point INTEGER, updated_at TEXT DEFAULT 0);
CREATE TRIGGER outgoing_sync_insert AFTER INSERT ON outgoing_sync
BEGIN UPDATE outgoing_sync SET updated_at = STRFTIME('%s', 'NOW') WHERE ROWID = new.ROWID; END;
CREATE TRIGGER outgoing_sync_update AFTER UPDATE ON outgoing_sync
BEGIN UPDATE outgoing_sync SET updated_at = STRFTIME('%s', 'NOW') WHERE ROWID = new.ROWID; END;
CREATE TRIGGER incoming_sync_insert AFTER INSERT ON incoming_sync
BEGIN UPDATE incoming_sync SET updated_at = STRFTIME('%s', 'NOW') WHERE ROWID = new.ROWID; END;
CREATE TRIGGER incoming_sync_update AFTER UPDATE ON incoming_sync
BEGIN UPDATE incoming_sync SET updated_at = STRFTIME('%s', 'NOW') WHERE ROWID = new.ROWID; END;
";

pub(super) const CONTAINER: &str = "
CREATE TABLE object (
    ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT, created_at TEXT, size INTEGER, content_type TEXT, etag TEXT,
    deleted INTEGER DEFAULT 0, storage_policy_index INTEGER DEFAULT 0
);
CREATE INDEX ix_object_deleted_name ON object (deleted, name);
CREATE TRIGGER object_update BEFORE UPDATE ON object
BEGIN SELECT RAISE(FAIL, 'UPDATE not allowed; DELETE and INSERT'); END;
CREATE TRIGGER object_insert_policy_stat AFTER INSERT ON object
BEGIN
    UPDATE policy_stat
    SET object_count = object_count + (1 - new.deleted), bytes_used = bytes_used + new.size
    WHERE storage_policy_index = new.storage_policy_index;
    INSERT INTO policy_stat (storage_policy_index, object_count, bytes_used)
    SELECT new.storage_policy_index, (1 - new.deleted), new.size
    WHERE NOT EXISTS (SELECT changes() AS change FROM policy_stat WHERE change <> 0);
    UPDATE container_info SET hash = chexor(hash, new.name, new.created_at);
END;
CREATE TRIGGER object_delete_policy_stat AFTER DELETE ON object
BEGIN
    UPDATE policy_stat
    SET object_count = object_count - (1 - old.deleted), bytes_used = bytes_used - old.size
    WHERE storage_policy_index = old.storage_policy_index;
    UPDATE container_info SET hash = chexor(hash, old.name, old.created_at);
END;
CREATE TABLE policy_stat (
    storage_policy_index INTEGER PRIMARY KEY, object_count INTEGER DEFAULT 0, bytes_used INTEGER DEFAULT 0
);
CREATE TABLE container_info (
    account TEXT, container TEXT, created_at TEXT,
    put_timestamp TEXT DEFAULT '0', delete_timestamp TEXT DEFAULT '0',
    reported_put_timestamp TEXT DEFAULT '0', reported_delete_timestamp TEXT DEFAULT '0',
    reported_object_count INTEGER DEFAULT 0, reported_bytes_used INTEGER DEFAULT 0,
    hash TEXT default '00000000000000000000000000000000', id TEXT,
    status TEXT DEFAULT '', status_changed_at TEXT DEFAULT '0', metadata TEXT DEFAULT '',
    x_container_sync_point1 INTEGER DEFAULT -1, x_container_sync_point2 INTEGER DEFAULT -1,
    storage_policy_index INTEGER DEFAULT 0, reconciler_sync_point INTEGER DEFAULT -1
);
CREATE VIEW container_stat AS SELECT
    ci.account, ci.container, ci.created_at, ci.put_timestamp, ci.delete_timestamp,
    ci.reported_put_timestamp, ci.reported_delete_timestamp, ci.reported_object_count,
    ci.reported_bytes_used, ci.hash, ci.id, ci.status, ci.status_changed_at, ci.metadata,
    ci.x_container_sync_point1, ci.x_container_sync_point2, ci.reconciler_sync_point,
    ci.storage_policy_index,
    coalesce(ps.object_count, 0) AS object_count, coalesce(ps.bytes_used, 0) AS bytes_used
FROM container_info ci LEFT JOIN policy_stat ps ON ci.storage_policy_index = ps.storage_policy_index;
CREATE TRIGGER container_stat_update INSTEAD OF UPDATE ON container_stat
BEGIN
    UPDATE container_info SET
        account = NEW.account, container = NEW.container, created_at = NEW.created_at,
        put_timestamp = NEW.put_timestamp, delete_timestamp = NEW.delete_timestamp,
        reported_put_timestamp = NEW.reported_put_timestamp,
        reported_delete_timestamp = NEW.reported_delete_timestamp,
        reported_object_count = NEW.reported_object_count,
        reported_bytes_used = NEW.reported_bytes_used, hash = NEW.hash, id = NEW.id,
        status = NEW.status, status_changed_at = NEW.status_changed_at, metadata = NEW.metadata,
        x_container_sync_point1 = NEW.x_container_sync_point1,
        x_container_sync_point2 = NEW.x_container_sync_point2,
        storage_policy_index = NEW.storage_policy_index,
        reconciler_sync_point = NEW.reconciler_sync_point;
END;
CREATE TABLE shard_range (
    ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT, timestamp TEXT, lower TEXT, upper TEXT,
    object_count INTEGER DEFAULT 0, bytes_used INTEGER DEFAULT 0, meta_timestamp TEXT,
    deleted INTEGER DEFAULT 0, state INTEGER, state_timestamp TEXT, epoch TEXT,
    reported INTEGER DEFAULT 0, tombstones INTEGER DEFAULT -1
);
CREATE TRIGGER shard_range_update BEFORE UPDATE ON shard_range
BEGIN SELECT RAISE(FAIL, 'UPDATE not allowed; DELETE and INSERT'); END;
";

pub(super) const ACCOUNT: &str = "
CREATE TABLE container (
    ROWID INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT, put_timestamp TEXT, delete_timestamp TEXT,
    object_count INTEGER, bytes_used INTEGER,
    deleted INTEGER DEFAULT 0, storage_policy_index INTEGER DEFAULT 0
);
CREATE INDEX ix_container_deleted_name ON container (deleted, name);
CREATE TRIGGER container_insert AFTER INSERT ON container
BEGIN
    UPDATE account_stat
    SET container_count = container_count + (1 - new.deleted),
        object_count = object_count + new.object_count,
        bytes_used = bytes_used + new.bytes_used,
        hash = chexor(hash, new.name,
                      new.put_timestamp || '-' || new.delete_timestamp || '-' ||
                      new.object_count || '-' || new.bytes_used);
END;
CREATE TRIGGER container_update BEFORE UPDATE ON container
BEGIN SELECT RAISE(FAIL, 'UPDATE not allowed; DELETE and INSERT'); END;
CREATE TRIGGER container_delete AFTER DELETE ON container
BEGIN
    UPDATE account_stat
    SET container_count = container_count - (1 - old.deleted),
        object_count = object_count - old.object_count,
        bytes_used = bytes_used - old.bytes_used,
        hash = chexor(hash, old.name,
                      old.put_timestamp || '-' || old.delete_timestamp || '-' ||
                      old.object_count || '-' || old.bytes_used);
END;
CREATE TRIGGER container_insert_ps AFTER INSERT ON container
BEGIN
    INSERT OR IGNORE INTO policy_stat (storage_policy_index, container_count, object_count, bytes_used)
    VALUES (new.storage_policy_index, 0, 0, 0);
    UPDATE policy_stat
    SET container_count = container_count + (1 - new.deleted),
        object_count = object_count + new.object_count,
        bytes_used = bytes_used + new.bytes_used
    WHERE storage_policy_index = new.storage_policy_index;
END;
CREATE TRIGGER container_delete_ps AFTER DELETE ON container
BEGIN
    UPDATE policy_stat
    SET container_count = container_count - (1 - old.deleted),
        object_count = object_count - old.object_count,
        bytes_used = bytes_used - old.bytes_used
    WHERE storage_policy_index = old.storage_policy_index;
END;
CREATE TABLE account_stat (
    account TEXT, created_at TEXT,
    put_timestamp TEXT DEFAULT '0', delete_timestamp TEXT DEFAULT '0',
    container_count INTEGER, object_count INTEGER DEFAULT 0, bytes_used INTEGER DEFAULT 0,
    hash TEXT default '00000000000000000000000000000000', id TEXT,
    status TEXT DEFAULT '', status_changed_at TEXT DEFAULT '0', metadata TEXT DEFAULT ''
);
INSERT INTO account_stat (container_count) VALUES (0);
CREATE TABLE policy_stat (
    storage_policy_index INTEGER PRIMARY KEY, container_count INTEGER DEFAULT 0,
    object_count INTEGER DEFAULT 0, bytes_used INTEGER DEFAULT 0
);
";
