//! Builder edits with Swift's semantics: creating a builder, adding,
//! searching and changing devices, replica count, overload, min_part_hours,
//! and the partition-power state machine. No clock, no I/O.

use super::{BuilderDevice, BuilderError, RingBuilder};
use crate::ring::{calc_dev_id_bytes, Device, RingData, NONE_DEV_2, NONE_DEV_4};

/// A device to add (Swift's `add_dev` dict). `id` picks the id; otherwise
/// the first hole, else the next index.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDevice {
    pub id: Option<u32>,
    pub region: u32,
    pub zone: u32,
    pub ip: String,
    pub port: u16,
    pub replication_ip: String,
    pub replication_port: u16,
    pub device: String,
    pub meta: String,
    pub weight: f64,
}

/// Search criteria (Swift's `search_devs` dict): every given field must
/// match; `meta` is a substring match; ips are compared normalized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DevFilter {
    pub id: Option<u32>,
    pub region: Option<u32>,
    pub zone: Option<u32>,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: Option<String>,
    pub weight: Option<f64>,
    pub meta: Option<String>,
}

impl RingBuilder {
    /// A new, empty builder (Swift's `RingBuilder(part_power, replicas, min_part_hours)`).
    pub fn new(part_power: i64, replicas: f64, min_part_hours: i64) -> Result<Self, BuilderError> {
        let invalid = |m: String| Err(BuilderError::InvalidValue(m));
        if part_power > 32 {
            return invalid(format!("part_power must be at most 32 (was {part_power})"));
        }
        if part_power < 0 {
            return invalid(format!("part_power must be at least 0 (was {part_power})"));
        }
        if replicas.is_nan() || replicas < 1.0 {
            return invalid(format!("replicas must be at least 1 (was {replicas:.6})"));
        }
        if !replicas.is_finite() {
            return invalid(format!("replicas must be finite (was {replicas})"));
        }
        if min_part_hours < 0 {
            return invalid(format!(
                "min_part_hours must be non-negative (was {min_part_hours})"
            ));
        }
        let min_part_hours = u32::try_from(min_part_hours)
            .map_err(|_| BuilderError::InvalidValue("min_part_hours is too large".into()))?;
        let part_power = part_power as u32;
        Ok(RingBuilder {
            part_power,
            next_part_power: None,
            replicas,
            min_part_hours,
            devs: Vec::new(),
            devs_changed: false,
            version: 0,
            overload: 0.0,
            replica2part2dev: None,
            dev_id_bytes: 2,
            last_part_moves_epoch: 0,
            last_part_moves: vec![0; 1usize << part_power],
            last_part_gather_start: 0,
            dispersion_graph: Default::default(),
            dispersion: Some(0.0),
            remove_devs: Vec::new(),
            id: None,
        })
    }

    /// Devices that exist (not holes).
    pub fn iter_devs(&self) -> impl Iterator<Item = &BuilderDevice> {
        self.devs.iter().flatten()
    }

    /// The device with id `id`, if any.
    pub fn dev(&self, id: u32) -> Option<&BuilderDevice> {
        self.devs.get(id as usize).and_then(Option::as_ref)
    }

    fn dev_mut(&mut self, id: u32) -> Result<&mut BuilderDevice, BuilderError> {
        self.devs
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or(BuilderError::NoSuchDevice(id))
    }

    /// Whether the device is queued for removal at the next rebalance.
    pub fn is_marked_for_removal(&self, id: u32) -> bool {
        self.remove_devs.contains(&id)
    }

    /// The sentinel for an unassigned slot at the current id width.
    pub fn none_dev_id(&self) -> u32 {
        if self.dev_id_bytes > 2 {
            NONE_DEV_4
        } else {
            NONE_DEV_2
        }
    }

    /// Changes the id width of the table, keeping unassigned slots unassigned.
    pub fn set_dev_id_bytes(&mut self, bytes: u8) {
        let (old, new) = (
            self.none_dev_id(),
            if bytes > 2 { NONE_DEV_4 } else { NONE_DEV_2 },
        );
        if let Some(rows) = self.replica2part2dev.as_mut() {
            for slot in rows.iter_mut().flatten() {
                if *slot == old {
                    *slot = new;
                }
            }
            self.dev_id_bytes = bytes;
        } else {
            self.dev_id_bytes = self.unassigned_id_bytes();
        }
    }

    /// Swift's width for a builder with no table yet: enough for the largest id.
    fn unassigned_id_bytes(&self) -> u8 {
        calc_dev_id_bytes(self.devs.len().saturating_sub(1).min(u32::MAX as usize) as u32)
    }

    /// Adds a device; returns its id. Bumps `version`, sets `devs_changed`.
    pub fn add_dev(&mut self, new: NewDevice) -> Result<u32, BuilderError> {
        let id = match new.id {
            Some(id) => id,
            None => match self.devs.iter().position(Option::is_none) {
                Some(hole) => hole as u32,
                None => u32::try_from(self.devs.len())
                    .map_err(|_| BuilderError::InvalidValue("Way too many devices!".into()))?,
            },
        };
        if id == u32::MAX {
            return Err(BuilderError::InvalidValue("Way too many devices!".into()));
        }
        if self.dev(id).is_some() {
            return Err(BuilderError::DuplicateDeviceId(id));
        }
        if !new.weight.is_finite() || new.weight < 0.0 {
            return Err(BuilderError::InvalidValue(format!(
                "Invalid weight {}",
                new.weight
            )));
        }
        if id >= self.none_dev_id() {
            self.set_dev_id_bytes(calc_dev_id_bytes(id));
        }
        if self.devs.len() <= id as usize {
            self.devs.resize(id as usize + 1, None);
        }
        self.devs[id as usize] = Some(BuilderDevice {
            dev: Device {
                id,
                region: new.region,
                zone: new.zone,
                ip: new.ip,
                port: new.port,
                replication_ip: new.replication_ip,
                replication_port: new.replication_port,
                device: new.device,
                meta: new.meta,
                weight: new.weight,
                extra: Default::default(),
            },
            parts: 0,
            parts_wanted: None,
        });
        if self.replica2part2dev.is_none() {
            self.dev_id_bytes = self.unassigned_id_bytes();
        }
        self.devs_changed = true;
        self.version += 1;
        Ok(id)
    }

    fn refuse_if_removing(&self, id: u32, what: &str) -> Result<(), BuilderError> {
        if self.is_marked_for_removal(id) {
            return Err(BuilderError::InvalidValue(format!(
                "Can not set {what} of dev_id {id} because it is marked for removal"
            )));
        }
        Ok(())
    }

    /// Sets a device's weight (refused for devices marked for removal).
    pub fn set_dev_weight(&mut self, id: u32, weight: f64) -> Result<(), BuilderError> {
        self.change_placement(id, "weight", |dev| {
            if !weight.is_finite() || weight < 0.0 {
                return Err(BuilderError::InvalidValue(format!(
                    "Invalid weight {weight}"
                )));
            }
            dev.weight = weight;
            Ok(())
        })
    }

    /// Sets a device's region (refused for devices marked for removal).
    pub fn set_dev_region(&mut self, id: u32, region: u32) -> Result<(), BuilderError> {
        self.change_placement(id, "region", |dev| {
            dev.region = region;
            Ok(())
        })
    }

    /// Sets a device's zone (refused for devices marked for removal).
    pub fn set_dev_zone(&mut self, id: u32, zone: u32) -> Result<(), BuilderError> {
        self.change_placement(id, "zone", |dev| {
            dev.zone = zone;
            Ok(())
        })
    }

    /// Changes what a device brings to placement (`what` names it in the
    /// refusal for a device marked for removal); the next rebalance sees it.
    fn change_placement(
        &mut self,
        id: u32,
        what: &str,
        change: impl FnOnce(&mut Device) -> Result<(), BuilderError>,
    ) -> Result<(), BuilderError> {
        self.refuse_if_removing(id, what)?;
        change(&mut self.dev_mut(id)?.dev)?;
        self.devs_changed = true;
        self.version += 1;
        Ok(())
    }

    /// Replaces a device's address, name and meta (`set_info`). Like Swift,
    /// neither `version` nor `devs_changed` changes: placement is unaffected.
    pub fn set_dev_info(&mut self, id: u32, info: DeviceInfo) -> Result<(), BuilderError> {
        let dev = &mut self.dev_mut(id)?.dev;
        dev.ip = info.ip;
        dev.port = info.port;
        dev.replication_ip = info.replication_ip;
        dev.replication_port = info.replication_port;
        dev.device = info.device;
        dev.meta = info.meta;
        Ok(())
    }

    /// Marks a device for removal at the next rebalance (weight becomes 0).
    pub fn remove_dev(&mut self, id: u32) -> Result<(), BuilderError> {
        self.dev_mut(id)?.dev.weight = 0.0;
        if !self.remove_devs.contains(&id) {
            self.remove_devs.push(id);
        }
        self.devs_changed = true;
        self.version += 1;
        Ok(())
    }

    /// Ids of the devices matching `filter`, in id order.
    pub fn search_devs(&self, filter: &DevFilter) -> Vec<u32> {
        self.iter_devs()
            .filter(|d| filter.matches(&d.dev))
            .map(|d| d.dev.id)
            .collect()
    }

    /// Changes the replica count; `devs_changed` is set only when the number
    /// of (partition, replica) slots changes.
    pub fn set_replicas(&mut self, replicas: f64) -> Result<(), BuilderError> {
        if !replicas.is_finite() || replicas < 1.0 {
            return Err(BuilderError::InvalidValue(
                "Replica count must be at least 1.".into(),
            ));
        }
        let parts = self.parts() as f64;
        if (parts * self.replicas) as u64 != (parts * replicas) as u64 {
            self.devs_changed = true;
        }
        self.replicas = replicas;
        Ok(())
    }

    /// Sets the overload factor (a fraction; 0.1 = 10%).
    pub fn set_overload(&mut self, overload: f64) -> Result<(), BuilderError> {
        if !overload.is_finite() || overload < 0.0 {
            return Err(BuilderError::InvalidValue(
                "Overload must be non-negative.".into(),
            ));
        }
        self.overload = overload;
        Ok(())
    }

    /// Sets `min_part_hours`.
    pub fn change_min_part_hours(&mut self, hours: u32) {
        self.min_part_hours = hours;
    }

    /// Lets every partition move at the next rebalance.
    pub fn pretend_min_part_hours_passed(&mut self) {
        self.last_part_moves_epoch = 0;
        self.last_part_moves.iter_mut().for_each(|m| *m = 0xff);
    }

    /// Sets `next_part_power = part_power + 1`; false if already set.
    pub fn prepare_increase_partition_power(&mut self) -> bool {
        if self.next_part_power.is_some_and(|n| n != 0) {
            return false;
        }
        self.next_part_power = Some(self.part_power + 1);
        self.version += 1;
        true
    }

    /// Doubles the partitions: partition `p` becomes `2p` and `2p+1` on the
    /// same devices. Only after `prepare_increase_partition_power`.
    pub fn increase_partition_power(&mut self) -> Result<bool, BuilderError> {
        if self.next_part_power != Some(self.part_power + 1) || self.part_power >= 32 {
            return Ok(false);
        }
        let Some(rows) = self.replica2part2dev.as_mut() else {
            return Err(BuilderError::Validation(
                "the builder has no partition assignments to split".into(),
            ));
        };
        for row in rows.iter_mut() {
            *row = row.iter().flat_map(|&d| [d, d]).collect();
        }
        for d in self.devs.iter_mut().flatten() {
            d.parts *= 2;
        }
        self.last_part_moves = self.last_part_moves.iter().flat_map(|&m| [m, m]).collect();
        self.part_power += 1;
        self.version += 1;
        Ok(true)
    }

    /// Sets `next_part_power` back to `part_power`; only before the increase.
    pub fn cancel_increase_partition_power(&mut self) -> bool {
        if self.next_part_power != Some(self.part_power + 1) {
            return false;
        }
        self.next_part_power = Some(self.part_power);
        self.version += 1;
        true
    }

    /// Clears `next_part_power` once the increase (or cancel) is done.
    pub fn finish_increase_partition_power(&mut self) -> bool {
        if self
            .next_part_power
            .is_some_and(|n| n != 0 && n == self.part_power)
        {
            self.next_part_power = None;
            self.version += 1;
            return true;
        }
        false
    }

    /// The ring this builder describes (Swift's `get_ring()`).
    pub fn get_ring(&self) -> RingData {
        let devs = self
            .devs
            .iter()
            .map(|d| d.as_ref().map(|d| d.dev.clone()))
            .collect();
        let (rows, next) = match &self.replica2part2dev {
            Some(rows) if !rows.is_empty() => (rows.clone(), self.next_part_power),
            _ => (Vec::new(), None),
        };
        RingData {
            devs,
            replica2part2dev: rows,
            part_shift: 32 - self.part_power,
            next_part_power: next,
            version: Some(self.version),
            dev_id_bytes: self.dev_id_bytes,
        }
    }

    /// Rebuilds a (lossy) builder from a ring, as `write_builder` does:
    /// no overload, dispersion or id, `last_part_moves` zeroed, parts
    /// counted from the table. `replicas` is what the ring file reports.
    pub fn from_ring(
        ring: &RingData,
        replicas: f64,
        min_part_hours: u32,
    ) -> Result<Self, BuilderError> {
        let part_power = ring.part_power();
        if part_power > 32 {
            return Err(BuilderError::InvalidValue(format!(
                "bad part shift {}",
                ring.part_shift
            )));
        }
        let parts = 1usize << part_power;
        let mut devs: Vec<Option<BuilderDevice>> = ring
            .devs
            .iter()
            .map(|d| {
                d.as_ref().map(|d| BuilderDevice {
                    dev: d.clone(),
                    parts: 0,
                    parts_wanted: Some(0),
                })
            })
            .collect();
        let none = if ring.dev_id_bytes > 2 {
            NONE_DEV_4
        } else {
            NONE_DEV_2
        };
        for &id in ring.replica2part2dev.iter().flatten() {
            match devs.get_mut(id as usize).and_then(Option::as_mut) {
                Some(d) => d.parts += 1,
                None if id == none => {}
                None => {
                    return Err(BuilderError::Validation(format!(
                        "the ring assigns a partition to unknown device {id}"
                    )))
                }
            }
        }
        let rows = if ring.replica2part2dev.is_empty() {
            None
        } else {
            Some(ring.replica2part2dev.clone())
        };
        Ok(RingBuilder {
            part_power,
            next_part_power: None,
            replicas,
            min_part_hours,
            devs,
            devs_changed: false,
            version: ring.version.unwrap_or(0),
            overload: 0.0,
            replica2part2dev: rows,
            dev_id_bytes: ring.dev_id_bytes,
            last_part_moves_epoch: 0,
            last_part_moves: vec![0; parts],
            last_part_gather_start: 0,
            dispersion_graph: Default::default(),
            dispersion: None,
            remove_devs: Vec::new(),
            id: None,
        })
    }
}

/// The fields `set_info` may change.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub ip: String,
    pub port: u16,
    pub replication_ip: String,
    pub replication_port: u16,
    pub device: String,
    pub meta: String,
}

impl DevFilter {
    /// Whether `dev` matches every criterion given.
    pub fn matches(&self, dev: &Device) -> bool {
        let eq = |want: &Option<u32>, have: u32| want.is_none_or(|w| w == have);
        let ip_eq = |want: &Option<String>, have: &str| {
            want.as_ref()
                .is_none_or(|w| normalize_address(have).as_deref() == Ok(w.as_str()))
        };
        eq(&self.id, dev.id)
            && eq(&self.region, dev.region)
            && eq(&self.zone, dev.zone)
            && ip_eq(&self.ip, &dev.ip)
            && self.port.is_none_or(|p| p == dev.port)
            && ip_eq(&self.replication_ip, &dev.replication_ip)
            && self
                .replication_port
                .is_none_or(|p| p == dev.replication_port)
            && self.device.as_ref().is_none_or(|d| *d == dev.device)
            && self.weight.is_none_or(|w| w == dev.weight)
            && self
                .meta
                .as_ref()
                .is_none_or(|m| dev.meta.contains(m.as_str()))
    }
}

/// Normalizes an IP address as Swift does: lowercase; IPv6 in its canonical
/// (`inet_ntop`) form. `Err` carries Swift's message.
pub fn normalize_ip(ip: &str) -> Result<String, String> {
    let lower = ip.to_lowercase();
    if lower.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(lower);
    }
    match lower.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => Ok(v6.to_string()),
        Err(_) => Err(format!("Invalid ip {ip}")),
    }
}

/// Like [`normalize_ip`] but also accepts host names (lowercased) and
/// bracketed IPv6 addresses.
pub fn normalize_address(address: &str) -> Result<String, String> {
    let inner = address.trim_start_matches('[').trim_end_matches(']');
    if address.starts_with('[') && address.ends_with(']') {
        return normalize_ip(inner);
    }
    let lower = inner.to_lowercase();
    if let Ok(ip) = normalize_ip(&lower) {
        return Ok(ip);
    }
    if is_valid_hostname(&lower) {
        return Ok(lower);
    }
    Err(format!("Invalid address {address}"))
}

/// Whether `ip` parses as an IPv6 address.
pub fn is_ipv6(ip: &str) -> bool {
    ip.parse::<std::net::Ipv6Addr>().is_ok()
}

fn is_valid_hostname(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    name.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(ip: &str) -> NewDevice {
        NewDevice {
            id: None,
            region: 1,
            zone: 1,
            ip: ip.into(),
            port: 6200,
            replication_ip: ip.into(),
            replication_port: 6200,
            device: "sda".into(),
            meta: String::new(),
            weight: 1.0,
        }
    }

    #[test]
    fn ids_fill_holes_and_widen() {
        let mut b = RingBuilder::new(4, 3.0, 1).unwrap();
        assert_eq!(b.add_dev(dev("10.0.0.1")).unwrap(), 0);
        assert_eq!(
            b.add_dev(NewDevice {
                id: Some(3),
                ..dev("10.0.0.2")
            })
            .unwrap(),
            3
        );
        assert_eq!(b.add_dev(dev("10.0.0.3")).unwrap(), 1);
        assert_eq!(b.version, 3);
        assert!(b.devs_changed);
        assert_eq!(
            b.add_dev(NewDevice {
                id: Some(3),
                ..dev("x")
            }),
            Err(BuilderError::DuplicateDeviceId(3))
        );
        b.replica2part2dev = Some(vec![vec![NONE_DEV_2; 16]; 3]);
        b.add_dev(NewDevice {
            id: Some(70_000),
            ..dev("10.0.0.4")
        })
        .unwrap();
        assert_eq!(b.dev_id_bytes, 4);
        assert!(b.replica2part2dev.as_ref().unwrap()[0]
            .iter()
            .all(|&d| d == NONE_DEV_4));
    }

    #[test]
    fn removal_blocks_edits() {
        let mut b = RingBuilder::new(4, 1.0, 1).unwrap();
        b.add_dev(dev("10.0.0.1")).unwrap();
        b.remove_dev(0).unwrap();
        assert_eq!(b.dev(0).unwrap().dev.weight, 0.0);
        let err = b.set_dev_weight(0, 2.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Can not set weight of dev_id 0 because it is marked for removal"
        );
        assert!(b.set_dev_zone(0, 2).is_err());
    }

    #[test]
    fn partition_power_steps() {
        let mut b = RingBuilder::new(2, 1.0, 1).unwrap();
        b.add_dev(dev("10.0.0.1")).unwrap();
        b.add_dev(dev("10.0.0.2")).unwrap();
        b.replica2part2dev = Some(vec![vec![0, 1, 1, 0]]);
        b.devs[0].as_mut().unwrap().parts = 2;
        b.devs[1].as_mut().unwrap().parts = 2;
        assert_eq!(b.increase_partition_power(), Ok(false));
        assert!(b.prepare_increase_partition_power());
        assert!(!b.prepare_increase_partition_power());
        assert_eq!(b.increase_partition_power(), Ok(true));
        assert_eq!(b.part_power, 3);
        assert_eq!(
            b.replica2part2dev.as_ref().unwrap()[0],
            vec![0, 0, 1, 1, 1, 1, 0, 0]
        );
        assert_eq!(b.dev(0).unwrap().parts, 4);
        assert_eq!(b.last_part_moves.len(), 8);
        assert!(!b.cancel_increase_partition_power());
        assert!(b.finish_increase_partition_power());
        assert_eq!(b.next_part_power, None);
        let ring = b.get_ring();
        assert_eq!(ring.part_shift, 29);
        let back = RingBuilder::from_ring(&ring, 1.0, 24).unwrap();
        assert_eq!(back.dev(1).unwrap().parts, 4);
        assert_eq!(back.dispersion, None);
    }

    #[test]
    fn replicas_change_marks_devs_changed_only_when_slots_change() {
        let mut b = RingBuilder::new(2, 3.0, 1).unwrap();
        b.set_replicas(3.1).unwrap();
        assert!(!b.devs_changed, "4 * 3.1 still truncates to 12 slots");
        b.set_replicas(3.25).unwrap();
        assert!(b.devs_changed);
        assert!(b.set_replicas(0.5).is_err());
        assert_eq!(normalize_ip("FE80:0:0::1"), Ok("fe80::1".into()));
        assert_eq!(
            normalize_address("Host-1.Example"),
            Ok("host-1.example".into())
        );
        assert!(normalize_address("bad_host").is_err());
    }
}
