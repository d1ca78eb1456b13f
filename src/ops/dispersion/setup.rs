//! What both dispersion tools set up before any request: the storage
//! policy, the hash-path secrets and the rings from `swift_dir`, and a
//! logged-in proxy client.

use std::path::Path;
use std::time::Duration;

use super::conf::DispersionConf;
use super::proxy::{ProxyClient, ProxyError};
use super::Kind;
use crate::conf::ring_file::load_lookup_ring;
use crate::conf::swift_conf::{StoragePolicy, SwiftConf};
use crate::ring::hash::HashPathConf;
use crate::ring::Ring;

/// Why a tool could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("Unable to find policy: {0}")]
    NoPolicy(String),
    #[error("{0}")]
    SwiftConf(String),
    #[error("{0}")]
    Ring(String),
    #[error("{0}")]
    Proxy(#[from] ProxyError),
}

/// Policy and hash secrets from `<swift_dir>/swift.conf`.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub policy: StoragePolicy,
    pub hash: HashPathConf,
}

impl ClusterInfo {
    /// Reads `swift.conf` in `swift_dir`; `policy_name` (a name or alias,
    /// any case) picks the policy, the default one otherwise.
    pub fn load(swift_dir: &Path, policy_name: Option<&str>) -> Result<Self, SetupError> {
        let conf = SwiftConf::load(&swift_dir.join("swift.conf"))
            .map_err(|e| SetupError::SwiftConf(e.to_string()))?;
        let policies = conf
            .policies()
            .map_err(|e| SetupError::SwiftConf(e.to_string()))?;
        let policy = match policy_name {
            Some(n) => policies.get_by_name(n),
            None => policies.default_policy(),
        }
        .cloned()
        .ok_or_else(|| SetupError::NoPolicy(policy_name.unwrap_or("(default)").to_string()))?;
        let hash = conf
            .hash_path_conf()
            .map_err(|e| SetupError::SwiftConf(e.to_string()))?;
        Ok(ClusterInfo { policy, hash })
    }

    /// Loads, for lookups, the ring from `swift_dir` that places the
    /// sampled `kind`: the container ring, or the policy's object ring.
    pub fn open_ring(&self, swift_dir: &Path, kind: Kind) -> Result<Ring, SetupError> {
        let name = match kind {
            Kind::Container => "container".to_string(),
            Kind::Object => self.policy.ring_name(),
        };
        let path = swift_dir.join(format!("{name}.ring.gz"));
        load_lookup_ring(&path).map_err(|e| SetupError::Ring(e.to_string()))
    }
}

/// Logs in to the proxy with the configured credentials.
pub async fn login(conf: &DispersionConf) -> Result<ProxyClient, SetupError> {
    let timeout = conf.conn_timeout.max(Duration::from_secs(5)) + conf.node_timeout;
    Ok(ProxyClient::login(
        &conf.auth_url,
        &conf.auth_user,
        &conf.auth_key,
        &conf.auth_version,
        conf.retries,
        timeout,
    )
    .await?)
}

/// Partition of `/account/container[/object]` in `ring`.
pub fn part_of(ring: &Ring, hash: &HashPathConf, account: &str, c: &str, o: Option<&str>) -> u32 {
    // hash_path fails only for an object without a container.
    hash.hash_path(account, Some(c), o)
        .map_or(0, |d| ring.part_for_digest(&d))
}
