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
//!
//! Starting a search is cheap too: the primaries are marked straight from
//! the table, the seen tiers of all levels share one bitset kept inside the
//! iterator (on the heap only for very large rings), and the MD5 that places
//! the walk is computed on the first search, with no allocation.

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

/// Words of seen-tier bits kept inside the iterator; rings needing more
/// (about 800 devices and up) keep them on the heap.
const INLINE_WORDS: usize = 16;

/// Seen tiers of all four levels as one bitset: level `l` starts at word
/// `ring.seen_offsets[l]`.
#[derive(Debug)]
enum SeenBits {
    Inline([u64; INLINE_WORDS]),
    Heap(Vec<u64>),
}

impl SeenBits {
    fn new(words: usize) -> SeenBits {
        if words <= INLINE_WORDS {
            SeenBits::Inline([0; INLINE_WORDS])
        } else {
            SeenBits::Heap(vec![0; words])
        }
    }

    fn words(&self) -> &[u64] {
        match self {
            SeenBits::Inline(w) => w,
            SeenBits::Heap(w) => w,
        }
    }

    fn words_mut(&mut self) -> &mut [u64] {
        match self {
            SeenBits::Inline(w) => w,
            SeenBits::Heap(w) => w,
        }
    }
}

/// Where a partition's walk runs: found from the MD5 of the partition
/// number, so only computed once a search needs it.
#[derive(Debug, Clone, Copy)]
struct Walk {
    class: usize,
    /// Index within the class of the first partition walked.
    k0: usize,
    class_len: usize,
    /// Partition 0 of the class is left out of the walk (Swift's quirk).
    skip0: bool,
}

impl Walk {
    fn new(ring: &Ring, part: u32) -> Walk {
        let start = super::hash::handoff_start(part, ring.part_shift) as usize;
        let class = start % ring.inc;
        Walk {
            class,
            k0: start / ring.inc,
            class_len: class_len(ring, class),
            skip0: class == 0 && start > 0,
        }
    }
}

/// Lazy iterator over a partition's handoff nodes.
pub struct Handoffs<'a> {
    ring: &'a Ring,
    part: u32,
    walk: Option<Walk>,
    phase: usize,
    /// Next walk position to look at: `j * rows + r`, `j` counted from `k0`.
    cursor: usize,
    seen: SeenBits,
    seen_count: [usize; LEVELS],
    yielded: usize,
    budget: usize,
}

impl<'a> Handoffs<'a> {
    pub(crate) fn new(ring: &'a Ring, part: u32, budget: usize) -> Handoffs<'a> {
        let mut it = Handoffs {
            ring,
            part,
            walk: None,
            phase: 0,
            cursor: 0,
            seen: SeenBits::new(ring.seen_words),
            seen_count: [0; LEVELS],
            yielded: 0,
            budget,
        };
        // The primaries, straight from the table: marking is idempotent, so
        // a device holding several replicas needs no deduplication, and
        // every assigned device exists (checked when the ring was built).
        for r in 0..ring.rows {
            if let Some(dev) = ring.table.get(r, part as usize) {
                it.mark(dev);
            }
        }
        it
    }

    fn is_seen(&self, words: &[u64], level: usize, tier: u32) -> bool {
        words[self.ring.seen_offsets[level] + tier as usize / 64] & (1u64 << (tier % 64)) != 0
    }

    fn mark(&mut self, dev: u32) {
        let tiers = self.ring.dev_tiers[dev as usize];
        let words = self.seen.words_mut();
        for (level, &tier) in tiers.iter().enumerate() {
            let word = &mut words[self.ring.seen_offsets[level] + tier as usize / 64];
            let bit = 1u64 << (tier % 64);
            if *word & bit == 0 {
                *word |= bit;
                self.seen_count[level] += 1;
            }
        }
    }

    /// Device at walk position `u`, if that slot exists.
    fn slot(&self, w: &Walk, u: usize) -> Option<u32> {
        let rows = self.ring.rows;
        let k = (w.k0 + u / rows) % w.class_len;
        if w.skip0 && k == 0 {
            return None;
        }
        let hp = w.class + k * self.ring.inc;
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
    fn next_unseen(&self, w: &Walk, level: usize) -> Option<usize> {
        if self.budget == 0 {
            return self.find_indexed(w, level, self.cursor);
        }
        let ring = self.ring;
        let rows = ring.rows;
        let mut j = self.cursor / rows;
        let mut r = self.cursor % rows;
        let mut scanned = 0;
        let mut charged = 0;
        let mut next_check = self.budget;
        let words = self.seen.words();
        while j < w.class_len {
            if scanned >= next_check {
                if ring.index[w.class][level].get().is_some() {
                    return self.find_indexed(w, level, j * rows);
                }
                let credit = &ring.scan_credit[w.class][level];
                let paid = credit.fetch_add((scanned - charged) as u64, Ordering::Relaxed)
                    + (scanned - charged) as u64;
                charged = scanned;
                if paid >= (w.class_len * rows) as u64 {
                    return self.find_indexed(w, level, j * rows);
                }
                next_check = scanned + CHARGE_EVERY;
            }
            let mut k = w.k0 + j;
            if k >= w.class_len {
                k -= w.class_len;
            }
            if !(w.skip0 && k == 0) {
                let hp = w.class + k * ring.inc;
                for rr in r..rows {
                    if let Some(dev) = ring.table.get(rr, hp) {
                        if !self.is_seen(words, level, ring.dev_tiers[dev as usize][level]) {
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
    fn find_indexed(&self, w: &Walk, level: usize, from: usize) -> Option<usize> {
        let ring = self.ring;
        let index =
            ring.index[w.class][level].get_or_init(|| TierIndex::build(ring, w.class, level));
        let rows = ring.rows;
        let split = w.k0 * rows;
        let seg1 = (w.class_len - w.k0) * rows;
        let low = if w.skip0 { rows } else { 0 };
        let words = self.seen.words();
        let mut best: Option<usize> = None;
        for tier in 0..ring.tier_counts[level] {
            if self.is_seen(words, level, tier as u32) {
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
                let ring = self.ring;
                let part = self.part;
                let w = *self.walk.get_or_insert_with(|| Walk::new(ring, part));
                if let Some(u) = self.next_unseen(&w, level) {
                    if let Some(dev) = self.slot(&w, u) {
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
