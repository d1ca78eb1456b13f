//! `swift-object-server CONFIG`: Swift's object server.
fn main() -> std::process::ExitCode {
    ferroswift::servers::harness::main(ferroswift::servers::ServerKind::Object)
}
