//! `RingHandle`: a ring file replaced on disk is picked up on the next
//! check; a broken replacement keeps the old ring in service.

mod common;

use std::time::{Duration, SystemTime};

use ferroswift::conf::ring_handle::RingHandle;

fn touch(path: &std::path::Path, secs_ahead: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(secs_ahead))
        .unwrap();
}

#[test]
fn reloads_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object.ring.gz");
    std::fs::copy(common::reference("S1/object.ring.gz"), &path).unwrap();
    let handle = RingHandle::open(&path).unwrap();
    let before = handle.ring();
    assert_eq!(before.partition_count(), 1024);
    assert!(!handle.reload_if_changed().unwrap());

    std::fs::copy(common::reference("S6/object.ring.gz"), &path).unwrap();
    touch(&path, 10);
    assert!(handle.reload_if_changed().unwrap());
    assert_eq!(handle.ring().partition_count(), 1 << 14);
    // Holders of the old ring keep a consistent view.
    assert_eq!(before.partition_count(), 1024);

    std::fs::write(&path, b"not a ring").unwrap();
    touch(&path, 20);
    assert!(handle.reload_if_changed().is_err());
    assert_eq!(handle.ring().partition_count(), 1 << 14);
}

#[test]
fn one_ring_serves_many_threads() {
    let handle = RingHandle::open(common::reference("S1/object.ring.gz")).unwrap();
    let ring = handle.ring();
    let expected: Vec<u32> = ring.get_more_nodes(628).map(|n| n.device.id).collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let got: Vec<u32> = ring.get_more_nodes(628).map(|n| n.device.id).collect();
                assert_eq!(got, expected);
            });
        }
    });
    assert_eq!(expected, [5, 2, 6, 0, 4]);
}
