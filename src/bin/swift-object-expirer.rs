//! swift-object-expirer: see `ferroswift::daemons::object_expirer`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ferroswift::daemons::object_expirer::main())
}
