//! One replication pass: find the local databases, replicate each to its
//! partition's primaries, remove what no longer belongs here, report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Map, Value};

use super::peer::{repl_to_node, Outcome, Peer};
use super::ReplConf;
use crate::daemons::cluster::{is_local, now, Direct, NamedRing};
use crate::daemons::walk::subdirs;
use crate::daemons::DaemonError;
use crate::recon::cache;
use crate::ring::Device;
use crate::storage::broker::{Broker, DbKind};

/// Swift's replicator counters, reported under `replication_stats`.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub attempted: u64,
    pub success: u64,
    pub failure: u64,
    pub ts_repl: u64,
    pub no_change: u64,
    pub hashmatch: u64,
    pub rsync: u64,
    pub diff: u64,
    pub remove: u64,
    pub empty: u64,
    pub remote_merge: u64,
    pub diff_capped: u64,
    pub deferred: u64,
    pub start: f64,
    /// replication ip → device → failures.
    pub failure_nodes: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    fn add_failures<'a>(&mut self, devs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        for (ip, dev) in devs {
            self.failure += 1;
            *self
                .failure_nodes
                .entry(ip.to_string())
                .or_default()
                .entry(dev.to_string())
                .or_default() += 1;
        }
    }

    /// The `replication_stats` value, keys as Swift's.
    pub fn to_json(&self) -> Value {
        json!({
            "attempted": self.attempted, "success": self.success, "failure": self.failure,
            "ts_repl": self.ts_repl, "no_change": self.no_change, "hashmatch": self.hashmatch,
            "rsync": self.rsync, "diff": self.diff, "remove": self.remove, "empty": self.empty,
            "remote_merge": self.remote_merge, "start": self.start,
            "diff_capped": self.diff_capped, "deferred": self.deferred,
            "failure_nodes": self.failure_nodes,
        })
    }
}

/// A database found on a local device.
struct Found {
    part: u32,
    path: PathBuf,
    node_id: u32,
}

/// Every `<part>/<sfx>/<hash>/<hash>.db` under `datadir`; empty
/// directories met on the way are removed, as Swift's walk does.
fn walk(datadir: &Path, keep: &dyn Fn(u32) -> bool) -> Vec<(u32, PathBuf)> {
    let mut out = Vec::new();
    for part_dir in subdirs(datadir) {
        let Some(part) = part_dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if !keep(part) {
            continue;
        }
        let sfxs = subdirs(&part_dir);
        if sfxs.is_empty() {
            let _ = std::fs::remove_dir(&part_dir);
        }
        for sfx in sfxs {
            let hashes = subdirs(&sfx);
            if hashes.is_empty() {
                let _ = std::fs::remove_dir(&sfx);
            }
            for h in hashes {
                let name = h.file_name().map(|n| n.to_string_lossy().into_owned());
                let db = h.join(format!("{}.db", name.unwrap_or_default()));
                if db.is_file() {
                    out.push((part, db));
                } else {
                    let _ = std::fs::remove_dir(&h);
                }
            }
        }
    }
    out
}

/// Removes a database's directory, then its suffix and partition
/// directories if that left them empty.
fn delete_db(path: &Path) -> bool {
    let Some(hash_dir) = path.parent() else {
        return false;
    };
    if std::fs::remove_dir_all(hash_dir).is_err() && hash_dir.exists() {
        return false;
    }
    let mut dir = hash_dir.parent();
    for _ in 0..2 {
        match dir {
            Some(d) if std::fs::remove_dir(d).is_ok() => dir = d.parent(),
            _ => break,
        }
    }
    true
}

fn report(conf: &ReplConf, stats: &Stats) -> Result<(), DaemonError> {
    let t = now();
    let elapsed = t - stats.start;
    tracing::info!(
        "Attempted to replicate {} dbs in {:.5} seconds ({:.5}/s)",
        stats.attempted,
        elapsed,
        stats.attempted as f64 / (elapsed + 0.0000001)
    );
    tracing::info!("Removed {} dbs", stats.remove);
    tracing::info!("{} successes, {} failures", stats.success, stats.failure);
    let mut m = Map::new();
    m.insert("replication_stats".into(), stats.to_json());
    m.insert("replication_time".into(), json!(elapsed));
    m.insert("replication_last".into(), json!(t));
    cache::dump(&conf.recon_file, &m, cache::DEFAULT_LOCK_TIMEOUT, None)?;
    tracing::info!(
        "diff:{} diff_capped:{} empty:{} hashmatch:{} no_change:{} remote_merge:{} rsync:{} ts_repl:{}",
        stats.diff,
        stats.diff_capped,
        stats.empty,
        stats.hashmatch,
        stats.no_change,
        stats.remote_merge,
        stats.rsync,
        stats.ts_repl
    );
    Ok(())
}

/// One pass over every local database (optionally only some devices or
/// partitions); returns the stats it reported.
pub async fn run_pass(
    conf: &ReplConf,
    only_devices: Option<&[String]>,
    only_parts: Option<&[String]>,
) -> Result<Stats, DaemonError> {
    let ring_name = match conf.kind {
        DbKind::Container => "container",
        DbKind::Account => "account",
    };
    let ring = NamedRing::load(&conf.swift_dir, ring_name)?;
    let stats = Mutex::new(Stats {
        start: now(),
        ..Stats::default()
    });
    let mut found = Vec::new();
    let mut any_local = false;
    for dev in ring.ring.devices().iter().flatten() {
        if !is_local(dev, &conf.bind_ip, conf.bind_port) {
            continue;
        }
        any_local = true;
        let root = conf.devices.join(&dev.device);
        let usable = if conf.mount_check {
            crate::storage::device::is_mount(&root)
        } else {
            root.is_dir()
        };
        if !usable {
            let all: Vec<(String, String)> = ring
                .ring
                .devices()
                .iter()
                .flatten()
                .map(|d| (d.replication_ip.clone(), d.device.clone()))
                .collect();
            stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .add_failures(all.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            tracing::warn!("Skipping: {} is not mounted", dev.device);
            continue;
        }
        if only_devices.is_some_and(|o| !o.contains(&dev.device)) {
            continue;
        }
        let datadir = root.join(conf.kind.datadir());
        let id = dev.id;
        let keep = |part: u32| {
            if only_parts.is_some_and(|o| !o.iter().any(|p| p.parse() == Ok(part))) {
                return false;
            }
            !(conf.handoffs_only
                && ring
                    .ring
                    .get_part_nodes(part)
                    .iter()
                    .any(|n| n.device.id == id))
        };
        for (part, path) in walk(&datadir, &keep) {
            found.push(Found {
                part,
                path,
                node_id: id,
            });
        }
    }
    if !any_local {
        tracing::error!(
            "Can't find itself {} with port {} in ring file, not replicating",
            conf.bind_ip,
            conf.bind_port
        );
    }
    tracing::info!("Beginning replication run");
    let direct = Direct::new(conf.conn_timeout, conf.node_timeout);
    let begin = Instant::now();
    let pace = if conf.databases_per_second > 0.0 {
        Duration::from_secs_f64(1.0 / conf.databases_per_second)
    } else {
        Duration::ZERO
    };
    let (ring, stats_ref, direct_ref) = (&ring, &stats, &direct);
    futures::stream::iter(found.into_iter().enumerate())
        .map(|(i, f)| async move {
            let due = pace * i as u32;
            if let Some(wait) = due.checked_sub(begin.elapsed()) {
                tokio::time::sleep(wait).await;
            }
            replicate_db(conf, ring, direct_ref, stats_ref, f).await;
        })
        .buffer_unordered(conf.concurrency)
        .collect::<Vec<()>>()
        .await;
    tracing::info!("Replication run OVER");
    let stats = stats.into_inner().unwrap_or_else(|e| e.into_inner());
    report(conf, &stats)?;
    Ok(stats)
}

fn lock(s: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Swift's `_replicate_object` for one database.
async fn replicate_db(
    conf: &ReplConf,
    ring: &NamedRing,
    direct: &Direct,
    stats: &Mutex<Stats>,
    f: Found,
) {
    lock(stats).attempted += 1;
    let t = now();
    let opened = (|| -> Result<_, crate::storage::StorageError> {
        let b = Broker::open(&f.path, conf.kind)?.ok_or(crate::storage::StorageError::NotFound)?;
        b.reclaim(t - conf.reclaim_age, t - conf.reclaim_age * 2.0)?;
        let info = b.replication_info()?;
        Ok((b, info))
    })();
    let (broker, info) = match opened {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("ERROR reading db {}: {e}", f.path.display());
            if e.to_string().contains("no such table") {
                quarantine(&f.path, conf.kind);
            }
            let nodes = ring.primaries(f.part);
            lock(stats).add_failures(
                nodes
                    .iter()
                    .map(|d| (d.replication_ip.as_str(), d.device.as_str())),
            );
            return;
        }
    };
    let account = info.get("account").and_then(Value::as_str).unwrap_or("");
    let container = info.get("container").and_then(Value::as_str);
    let mut part = f.part;
    let mut shouldbehere = true;
    if let Some(bpart) = ring.part(account, container, None) {
        if bpart != part {
            tracing::error!(
                "Found db {} that should be on partition {bpart}; will replicate out and remove",
                f.path.display()
            );
            part = bpart;
            shouldbehere = false;
        }
    }
    if broker.is_reclaimable(t, conf.reclaim_age).unwrap_or(false) {
        if broker.reported_up_to_date().unwrap_or(false) && delete_db(&f.path) {
            lock(stats).remove += 1;
        }
        return;
    }
    let nodes = ring.primaries(part);
    let local_idx = nodes.iter().position(|n| n.id == f.node_id);
    shouldbehere = shouldbehere && local_idx.is_some();
    let mut repl_nodes: Vec<Device> = match local_idx {
        _ if nodes.len() <= 1 => nodes.clone(),
        Some(i) => nodes[i + 1..].iter().chain(&nodes[..i]).cloned().collect(),
        None => nodes.clone(),
    };
    let mut more = ring
        .ring
        .get_more_nodes(part)
        .map(|n| n.device.clone())
        .filter(|d| d.id != f.node_id);
    let local_region = ring
        .ring
        .devices()
        .get(f.node_id as usize)
        .and_then(|d| d.as_ref())
        .map(|d| d.region);
    let peer = Peer {
        conf,
        direct,
        broker: &broker,
        info: &info,
    };
    let mut responses = Vec::new();
    let mut failed: BTreeSet<(String, String)> = BTreeSet::new();
    let mut i = 0;
    while i < repl_nodes.len() {
        let node = repl_nodes[i].clone();
        i += 1;
        let _different_region = local_region.is_some_and(|r| r != node.region);
        let ok = match repl_to_node(&peer, &node, part, stats).await {
            Outcome::Done(ok) => ok,
            Outcome::NotMounted => {
                match more.next() {
                    Some(h) => repl_nodes.push(h),
                    None => tracing::error!(
                        "ERROR There are not enough handoff nodes to reach replica count for partition {part}"
                    ),
                }
                tracing::error!("ERROR Remote drive not mounted {}/{}", node.ip, node.device);
                false
            }
        };
        if !ok {
            failed.insert((node.replication_ip.clone(), node.device.clone()));
        }
        responses.push(ok);
    }
    if !shouldbehere && !cleanup_handoff(conf, &broker, &info, &responses, &f.path, stats) {
        for n in &repl_nodes {
            failed.insert((n.replication_ip.clone(), n.device.clone()));
        }
    }
    let targets: BTreeSet<(String, String)> = repl_nodes
        .iter()
        .map(|n| (n.replication_ip.clone(), n.device.clone()))
        .collect();
    let mut s = lock(stats);
    s.success += targets.difference(&failed).count() as u64;
    s.add_failures(failed.iter().map(|(a, b)| (a.as_str(), b.as_str())));
}

/// Swift's `cleanup_post_replicate`: a database that does not belong here
/// goes once every peer (or `handoff_delete` of them) has it and nothing
/// was written to it meanwhile. `false` if removing it failed.
fn cleanup_handoff(
    conf: &ReplConf,
    broker: &Broker,
    info: &Map<String, Value>,
    responses: &[bool],
    path: &Path,
    stats: &Mutex<Stats>,
) -> bool {
    let before = info.get("max_row").and_then(Value::as_i64).unwrap_or(-1);
    let after = broker.max_row().unwrap_or(before);
    if after != before {
        tracing::debug!(
            "Not deleting db {} ({} new rows)",
            path.display(),
            after - before
        );
        return true;
    }
    let successes = responses.iter().filter(|r| **r).count();
    let go = if conf.handoff_delete > 0 {
        successes >= conf.handoff_delete
    } else {
        !responses.is_empty() && successes == responses.len()
    };
    if !go {
        return true;
    }
    if delete_db(path) {
        lock(stats).remove += 1;
        true
    } else {
        false
    }
}

/// Moves a broken database to `<dev>/quarantined/<type>s/<hash>`.
fn quarantine(path: &Path, kind: DbKind) {
    if let Err(e) = crate::storage::broker::quarantine_db(path, kind) {
        tracing::error!("cannot quarantine {}: {e}", path.display());
    }
}
