//! The ring: devices, the partition → device table, and lookups.
//!
//! Everything under `ring` is pure: no file system, no clock, no global RNG.
//! Formats are read and written over `impl Read` / `impl Write` (`codec`),
//! time and seeded RNGs are passed in by callers.

pub mod builder;
pub mod codec;
pub mod device;
pub mod handoffs;
pub mod handoffs_reference;
pub mod hash;
pub mod lookup;
pub mod part_table;

pub use device::Device;
pub use lookup::{Node, Ring, RingError};

/// Sentinel for an unassigned slot in a 2-byte table.
pub const NONE_DEV_2: u32 = 0xFFFF;
/// Sentinel for an unassigned slot in a 4-byte table.
pub const NONE_DEV_4: u32 = 0xFFFF_FFFF;

/// Width in bytes of device ids needed for a largest id (Swift's `calc_dev_id_bytes`).
pub fn calc_dev_id_bytes(max_dev_id: u32) -> u8 {
    if max_dev_id < 0xFFFF {
        2
    } else {
        4
    }
}

/// The contents of a `*.ring.gz` file, format-independent.
///
/// `replica2part2dev[r][p]` is the id of the device holding replica `r` of
/// partition `p`. Every row has `2^part_power` entries except possibly the
/// last (fractional replica counts).
#[derive(Debug, Clone, PartialEq)]
pub struct RingData {
    /// Index = device id; `None` marks a hole left by a removed device.
    pub devs: Vec<Option<Device>>,
    pub replica2part2dev: Vec<Vec<u32>>,
    /// `32 - part_power`.
    pub part_shift: u32,
    /// Set while a partition-power increase is prepared or in progress.
    pub next_part_power: Option<u32>,
    /// Builder version; `None` only for composite rings.
    pub version: Option<u64>,
    /// 2 or 4: the width ids are stored with (v1 is always 2).
    pub dev_id_bytes: u8,
}

impl RingData {
    /// Number of partitions (`2^part_power`), the length of the first row.
    pub fn partition_count(&self) -> usize {
        self.replica2part2dev.first().map_or(0, Vec::len)
    }

    /// `32 - part_shift`.
    pub fn part_power(&self) -> u32 {
        32 - self.part_shift
    }

    /// Replica count as a float: `(rows - 1) + len(last)/len(first)`.
    pub fn replica_count(&self) -> f64 {
        let parts = self.partition_count();
        match self.replica2part2dev.last() {
            None => 0.0,
            Some(last) if parts > 0 => {
                (self.replica2part2dev.len() - 1) as f64 + last.len() as f64 / parts as f64
            }
            Some(_) => self.replica2part2dev.len() as f64,
        }
    }
}
