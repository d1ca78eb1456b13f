//! Recon: the cache files daemons write, and the cluster-wide report that
//! `swift-recon` builds from every storage node's `/recon/*` answers.
//!
//! `cache` is shared by the daemons (writers) and the servers' recon
//! endpoints (readers); `report` is pure aggregation; `client` fetches.

pub mod cache;
pub mod client;
pub mod endpoint;
pub mod host;
pub mod pyfmt;
pub mod report;
