//! Rebalance speed at part power 16 on a 576-device, two-region ring: the
//! initial build, and a reweight step (a sixth of region 1's servers at
//! 1.5x weight) from that build.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ferroswift::ring::builder::{BuilderDevice, RingBuilder};
use ferroswift::ring::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const NOW: i64 = 1_700_000_000;

/// 2 regions x 4 zones x 6 servers x 12 devices, weights 200/100/100.
fn empty_ring(part_power: u32) -> RingBuilder {
    let mut b = RingBuilder {
        part_power,
        next_part_power: None,
        replicas: 3.0,
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
    for r in 1..=2u32 {
        for z in 1..=4u32 {
            for s in 1..=6u32 {
                for d in 0..12u32 {
                    let id = b.devs.len() as u32;
                    let ip = format!("10.{r}.{z}.{s}");
                    b.devs.push(Some(BuilderDevice {
                        dev: Device {
                            id,
                            region: r,
                            zone: z,
                            ip: ip.clone(),
                            port: 6200,
                            replication_ip: ip,
                            replication_port: 6200,
                            device: format!("d{d}"),
                            meta: String::new(),
                            weight: if id % 3 == 0 { 200.0 } else { 100.0 },
                            extra: Default::default(),
                        },
                        parts: 0,
                        parts_wanted: None,
                    }));
                }
            }
        }
    }
    b
}

fn reweighted(built: &RingBuilder) -> RingBuilder {
    let mut b = built.clone();
    for d in b.devs.iter_mut().flatten() {
        if d.dev.region == 1 && d.dev.ip.ends_with(".1") {
            d.dev.weight *= 1.5;
        }
    }
    b.last_part_moves.iter_mut().for_each(|m| *m = 255);
    b.last_part_moves_epoch = 0;
    b
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rebalance p16 576 devices");
    group.sample_size(10);
    let empty = empty_ring(16);
    group.bench_function("initial build", |bench| {
        bench.iter_batched(
            || empty.clone(),
            |mut b| {
                b.rebalance(NOW, &mut ChaCha8Rng::seed_from_u64(42))
                    .unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    let mut built = empty.clone();
    built
        .rebalance(NOW, &mut ChaCha8Rng::seed_from_u64(42))
        .unwrap();
    let step = reweighted(&built);
    group.bench_function("reweight step", |bench| {
        bench.iter_batched(
            || step.clone(),
            |mut b| {
                b.rebalance(NOW + 7200, &mut ChaCha8Rng::seed_from_u64(42))
                    .unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
