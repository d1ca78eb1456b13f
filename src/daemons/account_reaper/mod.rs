//! `swift-account-reaper`: removes the data of accounts marked deleted.
//!
//! A reseller admin's account DELETE only marks the account database
//! (status `DELETED`). Each pass walks the account databases on this
//! node's devices; for every account marked deleted that still has
//! containers, older than `delay_reaping`, on a device that is one of the
//! account partition's primaries, it reaps that primary's share of the
//! containers (`reap`): every object at all its replicas, then the
//! container. Once the account lists no containers it is left for the
//! account replicator to reclaim after `reclaim_age`, as in Swift.
//!
//! Settings come from `[account-reaper]` of the account server's config.
//! Swift's reaper writes no recon cache entries, so neither does this one;
//! its log lines are Swift's.

mod reap;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::stream::StreamExt;

pub use reap::{in_shard, ReapStats};

use super::cluster::{self, Direct, NamedRing};
use super::conf::DaemonConf;
use super::runner::{self, DaemonArgs};
use super::DaemonError;
use crate::conf::swift_conf::SwiftConf;
use crate::ring::Device;
use crate::storage::broker::ListParams;
use crate::storage::broker::{Broker, DbKind};
use crate::storage::Timestamp;

/// `[account-reaper]` settings (over `[DEFAULT]`), Swift's defaults.
#[derive(Debug, Clone)]
pub struct ReaperConf {
    pub devices: PathBuf,
    pub mount_check: bool,
    pub swift_dir: PathBuf,
    pub interval: Duration,
    pub concurrency: usize,
    pub node_timeout: Duration,
    pub conn_timeout: Duration,
    /// Seconds an account stays marked deleted before it is reaped.
    pub delay_reaping: f64,
    /// Seconds after `delay_reaping` before an account still holding
    /// containers is warned about.
    pub reap_warn_after: f64,
    pub bind_ip: String,
    pub bind_port: u16,
}

impl ReaperConf {
    pub fn from_conf(c: &DaemonConf) -> Result<Self, DaemonError> {
        // Swift's database daemons set the process-wide switch too.
        crate::storage::broker::set_db_preallocation(c.bool_or("db_preallocation", false));
        let concurrency: usize = c.parse_or("concurrency", 25)?;
        // Swift treats an empty value as unset for these two.
        let or_unset = |key: &str, default: f64| -> Result<f64, DaemonError> {
            match c.get(key).map(str::trim) {
                None | Some("") => Ok(default),
                Some(_) => c.parse_or(key, default),
            }
        };
        Ok(ReaperConf {
            devices: c.path_or("devices", "/srv/node"),
            mount_check: c.bool_or("mount_check", true),
            swift_dir: c.path_or("swift_dir", "/etc/swift"),
            interval: c.secs_or("interval", 3600.0)?,
            concurrency: concurrency.max(1),
            node_timeout: c.secs_or("node_timeout", 10.0)?,
            conn_timeout: c.secs_or("conn_timeout", 0.5)?,
            delay_reaping: or_unset("delay_reaping", 0.0)?,
            reap_warn_after: or_unset("reap_warn_after", 86400.0 * 30.0)?,
            bind_ip: c.str_or("bind_ip", "0.0.0.0"),
            bind_port: c.parse_or("bind_port", 6202)?,
        })
    }

    /// Containers reaped at once, and objects at once within a container:
    /// the square root of `concurrency`, as Swift sizes its two pools.
    pub fn sub_concurrency(&self) -> usize {
        ((self.concurrency as f64).sqrt().ceil() as usize).max(1)
    }
}

/// The rings a pass needs, loaded at its start.
pub struct Rings {
    pub account: NamedRing,
    pub container: NamedRing,
    objects: HashMap<u32, NamedRing>,
}

impl Rings {
    /// Loads the account and container rings and one object ring per
    /// storage policy of `swift.conf`.
    pub fn load(swift_dir: &Path) -> Result<Rings, DaemonError> {
        let policies = SwiftConf::load(&swift_dir.join("swift.conf"))
            .and_then(|c| c.policies())
            .map_err(|e| DaemonError::Conf(e.to_string()))?;
        let mut objects = HashMap::new();
        for p in policies.iter() {
            match NamedRing::load(swift_dir, &p.ring_name()) {
                Ok(r) => {
                    objects.insert(p.index, r);
                }
                Err(e) => tracing::warn!("no ring for policy {}: {e}", p.index),
            }
        }
        Ok(Rings {
            account: NamedRing::load(swift_dir, "account")?,
            container: NamedRing::load(swift_dir, "container")?,
            objects,
        })
    }

    /// The object ring of a storage policy.
    pub fn object(&self, policy: u32) -> Option<&NamedRing> {
        self.objects.get(&policy)
    }
}

/// One account a pass worked on, with what it did.
#[derive(Debug, Clone)]
pub struct AccountPass {
    pub account: String,
    pub stats: ReapStats,
}

/// The reaper during one pass.
pub struct Reaper {
    pub conf: ReaperConf,
    rings: Rings,
    direct: Direct,
}

impl Reaper {
    pub fn new(conf: ReaperConf) -> Result<Reaper, DaemonError> {
        let rings = Rings::load(&conf.swift_dir)?;
        let direct = Direct::new(conf.conn_timeout, conf.node_timeout);
        Ok(Reaper {
            conf,
            rings,
            direct,
        })
    }

    /// One pass over every device (or those of `-d`); returns the accounts
    /// it reaped.
    pub fn run_once(&self, only: Option<&[String]>) -> Result<Vec<AccountPass>, DaemonError> {
        tracing::debug!("Begin devices pass: {}", self.conf.devices.display());
        let begin = Instant::now();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut out = Vec::new();
        let mut devices: Vec<String> = match std::fs::read_dir(&self.conf.devices) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) => {
                tracing::error!("Exception in top-level account reaper loop: {e}");
                Vec::new()
            }
        };
        devices.sort();
        for device in devices {
            if only.is_some_and(|o| !o.contains(&device)) {
                continue;
            }
            let path = self.conf.devices.join(&device);
            if self.conf.mount_check && !crate::storage::device::is_mount(&path) {
                tracing::debug!("Skipping: {} is not mounted", path.display());
                continue;
            }
            if !path.is_dir() {
                continue;
            }
            out.extend(rt.block_on(self.reap_device(&device)));
        }
        tracing::info!(
            "Devices pass completed: {:.02}s",
            begin.elapsed().as_secs_f64()
        );
        Ok(out)
    }

    /// The accounts of one device whose partition has this device as a
    /// primary; each account DB is read newest file first, stopping at a
    /// tombstone.
    async fn reap_device(&self, device: &str) -> Vec<AccountPass> {
        let mut out = Vec::new();
        let datadir = self
            .conf
            .devices
            .join(device)
            .join(DbKind::Account.datadir());
        for (partition, part_path) in subdirs(&datadir) {
            let Ok(part) = partition.parse::<u32>() else {
                continue;
            };
            if !partition.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let nodes = self.rings.account.primaries(part);
            let Some(shard) = nodes.iter().position(|n| {
                n.device == device
                    && cluster::is_local_client(n, &self.conf.bind_ip, self.conf.bind_port)
            }) else {
                continue;
            };
            for (_, suffix) in subdirs(&part_path) {
                for (_, hash_dir) in subdirs(&suffix) {
                    let mut files: Vec<String> = std::fs::read_dir(&hash_dir)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    files.sort_unstable_by(|a, b| b.cmp(a));
                    for f in files {
                        if f.ends_with(".ts") {
                            break;
                        }
                        if f.ends_with(".db") {
                            if let Some(p) =
                                self.consider(&hash_dir.join(&f), part, &nodes, shard).await
                            {
                                out.push(p);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Reaps one account database if it is marked deleted, still lists
    /// containers and has waited `delay_reaping`.
    async fn consider(
        &self,
        db: &Path,
        part: u32,
        nodes: &[Device],
        shard: usize,
    ) -> Option<AccountPass> {
        let opened = Broker::open(db, DbKind::Account).and_then(|b| {
            let Some(b) = b else { return Ok(None) };
            let info = b.info()?;
            let wanted = b.is_status_deleted()? && info.container_count > 0;
            Ok(wanted.then_some((b, info)))
        });
        let (broker, info) = match opened {
            Ok(Some(x)) => x,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!("Exception with account DB {}: {e}", db.display());
                return None;
            }
        };
        let deleted_at = Timestamp::parse(&info.delete_timestamp).unwrap_or_default();
        if cluster::now() - deleted_at.as_f64() <= self.conf.delay_reaping {
            return None;
        }
        Some(
            self.reap_account(&broker, &info.account, part, nodes, shard, deleted_at)
                .await,
        )
    }

    /// Reaps this node's share of an account's containers, logging what
    /// was done as Swift does.
    async fn reap_account(
        &self,
        broker: &Broker,
        account: &str,
        part: u32,
        nodes: &[Device],
        shard: usize,
        deleted_at: Timestamp,
    ) -> AccountPass {
        let begin = Instant::now();
        let started = cluster::now();
        tracing::info!("Beginning pass on account {account}");
        let mut stats = ReapStats::default();
        let mut params = ListParams {
            limit: 1000 * nodes.len().max(1),
            ..Default::default()
        };
        let mut complete = true;
        loop {
            let names: Vec<String> = match broker.list(&params) {
                Ok(rows) => rows.iter().map(|r| r.name().to_string()).collect(),
                Err(e) => {
                    tracing::error!("Exception with account {account}: {e}");
                    complete = false;
                    break;
                }
            };
            let Some(last) = names.last().cloned() else {
                break;
            };
            let mine = names
                .iter()
                .filter(|c| in_shard(c, nodes.len(), Some(shard)));
            let mut reaps =
                futures::stream::iter(mine.map(|c| self.reap_container(account, part, nodes, c)))
                    .buffer_unordered(self.conf.sub_concurrency());
            while let Some(s) = reaps.next().await {
                stats += s;
            }
            params.marker = last;
        }
        let head = if complete { "Completed" } else { "Incomplete" };
        tracing::info!(
            "{head} pass on account {account}{}, elapsed: {:.02}s",
            stats.summary(),
            begin.elapsed().as_secs_f64()
        );
        let not_done_after = self.conf.reap_warn_after + self.conf.delay_reaping;
        if stats.containers_remaining > 0 && started - deleted_at.as_f64() >= not_done_after {
            tracing::warn!(
                "Account {account} has not been reaped since {}",
                deleted_at.isoformat()
            );
        }
        AccountPass {
            account: account.to_string(),
            stats,
        }
    }
}

/// The subdirectories of `dir` by name (none when it is missing).
fn subdirs(dir: &Path) -> Vec<(String, PathBuf)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect()
}

/// One pass for `swift-account-reaper`: rings are reloaded each time, so
/// a pushed ring takes effect at the next pass.
fn pass(conf: &ReaperConf, args: &DaemonArgs) -> Result<(), DaemonError> {
    Reaper::new(conf.clone())?.run_once(args.devices.as_deref())?;
    Ok(())
}

/// `swift-account-reaper CONFIG [-o] [-v] [-d DEVICES]`.
pub fn main() -> u8 {
    run(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// The binary with explicit arguments (after the program name).
pub fn run(argv: &[String]) -> u8 {
    runner::main_with("swift-account-reaper", "account-reaper", argv, |args, c| {
        let conf = ReaperConf::from_conf(c)?;
        // Settle bad rings or swift.conf before looping.
        Rings::load(&conf.swift_dir)?;
        runner::run(args.once, conf.interval, || pass(&conf, args))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_defaults() {
        let text = "[DEFAULT]\nbind_port = 6012\n[account-reaper]\nconcurrency = 10\n\
                    delay_reaping =\ninterval = 7\n";
        let c = DaemonConf::from_text(text, Path::new("x"), "account-reaper").unwrap();
        let r = ReaperConf::from_conf(&c).unwrap();
        assert_eq!(r.bind_port, 6012);
        assert_eq!(r.interval, Duration::from_secs(7));
        assert_eq!(r.delay_reaping, 0.0);
        assert_eq!(r.reap_warn_after, 86400.0 * 30.0);
        assert_eq!(r.node_timeout, Duration::from_secs(10));
        assert_eq!(r.sub_concurrency(), 4);
        let bad = "[account-reaper]\ndelay_reaping = soon\n";
        let c = DaemonConf::from_text(bad, Path::new("x"), "account-reaper").unwrap();
        assert!(ReaperConf::from_conf(&c).is_err());
    }
}
