//! swift-dispersion-report: see `ferroswift::cli::dispersion::report`.

fn main() -> std::process::ExitCode {
    ferroswift::cli::dispersion::run_process(ferroswift::cli::dispersion::report::main)
}
