//! The oldest async pendings that failed, per account/container (Swift's
//! `OldestAsyncPendingTracker`), and the recon entries built from them:
//! `object_updater_per_device` for each device and the aggregate
//! `object_updater_stats` across devices.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// Oldest failure timestamp per `(account, container)`, keeping at most
/// `max_entries` (the newest are dropped first).
#[derive(Debug, Clone)]
pub struct OldestTracker {
    max_entries: usize,
    /// Sorted by timestamp.
    sorted: Vec<(f64, String, String)>,
    by_ac: HashMap<(String, String), f64>,
}

impl OldestTracker {
    pub fn new(max_entries: usize) -> Self {
        OldestTracker {
            max_entries,
            sorted: Vec::new(),
            by_ac: HashMap::new(),
        }
    }

    fn insert_sorted(&mut self, e: (f64, String, String)) {
        let at = self.sorted.partition_point(|x| x.0 <= e.0);
        self.sorted.insert(at, e);
    }

    pub fn add(&mut self, account: &str, container: &str, ts: f64) {
        let ac = (account.to_string(), container.to_string());
        match self.by_ac.get(&ac).copied() {
            Some(old) if ts < old => {
                self.sorted
                    .retain(|(t, a, c)| !(*t == old && *a == ac.0 && *c == ac.1));
                self.insert_sorted((ts, ac.0.clone(), ac.1.clone()));
                self.by_ac.insert(ac, ts);
            }
            Some(_) => {}
            None => {
                self.insert_sorted((ts, ac.0.clone(), ac.1.clone()));
                self.by_ac.insert(ac, ts);
            }
        }
        if self.by_ac.len() > self.max_entries {
            if let Some((_, a, c)) = self.sorted.pop() {
                self.by_ac.remove(&(a, c));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_ac.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ac.is_empty()
    }

    pub fn oldest(&self) -> Option<f64> {
        self.sorted.first().map(|e| e.0)
    }

    /// `{oldest_count, oldest_entries: [{timestamp, account, container}]}`.
    pub fn n_oldest(&self, n: usize) -> Value {
        let entries: Vec<Value> = self
            .sorted
            .iter()
            .take(n)
            .map(|(t, a, c)| json!({"timestamp": t, "account": a, "container": c}))
            .collect();
        json!({"oldest_count": entries.len(), "oldest_entries": entries})
    }

    /// Bytes held by the tracker (an estimate: names plus per-entry overhead).
    pub fn memory_usage(&self) -> f64 {
        let names: usize = self.sorted.iter().map(|(_, a, c)| a.len() + c.len()).sum();
        (std::mem::size_of::<Self>() + 2 * names + self.sorted.len() * 160) as f64
    }

    /// One device's `object_updater_per_device` entry.
    pub fn device_stats(&self, now: f64, dump_count: usize) -> Value {
        json!({
            "failures_oldest_timestamp": self.oldest(),
            "failures_oldest_timestamp_age": self.oldest().map(|t| now - t),
            "failures_account_container_count": self.len(),
            "failures_oldest_timestamp_account_containers": self.n_oldest(dump_count),
            "tracker_memory_usage": self.memory_usage(),
        })
    }
}

/// The aggregate over devices (`object_updater_stats`), from the
/// per-device entries of the listed devices, as Swift combines them.
pub fn aggregate(per_device: &Map<String, Value>, dump_count: usize, workers: usize) -> Value {
    let stats: Vec<&Value> = per_device.values().collect();
    let f = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
    let mut entries: Vec<Value> = stats
        .iter()
        .filter_map(|s| {
            s.get("failures_oldest_timestamp_account_containers")?
                .get("oldest_entries")?
                .as_array()
                .cloned()
        })
        .flatten()
        .collect();
    entries.sort_by(|a, b| {
        let ta = a.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0);
        let tb = b.get("timestamp").and_then(Value::as_f64).unwrap_or(0.0);
        ta.total_cmp(&tb)
    });
    entries.truncate(dump_count);
    let count = stats
        .iter()
        .filter_map(|s| s.get("failures_account_container_count")?.as_u64())
        .max()
        .unwrap_or(0);
    let memory = if stats.is_empty() {
        json!(0)
    } else {
        let avg = stats
            .iter()
            .map(|s| f(s, "tracker_memory_usage").unwrap_or(0.0))
            .sum::<f64>()
            / stats.len() as f64;
        json!(avg * workers.clamp(1, stats.len()) as f64)
    };
    let oldest = stats
        .iter()
        .filter_map(|s| f(s, "failures_oldest_timestamp"))
        .reduce(f64::min);
    let age = stats
        .iter()
        .filter_map(|s| f(s, "failures_oldest_timestamp_age"))
        .reduce(f64::max);
    json!({
        "failures_account_container_count": count,
        "tracker_memory_usage": memory,
        "failures_oldest_timestamp": oldest,
        "failures_oldest_timestamp_age": age,
        "failures_oldest_timestamp_account_containers": {
            "oldest_count": entries.len(),
            "oldest_entries": entries,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_oldest_per_container() {
        let mut t = OldestTracker::new(2);
        t.add("a", "c1", 5.0);
        t.add("a", "c1", 3.0);
        t.add("a", "c1", 9.0);
        t.add("a", "c2", 4.0);
        t.add("a", "c3", 1.0); // over the limit: c2 (newest) goes
        assert_eq!(t.len(), 2);
        assert_eq!(t.oldest(), Some(1.0));
        assert_eq!(
            t.n_oldest(5)["oldest_entries"][1],
            json!({"timestamp": 3.0, "account": "a", "container": "c1"})
        );
    }

    #[test]
    fn aggregate_of_devices() {
        let mut t = OldestTracker::new(10);
        t.add("a", "c", 7.0);
        let mut per = Map::new();
        per.insert("sda".into(), t.device_stats(10.0, 5));
        per.insert("sdb".into(), OldestTracker::new(10).device_stats(10.0, 5));
        let agg = aggregate(&per, 5, 1);
        assert_eq!(agg["failures_oldest_timestamp"], json!(7.0));
        assert_eq!(agg["failures_oldest_timestamp_age"], json!(3.0));
        assert_eq!(agg["failures_account_container_count"], json!(1));
        assert_eq!(
            agg["failures_oldest_timestamp_account_containers"]["oldest_count"],
            json!(1)
        );
        let empty = aggregate(&Map::new(), 5, 1);
        assert_eq!(empty["failures_oldest_timestamp"], Value::Null);
        assert_eq!(empty["tracker_memory_usage"], json!(0));
    }
}
