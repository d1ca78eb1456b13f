//! Property tests: the fast handoff iterator agrees with the plain
//! transcription of Swift's scan on random rings of every shape.

use ferroswift::ring::handoffs_reference::reference_handoff_ids;
use ferroswift::ring::{Device, Ring, RingData};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random ring: part power `power`, `rows` rows (the last maybe short),
/// devices spread over few regions/zones/ips, some holes and some devices
/// without assignments. Partitions may even repeat a device.
fn random_ring(seed: u64, power: u32) -> RingData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let parts = 1usize << power;
    let n_devs = rng.gen_range(1..=14);
    let regions = rng.gen_range(1..=3);
    let zones = rng.gen_range(1..=3);
    let ips = rng.gen_range(1..=3);
    let devs: Vec<Option<Device>> = (0..n_devs)
        .map(|id| {
            if id > 0 && rng.gen_bool(0.1) {
                return None;
            }
            let region = rng.gen_range(1..=regions);
            let zone = rng.gen_range(1..=zones);
            let ip = format!("10.{region}.{zone}.{}", rng.gen_range(1..=ips));
            Some(Device {
                id,
                region,
                zone,
                ip: ip.clone(),
                port: 6200,
                replication_ip: ip,
                replication_port: 6200,
                device: format!("sd{id}"),
                meta: String::new(),
                weight: 100.0,
                extra: Default::default(),
            })
        })
        .collect();
    let live: Vec<u32> = devs.iter().flatten().map(|d| d.id).collect();
    // Skew the assignment so that some tiers are rare and clustered, the
    // shape that makes Swift's scan slow.
    let used: Vec<u32> = live
        .iter()
        .copied()
        .filter(|_| rng.gen_bool(0.85))
        .collect();
    let used = if used.is_empty() { vec![live[0]] } else { used };
    let rare = used[rng.gen_range(0..used.len())];
    let n_rows = rng.gen_range(1..=4);
    let mut rows: Vec<Vec<u32>> = Vec::new();
    for r in 0..n_rows {
        let len = if r > 0 && r + 1 == n_rows && rng.gen_bool(0.4) {
            rng.gen_range(0..=parts)
        } else {
            parts
        };
        let cluster = rng.gen_range(0..parts);
        let row: Vec<u32> = (0..len)
            .map(|p| {
                let near = p.abs_diff(cluster) < parts / 16 + 1;
                if near && rng.gen_bool(0.5) {
                    rare
                } else {
                    let d = used[rng.gen_range(0..used.len())];
                    if d == rare && !rng.gen_bool(0.02) {
                        used[0]
                    } else {
                        d
                    }
                }
            })
            .collect();
        rows.push(row);
    }
    RingData {
        devs,
        replica2part2dev: rows,
        part_shift: 32 - power,
        next_part_power: None,
        version: Some(1),
        dev_id_bytes: 2,
    }
}

fn check(seed: u64, power: u32, parts_to_check: &[u32]) {
    let ring = Ring::new(random_ring(seed, power)).expect("valid random ring");
    for &part in parts_to_check {
        let slow = reference_handoff_ids(&ring, part);
        let fast: Vec<u32> = ring.get_more_nodes(part).map(|n| n.device.id).collect();
        assert_eq!(fast, slow, "seed {seed} power {power} part {part}");
        for budget in [0, 1, 2, 5] {
            let fast: Vec<u32> = ring
                .get_more_nodes_with_budget(part, budget)
                .map(|n| n.device.id)
                .collect();
            assert_eq!(
                fast, slow,
                "seed {seed} power {power} part {part} budget {budget}"
            );
        }
        for (i, node) in ring.get_more_nodes(part).enumerate() {
            assert_eq!(node.index, i);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn fast_handoffs_match_reference(seed in any::<u64>(), power in 0u32..=9) {
        let parts = 1u32 << power;
        let probe: Vec<u32> = (0..parts.min(24)).chain([parts - 1, parts / 2]).collect();
        check(seed, power, &probe);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// Part power 17 gives `inc = 2`: the walk visits one residue class.
    #[test]
    fn fast_handoffs_match_reference_with_stride(seed in any::<u64>()) {
        check(seed, 17, &[0, 1, 2, 3, 4, 5, 65536, 131071]);
    }
}

/// A ring with more devices than the iterator's inline seen-tier bitset
/// holds (the heap-backed case), with a partition beyond the ring too.
#[test]
fn fast_handoffs_match_reference_with_many_devices() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let power = 8;
    let parts = 1usize << power;
    let devs: Vec<Option<Device>> = (0..1100u32)
        .map(|id| {
            let (region, zone) = (id % 3 + 1, id % 37 + 1);
            Some(Device {
                id,
                region,
                zone,
                ip: format!("10.{region}.{zone}.{}", id % 250),
                port: 6200,
                replication_ip: "127.0.0.1".to_string(),
                replication_port: 6200,
                device: format!("sd{id}"),
                meta: String::new(),
                weight: 100.0,
                extra: Default::default(),
            })
        })
        .collect();
    let rows: Vec<Vec<u32>> = (0..3)
        .map(|_| (0..parts).map(|_| rng.gen_range(0..1100)).collect())
        .collect();
    let ring = Ring::new(RingData {
        devs,
        replica2part2dev: rows,
        part_shift: 32 - power,
        next_part_power: None,
        version: Some(1),
        dev_id_bytes: 2,
    })
    .unwrap();
    for part in [0, 1, 77, 128, 255, 256] {
        let slow = reference_handoff_ids(&ring, part);
        for budget in [0, 5, 96] {
            let fast: Vec<u32> = ring
                .get_more_nodes_with_budget(part, budget)
                .map(|n| n.device.id)
                .collect();
            assert_eq!(fast, slow, "part {part} budget {budget}");
        }
    }
}

#[test]
fn primaries_are_deduplicated_and_indexed() {
    let mut data = random_ring(7, 3);
    data.replica2part2dev = vec![vec![0; 8], vec![0; 8]];
    let ring = Ring::new(data).unwrap();
    let nodes = ring.get_part_nodes(3);
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].index, 0);
    assert!(ring.get_part_nodes(8).is_empty());
}

#[test]
fn ring_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Ring>();
}
