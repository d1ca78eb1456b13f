//! ferroswift: a Rust reimplementation of the OpenStack Swift toolchain.
//!
//! The crate is one library with many thin binaries (`src/bin/`). The ring
//! (`ring`) is pure computation over in-memory data; configuration and file
//! I/O live at the edge (`conf`); each command-line tool's logic lives in
//! `cli`, with the binaries only parsing argv and mapping errors to exit codes.

pub mod aio;
pub mod cli;
pub mod conf;
pub mod daemons;
pub mod ops;
pub mod recon;
pub mod ring;
pub mod servers;
pub mod storage;
