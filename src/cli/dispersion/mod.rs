//! swift-dispersion-populate and swift-dispersion-report: options as
//! Swift's (long options may be abbreviated, as optparse allows), the
//! configuration file as the optional last argument, output as Swift's.

pub mod populate;
mod progress;
pub mod report;

use std::ffi::OsString;
use std::io::Write;

/// Parses argv with clap; on `--help` prints it and returns `Err(0)`, on a
/// bad option prints the error and returns `Err(code)`.
fn parse<T: clap::Parser>(
    argv: Vec<OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    error_code: u8,
) -> Result<T, u8> {
    match T::try_parse_from(argv) {
        Ok(a) => Ok(a),
        Err(e) if !e.use_stderr() => {
            let _ = write!(out, "{e}");
            Err(0)
        }
        Err(e) => {
            let _ = write!(err, "{e}");
            Err(error_code)
        }
    }
}
