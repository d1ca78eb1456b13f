//! Builds a synthetic ring and rebalances it: an initial build, then a
//! reweight step. Prints one line per rebalance (seconds, balance,
//! dispersion, moved part-replicas, CPU time). `scripts/bench-rebalance`
//! runs it next to Swift's `swift-ring-builder` on the same ring shape (by
//! default part power 16, 576 devices in two regions) and adds peak memory.
//!
//! Usage: `rebalance_bench <part_power> <replicas> <regions> <zones> <servers> <devices> [seed]`
//! (zones per region, servers per zone, devices per server).

use std::time::Instant;

use ferroswift::ring::builder::RingBuilder;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[path = "../tests/rebalance_support/mod.rs"]
mod rebalance_support;
use rebalance_support::{add_dev, counts, min_moves, new_builder, pretend_min_part_hours_passed};

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
    let mut b = new_builder(part_power, replicas, 1);
    for (r, z, s, d, weight) in shape(regions, zones, servers, devices) {
        add_dev(
            &mut b,
            r,
            z,
            &format!("10.{r}.{z}.{s}"),
            6200,
            &format!("d{d}"),
            weight,
        );
    }
    let mut now = 1_700_000_000;
    step(&mut b, "initial", now, seed);
    // Reweight: every device of the first server of each zone in region 1 gets 1.5x.
    for d in b.devs.iter_mut().flatten() {
        if d.dev.region == 1 && d.dev.ip.ends_with(".1") {
            d.dev.weight *= 1.5;
        }
    }
    pretend_min_part_hours_passed(&mut b);
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
    let before = counts(b);
    let t = Instant::now();
    let c = cpu_seconds();
    let o = b
        .rebalance(now, &mut ChaCha8Rng::seed_from_u64(seed))
        .expect("rebalance");
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c;
    let min = min_moves(&before, b);
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
