//! Lookup speed on the reference rings: name → partition + primaries, the
//! first handoff, and the first 6 handoffs (including Swift's slow case, S4 step 1, and the
//! part-power-20 ring S3 in formats v1 and v2). Rings are loaded as the
//! tools and servers load them (`load_lookup_ring`: the table kept in the
//! file's own layout, little-endian for v1, big-endian for v2), without the
//! decoded-ring cache (it gives the same ring; the bench leaves no entries).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ferroswift::conf::ring_file::load_lookup_ring_cached;
use ferroswift::ring::hash::HashPathConf;
use ferroswift::ring::Ring;

const RINGS: &[&str] = &[
    "S1",
    "S2",
    "S3",
    "S3/v2",
    "S4/step1-r2-3pct",
    "S4/step8-r2-33pct",
    "S5/step2-weight0-d10",
    "S6",
];

fn ring(scenario: &str) -> Ring {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(scenario)
        .join("object.ring.gz");
    load_lookup_ring_cached(&path, None)
        .expect("reference ring")
        .0
}

fn names() -> Vec<String> {
    (0..1024).map(|i| format!("photos/{i:05}.jpg")).collect()
}

fn bench(c: &mut Criterion) {
    let hash = HashPathConf::new(Vec::new(), b"changeme".to_vec());
    let names = names();
    for scenario in RINGS {
        let ring = ring(scenario);
        let parts: Vec<u32> = names
            .iter()
            .map(|n| {
                ring.get_part(&hash, "AUTH_test", Some("photos"), Some(n))
                    .unwrap()
            })
            .collect();
        let mut group = c.benchmark_group(*scenario);
        let mut i = 0;
        group.bench_function("get_part+primaries", |b| {
            b.iter(|| {
                i = (i + 1) % names.len();
                let part = ring
                    .get_part(&hash, "AUTH_test", Some("photos"), Some(&names[i]))
                    .unwrap();
                black_box(ring.get_part_nodes(part).len())
            })
        });
        let mut i = 0;
        group.bench_function("handoff1", |b| {
            b.iter(|| {
                i = (i + 1) % parts.len();
                black_box(ring.get_more_nodes(parts[i]).next().map(|n| n.index))
            })
        });
        let mut i = 0;
        group.bench_function("handoffs6", |b| {
            b.iter(|| {
                i = (i + 1) % parts.len();
                black_box(ring.get_more_nodes(parts[i]).take(6).count())
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
