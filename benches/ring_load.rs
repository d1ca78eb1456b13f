//! Loading the part-power-20 reference ring (S3) in formats v1 and v2:
//! `load_lookup_ring` (file to a ring ready for lookups, what the tools and
//! servers use) without the decoded-ring cache, storing its entry (a first
//! load) and served by it, `load_ring`
//! (the plain `RingData` the builder edits), decoding from memory, and bare
//! inflate (zlib-rs and libdeflate) as floors.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use ferroswift::conf::ring_cache::RingCache;
use ferroswift::conf::ring_file::{load_lookup_ring_cached, load_ring, CacheUse};
use ferroswift::ring::codec;
use flate2::{Decompress, FlushDecompress};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(rel)
}

/// Inflating the deflate data alone, into a buffer of the right size.
fn bare_inflate(file: &[u8]) -> Vec<u8> {
    let start = 10 + file[10..].iter().position(|&b| b == 0).unwrap_or(0) + 1;
    let mut out = Vec::with_capacity(8 << 20);
    Decompress::new(false)
        .decompress_vec(&file[start..], &mut out, FlushDecompress::Finish)
        .unwrap();
    out
}

/// Inflating the whole gzip member in one libdeflate call.
fn bare_libdeflate(file: &[u8]) -> Vec<u8> {
    let at = file.len() - 4;
    let size = u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
    let mut out = vec![0u8; size as usize];
    libdeflater::Decompressor::new()
        .gzip_decompress(file, &mut out)
        .unwrap();
    out
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("S3 part power 20");
    group.sample_size(30);
    for (name, rel) in [("v1", "S3/object.ring.gz"), ("v2", "S3/v2/object.ring.gz")] {
        let path = fixture(rel);
        let bytes = std::fs::read(&path).unwrap();
        group.bench_function(format!("load_lookup_ring no cache {name}"), |b| {
            b.iter(|| load_lookup_ring_cached(&path, None).unwrap())
        });
        let dir = tempfile::tempdir().unwrap();
        let cache = RingCache::at(dir.path());
        let entry = cache.entry(&path).path().to_path_buf();
        group.bench_function(format!("load_lookup_ring first load {name}"), |b| {
            b.iter_batched(
                || {
                    let _ = std::fs::remove_file(&entry);
                },
                |()| {
                    let (ring, used) = load_lookup_ring_cached(&path, Some(&cache)).unwrap();
                    assert_eq!(used, CacheUse::Stored);
                    ring
                },
                criterion::BatchSize::PerIteration,
            )
        });
        load_lookup_ring_cached(&path, Some(&cache)).unwrap();
        group.bench_function(format!("load_lookup_ring cache hit {name}"), |b| {
            b.iter(|| {
                let (ring, used) = load_lookup_ring_cached(&path, Some(&cache)).unwrap();
                assert_eq!(used, CacheUse::Hit);
                ring
            })
        });
        group.bench_function(format!("load_ring {name}"), |b| {
            b.iter(|| load_ring(&path).unwrap())
        });
        group.bench_function(format!("decode_ring_compact {name}"), |b| {
            b.iter(|| codec::decode_ring_compact(&bytes).unwrap())
        });
        group.bench_function(format!("bare inflate zlib-rs {name}"), |b| {
            b.iter(|| bare_inflate(&bytes))
        });
        group.bench_function(format!("bare inflate libdeflate {name}"), |b| {
            b.iter(|| bare_libdeflate(&bytes))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
