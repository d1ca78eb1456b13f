//! `swift-object-auditor`: walks every object, checks its metadata, size
//! and (in the full pass) its MD5 against the ETag, and quarantines what
//! fails, as Swift's auditor does.
//!
//! Two scanners run side by side: `ALL` reads every body at
//! `files_per_second` / `bytes_per_second`; `ZBF` (zero-byte fast pass, at
//! `zero_byte_files_per_second`, or alone with `-z N`) checks metadata and
//! sizes only. Each writes `object_auditor_stats_<type>` to `object.recon`
//! on Swift's cadence (after its first object, then every `log_time`
//! seconds), nested under the joined device names with `--devices`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use super::conf::DaemonConf;
use super::runner::{self, DaemonArgs, RateLimiter};
use super::walk;
use super::DaemonError;
use crate::conf::server_conf::load_swift_conf;
use crate::recon::cache;
use crate::storage::diskfile::{list_files, quarantine_dir};
use crate::storage::hashpath::{hex, policy_dir};
use crate::storage::metadata;
use crate::storage::objstore::{select, FileKind};

/// The auditor's settings (`[object-auditor]` over `[DEFAULT]`).
#[derive(Debug, Clone)]
pub struct AuditorConf {
    pub devices: PathBuf,
    pub mount_check: bool,
    pub files_per_second: f64,
    pub bytes_per_second: f64,
    pub zero_byte_fps: f64,
    pub log_time: f64,
    pub interval: Duration,
    pub recon_file: PathBuf,
    pub policies: Vec<u32>,
}

impl AuditorConf {
    pub fn from_conf(c: &DaemonConf) -> Result<Self, DaemonError> {
        let swift_dir = c.path_or("swift_dir", "/etc/swift");
        let mut conf = AuditorConf {
            devices: c.path_or("devices", "/srv/node"),
            mount_check: c.bool_or("mount_check", true),
            files_per_second: c.parse_or("files_per_second", 20.0)?,
            bytes_per_second: c.parse_or("bytes_per_second", 10_000_000.0)?,
            zero_byte_fps: c.parse_or("zero_byte_files_per_second", 50.0)?,
            log_time: c.parse_or("log_time", 3600.0)?,
            interval: c.secs_or("interval", 30.0)?,
            recon_file: c.recon_cache_path().join(cache::OBJECT_FILE),
            policies: Vec::new(),
        };
        conf.policies = load_swift_conf(&swift_dir)
            .map_err(|e| DaemonError::Conf(e.to_string()))?
            .policies;
        Ok(conf)
    }
}

/// What auditing one object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fine, deleted, or nothing there.
    Pass,
    /// Moved to `quarantined/`; the reason.
    Quarantined(String),
}

/// `ALL` (full) or `ZBF` (zero-byte fast pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    All,
    Zbf,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::All => "ALL",
            Kind::Zbf => "ZBF",
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Why an object fails: `None` if it passes. `bytes` paces and counts reads.
fn check_object(dir: &Path, full: bool, bytes: &mut dyn FnMut(usize)) -> Option<String> {
    let files = match list_files(dir) {
        Ok(f) => f,
        Err(e) => return Some(format!("unlistable: {e}")),
    };
    let Some(ts) = select(&files).data else {
        return None; // tombstone or nothing
    };
    let path = dir.join(format!("{}{}", ts.internal(), FileKind::Data.ext()));
    let mut f = File::open(&path).ok()?;
    let meta = match metadata::read(&f, &path) {
        Ok(m) => m,
        Err(e) => return Some(format!("Metadata failed validation: {e}")),
    };
    let on_disk = f.metadata().map(|m| m.len()).unwrap_or(0);
    let Some(length) = meta
        .get("Content-Length")
        .and_then(|l| l.parse::<u64>().ok())
    else {
        return Some("Metadata failed validation: bad Content-Length".into());
    };
    if length != on_disk {
        return Some(format!(
            "metadata content-length {length} does not match actual object size {on_disk}"
        ));
    }
    if !full || length == 0 {
        return None;
    }
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                bytes(n);
                md5.update(&buf[..n]);
            }
            Err(e) => return Some(format!("read error: {e}")),
        }
    }
    let got = hex(&md5.finalize());
    let etag = meta
        .get("ETag")
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    (got != etag).then(|| format!("ETag {etag} and file's md5 {got} do not match"))
}

/// Every `(device path, object hash dir, policy)` to audit.
fn locations(conf: &AuditorConf, only: Option<&[String]>) -> Vec<(PathBuf, PathBuf, u32)> {
    let mut out = Vec::new();
    for dev in walk::covered(walk::subdirs(&conf.devices), only, conf.mount_check) {
        for &policy in &conf.policies {
            for part in walk::subdirs(&dev.join(policy_dir("objects", policy))) {
                for sfx in walk::subdirs(&part) {
                    for hash in walk::subdirs(&sfx) {
                        out.push((dev.clone(), hash, policy));
                    }
                }
            }
        }
    }
    out
}

/// Counters since the last recon report.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    passes: u64,
    quarantined: u64,
    errors: u64,
    bytes: u64,
}

fn stats_entry(kind: Kind, only: Option<&[String]>, item: Value) -> Map<String, Value> {
    let key = format!("object_auditor_stats_{}", kind.name());
    let value = match only {
        Some(devs) if !devs.is_empty() => {
            let mut d = devs.to_vec();
            d.sort();
            json!({ d.concat(): item })
        }
        _ => item,
    };
    let mut m = Map::new();
    m.insert(key, value);
    m
}

/// One scanner's pass over every object; returns the totals.
pub fn audit_pass(conf: &AuditorConf, kind: Kind, fps: f64, only: Option<&[String]>) -> (u64, u64) {
    tracing::info!("Begin object audit ({})", kind.name());
    let begin = Instant::now();
    let mut files = RateLimiter::new(fps);
    let mut bytes_rl = RateLimiter::new(conf.bytes_per_second);
    let (mut c, mut reported, mut last_logged) = (Counts::default(), now(), 0.0);
    let (mut total_q, mut total_files, mut audit_time) = (0, 0, 0.0);
    for (dev, dir, policy) in locations(conf, only) {
        let loop_start = now();
        let mut read = 0u64;
        let verdict = check_object(&dir, kind == Kind::All, &mut |n| {
            bytes_rl.wait(n as f64);
            read += n as u64;
        });
        c.bytes += read;
        if let Some(reason) = verdict {
            match quarantine_dir(&dev, &dir, policy) {
                Ok(to) => {
                    c.quarantined += 1;
                    tracing::error!(
                        "ERROR Object {} failed audit and was quarantined: {reason} ({})",
                        dir.display(),
                        to.display()
                    );
                }
                Err(e) => {
                    c.errors += 1;
                    tracing::error!("ERROR Trying to audit {}: {e}", dir.display());
                }
            }
        }
        c.passes += 1;
        files.wait(1.0);
        total_files += 1;
        let t = now();
        if t - last_logged >= conf.log_time {
            let item = json!({"errors": c.errors, "passes": c.passes,
                "quarantined": c.quarantined, "bytes_processed": c.bytes,
                "start_time": reported, "audit_time": audit_time});
            cache::dump_or_log(&conf.recon_file, &stats_entry(kind, only, item));
            total_q += c.quarantined;
            c = Counts::default();
            reported = t;
            last_logged = t;
        }
        audit_time += t - loop_start;
    }
    let total_q = total_q + c.quarantined;
    tracing::info!(
        "Object audit ({}) completed: {:.2}s. Total quarantined: {total_q}, files: {total_files}",
        kind.name(),
        begin.elapsed().as_secs_f64()
    );
    (total_files, total_q)
}

/// One `run_once` / daemon-loop iteration: clear the stats, then run the
/// ZBF and ALL scanners (or only ZBF with `-z`) side by side.
pub fn audit_loop(conf: &AuditorConf, args: &DaemonArgs) -> Result<(), DaemonError> {
    for kind in [Kind::All, Kind::Zbf] {
        cache::dump(
            &conf.recon_file,
            &stats_entry(kind, None, json!({})),
            cache::DEFAULT_LOCK_TIMEOUT,
            None,
        )?;
    }
    let only = args.devices.as_deref();
    if let Some(fps) = args.zero_byte_fps {
        audit_pass(conf, Kind::Zbf, fps, only);
        return Ok(());
    }
    std::thread::scope(|s| {
        if conf.zero_byte_fps > 0.0 {
            s.spawn(|| audit_pass(conf, Kind::Zbf, conf.zero_byte_fps, only));
        }
        audit_pass(conf, Kind::All, conf.files_per_second, only);
    });
    Ok(())
}

/// `swift-object-auditor CONFIG [-o] [-v] [-z FPS] [-d DEVS]`.
pub fn main() -> u8 {
    run(&std::env::args().skip(1).collect::<Vec<_>>())
}

/// The binary with explicit arguments (after the program name).
pub fn run(argv: &[String]) -> u8 {
    runner::main_with("swift-object-auditor", "object-auditor", argv, |args, c| {
        let conf = AuditorConf::from_conf(c)?;
        runner::run(args.once, conf.interval, || audit_loop(&conf, args))
    })
}
