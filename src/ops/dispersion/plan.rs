//! Which names populate creates: walk the suffixes `0, 1, 2, …` and keep a
//! name only when it lands on a partition no earlier name took, until the
//! configured share of the partition space is covered (Swift's algorithm,
//! float bookkeeping included, so both tools pick the same names).
//!
//! Pure: the caller passes the name → partition function.

/// Container names for a policy: `dispersion_<policy>_<suffix>`.
pub fn container_name(policy: u32, suffix: u64) -> String {
    format!("dispersion_{policy}_{suffix}")
}

/// Listing prefix of a policy's sample containers (Swift lists with
/// `dispersion_<policy>`; the trailing `_` keeps policy 1 from also
/// matching policy 10's containers).
pub fn container_prefix(policy: u32) -> String {
    format!("dispersion_{policy}_")
}

/// The container holding a policy's sample objects.
pub fn objects_container(policy: u32) -> String {
    format!("dispersion_objects_{policy}")
}

/// Object names: `dispersion_<suffix>`.
pub fn object_name(suffix: u64) -> String {
    format!("dispersion_{suffix}")
}

/// Listing prefix of the sample objects.
pub const OBJECT_PREFIX: &str = "dispersion_";

/// One chosen name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub suffix: u64,
    pub name: String,
    pub part: u32,
    /// False below `--*-suffix-start`: the name counts as created (its
    /// partition is taken) but is not written again.
    pub create: bool,
}

/// The names to create and Swift's counters.
#[derive(Debug, Clone)]
pub struct Plan {
    pub items: Vec<Planned>,
    /// `coverage / 100 * partition_count`, a float as in Swift.
    pub need_to_create: f64,
    /// What was still wanted when the walk stopped (below 1, unless the
    /// partitions ran out).
    pub need_to_queue: f64,
    /// Partitions holding no sample name after the plan.
    pub parts_left: usize,
    pub partition_count: usize,
}

impl Plan {
    /// The count Swift prints: `int(need_to_create - need_to_queue)`.
    pub fn created_count(&self) -> u64 {
        (self.need_to_create - self.need_to_queue).max(0.0).trunc() as u64
    }

    /// Percentage of partitions holding a sample name (`--no-overlap`).
    pub fn coverage_pct(&self) -> f64 {
        let covered = self.partition_count - self.parts_left;
        covered as f64 / self.partition_count as f64 * 100.0
    }
}

/// Plans names over `partition_count` partitions. `taken` lists partitions
/// already holding a sample (`--no-overlap`); `part_of(name)` places a name.
pub fn plan(
    partition_count: usize,
    coverage: f64,
    taken: impl IntoIterator<Item = u32>,
    suffix_start: u64,
    name_of: impl Fn(u64) -> String,
    part_of: impl Fn(&str) -> u32,
) -> Plan {
    let mut used = vec![false; partition_count];
    let mut parts_left = partition_count;
    for p in taken {
        if let Some(u) = used.get_mut(p as usize) {
            if !*u {
                *u = true;
                parts_left -= 1;
            }
        }
    }
    let need_to_create = coverage / 100.0 * partition_count as f64;
    let mut need_to_queue = need_to_create;
    let mut items = Vec::new();
    let mut suffix = 0u64;
    // MD5 reaches every partition long before this; the cap only guards
    // against a placement function that cannot.
    let give_up = (partition_count as u64).saturating_mul(64) + 1_000_000;
    while need_to_queue >= 1.0 && parts_left > 0 && suffix < give_up {
        let name = name_of(suffix);
        let part = part_of(&name);
        if let Some(u) = used.get_mut(part as usize).filter(|u| !**u) {
            *u = true;
            parts_left -= 1;
            need_to_queue -= 1.0;
            items.push(Planned {
                suffix,
                name,
                part,
                create: suffix >= suffix_start,
            });
        }
        suffix += 1;
    }
    Plan {
        items,
        need_to_create,
        need_to_queue,
        parts_left,
        partition_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_part(name: &str) -> u32 {
        // Deterministic and collision-prone: suffix modulo 7, over 8 parts.
        let n: u64 = name.rsplit('_').next().unwrap().parse().unwrap();
        ((n * 3) % 7) as u32
    }

    #[test]
    fn distinct_partitions_and_float_count() {
        let p = plan(8, 50.0, [], 0, object_name, toy_part);
        assert_eq!(p.need_to_create, 4.0);
        let parts: Vec<u32> = p.items.iter().map(|i| i.part).collect();
        assert_eq!(parts, [0, 3, 6, 2]);
        assert_eq!(p.created_count(), 4);
        assert!(p.items.iter().all(|i| i.create));
        // 10.24 wanted: ten names, and Swift's count of int(10.24 - 0.24).
        let p = plan(1024, 1.0, [], 0, object_name, |n| {
            n.len() as u32 * 97 % 1024 + toy_part(n)
        });
        assert_eq!(p.created_count(), 10);
    }

    #[test]
    fn taken_partitions_and_suffix_start() {
        let p = plan(8, 62.5, [0, 3], 2, object_name, toy_part);
        let parts: Vec<u32> = p.items.iter().map(|i| i.part).collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(p.parts_left, 1);
        assert_eq!(p.coverage_pct(), 87.5);
        assert!(!parts.contains(&0) && !parts.contains(&3));
        assert_eq!(p.items[0].suffix, 2);
        assert!(p.items.iter().all(|i| i.create == (i.suffix >= 2)));
        // Partition 7 is unreachable here: the walk stops at its cap.
        let p = plan(8, 100.0, [], 0, object_name, toy_part);
        assert_eq!(p.items.len(), 7);
    }
}
