//! `swift-object-replicator`: keeps every partition's replicas in step.
//!
//! Each pass lists the partitions on this node's devices (`jobs`), and for
//! each one compares suffix hashes with the other primaries and pushes the
//! differences with ssync, or moves a handoff partition to its primaries
//! (`sync`), `concurrency` partitions at a time. Handoffs can go first
//! (`handoffs_first`); a ring change seen every `ring_check_interval`
//! seconds ends the pass early. The totals go to `object.recon` under
//! Swift's names (`stats`). Settings are read from `[object-replicator]`
//! of the object server's config, as Swift reads them.

pub mod jobs;
pub mod stats;
pub mod sync;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::seq::SliceRandom;
use serde_json::{json, Map};

use self::jobs::{build_jobs, my_ips, Job, Overrides};
use self::stats::Stats;
use super::conf::DaemonConf;
use super::runner::{self, DaemonArgs};
use super::DaemonError;
use crate::conf::ring_handle::RingHandle;
use crate::conf::server_conf::load_swift_conf;
use crate::recon::cache;
use crate::servers::ssync::sender::Timeouts;

/// The replicator's settings.
#[derive(Debug, Clone)]
pub struct ReplicatorConf {
    pub devices: PathBuf,
    pub mount_check: bool,
    pub swift_dir: PathBuf,
    pub ring_ip: String,
    pub port: u16,
    pub concurrency: usize,
    pub interval: Duration,
    pub ring_check_interval: Duration,
    pub stats_interval: Duration,
    pub handoffs_first: bool,
    pub reclaim_age: f64,
    pub timeouts: Timeouts,
    pub recon_file: PathBuf,
    pub policies: Vec<u32>,
}

impl ReplicatorConf {
    pub fn from_conf(c: &DaemonConf) -> Result<Self, DaemonError> {
        let swift_dir = c.path_or("swift_dir", "/etc/swift");
        // `interval` wins; `run_pause` is its deprecated name.
        let interval = match (c.get("interval"), c.get("run_pause")) {
            (None, Some(_)) => c.secs_or("run_pause", 30.0)?,
            _ => c.secs_or("interval", 30.0)?,
        };
        if c.get("sync_method").is_some_and(|m| m.trim() != "ssync") {
            tracing::warn!("sync_method other than ssync is not supported; using ssync");
        }
        let policies = load_swift_conf(&swift_dir)
            .map_err(|e| DaemonError::Conf(e.to_string()))?
            .policies;
        Ok(ReplicatorConf {
            devices: c.path_or("devices", "/srv/node"),
            mount_check: c.bool_or("mount_check", true),
            ring_ip: c
                .get("ring_ip")
                .or(c.get("bind_ip"))
                .unwrap_or("0.0.0.0")
                .to_string(),
            port: c.parse_or("bind_port", 6200)?,
            concurrency: c.parse_or::<usize>("concurrency", 1)?.max(1),
            interval,
            ring_check_interval: c.secs_or("ring_check_interval", 15.0)?,
            stats_interval: c.secs_or("stats_interval", 300.0)?,
            handoffs_first: c.bool_or("handoffs_first", false),
            reclaim_age: c.parse_or("reclaim_age", crate::storage::hashes::DEFAULT_RECLAIM_AGE)?,
            timeouts: Timeouts {
                conn: c.secs_or("conn_timeout", 0.5)?,
                node: c.secs_or("node_timeout", 10.0)?,
                http: c.secs_or("http_timeout", 60.0)?,
            },
            recon_file: c.recon_cache_path().join(cache::OBJECT_FILE),
            swift_dir,
            policies,
        })
    }
}

/// A replicator with its rings, kept across passes.
pub struct Replicator {
    pub conf: ReplicatorConf,
    rings: Vec<(u32, RingHandle)>,
    cycle: u32,
}

/// The totals of one pass.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    pub stats: Stats,
    pub jobs: usize,
    pub elapsed: f64,
}

fn ring_path(swift_dir: &std::path::Path, policy: u32) -> PathBuf {
    let name = if policy == 0 {
        "object.ring.gz".to_string()
    } else {
        format!("object-{policy}.ring.gz")
    };
    swift_dir.join(name)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Shared state of the workers of one pass.
struct Pass<'a> {
    rep: &'a Replicator,
    queue: Mutex<VecDeque<Job>>,
    stats: Mutex<BTreeMap<String, Stats>>,
    times: Mutex<Vec<f64>>,
    abort: AtomicBool,
    handoffs_remaining: AtomicU64,
    next_ring_check: Mutex<Instant>,
    next_stats: Mutex<Instant>,
    start: Instant,
    total: usize,
}

impl Pass<'_> {
    fn ring_changed(&self) -> bool {
        let mut next = self
            .next_ring_check
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if Instant::now() < *next {
            return false;
        }
        *next = Instant::now() + self.rep.conf.ring_check_interval;
        self.rep
            .rings
            .iter()
            .any(|(_, h)| h.reload_if_changed().unwrap_or(false))
    }

    fn worker(&self) {
        loop {
            if self.abort.load(Ordering::Relaxed) {
                return;
            }
            let Some(job) = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
            else {
                return;
            };
            if self.ring_changed() {
                tracing::info!("Ring change detected. Aborting current replication pass.");
                self.abort.store(true, Ordering::Relaxed);
                return;
            }
            let Some((_, handle)) = self.rep.rings.iter().find(|(p, _)| *p == job.policy) else {
                continue;
            };
            let ring = handle.ring();
            let mut st = Stats::default();
            let (_, secs) = sync::timed(|| {
                if job.delete {
                    if !sync::revert(&self.rep.conf, &job, &mut st) {
                        self.handoffs_remaining.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    sync::update(&self.rep.conf, &ring, &job, self.rep.cycle, &mut st);
                }
            });
            self.times
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(secs);
            self.stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(job.device.clone())
                .or_default()
                .merge(&st);
            let due = {
                let mut n = self.next_stats.lock().unwrap_or_else(|e| e.into_inner());
                let due = Instant::now() >= *n;
                if due {
                    *n = Instant::now() + self.rep.conf.stats_interval;
                }
                due
            };
            if due {
                self.stats_line();
            }
        }
    }

    fn total_stats(&self) -> Stats {
        let mut t = Stats::default();
        for s in self
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            t.merge(s);
        }
        t
    }

    /// Swift's progress lines.
    fn stats_line(&self) {
        let s = self.total_stats();
        if s.attempted == 0 {
            tracing::info!(
                "Nothing replicated for {:.2} seconds.",
                self.start.elapsed().as_secs_f64()
            );
            return;
        }
        let elapsed = self.start.elapsed().as_secs_f64().max(1e-6);
        let total = self.total.max(1) as f64;
        let remaining = (elapsed / s.attempted as f64) * (total - s.attempted as f64);
        tracing::info!(
            "{}/{} ({:.2}%) partitions replicated in {elapsed:.2}s ({:.2}/sec, {:.0}s remaining)",
            s.attempted,
            self.total,
            s.attempted as f64 * 100.0 / total,
            s.attempted as f64 / elapsed,
            remaining.max(0.0)
        );
        tracing::info!("{} successes, {} failures", s.success, s.failure);
        if s.suffix_count > 0 {
            tracing::info!(
                "{} suffixes checked - {:.2}% hashed, {:.2}% synced",
                s.suffix_count,
                s.suffix_hash as f64 * 100.0 / s.suffix_count as f64,
                s.suffix_sync as f64 * 100.0 / s.suffix_count as f64
            );
        }
        let mut times = self.times.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !times.is_empty() {
            times.sort_by(f64::total_cmp);
            tracing::info!(
                "Partition times: max {:.4}s, min {:.4}s, med {:.4}s",
                times[times.len() - 1],
                times[0],
                times[times.len() / 2]
            );
        }
    }

    fn run(&self) {
        std::thread::scope(|s| {
            for _ in 1..self.rep.conf.concurrency {
                s.spawn(|| self.worker());
            }
            self.worker();
        });
    }
}

impl Replicator {
    /// Loads the rings of every policy that has one.
    pub fn new(conf: ReplicatorConf) -> Result<Self, DaemonError> {
        let mut rings = Vec::new();
        for &p in &conf.policies {
            let path = ring_path(&conf.swift_dir, p);
            match RingHandle::open(&path) {
                Ok(h) => rings.push((p, h)),
                Err(e) if p == 0 => return Err(DaemonError::Conf(e.to_string())),
                Err(e) => tracing::warn!("skipping policy {p}: {e}"),
            }
        }
        Ok(Replicator {
            conf,
            rings,
            cycle: rand::random::<u32>() % 10,
        })
    }

    /// One replication pass over every local partition (or the overrides).
    pub fn replicate(&mut self, only: &Overrides) -> PassReport {
        self.cycle = (self.cycle + 1) % 10;
        let start = Instant::now();
        let ips = my_ips(&self.conf.ring_ip);
        let mut all = Vec::new();
        let mut unusable = Stats::default();
        for (policy, handle) in &self.rings {
            if only.policies.as_ref().is_some_and(|p| !p.contains(policy)) {
                continue;
            }
            let _ = handle.reload_if_changed();
            let ring = handle.ring();
            if ring.next_part_power().is_some() {
                tracing::warn!("next_part_power set in policy {policy}. Skipping");
                continue;
            }
            let (jobs, bad, found) = build_jobs(
                &ring,
                *policy,
                &self.conf.devices,
                self.conf.mount_check,
                &ips,
                self.conf.port,
                only,
            );
            if !found {
                tracing::error!(
                    "Can't find itself in policy with index {policy} with ips {} and with port {} in ring file, not replicating",
                    ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
                    self.conf.port
                );
            }
            // An unusable local device fails every device of the ring, as Swift counts it.
            for _ in bad {
                let failed = ring
                    .devices()
                    .iter()
                    .flatten()
                    .map(|f| (f.replication_ip.clone(), f.device.clone()))
                    .collect();
                unusable.add_failures(&failed);
            }
            all.extend(jobs);
        }
        all.shuffle(&mut rand::thread_rng());
        let (first, rest): (Vec<Job>, Vec<Job>) = if self.conf.handoffs_first {
            all.into_iter().partition(|j| j.delete)
        } else {
            (all, Vec::new())
        };
        let total = first.len() + rest.len();
        let pass = Pass {
            rep: self,
            queue: Mutex::new(first.into()),
            stats: Mutex::new(BTreeMap::new()),
            times: Mutex::new(Vec::new()),
            abort: AtomicBool::new(false),
            handoffs_remaining: AtomicU64::new(0),
            next_ring_check: Mutex::new(Instant::now() + self.conf.ring_check_interval),
            next_stats: Mutex::new(Instant::now() + self.conf.stats_interval),
            start,
            total,
        };
        pass.run();
        if !rest.is_empty() && !pass.abort.load(Ordering::Relaxed) {
            if pass.handoffs_remaining.load(Ordering::Relaxed) > 0 {
                tracing::warn!(
                    "Handoffs first mode still has handoffs remaining.  Aborting current replication pass."
                );
            } else {
                *pass.queue.lock().unwrap_or_else(|e| e.into_inner()) = rest.into();
                pass.run();
            }
        }
        pass.stats_line();
        let mut stats = pass.total_stats();
        stats.merge(&unusable);
        PassReport {
            stats,
            jobs: total,
            elapsed: start.elapsed().as_secs_f64(),
        }
    }

    /// Writes the pass's totals to `object.recon`.
    pub fn update_recon(&self, report: &PassReport) -> Result<(), DaemonError> {
        let minutes = report.elapsed / 60.0;
        let end = now();
        let mut m = Map::new();
        m.insert("replication_stats".into(), report.stats.to_recon());
        m.insert("replication_time".into(), json!(minutes));
        m.insert("replication_last".into(), json!(end));
        m.insert("object_replication_time".into(), json!(minutes));
        m.insert("object_replication_last".into(), json!(end));
        cache::dump(&self.conf.recon_file, &m, cache::DEFAULT_LOCK_TIMEOUT, None)?;
        Ok(())
    }
}

fn overrides(args: &DaemonArgs) -> Result<Overrides, DaemonError> {
    let nums = |v: &Option<Vec<String>>, what: &str| -> Result<Option<Vec<u32>>, DaemonError> {
        v.as_ref()
            .map(|l| {
                l.iter()
                    .map(|x| {
                        x.parse()
                            .map_err(|_| DaemonError::Conf(format!("bad {what} {x:?}")))
                    })
                    .collect()
            })
            .transpose()
    };
    Ok(Overrides {
        devices: args.devices.clone(),
        partitions: nums(&args.partitions, "partition")?,
        policies: nums(&args.policies, "policy index")?,
    })
}

/// The daemon: passes forever (`interval` apart), or one with `--once`
/// (overrides only apply then, and a limited pass writes no recon stats).
pub fn run(args: &DaemonArgs, c: &DaemonConf) -> Result<(), DaemonError> {
    let conf = ReplicatorConf::from_conf(c)?;
    let mut rep = Replicator::new(conf)?;
    if args.once {
        let only = overrides(args)?;
        tracing::info!("Running object replicator in script mode.");
        let report = rep.replicate(&only);
        tracing::info!(
            "Object replication complete (once). ({:.2} minutes)",
            report.elapsed / 60.0
        );
        if !only.any() {
            rep.update_recon(&report)?;
        }
        return Ok(());
    }
    tracing::info!("Starting object replicator in daemon mode.");
    let interval = rep.conf.interval;
    runner::run(false, interval, || {
        tracing::info!("Starting object replication pass.");
        let report = rep.replicate(&Overrides::default());
        tracing::info!(
            "Object replication complete. ({:.2} minutes)",
            report.elapsed / 60.0
        );
        rep.update_recon(&report)
    })
}

/// `swift-object-replicator CONFIG [-o] [-v] [-d DEVS] [-p PARTS] [-i POLICIES]`.
pub fn main() -> u8 {
    runner::main("swift-object-replicator", "object-replicator", run)
}

/// The same over explicit arguments (for the all-in-one cluster).
pub fn main_with(args: &[String]) -> u8 {
    runner::main_with("swift-object-replicator", "object-replicator", args, run)
}
