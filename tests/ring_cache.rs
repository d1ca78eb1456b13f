//! The decoded-ring cache (on by default): a second load of an unchanged
//! ring is served from the cache with the same lookups; a changed ring
//! (even one of the same size), a damaged entry or an unwritable cache
//! directory fall back to decoding the file, never to a wrong ring or a
//! failed load; one entry per ring path, pruned when its ring is gone;
//! small rings are left out; the directory comes from the environment.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use ferroswift::conf::ring_cache::{RingCache, CACHE_DIR_ENV, MIN_RING_SIZE};
use ferroswift::conf::ring_file::{load_lookup_ring_cached, CacheUse};
use ferroswift::ring::Ring;

/// Every partition's primaries and the device list, to compare two rings.
fn fingerprint(ring: &Ring) -> (Vec<Vec<u32>>, Vec<Option<String>>) {
    let parts = (0..ring.partition_count() as u32)
        .map(|p| ring.get_part_nodes(p).iter().map(|n| n.device.id).collect())
        .collect();
    let devs = ring
        .devices()
        .iter()
        .map(|d| d.as_ref().map(|d| format!("{d:?}")))
        .collect();
    (parts, devs)
}

fn uncached(path: &Path) -> Ring {
    let (ring, used) = load_lookup_ring_cached(path, None).unwrap();
    assert_eq!(used, CacheUse::Off);
    ring
}

/// A cache in `dir` that takes rings of any size (the reference rings
/// used here are small).
fn any_size(dir: &Path) -> RingCache {
    RingCache::at(dir).with_min_ring_size(0)
}

fn load(ring: &Path, cache: &RingCache) -> (Ring, CacheUse) {
    load_lookup_ring_cached(ring, Some(cache)).unwrap()
}

/// The files in `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Replaces the ring at `path` with `bytes`, keeping the old mtime.
fn rewrite_keeping_mtime(path: &Path, bytes: &[u8]) {
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    fs::write(path, bytes).unwrap();
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(mtime).unwrap();
}

#[test]
fn unchanged_ring_is_served_from_the_cache_in_both_formats() {
    for rel in [
        "S1/object.ring.gz",
        "S1/v2/object.ring.gz",
        "S6/v2/object.ring.gz",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ring = dir.path().join("object.ring.gz");
        fs::copy(common::reference_dir().join(rel), &ring).unwrap();
        let cache = any_size(&dir.path().join("cache"));
        let want = fingerprint(&uncached(&ring));

        let (first, used) = load(&ring, &cache);
        assert_eq!(used, CacheUse::Stored, "{rel}");
        assert_eq!(fingerprint(&first), want, "{rel}");
        assert_eq!(files(cache.dir()), [cache.entry(&ring).path()], "{rel}");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(cache.dir()), 0o700, "{rel}");
        assert_eq!(mode(cache.entry(&ring).path()), 0o600, "{rel}");

        let (second, used) = load(&ring, &cache);
        assert_eq!(used, CacheUse::Hit, "{rel}");
        assert_eq!(fingerprint(&second), want, "{rel}");
        assert_eq!(second.version(), first.version());
        assert_eq!(second.dev_id_bytes(), first.dev_id_bytes());
    }
}

#[test]
fn small_rings_are_loaded_without_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = RingCache::at(dir.path().join("cache"));
    let small = common::reference("S1/object.ring.gz");
    assert!(fs::metadata(&small).unwrap().len() < MIN_RING_SIZE);
    let (ring, used) = load(&small, &cache);
    assert_eq!(used, CacheUse::Small);
    assert_eq!(fingerprint(&ring), fingerprint(&uncached(&small)));
    assert!(!cache.dir().exists(), "nothing stored for a small ring");
}

#[test]
fn a_changed_ring_replaces_its_entry_and_is_never_served_a_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("object.ring.gz");
    let cache = any_size(&dir.path().join("cache"));
    let s1 = fs::read(common::reference("S1/object.ring.gz")).unwrap();
    fs::write(&ring, &s1).unwrap();
    load(&ring, &cache);

    // A different ring at the same path (a rebalance): its entry replaces
    // the old one.
    fs::copy(common::reference("S2/object.ring.gz"), &ring).unwrap();
    let (got, used) = load(&ring, &cache);
    assert_eq!(used, CacheUse::Stored);
    assert_eq!(fingerprint(&got), fingerprint(&uncached(&ring)));
    assert_eq!(files(cache.dir()), [cache.entry(&ring).path()]);
    assert_eq!(load(&ring, &cache).1, CacheUse::Hit);

    // Back to S1 within the same mtime as the entry's ring: the size
    // differs. Then other bytes of the very same size and mtime (as a ring
    // rewritten within one mtime tick): only the checksum tells them apart.
    rewrite_keeping_mtime(&ring, &s1);
    assert_eq!(load(&ring, &cache).1, CacheUse::Stored);
    let mut other = s1.clone();
    other[4] ^= 0x55; // the gzip header's own mtime field
    rewrite_keeping_mtime(&ring, &other);
    let (got, used) = load(&ring, &cache);
    assert_eq!(used, CacheUse::Stored);
    assert_eq!(fingerprint(&got), fingerprint(&uncached(&ring)));
    assert_eq!(files(cache.dir()), [cache.entry(&ring).path()]);
}

#[test]
fn entries_of_rings_that_are_gone_are_pruned_on_the_next_store() {
    let dir = tempfile::tempdir().unwrap();
    let cache = any_size(&dir.path().join("cache"));
    let ring_in = |name: &str| {
        let sub = dir.path().join(name);
        fs::create_dir_all(&sub).unwrap();
        let ring = sub.join("object.ring.gz");
        fs::copy(common::reference("S1/object.ring.gz"), &ring).unwrap();
        ring
    };
    let (old, kept, new) = (ring_in("old"), ring_in("kept"), ring_in("new"));
    load(&old, &cache);
    load(&kept, &cache);
    assert_eq!(files(cache.dir()).len(), 2, "one entry per ring path");
    fs::remove_dir_all(dir.path().join("old")).unwrap();
    assert_eq!(load(&kept, &cache).1, CacheUse::Hit, "hits prune nothing");
    assert_eq!(files(cache.dir()).len(), 2);

    assert_eq!(load(&new, &cache).1, CacheUse::Stored);
    let mut want = vec![
        cache.entry(&kept).path().to_path_buf(),
        cache.entry(&new).path().to_path_buf(),
    ];
    want.sort();
    assert_eq!(files(cache.dir()), want);
}

#[test]
fn a_damaged_entry_is_ignored_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("object.ring.gz");
    fs::copy(common::reference("S1/object.ring.gz"), &ring).unwrap();
    let want = fingerprint(&uncached(&ring));
    let cache = any_size(&dir.path().join("cache"));
    load(&ring, &cache);

    let entry = cache.entry(&ring).path().to_path_buf();
    let good = fs::read(&entry).unwrap();
    let mut bytes = good.clone();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&entry, &bytes).unwrap();
    let (got, used) = load(&ring, &cache);
    assert_eq!(used, CacheUse::Stored);
    assert_eq!(fingerprint(&got), want);
    assert_eq!(
        fs::read(&entry).unwrap(),
        good,
        "the damaged entry was rewritten"
    );
    assert_eq!(load(&ring, &cache).1, CacheUse::Hit);

    // Cut short (a crash before the data reached the disk) or emptied.
    for len in [good.len() - 1, 0] {
        fs::write(&entry, &good[..len]).unwrap();
        let (got, used) = load(&ring, &cache);
        assert_eq!((used, fingerprint(&got) == want), (CacheUse::Stored, true));
    }
}

#[test]
fn an_unwritable_cache_directory_does_not_fail_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("object.ring.gz");
    fs::copy(common::reference("S1/object.ring.gz"), &ring).unwrap();
    let want = fingerprint(&uncached(&ring));

    // A cache "directory" under a regular file cannot be created; one that
    // is a regular file cannot hold entries.
    for blocked in [ring.join("cache"), ring.clone()] {
        let (got, used) = load(&ring, &any_size(&blocked));
        assert_eq!(used, CacheUse::StoreFailed, "{}", blocked.display());
        assert_eq!(fingerprint(&got), want);
    }
    // An entry path taken by a directory cannot be replaced.
    let cache = any_size(&dir.path().join("cache"));
    fs::create_dir_all(cache.entry(&ring).path().join("x")).unwrap();
    let (got, used) = load(&ring, &cache);
    assert_eq!(used, CacheUse::StoreFailed);
    assert_eq!(fingerprint(&got), want);
}

#[test]
fn concurrent_first_loads_store_one_whole_entry() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("object.ring.gz");
    fs::copy(common::reference("S2/v2/object.ring.gz"), &ring).unwrap();
    let want = fingerprint(&uncached(&ring));
    let cache = any_size(&dir.path().join("cache"));
    let loaded: Vec<(Ring, CacheUse)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| load(&ring, &cache))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (got, used) in &loaded {
        assert!(matches!(used, CacheUse::Stored | CacheUse::Hit), "{used:?}");
        assert_eq!(fingerprint(got), want);
    }
    assert_eq!(files(cache.dir()), [cache.entry(&ring).path()]);
    assert_eq!(load(&ring, &cache).1, CacheUse::Hit);
}

/// Environment variables for a command.
type Env<'a> = &'a [(&'a str, &'a Path)];

/// `swift-get-nodes` on `ring` with only `env` set; returns its standard
/// output.
fn get_nodes(ring: &Path, env: Env) -> Vec<u8> {
    let mut get_nodes = Command::new(common::bin("swift-get-nodes"));
    get_nodes
        .env_clear()
        .envs(env.iter().copied())
        .arg("-d")
        .arg(common::reference_dir())
        .arg(ring)
        .args(["AUTH_test", "c", "o"]);
    common::succeed(&mut get_nodes).stdout
}

#[test]
fn tools_cache_large_rings_where_the_environment_says() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("object.ring.gz");
    fs::copy(common::reference("S3/object.ring.gz"), &ring).unwrap();
    let home = dir.path().join("home");
    let xdg = dir.path().join("xdg");
    let explicit = dir.path().join("explicit");
    let off = Path::new("off");
    let empty = Path::new("");
    let expected = get_nodes(&ring, &[(CACHE_DIR_ENV, off)]);

    let home_cache = home.join(".cache/ferroswift/rings");
    let xdg_cache = xdg.join("ferroswift/rings");
    let missing_home = home.join("nonexistent");
    let (home, xdg, explicit) = (home.as_path(), xdg.as_path(), explicit.as_path());
    let missing_home = missing_home.as_path();
    let cases: [(Env, Option<&Path>); 7] = [
        (&[("HOME", home)], Some(home_cache.as_path())),
        (
            &[("HOME", home), ("XDG_CACHE_HOME", xdg)],
            Some(xdg_cache.as_path()),
        ),
        (&[("HOME", home), (CACHE_DIR_ENV, explicit)], Some(explicit)),
        (&[("HOME", home), (CACHE_DIR_ENV, off)], None),
        (&[("HOME", home), (CACHE_DIR_ENV, empty)], None),
        (&[], None),
        (&[("HOME", missing_home)], None),
    ];
    for (env, cache_dir) in cases {
        for dir in [home, xdg, explicit] {
            let _ = fs::remove_dir_all(dir);
        }
        fs::create_dir(home).unwrap();
        // The first load stores (when there is a cache), the second reads
        // the entry (left as it was: replacing it would change its inode).
        let written = || -> Vec<(PathBuf, u64)> {
            let files = [home, xdg, explicit].into_iter().flat_map(walk);
            files
                .map(|f| (f.clone(), fs::metadata(&f).unwrap().ino()))
                .collect()
        };
        assert_eq!(get_nodes(&ring, env), expected, "{env:?}");
        let first = written();
        assert_eq!(get_nodes(&ring, env), expected, "{env:?}");
        assert_eq!(written(), first, "{env:?}");
        let written: Vec<PathBuf> = first.into_iter().map(|(f, _)| f).collect();
        match cache_dir {
            Some(cache_dir) => {
                let want = RingCache::at(cache_dir).entry(&ring).path().to_path_buf();
                assert_eq!(written, [want], "{env:?}: one entry, nothing else");
            }
            None => assert!(written.is_empty(), "{env:?}: wrote {written:?}"),
        }
        assert!(!missing_home.exists(), "{env:?}");
    }

    // A small ring leaves the cache alone.
    let small = dir.path().join("small.ring.gz");
    fs::copy(common::reference("S1/object.ring.gz"), &small).unwrap();
    let _ = fs::remove_dir_all(home);
    fs::create_dir(home).unwrap();
    get_nodes(&small, &[("HOME", home)]);
    assert!(walk(home).is_empty());
}

/// Every regular file under `dir` (none when it does not exist).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(list) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in list {
        let path = item.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
