//! swift-recon-cron: see `ferroswift::daemons::recon_cron`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    ExitCode::from(ferroswift::daemons::recon_cron::main(&args))
}
