//! The replicator's counters under Swift's names (`swift/obj/replicator.py`
//! `Stats`), summed over devices and written to the recon cache.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};

/// One device's (or the whole pass's) counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub attempted: u64,
    pub failure: u64,
    pub hashmatch: u64,
    pub remove: u64,
    /// Syncs started (Swift keeps the name from its rsync days).
    pub rsync: u64,
    pub success: u64,
    pub suffix_count: u64,
    pub suffix_hash: u64,
    pub suffix_sync: u64,
    /// ip → device → failures.
    pub failure_nodes: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    /// Counts one failure per (ip, device).
    pub fn add_failures(&mut self, failures: &HashSet<(String, String)>) {
        self.failure += failures.len() as u64;
        for (ip, dev) in failures {
            *self
                .failure_nodes
                .entry(ip.clone())
                .or_default()
                .entry(dev.clone())
                .or_default() += 1;
        }
    }

    /// Adds another set of counters into this one.
    pub fn merge(&mut self, o: &Stats) {
        self.attempted += o.attempted;
        self.failure += o.failure;
        self.hashmatch += o.hashmatch;
        self.remove += o.remove;
        self.rsync += o.rsync;
        self.success += o.success;
        self.suffix_count += o.suffix_count;
        self.suffix_hash += o.suffix_hash;
        self.suffix_sync += o.suffix_sync;
        for (ip, devs) in &o.failure_nodes {
            let mine = self.failure_nodes.entry(ip.clone()).or_default();
            for (d, n) in devs {
                *mine.entry(d.clone()).or_default() += n;
            }
        }
    }

    /// The `replication_stats` recon entry.
    pub fn to_recon(&self) -> Value {
        json!({
            "attempted": self.attempted,
            "failure": self.failure,
            "hashmatch": self.hashmatch,
            "remove": self.remove,
            "rsync": self.rsync,
            "success": self.success,
            "suffix_count": self.suffix_count,
            "suffix_hash": self.suffix_hash,
            "suffix_sync": self.suffix_sync,
            "failure_nodes": self.failure_nodes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_merge_per_node() {
        let mut a = Stats::default();
        a.add_failures(&[("1.2.3.4".to_string(), "sda".to_string())].into());
        let mut b = a.clone();
        b.add_failures(&[("1.2.3.4".to_string(), "sdb".to_string())].into());
        a.merge(&b);
        assert_eq!(a.failure, 3);
        assert_eq!(a.failure_nodes["1.2.3.4"]["sda"], 2);
        assert_eq!(a.to_recon()["failure_nodes"]["1.2.3.4"]["sdb"], 1);
    }
}
