//! `swift-container-replicator` and `swift-account-replicator`: keep every
//! replica of each database in step and move databases off handoffs, as
//! Swift's `db_replicator`.
//!
//! A pass walks every local device's `containers/` (or `accounts/`) tree.
//! For each database it finds the partition's primaries in the ring and
//! syncs with each (`peer`): `REPLICATE sync` compares replication info;
//! when the peer is behind, the rows since the last sync point go over in
//! `merge_items` batches of `per_diff` (at most `max_diffs` batches a pass),
//! then `merge_syncs`; when the peer has no copy (404), or less than half
//! the rows and more than `per_diff` behind, the whole database goes over.
//! Swift copies it with rsync; here it is sent with `PUSHDB` into the
//! peer's `tmp/` and installed by `complete_rsync` or merged by
//! `rsync_then_merge` (see `crate::servers::db_replicate`). A database on a
//! handoff, or in a partition the ring no longer gives it, is removed once
//! every primary has it. Stats go to `container.recon` / `account.recon`
//! under Swift's keys (`replication_stats`, `replication_time`,
//! `replication_last`).

mod pass;
mod peer;

use std::path::PathBuf;
use std::time::Duration;

use super::conf::DaemonConf;
use super::runner;
use super::DaemonError;
use crate::recon::cache;
use crate::storage::broker::DbKind;

pub use pass::{run_pass, Stats};

/// The replicator's settings (`[<type>-replicator]` over `[DEFAULT]`).
#[derive(Debug, Clone)]
pub struct ReplConf {
    pub kind: DbKind,
    pub devices: PathBuf,
    pub mount_check: bool,
    pub swift_dir: PathBuf,
    pub bind_ip: String,
    pub bind_port: u16,
    pub concurrency: usize,
    pub per_diff: usize,
    pub max_diffs: usize,
    pub interval: Duration,
    pub databases_per_second: f64,
    pub node_timeout: Duration,
    pub conn_timeout: Duration,
    pub reclaim_age: f64,
    pub handoffs_only: bool,
    pub handoff_delete: usize,
    pub recon_file: PathBuf,
}

impl ReplConf {
    pub fn from_conf(c: &DaemonConf, kind: DbKind) -> Result<Self, DaemonError> {
        // Swift's database daemons set the process-wide switch too.
        crate::storage::broker::set_db_preallocation(c.bool_or("db_preallocation", false));
        let (port, file) = match kind {
            DbKind::Container => (6201, cache::CONTAINER_FILE),
            DbKind::Account => (6202, cache::ACCOUNT_FILE),
        };
        let interval = match c.get("interval").or(c.get("run_pause")) {
            Some(_) if c.get("interval").is_some() => c.secs_or("interval", 30.0)?,
            Some(_) => c.secs_or("run_pause", 30.0)?,
            None => Duration::from_secs(30),
        };
        let handoff_delete = match c.get("handoff_delete").map(str::trim) {
            None | Some("auto") => 0,
            Some(_) => c.parse_or("handoff_delete", 0usize)?,
        };
        Ok(ReplConf {
            kind,
            devices: c.path_or("devices", "/srv/node"),
            mount_check: c.bool_or("mount_check", true),
            swift_dir: c.path_or("swift_dir", "/etc/swift"),
            bind_ip: c.str_or("bind_ip", "0.0.0.0"),
            bind_port: c.parse_or("bind_port", port)?,
            concurrency: c.parse_or("concurrency", 8usize)?.max(1),
            per_diff: c.parse_or("per_diff", 1000usize)?.max(1),
            max_diffs: c.parse_or("max_diffs", 100usize)?.max(1),
            interval,
            databases_per_second: c.parse_or("databases_per_second", 50.0)?,
            node_timeout: c.secs_or("node_timeout", 10.0)?,
            conn_timeout: c.secs_or("conn_timeout", 0.5)?,
            reclaim_age: c.parse_or("reclaim_age", 86400.0 * 7.0)?,
            handoffs_only: c.bool_or("handoffs_only", false),
            handoff_delete,
            recon_file: c.recon_cache_path().join(file),
        })
    }
}

/// Shared entry of both replicator binaries, over explicit arguments.
fn run_for(kind: DbKind, argv: &[String]) -> u8 {
    let (name, section) = match kind {
        DbKind::Container => ("swift-container-replicator", "container-replicator"),
        DbKind::Account => ("swift-account-replicator", "account-replicator"),
    };
    runner::main_with(name, section, argv, |args, c| {
        let conf = ReplConf::from_conf(c, kind)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (devices, partitions) = if args.once {
            (args.devices.clone(), args.partitions.clone())
        } else {
            (None, None)
        };
        runner::run(args.once, conf.interval, || {
            rt.block_on(run_pass(&conf, devices.as_deref(), partitions.as_deref()))
                .map(|_| ())
        })
    })
}

/// `swift-container-replicator CONFIG [-o] [-v] [-d DEVS] [-p PARTS]`.
pub fn run_container(argv: &[String]) -> u8 {
    run_for(DbKind::Container, argv)
}

/// `swift-account-replicator CONFIG [-o] [-v] [-d DEVS] [-p PARTS]`.
pub fn run_account(argv: &[String]) -> u8 {
    run_for(DbKind::Account, argv)
}
