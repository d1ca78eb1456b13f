//! `swift-get-nodes`: thin binary; the tool lives in `ferroswift::cli::get_nodes`.

use std::io::{self, BufWriter};
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv = std::env::args_os().skip(1).collect();
    // `-a` on a large ring prints thousands of lines: write them in few calls.
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut err = io::stderr().lock();
    ExitCode::from(ferroswift::cli::get_nodes::run(argv, &mut out, &mut err))
}
