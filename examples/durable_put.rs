//! The disk's own ceiling for small object PUTs: `durable_put DIR [SECONDS]
//! [THREADS] [SIZE] [linkat|rename]` runs, on THREADS threads at once (10),
//! for SECONDS (5), the object server's disk work for each new object of
//! SIZE bytes (4096), with no HTTP: the same storage calls a PUT makes
//! (device check, object directory made, file opened, body written,
//! metadata xattrs, fsync, the suffix marked in `hashes.invalid`, the file
//! named, the object directory and the parent of each directory made
//! synced). `linkat` (the default, what the server does where the
//! filesystem allows it, as Swift does) writes the file unnamed with
//! `O_TMPFILE` in its object directory and links it; `rename` writes it in
//! `DIR/sda1/tmp` and renames it (the fallback, and what earlier versions
//! did). Prints objects per second (used by scripts/bench-object-server).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferroswift::ring::hash::HashPathConf;
use ferroswift::storage::device::Devices;
use ferroswift::storage::diskfile::DiskStore;
use ferroswift::storage::hashpath::hex;
use ferroswift::storage::metadata::Metadata;
use ferroswift::storage::{ObjectKey, ObjectStore, Timestamp};
use md5::{Digest, Md5};

/// One object PUT's disk work, durable when it returns.
fn put_one(store: &DiskStore, n: u64, body: &[u8]) -> Result<(), String> {
    let key =
        ObjectKey::new("sda1", "0", "a", "c", &format!("o-{n}"), 0).map_err(|e| e.to_string())?;
    let ts = Timestamp::now();
    let mut meta = Metadata::new();
    meta.insert("name".into(), key.name());
    meta.insert("X-Timestamp".into(), ts.internal());
    meta.insert("Content-Type".into(), "application/octet-stream".into());
    meta.insert("ETag".into(), hex(&Md5::digest(body)));
    meta.insert("Content-Length".into(), body.len().to_string());
    let mut w = store
        .create_if(&key, Some(body.len() as u64), &mut |_| true)
        .map_err(|e| e.to_string())?
        .ok_or("refused")?;
    w.write_chunk(body).map_err(|e| e.to_string())?;
    w.commit(meta, ts).map_err(|e| e.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.first().map(PathBuf::from) else {
        eprintln!("usage: durable_put DIR [SECONDS] [THREADS] [SIZE] [linkat|rename]");
        std::process::exit(2);
    };
    let num = |i: usize, default: u64| match args.get(i) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("durable_put: not a number: {v}");
            std::process::exit(2);
        }),
    };
    let (secs, threads, size) = (num(1, 5), num(2, 10).max(1), num(3, 4096));
    let store = DiskStore::new(Devices::new(&root), HashPathConf::new("", "bench"));
    match args.get(4).map(String::as_str) {
        None | Some("linkat") => {}
        Some("rename") => store.set_linkat(false),
        Some(v) => {
            eprintln!("durable_put: not linkat or rename: {v}");
            std::process::exit(2);
        }
    }
    if let Err(e) = std::fs::create_dir_all(root.join("sda1")) {
        eprintln!("durable_put: cannot create {}: {e}", root.display());
        std::process::exit(2);
    }
    let body: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i * 31 % 251) as u8).collect());
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (store, body, next) = (store.clone(), body.clone(), next.clone());
            std::thread::spawn(move || -> Result<u64, String> {
                let mut done = 0;
                while Instant::now() < deadline {
                    put_one(&store, next.fetch_add(1, Ordering::Relaxed), &body)?;
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        match w.join() {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => {
                eprintln!("durable_put: {e}");
                std::process::exit(2);
            }
            Err(_) => std::process::exit(2),
        }
    }
    println!("{:.0}", total as f64 / start.elapsed().as_secs_f64());
}
