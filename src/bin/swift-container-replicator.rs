//! swift-container-replicator: see `ferroswift::daemons::db_replicator`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ferroswift::daemons::db_replicator::container_main())
}
