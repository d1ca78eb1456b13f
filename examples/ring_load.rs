//! Times `load_lookup_ring` (file to a ring ready for lookups) on one ring
//! file: `ring_load PATH [RUNS [CACHE_DIR]]` prints the best and median wall
//! time and the median CPU time (this process, all threads) in milliseconds
//! (used by scripts/bench-ring-load). Without CACHE_DIR every run decodes
//! the file (cold); with it, one untimed load fills the decoded-ring cache
//! and every timed run must be served from it (warm).

use std::path::PathBuf;
use std::time::Instant;

use ferroswift::conf::ring_file::{load_lookup_ring_cached, CacheUse};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: ring_load PATH [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(30);
    let cache = args.next().map(PathBuf::from);
    let want = if cache.is_some() {
        CacheUse::Hit
    } else {
        CacheUse::Off
    };
    if cache.is_some() {
        if let Err(e) = load_lookup_ring_cached(&path, cache.as_deref()) {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
    let mut times = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let cpu_start = cpu_ms();
        let start = Instant::now();
        let (ring, used) = match load_lookup_ring_cached(&path, cache.as_deref()) {
            Ok(loaded) => loaded,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        times.push(start.elapsed().as_secs_f64() * 1e3);
        cpu.push(cpu_ms() - cpu_start);
        if used != want {
            eprintln!("expected cache use {want:?}, got {used:?}");
            std::process::exit(1);
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
