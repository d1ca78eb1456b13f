//! The all-in-one cluster's three rings: 4 devices (one per storage node),
//! 3 replicas, every partition on 3 distinct devices.

use crate::ring::{Device, RingData};

/// Number of partitions is `2^PART_POWER`.
pub const PART_POWER: u32 = 10;
pub const REPLICAS: usize = 3;

/// Builds a balanced ring over `devs`: partition `p`'s replica `r` lives on
/// device `(p + r) % n`, so each device holds the same share and no
/// partition has two replicas on one device.
pub fn build(devs: Vec<Device>) -> Result<RingData, String> {
    let n = devs.len();
    if n < REPLICAS {
        return Err(format!("need at least {REPLICAS} devices, have {n}"));
    }
    let parts = 1usize << PART_POWER;
    let rows = (0..REPLICAS)
        .map(|r| (0..parts).map(|p| devs[(p + r) % n].id).collect())
        .collect();
    Ok(RingData {
        devs: devs.into_iter().map(Some).collect(),
        replica2part2dev: rows,
        part_shift: 32 - PART_POWER,
        next_part_power: None,
        version: Some(1),
        dev_id_bytes: 2,
    })
}
