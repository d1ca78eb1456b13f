//! Every name of every reference scenario (v1 and v2 ring files) gives
//! Swift's partition, hash, primaries and first 6 handoffs; full handoff
//! lists match Swift's `-a` output; the fast handoff search agrees with the
//! reference scan on sampled partitions of every reference ring.

mod common;

use std::path::{Path, PathBuf};

use ferroswift::conf::ring_file::load_ring;
use ferroswift::conf::swift_conf::SwiftConf;
use ferroswift::ring::handoffs_reference::reference_handoff_ids;
use ferroswift::ring::hash::{hex_digest, HashPathConf};
use ferroswift::ring::Ring;

/// Scenario directories holding a `get-nodes.tsv`, e.g. `S1`, `S4/step1-r2-3pct`.
fn scenarios() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = common::files_under(&common::reference_dir())
        .into_iter()
        .filter(|p| p.file_name().unwrap() == "get-nodes.tsv")
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    out.sort();
    assert!(
        out.len() >= 16,
        "expected every reference scenario, found {}",
        out.len()
    );
    out
}

fn hash_conf() -> HashPathConf {
    SwiftConf::load(&common::reference_dir().join("swift.conf"))
        .unwrap()
        .hash_path_conf()
        .unwrap()
}

fn ids(list: &str) -> Vec<u32> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

fn rings_of(dir: &Path) -> Vec<(PathBuf, Ring)> {
    ["object.ring.gz", "v2/object.ring.gz"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let data = load_ring(&path).unwrap_or_else(|e| panic!("{e}"));
            (path, Ring::new(data).unwrap())
        })
        .collect()
}

#[test]
fn every_reference_name_matches_swift() {
    let hash = hash_conf();
    let mut checked = 0;
    for dir in scenarios() {
        let tsv = std::fs::read_to_string(dir.join("get-nodes.tsv")).unwrap();
        for (path, ring) in rings_of(&dir) {
            for line in tsv.lines().skip(1) {
                let f: Vec<&str> = line.split('\t').collect();
                let (account, container, object) = (f[2], f[3], f[4]);
                let c = (!container.is_empty()).then_some(container);
                let o = (!object.is_empty()).then_some(object);
                let digest = hash.hash_path(account, c, o).unwrap();
                let at = format!("{} line {}", path.display(), f[0]);
                assert_eq!(hex_digest(&digest), f[5], "hash, {at}");
                let part = ring.get_part(&hash, account, c, o).unwrap();
                assert_eq!(part.to_string(), f[6], "partition, {at}");
                let primaries: Vec<u32> = ring
                    .get_part_nodes(part)
                    .iter()
                    .map(|n| n.device.id)
                    .collect();
                assert_eq!(primaries, ids(f[7]), "primaries, {at}");
                let handoffs: Vec<u32> = ring
                    .get_more_nodes(part)
                    .take(6)
                    .map(|n| n.device.id)
                    .collect();
                assert_eq!(
                    handoffs,
                    ids(f.get(8).copied().unwrap_or("")),
                    "handoffs, {at}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 16 * 2 * 200);
}

/// `ip:port device` of every `[Handoff]` server line of a get-nodes output.
fn handoff_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Server:Port Device\t"))
        .filter_map(|l| l.strip_suffix("\t [Handoff]"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn full_handoff_lists_match_swift_dash_a() {
    let hash = hash_conf();
    let mut compared = 0;
    for dir in scenarios() {
        let Ok(expected) = std::fs::read_to_string(dir.join("get-nodes-a.stdout.txt")) else {
            continue;
        };
        let expected = handoff_lines(&expected);
        for (path, ring) in rings_of(&dir) {
            let part = ring
                .get_part(
                    &hash,
                    "AUTH_test",
                    Some("photos"),
                    Some("photos/2024/img 001.jpg"),
                )
                .unwrap();
            let ours: Vec<String> = ring
                .get_more_nodes(part)
                .map(|n| format!("{}:{} {}", n.device.ip, n.device.port, n.device.device))
                .collect();
            assert_eq!(ours, expected, "{}", path.display());
            compared += 1;
        }
    }
    assert!(compared >= 6);
}

#[test]
fn fast_search_matches_reference_scan_on_reference_rings() {
    for dir in scenarios() {
        let path = dir.join("object.ring.gz");
        let ring = Ring::new(load_ring(&path).unwrap()).unwrap();
        let parts = ring.partition_count() as u64;
        // A spread of partitions, including both ends.
        let probe =
            (0..40u64)
                .map(|i| (i * 2654435761 % parts) as u32)
                .chain([0, 1, (parts - 1) as u32]);
        for part in probe {
            let slow = reference_handoff_ids(&ring, part);
            for budget in [0, 96] {
                let fast: Vec<u32> = ring
                    .get_more_nodes_with_budget(part, budget)
                    .map(|n| n.device.id)
                    .collect();
                assert_eq!(fast, slow, "{} part {part} budget {budget}", path.display());
            }
        }
    }
}
