//! swift-recon: see `ferroswift::cli::recon`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let code = ferroswift::cli::recon::main(std::env::args_os().collect(), &mut out, &mut err);
    let _ = out.flush();
    ExitCode::from(code)
}
