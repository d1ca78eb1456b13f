//! The handoff sequence (`get_more_nodes`), in exactly Swift's order, fast.
//!
//! Swift walks the partitions of one residue class mod `inc`, rotated to
//! start at a hashed position (skipping partition 0 of the class when the
//! start is a non-zero multiple of `inc`), in four phases: new region, new
//! zone, new ip, new device. Each phase yields, in walk order, every slot
//! whose tier at the phase's level has not been seen yet, until all tiers of
//! that level are seen or the walk ends. `ring::handoffs_reference` is a
//! plain transcription of that scan; this module returns the same sequence.
//!
//! Speed: a phase first scans slots linearly for a short budget. If nothing
//! new turns up, it switches to per-tier occurrence lists (built once per
//! residue class and level, on first need): the next slot holding any unseen
//! tier value is the minimum over those values of a binary search, so long
//! runs of slots holding only seen tiers cost nothing.

use std::sync::atomic::Ordering;

use super::lookup::{Node, Ring, LEVELS};

/// Slots scanned linearly before the occurrence lists are considered.
pub(crate) const LINEAR_BUDGET: usize = 96;

/// Past the budget, slots scanned between two charges to the ring.
const CHARGE_EVERY: usize = 4096;

/// For one residue class and one tier level: the walk positions
/// (`k * rows + r`, `k` = index of the partition within the class) where
/// each tier value occurs, sorted, in CSR form.
#[derive(Debug)]
pub(crate) struct TierIndex {
    starts: Vec<u32>,
    positions: Vec<u32>,
}

impl TierIndex {
    fn build(ring: &Ring, class: usize, level: usize) -> TierIndex {
        let rows = ring.rows;
        let values = ring.tier_counts[level];
        let class_len = class_len(ring, class);
        let mut starts = vec![0u32; values + 1];
        let each_slot = |f: &mut dyn FnMut(u32, u32)| {
            for k in 0..class_len {
                let hp = class + k * ring.inc;
                for r in 0..rows {
                    if let Some(dev) = ring.table.get(r, hp) {
                        let tier = ring.dev_tiers[dev as usize][level];
                        f(tier, (k * rows + r) as u32);
                    }
                }
            }
        };
        each_slot(&mut |tier, _| starts[tier as usize + 1] += 1);
        for i in 0..values {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut positions = vec![0u32; starts[values] as usize];
        each_slot(&mut |tier, q| {
            let at = &mut fill[tier as usize];
            positions[*at as usize] = q;
            *at += 1;
        });
        TierIndex { starts, positions }
    }

    fn occurrences(&self, tier: usize) -> &[u32] {
        &self.positions[self.starts[tier] as usize..self.starts[tier + 1] as usize]
    }
}

/// Number of partitions in residue class `class` mod `inc`.
fn class_len(ring: &Ring, class: usize) -> usize {
    (ring.parts - class).div_ceil(ring.inc)
}

/// Lazy iterator over a partition's handoff nodes.
pub struct Handoffs<'a> {
    ring: &'a Ring,
    class: usize,
    /// Index within the class of the first partition walked.
    k0: usize,
    class_len: usize,
    /// Partition 0 of the class is left out of the walk (Swift's quirk).
    skip0: bool,
    phase: usize,
    /// Next walk position to look at: `j * rows + r`, `j` counted from `k0`.
    cursor: usize,
    seen: [Vec<u64>; LEVELS],
    seen_count: [usize; LEVELS],
    yielded: usize,
    budget: usize,
}

impl<'a> Handoffs<'a> {
    pub(crate) fn new(ring: &'a Ring, part: u32, budget: usize) -> Handoffs<'a> {
        let start = super::hash::handoff_start(part, ring.part_shift) as usize;
        let class = start % ring.inc;
        let mut it = Handoffs {
            ring,
            class,
            k0: start / ring.inc,
            class_len: class_len(ring, class),
            skip0: class == 0 && start > 0,
            phase: 0,
            cursor: 0,
            seen: std::array::from_fn(|l| vec![0u64; ring.tier_counts[l].div_ceil(64)]),
            seen_count: [0; LEVELS],
            yielded: 0,
            budget,
        };
        for id in ring.primary_ids(part) {
            it.mark(id);
        }
        it
    }

    fn is_seen(&self, level: usize, tier: u32) -> bool {
        self.seen[level][tier as usize / 64] & (1u64 << (tier % 64)) != 0
    }

    fn mark(&mut self, dev: u32) {
        let tiers = self.ring.dev_tiers[dev as usize];
        for (level, &tier) in tiers.iter().enumerate() {
            let word = &mut self.seen[level][tier as usize / 64];
            let bit = 1u64 << (tier % 64);
            if *word & bit == 0 {
                *word |= bit;
                self.seen_count[level] += 1;
            }
        }
    }

    /// Device at walk position `u`, if that slot exists.
    fn slot(&self, u: usize) -> Option<u32> {
        let rows = self.ring.rows;
        let k = (self.k0 + u / rows) % self.class_len;
        if self.skip0 && k == 0 {
            return None;
        }
        let hp = self.class + k * self.ring.inc;
        self.ring.table.get(u % rows, hp)
    }

    /// First walk position at or after the cursor whose tier at `level` is
    /// unseen.
    ///
    /// Scans linearly; past the budget it uses the occurrence lists if they
    /// exist. Otherwise it keeps scanning but charges the slots scanned to
    /// the ring, and builds the lists once the charges reach the cost of
    /// building them (so a one-off lookup never pays for an index, and a
    /// ring that keeps getting slow lookups gets one soon).
    fn next_unseen(&self, level: usize) -> Option<usize> {
        if self.budget == 0 {
            return self.find_indexed(level, self.cursor);
        }
        let ring = self.ring;
        let rows = ring.rows;
        let mut j = self.cursor / rows;
        let mut r = self.cursor % rows;
        let mut scanned = 0;
        let mut charged = 0;
        let mut next_check = self.budget;
        while j < self.class_len {
            if scanned >= next_check {
                if ring.index[self.class][level].get().is_some() {
                    return self.find_indexed(level, j * rows);
                }
                let credit = &ring.scan_credit[self.class][level];
                let paid = credit.fetch_add((scanned - charged) as u64, Ordering::Relaxed)
                    + (scanned - charged) as u64;
                charged = scanned;
                if paid >= (self.class_len * rows) as u64 {
                    return self.find_indexed(level, j * rows);
                }
                next_check = scanned + CHARGE_EVERY;
            }
            let mut k = self.k0 + j;
            if k >= self.class_len {
                k -= self.class_len;
            }
            if !(self.skip0 && k == 0) {
                let hp = self.class + k * ring.inc;
                for rr in r..rows {
                    if let Some(dev) = ring.table.get(rr, hp) {
                        if !self.is_seen(level, ring.dev_tiers[dev as usize][level]) {
                            return Some(j * rows + rr);
                        }
                    }
                }
            }
            scanned += rows - r;
            r = 0;
            j += 1;
        }
        None
    }

    /// `next_unseen` by the occurrence lists, from walk position `from`.
    fn find_indexed(&self, level: usize, from: usize) -> Option<usize> {
        let ring = self.ring;
        let index =
            ring.index[self.class][level].get_or_init(|| TierIndex::build(ring, self.class, level));
        let rows = ring.rows;
        let split = self.k0 * rows;
        let seg1 = (self.class_len - self.k0) * rows;
        let low = if self.skip0 { rows } else { 0 };
        let mut best: Option<usize> = None;
        for tier in 0..ring.tier_counts[level] {
            if self.is_seen(level, tier as u32) {
                continue;
            }
            let list = index.occurrences(tier);
            let next = |q_from: usize| {
                let i = list.partition_point(|&q| (q as usize) < q_from);
                list.get(i).map(|&q| q as usize)
            };
            let found = if from < seg1 {
                match next(split + from) {
                    Some(q) => Some(q - split),
                    None => next(low).filter(|&q| q < split).map(|q| seg1 + q),
                }
            } else {
                next((from - seg1).max(low))
                    .filter(|&q| q < split)
                    .map(|q| seg1 + q)
            };
            if let Some(u) = found {
                best = Some(best.map_or(u, |b: usize| b.min(u)));
            }
        }
        best
    }
}

impl<'a> Iterator for Handoffs<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        while self.phase < LEVELS {
            let level = self.phase;
            if self.seen_count[level] < self.ring.tier_counts[level] {
                if let Some(u) = self.next_unseen(level) {
                    if let Some(dev) = self.slot(u) {
                        self.mark(dev);
                        self.cursor = u + 1;
                        let index = self.yielded;
                        self.yielded += 1;
                        if let Some(device) = self.ring.devs[dev as usize].as_ref() {
                            return Some(Node { index, device });
                        }
                    }
                    // `next_unseen` only returns existing slots of existing devices.
                    debug_assert!(false, "handoff search returned an empty slot");
                }
            }
            self.phase += 1;
            self.cursor = 0;
        }
        None
    }
}
