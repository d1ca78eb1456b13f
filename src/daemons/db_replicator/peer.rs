//! Replicating one database to one peer: `REPLICATE sync`, then nothing
//! (in sync), row batches (`merge_items` + `merge_syncs`), or the whole
//! file (`PUSHDB` + `complete_rsync` / `rsync_then_merge`).

use std::sync::Mutex;
use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::pass::Stats;
use super::ReplConf;
use crate::daemons::cluster::{repl_host, Direct};
use crate::ring::Device;
use crate::storage::broker::{Broker, DbKind, Row};
use crate::storage::hashpath::hex;

/// What syncing with one node came to.
pub enum Outcome {
    Done(bool),
    /// The peer's device is unmounted (507): try a handoff instead.
    NotMounted,
}

/// The local side of one database's replication.
pub struct Peer<'a> {
    pub conf: &'a ReplConf,
    pub direct: &'a Direct,
    pub broker: &'a Broker,
    pub info: &'a Row,
}

fn lock(s: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn i(info: &Row, k: &str) -> i64 {
    info.get(k).and_then(Value::as_i64).unwrap_or(-1)
}

fn s<'a>(info: &'a Row, k: &str) -> &'a str {
    info.get(k).and_then(Value::as_str).unwrap_or("")
}

impl Peer<'_> {
    fn hash(&self) -> String {
        self.broker
            .path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `REPLICATE /<dev>/<part>/<hash>` with a JSON argument list.
    async fn replicate(
        &self,
        node: &Device,
        part: u32,
        args: Value,
        timeout: Option<Duration>,
    ) -> Result<crate::daemons::cluster::Answer, String> {
        self.direct
            .request(
                &repl_host(node),
                &node.device,
                &part.to_string(),
                "REPLICATE",
                &format!("/{}", self.hash()),
                "",
                &[("Content-Type", "application/json".to_string())],
                args.to_string().into(),
                timeout,
            )
            .await
    }

    /// Swift's `_usync_db`: rows since `point` in `per_diff` batches.
    async fn usync(
        &self,
        node: &Device,
        part: u32,
        point: i64,
        remote_id: &str,
        stats: &Mutex<Stats>,
    ) -> bool {
        lock(stats).diff += 1;
        let local_id = s(self.info, "id").to_string();
        let Ok(syncs) = self.broker.get_syncs(true) else {
            return false;
        };
        let mut point = point;
        let mut diffs = 0;
        let mut items = self
            .broker
            .items_since(point, self.conf.per_diff)
            .unwrap_or_default();
        while !items.is_empty() && diffs < self.conf.max_diffs {
            diffs += 1;
            let r = self
                .replicate(node, part, json!(["merge_items", items, local_id]), None)
                .await;
            match r {
                Ok(a) if a.ok() => {}
                Ok(a) => {
                    tracing::error!("ERROR Bad response {} from {}", a.status, repl_host(node));
                    return false;
                }
                Err(e) => {
                    tracing::error!("ERROR reading HTTP response from {e}");
                    return false;
                }
            }
            point = items.last().map_or(point, |r| i(r, "ROWID"));
            items = self
                .broker
                .items_since(point, self.conf.per_diff)
                .unwrap_or_default();
        }
        if !items.is_empty() {
            lock(stats).diff_capped += 1;
            return false;
        }
        match self
            .replicate(node, part, json!(["merge_syncs", syncs]), None)
            .await
        {
            Ok(a) if a.ok() => {
                let mut m = Row::new();
                m.insert("remote_id".into(), json!(remote_id));
                m.insert("sync_point".into(), json!(point));
                self.broker.merge_syncs(&[m], false).is_ok()
            }
            _ => false,
        }
    }

    /// Sends the whole database: a consistent copy (taken under SQLite's
    /// shared lock) goes to the peer's `tmp/<local id>` with `PUSHDB`, then
    /// `method` (`complete_rsync` or `rsync_then_merge`) installs it.
    async fn push(&self, node: &Device, part: u32, method: &str, timeout: Duration) -> bool {
        let local_id = s(self.info, "id").to_string();
        let path = self.broker.path.clone();
        let bytes = match self.broker.with_read_lock(|| std::fs::read(&path)) {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::error!("ERROR reading {}: {e}", path.display());
                return false;
            }
            Err(e) => {
                tracing::error!("ERROR locking {}: {e}", path.display());
                return false;
            }
        };
        let md5 = hex(&Md5::digest(&bytes));
        let sent = self
            .direct
            .request(
                &repl_host(node),
                &node.device,
                "tmp",
                "PUSHDB",
                &format!("/{local_id}"),
                "",
                &[
                    ("ETag", md5),
                    ("Content-Type", "application/octet-stream".into()),
                ],
                bytes.into(),
                Some(timeout),
            )
            .await;
        match sent {
            Ok(a) if a.ok() => {}
            Ok(a) => {
                tracing::error!(
                    "ERROR sending {} to {}/{}: {} (a peer without PUSHDB needs rsync)",
                    path.display(),
                    repl_host(node),
                    node.device,
                    a.status
                );
                return false;
            }
            Err(e) => {
                tracing::error!("ERROR sending {}: {e}", path.display());
                return false;
            }
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        matches!(
            self.replicate(node, part, json!([method, local_id, name]), Some(timeout)).await,
            Ok(a) if a.ok()
        )
    }
}

fn sync_args(p: &Peer<'_>, multi_policy: bool) -> Value {
    let info = p.info;
    let mut args = vec![
        json!("sync"),
        json!(i(info, "max_row")),
        json!(s(info, "hash")),
        json!(s(info, "id")),
        json!(s(info, "created_at")),
        json!(s(info, "put_timestamp")),
        json!(s(info, "delete_timestamp")),
        json!(s(info, "metadata")),
    ];
    if multi_policy {
        args.push(json!(s(info, "status_changed_at")));
        args.push(info.get("count").cloned().unwrap_or(json!(0)));
        args.push(
            info.get("storage_policy_index")
                .cloned()
                .unwrap_or(json!(0)),
        );
    }
    Value::Array(args)
}

/// Swift's `_repl_to_node` and what follows from the peer's answer.
pub async fn repl_to_node(p: &Peer<'_>, node: &Device, part: u32, stats: &Mutex<Stats>) -> Outcome {
    let multi = p.conf.kind == DbKind::Container;
    let answer = match p.replicate(node, part, sync_args(p, multi), None).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("ERROR reading HTTP response from {e}");
            return Outcome::Done(false);
        }
    };
    let info = p.info;
    let count = info.get("count").and_then(Value::as_i64).unwrap_or(0);
    let push_timeout = p
        .conf
        .node_timeout
        .max(Duration::from_secs_f64(count as f64 / 2000.0));
    match answer.status {
        404 => {
            lock(stats).rsync += 1;
            return Outcome::Done(p.push(node, part, "complete_rsync", push_timeout).await);
        }
        507 => return Outcome::NotMounted,
        s if !(200..300).contains(&s) => return Outcome::Done(false),
        _ => {}
    }
    let Ok(Value::Object(rinfo)) = serde_json::from_slice::<Value>(&answer.body) else {
        return Outcome::Done(false);
    };
    let stamps = ["created_at", "put_timestamp", "delete_timestamp"];
    if p.conf.kind == DbKind::Container && stamps.iter().any(|k| s(info, k) != s(&rinfo, k)) {
        let _ = p.broker.merge_timestamps(
            s(&rinfo, stamps[0]),
            s(&rinfo, stamps[1]),
            s(&rinfo, stamps[2]),
        );
    }
    let remote_id = s(&rinfo, "id").to_string();
    let local_sync = p.broker.get_sync(&remote_id, false).unwrap_or(-1);
    let meta = s(&rinfo, "metadata");
    if !meta.is_empty() {
        let _ = p.broker.merge_raw_metadata(meta);
    }
    if p.conf.kind == DbKind::Container && !rinfo.contains_key("shard_max_row") {
        tracing::warn!(
            "unable to replicate shard ranges to peer {}; peer may need upgrading",
            repl_host(node)
        );
        return Outcome::Done(false);
    }
    let (rpoint, rmax, max_row) = (i(&rinfo, "point"), i(&rinfo, "max_row"), i(info, "max_row"));
    if rpoint.max(local_sync) >= max_row {
        lock(stats).no_change += 1;
        return Outcome::Done(true);
    }
    if s(&rinfo, "hash") == s(info, "hash") {
        lock(stats).hashmatch += 1;
        let mut m = Row::new();
        m.insert("remote_id".into(), json!(remote_id));
        m.insert("sync_point".into(), json!(rpoint));
        let _ = p.broker.merge_syncs(&[m], false);
        return Outcome::Done(true);
    }
    if (rmax as f64) / (max_row as f64) < 0.5 && max_row - rmax > p.conf.per_diff as i64 {
        lock(stats).remote_merge += 1;
        return Outcome::Done(p.push(node, part, "rsync_then_merge", push_timeout).await);
    }
    Outcome::Done(
        p.usync(node, part, rpoint.max(local_sync), &remote_id, stats)
            .await,
    )
}
