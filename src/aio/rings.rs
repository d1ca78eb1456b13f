//! The all-in-one cluster's three rings, made with our ring builder:
//! 4 devices (one per storage node), 3 replicas, a seeded rebalance.
//!
//! Each ring's `.builder` is saved next to it, so the cluster's rings can be
//! inspected and changed afterwards with `swift-ring-builder`.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::conf::builder_file::save_builder;
use crate::ring::builder::edit::NewDevice;
use crate::ring::builder::RingBuilder;
use crate::ring::{Device, RingData};

/// Default partition power: `2^10` partitions (`--part-power` changes it).
pub const PART_POWER: u32 = 10;
pub const REPLICAS: usize = 3;
/// Hours before a partition may move again (Swift's SAIO uses 1).
const MIN_PART_HOURS: i64 = 1;

/// Builds a ring of `2^part_power` partitions over `devs` with the ring
/// builder (create, add every device, rebalance with a fixed seed), saves
/// the builder as `builder_path`, and returns the ring to write.
pub fn build(
    devs: Vec<Device>,
    part_power: u32,
    builder_path: &Path,
    now: i64,
) -> Result<RingData, String> {
    let n = devs.len();
    if n < REPLICAS {
        return Err(format!("need at least {REPLICAS} devices, have {n}"));
    }
    let mut builder = RingBuilder::new(i64::from(part_power), REPLICAS as f64, MIN_PART_HOURS)
        .map_err(|e| e.to_string())?;
    for d in devs {
        builder
            .add_dev(NewDevice {
                id: Some(d.id),
                region: d.region,
                zone: d.zone,
                ip: d.ip,
                port: d.port,
                replication_ip: d.replication_ip,
                replication_port: d.replication_port,
                device: d.device,
                meta: d.meta,
                weight: d.weight,
            })
            .map_err(|e| e.to_string())?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5a10);
    builder
        .rebalance(now, &mut rng)
        .map_err(|e| format!("rebalance of {}: {e}", builder_path.display()))?;
    builder
        .validate()
        .map_err(|e| format!("{}: {e}", builder_path.display()))?;
    save_builder(&mut builder, builder_path)
        .map_err(|e| format!("{}: {e}", builder_path.display()))?;
    Ok(builder.get_ring())
}
