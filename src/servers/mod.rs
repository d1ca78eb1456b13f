//! The storage servers: object, container and account, on one shared harness.
//!
//! `harness` owns config loading, binding, the `[pipeline:main]` filters
//! (healthcheck, recon), logging and graceful shutdown; `http` owns Swift's
//! header, path and status conventions. Each server module only turns
//! requests into calls on `crate::storage` and exposes a testable `app()`.
//! `target_io` (over `request_target`) is what every server, the proxy
//! included, reads its connections through: raw high bytes in a request
//! line reach the app percent-encoded instead of failing hyper's parser.

pub mod account;
pub mod container;
pub mod db_app;
pub mod db_replicate;
pub mod disk_reads;
pub mod harness;
pub mod http;
pub mod listing;
pub mod object;
mod object_expiring;
mod object_get;
pub mod options;
pub mod proxy;
pub mod request_target;
mod row_batch;
pub mod ssync;
pub mod target_io;
pub mod update;
pub mod workers;

pub use harness::ServerKind;
