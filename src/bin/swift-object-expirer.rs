//! swift-object-expirer: see `ferroswift::daemons::object_expirer`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::ExitCode::from(ferroswift::daemons::object_expirer::run(&args))
}
