//! Group commit of object rows into container databases.
//!
//! Object servers send one row per object write, and concurrent writes to
//! one container all want the same database. Rows queue per database: the
//! first request drains the queue on a blocking thread and appends whatever
//! has gathered to the database's pending file under one lock (the broker
//! merges that file into SQLite in batches), and every request gets its
//! answer once its row is in the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use axum::http::StatusCode;
use tokio::sync::oneshot;

use super::http::ApiError;
use crate::storage::broker::{put_records, DbKind, ObjectRow, Record, PENDING_TIMEOUT};

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
        let queues = QUEUES.clone();
        tokio::task::spawn_blocking(move || drain(&queues, &path));
    }
    rx.await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "row batch lost"))?
}

fn drain(queues: &Queues, path: &PathBuf) {
    loop {
        let batch = {
            let mut q = queues.lock().unwrap_or_else(|e| e.into_inner());
            let taken = q.get_mut(path).map(std::mem::take).unwrap_or_default();
            if taken.is_empty() {
                q.remove(path);
                return;
            }
            taken
        };
        let (rows, waiters): (Vec<ObjectRow>, Vec<_>) = batch.into_iter().unzip();
        let result = commit(path, &rows);
        for w in waiters {
            let _ = w.send(result.as_ref().map(|_| ()).map_err(clone_error));
        }
    }
}

fn commit(path: &Path, rows: &[ObjectRow]) -> Result<(), ApiError> {
    // As Swift's container server: any existing database takes the rows
    // (a deleted container comes back with them), without opening SQLite.
    let records: Vec<Record> = rows.iter().cloned().map(Record::Object).collect();
    put_records(path, DbKind::Container, &records, None, PENDING_TIMEOUT)?;
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
}
