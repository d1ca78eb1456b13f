//! `swift-all-in-one`: a whole Swift cluster on 127.0.0.1 in one command.
fn main() -> std::process::ExitCode {
    ferroswift::aio::main()
}
