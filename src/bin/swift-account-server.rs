//! `swift-account-server CONFIG`: Swift's account server.
fn main() -> std::process::ExitCode {
    ferroswift::servers::harness::main(ferroswift::servers::ServerKind::Account)
}
