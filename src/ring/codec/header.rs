//! Decoding the JSON parts of ring files (v1 header, v2 metadata, device
//! list) straight into typed values, leniently where Swift is lenient.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::RingFileError;
use crate::ring::Device;

/// A device as stored in a ring file. Unknown keys are ignored; keys that
/// old rings may lack get Swift's defaults.
#[derive(Deserialize)]
struct RawDevice {
    id: u32,
    region: Option<u32>,
    zone: u32,
    ip: String,
    port: u16,
    replication_ip: Option<String>,
    replication_port: Option<u16>,
    device: String,
    meta: Option<String>,
    weight: f64,
}

impl From<RawDevice> for Device {
    fn from(raw: RawDevice) -> Device {
        Device {
            id: raw.id,
            // Rings from before regions existed have none: Swift uses region 1.
            region: raw.region.unwrap_or(1),
            zone: raw.zone,
            replication_ip: raw.replication_ip.unwrap_or_else(|| raw.ip.clone()),
            replication_port: raw.replication_port.unwrap_or(raw.port),
            ip: raw.ip,
            port: raw.port,
            device: raw.device,
            meta: raw.meta.unwrap_or_default(),
            weight: raw.weight,
        }
    }
}

/// A device list: objects, with `null` for holes.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Devices(Vec<Option<RawDevice>>);

impl Devices {
    pub fn into_devices(self) -> Vec<Option<Device>> {
        self.0.into_iter().map(|d| d.map(Device::from)).collect()
    }
}

/// The v1 JSON header.
#[derive(Deserialize)]
pub struct V1Header {
    pub byteorder: Option<String>,
    pub devs: Devices,
    pub part_shift: u64,
    pub replica_count: u64,
    pub version: Option<u64>,
    pub next_part_power: Option<u64>,
}

/// The v2 `swift/ring/metadata` section (`replica_count` is implied by the table).
#[derive(Deserialize)]
pub struct V2Metadata {
    pub dev_id_bytes: u64,
    pub part_shift: u64,
    pub version: Option<u64>,
    pub next_part_power: Option<u64>,
}

/// Parses `bytes` as JSON of type `T`; `what` names it in errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, RingFileError> {
    serde_json::from_slice(bytes).map_err(|e| RingFileError::json(what, e))
}

/// `part_shift`, which must leave a partition power between 0 and 32.
pub fn part_shift(shift: u64) -> Result<u32, RingFileError> {
    if shift > 32 {
        return Err(RingFileError::Header(format!(
            "part_shift {shift} is above 32"
        )));
    }
    Ok(shift as u32)
}

/// `next_part_power`, if set, which must be at most 32.
pub fn next_part_power(power: Option<u64>) -> Result<Option<u32>, RingFileError> {
    match power {
        Some(p) if p > 32 => Err(RingFileError::Header(format!(
            "next_part_power {p} is above 32"
        ))),
        p => Ok(p.map(|p| p as u32)),
    }
}
