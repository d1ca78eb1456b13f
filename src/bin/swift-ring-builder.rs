//! `swift-ring-builder`: thin binary; the tool lives in `ferroswift::cli::ring_builder`.

use std::io::{self, BufWriter, IsTerminal};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use ferroswift::cli::ring_builder::{run, Env};

fn main() -> ExitCode {
    let argv = std::env::args_os().skip(1).collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let env = Env {
        now,
        stderr_is_terminal: io::stderr().is_terminal(),
    };
    let mut input = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut err = io::stderr().lock();
    ExitCode::from(run(argv, env, &mut input, &mut out, &mut err))
}
