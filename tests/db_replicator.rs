//! swift-container-replicator and swift-account-replicator on real servers:
//! diverged replicas converge, a database on a handoff moves to its
//! primaries and leaves the handoff, stats land in the recon cache.

mod db_cluster;

use db_cluster::{http, listing, ts, Cluster};
use serde_json::Value;

fn names(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn put_container(c: &Cluster, i: usize, part: u32, path: &str, t: &str) {
    let n = &c.nodes[i];
    let (st, _, _) = http(
        "PUT",
        &n.part_url(part, path),
        &[("X-Timestamp", t)],
        Vec::new(),
    );
    assert!(st == 201 || st == 202, "PUT {path} on node {i}: {st}");
}

fn put_row(c: &Cluster, i: usize, part: u32, path: &str, size: usize) {
    let n = &c.nodes[i];
    let size = size.to_string();
    let (st, _, _) = http(
        "PUT",
        &n.part_url(part, path),
        &[
            ("X-Timestamp", &ts()),
            ("X-Size", &size),
            ("X-Content-Type", "text/plain"),
            ("X-Etag", "d41d8cd98f00b204e9800998ecf8427e"),
        ],
        Vec::new(),
    );
    assert_eq!(st, 201, "PUT row {path} on node {i}");
}

#[test]
fn diverged_container_replicas_converge() {
    let mut c = Cluster::new("container", 4);
    c.start_all();
    let (part, prim) = c.locate("AUTH_test", Some("box"));
    assert_eq!(prim.len(), 3);
    let t = ts();
    for &i in &prim {
        put_container(&c, i, part, "/AUTH_test/box", &t);
    }
    // Every replica saw o1..o3; the first missed o4..o15 (more than
    // per_diff = 5, so they go in several merge_items batches); the third
    // alone has "late"; one row is deleted on the second only.
    for &i in &prim {
        for k in 1..=3 {
            put_row(&c, i, part, &format!("/AUTH_test/box/o{k:02}"), k);
        }
    }
    for &i in &prim[1..] {
        for k in 4..=15 {
            put_row(&c, i, part, &format!("/AUTH_test/box/o{k:02}"), k);
        }
    }
    put_row(&c, prim[2], part, "/AUTH_test/box/late", 100);
    let n = &c.nodes[prim[1]];
    let (st, _, _) = http(
        "DELETE",
        &n.part_url(part, "/AUTH_test/box/o02"),
        &[("X-Timestamp", &ts())],
        Vec::new(),
    );
    assert_eq!(st, 204);
    let before: Vec<Vec<String>> = prim
        .iter()
        .map(|&i| names(&listing(&c, i, part, "/AUTH_test/box")))
        .collect();
    assert_ne!(before[0], before[1]);
    assert_ne!(before[1], before[2]);

    for &i in &prim {
        c.replicate(i);
    }
    let after: Vec<Vec<Value>> = prim
        .iter()
        .map(|&i| listing(&c, i, part, "/AUTH_test/box"))
        .collect();
    let mut want: Vec<String> = (1..=15)
        .filter(|k| *k != 2)
        .map(|k| format!("o{k:02}"))
        .collect();
    want.insert(0, "late".into());
    want.sort();
    for l in &after {
        assert_eq!(names(l), want);
        assert_eq!(l, &after[0], "replicas differ in sizes or timestamps");
    }
    // Counts and the stat hash agree too.
    let heads: Vec<(String, String)> = prim
        .iter()
        .map(|&i| {
            let n = &c.nodes[i];
            let (_, h, _) = http("HEAD", &n.part_url(part, "/AUTH_test/box"), &[], Vec::new());
            let g = |k: &str| h.get(k).unwrap().to_str().unwrap().to_string();
            (g("x-container-object-count"), g("x-container-bytes-used"))
        })
        .collect();
    assert!(heads.iter().all(|h| h == &heads[0]), "{heads:?}");
    assert_eq!(heads[0].0, want.len().to_string());

    // A second round finds nothing to do: every peer is in sync.
    c.replicate(prim[0]);
    let cache: Value = serde_json::from_slice(
        &std::fs::read(c.nodes[prim[0]].recon.join("container.recon")).unwrap(),
    )
    .unwrap();
    let stats = &cache["replication_stats"];
    assert_eq!(stats["attempted"], 1, "{cache}");
    assert_eq!(stats["no_change"], 2, "{cache}");
    assert_eq!(stats["success"], 2, "{cache}");
    assert_eq!(stats["failure"], 0, "{cache}");
    assert!(stats.get("failure_nodes").is_none(), "{cache}");
    assert!(cache["replication_time"].as_f64().unwrap() >= 0.0);
    assert!(cache["replication_last"].as_f64().unwrap() > 1.7e9);
}

#[test]
fn container_on_a_handoff_moves_to_its_primaries() {
    let mut c = Cluster::new("container", 4);
    c.start_all();
    let (part, prim) = c.locate("AUTH_test", Some("moved"));
    let handoff = (0..4).find(|i| !prim.contains(i)).unwrap();
    put_container(&c, handoff, part, "/AUTH_test/moved", &ts());
    for k in 0..8 {
        put_row(&c, handoff, part, &format!("/AUTH_test/moved/obj{k}"), k);
    }
    let handoff_db = c.db_file(handoff, part, "AUTH_test", Some("moved"));
    assert!(handoff_db.is_file());
    for &i in &prim {
        assert!(!c.db_file(i, part, "AUTH_test", Some("moved")).exists());
    }

    let log = c.replicate(handoff);
    for &i in &prim {
        let rows = listing(&c, i, part, "/AUTH_test/moved");
        assert_eq!(rows.len(), 8, "primary {i}: {rows:?}");
    }
    assert!(!handoff_db.exists(), "handoff copy stayed:\n{log}");
    assert!(!handoff_db.parent().unwrap().exists());
    let cache: Value = serde_json::from_slice(
        &std::fs::read(c.nodes[handoff].recon.join("container.recon")).unwrap(),
    )
    .unwrap();
    assert_eq!(cache["replication_stats"]["rsync"], 3, "{cache}");
    assert_eq!(cache["replication_stats"]["remove"], 1, "{cache}");
    assert_eq!(cache["replication_stats"]["success"], 3, "{cache}");

    // The copies are replicas of their own: new ids, and in sync with each other.
    let ids: Vec<String> = prim
        .iter()
        .map(|&i| {
            let b = ferroswift::storage::broker::Broker::open(
                &c.db_file(i, part, "AUTH_test", Some("moved")),
                ferroswift::storage::broker::DbKind::Container,
            )
            .unwrap()
            .unwrap();
            b.info().unwrap().id
        })
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    c.replicate(prim[0]);
    let cache: Value = serde_json::from_slice(
        &std::fs::read(c.nodes[prim[0]].recon.join("container.recon")).unwrap(),
    )
    .unwrap();
    let stats = &cache["replication_stats"];
    assert_eq!(stats["failure"], 0, "{cache}");
    assert_eq!(
        stats["no_change"].as_u64().unwrap() + stats["hashmatch"].as_u64().unwrap(),
        2,
        "{cache}"
    );
}

#[test]
fn account_replicas_converge_and_big_gaps_go_whole() {
    let mut c = Cluster::new("account", 4);
    c.start_all();
    let (part, prim) = c.locate("AUTH_acc", None);
    let t = ts();
    for &i in &prim {
        put_container(&c, i, part, "/AUTH_acc", &t);
    }
    // The first primary has 20 containers the others never heard of: more
    // than twice theirs and more than per_diff behind, so it is sent whole
    // and merged (rsync_then_merge); the second has one of its own.
    let n = &c.nodes[prim[0]];
    for k in 0..20 {
        let (st, _, _) = http(
            "PUT",
            &n.part_url(part, &format!("/AUTH_acc/c{k:02}")),
            &[
                ("X-Put-Timestamp", &ts()),
                ("X-Delete-Timestamp", "0"),
                ("X-Object-Count", "1"),
                ("X-Bytes-Used", "10"),
            ],
            Vec::new(),
        );
        assert_eq!(st, 201);
    }
    let n = &c.nodes[prim[1]];
    let (st, _, _) = http(
        "PUT",
        &n.part_url(part, "/AUTH_acc/zz"),
        &[
            ("X-Put-Timestamp", &ts()),
            ("X-Delete-Timestamp", "0"),
            ("X-Object-Count", "2"),
            ("X-Bytes-Used", "5"),
        ],
        Vec::new(),
    );
    assert_eq!(st, 201);
    c.replicate(prim[0]);
    c.replicate(prim[1]);
    c.replicate(prim[2]);
    let lists: Vec<Vec<String>> = prim
        .iter()
        .map(|&i| names(&listing(&c, i, part, "/AUTH_acc")))
        .collect();
    assert_eq!(lists[0].len(), 21, "{lists:?}");
    assert!(lists.iter().all(|l| l == &lists[0]), "{lists:?}");
    let cache: Value = serde_json::from_slice(
        &std::fs::read(c.nodes[prim[0]].recon.join("account.recon")).unwrap(),
    )
    .unwrap();
    assert_eq!(cache["replication_stats"]["remote_merge"], 2, "{cache}");
    for &i in &prim {
        let n = &c.nodes[i];
        let (_, h, _) = http("HEAD", &n.part_url(part, "/AUTH_acc"), &[], Vec::new());
        assert_eq!(h["x-account-object-count"], "22");
        assert_eq!(h["x-account-bytes-used"], "205");
    }
}
