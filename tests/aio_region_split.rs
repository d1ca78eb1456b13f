//! Workflow 3 of issue 7 on the all-in-one cluster: a region split, done as
//! an operator does it. A one-region cluster holding data gets two storage
//! nodes in region 2, added to the cluster's own `.builder` files with
//! `swift-ring-builder` at a low weight; the weight is raised in steps
//! (`pretend_min_part_hours_passed`, `rebalance`, which writes the ring the
//! servers read), the replicators run after each step and
//! `swift-dispersion-report --json` shows the copies arriving. At every step:
//! every object reads back through the proxy (right after the ring change
//! and after replication), no partition moves more than one replica, the
//! proxy really uses the new ring, and replication ends with every copy
//! found. At the end every partition has exactly one replica in region 2.

mod aio_util;
mod repl_util;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aio_util::{bin, check, Aio};
use ferroswift::conf::ring_file::load_ring;
use ferroswift::ring::{Ring, RingData};
use repl_util::http_full;

/// The new nodes: region 2, zones 1 and 2.
const NEW_NODES: [(u16, u32); 2] = [(5, 1), (6, 2)];
/// Weight of each new device, step by step. Region 1 weighs 4 (four
/// devices of 1.0), so at 1.0 each region 2 weighs 2 of 6: one replica in 3.
const WEIGHTS: [&str; 3] = ["0.25", "0.5", "1.0"];
const KINDS: [&str; 3] = ["object", "container", "account"];
const CONTAINERS: usize = 4;
const OBJECTS: usize = 240;
/// How long the proxy may keep a ring before looking at the file again.
const PROXY_RING_CHECK: Duration = Duration::from_millis(2100);

struct Cluster {
    aio: Aio,
    acct: String,
    token: String,
    disp_conf: PathBuf,
    /// (path below the account, body) of every object written.
    objects: Vec<(String, Vec<u8>)>,
}

impl Cluster {
    fn etc(&self) -> PathBuf {
        self.aio.dir.join("etc")
    }

    fn req(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let (st, _, b) = http_full(
            self.aio.port,
            method,
            &format!("{}/{path}", self.acct),
            &[("X-Auth-Token", &self.token)],
            body,
        );
        (st, b)
    }

    /// Every object reads back through the proxy with its own bytes.
    fn assert_all_readable(&self, when: &str) {
        for (path, body) in &self.objects {
            let (st, got) = self.req("GET", path, b"");
            assert_eq!(st, 200, "{when}: GET {path}");
            assert!(got == *body, "{when}: GET {path} returned other bytes");
        }
    }

    fn ring(&self, kind: &str) -> RingData {
        load_ring(self.etc().join(format!("{kind}.ring.gz"))).unwrap()
    }

    fn builder(&self, kind: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin("swift-ring-builder"));
        c.arg(self.etc().join(format!("{kind}.builder"))).args(args);
        c
    }

    /// Runs every node's replicators once (`-o`), objects first.
    fn replicate(&self, nodes: &[u16]) {
        for kind in KINDS {
            for &node in nodes {
                let conf = self.etc().join(format!("{kind}-server/{node}.conf"));
                check(
                    Command::new(bin(&format!("swift-{kind}-replicator")))
                        .arg(&conf)
                        .arg("-o"),
                );
            }
        }
    }

    /// `swift-dispersion-report --json`: exit 0 when every copy is found,
    /// 1 when some are missing.
    fn dispersion(&self) -> serde_json::Value {
        let out = Command::new(bin("swift-dispersion-report"))
            .arg("--json")
            .arg(&self.disp_conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let report: serde_json::Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)));
        let complete =
            report["object"]["pct_found"] == 100.0 && report["container"]["pct_found"] == 100.0;
        assert_eq!(
            out.status.code(),
            Some(if complete { 0 } else { 1 }),
            "{report}"
        );
        report
    }
}

/// Sets every replicator's interval to an hour, so only the test runs them.
fn quiet_replicators(dir: &Path, nodes: &[u16]) {
    for kind in KINDS {
        for node in nodes {
            let conf = dir.join(format!("etc/{kind}-server/{node}.conf"));
            let text = std::fs::read_to_string(&conf).unwrap();
            let section = format!("[{kind}-replicator]\n");
            let at = text.find(&section).expect("replicator section") + section.len();
            let rest = &text[at..];
            let end = rest.find("\n\n").unwrap_or(rest.len());
            let quiet = rest[..end]
                .lines()
                .filter(|l| !l.starts_with("interval"))
                .chain(["interval = 3600"])
                .collect::<Vec<_>>()
                .join("\n");
            let text = format!("{}{quiet}{}", &text[..at], &rest[end..]);
            std::fs::write(&conf, text).unwrap();
        }
    }
}

/// Logs in, writes the containers and objects, and the dispersion
/// containers and objects (`swift-dispersion-populate`, every partition).
fn populate(aio: Aio, tmp: &Path) -> Cluster {
    let (acct, token) = aio.login_path("test:tester", "testing");
    let disp_conf = tmp.join("dispersion.conf");
    aio.write_dispersion_conf(&disp_conf, "100", 16);
    let mut c = Cluster {
        aio,
        acct,
        token,
        disp_conf,
        objects: Vec::new(),
    };
    for i in 0..CONTAINERS {
        assert_eq!(c.req("PUT", &format!("c{i}"), b"").0, 201);
    }
    for i in 0..OBJECTS {
        let path = format!("c{}/obj-{i}", i % CONTAINERS);
        let body: Vec<u8> = (0..100 + 37 * i).map(|j| (i * 31 + j * 7) as u8).collect();
        assert_eq!(c.req("PUT", &path, &body).0, 201, "PUT {path}");
        c.objects.push((path, body));
    }
    check(Command::new(bin("swift-dispersion-populate")).arg(&c.disp_conf));
    c
}

/// Partition -> set of devices, from a ring's replica2part2dev.
fn assignment(ring: &RingData) -> Vec<BTreeSet<u32>> {
    let parts = ring.replica2part2dev[0].len();
    (0..parts)
        .map(|p| ring.replica2part2dev.iter().map(|row| row[p]).collect())
        .collect()
}

fn region_of(ring: &RingData, dev: u32) -> u32 {
    ring.devs[dev as usize].as_ref().expect("device").region
}

/// Replicas of each partition in region 2.
fn region2_counts(ring: &RingData) -> Vec<usize> {
    let parts = ring.replica2part2dev[0].len();
    (0..parts)
        .map(|p| {
            ring.replica2part2dev
                .iter()
                .filter(|row| region_of(ring, row[p]) == 2)
                .count()
        })
        .collect()
}

fn digest_of(hex: &str) -> [u8; 16] {
    let mut d = [0u8; 16];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    d
}

/// The hash (hex) and the partition in `ring` of the object
/// `AUTH_test/<path>`.
fn object_place(
    swift: &ferroswift::conf::server_conf::SwiftConf,
    ring: &Ring,
    path: &str,
) -> (String, u32) {
    let (c, o) = path.split_once('/').unwrap();
    let hash = swift
        .salt
        .hash_path_hex("AUTH_test", Some(c), Some(o))
        .unwrap();
    let part = ring.part_for_digest(&digest_of(&hash));
    (hash, part)
}

/// Nodes holding a `.data` of the object `AUTH_test/<path>`.
fn data_nodes(
    dir: &Path,
    swift: &ferroswift::conf::server_conf::SwiftConf,
    ring: &Ring,
    path: &str,
) -> BTreeSet<u16> {
    let (hash, part) = object_place(swift, ring, path);
    aio_util::nodes_with_data(dir, 6, part, &hash)
        .into_iter()
        .collect()
}

/// Storage node (1-based) of each ring device: node N holds `sdN`.
fn primaries(ring: &Ring, part: u32) -> BTreeSet<u16> {
    ring.get_part_nodes(part)
        .iter()
        .map(|n| n.device.device[2..].parse().unwrap())
        .collect()
}

/// Checks a report taken after a ring change, before replication: each
/// missing copy is on a device the partition just moved to (`gained`:
/// partition -> device names), at most one copy per partition is missing,
/// and some are missing in region 2 (devices `sd5`, `sd6`).
fn assert_missing_only_moved(when: &str, section: &serde_json::Value, gained: &[BTreeSet<String>]) {
    let missing = section["missing_partitions"].as_array().unwrap();
    let mut in_region2 = 0;
    for m in missing {
        let part = m["partition"].as_u64().unwrap() as usize;
        assert_eq!(m["missing"], 1, "{when}: {m}");
        for n in m["nodes"].as_array().unwrap() {
            let dev = n.as_str().unwrap().rsplit('/').next().unwrap();
            assert!(
                gained[part].contains(dev),
                "{when}: {m} gained {:?}",
                gained[part]
            );
            in_region2 += usize::from(dev == "sd5" || dev == "sd6");
        }
    }
    assert!(
        in_region2 > 0,
        "{when}: no copy missing in region 2: {section}"
    );
}

/// Device names each partition gained from `old` to `new`.
fn gained(old: &RingData, new: &RingData) -> Vec<BTreeSet<String>> {
    let name = |ring: &RingData, id: &u32| ring.devs[*id as usize].as_ref().unwrap().device.clone();
    assignment(old)
        .iter()
        .zip(assignment(new))
        .map(|(a, b)| b.difference(a).map(|id| name(new, id)).collect())
        .collect()
}

/// An object name whose partition gained a region-2 primary between
/// `old` and `new`: a PUT of it shows which ring the proxy uses.
fn probe_name(
    swift: &ferroswift::conf::server_conf::SwiftConf,
    old: &Ring,
    new: &Ring,
    step: usize,
) -> String {
    (0..10_000)
        .map(|i| format!("probe-{step}-{i}"))
        .find(|name| {
            let hash = swift
                .salt
                .hash_path_hex("AUTH_test", Some("c0"), Some(name))
                .unwrap();
            let part = new.part_for_digest(&digest_of(&hash));
            let gained: Vec<u16> = primaries(new, part)
                .difference(&primaries(old, part))
                .copied()
                .collect();
            gained.iter().any(|n| *n >= 5)
        })
        .expect("a partition that moved to region 2")
}

#[test]
fn region_split_in_steps_keeps_every_object_readable() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("aio");
    let aio = Aio::setup_with(&dir, &["--part-power", "6"]);
    quiet_replicators(&dir, &[1, 2, 3, 4]);
    let mut c = populate(aio.start(), tmp.path());
    eprintln!("cluster up with data at {:.1?}", started.elapsed());
    let swift = ferroswift::conf::server_conf::load_swift_conf(&c.etc()).unwrap();
    let before = c.dispersion();
    assert_eq!(before["object"]["pct_found"], 100.0, "{before}");
    assert_eq!(before["container"]["pct_found"], 100.0, "{before}");

    // The new region's nodes: configs, then servers and daemons running
    // before any ring names them.
    let new: Vec<u16> = NEW_NODES.iter().map(|n| n.0).collect();
    let banner = c.aio.setup_nodes(&new);
    quiet_replicators(&dir, &new);
    let _region2 = c.aio.start_nodes(&new);
    for (node, zone) in NEW_NODES {
        for (i, kind) in KINDS.iter().enumerate() {
            let port = c.aio.base_port + 10 * node + i as u16;
            let dev = format!("127.0.0.1:{port}/sd{node}");
            assert!(banner.contains(&format!("{kind} {dev}")), "{banner}");
            check(&mut c.builder(kind, &["add", &format!("r2z{zone}-{dev}"), WEIGHTS[0]]));
        }
    }

    eprintln!("region 2 up at {:.1?}", started.elapsed());
    let all: Vec<u16> = (1..=6).collect();
    for (step, weight) in WEIGHTS.iter().enumerate() {
        let when = format!("weight {weight}");
        let t = Instant::now();
        let old_object_ring = Ring::new(c.ring("object")).unwrap();
        let mut moved_to = std::collections::HashMap::new();
        for kind in KINDS {
            if step > 0 {
                check(&mut c.builder(kind, &["set_weight", "r2", weight, "--yes"]));
            }
            let old = c.ring(kind);
            check(&mut c.builder(kind, &["pretend_min_part_hours_passed"]));
            let out = c.builder(kind, &["rebalance"]).output().unwrap();
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{kind} rebalance: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // rebalance wrote the ring the servers read: compare partitions.
            let newer = c.ring(kind);
            let (a, b) = (assignment(&old), assignment(&newer));
            let moved: Vec<usize> = (0..a.len())
                .map(|p| b[p].difference(&a[p]).count())
                .collect();
            assert!(
                moved.iter().all(|m| *m <= 1),
                "{when}: {kind} ring moved more than one replica of a partition: {moved:?}"
            );
            assert!(moved.contains(&1), "{when}: {kind} ring: nothing moved");
            let r2 = region2_counts(&newer);
            assert!(r2.iter().all(|n| *n <= 1), "{when}: {kind}: {r2:?}");
            moved_to.insert(kind, gained(&old, &newer));
        }
        eprintln!("{when}: rings rebalanced in {:.1?}", t.elapsed());

        // The proxy looks at the ring files every two seconds.
        std::thread::sleep(PROXY_RING_CHECK);
        let new_object_ring = Ring::new(c.ring("object")).unwrap();
        c.assert_all_readable(&format!("{when}, before replication"));
        let report = c.dispersion();
        for section in ["object", "container"] {
            let pct = report[section]["pct_found"].as_f64().unwrap();
            assert!(
                pct < 100.0,
                "{when}: {section} copies already all found: {report}"
            );
            assert_missing_only_moved(&when, &report[section], &moved_to[section]);
        }
        eprintln!(
            "{when}: reads and report before replication at {:.1?}",
            t.elapsed()
        );
        // A new object goes where the new ring says: the proxy reloaded it.
        let probe = probe_name(&swift, &old_object_ring, &new_object_ring, step);
        let probe_path = format!("c0/{probe}");
        assert_eq!(c.req("PUT", &probe_path, probe.as_bytes()).0, 201);
        let hash = swift
            .salt
            .hash_path_hex("AUTH_test", Some("c0"), Some(&probe))
            .unwrap();
        let part = new_object_ring.part_for_digest(&digest_of(&hash));
        assert_eq!(
            data_nodes(&dir, &swift, &new_object_ring, &probe_path),
            primaries(&new_object_ring, part),
            "{when}: {probe} not on the new ring's primaries"
        );
        c.objects.push((probe_path, probe.into_bytes()));

        c.replicate(&all);
        eprintln!("{when}: replicated at {:.1?}", t.elapsed());
        let report = c.dispersion();
        assert_eq!(report["object"]["pct_found"], 100.0, "{when}: {report}");
        assert_eq!(report["container"]["pct_found"], 100.0, "{when}: {report}");
        // Every copy moved home: on its primaries, handoff copies gone.
        for (path, _) in &c.objects {
            let (_, part) = object_place(&swift, &new_object_ring, path);
            assert_eq!(
                data_nodes(&dir, &swift, &new_object_ring, path),
                primaries(&new_object_ring, part),
                "{when}: copies of {path}"
            );
        }
        c.assert_all_readable(&format!("{when}, after replication"));
        eprintln!("{when}: done at {:.1?}", t.elapsed());
    }

    for kind in KINDS {
        let ring = c.ring(kind);
        let r2 = region2_counts(&ring);
        assert!(
            r2.iter().all(|n| *n == 1),
            "{kind}: region-2 replicas per partition {r2:?}"
        );
    }
    eprintln!("region split took {:.1?}", started.elapsed());
}
