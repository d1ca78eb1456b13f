//! Keeping the cache directory bounded. Each ring path has one entry,
//! replaced when the ring changes; after storing an entry, the others are
//! looked over: entries whose ring file is gone (a removed directory, an
//! old ring location), unreadable or foreign-format entries, and temporary
//! files a crashed writer left are removed, and only the newest
//! [`MAX_ENTRIES`] entries are kept. Only this user's files are touched.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::entry::{self, euid};
use crate::conf::atomic_file::temp_file_target;

/// The most entries the directory keeps (one per ring path); past it, the
/// least recently stored go. Generous: entries of rings that are gone are
/// removed anyway, so only that many distinct large rings in use at once
/// would make entries take turns.
pub const MAX_ENTRIES: usize = 64;
/// A temporary file this old belongs to no live writer.
const STALE_TEMP: Duration = Duration::from_secs(600);
/// How entry file names end.
pub(super) const ENTRY_SUFFIX: &str = ".decoded";

/// Prunes `dir` after `kept` (an entry just stored) was written.
pub fn prune(dir: &Path, kept: &Path) {
    prune_to(dir, kept, MAX_ENTRIES);
}

/// [`prune`] keeping at most `max` entries (`kept` included).
pub(super) fn prune_to(dir: &Path, kept: &Path, max: usize) {
    let Ok(list) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    let mut live: Vec<(SystemTime, PathBuf)> = Vec::new();
    for item in list.flatten() {
        let path = item.path();
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let Ok(meta) = item.metadata() else {
            continue;
        };
        if path == kept || !meta.is_file() || meta.uid() != euid() {
            continue;
        }
        let mtime = meta.modified().unwrap_or(now);
        if let Some(target) = temp_file_target(name) {
            let old = now.duration_since(mtime).is_ok_and(|age| age > STALE_TEMP);
            if target.ends_with(ENTRY_SUFFIX) && old {
                entry::remove(&path);
            }
            continue;
        }
        if !name.ends_with(ENTRY_SUFFIX) {
            continue;
        }
        match entry::ring_path(&path) {
            Some(ring) if !ring_is_gone(&ring) => live.push((mtime, path)),
            _ => entry::remove(&path),
        }
    }
    let others = max.saturating_sub(1);
    if live.len() > others {
        live.sort();
        for (_, path) in &live[..live.len() - others] {
            entry::remove(path);
        }
    }
}

/// Whether the ring file is known not to exist any more (not merely out of
/// reach right now).
fn ring_is_gone(ring: &Path) -> bool {
    matches!(fs::metadata(ring), Err(e) if e.kind() == io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::ring_cache::entry::RingIdentity;

    fn store(dir: &Path, ring: &Path, name: &str) -> PathBuf {
        fs::write(ring, name).unwrap();
        let meta = fs::metadata(ring).unwrap();
        let id = RingIdentity::of(&meta, name.as_bytes());
        let entry = dir.join(format!("{name}{ENTRY_SUFFIX}"));
        entry::write(&entry, ring, &id, b"stream").unwrap();
        entry
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn gone_rings_junk_and_old_temp_files_go_the_rest_stay() {
        let rings = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path();
        let a = store(dir, &rings.path().join("a.ring.gz"), "a");
        store(dir, &rings.path().join("b.ring.gz"), "b");
        fs::remove_file(rings.path().join("b.ring.gz")).unwrap();
        fs::write(dir.join("junk.decoded"), b"not an entry").unwrap();
        fs::write(dir.join("notes.txt"), b"not ours to judge").unwrap();
        let old = SystemTime::now() - 2 * STALE_TEMP;
        for name in [".x.decoded.1.2.tmp", ".y.decoded.1.3.tmp", ".z.txt.1.2.tmp"] {
            fs::write(dir.join(name), b"partial").unwrap();
        }
        for name in [".x.decoded.1.2.tmp", ".z.txt.1.2.tmp"] {
            let file = fs::File::options()
                .write(true)
                .open(dir.join(name))
                .unwrap();
            file.set_modified(old).unwrap();
        }
        let c = store(dir, &rings.path().join("c.ring.gz"), "c");
        prune(dir, &c);
        assert_eq!(
            names(dir),
            [
                ".y.decoded.1.3.tmp",
                ".z.txt.1.2.tmp",
                "a.decoded",
                "c.decoded",
                "notes.txt"
            ]
        );
        assert!(a.exists());
    }

    #[test]
    fn past_the_limit_the_least_recently_stored_go() {
        let rings = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path();
        let base = SystemTime::now() - Duration::from_secs(100);
        for (i, name) in ["p", "q", "r", "s"].iter().enumerate() {
            let entry = store(dir, &rings.path().join(format!("{name}.ring.gz")), name);
            let file = fs::File::options().write(true).open(&entry).unwrap();
            // Stored in the order s, p, r, q.
            let order = [1u64, 3, 2, 0][i];
            file.set_modified(base + Duration::from_secs(order))
                .unwrap();
        }
        let t = store(dir, &rings.path().join("t.ring.gz"), "t");
        prune_to(dir, &t, 3);
        assert_eq!(names(dir), ["q.decoded", "r.decoded", "t.decoded"]);
    }
}
