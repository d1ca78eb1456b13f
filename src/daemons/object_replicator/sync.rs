//! One partition's replication, as Swift's `update` and `revert`.
//!
//! `update` (a primary): compare the cached suffix hashes with each other
//! primary's (`REPLICATE`), rehash the suffixes that differ, and push what
//! still differs with ssync; a node answering 507 is replaced by the next
//! handoff. `revert` (a handoff): under the partition's replication lock,
//! push every suffix to every primary, then delete the objects all of them
//! confirmed, and the partition once empty.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::time::Instant;

use rand::seq::SliceRandom;

use super::jobs::Job;
use super::stats::Stats;
use super::ReplicatorConf;
use crate::ring::{Device, Ring};
use crate::servers::ssync::local_object;
use crate::servers::ssync::sender::{self, Source, Target};
use crate::storage::hashes::{self, lock_dir_named, partition_dir, valid_suffix, REPLICATION_LOCK};
use crate::storage::pickle::Pickle;
use crate::storage::Timestamp;

fn target(d: &Device) -> Target {
    Target {
        ip: d.replication_ip.clone(),
        port: d.replication_port,
        device: d.device.clone(),
    }
}

fn source(job: &Job) -> Source {
    Source {
        dev_path: job.dev_path.clone(),
        policy: job.policy,
        partition: job.partition.clone(),
    }
}

fn node_str(d: &Device, part: &str) -> String {
    format!(
        "{}:{}/{}/{part}",
        d.replication_ip, d.replication_port, d.device
    )
}

/// Swift lists a partition's directory on one pass in ten.
fn do_listdir(partition: &str, cycle: u32) -> bool {
    partition
        .parse::<u64>()
        .is_ok_and(|p| (p + u64::from(cycle)) % 10 == 0)
}

/// Keeps primaries' suffixes whose hash differs from (or is missing on) the remote.
fn differing(local: &BTreeMap<String, String>, remote: &BTreeMap<String, String>) -> Vec<String> {
    local
        .iter()
        .filter(|(s, h)| remote.get(*s) != Some(*h))
        .map(|(s, _)| s.clone())
        .collect()
}

/// Syncs a partition this device is a primary for.
pub fn update(conf: &ReplicatorConf, ring: &Ring, job: &Job, cycle: u32, stats: &mut Stats) {
    stats.attempted += 1;
    let part_num: u32 = job.partition.parse().unwrap_or(0);
    let mut targets: HashSet<(String, String)> = HashSet::new();
    let mut failures: HashSet<(String, String)> = HashSet::new();
    let (hashed, mut local) = match hashes::get_hashes(
        &job.dev_path,
        &job.partition,
        job.policy,
        &[],
        do_listdir(&job.partition, cycle),
        conf.reclaim_age,
    ) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("Error syncing partition {}: {e}", job.partition);
            for n in &job.nodes {
                failures.insert((n.replication_ip.clone(), n.device.clone()));
            }
            stats.add_failures(&failures);
            return;
        }
    };
    stats.suffix_hash += hashed as u64;
    let mut nodes = job.nodes.clone();
    nodes.shuffle(&mut rand::thread_rng());
    let handoffs: Vec<Device> = ring
        .get_more_nodes(part_num)
        .map(|n| n.device.clone())
        .collect();
    let mut candidates = nodes.into_iter().chain(handoffs);
    let mut attempts_left = job.nodes.len();
    let mut synced_regions = HashSet::new();
    while attempts_left > 0 {
        let Some(node) = candidates.next() else {
            tracing::error!(
                "Ran out of handoffs while replicating partition {} of policy {}",
                job.partition,
                job.policy
            );
            break;
        };
        attempts_left -= 1;
        let key = (node.replication_ip.clone(), node.device.clone());
        targets.insert(key.clone());
        if synced_regions.contains(&node.region) {
            continue;
        }
        let t = target(&node);
        let remote = match sender::replicate(&t, &job.partition, job.policy, &[], &conf.timeouts) {
            Ok((507, _)) => {
                tracing::error!("{} responded as unmounted", node_str(&node, &job.partition));
                failures.insert(key);
                attempts_left += 1;
                continue;
            }
            Ok((200, body)) => match Pickle::loads(&body) {
                Ok(p) => p.to_string_map(),
                Err(e) => {
                    tracing::error!("bad REPLICATE answer from {}: {e}", node_str(&node, ""));
                    failures.insert(key);
                    continue;
                }
            },
            Ok((status, _)) => {
                tracing::error!(
                    "Invalid response {status} from {}",
                    node_str(&node, &job.partition)
                );
                failures.insert(key);
                continue;
            }
            Err(e) => {
                tracing::error!("Error syncing with node: {}: {e}", node_str(&node, ""));
                failures.insert(key);
                continue;
            }
        };
        let mut suffixes = differing(&local, &remote);
        if suffixes.is_empty() {
            stats.hashmatch += 1;
            continue;
        }
        match hashes::get_hashes(
            &job.dev_path,
            &job.partition,
            job.policy,
            &suffixes,
            false,
            conf.reclaim_age,
        ) {
            Ok((n, recalculated)) => {
                stats.suffix_hash += n as u64;
                local = recalculated;
            }
            Err(e) => tracing::error!("Error hashing partition {}: {e}", job.partition),
        }
        suffixes = differing(&local, &remote);
        if suffixes.is_empty() {
            stats.hashmatch += 1;
            continue;
        }
        stats.rsync += 1;
        match sender::sync(&t, &source(job), &suffixes, None, &conf.timeouts) {
            Ok(_) => {
                if node.region != job.region {
                    synced_regions.insert(node.region);
                }
            }
            Err(e) => {
                tracing::error!("{} {e}", node_str(&node, &job.partition));
                failures.insert(key);
            }
        }
        stats.suffix_sync += suffixes.len() as u64;
    }
    stats.suffix_count += local.len() as u64;
    stats.success += targets.difference(&failures).count() as u64;
    stats.add_failures(&failures);
}

/// How long a revert waits for the partition's replication lock (Swift's).
const REVERT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(200);

/// Pushes a handoff partition to its primaries and removes what they all have.
/// Returns whether the partition is gone.
pub fn revert(conf: &ReplicatorConf, job: &Job, stats: &mut Stats) -> bool {
    stats.attempted += 1;
    let part_dir = partition_dir(&job.dev_path, job.policy, &job.partition);
    // An incoming SSYNC holds the same lock (the receiver), so nothing
    // arrives in the partition between pushing it and deleting it.
    let _lock = match lock_dir_named(&part_dir, REPLICATION_LOCK, REVERT_LOCK_TIMEOUT) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            tracing::info!(
                "Unable to lock handoff partition {} for replication on device {} policy {}",
                job.partition,
                job.device,
                job.policy
            );
            // Swift counts the primaries as successes here: none failed.
            stats.success += job.nodes.len() as u64;
            return false;
        }
        Err(e) => {
            tracing::error!("Error syncing handoff partition: {e}");
            stats.success += job.nodes.len() as u64;
            return false;
        }
    };
    let mut suffixes: Vec<String> = fs::read_dir(&part_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|s| valid_suffix(s))
        .collect();
    suffixes.sort();
    let mut failures: HashSet<(String, String)> = HashSet::new();
    let mut responses = Vec::new();
    // What every primary confirmed: hash → timestamp it has.
    let mut confirmed: Option<HashMap<String, Timestamp>> = None;
    let mut remote_regions: HashMap<u32, HashSet<String>> = HashMap::new();
    if !suffixes.is_empty() {
        for node in &job.nodes {
            stats.rsync += 1;
            let check = remote_regions.get(&node.region);
            let res = sender::sync(
                &target(node),
                &source(job),
                &suffixes,
                check,
                &conf.timeouts,
            );
            match res {
                Ok(in_sync) => {
                    if node.region != job.region && check.is_none() {
                        remote_regions.insert(node.region, in_sync.keys().cloned().collect());
                    }
                    confirmed = Some(match confirmed.take() {
                        None => in_sync.into_iter().collect(),
                        Some(mut c) => {
                            c.retain(|h, _| in_sync.contains_key(h));
                            c
                        }
                    });
                    responses.push(true);
                }
                Err(e) => {
                    tracing::error!("{} {e}", node_str(node, &job.partition));
                    failures.insert((node.replication_ip.clone(), node.device.clone()));
                    responses.push(false);
                }
            }
        }
    }
    let all_ok = responses.len() == job.nodes.len() && responses.iter().all(|r| *r);
    let mut gone = false;
    if all_ok && !suffixes.is_empty() {
        stats.remove += 1;
        let objs = confirmed.unwrap_or_default();
        tracing::info!("Removing {} objects", objs.len());
        for (hash, ts) in objs {
            let dir = part_dir
                .join(&hash[hash.len().saturating_sub(3)..])
                .join(&hash);
            // Only what was pushed: a newer write since then stays.
            if local_object(&dir).is_some_and(|o| o.stamps.ts_data == ts) {
                let _ = fs::remove_dir_all(&dir);
            }
            if let Some(sfx) = dir.parent() {
                let _ = fs::remove_dir(sfx);
            }
        }
        gone = remove_partition_if_empty(&part_dir);
    } else if suffixes.is_empty() {
        gone = remove_partition_if_empty(&part_dir);
    }
    stats.success += (job.nodes.len() - failures.len()) as u64;
    stats.add_failures(&failures);
    gone
}

/// Removes a partition directory holding nothing but its hash files.
fn remove_partition_if_empty(part_dir: &std::path::Path) -> bool {
    let busy = fs::read_dir(part_dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().is_dir());
    if busy {
        return false;
    }
    tracing::info!("Removing partition: {}", part_dir.display());
    fs::remove_dir_all(part_dir).is_ok() || !part_dir.exists()
}

/// Times one job for the "Partition times" line.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let begin = Instant::now();
    let out = f();
    (out, begin.elapsed().as_secs_f64())
}
