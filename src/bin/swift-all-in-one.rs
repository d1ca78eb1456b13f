//! `swift-all-in-one`: a whole Swift cluster on 127.0.0.1 in one command.

/// Servers allocate and free many small buffers per request; mimalloc
/// does that with less CPU than the system allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ferroswift::aio::main()
}
