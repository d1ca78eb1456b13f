//! The opt-in decoded-ring cache: a second load of an unchanged ring is
//! served from the cache with the same lookups; a changed ring (even one of
//! the same size), a damaged entry or an unwritable cache directory fall
//! back to decoding the file, never to a wrong ring.

mod common;

use std::fs;
use std::path::Path;

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
        let cache = dir.path().join("cache");
        let want = fingerprint(&uncached(&ring));

        let (first, used) = load_lookup_ring_cached(&ring, Some(&cache)).unwrap();
        assert_eq!(used, CacheUse::Stored, "{rel}");
        assert_eq!(fingerprint(&first), want, "{rel}");
        assert_eq!(fs::read_dir(&cache).unwrap().count(), 1, "{rel}");

        let (second, used) = load_lookup_ring_cached(&ring, Some(&cache)).unwrap();
        assert_eq!(used, CacheUse::Hit, "{rel}");
        assert_eq!(fingerprint(&second), want, "{rel}");
        assert_eq!(second.version(), first.version());
        assert_eq!(second.dev_id_bytes(), first.dev_id_bytes());
    }
}

#[test]
fn a_changed_ring_is_never_served_from_a_stale_entry() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("object.ring.gz");
    let cache = dir.path().join("cache");
    let s1 = fs::read(common::reference_dir().join("S1/object.ring.gz")).unwrap();
    fs::write(&ring, &s1).unwrap();
    let mtime = fs::metadata(&ring).unwrap().modified().unwrap();
    load_lookup_ring_cached(&ring, Some(&cache)).unwrap();

    // A different ring at the same path.
    fs::copy(common::reference_dir().join("S2/object.ring.gz"), &ring).unwrap();
    let (got, used) = load_lookup_ring_cached(&ring, Some(&cache)).unwrap();
    assert_eq!(used, CacheUse::Stored);
    assert_eq!(fingerprint(&got), fingerprint(&uncached(&ring)));

    // Same size and mtime as the cached bytes, other bytes (the gzip
    // header's own mtime field): only the checksum tells them apart.
    fs::write(&ring, &s1).unwrap();
    fs::File::options()
        .write(true)
        .open(&ring)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(
        load_lookup_ring_cached(&ring, Some(&cache)).unwrap().1,
        CacheUse::Stored
    );
    let mut other = s1.clone();
    other[4] ^= 0x55;
    fs::write(&ring, &other).unwrap();
    fs::File::options()
        .write(true)
        .open(&ring)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (got, used) = load_lookup_ring_cached(&ring, Some(&cache)).unwrap();
    assert_eq!(used, CacheUse::Stored);
    assert_eq!(fingerprint(&got), fingerprint(&uncached(&ring)));
}

#[test]
fn damaged_entry_or_unwritable_directory_fall_back_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("object.ring.gz");
    fs::copy(common::reference_dir().join("S1/object.ring.gz"), &ring).unwrap();
    let want = fingerprint(&uncached(&ring));
    let cache = dir.path().join("cache");
    load_lookup_ring_cached(&ring, Some(&cache)).unwrap();

    let entry = fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&entry, &bytes).unwrap();
    let (got, used) = load_lookup_ring_cached(&ring, Some(&cache)).unwrap();
    assert_eq!(used, CacheUse::Stored);
    assert_eq!(fingerprint(&got), want);
    assert_eq!(
        load_lookup_ring_cached(&ring, Some(&cache)).unwrap().1,
        CacheUse::Hit,
        "the damaged entry was rewritten"
    );

    // A cache "directory" under a regular file cannot be created.
    let blocked = dir.path().join("object.ring.gz").join("cache");
    let (got, used) = load_lookup_ring_cached(&ring, Some(&blocked)).unwrap();
    assert_eq!(used, CacheUse::StoreFailed);
    assert_eq!(fingerprint(&got), want);
}
