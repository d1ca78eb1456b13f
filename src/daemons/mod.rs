//! Background daemons: recon-cron, replicators, auditors, updaters, the
//! expirer and the account reaper.
//!
//! They share one configuration reader (`conf`: `[DEFAULT]` plus the
//! daemon's own section, as Swift's `readconf`) and one runner (`runner`:
//! `-o/--once`, the `interval` loop, logging). Each daemon module holds only
//! its pass over the devices and the recon cache entries it writes.

pub mod account_reaper;
pub mod cluster;
pub mod conf;
pub mod container_updater;
pub mod db_auditor;
pub mod db_replicator;
pub mod object_auditor;
pub mod object_expirer;
pub mod object_replicator;
pub mod object_updater;
pub mod priority;
pub mod recon_cron;
pub mod runner;
pub mod walk;

/// A daemon binary's entry point by name, taking the arguments after the
/// program name (the all-in-one cluster runs daemons from its own executable).
pub fn entry(name: &str) -> Option<fn(&[String]) -> u8> {
    let f: fn(&[String]) -> u8 = match name {
        "swift-object-auditor" => object_auditor::run,
        "swift-object-updater" => object_updater::run,
        "swift-object-replicator" => object_replicator::main_with,
        "swift-container-updater" => container_updater::run,
        "swift-container-auditor" => db_auditor::run_container,
        "swift-account-auditor" => db_auditor::run_account,
        "swift-container-replicator" => db_replicator::run_container,
        "swift-account-replicator" => db_replicator::run_account,
        "swift-object-expirer" => object_expirer::run,
        "swift-account-reaper" => account_reaper::run,
        _ => return None,
    };
    Some(f)
}

/// Why a daemon could not start or finish its pass.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot read {path}: {source}")]
    ReadConf {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("Unable to find {section} config section in {path}")]
    MissingSection {
        section: String,
        path: std::path::PathBuf,
    },
    #[error("{path}: bad value {value:?} for {key}")]
    BadValue {
        path: std::path::PathBuf,
        key: String,
        value: String,
    },
    #[error("{0}")]
    Conf(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("recon cache: {0}")]
    Cache(#[from] crate::recon::cache::CacheError),
    #[error("{0}")]
    Other(String),
}
