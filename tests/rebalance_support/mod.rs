//! Support for the rebalance tests and the rebalance benchmark: short
//! forms of the builder's edits, move counts, and a replayer for the
//! reference scenarios' `commands.txt`.
#![allow(dead_code)]

use std::path::Path;

use ferroswift::ring::builder::{NewDevice, RebalanceOutcome, RingBuilder};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A fixed "now" for deterministic tests (Unix seconds).
pub const NOW: i64 = 1_700_000_000;

/// An empty builder, as `create <part_power> <replicas> <min_part_hours>` makes it.
pub fn new_builder(part_power: u32, replicas: f64, min_part_hours: u32) -> RingBuilder {
    RingBuilder::new(part_power.into(), replicas, min_part_hours.into()).expect("valid builder")
}

/// Adds a device in the first hole (or at the end); returns its id.
pub fn add_dev(
    b: &mut RingBuilder,
    region: u32,
    zone: u32,
    ip: &str,
    port: u16,
    device: &str,
    weight: f64,
) -> u32 {
    b.add_dev(NewDevice {
        id: None,
        region,
        zone,
        ip: ip.to_string(),
        port,
        replication_ip: ip.to_string(),
        replication_port: port,
        device: device.to_string(),
        meta: String::new(),
        weight,
    })
    .expect("device added")
}

/// Parses `r1z2-10.0.0.1:6200/sdb` (no replication part, no meta).
pub fn parse_dev(s: &str) -> (u32, u32, String, u16, String) {
    let rest = s.strip_prefix('r').expect("region");
    let (region, rest) = rest.split_once('z').expect("zone");
    let (zone, rest) = rest.split_once('-').expect("ip");
    let (ipport, device) = rest.split_once('/').expect("device");
    let (ip, port) = ipport.rsplit_once(':').expect("port");
    (
        region.parse().unwrap(),
        zone.parse().unwrap(),
        ip.to_string(),
        port.parse().unwrap(),
        device.to_string(),
    )
}

/// Ids of the devices matched by a simple search value (`d10`, `r2`, an ip).
pub fn search(b: &RingBuilder, value: &str) -> Vec<u32> {
    b.devs
        .iter()
        .flatten()
        .filter(|d| {
            if let Some(id) = value.strip_prefix('d') {
                d.dev.id.to_string() == id
            } else if let Some(r) = value.strip_prefix('r') {
                d.dev.region.to_string() == r
            } else {
                d.dev.ip == value
            }
        })
        .map(|d| d.dev.id)
        .collect()
}

/// Sets weight, marking the builder changed.
pub fn set_weight(b: &mut RingBuilder, id: u32, weight: f64) {
    b.set_dev_weight(id, weight).expect("weight set");
}

/// Marks a device for removal (weight 0, queued).
pub fn remove_dev(b: &mut RingBuilder, id: u32) {
    b.remove_dev(id).expect("device marked for removal");
}

/// `pretend_min_part_hours_passed`.
pub fn pretend_min_part_hours_passed(b: &mut RingBuilder) {
    b.pretend_min_part_hours_passed();
}

/// Per-device part counts before a rebalance (by device id).
pub fn counts(b: &RingBuilder) -> Vec<u64> {
    b.devs
        .iter()
        .map(|d| d.as_ref().map_or(0, |d| d.parts))
        .collect()
}

/// Fewest part-replica arrivals that turn `before` counts into the
/// builder's current counts.
pub fn min_moves(before: &[u64], b: &RingBuilder) -> u64 {
    b.devs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let now = d.as_ref().map_or(0, |d| d.parts);
            now.saturating_sub(before.get(i).copied().unwrap_or(0))
        })
        .sum()
}

/// One rebalance of a replayed scenario.
pub struct Step {
    pub outcome: RebalanceOutcome,
    /// Minimum arrivals for the counts this rebalance ended with.
    pub min_moves: u64,
}

/// Replays a scenario's `commands.txt` on our builder; returns the builder
/// and every rebalance's outcome.
pub fn replay(commands: &Path) -> (RingBuilder, Vec<Step>) {
    let text = std::fs::read_to_string(commands).expect("commands.txt");
    let mut b: Option<RingBuilder> = None;
    let mut steps = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 {
            continue;
        }
        let args = &words[3..];
        match words[2] {
            "create" => {
                b = Some(new_builder(
                    args[0].parse().unwrap(),
                    args[1].parse().unwrap(),
                    args[2].parse().unwrap(),
                ));
            }
            "add" => {
                let b = b.as_mut().unwrap();
                for pair in args.chunks(2) {
                    let (r, z, ip, port, dev) = parse_dev(pair[0]);
                    add_dev(b, r, z, &ip, port, &dev, pair[1].parse().unwrap());
                }
            }
            "set_weight" => {
                let b = b.as_mut().unwrap();
                let w: f64 = args[1].parse().unwrap();
                for id in search(b, args[0]) {
                    set_weight(b, id, w);
                }
            }
            "set_overload" => {
                let b = b.as_mut().unwrap();
                let v = args[0];
                b.overload = match v.strip_suffix('%') {
                    Some(p) => p.parse::<f64>().unwrap() / 100.0,
                    None => v.parse().unwrap(),
                };
                b.devs_changed = true;
            }
            "remove" => {
                let b = b.as_mut().unwrap();
                for id in search(b, args[0]) {
                    remove_dev(b, id);
                }
            }
            "pretend_min_part_hours_passed" => pretend_min_part_hours_passed(b.as_mut().unwrap()),
            "rebalance" => {
                let b = b.as_mut().unwrap();
                let before = counts(b);
                let mut rng = ChaCha8Rng::seed_from_u64(42);
                let outcome = b.rebalance(NOW, &mut rng).expect("rebalance");
                let min_moves = min_moves(&before, b);
                steps.push(Step { outcome, min_moves });
            }
            _ => {}
        }
    }
    (b.expect("create"), steps)
}

/// Swift's figures from a `rebalance.txt`: (reassigned, balance, dispersion).
pub fn swift_result(rebalance_txt: &Path) -> (u64, f64, f64) {
    let text = std::fs::read_to_string(rebalance_txt).expect("rebalance.txt");
    let line = text
        .lines()
        .find(|l| l.starts_with("Reassigned "))
        .expect("Reassigned line");
    let w: Vec<&str> = line.split_whitespace().collect();
    let reassigned = w[1].parse().unwrap();
    let balance = w[7].trim_end_matches('.').parse().unwrap();
    let dispersion = w[11].parse().unwrap();
    (reassigned, balance, dispersion)
}
