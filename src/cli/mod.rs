//! Command-line tools: each tool's logic, writing to `impl Write`, returning an exit code.

pub mod dispersion;
pub mod drive_audit;
pub mod recon;

/// Exit codes shared by Swift's tools.
pub const EXIT_SUCCESS: u8 = 0;
pub const EXIT_WARNING: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
pub mod devspec;
pub mod get_nodes;
pub mod ring_builder;
