//! `swift-recon-cron`: counts async pendings on every device and records
//! `async_pending` / `async_pending_last` in `object.recon`, as Swift's does.
//!
//! Settings come from `[filter:recon]` (over `[DEFAULT]`) of the object
//! server's config: `devices`, `recon_cache_path`, `recon_lock_path`. The
//! run holds a lock in `<recon_lock_path>/swift-recon-object-cron` so two
//! runs never overlap.

use std::fs::OpenOptions;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::conf::DaemonConf;
use super::DaemonError;
use crate::recon::cache;

/// Async pendings under `<devices>/<dev>/async_pending[-N]/<suffix>/`.
pub fn async_count(devices: &Path) -> u64 {
    let mut count = 0;
    for dev in read_dir_paths(devices).filter(|p| p.is_dir()) {
        for adir in read_dir_paths(&dev) {
            let name = adir.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if !(name == "async_pending" || name.starts_with("async_pending-")) || !adir.is_dir() {
                continue;
            }
            for sfx in read_dir_paths(&adir).filter(|p| p.is_dir()) {
                count += std::fs::read_dir(&sfx)
                    .map(|d| d.count() as u64)
                    .unwrap_or(0);
            }
        }
    }
    count
}

/// Entries of a directory as paths; an unreadable directory lists nothing
/// (Swift's tolerant `listdir`).
fn read_dir_paths(dir: &Path) -> impl Iterator<Item = std::path::PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
}

/// Holds an exclusive lock on `<dir>/.lock` until dropped.
struct DirLock(#[allow(dead_code)] std::fs::File);

fn lock_dir(dir: &Path, timeout: Duration) -> Result<DirLock, DaemonError> {
    std::fs::create_dir_all(dir)?;
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(".lock"))?;
    let deadline = Instant::now() + timeout;
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(DirLock(f));
        }
        if Instant::now() >= deadline {
            return Err(DaemonError::Other(format!(
                "{:.1} seconds: {}",
                timeout.as_secs_f64(),
                dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One run: returns the count written.
pub fn run(conf: &DaemonConf) -> Result<u64, DaemonError> {
    let devices = conf.path_or("devices", "/srv/node");
    let cache_file = conf.recon_cache_path().join(cache::OBJECT_FILE);
    let lock = conf
        .path_or("recon_lock_path", "/var/lock")
        .join("swift-recon-object-cron");
    let _held = lock_dir(&lock, Duration::from_secs(10))?;
    let count = async_count(&devices);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut entries = Map::new();
    entries.insert("async_pending".into(), Value::from(count));
    entries.insert("async_pending_last".into(), Value::from(now));
    cache::dump(&cache_file, &entries, cache::DEFAULT_LOCK_TIMEOUT, None)?;
    Ok(count)
}

/// The whole binary: `swift-recon-cron CONF_FILE`. Exit 0 done, 1 the run
/// failed (as Swift), 2 usage or config errors.
pub fn main(args: &[String]) -> u8 {
    let Some(path) = args.get(1) else {
        println!("Usage: swift-recon-cron CONF_FILE");
        println!("ex: swift-recon-cron /etc/swift/object-server.conf");
        return 1;
    };
    let conf = match DaemonConf::load(Path::new(path), "filter:recon") {
        Ok(c) => c,
        Err(e) => {
            eprintln!("swift-recon-cron: {e}");
            return 2;
        }
    };
    match run(&conf) {
        Ok(_) => 0,
        Err(e) => {
            println!("Exception during recon-cron while accessing devices: {e}");
            1
        }
    }
}
