//! How object files get their names on disk: written unnamed (`O_TMPFILE`)
//! in the object's directory and linked into place, as Swift does where
//! the filesystem allows it, or written in `<dev>/tmp` and renamed (the
//! fallback). Both ways must leave the same files, in Swift's layout.

use std::fs;
use std::path::{Path, PathBuf};

use ferroswift::ring::hash::HashPathConf;
use ferroswift::storage::device::Devices;
use ferroswift::storage::diskfile::DiskStore;
use ferroswift::storage::metadata::{self, Metadata};
use ferroswift::storage::{ObjectKey, ObjectState, ObjectStore, Timestamp};

fn salt() -> HashPathConf {
    HashPathConf::new("", "linkat")
}

/// A store over a fresh device `sda1`, writing with linkat or not.
fn disk(linkat: bool) -> (tempfile::TempDir, DiskStore) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sda1")).unwrap();
    metadata::check_xattr_support(dir.path()).expect(
        "storage tests need a filesystem with user xattrs (ext4, xfs, tmpfs with user_xattr)",
    );
    let store = DiskStore::new(Devices::new(dir.path()), salt());
    store.set_linkat(linkat);
    (dir, store)
}

fn key(obj: &str) -> ObjectKey {
    ObjectKey::new("sda1", "3", "AUTH_t", "c", obj, 0).unwrap()
}

fn object_dir(root: &Path, obj: &str) -> PathBuf {
    let hash = salt()
        .hash_path_hex("AUTH_t", Some("c"), Some(obj))
        .unwrap();
    root.join(format!("sda1/objects/3/{}/{hash}", &hash[29..]))
}

fn meta(k: &ObjectKey, ts: Timestamp, body: &[u8]) -> Metadata {
    let mut m = Metadata::new();
    m.insert("name".into(), k.name());
    m.insert("X-Timestamp".into(), ts.internal());
    m.insert("Content-Type".into(), "text/plain".into());
    m.insert("Content-Length".into(), body.len().to_string());
    m
}

/// A PUT's storage calls: `create_if` (accepting any state), body, commit.
fn put(store: &DiskStore, k: &ObjectKey, body: &[u8], ts: Timestamp) {
    let mut w = store
        .create_if(k, Some(body.len() as u64), &mut |_| true)
        .unwrap()
        .expect("accepted");
    w.write_chunk(body).unwrap();
    let mut m = meta(k, ts, body);
    m.insert("ETag".into(), w.etag());
    w.commit(m, ts).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

#[test]
fn the_filesystem_under_test_can_link_unnamed_files() {
    let (dir, store) = disk(true);
    put(&store, &key("probe"), b"x", ts("1700000001"));
    assert!(
        store.uses_linkat(),
        "the test directory's filesystem has no O_TMPFILE, so the linkat path went untested"
    );
    drop(dir);
}

#[test]
fn both_ways_write_the_same_object_in_swifts_layout() {
    for linkat in [true, false] {
        let (dir, store) = disk(linkat);
        let k = key("same");
        put(&store, &k, b"hello linkat", ts("1700000001.12345"));
        assert_eq!(store.uses_linkat(), linkat);
        let odir = object_dir(dir.path(), "same");
        assert_eq!(names(&odir), ["1700000001.12345.data"], "linkat={linkat}");
        let data = odir.join("1700000001.12345.data");
        assert_eq!(fs::read(&data).unwrap(), b"hello linkat");
        let f = fs::File::open(&data).unwrap();
        let m = metadata::read(&f, &data).unwrap();
        assert_eq!(m["name"], "/AUTH_t/c/same");
        let md5: String = <md5::Md5 as md5::Digest>::digest(b"hello linkat")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(m["ETag"], md5);
        assert_eq!(m["Content-Length"], "12");
        assert!(xattr::get(&data, "user.swift.metadata_checksum")
            .unwrap()
            .is_some());
        // The suffix is marked for the replicator either way.
        let inv = dir.path().join("sda1/objects/3/hashes.invalid");
        let sfx = odir
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(fs::read_to_string(inv).unwrap(), format!("{sfx}\n"));
        // Only the fallback stages files in tmp/, and leaves none there.
        let tmp = dir.path().join("sda1/tmp");
        assert_eq!(tmp.exists(), !linkat, "linkat={linkat}");
        assert!(names(&tmp).is_empty());
        let ObjectState::Present(info) = store.state(&k).unwrap() else {
            panic!("object missing (linkat={linkat})");
        };
        assert_eq!(info.content_length, 12);
    }
}

#[test]
fn a_put_over_a_data_file_of_the_same_timestamp_replaces_it() {
    for linkat in [true, false] {
        let (dir, store) = disk(linkat);
        let k = key("twice");
        let t = ts("1700000005");
        put(&store, &k, b"first", t);
        // As a replicator resending the object, through create().
        let mut w = store.create(&k, Some(6)).unwrap();
        w.write_chunk(b"second").unwrap();
        w.commit(meta(&k, t, b"second"), t).unwrap();
        let odir = object_dir(dir.path(), "twice");
        assert_eq!(names(&odir), ["1700000005.00000.data"], "linkat={linkat}");
        assert_eq!(
            fs::read(odir.join("1700000005.00000.data")).unwrap(),
            b"second"
        );
    }
}

#[test]
fn a_hash_directory_removed_before_the_commit_is_made_again() {
    for linkat in [true, false] {
        let (dir, store) = disk(linkat);
        let k = key("vanishing");
        let mut w = store.create(&k, Some(4)).unwrap();
        w.write_chunk(b"body").unwrap();
        // The replicator removes an object directory it finds empty.
        let odir = object_dir(dir.path(), "vanishing");
        assert!(odir.is_dir());
        fs::remove_dir(&odir).unwrap();
        let t = ts("1700000007");
        w.commit(meta(&k, t, b"body"), t).unwrap();
        assert_eq!(names(&odir), ["1700000007.00000.data"], "linkat={linkat}");
        assert_eq!(
            fs::read(odir.join("1700000007.00000.data")).unwrap(),
            b"body"
        );
    }
}

#[test]
fn new_objects_make_their_directories_and_newer_writes_clean_older_files() {
    for linkat in [true, false] {
        let (dir, store) = disk(linkat);
        let k = key("layers");
        // No partition yet: partition, suffix and hash directories are made.
        put(&store, &k, b"v1", ts("1700000001"));
        let odir = object_dir(dir.path(), "layers");
        assert_eq!(names(&odir), ["1700000001.00000.data"]);
        let t2 = ts("1700000002");
        let mut m = Metadata::new();
        m.insert("name".into(), k.name());
        m.insert("X-Timestamp".into(), t2.internal());
        store.post(&k, t2, m).unwrap();
        put(&store, &k, b"v3", ts("1700000003"));
        assert_eq!(names(&odir), ["1700000003.00000.data"], "linkat={linkat}");
        store.delete(&k, ts("1700000004")).unwrap();
        assert_eq!(names(&odir), ["1700000004.00000.ts"], "linkat={linkat}");
        assert_eq!(
            store.state(&k).unwrap(),
            ObjectState::Deleted(ts("1700000004"))
        );
    }
}

#[test]
fn create_if_sees_the_state_and_a_refusal_writes_nothing() {
    let (dir, store) = disk(true);
    let k = key("judged");
    put(&store, &k, b"old", ts("1700000009"));
    let mut seen = None;
    let refused = store
        .create_if(&k, Some(3), &mut |s| {
            seen = Some(s.clone());
            false
        })
        .unwrap();
    assert!(refused.is_none());
    let Some(ObjectState::Present(info)) = seen else {
        panic!("the state of an existing object was not passed: {seen:?}");
    };
    assert_eq!(info.data_timestamp, ts("1700000009"));
    assert_eq!(
        names(&object_dir(dir.path(), "judged")),
        ["1700000009.00000.data"]
    );
    // A missing object is seen as missing, and an unusable device is an error.
    let mut seen = None;
    let w = store
        .create_if(&key("fresh"), None, &mut |s| {
            seen = Some(s.clone());
            true
        })
        .unwrap();
    assert!(w.is_some());
    assert_eq!(seen, Some(ObjectState::Missing));
    let bad = ObjectKey::new("sdz", "3", "AUTH_t", "c", "o", 0).unwrap();
    assert!(store.create_if(&bad, None, &mut |_| true).is_err());
    assert!(
        !dir.path().join("sdz").exists(),
        "no device directory is made"
    );
}

/// Blocks (of 512 bytes) of the one file staged in the device's `tmp/`.
fn staged_blocks(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let tmp = root.join("sda1/tmp");
    let files = names(&tmp);
    assert_eq!(files.len(), 1, "one staged file in {}", tmp.display());
    fs::metadata(tmp.join(&files[0])).unwrap().blocks()
}

#[test]
fn a_write_of_known_length_reserves_its_blocks_unless_fallocate_is_disabled() {
    const LEN: usize = 1 << 20;
    for fallocate in [true, false] {
        let (dir, mut store) = disk(false);
        store.fallocate = fallocate;
        let k = key("big");
        let mut w = store
            .create_if(&k, Some(LEN as u64), &mut |_| true)
            .unwrap()
            .expect("accepted");
        // Before any byte is written, the staged file holds the whole
        // length when preallocated (Swift's fallocate, size kept at 0),
        // and nothing with `disable_fallocate`.
        let blocks = staged_blocks(dir.path());
        if fallocate {
            assert!(blocks * 512 >= LEN as u64, "{blocks} blocks reserved");
        } else {
            assert_eq!(blocks, 0, "nothing reserved with fallocate disabled");
        }
        // The object stored is the same either way.
        let body = vec![7u8; LEN];
        w.write_chunk(&body).unwrap();
        let t = ts("1700000000.00000");
        let mut m = meta(&k, t, &body);
        m.insert("ETag".into(), w.etag());
        w.commit(m, t).unwrap();
        let data = object_dir(dir.path(), "big").join("1700000000.00000.data");
        assert_eq!(fs::read(&data).unwrap(), body);
    }
}
