//! Group commit of object rows into container databases.
//!
//! Object servers send one row per object write, and concurrent writes to
//! one container all want the same database. Rows queue per database: the
//! first request appends its row to the database's pending file in place
//! when the file's lock is free and no merge is due (a few system calls on
//! cached pages, as Swift's server does it in its request handler);
//! otherwise, and for rows that gathered meanwhile, it drains the queue on
//! a blocking thread, appending whatever has gathered under one lock (the
//! broker merges that file into SQLite in batches). Every request gets its
//! answer once its row is in the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use axum::http::StatusCode;
use tokio::sync::oneshot;

use super::http::ApiError;
use crate::storage::broker::{
    put_records, try_append_records, DbKind, ObjectRow, Record, PENDING_TIMEOUT,
};

type Waiter = (ObjectRow, oneshot::Sender<Result<(), ApiError>>);
type Queues = Mutex<HashMap<PathBuf, Vec<Waiter>>>;

/// Rows waiting per container database; a key is present while its queue
/// is being drained.
static QUEUES: LazyLock<Arc<Queues>> = LazyLock::new(Default::default);

/// Records `row` in the container database at `path` (404 if it does not
/// exist or is deleted), committed together with concurrent rows.
pub async fn put_row(path: PathBuf, row: ObjectRow) -> Result<(), ApiError> {
    let (tx, rx) = oneshot::channel();
    let lead = {
        let mut q = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
        match q.get_mut(&path) {
            Some(waiting) => {
                waiting.push((row, tx));
                false
            }
            None => {
                q.insert(path.clone(), vec![(row, tx)]);
                true
            }
        }
    };
    if lead {
        lead_batch(QUEUES.clone(), path);
    }
    rx.await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "row batch lost"))?
}

/// The first batch of a queue: appended here when that needs no waiting,
/// else (and for whatever gathered meanwhile) on a blocking thread.
fn lead_batch(queues: Arc<Queues>, path: PathBuf) {
    let Some(batch) = take(&queues, &path) else {
        return;
    };
    let (rows, waiters): (Vec<ObjectRow>, Vec<_>) = batch.into_iter().unzip();
    let records: Vec<Record> = rows.into_iter().map(Record::Object).collect();
    match try_append_records(&path, &records) {
        Some(result) => {
            answer(waiters, result.map_err(ApiError::from));
            if more_queued(&queues, &path) {
                tokio::task::spawn_blocking(move || drain(&queues, &path));
            }
        }
        None => {
            tokio::task::spawn_blocking(move || {
                answer(waiters, commit(&path, &records));
                drain(&queues, &path);
            });
        }
    }
}

/// Takes the rows queued for `path`; `None` (and the queue removed) when
/// there are none.
fn take(queues: &Queues, path: &PathBuf) -> Option<Vec<Waiter>> {
    let mut q = queues.lock().unwrap_or_else(|e| e.into_inner());
    let taken = q.get_mut(path).map(std::mem::take).unwrap_or_default();
    if taken.is_empty() {
        q.remove(path);
        return None;
    }
    Some(taken)
}

/// Whether rows wait for `path`; if not, its queue is removed.
fn more_queued(queues: &Queues, path: &PathBuf) -> bool {
    let mut q = queues.lock().unwrap_or_else(|e| e.into_inner());
    if q.get(path).is_some_and(|w| !w.is_empty()) {
        return true;
    }
    q.remove(path);
    false
}

fn answer(waiters: Vec<oneshot::Sender<Result<(), ApiError>>>, result: Result<(), ApiError>) {
    for w in waiters {
        let _ = w.send(result.as_ref().map(|_| ()).map_err(clone_error));
    }
}

fn drain(queues: &Queues, path: &PathBuf) {
    while let Some(batch) = take(queues, path) {
        let (rows, waiters): (Vec<ObjectRow>, Vec<_>) = batch.into_iter().unzip();
        let records: Vec<Record> = rows.into_iter().map(Record::Object).collect();
        answer(waiters, commit(path, &records));
    }
}

fn commit(path: &Path, records: &[Record]) -> Result<(), ApiError> {
    // As Swift's container server: any existing database takes the rows
    // (a deleted container comes back with them), without opening SQLite.
    put_records(path, DbKind::Container, records, None, PENDING_TIMEOUT)?;
    Ok(())
}

fn clone_error(e: &ApiError) -> ApiError {
    ApiError {
        status: e.status,
        body: e.body.clone(),
        headers: e.headers.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::broker::Broker;
    use crate::storage::Timestamp;

    fn row(name: &str, ts: &str, size: u64, deleted: bool) -> ObjectRow {
        ObjectRow {
            name: name.into(),
            ts: Timestamp::parse(ts).unwrap(),
            size,
            content_type: "a/b".into(),
            etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            deleted,
            policy: 0,
            ..ObjectRow::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rows_all_land_and_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let t0 = Timestamp::parse("1700000000").unwrap();
        Broker::create(&path, DbKind::Container, "a", Some("c"), t0, 0).unwrap();
        let mut tasks = Vec::new();
        for i in 0..60u64 {
            let p = path.clone();
            tasks.push(tokio::spawn(async move {
                put_row(p, row(&format!("o{i}"), "1700000001", i, false)).await
            }));
        }
        // The same name, older and newer in both orders: the newer row stays.
        for (ts, size, deleted) in [("1700000003", 0, true), ("1700000002", 7, false)] {
            let p = path.clone();
            tasks.push(tokio::spawn(async move {
                put_row(p, row("o0", ts, size, deleted)).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let info = Broker::open(&path, DbKind::Container)
            .unwrap()
            .unwrap()
            .info()
            .unwrap();
        assert_eq!(info.object_count, 59, "o0 ends deleted");
        assert_eq!(info.bytes_used, (1..60).sum::<u64>() as i64);

        let missing = put_row(dir.path().join("none.db"), row("x", "1700000001", 1, false)).await;
        assert_eq!(missing.unwrap_err().status, StatusCode::NOT_FOUND);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_row_waits_for_a_held_lock_and_a_full_pending_file_is_merged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let t0 = Timestamp::parse("1700000000").unwrap();
        Broker::create(&path, DbKind::Container, "a", Some("c"), t0, 0).unwrap();
        let pending = crate::storage::broker::pending_path(&path);

        // Another holder of the directory lock (a merge, another process):
        // the row cannot be appended in place and waits for it.
        let held = crate::storage::hashes::lock_dir(dir.path()).unwrap();
        let waiting = tokio::spawn(put_row(path.clone(), row("held", "1700000001", 5, false)));
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        assert!(!waiting.is_finished(), "appended while the lock was held");
        assert_eq!(std::fs::metadata(&pending).map_or(0, |m| m.len()), 0);
        drop(held);
        waiting.await.unwrap().unwrap();
        assert!(std::fs::metadata(&pending).unwrap().len() > 0);

        // A pending file past the cap is merged with the new row at once.
        let filler: Vec<u8> = (0..1000)
            .flat_map(|i| Record::Object(row(&format!("f{i}"), "1700000001", 1, false)).encode())
            .collect();
        assert!(filler.len() as u64 > crate::storage::broker::PENDING_CAP);
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&pending)
            .unwrap();
        f.write_all(&filler).unwrap();
        drop(f);
        put_row(path.clone(), row("last", "1700000002", 7, false))
            .await
            .unwrap();
        assert_eq!(std::fs::metadata(&pending).unwrap().len(), 0);
        let b = Broker::open(&path, DbKind::Container).unwrap().unwrap();
        let info = b.info().unwrap();
        assert_eq!(info.object_count, 1002);
        assert_eq!(info.bytes_used, 1000 + 5 + 7);
    }
}
