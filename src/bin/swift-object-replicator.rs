//! swift-object-replicator: see `ferroswift::daemons::object_replicator`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ferroswift::daemons::object_replicator::main())
}
