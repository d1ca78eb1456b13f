//! Lookups on a loaded ring: partition, primary nodes, handoff sequence.
//!
//! A [`Ring`] is built once from a [`RingData`] (validated, with tier tables
//! precomputed) and then only read: it is `Send + Sync` and every lookup
//! takes `&self`, so one ring serves many threads. Reloading a ring file when
//! it changes is the caller's business (`conf::ring_handle`). The handoff
//! search lives in `ring::handoffs`.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;

use thiserror::Error;

use super::codec::DecodedRing;
use super::handoffs::{Handoffs, TierIndex, LINEAR_BUDGET};
use super::hash::{part_from_digest, HashError, HashPathConf};
use super::part_table::PartTable;
use super::{Device, RingData};

/// Tier levels, coarse to fine: region, zone, ip, device.
pub(crate) const LEVELS: usize = 4;

/// Why a `RingData` cannot be used for lookups.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RingError {
    #[error("ring has no partition assignments")]
    NoAssignments,
    #[error("invalid part_shift {0} (must be at most 32)")]
    BadPartShift(u32),
    #[error("ring rows have {rows} partitions but part_shift {part_shift} implies {expected}")]
    PartitionCountMismatch {
        rows: usize,
        part_shift: u32,
        expected: u64,
    },
    #[error("replica row {row} has {len} entries, more than the {parts} partitions of row 0")]
    RowTooLong {
        row: usize,
        len: usize,
        parts: usize,
    },
    #[error("too many replica rows ({0})")]
    TooManyRows(usize),
    #[error("replica {row} of partition {part} is assigned to device {dev}, which does not exist")]
    MissingDevice { row: usize, part: usize, dev: u32 },
    #[error("device at position {position} has id {id}")]
    DeviceIdMismatch { position: usize, id: u32 },
}

/// A device returned by a lookup: the device plus its position in the
/// primary list (`index`) or in the handoff sequence (`handoff_index`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node<'a> {
    /// Position among the primaries, or the handoff index.
    pub index: usize,
    pub device: &'a Device,
}

/// A ring ready for lookups.
#[derive(Debug)]
pub struct Ring {
    pub(crate) devs: Vec<Option<Device>>,
    pub(crate) table: PartTable,
    /// Number of replica rows of `table`.
    pub(crate) rows: usize,
    pub(crate) part_shift: u32,
    pub(crate) parts: usize,
    /// Stride of the handoff walk: `parts / 65536`, at least 1.
    pub(crate) inc: usize,
    /// Per device id: dense ids of its region, zone, ip and device tiers
    /// (counted over assigned devices only; `u32::MAX` for the others).
    pub(crate) dev_tiers: Vec<[u32; LEVELS]>,
    /// Distinct tier values among assigned devices, per level: regions,
    /// zones, ips, devices (Swift's `_num_regions` … `_num_assigned_devs`).
    pub(crate) tier_counts: [usize; LEVELS],
    /// Where each level's bits start in a handoff search's seen-tier
    /// bitset (in 64-bit words), and the bitset's total length.
    pub(crate) seen_offsets: [usize; LEVELS],
    pub(crate) seen_words: usize,
    /// Occurrence lists per residue class and level, built on first need.
    pub(crate) index: Vec<[OnceLock<TierIndex>; LEVELS]>,
    /// Slots scanned linearly past the budget, per residue class and level:
    /// the index is built once this reaches the cost of building it.
    pub(crate) scan_credit: Vec<[AtomicU64; LEVELS]>,
    next_part_power: Option<u32>,
    version: Option<u64>,
    dev_id_bytes: u8,
}

impl Ring {
    /// Validates `data` and precomputes the lookup tables.
    pub fn new(data: RingData) -> Result<Ring, RingError> {
        if data.replica2part2dev.len() > 0xFFFF {
            return Err(RingError::TooManyRows(data.replica2part2dev.len()));
        }
        let parts = data.replica2part2dev.first().map_or(0, Vec::len);
        for (row, ids) in data.replica2part2dev.iter().enumerate() {
            if ids.len() > parts {
                return Err(RingError::RowTooLong {
                    row,
                    len: ids.len(),
                    parts,
                });
            }
        }
        Ring::from_decoded(DecodedRing {
            table: PartTable::from_rows(&data.replica2part2dev),
            devs: data.devs,
            part_shift: data.part_shift,
            next_part_power: data.next_part_power,
            version: data.version,
            dev_id_bytes: data.dev_id_bytes,
        })
    }

    /// Validates a decoded ring file and precomputes the lookup tables,
    /// using the file's table in place.
    pub fn from_decoded(data: DecodedRing) -> Result<Ring, RingError> {
        let DecodedRing {
            devs,
            table,
            part_shift,
            next_part_power,
            version,
            dev_id_bytes,
        } = data;
        let rows = table.rows();
        let parts = table.row_len(0);
        if parts == 0 {
            return Err(RingError::NoAssignments);
        }
        if part_shift > 32 {
            return Err(RingError::BadPartShift(part_shift));
        }
        let expected = 1u64 << (32 - part_shift);
        if parts as u64 != expected {
            return Err(RingError::PartitionCountMismatch {
                rows: parts,
                part_shift,
                expected,
            });
        }
        if rows > 0xFFFF {
            return Err(RingError::TooManyRows(rows));
        }
        for (position, dev) in devs.iter().enumerate() {
            if let Some(dev) = dev {
                if dev.id as usize != position {
                    return Err(RingError::DeviceIdMismatch {
                        position,
                        id: dev.id,
                    });
                }
            }
        }
        let assigned = assigned_devices(&devs, &table)?;
        let (dev_tiers, tier_counts) = tier_tables(&devs, &assigned);
        let mut seen_offsets = [0; LEVELS];
        let mut seen_words = 0;
        for (offset, count) in seen_offsets.iter_mut().zip(tier_counts) {
            *offset = seen_words;
            seen_words += count.div_ceil(64);
        }
        let inc = (parts / 65536).max(1);
        let index = (0..inc).map(|_| Default::default()).collect();
        let scan_credit = (0..inc).map(|_| Default::default()).collect();
        Ok(Ring {
            devs,
            table,
            rows,
            part_shift,
            parts,
            inc,
            dev_tiers,
            tier_counts,
            seen_offsets,
            seen_words,
            index,
            scan_credit,
            next_part_power,
            version,
            dev_id_bytes,
        })
    }

    /// Number of partitions (`2^part_power`).
    pub fn partition_count(&self) -> usize {
        self.parts
    }

    /// `32 - part_shift`.
    pub fn part_power(&self) -> u32 {
        32 - self.part_shift
    }

    pub fn part_shift(&self) -> u32 {
        self.part_shift
    }

    /// Number of replica rows (`ceil(replicas)`).
    pub fn replica_rows(&self) -> usize {
        self.rows
    }

    /// Replica count as a float: `(rows - 1) + len(last)/len(first)`.
    pub fn replica_count(&self) -> f64 {
        let last = self.table.row_len(self.rows - 1);
        (self.rows - 1) as f64 + last as f64 / self.parts as f64
    }

    /// Devices by id; `None` marks a hole.
    pub fn devices(&self) -> &[Option<Device>] {
        &self.devs
    }

    pub fn next_part_power(&self) -> Option<u32> {
        self.next_part_power
    }

    pub fn version(&self) -> Option<u64> {
        self.version
    }

    pub fn dev_id_bytes(&self) -> u8 {
        self.dev_id_bytes
    }

    /// Devices holding at least one assignment (`_num_assigned_devs`).
    pub fn assigned_device_count(&self) -> usize {
        self.tier_counts[3]
    }

    /// Partition of a path digest.
    pub fn part_for_digest(&self, digest: &[u8; 16]) -> u32 {
        part_from_digest(digest, self.part_shift)
    }

    /// Partition of an account / container / object name.
    pub fn get_part(
        &self,
        hash: &HashPathConf,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Result<u32, HashError> {
        Ok(self.part_for_digest(&hash.hash_path(account, container, object)?))
    }

    /// Primary devices of a partition: each row's device in row order, a
    /// device listed once even if it holds several replicas. A partition
    /// beyond the ring has no primaries.
    pub fn get_part_nodes(&self, part: u32) -> Vec<Node<'_>> {
        let mut ids: Vec<u32> = Vec::with_capacity(self.rows);
        for r in 0..self.rows {
            if let Some(dev) = self.table.get(r, part as usize) {
                if !ids.contains(&dev) {
                    ids.push(dev);
                }
            }
        }
        ids.into_iter()
            .enumerate()
            .filter_map(|(index, id)| {
                let device = self.devs[id as usize].as_ref()?;
                Some(Node { index, device })
            })
            .collect()
    }

    /// Device ids of the primaries, deduplicated, in row order.
    pub(crate) fn primary_ids(&self, part: u32) -> Vec<u32> {
        self.get_part_nodes(part)
            .iter()
            .map(|n| n.device.id)
            .collect()
    }

    /// The handoff devices of a partition, lazily, in exactly the order of
    /// Swift's `get_more_nodes`.
    pub fn get_more_nodes(&self, part: u32) -> Handoffs<'_> {
        Handoffs::new(self, part, LINEAR_BUDGET)
    }

    /// `get_more_nodes` with a chosen linear-scan budget before the indexed
    /// search takes over (0 = indexed from the start). For tests and
    /// benchmarks; the sequence is the same for every budget.
    #[doc(hidden)]
    pub fn get_more_nodes_with_budget(&self, part: u32, budget: usize) -> Handoffs<'_> {
        Handoffs::new(self, part, budget)
    }
}

/// Which devices hold at least one assignment; fails on a slot naming a
/// device that does not exist (reporting the first such slot).
fn assigned_devices(devs: &[Option<Device>], table: &PartTable) -> Result<Vec<bool>, RingError> {
    let mut assigned = vec![false; devs.len()];
    let out_of_range = !table.mark_ids(&mut assigned);
    let hole_assigned = assigned.iter().zip(devs).any(|(&a, d)| a && d.is_none());
    if !out_of_range && !hole_assigned {
        return Ok(assigned);
    }
    for row in 0..table.rows() {
        for part in 0..table.row_len(row) {
            let dev = table.get(row, part).unwrap_or(0);
            if devs.get(dev as usize).is_none_or(Option::is_none) {
                return Err(RingError::MissingDevice { row, part, dev });
            }
        }
    }
    Ok(assigned)
}

/// Dense tier ids per device, and the number of distinct values per level,
/// both over assigned devices only.
fn tier_tables(
    devs: &[Option<Device>],
    assigned: &[bool],
) -> (Vec<[u32; LEVELS]>, [usize; LEVELS]) {
    let mut regions: HashMap<u32, u32> = HashMap::new();
    let mut zones: HashMap<(u32, u32), u32> = HashMap::new();
    let mut ips: HashMap<(u32, u32, &str), u32> = HashMap::new();
    let mut n_devs = 0u32;
    let mut tiers = vec![[u32::MAX; LEVELS]; devs.len()];
    for (id, dev) in devs.iter().enumerate() {
        let Some(dev) = dev else { continue };
        if !assigned[id] {
            continue;
        }
        let next = regions.len() as u32;
        let region = *regions.entry(dev.region).or_insert(next);
        let next = zones.len() as u32;
        let zone = *zones.entry((dev.region, dev.zone)).or_insert(next);
        let next = ips.len() as u32;
        let ip = *ips
            .entry((dev.region, dev.zone, dev.ip.as_str()))
            .or_insert(next);
        tiers[id] = [region, zone, ip, n_devs];
        n_devs += 1;
    }
    let counts = [regions.len(), zones.len(), ips.len(), n_devs as usize];
    (tiers, counts)
}
