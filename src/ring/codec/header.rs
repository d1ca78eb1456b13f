//! Decoding the JSON parts of ring files (v1 header, v2 metadata, device
//! list) straight into typed values, leniently where Swift is lenient.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::error::RingFileError;
use crate::ring::Device;

/// A device as stored in a ring file. Keys that old rings may lack get
/// Swift's defaults; unknown keys are kept (`extra`) for writing back.
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
    extra: BTreeMap<String, Value>,
}

impl<'de> Deserialize<'de> for RawDevice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawDeviceVisitor)
    }
}

struct RawDeviceVisitor;

/// A map key, borrowed from the input unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Sets a field once, failing on a repeated key as serde's derive does.
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, key: &'static str) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(key));
    }
    Ok(())
}

impl<'de> Visitor<'de> for RawDeviceVisitor {
    type Value = RawDevice;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a device object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDevice, A::Error> {
        let (mut id, mut region, mut zone, mut ip, mut port) = (None, None, None, None, None);
        let (mut replication_ip, mut replication_port) = (None, None);
        let (mut device, mut meta, mut weight) = (None, None, None);
        let mut extra = BTreeMap::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match &*key {
                "id" => once(&mut id, map.next_value()?, "id")?,
                "region" => once(&mut region, map.next_value()?, "region")?,
                "zone" => once(&mut zone, map.next_value()?, "zone")?,
                "ip" => once(&mut ip, map.next_value()?, "ip")?,
                "port" => once(&mut port, map.next_value()?, "port")?,
                "replication_ip" => once(&mut replication_ip, map.next_value()?, "replication_ip")?,
                "replication_port" => {
                    once(&mut replication_port, map.next_value()?, "replication_port")?
                }
                "device" => once(&mut device, map.next_value()?, "device")?,
                "meta" => once(&mut meta, map.next_value()?, "meta")?,
                "weight" => once(&mut weight, map.next_value()?, "weight")?,
                _ => {
                    extra.insert(key.into_owned(), map.next_value()?);
                }
            }
        }
        let missing = |key| de::Error::missing_field(key);
        Ok(RawDevice {
            id: id.ok_or_else(|| missing("id"))?,
            region: region.flatten(),
            zone: zone.ok_or_else(|| missing("zone"))?,
            ip: ip.ok_or_else(|| missing("ip"))?,
            port: port.ok_or_else(|| missing("port"))?,
            replication_ip: replication_ip.flatten(),
            replication_port: replication_port.flatten(),
            device: device.ok_or_else(|| missing("device"))?,
            meta: meta.flatten(),
            weight: weight.ok_or_else(|| missing("weight"))?,
            extra,
        })
    }
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
            extra: raw.extra,
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
