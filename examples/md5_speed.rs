//! The single-core MD5 ceiling of an object PUT: `md5_speed FILE [RUNS]`
//! hashes the file's bytes (already in memory) with the object server's
//! MD5 (`storage::md5sum`) and with the `md-5` crate, and prints the best
//! MB/s of each (used by scripts/bench-object-server and bench-proxy).

use std::time::Instant;

use ferroswift::storage::md5sum::Md5Sum;
use md5::Digest;

fn best_mbps(data: &[u8], runs: usize, hash: impl Fn(&[u8]) -> [u8; 16]) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(hash(std::hint::black_box(data)));
        best = best.min(t.elapsed().as_secs_f64());
    }
    data.len() as f64 / best / 1e6
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: md5_speed FILE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("md5_speed: cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    // One MiB updates, as a PUT feeds its hasher.
    let ours = best_mbps(&data, runs, |d| {
        let mut h = Md5Sum::new();
        d.chunks(1 << 20).for_each(|c| h.update(c));
        h.finalize()
    });
    let crate_md5 = best_mbps(&data, runs, |d| {
        let mut h = md5::Md5::new();
        d.chunks(1 << 20).for_each(|c| h.update(c));
        h.finalize().into()
    });
    println!("{ours:.0} {crate_md5:.0}");
}
