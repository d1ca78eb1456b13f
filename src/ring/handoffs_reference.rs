//! A plain, obviously-correct transcription of Swift's handoff scan.
//!
//! It walks every slot of every phase like Swift does (slowly on some
//! rings), using the raw tier values of the devices rather than the dense
//! tables of `ring::lookup`. Tests compare the fast `Handoffs` iterator with
//! it; it is not meant for production use.

use std::collections::HashSet;

use super::hash::handoff_start;
use super::lookup::Ring;

/// Device ids of the complete handoff sequence of `part`.
pub fn reference_handoff_ids(ring: &Ring, part: u32) -> Vec<u32> {
    let rows = &ring.table.to_rows();
    let devs = &ring.devs;
    let dev = |id: u32| devs[id as usize].as_ref().expect("validated ring");

    // Bookkeeping over devices holding at least one assignment.
    let assigned: HashSet<u32> = rows.iter().flatten().copied().collect();
    let num_regions = assigned
        .iter()
        .map(|&d| dev(d).region)
        .collect::<HashSet<_>>()
        .len();
    let num_zones = assigned
        .iter()
        .map(|&d| (dev(d).region, dev(d).zone))
        .collect::<HashSet<_>>()
        .len();
    let num_ips = assigned
        .iter()
        .map(|&d| (dev(d).region, dev(d).zone, dev(d).ip.clone()))
        .collect::<HashSet<_>>()
        .len();
    let num_devs = assigned.len();

    let primaries = ring.primary_ids(part);
    let mut used: HashSet<u32> = primaries.iter().copied().collect();
    let mut regions: HashSet<u32> = primaries.iter().map(|&d| dev(d).region).collect();
    let mut zones: HashSet<(u32, u32)> = primaries
        .iter()
        .map(|&d| (dev(d).region, dev(d).zone))
        .collect();
    let mut ips: HashSet<(u32, u32, String)> = primaries
        .iter()
        .map(|&d| (dev(d).region, dev(d).zone, dev(d).ip.clone()))
        .collect();

    let parts = ring.parts;
    let inc = ring.inc;
    let start = handoff_start(part, ring.part_shift) as usize;
    let second_from = inc - ((parts - start) % inc);
    let order: Vec<usize> = (start..parts)
        .step_by(inc)
        .chain((second_from..start).step_by(inc))
        .collect();

    let mut out = Vec::new();
    for phase in 0..4 {
        for &hp in &order {
            let done = match phase {
                0 => regions.len() == num_regions,
                1 => zones.len() == num_zones,
                2 => ips.len() == num_ips,
                _ => used.len() == num_devs,
            };
            if done {
                break;
            }
            for row in rows {
                let Some(&id) = row.get(hp) else { continue };
                let d = dev(id);
                let zone = (d.region, d.zone);
                let ip = (d.region, d.zone, d.ip.clone());
                let fresh = !used.contains(&id)
                    && match phase {
                        0 => !regions.contains(&d.region),
                        1 => !zones.contains(&zone),
                        2 => !ips.contains(&ip),
                        _ => true,
                    };
                if !fresh {
                    continue;
                }
                out.push(id);
                used.insert(id);
                if phase == 0 {
                    regions.insert(d.region);
                }
                if phase <= 1 {
                    zones.insert(zone);
                }
                if phase <= 2 {
                    ips.insert(ip);
                }
                let complete = match phase {
                    0 => regions.len() == num_regions,
                    1 => zones.len() == num_zones,
                    2 => ips.len() == num_ips,
                    _ => used.len() == num_devs,
                };
                if complete {
                    break;
                }
            }
        }
    }
    out
}
