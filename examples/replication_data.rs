//! Data for `scripts/bench-replicator`: objects written straight to disk in
//! Swift's layout (a `.data` file with its xattr metadata on every primary),
//! without HTTP, so a 100,000-object cluster takes seconds to build.
//!
//!     replication_data gen    SWIFT_DIR DEVICES COUNT
//!     replication_data change SWIFT_DIR DEVICES COUNT DEVICE
//!     replication_data verify SWIFT_DIR DEVICES COUNT
//!
//! `gen` writes objects `0..COUNT` on their primaries. `change` alters one
//! object in a hundred on DEVICE only, as a write that reached one replica
//! would: every even one gets a newer `.data`, every odd one loses its copy
//! (as the auditor's quarantine does); both invalidate the suffix hash as
//! the object server does. `verify` counts the objects whose primaries do
//! not all hold the same newest `.data`, and exits 1 when there are any.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ferroswift::conf::ring_file::load_lookup_ring;
use ferroswift::conf::server_conf::load_swift_conf;
use ferroswift::ring::hash::HashPathConf;
use ferroswift::ring::Ring;
use ferroswift::storage::diskfile::list_files;
use ferroswift::storage::hashes::{invalidate_hash, partition_dir};
use ferroswift::storage::hashpath::hex;
use ferroswift::storage::metadata::{self, Metadata};
use ferroswift::storage::objstore::select;
use ferroswift::storage::Timestamp;
use md5::{Digest, Md5};

const ACCOUNT: &str = "AUTH_bench";

/// Where object `i` lives: its name, hash, partition and primaries' devices.
struct Placed {
    name: String,
    hash: String,
    part: u32,
    devices: Vec<String>,
}

fn place(ring: &Ring, salt: &HashPathConf, i: u64) -> Placed {
    let container = format!("c{}", i % 100);
    let object = format!("o{i}");
    let digest = salt
        .hash_path(ACCOUNT, Some(&container), Some(&object))
        .expect("plain ASCII names hash");
    let hash = hex(&digest);
    let part = ring.part_for_digest(&digest);
    let devices = ring
        .get_part_nodes(part)
        .iter()
        .map(|n| n.device.device.clone())
        .collect();
    Placed {
        name: format!("/{ACCOUNT}/{container}/{object}"),
        hash,
        part,
        devices,
    }
}

fn object_dir(devices: &Path, dev: &str, p: &Placed) -> PathBuf {
    partition_dir(&devices.join(dev), 0, &p.part.to_string())
        .join(&p.hash[29..])
        .join(&p.hash)
}

/// Writes `<ts>.data` with Swift's metadata; no fsync (scratch data).
fn write_data(dir: &Path, p: &Placed, ts: Timestamp) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let body = format!("{} at {}\n", p.name, ts.internal());
    let mut meta = Metadata::new();
    meta.insert("name".into(), p.name.clone());
    meta.insert("X-Timestamp".into(), ts.normal());
    meta.insert("Content-Type".into(), "application/octet-stream".into());
    meta.insert("Content-Length".into(), body.len().to_string());
    meta.insert("ETag".into(), hex(&Md5::digest(body.as_bytes())));
    let path = dir.join(format!("{}.data", ts.internal()));
    fs::write(&path, &body).map_err(|e| format!("{}: {e}", path.display()))?;
    let f = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    metadata::write(&f, &path, &meta).map_err(|e| e.to_string())
}

fn newest_data(dir: &Path) -> Option<Timestamp> {
    select(&list_files(dir).ok()?).data
}

fn run(args: &[String]) -> Result<u64, String> {
    let [mode, swift_dir, devices, count, rest @ ..] = args else {
        return Err(
            "usage: replication_data gen|change|verify SWIFT_DIR DEVICES COUNT [DEVICE]".into(),
        );
    };
    let swift_dir = Path::new(swift_dir);
    let devices = Path::new(devices);
    let count: u64 = count.parse().map_err(|_| format!("bad count {count:?}"))?;
    let salt = load_swift_conf(swift_dir).map_err(|e| e.to_string())?.salt;
    let ring = load_lookup_ring(swift_dir.join("object.ring.gz")).map_err(|e| e.to_string())?;
    match (mode.as_str(), rest) {
        ("gen", []) => {
            // A day ago, so every later change is newer.
            let ts = Timestamp::from_secs(Timestamp::now().secs() - 86_400);
            let ring = &ring;
            let salt = &salt;
            let workers = 2u64;
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..workers)
                    .map(|w| {
                        s.spawn(move || -> Result<(), String> {
                            for i in (w..count).step_by(workers as usize) {
                                let p = place(ring, salt, i);
                                for dev in &p.devices {
                                    write_data(&object_dir(devices, dev, &p), &p, ts)?;
                                }
                            }
                            Ok(())
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .try_for_each(|h| h.join().map_err(|_| "worker panicked".to_string())?)
            })?;
            Ok(0)
        }
        ("change", [dev]) => {
            let ts = Timestamp::now();
            let mut changed = 0;
            for i in (0..count).step_by(100) {
                let p = place(&ring, &salt, i);
                if !p.devices.contains(dev) {
                    continue;
                }
                let dir = object_dir(devices, dev, &p);
                if (i / 100) % 2 == 0 {
                    write_data(&dir, &p, ts)?;
                } else {
                    fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                }
                if let Some(sfx) = dir.parent() {
                    invalidate_hash(sfx).map_err(|e| e.to_string())?;
                }
                changed += 1;
            }
            println!("{changed}");
            Ok(0)
        }
        ("verify", []) => {
            let mut differ = 0;
            for i in 0..count {
                let p = place(&ring, &salt, i);
                let mut seen = p
                    .devices
                    .iter()
                    .map(|d| newest_data(&object_dir(devices, d, &p)));
                let first = seen.next().flatten();
                if first.is_none() || seen.any(|t| t != first) {
                    differ += 1;
                }
            }
            println!("{differ}");
            Ok(differ)
        }
        _ => Err(format!("bad arguments {args:?}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("replication_data: {e}");
            ExitCode::from(2)
        }
    }
}
