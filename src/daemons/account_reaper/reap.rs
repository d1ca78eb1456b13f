//! Reaping one account: list its containers (this node's share of them),
//! delete every object of each at all its replicas, then the containers
//! themselves, counting what was done as Swift's reaper does.
//!
//! Object DELETEs carry `X-Container-Host/-Partition/-Device`, so each
//! object server drops the row from a container replica; container DELETEs
//! carry `X-Account-*` and `X-Account-Override-Deleted`, so each container
//! server drops the container from an account replica even though the
//! account is marked deleted. Nothing here touches the local disk.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use futures::stream::StreamExt;
use md5::{Digest, Md5};

use super::Reaper;
use crate::daemons::cluster::{host, repl_host, Answer};
use crate::ring::Device;
use crate::servers::http::quote;
use crate::storage::Timestamp;

/// Headers on every request, as Swift's direct client sends them: to the
/// nodes' replication addresses, and reserved (`\0`-prefixed) names listed
/// and deleted like any other.
const BACKEND: [(&str, &str); 2] = [
    ("X-Backend-Use-Replication-Network", "true"),
    ("X-Backend-Allow-Reserved-Names", "true"),
];

/// What one account pass did (Swift's `stats_*` counters).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReapStats {
    pub containers_deleted: u64,
    pub containers_remaining: u64,
    pub containers_possibly_remaining: u64,
    pub containers_failures: u64,
    pub objects_deleted: u64,
    pub objects_remaining: u64,
    pub objects_possibly_remaining: u64,
    pub objects_failures: u64,
    /// Backend answers by class (2 for 2xx, 4 for 4xx, ...).
    pub return_codes: BTreeMap<u16, u64>,
}

impl AddAssign for ReapStats {
    fn add_assign(&mut self, o: ReapStats) {
        self.containers_deleted += o.containers_deleted;
        self.containers_remaining += o.containers_remaining;
        self.containers_possibly_remaining += o.containers_possibly_remaining;
        self.containers_failures += o.containers_failures;
        self.objects_deleted += o.objects_deleted;
        self.objects_remaining += o.objects_remaining;
        self.objects_possibly_remaining += o.objects_possibly_remaining;
        self.objects_failures += o.objects_failures;
        for (k, v) in o.return_codes {
            *self.return_codes.entry(k).or_default() += v;
        }
    }
}

impl ReapStats {
    fn code(&mut self, status: u16) {
        *self.return_codes.entry(status / 100).or_default() += 1;
    }

    /// Swift's summary: `, N containers deleted, ... , return codes: 3 2xxs`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (n, what) in [
            (self.containers_deleted, "containers deleted"),
            (self.objects_deleted, "objects deleted"),
            (self.containers_remaining, "containers remaining"),
            (self.objects_remaining, "objects remaining"),
            (
                self.containers_possibly_remaining,
                "containers possibly remaining",
            ),
            (
                self.objects_possibly_remaining,
                "objects possibly remaining",
            ),
        ] {
            if n > 0 {
                s.push_str(&format!(", {n} {what}"));
            }
        }
        if !self.return_codes.is_empty() {
            let codes: Vec<String> = self
                .return_codes
                .iter()
                .map(|(c, n)| format!("{n} {c}xxs"))
                .collect();
            s.push_str(&format!(", return codes: {}", codes.join(", ")));
        }
        s
    }
}

/// How a DELETE sent to every replica went: more successes than failures
/// is done, no success at all is remaining, anything else possibly so.
enum Verdict {
    Done,
    Remaining,
    Possibly,
}

fn verdict(successes: usize, failures: usize) -> Verdict {
    if successes > failures {
        Verdict::Done
    } else if successes == 0 {
        Verdict::Remaining
    } else {
        Verdict::Possibly
    }
}

/// `ip:port/device`, as Swift names a node in its logs.
fn node_name(dev: &Device) -> String {
    format!("{}/{}", host(dev), dev.device)
}

/// Whether a container belongs to this node's share: the md5 of its name
/// modulo the number of account replicas is `shard` (Swift's container
/// sharding between the account's primaries).
pub fn in_shard(container: &str, replicas: usize, shard: Option<usize>) -> bool {
    let Some(shard) = shard else { return true };
    let sum = u128::from_be_bytes(Md5::digest(container.as_bytes()).into());
    replicas > 0 && sum % replicas as u128 == shard as u128
}

impl Reaper {
    /// Sends one backend request, recording its answer class; `None` when
    /// the node could not be reached in time (logged as Swift does).
    /// DELETEs `path` at each of `nodes` (replicas of `part`), the headers
    /// for the i-th replica from `headers_for(i)`; returns (successes,
    /// failures).
    async fn delete_at_replicas(
        &self,
        stats: &mut ReapStats,
        part: u32,
        nodes: &[Device],
        path: &str,
        headers_for: impl Fn(usize) -> Vec<(&'static str, String)>,
    ) -> (usize, usize) {
        let (mut successes, mut failures) = (0, 0);
        for (i, node) in nodes.iter().enumerate() {
            let headers = headers_for(i);
            match self
                .send(stats, (node, part), "DELETE", path, "", &headers)
                .await
            {
                Some(a) if a.ok() => successes += 1,
                _ => failures += 1,
            }
        }
        (successes, failures)
    }

    async fn send(
        &self,
        stats: &mut ReapStats,
        (dev, part): (&Device, u32),
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, String)],
    ) -> Option<Answer> {
        let mut headers = headers.to_vec();
        headers.extend(BACKEND.iter().map(|(k, v)| (*k, v.to_string())));
        let r = self
            .direct
            .request(
                &repl_host(dev),
                &dev.device,
                &part.to_string(),
                method,
                path,
                query,
                &headers,
                reqwest::Body::from(Vec::new()),
                None,
            )
            .await;
        match r {
            Ok(a) => {
                stats.code(a.status);
                if !a.ok() {
                    tracing::debug!("Exception with {}: {} {path}", node_name(dev), a.status);
                }
                Some(a)
            }
            Err(e) => {
                tracing::error!("Timeout Exception with {}: {e}", node_name(dev));
                None
            }
        }
    }

    /// Deletes every object of `container` and then the container itself,
    /// pairing each container replica with an account replica to update.
    pub(super) async fn reap_container(
        &self,
        account: &str,
        account_part: u32,
        account_nodes: &[Device],
        container: &str,
    ) -> ReapStats {
        let mut stats = ReapStats::default();
        let Some((part, nodes)) = self.rings.container.nodes(account, Some(container), None) else {
            return stats;
        };
        let Some(lister) = nodes.last() else {
            return stats;
        };
        let path = format!("/{account}/{container}");
        let mut marker = String::new();
        loop {
            let query = format!("format=json&marker={}", quote_query(&marker));
            let Some(a) = self
                .send(&mut stats, (lister, part), "GET", &path, &query, &[])
                .await
            else {
                break;
            };
            if !a.ok() {
                break;
            }
            let names = object_names(&a.body);
            let Some(last) = names.last().cloned() else {
                break;
            };
            let policy = a
                .headers
                .get("x-backend-storage-policy-index")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(0);
            if self.rings.object(policy).is_none() {
                tracing::error!("ERROR: invalid storage policy index: {policy}");
            }
            let width = self.conf.sub_concurrency();
            let mut deletes = futures::stream::iter(
                names
                    .iter()
                    .map(|name| self.reap_object(account, container, part, &nodes, name, policy)),
            )
            .buffer_unordered(width);
            while let Some(s) = deletes.next().await {
                stats += s;
            }
            marker = last;
        }
        let ts = Timestamp::now().internal();
        let (successes, failures) = self
            .delete_at_replicas(&mut stats, part, &nodes, &path, |i| {
                // Swift pairs the container replicas with the account
                // replicas from the last one back.
                let anode = &account_nodes[account_nodes.len() - 1 - i % account_nodes.len()];
                vec![
                    ("X-Account-Host", host(anode)),
                    ("X-Account-Partition", account_part.to_string()),
                    ("X-Account-Device", anode.device.clone()),
                    ("X-Account-Override-Deleted", "yes".to_string()),
                    ("X-Timestamp", ts.clone()),
                ]
            })
            .await;
        stats.containers_failures += failures as u64;
        match verdict(successes, failures) {
            Verdict::Done => stats.containers_deleted += 1,
            Verdict::Remaining => stats.containers_remaining += 1,
            Verdict::Possibly => stats.containers_possibly_remaining += 1,
        }
        stats
    }

    /// Deletes one object at each of its replicas, each DELETE naming the
    /// container replica (cycling through them) that drops its row.
    async fn reap_object(
        &self,
        account: &str,
        container: &str,
        container_part: u32,
        container_nodes: &[Device],
        obj: &str,
        policy: u32,
    ) -> ReapStats {
        let mut stats = ReapStats::default();
        let Some(ring) = self.rings.object(policy) else {
            stats.objects_remaining += 1;
            return stats;
        };
        let Some((part, nodes)) = ring.nodes(account, Some(container), Some(obj)) else {
            stats.objects_remaining += 1;
            return stats;
        };
        let ts = Timestamp::now().internal();
        let path = format!("/{account}/{container}/{obj}");
        let (successes, failures) = self
            .delete_at_replicas(&mut stats, part, &nodes, &path, |i| {
                let cnode = &container_nodes[i % container_nodes.len().max(1)];
                vec![
                    ("X-Container-Host", host(cnode)),
                    ("X-Container-Partition", container_part.to_string()),
                    ("X-Container-Device", cnode.device.clone()),
                    ("X-Backend-Storage-Policy-Index", policy.to_string()),
                    ("X-Timestamp", ts.clone()),
                ]
            })
            .await;
        stats.objects_failures += failures as u64;
        match verdict(successes, failures) {
            Verdict::Done => stats.objects_deleted += 1,
            Verdict::Remaining => stats.objects_remaining += 1,
            Verdict::Possibly => stats.objects_possibly_remaining += 1,
        }
        stats
    }
}

/// A query-string value, percent-encoded (`/` included).
fn quote_query(v: &str) -> String {
    quote(v).replace('/', "%2F")
}

/// The names in a JSON object listing (empty when it does not parse).
fn object_names(body: &[u8]) -> Vec<String> {
    let rows: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap_or_default();
    rows.iter()
        .filter_map(|r| r.get("name").and_then(|n| n.as_str()).map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_as_swift() {
        let mut s = ReapStats {
            containers_deleted: 2,
            objects_deleted: 5,
            ..Default::default()
        };
        s.code(204);
        s.code(204);
        s.code(404);
        assert_eq!(
            s.summary(),
            ", 2 containers deleted, 5 objects deleted, return codes: 2 2xxs, 1 4xxs"
        );
        assert_eq!(ReapStats::default().summary(), "");
    }

    #[test]
    fn shards_split_the_containers() {
        let names: Vec<String> = (0..60).map(|i| format!("c{i}")).collect();
        let mut seen = 0;
        for shard in 0..3 {
            let mine = names.iter().filter(|n| in_shard(n, 3, Some(shard))).count();
            assert!(mine > 0, "shard {shard} got nothing");
            seen += mine;
        }
        assert_eq!(seen, names.len());
        assert!(names.iter().all(|n| in_shard(n, 3, None)));
    }

    #[test]
    fn verdicts() {
        assert!(matches!(verdict(2, 1), Verdict::Done));
        assert!(matches!(verdict(0, 3), Verdict::Remaining));
        assert!(matches!(verdict(1, 2), Verdict::Possibly));
    }
}
