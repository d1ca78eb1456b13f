//! The decoded-ring cache, on by default. Loading a large `*.ring.gz` is
//! mostly inflating it; so after a load the decompressed stream is kept in
//! a cache directory, and later loads of the same, unchanged ring file
//! (by any tool, server or daemon of this user) read it back in one read,
//! skipping the inflate and the v2 section digests.
//!
//! Where: `$FERROSWIFT_RING_CACHE_DIR` when set (empty or `off`: no
//! cache), else `$XDG_CACHE_HOME/ferroswift/rings`, else
//! `$HOME/.cache/ferroswift/rings` (if that home directory exists); with
//! neither, no cache. Ring files
//! under [`MIN_RING_SIZE`] bytes gain nothing and are loaded without it.
//!
//! The cache never changes a result and never fails a load. An entry is
//! used only when made from the very same ring bytes and found intact
//! (`entry`); a missing, stale, damaged or foreign entry, or a directory
//! that cannot be written, means a normal load (noted at debug level
//! only), after which the entry is stored again. The directory is created
//! 0700 and entries 0600, each replaced by renaming a temporary file over
//! it, so two processes storing the same entry at once leave one whole
//! entry. Each ring path has one entry, named after it, replaced when the
//! ring changes; storing one also prunes the directory (`prune`).

mod entry;
mod prune;

use std::ffi::OsString;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

pub use entry::RingIdentity;
pub use prune::MAX_ENTRIES;

/// The environment variable choosing the cache directory (empty or `off`:
/// no cache).
pub const CACHE_DIR_ENV: &str = "FERROSWIFT_RING_CACHE_DIR";
/// Ring files smaller than this (compressed) are not cached: they inflate
/// in about a millisecond or less.
pub const MIN_RING_SIZE: u64 = 256 << 10;
/// The cache directory's mode when this code creates it.
const DIR_MODE: u32 = 0o700;

/// The cache directory for an environment read through `var`: see the
/// module documentation. Relative `XDG_CACHE_HOME` or `HOME` values are
/// ignored (as the XDG base directory specification asks); an explicit
/// `FERROSWIFT_RING_CACHE_DIR` is taken as given.
pub fn resolve_dir(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    resolve(var).map(|(dir, _)| dir)
}

/// [`resolve_dir`], with the home directory when the cache goes in it.
fn resolve(var: impl Fn(&str) -> Option<OsString>) -> Option<(PathBuf, Option<PathBuf>)> {
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return (!dir.is_empty() && dir != "off").then(|| (PathBuf::from(dir), None));
    }
    let absolute = |name| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = absolute("XDG_CACHE_HOME") {
        return Some((xdg.join("ferroswift/rings"), None));
    }
    let home = absolute("HOME")?;
    Some((home.join(".cache/ferroswift/rings"), Some(home)))
}

/// A decoded-ring cache directory and the smallest ring file it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingCache {
    dir: PathBuf,
    min_ring_size: u64,
}

impl RingCache {
    /// The cache in `dir` (created when first stored to), for ring files of
    /// [`MIN_RING_SIZE`] bytes or more.
    pub fn at(dir: impl Into<PathBuf>) -> RingCache {
        RingCache {
            dir: dir.into(),
            min_ring_size: MIN_RING_SIZE,
        }
    }

    /// The cache this process's environment chooses, if any. None under a
    /// home directory that does not exist (a system account's
    /// `/nonexistent`): making one is not this code's business.
    pub fn from_env() -> Option<RingCache> {
        let (dir, home) = resolve(|name| std::env::var_os(name))?;
        if home.is_some_and(|home| !home.is_dir()) {
            return None;
        }
        Some(RingCache::at(dir))
    }

    /// The same cache, taking ring files of `bytes` bytes or more.
    pub fn with_min_ring_size(mut self, bytes: u64) -> RingCache {
        self.min_ring_size = bytes;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a ring file of `size` bytes is worth caching.
    pub fn wants(&self, size: u64) -> bool {
        size >= self.min_ring_size
    }

    /// The entry for the ring file at `ring`: `<file name>.<hash>.decoded`
    /// after its canonical path (symbolic links resolved), so one ring file
    /// has one entry however it is named, and rings of the same name in
    /// different places have different entries.
    pub fn entry(&self, ring: &Path) -> Entry<'_> {
        let canonical = fs::canonicalize(ring).unwrap_or_else(|_| ring.to_path_buf());
        let digest = Md5::digest(canonical.as_os_str().as_bytes());
        let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let name = canonical
            .file_name()
            .map_or("ring".into(), |n| n.to_string_lossy());
        Entry {
            dir: &self.dir,
            path: self
                .dir
                .join(format!("{name}.{tag}{}", prune::ENTRY_SUFFIX)),
            ring: canonical,
        }
    }
}

/// One ring file's entry in a [`RingCache`].
#[derive(Debug)]
pub struct Entry<'a> {
    dir: &'a Path,
    path: PathBuf,
    ring: PathBuf,
}

impl Entry<'_> {
    /// The entry file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached stream, if this entry holds a sound one made from ring
    /// bytes of identity `id`.
    pub fn read(&self, id: &RingIdentity) -> Option<Vec<u8>> {
        entry::read(&self.path, id)
    }

    /// Stores `stream`, the checked decompressed stream of the ring file
    /// whose bytes have identity `id`, creating the directory (0700) if
    /// needed, then prunes the directory.
    pub fn store(&self, id: &RingIdentity, stream: &[u8]) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(self.dir)?;
        entry::write(&self.path, &self.ring, id, stream)?;
        prune::prune(self.dir, &self.path);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(vars: &[(&str, &str)]) -> Option<PathBuf> {
        resolve_dir(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn the_environment_chooses_the_directory() {
        let home = ("HOME", "/home/swift");
        let xdg = ("XDG_CACHE_HOME", "/var/cache/swift");
        let want = |p: &str| Some(PathBuf::from(p));
        assert_eq!(
            resolve(&[home]),
            want("/home/swift/.cache/ferroswift/rings")
        );
        assert_eq!(
            resolve(&[home, xdg]),
            want("/var/cache/swift/ferroswift/rings")
        );
        assert_eq!(resolve(&[xdg]), want("/var/cache/swift/ferroswift/rings"));
        for ignored in ["", "cache"] {
            let xdg = ("XDG_CACHE_HOME", ignored);
            assert_eq!(
                resolve(&[home, xdg]),
                want("/home/swift/.cache/ferroswift/rings")
            );
            assert_eq!(resolve(&[("HOME", ignored)]), None);
        }
        assert_eq!(resolve(&[]), None);
        let explicit = (CACHE_DIR_ENV, "/srv/ring-cache");
        assert_eq!(resolve(&[home, xdg, explicit]), want("/srv/ring-cache"));
        assert_eq!(resolve(&[(CACHE_DIR_ENV, "rc")]), want("rc"));
        for off in ["", "off"] {
            assert_eq!(resolve(&[home, xdg, (CACHE_DIR_ENV, off)]), None, "{off:?}");
        }
    }

    #[test]
    fn entries_are_named_after_the_ring_path() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        fs::write(a.join("object.ring.gz"), b"x").unwrap();
        std::os::unix::fs::symlink(a.join("object.ring.gz"), b.join("link.ring.gz")).unwrap();
        let cache = RingCache::at(dir.path().join("cache"));
        let one = cache.entry(&a.join("object.ring.gz"));
        let again = cache.entry(&dir.path().join("b/../a/object.ring.gz"));
        let other = cache.entry(&b.join("object.ring.gz"));
        assert_eq!(one.path(), again.path());
        assert_ne!(one.path(), other.path());
        let name = one.path().file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("object.ring.gz.") && name.ends_with(".decoded"));
        assert_eq!(one.path().parent(), Some(cache.dir()));
        // Through a symlink, the ring it names.
        let linked = cache.entry(&b.join("link.ring.gz"));
        assert_eq!(linked.path(), one.path());
        assert_eq!(linked.ring, one.ring);
    }

    #[test]
    fn small_rings_are_not_wanted() {
        let cache = RingCache::at("/nonexistent");
        assert!(!cache.wants(MIN_RING_SIZE - 1));
        assert!(cache.wants(MIN_RING_SIZE));
        assert!(cache.clone().with_min_ring_size(0).wants(0));
    }
}
