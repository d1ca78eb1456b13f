//! Builds a synthetic ring and rebalances it: an initial build, then a
//! reweight step. Prints one line per rebalance (seconds, balance,
//! dispersion, moved part-replicas, CPU time). `scripts/bench-rebalance`
//! runs it next to Swift's `swift-ring-builder` on the same ring shape (by
//! default part power 16, 576 devices in two regions) and adds peak memory.
//!
//! Usage: `rebalance_bench <part_power> <replicas> <regions> <zones> <servers> <devices> [seed]`
//! (zones per region, servers per zone, devices per server).

use std::collections::BTreeMap;
use std::time::Instant;

use ferroswift::ring::builder::{BuilderDevice, RingBuilder};
use ferroswift::ring::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: &str| {
        args.get(i)
            .map_or(d, String::as_str)
            .parse::<f64>()
            .expect("number")
    };
    let part_power = num(0, "16") as u32;
    let replicas = num(1, "3");
    let (regions, zones, servers, devices) = (
        num(2, "2") as u32,
        num(3, "4") as u32,
        num(4, "6") as u32,
        num(5, "12") as u32,
    );
    let seed = num(6, "42") as u64;
    let mut b = RingBuilder {
        part_power,
        next_part_power: None,
        replicas,
        min_part_hours: 1,
        devs: Vec::new(),
        devs_changed: true,
        version: 0,
        overload: 0.0,
        replica2part2dev: None,
        dev_id_bytes: 2,
        last_part_moves_epoch: 0,
        last_part_moves: vec![0; 1 << part_power],
        last_part_gather_start: 0,
        dispersion_graph: BTreeMap::new(),
        dispersion: None,
        remove_devs: Vec::new(),
        id: None,
    };
    for (r, z, s, d, weight) in shape(regions, zones, servers, devices) {
        let id = b.devs.len() as u32;
        b.devs.push(Some(BuilderDevice {
            dev: Device {
                id,
                region: r,
                zone: z,
                ip: format!("10.{r}.{z}.{s}"),
                port: 6200,
                replication_ip: format!("10.{r}.{z}.{s}"),
                replication_port: 6200,
                device: format!("d{d}"),
                meta: String::new(),
                weight,
                extra: Default::default(),
            },
            parts: 0,
            parts_wanted: None,
        }));
    }
    let mut now = 1_700_000_000;
    step(&mut b, "initial", now, seed);
    // Reweight: every device of the first server of each zone in region 1 gets 1.5x.
    for d in b.devs.iter_mut().flatten() {
        if d.dev.region == 1 && d.dev.ip.ends_with(".1") {
            d.dev.weight *= 1.5;
        }
    }
    b.last_part_moves.iter_mut().for_each(|m| *m = 255);
    b.last_part_moves_epoch = 0;
    now += 7200;
    step(&mut b, "reweight", now, seed);
}

/// (region, zone, server, device, weight) of every device.
pub fn shape(
    regions: u32,
    zones: u32,
    servers: u32,
    devices: u32,
) -> Vec<(u32, u32, u32, u32, f64)> {
    let mut out = Vec::new();
    let mut i = 0u32;
    for r in 1..=regions {
        for z in 1..=zones {
            for s in 1..=servers {
                for d in 0..devices {
                    out.push((r, z, s, d, if i % 3 == 0 { 200.0 } else { 100.0 }));
                    i += 1;
                }
            }
        }
    }
    out
}

fn step(b: &mut RingBuilder, name: &str, now: i64, seed: u64) {
    let before: Vec<u64> = b
        .devs
        .iter()
        .map(|d| d.as_ref().map_or(0, |d| d.parts))
        .collect();
    let t = Instant::now();
    let c = cpu_seconds();
    let o = b
        .rebalance(now, &mut ChaCha8Rng::seed_from_u64(seed))
        .expect("rebalance");
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c;
    let min: u64 = b
        .devs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.as_ref()
                .map_or(0, |d| d.parts)
                .saturating_sub(before.get(i).copied().unwrap_or(0))
        })
        .sum();
    println!(
        "{name}: {secs:.3} s ({cpu:.3} s cpu), balance {:.2}, dispersion {:.2}, moved {} (minimum {min})",
        o.balance, o.dispersion, o.changed_parts
    );
}

/// CPU time of this process, in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
