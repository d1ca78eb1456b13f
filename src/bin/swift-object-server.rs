//! `swift-object-server CONFIG`: Swift's object server.

/// Servers allocate and free many small buffers per request; mimalloc
/// does that with less CPU than the system allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferroswift::servers::harness::main(ferroswift::servers::ServerKind::Object)
}
