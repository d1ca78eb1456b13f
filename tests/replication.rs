//! swift-object-replicator between our own object servers: a missing
//! replica is pushed with ssync (data, metadata, tombstones), a quiet pass
//! only compares hashes, and a handoff partition moves to its primaries
//! and is removed. Recon stats carry Swift's field names.

mod repl_util;

use repl_util::*;

/// A timestamp `n` seconds after a base fixed for the whole run (recent, so
/// tombstones are not reclaimed).
fn ts(n: u64) -> String {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(|| ferroswift::storage::Timestamp::now().secs() - 100);
    ferroswift::storage::Timestamp::from_secs(base + n).internal()
}

fn primary_and_others(ring: &ferroswift::ring::Ring, path: &str) -> (u32, Vec<usize>, Vec<usize>) {
    let part = part_of(ring, path);
    let prim = primaries(ring, part);
    let others = (0..4).filter(|i| !prim.contains(i)).collect();
    (part, prim, others)
}

#[test]
fn missing_replicas_are_pushed_and_a_quiet_pass_only_compares_hashes() {
    let (nodes, ring) = cluster(4, "concurrency = 2");
    let path = "/AUTH_t/c/obj one";
    let (part, prim, _) = primary_and_others(&ring, path);
    let first = &nodes[prim[0]];
    put(
        first,
        part,
        path,
        ts(1).as_str(),
        b"hello replication",
        &[("X-Object-Meta-Color", "blue")],
    );
    // A POST adds a .meta on the first copy only.
    let (st, _) = http(
        first.port(),
        "POST",
        &first.url(part, path),
        &[
            ("X-Timestamp", ts(2).as_str()),
            ("X-Object-Meta-Color", "green"),
        ],
        b"",
    );
    assert_eq!(st, 202);
    replicate_once(first);
    for &i in &prim {
        assert_eq!(
            files(&nodes[i].dev(), part, path),
            [format!("{}.data", ts(1)), format!("{}.meta", ts(2))],
            "node {i}"
        );
        let (st, body) = http(nodes[i].port(), "GET", &nodes[i].url(part, path), &[], b"");
        assert_eq!((st, body.as_slice()), (200, &b"hello replication"[..]));
        let dir = obj_dir(&nodes[i].dev(), part, path);
        let data = read_meta(&dir.join(format!("{}.data", ts(1))));
        assert_eq!(data["X-Object-Meta-Color"], "blue");
        assert_eq!(data["Content-Type"], "application/x-test");
        assert_eq!(data["name"], path);
        let meta = read_meta(&dir.join(format!("{}.meta", ts(2))));
        assert_eq!(meta["X-Object-Meta-Color"], "green");
    }
    let stats = recon_stats(first);
    assert_eq!(stats["rsync"], 2, "{stats}");
    assert_eq!(stats["suffix_sync"], 2, "{stats}");
    assert_eq!(stats["failure"], 0, "{stats}");

    // Nothing changed: the next pass only compares hashes.
    replicate_once(first);
    let stats = recon_stats(first);
    assert_eq!(stats["rsync"], 0, "{stats}");
    assert_eq!(stats["hashmatch"], 2, "{stats}");
    assert_eq!(stats["success"], 2, "{stats}");

    // A delete on one primary reaches the others as a tombstone.
    let (st, _) = http(
        nodes[prim[2]].port(),
        "DELETE",
        &nodes[prim[2]].url(part, path),
        &[("X-Timestamp", ts(3).as_str())],
        b"",
    );
    assert_eq!(st, 204);
    replicate_once(&nodes[prim[2]]);
    for &i in &prim {
        assert_eq!(
            files(&nodes[i].dev(), part, path),
            [format!("{}.ts", ts(3))],
            "node {i}"
        );
    }
}

#[test]
fn handoff_partition_moves_to_primaries_and_is_removed() {
    let (nodes, ring) = cluster(4, "handoffs_first = true");
    let path = "/AUTH_t/c/stray";
    let (part, prim, others) = primary_and_others(&ring, path);
    let handoff = &nodes[others[0]];
    put(
        handoff,
        part,
        path,
        ts(10).as_str(),
        b"parked on a handoff",
        &[],
    );
    // One primary already has an older copy.
    put(&nodes[prim[0]], part, path, ts(5).as_str(), b"old", &[]);
    replicate_once(handoff);
    for &i in &prim {
        assert_eq!(
            files(&nodes[i].dev(), part, path),
            [format!("{}.data", ts(10))],
            "node {i}"
        );
    }
    assert!(
        !handoff
            .dev()
            .join("objects")
            .join(part.to_string())
            .exists(),
        "handoff partition should be gone"
    );
    let stats = recon_stats(handoff);
    assert_eq!(stats["remove"], 1, "{stats}");
    assert_eq!(stats["success"], 3, "{stats}");
    assert_eq!(stats["attempted"], 1, "{stats}");
}

#[test]
fn unreachable_primary_keeps_the_handoff_copy() {
    let (mut nodes, ring) = cluster(4, "conn_timeout = 0.2\nnode_timeout = 1");
    let path = "/AUTH_t/c/kept";
    let (part, prim, others) = primary_and_others(&ring, path);
    put(
        &nodes[others[0]],
        part,
        path,
        ts(20).as_str(),
        b"keep me",
        &[],
    );
    // Stop one primary's server.
    let _ = nodes[prim[1]].server.child.kill();
    let _ = nodes[prim[1]].server.child.wait();
    replicate_once(&nodes[others[0]]);
    assert_eq!(
        files(&nodes[others[0]].dev(), part, path),
        [format!("{}.data", ts(20))]
    );
    let stats = recon_stats(&nodes[others[0]]);
    assert_eq!(stats["failure"], 1, "{stats}");
    assert_eq!(stats["remove"], 0, "{stats}");
    let down = &nodes[prim[1]].device;
    assert_eq!(stats["failure_nodes"]["127.0.0.1"][down], 1, "{stats}");
}

/// Holds a partition's replication lock, as a replicator or an incoming
/// SSYNC would.
fn hold_lock(dev: &std::path::Path, part: u32) -> ferroswift::storage::hashes::DirLock {
    use ferroswift::storage::hashes::{lock_dir_named, REPLICATION_LOCK};
    let dir = dev.join("objects").join(part.to_string());
    lock_dir_named(&dir, REPLICATION_LOCK, std::time::Duration::ZERO)
        .unwrap()
        .expect("partition lock is free")
}

#[test]
fn a_handoff_partition_busy_with_replication_is_left_for_the_next_pass() {
    let (nodes, ring) = cluster(4, "");
    let path = "/AUTH_t/c/busy";
    let (part, prim, others) = primary_and_others(&ring, path);
    let handoff = &nodes[others[0]];
    put(handoff, part, path, ts(30).as_str(), b"in flight", &[]);
    let lock = hold_lock(&handoff.dev(), part);
    replicate_once(handoff);
    assert_eq!(
        files(&handoff.dev(), part, path),
        [format!("{}.data", ts(30))]
    );
    for &i in &prim {
        assert!(files(&nodes[i].dev(), part, path).is_empty(), "node {i}");
    }
    let stats = recon_stats(handoff);
    assert_eq!(
        (stats["attempted"].as_u64(), stats["remove"].as_u64()),
        (Some(1), Some(0)),
        "{stats}"
    );
    drop(lock);
    replicate_once(handoff);
    for &i in &prim {
        assert_eq!(
            files(&nodes[i].dev(), part, path),
            [format!("{}.data", ts(30))],
            "node {i}"
        );
    }
    assert!(files(&handoff.dev(), part, path).is_empty());
}

#[test]
fn an_incoming_ssync_waits_for_the_partition_lock() {
    let (nodes, ring) = cluster(4, "");
    let path = "/AUTH_t/c/waits";
    let (part, prim, others) = primary_and_others(&ring, path);
    let handoff = &nodes[others[0]];
    put(handoff, part, path, ts(40).as_str(), b"pushed later", &[]);
    let busy = nodes[prim[0]].dev();
    let lock = hold_lock(&busy, part);
    let holder = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        // Nothing was written into the partition while it was locked.
        let written = files(&busy, part, "/AUTH_t/c/waits");
        drop(lock);
        written
    });
    replicate_once(handoff);
    assert!(holder.join().unwrap().is_empty());
    for &i in &prim {
        assert_eq!(
            files(&nodes[i].dev(), part, path),
            [format!("{}.data", ts(40))],
            "node {i}"
        );
    }
    assert!(files(&handoff.dev(), part, path).is_empty());
}

#[test]
fn concurrent_pushes_into_one_partition_take_turns() {
    let (nodes, ring) = cluster(4, "");
    // Many objects in one partition, on one primary and on the handoff.
    let part = part_of(&ring, "/AUTH_t/c/same-0");
    let paths: Vec<String> = (0..200_000)
        .map(|i| format!("/AUTH_t/c/same-{i}"))
        .filter(|p| part_of(&ring, p) == part)
        .take(24)
        .collect();
    assert_eq!(paths.len(), 24);
    let (_, prim, others) = primary_and_others(&ring, &paths[0]);
    let (source, handoff) = (&nodes[prim[0]], &nodes[others[0]]);
    let body = vec![7u8; 64 * 1024];
    for (i, p) in paths.iter().enumerate() {
        put(source, part, p, ts(30 + i as u64).as_str(), &body, &[]);
        put(handoff, part, p, ts(30 + i as u64).as_str(), &body, &[]);
    }
    // Both push the same objects into the two empty primaries at once.
    std::thread::scope(|s| {
        let a = s.spawn(|| replicate_once(source));
        let b = s.spawn(|| replicate_once(handoff));
        a.join().unwrap();
        b.join().unwrap();
    });
    for &i in &prim {
        for (n, p) in paths.iter().enumerate() {
            assert_eq!(
                files(&nodes[i].dev(), part, p),
                [format!("{}.data", ts(30 + n as u64))],
                "node {i}: {p}"
            );
        }
    }
    for node in [source, handoff] {
        let stats = recon_stats(node);
        assert_eq!(stats["failure"], 0, "{stats}");
    }
    assert!(
        !handoff.dev().join(format!("objects/{part}")).exists(),
        "the handoff partition should be gone"
    );
}
