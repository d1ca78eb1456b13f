//! Times `load_lookup_ring` (file to a ring ready for lookups) on one ring
//! file: `ring_load PATH [RUNS]` prints the best and median wall time and
//! the median CPU time (this process, all threads) in milliseconds (used by
//! scripts/bench-ring-load).

use std::time::Instant;

use ferroswift::conf::ring_file::load_lookup_ring;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: ring_load PATH [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(30);
    let mut times = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let cpu_start = cpu_ms();
        let start = Instant::now();
        let ring = match load_lookup_ring(&path) {
            Ok(ring) => ring,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        times.push(start.elapsed().as_secs_f64() * 1e3);
        cpu.push(cpu_ms() - cpu_start);
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
