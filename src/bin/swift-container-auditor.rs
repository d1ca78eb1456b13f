//! swift-container-auditor: see `ferroswift::daemons::db_auditor`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::ExitCode::from(ferroswift::daemons::db_auditor::run_container(&args))
}
