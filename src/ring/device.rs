//! A storage device as the ring and its files describe it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One device entry of a ring (the builder adds `parts` / `parts_wanted`
/// on top of this; see the builder module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: u32,
    pub region: u32,
    pub zone: u32,
    pub ip: String,
    pub port: u16,
    pub replication_ip: String,
    pub replication_port: u16,
    pub device: String,
    #[serde(default)]
    pub meta: String,
    pub weight: f64,
    /// Keys this model does not know (from a ring file written by another
    /// tool or a newer Swift), kept as read so that writing the ring back
    /// keeps them. Sorted by key, as ring files store them.
    #[serde(flatten, default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}
