//! Times `load_lookup_ring` (file to a ring ready for lookups) on one ring
//! file: `ring_load PATH [RUNS [MODE CACHE_DIR]]` prints the best and
//! median wall time and the median CPU time (this process, all threads) in
//! milliseconds (used by scripts/bench-ring-load). MODE says how the
//! decoded-ring cache in CACHE_DIR is used; without it, no cache at all:
//! - `first`: the ring's entry is removed before each (timed) load, which
//!   decodes the file and stores the entry, as a first load does;
//! - `hit`: one untimed load fills the cache, and every timed load must be
//!   served from it.

use std::path::PathBuf;
use std::time::Instant;

use ferroswift::conf::ring_cache::RingCache;
use ferroswift::conf::ring_file::{load_lookup_ring_cached, CacheUse};

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("{message}");
    std::process::exit(1);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: ring_load PATH [RUNS [first|hit CACHE_DIR]]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(30);
    let (want, cache) = match (args.next().as_deref(), args.next()) {
        (None, _) => (CacheUse::Off, None),
        (Some("first"), Some(dir)) => (CacheUse::Stored, Some(RingCache::at(dir))),
        (Some("hit"), Some(dir)) => (CacheUse::Hit, Some(RingCache::at(dir))),
        _ => fail("MODE is first or hit, followed by CACHE_DIR"),
    };
    if want == CacheUse::Hit {
        if let Err(e) = load_lookup_ring_cached(&path, cache.as_ref()) {
            fail(e);
        }
    }
    let mut times = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        if let (CacheUse::Stored, Some(cache)) = (want, &cache) {
            let _ = std::fs::remove_file(cache.entry(&path).path());
        }
        let cpu_start = cpu_ms();
        let start = Instant::now();
        let (ring, used) = match load_lookup_ring_cached(&path, cache.as_ref()) {
            Ok(loaded) => loaded,
            Err(e) => fail(e),
        };
        times.push(start.elapsed().as_secs_f64() * 1e3);
        cpu.push(cpu_ms() - cpu_start);
        if used != want {
            fail(format!("expected cache use {want:?}, got {used:?}"));
        }
        drop(ring);
    }
    times.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "best {:.3} median {:.3} cpu {:.3}",
        times[0],
        times[times.len() / 2],
        cpu[cpu.len() / 2]
    );
}

/// CPU time used by this process so far, in milliseconds.
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}
