//! A storage device as the ring and its files describe it.

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
}
