//! swift-drive-audit: see `ferroswift::cli::drive_audit`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let code =
        ferroswift::cli::drive_audit::main(std::env::args_os().collect(), &mut out, &mut err);
    let _ = out.flush();
    ExitCode::from(code)
}
