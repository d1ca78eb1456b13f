//! Balance and validation: Swift's measures of a built ring, as data.

use super::{BuilderError, RingBuilder};

/// The balance Swift shows for a zero-weight device that still holds parts.
pub const MAX_BALANCE: f64 = 999.99;

impl RingBuilder {
    /// Per device id: `100 * parts / (weight * weight_of_one_part) - 100`,
    /// [`MAX_BALANCE`] for a zero-weight device holding parts, 0 if it holds
    /// none. Empty when the total weight is zero.
    pub fn balance_per_dev(&self) -> Vec<(u32, f64)> {
        let wop = self.weight_of_one_part().ok();
        self.devs
            .iter()
            .enumerate()
            .filter_map(|(id, d)| {
                let d = d.as_ref()?;
                let b = if d.dev.weight <= 0.0 {
                    if d.parts > 0 {
                        MAX_BALANCE
                    } else {
                        0.0
                    }
                } else {
                    100.0 * d.parts as f64 / (d.dev.weight * wop?) - 100.0
                };
                Some((id as u32, b))
            })
            .collect()
    }

    /// The balance of one device (see [`RingBuilder::balance_per_dev`]).
    pub fn dev_balance(&self, id: u32) -> Option<f64> {
        self.balance_per_dev()
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, b)| b)
    }

    /// The ring's balance: the largest `|balance|` of any device (0 when
    /// there are no devices).
    pub fn get_balance(&self) -> f64 {
        self.balance_per_dev()
            .into_iter()
            .map(|(_, b)| b.abs())
            .fold(0.0, f64::max)
    }

    /// Swift's `validate()`: parts accounted for, every slot on a real
    /// device, only the last row short, no partition on a device twice.
    pub fn validate(&self) -> Result<(), BuilderError> {
        let err = |m: String| Err(BuilderError::Validation(m));
        let Some(rows) = self.replica2part2dev.as_ref().filter(|r| !r.is_empty()) else {
            return err("_replica2part2dev empty; did you forget to rebalance?".into());
        };
        let on_devs: u64 = self.devs.iter().flatten().map(|d| d.parts).sum();
        let in_map: u64 = rows.iter().map(|r| r.len() as u64).sum();
        if on_devs != in_map {
            return err(format!(
                "All partitions are not double accounted for: {on_devs} != {in_map}"
            ));
        }
        let parts = self.parts();
        let int_replicas = self.replicas.ceil() as usize;
        let none = if self.dev_id_bytes > 2 {
            crate::ring::NONE_DEV_4
        } else {
            crate::ring::NONE_DEV_2
        };
        let mut devs_for_part: Vec<u32> = Vec::with_capacity(rows.len());
        for part in 0..parts {
            devs_for_part.clear();
            for (replica, row) in rows.iter().enumerate() {
                if row.len() <= part {
                    if replica + 1 < int_replicas {
                        return err(format!(
                            "The partition assignments of replica {replica} were shorter than \
                             expected ({} < {parts}) - this should only happen for the last \
                             replica",
                            row.len()
                        ));
                    }
                    break;
                }
                let dev = row[part];
                let exists = self.devs.get(dev as usize).is_some_and(Option::is_some);
                if dev == none || !exists {
                    return err(format!(
                        "Partition {part}, replica {replica} was not allocated to a device."
                    ));
                }
                devs_for_part.push(dev);
            }
            let dup = devs_for_part
                .iter()
                .enumerate()
                .any(|(i, d)| devs_for_part[..i].contains(d));
            if dup {
                let list: Vec<String> = devs_for_part.iter().map(u32::to_string).collect();
                return err(format!(
                    "The partition {part} has been assigned to duplicate devices [{}]",
                    list.join(", ")
                ));
            }
        }
        Ok(())
    }
}
