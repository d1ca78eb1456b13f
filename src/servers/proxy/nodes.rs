//! Storage nodes as the proxy sees them: addresses, error limiting, and the
//! order in which a request tries them (primaries, then handoffs, with
//! optional read/write affinity).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ring::Device;

/// One device of a ring, owned so it can outlive a ring reload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    pub ip: String,
    pub port: u16,
    pub device: String,
    pub region: u32,
    pub zone: u32,
}

impl NodeAddr {
    pub fn from_device(d: &Device) -> NodeAddr {
        NodeAddr {
            ip: d.ip.clone(),
            port: d.port,
            device: d.device.clone(),
            region: d.region,
            zone: d.zone,
        }
    }

    /// `ip:port`, bracketing IPv6 addresses.
    pub fn host(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.port)
        } else {
            format!("{}:{}", self.ip, self.port)
        }
    }
}

/// Counts errors per node and suppresses nodes with too many recent errors
/// (`error_suppression_limit` errors within `error_suppression_interval`).
pub struct ErrorLimiter {
    limit: u32,
    interval: Duration,
    state: Mutex<HashMap<(String, String), (u32, Instant)>>,
}

impl ErrorLimiter {
    pub fn new(limit: u32, interval: Duration) -> Self {
        ErrorLimiter {
            limit,
            interval,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn key(n: &NodeAddr) -> (String, String) {
        (n.host(), n.device.clone())
    }

    /// Whether the node is currently suppressed.
    pub fn is_limited(&self, n: &NodeAddr) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        let key = Self::key(n);
        match st.get(&key) {
            Some(&(_, last)) if last.elapsed() > self.interval => {
                st.remove(&key);
                false
            }
            Some(&(count, _)) => count > self.limit,
            None => false,
        }
    }

    /// Records one error against the node.
    pub fn error(&self, n: &NodeAddr, why: &str) {
        if let Ok(mut st) = self.state.lock() {
            let e = st.entry(Self::key(n)).or_insert((0, Instant::now()));
            e.0 += 1;
            e.1 = Instant::now();
            tracing::warn!("error with node {}/{}: {why}", n.host(), n.device);
        }
    }

    /// Suppresses the node at once (e.g. it answered 507).
    pub fn limit_now(&self, n: &NodeAddr, why: &str) {
        if let Ok(mut st) = self.state.lock() {
            st.insert(Self::key(n), (self.limit + 1, Instant::now()));
            tracing::warn!("node {}/{} error limited: {why}", n.host(), n.device);
        }
    }
}

/// `sorting_method = affinity` plus `read_affinity = r1z1=100, r1=200`:
/// lower values are tried first; nodes matching no rule go last.
#[derive(Debug, Clone, Default)]
pub struct Affinity {
    read: Vec<(u32, Option<u32>, u32)>,
    write: Vec<(u32, Option<u32>)>,
    pub write_node_count: Option<String>,
    pub shuffle: bool,
}

fn parse_tier(s: &str) -> Option<(u32, Option<u32>)> {
    let s = s.trim().strip_prefix('r')?;
    match s.split_once('z') {
        Some((r, z)) => Some((r.parse().ok()?, Some(z.parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

impl Affinity {
    /// From the proxy options; an error message for unparsable rules.
    pub fn from_conf(
        sorting: Option<&str>,
        read: Option<&str>,
        write: Option<&str>,
        write_count: Option<&str>,
    ) -> Result<Affinity, String> {
        let mut a = Affinity {
            shuffle: sorting.is_none_or(|s| s.trim().eq_ignore_ascii_case("shuffle")),
            write_node_count: write_count.map(str::to_string),
            ..Affinity::default()
        };
        let use_read = sorting.is_some_and(|s| s.trim().eq_ignore_ascii_case("affinity"));
        if let (true, Some(read)) = (use_read, read) {
            for rule in read.split(',').filter(|r| !r.trim().is_empty()) {
                let (tier, prio) = rule
                    .split_once('=')
                    .ok_or_else(|| format!("invalid read_affinity rule {rule:?}"))?;
                let (r, z) =
                    parse_tier(tier).ok_or_else(|| format!("invalid read_affinity {rule:?}"))?;
                let p = prio
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid read_affinity priority {rule:?}"))?;
                a.read.push((r, z, p));
            }
        }
        if let Some(write) = write {
            for rule in write.split(',').filter(|r| !r.trim().is_empty()) {
                a.write.push(
                    parse_tier(rule).ok_or_else(|| format!("invalid write_affinity {rule:?}"))?,
                );
            }
        }
        Ok(a)
    }

    fn read_priority(&self, n: &NodeAddr) -> u32 {
        self.read
            .iter()
            .filter(|(r, z, _)| *r == n.region && z.is_none_or(|z| z == n.zone))
            .map(|&(_, _, p)| p)
            .min()
            .unwrap_or(u32::MAX)
    }

    /// Orders primaries for a read.
    pub fn sort_for_read(&self, nodes: &mut [NodeAddr]) {
        if !self.read.is_empty() {
            nodes.sort_by_key(|n| self.read_priority(n));
        } else if self.shuffle && nodes.len() > 1 {
            let k = rand::random::<usize>() % nodes.len();
            nodes.rotate_left(k);
        }
    }

    /// Whether a node is local for writes (no rules: every node is).
    pub fn is_local_write(&self, n: &NodeAddr) -> bool {
        self.write.is_empty()
            || self
                .write
                .iter()
                .any(|(r, z)| *r == n.region && z.is_none_or(|z| z == n.zone))
    }

    /// With write affinity, the nodes to try for a write: local primaries and
    /// local handoffs first (up to `write_affinity_node_count`), then the rest.
    pub fn order_for_write(&self, primaries: &[NodeAddr], handoffs: &[NodeAddr]) -> Vec<NodeAddr> {
        let mut all: Vec<NodeAddr> = primaries.iter().chain(handoffs).cloned().collect();
        if self.write.is_empty() {
            return all;
        }
        let replicas = primaries.len().max(1);
        let count = match self.write_node_count.as_deref().map(str::trim) {
            Some(s) if s.ends_with("* replicas") => {
                s.trim_end_matches("* replicas")
                    .trim()
                    .parse::<usize>()
                    .unwrap_or(2)
                    * replicas
            }
            Some(s) => s.parse().unwrap_or(2 * replicas),
            None => 2 * replicas,
        };
        let (mut local, mut rest) = (Vec::new(), Vec::new());
        for (i, n) in all.drain(..).enumerate() {
            if i < count && self.is_local_write(&n) {
                local.push(n);
            } else {
                rest.push(n);
            }
        }
        local.append(&mut rest);
        local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(region: u32, zone: u32, port: u16) -> NodeAddr {
        NodeAddr {
            ip: "127.0.0.1".into(),
            port,
            device: "d".into(),
            region,
            zone,
        }
    }

    #[test]
    fn limiter_and_affinity() {
        let l = ErrorLimiter::new(2, Duration::from_secs(60));
        let n = node(1, 1, 1);
        for _ in 0..3 {
            assert!(!l.is_limited(&n));
            l.error(&n, "x");
        }
        assert!(l.is_limited(&n));
        let a = Affinity::from_conf(Some("affinity"), Some("r2=100, r1z2=50"), Some("r1"), None)
            .unwrap();
        let mut nodes = vec![node(1, 1, 1), node(2, 1, 2), node(1, 2, 3)];
        a.sort_for_read(&mut nodes);
        assert_eq!(nodes.iter().map(|n| n.port).collect::<Vec<_>>(), [3, 2, 1]);
        let order = a.order_for_write(&[node(2, 1, 1), node(1, 1, 2)], &[node(1, 3, 3)]);
        assert_eq!(order.iter().map(|n| n.port).collect::<Vec<_>>(), [2, 3, 1]);
        assert!(Affinity::from_conf(Some("affinity"), Some("x=1"), None, None).is_err());
    }
}
