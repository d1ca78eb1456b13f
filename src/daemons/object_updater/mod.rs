//! `swift-object-updater`: sends the container updates that object
//! servers could not deliver (their async pendings) to the container
//! servers the container ring names, as Swift's updater does.
//!
//! A pending is removed once every container replica took it; nodes that
//! took it are remembered in the pickle (`successes`) so the next pass only
//! retries the others. Settings come from `[object-updater]`; stats go to
//! `object.recon` as `object_updater_sweep`, `object_updater_stats`,
//! `object_updater_last` and `object_updater_per_device`.

pub mod limiter;
pub mod pending;
pub mod tracker;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Map, Value};

use super::conf::DaemonConf;
use super::runner::{self, DaemonArgs};
use super::DaemonError;
use crate::conf::ring_handle::RingHandle;
use crate::conf::server_conf::load_swift_conf;
use crate::recon::cache;
use crate::ring::hash::HashPathConf;
use crate::ring::Ring;
use crate::servers::update::{Target, UpdateClient};
use crate::storage::Timestamp;
use limiter::{Buckets, Drain};
use pending::{LoadError, Pending, Update};
use tracker::OldestTracker;

/// `[object-updater]` settings (over `[DEFAULT]`), Swift's defaults.
#[derive(Debug, Clone)]
pub struct UpdaterConf {
    pub devices: PathBuf,
    pub mount_check: bool,
    pub swift_dir: PathBuf,
    pub interval: Duration,
    pub concurrency: usize,
    pub updater_workers: usize,
    pub objects_per_second: f64,
    pub per_container_rate: f64,
    pub per_container_buckets: usize,
    pub max_deferred_updates: usize,
    pub node_timeout: f64,
    pub conn_timeout: f64,
    pub report_interval: f64,
    pub dump_count: usize,
    pub tracker_max_entries: usize,
    pub recon_file: PathBuf,
}

fn positive(c: &DaemonConf, key: &str, default: usize) -> Result<usize, DaemonError> {
    match c.parse_or(key, default)? {
        0 => Err(DaemonError::BadValue {
            path: c.path.clone(),
            key: key.into(),
            value: "0".into(),
        }),
        n => Ok(n),
    }
}

impl UpdaterConf {
    pub fn from_conf(c: &DaemonConf) -> Result<Self, DaemonError> {
        let default_rate = c.updater_default_rate("objects_per_second")?;
        let per_container_rate: f64 = c.parse_or("max_objects_per_container_per_second", 0.0)?;
        if per_container_rate < 0.0 {
            return Err(DaemonError::BadValue {
                path: c.path.clone(),
                key: "max_objects_per_container_per_second".into(),
                value: per_container_rate.to_string(),
            });
        }
        Ok(UpdaterConf {
            devices: c.path_or("devices", "/srv/node"),
            mount_check: c.bool_or("mount_check", true),
            swift_dir: c.path_or("swift_dir", "/etc/swift"),
            interval: c.secs_or("interval", 300.0)?,
            concurrency: positive(c, "concurrency", 8)?,
            updater_workers: positive(c, "updater_workers", 1)?,
            objects_per_second: c.parse_or("objects_per_second", default_rate)?,
            per_container_rate,
            per_container_buckets: positive(c, "per_container_ratelimit_buckets", 1000)?,
            max_deferred_updates: c.parse_or("max_deferred_updates", 10000)?,
            node_timeout: c.parse_or("node_timeout", 10.0)?,
            conn_timeout: c.parse_or("conn_timeout", 0.5)?,
            report_interval: c.parse_or("report_interval", 300.0)?,
            dump_count: positive(c, "async_tracker_dump_count", 5)?,
            tracker_max_entries: positive(c, "async_tracker_max_entries", 100)?,
            recon_file: c.recon_cache_path().join(cache::OBJECT_FILE),
        })
    }
}

/// Counters of a sweep, with Swift's names.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepStats {
    pub errors: u64,
    pub failures: u64,
    pub quarantines: u64,
    pub successes: u64,
    pub unlinks: u64,
    pub outdated_unlinks: u64,
    pub redirects: u64,
    pub skips: u64,
    pub deferrals: u64,
    pub drains: u64,
}

impl fmt::Display for SweepStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} successes, {} failures, {} quarantines, {} unlinks, {} outdated_unlinks, \
             {} errors, {} redirects, {} skips, {} deferrals, {} drains",
            self.successes,
            self.failures,
            self.quarantines,
            self.unlinks,
            self.outdated_unlinks,
            self.errors,
            self.redirects,
            self.skips,
            self.deferrals,
            self.drains
        )
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What one pass needs: settings, the container ring and an HTTP client.
struct Ctx {
    conf: UpdaterConf,
    ring: Arc<Ring>,
    hash: HashPathConf,
    client: UpdateClient,
}

/// How processing one pending ended.
enum Outcome {
    Error,
    Delivered,
    /// Some node still lacks it: `(account, container)` for the tracker.
    Failed(String, String),
}

fn host(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Sends one pending to the container replicas that lack it.
async fn process(ctx: &Ctx, dev: &Path, p: &Pending, mut update: Update) -> Outcome {
    let (acct, cont) = update.target();
    let part = match ctx.ring.get_part(&ctx.hash, &acct, Some(&cont), None) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(
                "ERROR bad container {acct}/{cont} in {}: {e}",
                p.path.display()
            );
            return Outcome::Error;
        }
    };
    let mut headers: Vec<(String, String)> = update
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("user-agent"))
        .cloned()
        .collect();
    headers.push((
        "User-Agent".into(),
        format!("object-updater {}", std::process::id()),
    ));
    for (k, v) in [
        ("X-Backend-Storage-Policy-Index", p.policy.to_string()),
        ("X-Backend-Accept-Redirect", "true".into()),
        ("X-Backend-Accept-Quoted-Location", "true".into()),
    ] {
        if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
            headers.push((k.to_string(), v));
        }
    }
    let path = format!("/{acct}/{cont}/{}", update.obj);
    let nodes: Vec<_> = ctx
        .ring
        .get_part_nodes(part)
        .into_iter()
        .map(|n| n.device.clone())
        .filter(|d| !update.successes.contains(&d.id))
        .collect();
    let sends = nodes.iter().map(|d| {
        let target = Target {
            host: host(&d.replication_ip, d.replication_port),
            device: d.device.clone(),
        };
        let (headers, path, op, part) = (&headers, &path, &update.op, part.to_string());
        async move {
            let res = ctx.client.send(&target, &part, op, path, headers).await;
            match &res {
                Ok(s) if (200..300).contains(s) => true,
                Ok(s) => {
                    tracing::debug!(
                        "Error code {s} is returned from remote server {}/{}",
                        target.host,
                        target.device
                    );
                    false
                }
                Err(e) => {
                    tracing::error!(
                        "ERROR with remote server {}/{}: {e}",
                        target.host,
                        target.device
                    );
                    false
                }
            }
        }
    });
    let results = futures::future::join_all(sends).await;
    let mut all_ok = true;
    let mut new_successes = false;
    for (d, ok) in nodes.iter().zip(results) {
        if ok {
            update.successes.push(d.id);
            new_successes = true;
        } else {
            all_ok = false;
        }
    }
    if all_ok {
        tracing::debug!("Update sent for {path} {}", p.path.display());
        return match pending::unlink(p) {
            Ok(()) => Outcome::Delivered,
            Err(e) => {
                tracing::error!("ERROR unlinking {}: {e}", p.path.display());
                Outcome::Error
            }
        };
    }
    tracing::debug!("Update failed for {path} {}", p.path.display());
    if new_successes {
        if let Err(e) = pending::save(dev, p, &update) {
            tracing::error!("ERROR saving {}: {e}", p.path.display());
        }
    }
    Outcome::Failed(acct, cont)
}

/// Paces the whole sweep to `objects_per_second`.
struct Pace {
    per: Duration,
    next: tokio::time::Instant,
}

impl Pace {
    fn new(rate: f64) -> Self {
        Pace {
            per: if rate > 0.0 {
                Duration::from_secs_f64(1.0 / rate)
            } else {
                Duration::ZERO
            },
            next: tokio::time::Instant::now(),
        }
    }

    async fn wait(&mut self) {
        if self.per.is_zero() {
            return;
        }
        let now = tokio::time::Instant::now();
        if self.next > now {
            tokio::time::sleep_until(self.next).await;
        }
        self.next = self.next.max(now) + self.per;
    }
}

/// One device's sweep; returns its stats and failure tracker.
async fn sweep_device(
    ctx: &Ctx,
    dev: &Path,
    policies: &[u32],
    pass_begin: f64,
) -> (SweepStats, OldestTracker) {
    let start = Instant::now();
    let pid = std::process::id();
    tracing::info!(
        "Object update sweep starting on {} (pid: {pid})",
        dev.display()
    );
    let mut stats = SweepStats::default();
    let mut tracker = OldestTracker::new(ctx.conf.tracker_max_entries);
    let found = pending::scan(dev, policies, &mut stats);
    let mut pace = Pace::new(ctx.conf.objects_per_second);
    let mut buckets = Buckets::new(
        ctx.conf.per_container_rate,
        ctx.conf.per_container_buckets,
        ctx.conf.max_deferred_updates,
    );
    let drain_until = pass_begin + ctx.conf.interval.as_secs_f64();
    let mut inflight = FuturesUnordered::new();
    let mut last_report = Instant::now();
    let mut tally = |o: Outcome, p: &Pending, stats: &mut SweepStats| match o {
        Outcome::Error => stats.errors += 1,
        Outcome::Delivered => {
            stats.successes += 1;
            stats.unlinks += 1;
        }
        Outcome::Failed(a, c) => {
            stats.failures += 1;
            let ts = Timestamp::parse(&p.timestamp).map_or(0.0, |t| t.as_f64());
            tracker.add(&a, &c, ts);
        }
    };
    let mut queue = found.into_iter();
    loop {
        // Next pending: straight from the scan, else from the deferred ones.
        let next = match queue.next() {
            Some(p) => {
                pace.wait().await;
                let update = match pending::load(dev, &p) {
                    Ok(u) => u,
                    Err(LoadError::Gone) => continue,
                    Err(LoadError::Quarantined) => {
                        stats.quarantines += 1;
                        continue;
                    }
                };
                let (a, c) = update.target();
                match buckets.offer(&a, &c, (p, update), now(), &mut stats) {
                    Some(item) => Some(item),
                    None => continue,
                }
            }
            None => loop {
                match buckets.drain(now(), drain_until, &mut stats) {
                    Drain::Ready(p) => break Some(p),
                    Drain::Wait(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
                    Drain::Done => break None,
                }
            },
        };
        let Some((p, update)) = next else { break };
        while inflight.len() >= ctx.conf.concurrency {
            if let Some((o, done)) = inflight.next().await {
                tally(o, &done, &mut stats);
            }
        }
        inflight.push(async move {
            let o = process(ctx, dev, &p, update).await;
            (o, p)
        });
        if last_report.elapsed().as_secs_f64() >= ctx.conf.report_interval {
            tracing::info!(
                "Object update sweep progress on {}: {:.2}s, {stats} (pid: {pid})",
                dev.display(),
                start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    while let Some((o, done)) = inflight.next().await {
        tally(o, &done, &mut stats);
    }
    tracing::info!(
        "Object update sweep completed on {} in {:.2}s seconds:, {stats} (pid: {pid})",
        dev.display(),
        start.elapsed().as_secs_f64()
    );
    (stats, tracker)
}

/// Every device directory name, sorted (unreadable root: none).
fn device_names(devices: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(devices)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .collect()
        })
        .unwrap_or_else(|e| {
            tracing::error!("ERROR: Unable to access {}: {e}", devices.display());
            Vec::new()
        });
    v.sort();
    v
}

/// One pass over every device; writes the recon entries. Returns the
/// summed stats.
pub fn run_once(
    conf: &UpdaterConf,
    args: &DaemonArgs,
    ring: &RingHandle,
) -> Result<SweepStats, DaemonError> {
    tracing::info!("Begin object update sweep of all devices");
    let begin = Instant::now();
    let pass_begin = now();
    if let Err(e) = ring.reload_if_changed() {
        tracing::error!("keeping the old container ring: {e}");
    }
    let swift = load_swift_conf(&conf.swift_dir).map_err(|e| DaemonError::Conf(e.to_string()))?;
    let ctx = Ctx {
        conf: conf.clone(),
        ring: ring.ring(),
        hash: swift.salt.clone(),
        client: UpdateClient::new(conf.conn_timeout, conf.node_timeout),
    };
    let names = device_names(&conf.devices);
    let mut work = Vec::new();
    for name in &names {
        if args
            .devices
            .as_ref()
            .is_some_and(|only| !only.contains(name))
        {
            continue;
        }
        let dev = conf.devices.join(name);
        if !dev.is_dir() {
            continue;
        }
        if conf.mount_check && !crate::storage::device::is_mount(&dev) {
            tracing::warn!("Skipping: {} is not mounted", dev.display());
            continue;
        }
        work.push((name.clone(), dev));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut total = SweepStats::default();
    rt.block_on(async {
        let mut sweeps = futures::stream::iter(work.iter().map(|(name, dev)| {
            let ctx = &ctx;
            let policies = &swift.policies;
            async move {
                let t = Instant::now();
                let (stats, tracker) = sweep_device(ctx, dev, policies, pass_begin).await;
                (name, t.elapsed(), stats, tracker)
            }
        }))
        .buffer_unordered(conf.updater_workers);
        while let Some((name, took, stats, tracker)) = sweeps.next().await {
            tracing::info!(
                "Object update sweep of {name} completed: {:.2}s, {stats}",
                took.as_secs_f64()
            );
            let mut per = Map::new();
            per.insert(
                "object_updater_per_device".into(),
                json!({ name.as_str(): tracker.device_stats(now(), conf.dump_count) }),
            );
            cache::dump_or_log(&conf.recon_file, &per);
            add(&mut total, &stats);
        }
    });
    let elapsed = begin.elapsed().as_secs_f64();
    tracing::info!("Object update sweep of all devices completed: {elapsed:.2}s");
    if let Err(e) = dump_aggregate(conf, &names, elapsed) {
        tracing::error!("recon cache: {e}");
    }
    Ok(total)
}

fn add(total: &mut SweepStats, s: &SweepStats) {
    total.errors += s.errors;
    total.failures += s.failures;
    total.quarantines += s.quarantines;
    total.successes += s.successes;
    total.unlinks += s.unlinks;
    total.outdated_unlinks += s.outdated_unlinks;
    total.redirects += s.redirects;
    total.skips += s.skips;
    total.deferrals += s.deferrals;
    total.drains += s.drains;
}

/// `object_updater_sweep`, `object_updater_stats`, `object_updater_last`;
/// per-device entries of devices no longer present are removed.
fn dump_aggregate(conf: &UpdaterConf, devices: &[String], elapsed: f64) -> Result<(), DaemonError> {
    let cached = cache::load(&conf.recon_file).unwrap_or_default();
    let stored = cached
        .get("object_updater_per_device")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let per: Map<String, Value> = devices
        .iter()
        .map(|d| {
            (
                d.clone(),
                stored.get(d).cloned().unwrap_or_else(|| json!({})),
            )
        })
        .collect();
    let mut entries = Map::new();
    entries.insert("object_updater_sweep".into(), json!(elapsed));
    entries.insert(
        "object_updater_stats".into(),
        tracker::aggregate(&per, conf.dump_count, conf.updater_workers),
    );
    entries.insert("object_updater_last".into(), json!(now()));
    let gone: Map<String, Value> = stored
        .keys()
        .filter(|d| !devices.contains(d))
        .map(|d| (d.clone(), json!({})))
        .collect();
    if !gone.is_empty() {
        entries.insert("object_updater_per_device".into(), Value::Object(gone));
    }
    cache::dump(
        &conf.recon_file,
        &entries,
        cache::DEFAULT_LOCK_TIMEOUT,
        None,
    )?;
    Ok(())
}

/// `swift-object-updater CONFIG [-o] [-v]`.
pub fn main() -> u8 {
    run(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// The binary with explicit arguments (after the program name).
pub fn run(argv: &[String]) -> u8 {
    runner::main_with("swift-object-updater", "object-updater", argv, |args, c| {
        let conf = UpdaterConf::from_conf(c)?;
        let ring_path = conf.swift_dir.join("container.ring.gz");
        let ring = RingHandle::open(&ring_path).map_err(|e| DaemonError::Conf(e.to_string()))?;
        runner::run(args.once, conf.interval, || {
            run_once(&conf, args, &ring).map(|_| ())
        })
    })
}
