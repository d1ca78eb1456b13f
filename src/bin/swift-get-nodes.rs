//! `swift-get-nodes`: thin binary; the tool lives in `ferroswift::cli::get_nodes`.

use std::io::{self, BufWriter};
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv = std::env::args_os().skip(1).collect();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut err = io::stderr().lock();
    ExitCode::from(ferroswift::cli::get_nodes::run(argv, &mut out, &mut err))
}
