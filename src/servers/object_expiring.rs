//! The object server's side of the expiring-objects queue (Swift's
//! `delete_at_update`): a write that sets `X-Delete-At` adds a row for the
//! object to the task container named by the proxy
//! (`X-Delete-At-Container`/`-Host`/`-Device`/`-Partition`); a write that
//! changes or drops an earlier `X-Delete-At` queues the removal of the old
//! row as an async pending, which the object updater delivers. The expirer
//! itself asks not to (`X-Backend-Clean-Expiring-Object-Queue: no`): it
//! removes the row once the object is gone.

use std::sync::Arc;

use axum::http::HeaderMap;

use super::http::header;
use super::object::{send_update, ObjectServer};
use super::update::targets;
use crate::conf::server_conf::config_true;
use crate::storage::expiring;
use crate::storage::{ObjectKey, Timestamp};

/// Empty-body MD5, the ETag of queue rows.
const EMPTY_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// `X-Delete-At` of a header set or stored metadata, as whole seconds.
pub fn parse_delete_at(v: Option<&str>) -> Option<u64> {
    let v = v?.trim();
    let t = Timestamp::parse(v)?;
    (t.secs() > 0).then_some(t.secs())
}

/// Updates the queue after a write: `new` is the object's `X-Delete-At`
/// now, `orig` the one it had; `size` its length.
pub async fn conditional_update(
    s: &Arc<ObjectServer>,
    key: &ObjectKey,
    h: &HeaderMap,
    ts: Timestamp,
    orig: Option<u64>,
    new: Option<u64>,
    size: u64,
) {
    if header(h, "x-backend-replication").is_some_and(config_true) {
        return;
    }
    if let Some(at) = new {
        let Some(hosts) = header(h, "x-delete-at-host") else {
            // Without hosts, other object servers of the write update the queue.
            return;
        };
        let Ok(digest_hex) =
            s.salt
                .hash_path_hex(&key.account, Some(&key.container), Some(&key.object))
        else {
            return;
        };
        let container = header(h, "x-delete-at-container")
            .map(str::to_string)
            .unwrap_or_else(|| expiring::task_container(at, &digest_hex));
        let partition = header(h, "x-delete-at-partition").map(str::to_string);
        let targets = targets(Some(hosts), header(h, "x-delete-at-device")).unwrap_or_default();
        let headers = vec![
            (
                "X-Backend-Storage-Policy-Index".to_string(),
                "0".to_string(),
            ),
            ("X-Timestamp".to_string(), ts.internal()),
            ("X-Size".to_string(), "0".to_string()),
            (
                "X-Content-Type".to_string(),
                format!("{};swift_expirer_bytes={size}", expiring::ROW_TYPE),
            ),
            ("X-Etag".to_string(), EMPTY_ETAG.to_string()),
            ("X-Content-Type-Timestamp".to_string(), ts.internal()),
        ];
        let row = (
            expiring::ACCOUNT.to_string(),
            container,
            expiring::task_object(at, &key.account, &key.container, &key.object),
        );
        send_update(s, "PUT", key, row, partition, targets, h, headers, ts).await;
    }
    if let Some(old) = orig.filter(|o| Some(*o) != new) {
        if !header(h, "x-backend-clean-expiring-object-queue").is_none_or(config_true) {
            return;
        }
        let Ok(digest_hex) =
            s.salt
                .hash_path_hex(&key.account, Some(&key.container), Some(&key.object))
        else {
            return;
        };
        let row = (
            expiring::ACCOUNT.to_string(),
            expiring::task_container(old, &digest_hex),
            expiring::task_object(old, &key.account, &key.container, &key.object),
        );
        let headers = vec![
            (
                "X-Backend-Storage-Policy-Index".to_string(),
                "0".to_string(),
            ),
            ("X-Timestamp".to_string(), ts.internal()),
        ];
        send_update(s, "DELETE", key, row, None, Vec::new(), h, headers, ts).await;
    }
}
