//! Suffix hashes for replication, cached as Swift caches them.
//!
//! A suffix hash is the MD5 over, for each object directory in the suffix
//! (sorted), the timestamps and extensions of the files that count (`.meta`,
//! `.ts`, then `.data`). `<part>/hashes.pkl` keeps them as a pickled dict
//! (`None` for a suffix to recompute, plus `valid` and `updated`); every write
//! to a suffix appends its name to `<part>/hashes.invalid`, and the next
//! reader folds those lines into `hashes.pkl`. Both files are only touched
//! under an `flock` of `<part>/.lock`, so Swift's tools and ours agree.
//! Hashing a suffix also cleans it: obsolete files, tombstones older than
//! `reclaim_age` and empty directories go.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::atomic::write_file_atomic;
use super::diskfile::list_files;
use super::hashpath::{hex, policy_dir};
use super::objstore::select;
use super::pickle::Pickle;
use super::{Result, StorageError, Timestamp};

pub const HASH_FILE: &str = "hashes.pkl";
pub const HASH_INVALIDATIONS_FILE: &str = "hashes.invalid";
/// Swift's default `reclaim_age`: tombstones older than a week are removed.
pub const DEFAULT_RECLAIM_AGE: f64 = 604_800.0;

/// An exclusive `flock` on `<dir>/.lock`, released when the file closes on drop.
pub struct DirLock(#[allow(dead_code)] File);

/// Locks a directory as Swift's `lock_path` does.
pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    let path = dir.join(".lock");
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        return Err(StorageError::io(&path, io::Error::last_os_error()));
    }
    Ok(DirLock(f))
}

/// The lock replication holds on a partition (Swift's `name='replication'`).
pub const REPLICATION_LOCK: &str = "replication";

/// Swift's `lock_path(dir, timeout, name=NAME)`: an exclusive `flock` on
/// `<dir>/.lock-<name>` (creating `dir`), retried after 1, 2, 4, 8, then
/// every 10 ms until `timeout`; `None` when it stayed busy that long.
pub fn lock_dir_named(
    dir: &Path,
    name: &str,
    timeout: std::time::Duration,
) -> Result<Option<DirLock>> {
    lock_within(dir, &format!(".lock-{name}"), timeout)
}

/// Swift's `lock_path(dir, timeout)` (and so `lock_parent_directory`): an
/// exclusive `flock` on `<dir>/.lock`, retried as [`lock_dir_named`]
/// retries until `timeout`; `None` when it stayed busy that long.
pub fn lock_dir_timeout(dir: &Path, timeout: std::time::Duration) -> Result<Option<DirLock>> {
    lock_within(dir, ".lock", timeout)
}

fn lock_within(dir: &Path, file: &str, timeout: std::time::Duration) -> Result<Option<DirLock>> {
    let path = dir.join(file);
    let open = || OpenOptions::new().create(true).append(true).open(&path);
    // The directory nearly always exists: create it only when the open
    // says it is missing.
    let f = match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
            open()
        }
        other => other,
    }
    .map_err(|e| StorageError::io(&path, e))?;
    let deadline = std::time::Instant::now() + timeout;
    // Holders keep the lock for an append or a merge (a millisecond to
    // tens of them): the first retries come soon, then every 10 ms as
    // Swift polls, so a short hold does not cost a waiter a whole 10 ms.
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(DirLock(f)));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(StorageError::io(&path, err));
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(std::time::Duration::from_millis(10));
    }
}

/// The contents of `hashes.pkl`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HashCache {
    pub valid: bool,
    pub updated: Option<f64>,
    /// Suffix → hash, `None` when it must be recomputed.
    pub suffixes: BTreeMap<String, Option<String>>,
}

impl HashCache {
    /// The known hashes, without the ones awaiting recomputation.
    pub fn known(&self) -> BTreeMap<String, String> {
        self.suffixes
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect()
    }
}

/// Three lower-case hex digits.
pub fn valid_suffix(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads `hashes.pkl`; missing, unreadable or odd files read as invalid.
pub fn read_hashes(part_dir: &Path) -> HashCache {
    let invalid = HashCache::default();
    let Ok(data) = fs::read(part_dir.join(HASH_FILE)) else {
        return invalid;
    };
    let Ok(Pickle::Dict(items)) = Pickle::loads(&data) else {
        return invalid;
    };
    let mut out = HashCache {
        valid: true,
        updated: None,
        suffixes: BTreeMap::new(),
    };
    for (k, v) in items {
        let Some(k) = k.as_text() else {
            return invalid;
        };
        match (k.as_str(), v) {
            ("valid", Pickle::Bool(b)) => out.valid = b,
            ("valid", _) => out.valid = false,
            ("updated", Pickle::Float(f)) => out.updated = Some(f),
            ("updated", Pickle::Int(i)) => out.updated = Some(i as f64),
            ("updated", _) => {}
            (s, v) if valid_suffix(s) => {
                out.suffixes.insert(s.to_string(), v.as_text());
            }
            _ => return invalid,
        }
    }
    out
}

/// Writes `hashes.pkl`, stamping `updated`.
fn write_hashes(part_dir: &Path, tmp_dir: &Path, hashes: &mut HashCache) -> Result<()> {
    hashes.updated = Some(Timestamp::now().as_f64());
    let mut items: Vec<(Pickle, Pickle)> = hashes
        .suffixes
        .iter()
        .map(|(k, v)| {
            let v = v.clone().map_or(Pickle::None, Pickle::Str);
            (Pickle::Str(k.clone()), v)
        })
        .collect();
    items.push((Pickle::Str("valid".into()), Pickle::Bool(hashes.valid)));
    items.push((
        Pickle::Str("updated".into()),
        Pickle::Float(hashes.updated.unwrap_or(0.0)),
    ));
    write_file_atomic(
        &part_dir.join(HASH_FILE),
        &Pickle::Dict(items).dumps(),
        tmp_dir,
    )
}

/// Folds `hashes.invalid` into `hashes.pkl` and empties it.
pub fn consolidate_hashes(part_dir: &Path, tmp_dir: &Path) -> Result<HashCache> {
    let _lock = lock_dir(part_dir)?;
    let mut hashes = read_hashes(part_dir);
    let inv = part_dir.join(HASH_INVALIDATIONS_FILE);
    let text = match fs::read_to_string(&inv) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(hashes),
        Err(e) => return Err(StorageError::io(&inv, e)),
    };
    let mut updated = false;
    for line in text.lines() {
        let sfx = line.trim();
        if valid_suffix(sfx) {
            hashes.suffixes.insert(sfx.to_string(), None);
            updated = true;
        }
    }
    if updated {
        write_hashes(part_dir, tmp_dir, &mut hashes)?;
    }
    if !text.is_empty() {
        File::create(&inv).map_err(|e| StorageError::io(&inv, e))?;
    }
    Ok(hashes)
}

/// Marks a suffix for rehashing (appends it to `hashes.invalid` under the
/// partition's lock, as Swift does). Nothing happens when the partition
/// directory is gone. Every object write does this: it costs opening the
/// lock and the file, the lock and one write.
pub fn invalidate_hash(suffix_dir: &Path) -> Result<()> {
    let (Some(part_dir), Some(sfx)) = (suffix_dir.parent(), suffix_dir.file_name()) else {
        return Ok(());
    };
    let _lock = match lock_dir(part_dir) {
        Err(StorageError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(());
        }
        other => other?,
    };
    let inv = part_dir.join(HASH_INVALIDATIONS_FILE);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&inv)
        .map_err(|e| StorageError::io(&inv, e))?;
    let mut line = sfx.to_string_lossy().into_owned();
    line.push('\n');
    f.write_all(line.as_bytes())
        .map_err(|e| StorageError::io(&inv, e))
}

/// Hashes one suffix directory after cleaning it; `None` once it is gone.
pub fn hash_suffix(suffix_dir: &Path, reclaim_age: f64) -> Result<Option<String>> {
    let mut names: Vec<_> = match fs::read_dir(suffix_dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
        Err(e) => return Err(StorageError::io(suffix_dir, e)),
    };
    names.sort();
    let reclaim_before = Timestamp::now().as_f64() - reclaim_age;
    let mut md5 = Md5::new();
    for name in names {
        let dir = suffix_dir.join(&name);
        let sel = select(&list_files(&dir)?);
        for (t, k) in &sel.obsolete {
            let _ = fs::remove_file(dir.join(format!("{}{}", t.internal(), k.ext())));
        }
        let mut tombstone = sel.tombstone;
        if let Some(t) = tombstone.filter(|t| t.as_f64() < reclaim_before) {
            let _ = fs::remove_file(dir.join(format!("{}.ts", t.internal())));
            tombstone = None;
        }
        if sel.data.is_none() && tombstone.is_none() {
            // Empty (or only junk left): drop the directory if it is empty.
            let _ = fs::remove_dir(&dir);
            continue;
        }
        for (t, ext) in [(sel.meta, ".meta"), (tombstone, ".ts"), (sel.data, ".data")] {
            if let Some(t) = t {
                md5.update(t.internal().as_bytes());
                md5.update(ext.as_bytes());
            }
        }
    }
    if fs::remove_dir(suffix_dir).is_ok() {
        return Ok(None);
    }
    Ok(Some(hex(&md5.finalize())))
}

/// `<dev>/objects[-N]/<part>`.
pub fn partition_dir(dev: &Path, policy: u32, partition: &str) -> PathBuf {
    dev.join(policy_dir("objects", policy)).join(partition)
}

/// Swift's `_get_hashes`: the partition's suffix hashes from the cache,
/// recomputing invalidated suffixes and those in `recalculate`, and listing
/// the directory when the cache is invalid or `do_listdir`. Returns how many
/// suffixes were hashed, and the hashes.
pub fn get_hashes(
    dev: &Path,
    partition: &str,
    policy: u32,
    recalculate: &[String],
    do_listdir: bool,
    reclaim_age: f64,
) -> Result<(usize, BTreeMap<String, String>)> {
    let part_dir = partition_dir(dev, policy, partition);
    if !part_dir.is_dir() {
        return Ok((0, BTreeMap::new()));
    }
    let tmp_dir = dev.join(policy_dir("tmp", policy));
    let mut hashed = 0;
    // Another writer may change hashes.pkl while we hash; retry then.
    for _ in 0..16 {
        let mut orig = consolidate_hashes(&part_dir, &tmp_dir).unwrap_or_default();
        let rebuilt = !orig.valid;
        let listdir = do_listdir || rebuilt;
        let mut hashes = if !rebuilt {
            orig.clone()
        } else {
            orig = read_hashes(&part_dir);
            HashCache {
                valid: true,
                ..HashCache::default()
            }
        };
        // A rebuilt cache is written even when empty; a listing that finds
        // no new suffix changes nothing, so it costs no write (and no fsync).
        let mut modified = rebuilt;
        if listdir {
            let rd = fs::read_dir(&part_dir).map_err(|e| StorageError::io(&part_dir, e))?;
            for e in rd.flatten() {
                if let Some(name) = e.file_name().to_str() {
                    if name.len() == 3 && !hashes.suffixes.contains_key(name) {
                        hashes.suffixes.insert(name.to_string(), None);
                        modified = true;
                    }
                }
            }
        }
        for sfx in recalculate {
            hashes.suffixes.insert(sfx.clone(), None);
        }
        let stale: Vec<String> = hashes
            .suffixes
            .iter()
            .filter(|(_, h)| h.is_none())
            .map(|(s, _)| s.clone())
            .collect();
        for sfx in stale {
            modified = true;
            match hash_suffix(&part_dir.join(&sfx), reclaim_age) {
                Ok(Some(h)) => {
                    hashes.suffixes.insert(sfx, Some(h));
                    hashed += 1;
                }
                Ok(None) => {
                    hashes.suffixes.remove(&sfx);
                }
                Err(e) => tracing::error!("Error hashing suffix {sfx}: {e}"),
            }
        }
        if !modified {
            return Ok((hashed, hashes.known()));
        }
        let _lock = lock_dir(&part_dir)?;
        if read_hashes(&part_dir) == orig {
            write_hashes(&part_dir, &tmp_dir, &mut hashes)?;
            return Ok((hashed, hashes.known()));
        }
    }
    Err(StorageError::Io {
        path: part_dir,
        source: io::Error::other("hashes.pkl kept changing while hashing"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"").unwrap();
    }

    #[test]
    fn cache_follows_invalidations() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path();
        let part = partition_dir(dev, 0, "5");
        let obj = part.join("abc/00000000000000000000000000000abc");
        let t0 = Timestamp::from_secs(Timestamp::now().secs() - 100);
        let t1 = Timestamp::from_secs(t0.secs() + 1);
        touch(&obj.join(format!("{}.data", t0.internal())));
        let (n, h1) = get_hashes(dev, "5", 0, &[], false, DEFAULT_RECLAIM_AGE).unwrap();
        assert_eq!(n, 1);
        assert_eq!(h1.len(), 1);
        assert!(read_hashes(&part).valid);
        // Cached: a new file alone does not change the answer...
        touch(&obj.join(format!("{}.ts", t1.internal())));
        let (n, h2) = get_hashes(dev, "5", 0, &[], false, DEFAULT_RECLAIM_AGE).unwrap();
        assert_eq!((n, &h2), (0, &h1));
        // ...until the suffix is invalidated; the old .data is cleaned up.
        invalidate_hash(&part.join("abc")).unwrap();
        let (n, h3) = get_hashes(dev, "5", 0, &[], false, DEFAULT_RECLAIM_AGE).unwrap();
        assert_eq!(n, 1);
        assert_ne!(h3, h1);
        assert!(!obj.join(format!("{}.data", t0.internal())).exists());
        assert_eq!(fs::read(part.join(HASH_INVALIDATIONS_FILE)).unwrap(), b"");
        // An old tombstone is reclaimed and the empty suffix disappears.
        let (_, h4) = get_hashes(dev, "5", 0, &["abc".into()], false, 10.0).unwrap();
        assert!(!obj.exists());
        assert!(h4.is_empty());
        assert!(!part.join("abc").exists());
    }

    #[test]
    fn a_listing_rewrites_the_cache_only_when_it_finds_a_new_suffix() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path();
        let part = partition_dir(dev, 0, "3");
        touch(&part.join("abc/00000000000000000000000000000abc/1700000000.00000.data"));
        get_hashes(dev, "3", 0, &[], false, DEFAULT_RECLAIM_AGE).unwrap();
        let written = read_hashes(&part).updated;
        assert!(written.is_some());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (n, h) = get_hashes(dev, "3", 0, &[], true, DEFAULT_RECLAIM_AGE).unwrap();
        assert_eq!((n, h.len()), (0, 1));
        assert_eq!(read_hashes(&part).updated, written, "nothing new: no write");
        // A suffix the cache does not know yet is found, hashed and saved.
        touch(&part.join("def/00000000000000000000000000000def/1700000000.00000.data"));
        let (n, h) = get_hashes(dev, "3", 0, &[], true, DEFAULT_RECLAIM_AGE).unwrap();
        assert_eq!((n, h.len()), (1, 2));
        assert_ne!(read_hashes(&part).updated, written);
        assert_eq!(read_hashes(&part).known(), h);
    }

    #[test]
    fn a_named_lock_waits_then_gives_up() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("objects/7");
        let short = std::time::Duration::from_millis(50);
        let held = lock_dir_named(&dir, REPLICATION_LOCK, short).unwrap();
        assert!(held.is_some() && dir.join(".lock-replication").exists());
        let begin = std::time::Instant::now();
        assert!(lock_dir_named(&dir, REPLICATION_LOCK, short)
            .unwrap()
            .is_none());
        assert!(begin.elapsed() >= short);
        // Another name is another lock; released, the first one is free again.
        assert!(lock_dir_named(&dir, "other", short).unwrap().is_some());
        drop(held);
        assert!(lock_dir_named(&dir, REPLICATION_LOCK, short)
            .unwrap()
            .is_some());
        // A lock released while another waits goes to the waiter.
        let held = lock_dir_named(&dir, REPLICATION_LOCK, short).unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            drop(held);
        });
        let long = std::time::Duration::from_secs(20);
        assert!(lock_dir_named(&dir, REPLICATION_LOCK, long)
            .unwrap()
            .is_some());
        release.join().unwrap();
    }

    #[test]
    fn unreadable_cache_is_rebuilt_by_listing() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path();
        let part = partition_dir(dev, 1, "9");
        touch(&part.join("fff/0000000000000000000000000000afff/1700000000.00000.data"));
        fs::write(part.join(HASH_FILE), b"garbage").unwrap();
        let (n, h) = get_hashes(dev, "9", 1, &[], false, DEFAULT_RECLAIM_AGE).unwrap();
        assert_eq!(
            (n, h.keys().cloned().collect::<Vec<_>>()),
            (1, vec!["fff".into()])
        );
        let mut md5 = Md5::new();
        md5.update(b"1700000000.00000.data");
        assert_eq!(h["fff"], hex(&md5.finalize()));
    }
}
