//! swift-object-updater: see `ferroswift::daemons::object_updater`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ferroswift::daemons::object_updater::main())
}
