//! The single-core MD5 ceiling of an object PUT: `md5_speed FILE [RUNS]`
//! hashes the file's bytes (already in memory) with the MD5 the object
//! server uses (the `md-5` crate), fed in 1 MiB pieces as a PUT feeds it,
//! and prints the best MB/s (used by scripts/bench-object-server and
//! bench-proxy).

use std::time::Instant;

use md5::{Digest, Md5};

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
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let mut h = Md5::new();
        std::hint::black_box(&data)
            .chunks(1 << 20)
            .for_each(|c| h.update(c));
        std::hint::black_box(h.finalize());
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{:.0}", data.len() as f64 / best / 1e6);
}
