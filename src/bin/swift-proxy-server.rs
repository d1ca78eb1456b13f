//! `swift-proxy-server CONFIG_FILE`: Swift's proxy server.
fn main() -> std::process::ExitCode {
    ferroswift::servers::proxy::main()
}
