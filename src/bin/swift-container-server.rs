//! `swift-container-server CONFIG`: Swift's container server.
fn main() -> std::process::ExitCode {
    ferroswift::servers::harness::main(ferroswift::servers::ServerKind::Container)
}
