//! swift-container-updater: see `ferroswift::daemons::container_updater`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ferroswift::daemons::container_updater::main())
}
