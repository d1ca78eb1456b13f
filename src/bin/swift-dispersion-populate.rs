//! swift-dispersion-populate: see `ferroswift::cli::dispersion::populate`.

fn main() -> std::process::ExitCode {
    ferroswift::cli::dispersion::run_process(ferroswift::cli::dispersion::populate::main)
}
