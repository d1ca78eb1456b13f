//! swift-object-auditor: see `ferroswift::daemons::object_auditor`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ferroswift::daemons::object_auditor::main())
}
