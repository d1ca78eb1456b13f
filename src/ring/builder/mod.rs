//! The ring builder: its state (the `.builder` file's contents), edits, and rebalance.
//!
//! State mirrors Swift's `RingBuilder.to_dict()` so builder files round-trip
//! with Swift's tool. Nothing here reads the clock or a global RNG: callers
//! pass `now` (Unix seconds) and a seeded RNG.

pub mod dispersion;
pub mod edit;
mod gather;
pub mod pickle;
pub mod plan;
pub mod rebalance;
pub mod stats;
pub mod tiers;

use std::collections::BTreeMap;

use crate::ring::Device;

pub use dispersion::{worst_tier, DispersionRow};
pub use edit::{DevFilter, DeviceInfo, NewDevice};
pub use pickle::{read_builder, write_builder, BuilderFileError};
pub use rebalance::{RebalanceOutcome, TierMoves};

/// Errors from builder operations. Messages are Swift's, so the CLI can print
/// them as they are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuilderError {
    /// A bad argument (Swift's `ValueError`), e.g. `part_power must be at most 32 (was 33)`.
    #[error("{0}")]
    InvalidValue(String),
    /// `Duplicate device id: N`.
    #[error("Duplicate device id: {0}")]
    DuplicateDeviceId(u32),
    /// The device id names no device.
    #[error("No device with id {0}")]
    NoSuchDevice(u32),
    /// No weighted devices at all.
    #[error("There are no devices in this ring, or all devices have been deleted")]
    EmptyRing,
    /// Swift's `RingValidationError`: the ring cannot be (or was not) built correctly.
    #[error("{0}")]
    Validation(String),
    /// The operation is refused while a partition-power increase is under way.
    #[error("Partition power increase in progress")]
    PartPowerIncreaseInProgress,
}

/// A device as the builder tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct BuilderDevice {
    pub dev: Device,
    /// Number of part-replicas currently assigned to this device.
    pub parts: u64,
    /// Set by rebalance planning; `None` before the first rebalance.
    pub parts_wanted: Option<i64>,
}

/// One key of Swift's `_dispersion_graph`: `(region,)`, `(region, zone)`,
/// `(region, zone, ip)` or `(region, zone, ip, dev_id)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    Region(u32),
    Zone(u32, u32),
    Server(u32, u32, String),
    Device(u32, u32, String, u32),
}

/// The whole builder state (the `.builder` file).
#[derive(Debug, Clone, PartialEq)]
pub struct RingBuilder {
    pub part_power: u32,
    pub next_part_power: Option<u32>,
    pub replicas: f64,
    pub min_part_hours: u32,
    /// Index = device id; `None` = hole.
    pub devs: Vec<Option<BuilderDevice>>,
    pub devs_changed: bool,
    pub version: u64,
    /// Fraction (0.1 = 10%).
    pub overload: f64,
    /// `None` before the first rebalance. Unassigned slots hold
    /// `NONE_DEV_2` / `NONE_DEV_4` according to `dev_id_bytes`.
    pub replica2part2dev: Option<Vec<Vec<u32>>>,
    pub dev_id_bytes: u8,
    /// Unix seconds of the last `min_part_hours` clock advance.
    pub last_part_moves_epoch: i64,
    /// Hours since each partition last moved, saturating at 255.
    pub last_part_moves: Vec<u8>,
    pub last_part_gather_start: u64,
    pub dispersion_graph: BTreeMap<Tier, Vec<u64>>,
    /// Percentage; `None` if never computed.
    pub dispersion: Option<f64>,
    /// Ids of devices marked for removal at the next rebalance.
    pub remove_devs: Vec<u32>,
    /// 32-hex uuid, assigned at first save.
    pub id: Option<String>,
}

impl RingBuilder {
    /// Number of partitions, `2^part_power`.
    pub fn parts(&self) -> usize {
        1usize << self.part_power
    }
}
