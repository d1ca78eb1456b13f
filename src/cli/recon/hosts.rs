//! Which hosts swift-recon asks: every `(ip, port)` of the devices in the
//! rings of the chosen server type (and storage policy), filtered by region
//! and zone, sorted so output order is stable.

use crate::conf::ring_file::load_ring;
use crate::ops::drive_audit::parse_section;
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

/// One storage policy from swift.conf: index, name and aliases.
#[derive(Debug, Clone, PartialEq)]
struct Policy {
    index: u32,
    name: String,
    aliases: Vec<String>,
}

/// Policies in `<swift_dir>/swift.conf`; policy 0 alone when none is defined.
fn policies(swift_dir: &Path) -> Result<Vec<Policy>, HostsError> {
    let path = swift_dir.join("swift.conf");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(idx) = line
            .trim()
            .strip_prefix("[storage-policy:")
            .and_then(|s| s.strip_suffix(']'))
        else {
            continue;
        };
        let index: u32 = idx.parse().map_err(|_| {
            HostsError::SwiftConf(format!("{}: bad policy index {idx:?}", path.display()))
        })?;
        let section = format!("storage-policy:{idx}");
        let entries = parse_section(&text, &path, &section)
            .map_err(|e| HostsError::SwiftConf(e.to_string()))?;
        let get = |k: &str| {
            entries
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let name = get("name").unwrap_or_else(|| format!("Policy-{index}"));
        let mut aliases = vec![name.clone()];
        for a in get("aliases").unwrap_or_default().split(',') {
            let a = a.trim();
            if !a.is_empty() && !aliases.iter().any(|x| x == a) {
                aliases.push(a.to_string());
            }
        }
        out.push(Policy {
            index,
            name,
            aliases,
        });
    }
    if out.is_empty() {
        out.push(Policy {
            index: 0,
            name: "Policy-0".into(),
            aliases: vec!["Policy-0".into()],
        });
    }
    out.sort_by_key(|p| p.index);
    Ok(out)
}

/// Ring names (`object`, `object-1`, `container`, …) for a server type,
/// restricted to one policy (by name, alias or index) for object servers.
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
                p.name == w
                    || (w.bytes().all(|b| b.is_ascii_digit()) && w.parse() == Ok(p.index))
                    || p.aliases.iter().any(|a| a == w)
            }
        })
        .map(|p| {
            if p.index == 0 {
                "object".to_string()
            } else {
                format!("object-{}", p.index)
            }
        })
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
