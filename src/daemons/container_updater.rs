//! `swift-container-updater`: reports each container's object count, bytes
//! and put/delete timestamps to the account servers the account ring names,
//! when they differ from what was last reported (the container DB's
//! `reported_*` columns), as Swift's updater does.
//!
//! A report counts when a majority of account replicas accept it; when
//! every replica answers 404 the container DB is quarantined (its account
//! is gone); otherwise the account is left alone for
//! `account_suppression_time` seconds. Settings come from
//! `[container-updater]`; each pass writes `container_updater_sweep` to
//! `container.recon`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::stream::StreamExt;
use rand::seq::SliceRandom;
use serde_json::{json, Map};

use super::conf::DaemonConf;
use super::runner::{self, DaemonArgs, RateLimiter};
use super::DaemonError;
use crate::conf::ring_handle::RingHandle;
use crate::conf::server_conf::load_swift_conf;
use crate::recon::cache;
use crate::ring::hash::HashPathConf;
use crate::servers::update::{Target, UpdateClient};
use crate::storage::broker::{quarantine_db, Broker, DbKind, Reported};
use crate::storage::Timestamp;

/// `[container-updater]` settings (over `[DEFAULT]`), Swift's defaults.
#[derive(Debug, Clone)]
pub struct ContainerUpdaterConf {
    pub devices: PathBuf,
    pub mount_check: bool,
    pub swift_dir: PathBuf,
    pub interval: Duration,
    pub concurrency: usize,
    pub containers_per_second: f64,
    pub node_timeout: f64,
    pub conn_timeout: f64,
    pub account_suppression_time: f64,
    pub recon_file: PathBuf,
}

impl ContainerUpdaterConf {
    pub fn from_conf(c: &DaemonConf) -> Result<Self, DaemonError> {
        // Swift's database daemons set the process-wide switch too.
        crate::storage::broker::set_db_preallocation(c.bool_or("db_preallocation", false));
        let default_rate = c.updater_default_rate("containers_per_second")?;
        let concurrency: usize = c.parse_or("concurrency", 4)?;
        Ok(ContainerUpdaterConf {
            devices: c.path_or("devices", "/srv/node"),
            mount_check: c.bool_or("mount_check", true),
            swift_dir: c.path_or("swift_dir", "/etc/swift"),
            interval: c.secs_or("interval", 300.0)?,
            concurrency: concurrency.max(1),
            containers_per_second: c.parse_or("containers_per_second", default_rate)?,
            node_timeout: c.parse_or("node_timeout", 3.0)?,
            conn_timeout: c.parse_or("conn_timeout", 0.5)?,
            account_suppression_time: c.parse_or("account_suppression_time", 60.0)?,
            recon_file: c.recon_cache_path().join(cache::CONTAINER_FILE),
        })
    }
}

/// Counts of one sweep.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub successes: u64,
    pub failures: u64,
    pub no_changes: u64,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The updater between passes: its ring, client and suppressed accounts.
pub struct ContainerUpdater {
    pub conf: ContainerUpdaterConf,
    ring: RingHandle,
    client: UpdateClient,
    /// Account → time until which it is not reported to.
    suppressions: HashMap<String, f64>,
}

/// How one container ended.
enum Outcome {
    Success,
    Failure(Option<String>),
    NoChange,
    Skipped,
}

impl ContainerUpdater {
    pub fn new(conf: ContainerUpdaterConf) -> Result<Self, DaemonError> {
        let ring = RingHandle::open(conf.swift_dir.join("account.ring.gz"))
            .map_err(|e| DaemonError::Conf(e.to_string()))?;
        let client = UpdateClient::new(conf.conn_timeout, conf.node_timeout);
        Ok(ContainerUpdater {
            conf,
            ring,
            client,
            suppressions: HashMap::new(),
        })
    }

    /// Every `<dev>/containers/<part>` directory, shuffled.
    fn paths(&self, only: Option<&[String]>) -> Vec<PathBuf> {
        let list = |p: &Path| -> Vec<PathBuf> {
            match std::fs::read_dir(p) {
                Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
                Err(e) => {
                    tracing::error!("ERROR:  Failed to get paths to drive partitions: {e}");
                    Vec::new()
                }
            }
        };
        let mut out = Vec::new();
        for dev in list(&self.conf.devices) {
            let name = dev.file_name().map(|n| n.to_string_lossy().into_owned());
            if only.is_some_and(|o| !o.iter().any(|d| Some(d) == name.as_ref())) {
                continue;
            }
            if self.conf.mount_check && !crate::storage::device::is_mount(&dev) {
                tracing::warn!("{} is not mounted", dev.display());
                continue;
            }
            let datadir = dev.join(DbKind::Container.datadir());
            if datadir.is_dir() {
                out.extend(list(&datadir));
            }
        }
        out.shuffle(&mut rand::thread_rng());
        out
    }

    /// One pass over every container; returns its counts.
    pub fn run_once(&mut self, args: &DaemonArgs) -> Result<Counts, DaemonError> {
        let once = args.once;
        if once {
            tracing::info!("Begin container update single threaded sweep");
        } else {
            tracing::info!("Begin container update sweep");
        }
        let begin = Instant::now();
        let t = now();
        self.suppressions.retain(|_, until| *until >= t);
        if let Err(e) = self.ring.reload_if_changed() {
            tracing::error!("keeping the old account ring: {e}");
        }
        let swift =
            load_swift_conf(&self.conf.swift_dir).map_err(|e| DaemonError::Conf(e.to_string()))?;
        let hash = swift.salt.clone();
        let paths = self.paths(args.devices.as_deref());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut counts = Counts::default();
        let mut limiter = RateLimiter::new(self.conf.containers_per_second);
        let dbs: Vec<PathBuf> = paths
            .iter()
            .flat_map(|p| super::walk::files_with_extension(p, "db"))
            .collect();
        let this = &*self;
        let new_suppressed: Vec<String> = rt.block_on(async {
            let mut suppressed = Vec::new();
            let mut results = futures::stream::iter(dbs.iter().map(|db| {
                let hash = &hash;
                async move { (db, this.process(db, hash).await) }
            }))
            .buffer_unordered(if once { 1 } else { this.conf.concurrency });
            while let Some((db, outcome)) = results.next().await {
                match outcome {
                    Ok(Outcome::Success) => counts.successes += 1,
                    Ok(Outcome::Failure(account)) => {
                        counts.failures += 1;
                        suppressed.extend(account);
                    }
                    Ok(Outcome::NoChange) => counts.no_changes += 1,
                    Ok(Outcome::Skipped) => {}
                    Err(e) => tracing::error!("Error processing container {}: {e}", db.display()),
                }
                limiter.wait(1.0);
            }
            suppressed
        });
        let until = now() + self.conf.account_suppression_time;
        for a in new_suppressed {
            self.suppressions.insert(a, until);
        }
        let elapsed = begin.elapsed().as_secs_f64();
        if once {
            tracing::info!(
                "Container update single threaded sweep completed: {elapsed:.2}s, {} successes, \
                 {} failures, {} with no changes",
                counts.successes,
                counts.failures,
                counts.no_changes
            );
        } else {
            tracing::info!("Container update sweep completed: {elapsed:.2}s");
        }
        let mut entry = Map::new();
        entry.insert("container_updater_sweep".into(), json!(elapsed));
        cache::dump_or_log(&self.conf.recon_file, &entry);
        Ok(counts)
    }

    /// Reports one container if its stats changed since the last report.
    async fn process(&self, db: &Path, hash: &HashPathConf) -> Result<Outcome, String> {
        let Some(broker) = Broker::open(db, DbKind::Container).map_err(|e| e.to_string())? else {
            return Ok(Outcome::Skipped);
        };
        let info = broker.info().map_err(|e| e.to_string())?;
        let put = Timestamp::parse(&info.put_timestamp).unwrap_or_default();
        if put.as_f64() <= 0.0 {
            return Ok(Outcome::Skipped);
        }
        if self
            .suppressions
            .get(&info.account)
            .is_some_and(|&until| until > now())
        {
            return Ok(Outcome::Skipped);
        }
        let old = broker.reported().map_err(|e| e.to_string())?;
        let newer = |a: &str, b: &str| {
            Timestamp::parse(a).unwrap_or_default() > Timestamp::parse(b).unwrap_or_default()
        };
        if !(newer(&info.put_timestamp, &old.put_timestamp)
            || newer(&info.delete_timestamp, &old.delete_timestamp)
            || info.object_count != old.object_count
            || info.bytes_used != old.bytes_used)
        {
            return Ok(Outcome::NoChange);
        }
        let container = info.container.clone().unwrap_or_default();
        let ring = self.ring.ring();
        let part = ring
            .get_part(hash, &info.account, None, None)
            .map_err(|e| e.to_string())?
            .to_string();
        let headers = vec![
            ("X-Put-Timestamp".to_string(), info.put_timestamp.clone()),
            (
                "X-Delete-Timestamp".to_string(),
                info.delete_timestamp.clone(),
            ),
            ("X-Object-Count".to_string(), info.object_count.to_string()),
            ("X-Bytes-Used".to_string(), info.bytes_used.to_string()),
            ("X-Account-Override-Deleted".to_string(), "yes".to_string()),
            (
                "X-Backend-Storage-Policy-Index".to_string(),
                info.storage_policy_index.to_string(),
            ),
            (
                "User-Agent".to_string(),
                format!("container-updater {}", std::process::id()),
            ),
        ];
        let path = format!("/{}/{container}", info.account);
        let targets: Vec<Target> = ring
            .get_part_nodes(part.parse().unwrap_or(0))
            .iter()
            .map(|n| Target {
                host: if n.device.replication_ip.contains(':') {
                    format!(
                        "[{}]:{}",
                        n.device.replication_ip, n.device.replication_port
                    )
                } else {
                    format!("{}:{}", n.device.replication_ip, n.device.replication_port)
                },
                device: n.device.device.clone(),
            })
            .collect();
        let sends = targets.iter().map(|t| {
            let (part, path, headers) = (&part, &path, &headers);
            async move {
                match self.client.send(t, part, "PUT", path, headers).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(
                            "ERROR account update failed with {}/{} (will retry later): {e}",
                            t.host,
                            t.device
                        );
                        500
                    }
                }
            }
        });
        let statuses = futures::future::join_all(sends).await;
        let ok = statuses.iter().filter(|s| (200..300).contains(*s)).count();
        let missing = statuses.iter().filter(|&&s| s == 404).count();
        // A majority (Swift's majority_size: n / 2 + 1).
        if ok > statuses.len() / 2 {
            tracing::debug!("Update report sent for {path} {}", db.display());
            broker
                .set_reported(&Reported {
                    put_timestamp: info.put_timestamp,
                    delete_timestamp: info.delete_timestamp,
                    object_count: info.object_count,
                    bytes_used: info.bytes_used,
                })
                .map_err(|e| e.to_string())?;
            return Ok(Outcome::Success);
        }
        if missing == statuses.len() {
            tracing::debug!("Update report stub for {path} {}", db.display());
            drop(broker);
            match quarantine_db(db, DbKind::Container) {
                Ok(to) => tracing::error!(
                    "Quarantined {} to {} due to no account replicas exist",
                    db.parent().unwrap_or(db).display(),
                    to.display()
                ),
                Err(e) => tracing::error!("could not quarantine {}: {e}", db.display()),
            }
            return Ok(Outcome::Failure(None));
        }
        tracing::debug!("Update report failed for {path} {}", db.display());
        Ok(Outcome::Failure(Some(info.account)))
    }
}

/// `swift-container-updater CONFIG [-o] [-v]`.
pub fn main() -> u8 {
    run(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// The binary with explicit arguments (after the program name).
pub fn run(argv: &[String]) -> u8 {
    runner::main_with(
        "swift-container-updater",
        "container-updater",
        argv,
        |args, c| {
            let conf = ContainerUpdaterConf::from_conf(c)?;
            let interval = conf.interval;
            let mut updater = ContainerUpdater::new(conf)?;
            runner::run(args.once, interval, || updater.run_once(args).map(|_| ()))
        },
    )
}
