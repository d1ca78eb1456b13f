//! What background daemons need to find things in the cluster: a ring with
//! the hash salt to look names up, which ring devices are this node's, and
//! a small HTTP client that talks Swift's backend protocol to storage nodes
//! (as Swift's `direct_client`).

use std::net::{IpAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use super::DaemonError;
use crate::conf::ring_file::load_lookup_ring;
use crate::conf::swift_conf::SwiftConf;
use crate::ring::hash::HashPathConf;
use crate::ring::{Device, Ring};
use crate::servers::http::quote;

/// A ring plus the `swift.conf` salt, for name lookups.
pub struct NamedRing {
    pub ring: Ring,
    pub hash: HashPathConf,
}

impl NamedRing {
    /// Loads `<swift_dir>/<name>.ring.gz` and `<swift_dir>/swift.conf`.
    pub fn load(swift_dir: &Path, name: &str) -> Result<NamedRing, DaemonError> {
        let conf = SwiftConf::load(&swift_dir.join("swift.conf"))
            .map_err(|e| DaemonError::Conf(e.to_string()))?;
        let hash = conf
            .hash_path_conf()
            .map_err(|e| DaemonError::Conf(e.to_string()))?;
        let ring = load_lookup_ring(swift_dir.join(format!("{name}.ring.gz")))
            .map_err(|e| DaemonError::Conf(e.to_string()))?;
        Ok(NamedRing { ring, hash })
    }

    /// Partition of an account, container or object.
    pub fn part(&self, a: &str, c: Option<&str>, o: Option<&str>) -> Option<u32> {
        self.ring.get_part(&self.hash, a, c, o).ok()
    }

    /// Primary devices of a partition (owned copies).
    pub fn primaries(&self, part: u32) -> Vec<Device> {
        self.ring
            .get_part_nodes(part)
            .into_iter()
            .map(|n| n.device.clone())
            .collect()
    }

    /// Partition and primaries of a name.
    pub fn nodes(&self, a: &str, c: Option<&str>, o: Option<&str>) -> Option<(u32, Vec<Device>)> {
        let part = self.part(a, c, o)?;
        Some((part, self.primaries(part)))
    }
}

fn wildcard(ip: &str) -> bool {
    matches!(ip, "" | "0.0.0.0" | "::" | "[::]")
}

/// Swift's `is_local_device`: the device's replication address is one of
/// ours (`bind_ip`, or any local address when it is a wildcard) and its
/// replication port is `bind_port`.
pub fn is_local(dev: &Device, bind_ip: &str, bind_port: u16) -> bool {
    dev.replication_port == bind_port && is_local_ip(&dev.replication_ip, bind_ip)
}

/// The account reaper's test of whether a ring device is ours: its
/// client-facing `ip` is one of ours (as [`is_local`] judges) and its
/// `port` is `bind_port` (any port when `bind_port` is 0).
pub fn is_local_client(dev: &Device, bind_ip: &str, bind_port: u16) -> bool {
    (bind_port == 0 || dev.port == bind_port) && is_local_ip(&dev.ip, bind_ip)
}

/// Whether `ip` is `bind_ip`, or any address of this host when `bind_ip`
/// is a wildcard (Swift's `whataremyips`).
fn is_local_ip(ip: &str, bind_ip: &str) -> bool {
    let ip = ip.trim_matches(|c| c == '[' || c == ']');
    if !wildcard(bind_ip) {
        return ip == bind_ip.trim_matches(|c| c == '[' || c == ']');
    }
    ip.parse::<IpAddr>()
        .is_ok_and(|addr| UdpSocket::bind((addr, 0)).is_ok())
}

/// `host:port` of a device's replication address.
pub fn repl_host(dev: &Device) -> String {
    if dev.replication_ip.contains(':') && !dev.replication_ip.starts_with('[') {
        format!("[{}]:{}", dev.replication_ip, dev.replication_port)
    } else {
        format!("{}:{}", dev.replication_ip, dev.replication_port)
    }
}

/// `host:port` of a device's client-facing address.
pub fn host(dev: &Device) -> String {
    if dev.ip.contains(':') && !dev.ip.starts_with('[') {
        format!("[{}]:{}", dev.ip, dev.port)
    } else {
        format!("{}:{}", dev.ip, dev.port)
    }
}

/// A backend answer: status and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// An HTTP client for storage nodes with Swift's two timeouts.
#[derive(Debug, Clone)]
pub struct Direct {
    client: reqwest::Client,
    node_timeout: Duration,
}

impl Direct {
    pub fn new(conn_timeout: Duration, node_timeout: Duration) -> Direct {
        let client = reqwest::Client::builder()
            .connect_timeout(conn_timeout.max(Duration::from_millis(10)))
            .pool_max_idle_per_host(4)
            .build()
            .unwrap_or_default();
        Direct {
            client,
            node_timeout,
        }
    }

    /// `method http://<host>/<device>/<part><path>?<query>` with `headers`
    /// and `body`; `timeout` overrides the node timeout.
    #[allow(clippy::too_many_arguments)] // mirrors a backend request line
    pub async fn request(
        &self,
        host: &str,
        device: &str,
        part: &str,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, String)],
        body: reqwest::Body,
        timeout: Option<Duration>,
    ) -> Result<Answer, String> {
        let mut url = format!("http://{host}/{}/{part}{}", quote(device), quote(path));
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self
            .client
            .request(method, &url)
            .timeout(timeout.unwrap_or(self.node_timeout))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// Wall-clock seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
