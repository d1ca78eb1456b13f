//! Decoding the JSON parts of ring files (v1 header, v2 metadata, device
//! list) into typed values, leniently where Swift is lenient.

use serde_json::{Map, Value};

use super::error::RingFileError;
use crate::ring::Device;

/// Parses `bytes` as a JSON object; `what` names it in errors.
pub fn parse_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, RingFileError> {
    match serde_json::from_slice(bytes).map_err(|e| RingFileError::json(what, e))? {
        Value::Object(map) => Ok(map),
        _ => Err(RingFileError::Header(format!(
            "{what} is not a JSON object"
        ))),
    }
}

/// A required non-negative integer key.
pub fn req_uint(map: &Map<String, Value>, key: &str) -> Result<u64, RingFileError> {
    opt_uint(map, key)?.ok_or_else(|| RingFileError::Header(format!("missing key {key:?}")))
}

/// An optional non-negative integer key; absent and `null` are both `None`.
pub fn opt_uint(map: &Map<String, Value>, key: &str) -> Result<Option<u64>, RingFileError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            RingFileError::Header(format!("{key:?} is not a non-negative integer: {v}"))
        }),
    }
}

/// `part_shift`, which must leave a partition power between 0 and 32.
pub fn part_shift(map: &Map<String, Value>) -> Result<u32, RingFileError> {
    let shift = req_uint(map, "part_shift")?;
    if shift > 32 {
        return Err(RingFileError::Header(format!(
            "part_shift {shift} is above 32"
        )));
    }
    Ok(shift as u32)
}

/// `next_part_power`, if set.
pub fn next_part_power(map: &Map<String, Value>) -> Result<Option<u32>, RingFileError> {
    match opt_uint(map, "next_part_power")? {
        Some(p) if p > 32 => Err(RingFileError::Header(format!(
            "next_part_power {p} is above 32"
        ))),
        p => Ok(p.map(|p| p as u32)),
    }
}

/// Decodes the device list: objects, with `null` for holes.
pub fn devices(value: &Value) -> Result<Vec<Option<Device>>, RingFileError> {
    let list = value
        .as_array()
        .ok_or_else(|| RingFileError::Header("the device list is not a JSON array".into()))?;
    list.iter()
        .enumerate()
        .map(|(index, v)| match v {
            Value::Null => Ok(None),
            Value::Object(map) => device(map)
                .map(Some)
                .map_err(|problem| RingFileError::Device { index, problem }),
            other => Err(RingFileError::Device {
                index,
                problem: format!("not an object or null: {other}"),
            }),
        })
        .collect()
}

/// Parses a device list blob (v2 `swift/ring/devices`).
pub fn devices_blob(bytes: &[u8]) -> Result<Vec<Option<Device>>, RingFileError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| RingFileError::json("device list", e))?;
    devices(&value)
}

fn device(map: &Map<String, Value>) -> Result<Device, String> {
    let uint = |key: &str, max: u64| -> Result<Option<u64>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(format!("{key:?} is not an integer in 0..={max}: {v}")),
            },
        }
    };
    let string = |key: &str| -> Result<Option<String>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(format!("{key:?} is not a string: {v}")),
        }
    };
    let missing = |key: &str| format!("missing key {key:?}");
    let u32max = u64::from(u32::MAX);
    let u16max = u64::from(u16::MAX);
    let ip = string("ip")?.ok_or_else(|| missing("ip"))?;
    let port = uint("port", u16max)?.ok_or_else(|| missing("port"))? as u16;
    let weight = match map.get("weight") {
        Some(v) => v
            .as_f64()
            .ok_or_else(|| format!("\"weight\" is not a number: {v}"))?,
        None => return Err(missing("weight")),
    };
    Ok(Device {
        id: uint("id", u32max)?.ok_or_else(|| missing("id"))? as u32,
        // Rings from before regions existed have none: Swift treats them as region 1.
        region: uint("region", u32max)?.unwrap_or(1) as u32,
        zone: uint("zone", u32max)?.ok_or_else(|| missing("zone"))? as u32,
        replication_ip: string("replication_ip")?.unwrap_or_else(|| ip.clone()),
        replication_port: uint("replication_port", u16max)?.map_or(port, |p| p as u16),
        ip,
        port,
        device: string("device")?.ok_or_else(|| missing("device"))?,
        meta: string("meta")?.unwrap_or_default(),
        weight,
    })
}
