//! `validate`: consistency checks on decoded ring data that the file formats
//! themselves cannot express (table shape, ids that point at real devices).

use super::error::RingFileError;
use super::table;
use crate::ring::RingData;

/// Checks that `ring` can be used for lookups:
///
/// * `dev_id_bytes` is 2 or 4 and `part_shift` is at most 32;
/// * every row but the last has `2^part_power` entries, the last at most that;
/// * every id in the table names a device present in `devs` (not a hole);
/// * every device's `id` equals its index in `devs`.
pub fn validate(ring: &RingData) -> Result<(), RingFileError> {
    let invalid = |msg: String| Err(RingFileError::Invalid(msg));
    if ring.dev_id_bytes != 2 && ring.dev_id_bytes != 4 {
        return invalid(format!("dev_id_bytes is {}, not 2 or 4", ring.dev_id_bytes));
    }
    if ring.part_shift > 32 {
        return invalid(format!("part_shift {} is above 32", ring.part_shift));
    }
    for (index, dev) in ring.devs.iter().enumerate() {
        if let Some(dev) = dev {
            if dev.id as usize != index {
                return invalid(format!("device at index {index} has id {}", dev.id));
            }
        }
    }
    let parts = table::partitions(ring.part_shift);
    let rows = ring.replica2part2dev.len();
    // One byte per possible id keeps the per-entry check in L1 cache.
    let present: Vec<bool> = ring.devs.iter().map(Option::is_some).collect();
    for (r, row) in ring.replica2part2dev.iter().enumerate() {
        let len = row.len() as u64;
        if len > parts || (len < parts && r + 1 < rows) {
            return invalid(format!(
                "replica row {r} has {len} entries; expected {parts}{}",
                if r + 1 == rows { " or fewer" } else { "" }
            ));
        }
        let known = |id: &u32| present.get(*id as usize).copied().unwrap_or(false);
        if let Some(part) = row.iter().position(|id| !known(id)) {
            return invalid(format!(
                "replica {r} of partition {part} is on device {}, which is not in devs",
                row[part]
            ));
        }
    }
    Ok(())
}
