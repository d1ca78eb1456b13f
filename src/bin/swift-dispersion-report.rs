//! swift-dispersion-report: see `ferroswift::cli::dispersion::report`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let tty = err.is_terminal();
    let code = ferroswift::cli::dispersion::report::main(
        std::env::args_os().collect(),
        &mut out,
        &mut err,
        tty,
    );
    let _ = out.flush();
    ExitCode::from(code)
}
