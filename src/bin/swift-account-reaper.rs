//! swift-account-reaper: see `ferroswift::daemons::account_reaper`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ferroswift::daemons::account_reaper::main())
}
