//! Which hosts swift-recon asks: every `(ip, port)` of the devices in the
//! rings of the chosen server type (and storage policy), filtered by region
//! and zone, sorted so output order is stable.

use crate::conf::ring_file::load_ring;
use crate::conf::swift_conf::{StoragePolicies, StoragePolicy, SwiftConf, SwiftConfError};
use crate::recon::client::Host;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Why the hosts could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("{reason}")]
    Ring { path: PathBuf, reason: String },
    #[error("{0}")]
    SwiftConf(String),
}

/// Policies in `<swift_dir>/swift.conf`, by index; policy 0 alone when the
/// file cannot be read (Swift ignores a missing `swift.conf` here too).
fn policies(swift_dir: &Path) -> Result<Vec<StoragePolicy>, HostsError> {
    let policies = match SwiftConf::load(&swift_dir.join("swift.conf")) {
        Err(SwiftConfError::Io { .. }) => StoragePolicies::default(),
        Err(e) => return Err(HostsError::SwiftConf(e.to_string())),
        Ok(conf) => conf
            .policies()
            .map_err(|e| HostsError::SwiftConf(e.to_string()))?,
    };
    let mut out: Vec<StoragePolicy> = policies.iter().cloned().collect();
    out.sort_by_key(|p| p.index);
    Ok(out)
}

/// Ring names (`object`, `object-1`, `container`, …) for a server type,
/// restricted to one policy for object servers: by index, or by name or
/// alias (case-sensitive, as swift-recon compares them).
/// Empty when the policy matches nothing.
pub fn policy_ring_names(
    swift_dir: &Path,
    server_type: &str,
    policy: Option<&str>,
) -> Result<Vec<String>, HostsError> {
    if server_type != "object" {
        return Ok(vec![server_type.to_string()]);
    }
    let wanted = policy.filter(|p| !p.is_empty());
    Ok(policies(swift_dir)?
        .into_iter()
        .filter(|p| match wanted {
            None => true,
            Some(w) => {
                (w.bytes().all(|b| b.is_ascii_digit()) && w.parse() == Ok(p.index))
                    || p.names.iter().any(|n| n == w)
            }
        })
        .map(|p| p.ring_name())
        .collect())
}

/// Distinct `(ip, port)` of the devices in the named rings.
pub fn ring_hosts(
    swift_dir: &Path,
    ring_names: &[String],
    region: Option<u32>,
    zone: Option<u32>,
) -> Result<Vec<Host>, HostsError> {
    let mut hosts = BTreeSet::new();
    for name in ring_names {
        let path = swift_dir.join(format!("{name}.ring.gz"));
        let ring = load_ring(&path).map_err(|e| HostsError::Ring {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        for d in ring.devs.iter().flatten() {
            if region.is_some_and(|r| r != d.region) || zone.is_some_and(|z| z != d.zone) {
                continue;
            }
            hosts.insert(Host {
                ip: d.ip.clone(),
                port: d.port,
            });
        }
    }
    Ok(hosts.into_iter().collect())
}
