//! swift-container-replicator: see `ferroswift::daemons::db_replicator`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::ExitCode::from(ferroswift::daemons::db_replicator::run_container(&args))
}
