//! The I/O edge: `swift.conf`, ring files on disk, atomic saves.

pub mod atomic_file;
pub mod builder_file;
pub mod proxy_conf;
pub mod ring_cache;
pub mod ring_file;
pub mod ring_handle;
pub mod ring_memory;
pub mod server_conf;
pub mod swift_conf;
