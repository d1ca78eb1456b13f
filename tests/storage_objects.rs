//! One object-store suite, run over the disk backend (real temp dir, real
//! xattrs) and the in-memory double; plus disk-only layout checks.

use std::io::Read;
use std::sync::Arc;

use ferroswift::ring::hash::HashPathConf;
use ferroswift::storage::device::Devices;
use ferroswift::storage::diskfile::DiskStore;
use ferroswift::storage::mem::MemStore;
use ferroswift::storage::metadata::{self, Metadata};
use ferroswift::storage::objstore::AsyncUpdate;
use ferroswift::storage::{ObjectKey, ObjectState, ObjectStore, Timestamp};

fn salt() -> HashPathConf {
    HashPathConf::new("", "testsuffix")
}

fn disk() -> (tempfile::TempDir, DiskStore) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sda1")).unwrap();
    metadata::check_xattr_support(dir.path()).expect(
        "storage tests need a filesystem with user xattrs (ext4, xfs, tmpfs with user_xattr)",
    );
    let store = DiskStore::new(Devices::new(dir.path()), salt());
    (dir, store)
}

fn key(obj: &str) -> ObjectKey {
    ObjectKey::new("sda1", "7", "AUTH_a", "c", obj, 0).unwrap()
}

fn put(store: &dyn ObjectStore, k: &ObjectKey, body: &[u8], ts: Timestamp) -> String {
    let mut w = store.create(k, Some(body.len() as u64)).unwrap();
    for chunk in body.chunks(1000) {
        w.write_chunk(chunk).unwrap();
    }
    let etag = w.etag();
    let mut m = Metadata::new();
    m.insert("name".into(), k.name());
    m.insert("X-Timestamp".into(), ts.internal());
    m.insert("Content-Type".into(), "text/plain".into());
    m.insert("ETag".into(), etag.clone());
    m.insert("Content-Length".into(), body.len().to_string());
    m.insert("X-Object-Meta-Color".into(), "blue".into());
    w.commit(m, ts).unwrap();
    etag
}

fn read_all(store: &dyn ObjectStore, k: &ObjectKey) -> Vec<u8> {
    let (_, mut r) = store.open(k).unwrap().expect("object present");
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

fn suite(store: Arc<dyn ObjectStore>) {
    let s = store.as_ref();
    let k = key("o1");
    assert_eq!(s.state(&k).unwrap(), ObjectState::Missing);
    let t1 = Timestamp::parse("1700000001.00000").unwrap();
    let etag = put(s, &k, b"hello world", t1);
    assert_eq!(etag, "5eb63bbbe01eeed093cb22bb8f5acdc3");
    assert_eq!(read_all(s, &k), b"hello world");
    let ObjectState::Present(info) = s.state(&k).unwrap() else {
        panic!("missing")
    };
    assert_eq!(
        (info.content_length, info.etag.as_str(), info.timestamp),
        (11, etag.as_str(), t1)
    );
    assert_eq!(info.metadata["X-Object-Meta-Color"], "blue");

    // A POST replaces user metadata but keeps the system metadata.
    let t2 = Timestamp::parse("1700000002.00000").unwrap();
    let mut m = Metadata::new();
    m.insert("name".into(), k.name());
    m.insert("X-Timestamp".into(), t2.internal());
    m.insert("X-Object-Meta-Shape".into(), "round".into());
    s.post(&k, t2, m).unwrap();
    let ObjectState::Present(info) = s.state(&k).unwrap() else {
        panic!("missing")
    };
    assert_eq!((info.timestamp, info.data_timestamp), (t2, t1));
    assert!(!info.metadata.contains_key("X-Object-Meta-Color"));
    assert_eq!(info.metadata["X-Object-Meta-Shape"], "round");
    assert_eq!(info.metadata["Content-Type"], "text/plain");

    // Newer data wins and drops the older meta.
    let t3 = Timestamp::parse("1700000003.00000").unwrap();
    put(s, &k, &vec![7u8; 200_000], t3);
    assert_eq!(read_all(s, &k).len(), 200_000);
    let ObjectState::Present(info) = s.state(&k).unwrap() else {
        panic!("missing")
    };
    assert_eq!(info.timestamp, t3);

    let before = s.suffix_hashes("sda1", "7", 0).unwrap();
    assert_eq!(before.len(), 1);
    // Recent, so the disk backend does not reclaim the tombstone as over a week old.
    let t4 = Timestamp::now();
    s.delete(&k, t4).unwrap();
    assert_eq!(s.state(&k).unwrap(), ObjectState::Deleted(t4));
    assert!(s.open(&k).unwrap().is_none());
    let after = s.suffix_hashes("sda1", "7", 0).unwrap();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert_ne!(after, before);

    // Policies are separate namespaces.
    let k1 = ObjectKey {
        policy: 1,
        ..key("o1")
    };
    assert_eq!(s.state(&k1).unwrap(), ObjectState::Missing);
    put(s, &k1, b"p1", t1);
    assert_eq!(read_all(s, &k1), b"p1");

    let upd = AsyncUpdate {
        op: "PUT".into(),
        account: "AUTH_a".into(),
        container: "c".into(),
        obj: "o1".into(),
        headers: vec![("X-Size".into(), "2".into())],
        timestamp: t1,
    };
    s.save_async_update(&k, &upd).unwrap();
    s.check_device("sda1", true).unwrap();
}

#[test]
fn disk_backend_suite() {
    let (_dir, store) = disk();
    suite(Arc::new(store));
}

#[test]
fn memory_backend_suite() {
    suite(Arc::new(MemStore::new()));
}

#[test]
fn disk_layout_matches_swift() {
    let (dir, store) = disk();
    let k = key("layout");
    let t = Timestamp::parse("1700000001.12345").unwrap();
    put(&store, &k, b"x", t);
    let hash = salt()
        .hash_path_hex("AUTH_a", Some("c"), Some("layout"))
        .unwrap();
    let data = dir.path().join(format!(
        "sda1/objects/7/{}/{hash}/1700000001.12345.data",
        &hash[29..]
    ));
    assert!(data.is_file(), "missing {}", data.display());
    let f = std::fs::File::open(&data).unwrap();
    let meta = metadata::read(&f, &data).unwrap();
    assert_eq!(meta["name"], "/AUTH_a/c/layout");
    assert!(xattr::get(&data, "user.swift.metadata_checksum")
        .unwrap()
        .is_some());
    // Tombstone replaces the data file.
    store
        .delete(&k, Timestamp::parse("1700000002").unwrap())
        .unwrap();
    let names: Vec<_> = std::fs::read_dir(data.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["1700000002.00000.ts"]);
    // Async pendings go where the updater looks.
    let upd = AsyncUpdate {
        op: "DELETE".into(),
        account: "AUTH_a".into(),
        container: "c".into(),
        obj: "layout".into(),
        headers: vec![],
        timestamp: t,
    };
    store.save_async_update(&k, &upd).unwrap();
    assert!(dir
        .path()
        .join(format!(
            "sda1/async_pending/{}/{hash}-1700000001.12345",
            &hash[29..]
        ))
        .is_file());
    assert!(
        dir.path().join("sda1/objects/7/hashes.pkl").exists()
            || store.suffix_hashes("sda1", "7", 0).is_ok()
    );
}

#[test]
fn corrupt_body_is_quarantined_on_read() {
    let (dir, store) = disk();
    let k = key("rot");
    put(
        &store,
        &k,
        b"good data",
        Timestamp::parse("1700000001").unwrap(),
    );
    let hash = salt()
        .hash_path_hex("AUTH_a", Some("c"), Some("rot"))
        .unwrap();
    let data = dir.path().join(format!(
        "sda1/objects/7/{}/{hash}/1700000001.00000.data",
        &hash[29..]
    ));
    // Same length, different bytes: only the MD5 can tell.
    let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, b"evil", 0).unwrap();
    let (_, mut r) = store.open(&k).unwrap().unwrap();
    let mut v = Vec::new();
    assert!(r.read_to_end(&mut v).is_err());
    assert!(dir
        .path()
        .join(format!("sda1/quarantined/objects/{hash}"))
        .is_dir());
    assert!(store.open(&k).unwrap().is_none());
}

#[test]
fn unavailable_devices() {
    let (dir, mut store) = disk();
    assert!(store.check_device("sdz", false).is_err());
    store.devices.mount_check = true;
    assert!(
        store.check_device("sda1", false).is_err(),
        "a plain directory is not a mount point"
    );
    store.devices.mount_check = false;
    store.devices.reserve = ferroswift::storage::device::Reserve::Percent(100.0);
    assert!(store.check_device("sda1", true).is_err());
    assert!(store.check_device("sda1", false).is_ok());
    drop(dir);
}

#[test]
fn large_bodies_are_hashed_and_verified_beside_the_copy() {
    use md5::{Digest, Md5};
    let (dir, store) = disk();
    let k = key("big");
    let body: Vec<u8> = (0..9u32 << 20).map(|i| (i % 251) as u8).collect();
    let ts = Timestamp::parse("1700000001").unwrap();
    let mut w = store.create(&k, Some(body.len() as u64)).unwrap();
    for chunk in body.chunks(1 << 20) {
        w.write_bytes(bytes::Bytes::copy_from_slice(chunk)).unwrap();
    }
    let etag = w.etag();
    let want: String = Md5::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(etag, want);
    let mut m = Metadata::new();
    m.insert("name".into(), k.name());
    m.insert("X-Timestamp".into(), ts.internal());
    m.insert("Content-Type".into(), "a/b".into());
    m.insert("ETag".into(), etag);
    m.insert("Content-Length".into(), body.len().to_string());
    w.commit(m, ts).unwrap();
    assert!(read_all(&store, &k) == body);

    // The last byte flipped: the full read fails and the object is quarantined.
    let hash = salt()
        .hash_path_hex("AUTH_a", Some("c"), Some("big"))
        .unwrap();
    let data = dir.path().join(format!(
        "sda1/objects/7/{}/{hash}/1700000001.00000.data",
        &hash[29..]
    ));
    let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    let last = body.len() as u64 - 1;
    std::os::unix::fs::FileExt::write_at(&f, &[body[body.len() - 1] ^ 1], last).unwrap();
    let (_, mut r) = store.open(&k).unwrap().unwrap();
    let mut v = Vec::new();
    assert!(r.read_to_end(&mut v).is_err());
    assert!(store.open(&k).unwrap().is_none());
}
