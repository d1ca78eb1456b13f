//! The disk's own ceiling for small object PUTs: `durable_put DIR [SECONDS]
//! [THREADS] [SIZE]` runs, on THREADS threads at once (10), for SECONDS (5),
//! the durable sequence an object server follows for each new object, with
//! no HTTP (only the object's path and its body are hashed, for its
//! directory and its ETag): create a temp file in `DIR/tmp`, write SIZE bytes (4096), set the
//! `user.swift.metadata` xattr (the pickle the object server stores for
//! such a PUT), fsync it, rename it into `DIR/objects/0/<sfx>/<hash>/`
//! (creating the directories), then fsync the hash directory and the parent
//! of every directory created, as Swift's `renamer` does. Prints objects
//! per second (used by scripts/bench-object-server).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferroswift::storage::hashpath::hex;
use ferroswift::storage::metadata::{self, Metadata};
use ferroswift::storage::Timestamp;
use md5::{Digest, Md5};

/// Creates `dir`'s missing ancestors and `dir`, returning how many were made.
fn mkdirs_count(dir: &Path) -> std::io::Result<usize> {
    if dir.is_dir() {
        return Ok(0);
    }
    let above = match dir.parent() {
        Some(p) => mkdirs_count(p)?,
        None => 0,
    };
    match fs::create_dir(dir) {
        Ok(()) => Ok(above + 1),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(above),
        Err(e) => Err(e),
    }
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// One object PUT's disk work, durable when it returns.
fn put_one(root: &Path, n: u64, body: &[u8]) -> Result<(), String> {
    let name = format!("/a/c/o-{n}");
    let hash = hex(&Md5::digest(name.as_bytes()));
    let ts = Timestamp::now().internal();
    let mut meta = Metadata::new();
    meta.insert("name".into(), name);
    meta.insert("X-Timestamp".into(), ts.clone());
    meta.insert("Content-Type".into(), "application/octet-stream".into());
    meta.insert("ETag".into(), hex(&Md5::digest(body)));
    meta.insert("Content-Length".into(), body.len().to_string());
    let tmp = root.join("tmp").join(format!("tmp{n:016x}"));
    let mut f = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(body).map_err(|e| e.to_string())?;
    metadata::write(&f, &tmp, &meta).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    let dir: PathBuf = root.join("objects/0").join(&hash[29..]).join(&hash);
    let created = mkdirs_count(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    fs::rename(&tmp, dir.join(format!("{ts}.data"))).map_err(|e| e.to_string())?;
    let mut at = dir.as_path();
    for _ in 0..=created {
        fsync_dir(at).map_err(|e| format!("{}: {e}", at.display()))?;
        at = at.parent().unwrap_or(at);
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.first().map(PathBuf::from) else {
        eprintln!("usage: durable_put DIR [SECONDS] [THREADS] [SIZE]");
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
    if let Err(e) = fs::create_dir_all(root.join("tmp")) {
        eprintln!("durable_put: cannot create {}: {e}", root.display());
        std::process::exit(2);
    }
    let body: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i * 31 % 251) as u8).collect());
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (root, body, next) = (root.clone(), body.clone(), next.clone());
            std::thread::spawn(move || -> Result<u64, String> {
                let mut done = 0;
                while Instant::now() < deadline {
                    put_one(&root, next.fetch_add(1, Ordering::Relaxed), &body)?;
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
