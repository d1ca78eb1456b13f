//! The move engine: per-device targets, per-tier room, and placing one
//! part-replica at a time.
//!
//! Movement is kept near the minimum by only ever taking a replica off a
//! device holding more than its target (or off a device that is going away)
//! and only ever placing it on a device holding fewer than its target. Which
//! partition to move is chosen so the move also keeps (or improves)
//! dispersion: a tier never receives a replica beyond its plan maximum, and
//! never beyond Swift's "max allowed" count unless it already held that many.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::plan::Plan;
use super::tiers::{TierTree, LEVELS};

/// `changed[p]` for a partition none of whose slots changed.
pub const UNCHANGED: u8 = 0xFF;
/// `changed[p]` for a partition with several changed slots (removed devices,
/// replica-count changes): nothing else of it may move.
pub const LOCKED: u8 = 0xFE;
/// `changed[p]` for a partition all of whose slots are new: any may move.
pub const FREE: u8 = 0xFD;

/// Index into [`Mover::bounds`]: the planned count of each device.
pub const TARGET: usize = 0;
/// Index into [`Mover::bounds`]: the most a device may hold without its
/// balance exceeding the balance the targets themselves have.
pub const HIGH: usize = 1;
/// Index into [`Mover::bounds`]: the fewest, by the same measure.
pub const LOW: usize = 2;

/// How strictly a destination must respect dispersion and targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Below target, and no tier exceeds its max-allowed count (fixes risk).
    Improve,
    /// Below target, and no tier gains risk it did not have.
    Keep,
    /// Below target, within the plan maximum (risk allowed where the
    /// plan, following the weights, asks for it).
    Plan,
    /// Below the high bound, and no tier gains risk.
    Soft,
    /// Below the low bound, and no tier gains risk.
    Fill,
    /// Any weighted device within the plan maximum, fullest room first.
    Relaxed,
    /// Any weighted device not already holding the partition.
    Any,
}

impl Mode {
    pub fn bound(self) -> usize {
        match self {
            Mode::Soft => HIGH,
            Mode::Fill => LOW,
            _ => TARGET,
        }
    }
}

/// Mutable rebalance state shared by the passes.
pub struct Mover<'a> {
    pub tree: &'a TierTree,
    pub plan: &'a Plan,
    pub rows: &'a mut Vec<Vec<u32>>,
    pub none: u32,
    /// Indexed by device id.
    pub count: Vec<i64>,
    /// Counts when the rebalance started.
    initial: Vec<i64>,
    /// `[TARGET, HIGH, LOW]` counts per device id.
    pub bounds: [Vec<i64>; 3],
    /// Per bound, per node: Σ max(0, bound - count) over weighted devices.
    pub avail: [Vec<i64>; 3],
    /// Σ max(0, count - target) over all devices.
    pub excess: i64,
    /// Random tie-breaker per node.
    pub tiebreak: Vec<u32>,
    /// Randomness for choosing among destinations with room.
    rng: ChaCha8Rng,
    pub last_part_moves: &'a mut [u8],
    pub min_part_hours: u32,
    /// Per partition: the replica index that changed, UNCHANGED or LOCKED.
    pub changed: Vec<u8>,
    /// First change of each slot: (part, replica, device before the rebalance).
    pub log: Vec<(u32, u8, u32)>,
    /// When set, only moves whose region is forced (one allowed region) are
    /// made; the rest wait for a later pass so they do not take the room
    /// constrained replicas need.
    pub only_constrained: bool,
    /// Scratch: tier paths of the replicas of the partition being placed.
    others: Vec<[u32; LEVELS]>,
    /// Scratch: path of the replica being moved, if any.
    source: Option<[u32; LEVELS]>,
    /// Scratch: (replica, path) of every replica of a partition.
    all: Vec<(usize, [u32; LEVELS])>,
    /// Scratch: candidate (priority, replica) pairs.
    cands: Vec<(f64, usize)>,
    /// Scratch: (child, needed room, room) while choosing a destination.
    pick: Vec<(u32, i64, i64)>,
    /// Some slot was placed ignoring the plan maximum.
    pub loose: bool,
}

/// Inputs of [`Mover::new`] besides the tree, plan and tables.
pub struct MoverInput {
    pub none: u32,
    /// Part-replicas per device id.
    pub count: Vec<i64>,
    /// Weight-proportional part-replicas per device id (0 if unweighted).
    pub ideal: Vec<f64>,
    pub tiebreak: Vec<u32>,
    /// Seed of the destination choices.
    pub seed: u64,
    pub min_part_hours: u32,
    /// Balance (a fraction) devices may reach to save moves, at least.
    pub slack: f64,
}

impl<'a> Mover<'a> {
    pub fn new(
        tree: &'a TierTree,
        plan: &'a Plan,
        rows: &'a mut Vec<Vec<u32>>,
        last_part_moves: &'a mut [u8],
        input: MoverInput,
    ) -> Mover<'a> {
        let ndev = tree.dev_path.len();
        let mut target = vec![0i64; ndev];
        for (id, path) in tree.dev_path.iter().enumerate() {
            if let Some(path) = path {
                let leaf = path[LEVELS - 1] as usize;
                if tree.nodes[leaf].weighted_devices > 0 {
                    target[id] = plan.parts[leaf];
                }
            }
        }
        // The balance the targets themselves have; counts within it are
        // as good as the targets.
        let mut worst: f64 = input.slack;
        for (id, &t) in target.iter().enumerate() {
            let ideal = input.ideal.get(id).copied().unwrap_or(0.0);
            if ideal > 0.0 {
                worst = worst.max((t as f64 / ideal - 1.0).abs());
            }
        }
        let mut high = target.clone();
        let mut low = target.clone();
        for id in 0..ndev {
            let ideal = input.ideal.get(id).copied().unwrap_or(0.0);
            if ideal > 0.0 {
                high[id] = high[id].max((ideal * (1.0 + worst) + 1e-9).floor() as i64);
                low[id] = low[id].min((ideal * (1.0 - worst) - 1e-9).ceil() as i64);
            }
        }
        let bounds = [target, high, low];
        let count = input.count;
        let mut avail = [
            vec![0i64; tree.nodes.len()],
            vec![0i64; tree.nodes.len()],
            vec![0i64; tree.nodes.len()],
        ];
        let mut excess = 0;
        for (id, &c) in count.iter().enumerate() {
            let t = bounds[TARGET].get(id).copied().unwrap_or(0);
            excess += (c - t).max(0);
            let Some(Some(path)) = tree.dev_path.get(id) else {
                continue;
            };
            for k in 0..3 {
                let room = (bounds[k][id] - c).max(0);
                avail[k][0] += room;
                for &t in path {
                    avail[k][t as usize] += room;
                }
            }
        }
        let parts = last_part_moves.len();
        Mover {
            tree,
            plan,
            rows,
            none: input.none,
            initial: count.clone(),
            count,
            bounds,
            avail,
            excess,
            tiebreak: input.tiebreak,
            rng: ChaCha8Rng::seed_from_u64(input.seed),
            last_part_moves,
            min_part_hours: input.min_part_hours,
            changed: vec![UNCHANGED; parts],
            log: Vec::new(),
            only_constrained: false,
            others: Vec::with_capacity(8),
            source: None,
            all: Vec::with_capacity(8),
            cands: Vec::with_capacity(8),
            pick: Vec::with_capacity(64),
            loose: false,
        }
    }

    /// Part-replicas `dev` holds beyond its target.
    #[inline]
    pub fn surplus(&self, dev: u32) -> i64 {
        self.count[dev as usize] - self.bounds[TARGET][dev as usize]
    }

    fn add(&mut self, dev: u32) {
        let d = dev as usize;
        if self.count[d] >= self.bounds[TARGET][d] {
            self.excess += 1;
        }
        for k in 0..3 {
            if self.bounds[k][d] > self.count[d] {
                self.avail[k][0] -= 1;
                if let Some(path) = self.tree.dev_path[d] {
                    for t in path {
                        self.avail[k][t as usize] -= 1;
                    }
                }
            }
        }
        self.count[d] += 1;
    }

    fn take(&mut self, dev: u32) {
        let d = dev as usize;
        if d >= self.count.len() {
            return;
        }
        if self.count[d] > self.bounds[TARGET][d] {
            self.excess -= 1;
        }
        self.count[d] -= 1;
        for k in 0..3 {
            if self.bounds[k][d] > self.count[d] {
                self.avail[k][0] += 1;
                if let Some(path) = self.tree.dev_path[d] {
                    for t in path {
                        self.avail[k][t as usize] += 1;
                    }
                }
            }
        }
    }

    /// Whether slot (part, replica) may change in this rebalance.
    #[inline]
    pub fn can_move(&self, part: usize, replica: usize) -> bool {
        match self.changed[part] {
            UNCHANGED => u32::from(self.last_part_moves[part]) >= self.min_part_hours,
            LOCKED => false,
            FREE => true,
            r => r as usize == replica,
        }
    }

    fn record(&mut self, part: usize, replica: usize, old: u32) {
        match self.changed[part] {
            FREE => return,
            UNCHANGED => self.changed[part] = replica as u8,
            r if r as usize == replica => return,
            _ => self.changed[part] = LOCKED,
        }
        self.last_part_moves[part] = 0;
        self.log.push((part as u32, replica as u8, old));
    }

    /// Empties a slot whose device must give it up regardless of targets
    /// (device removed, or the slot is new). The caller places it later.
    pub fn vacate(&mut self, part: usize, replica: usize) {
        let old = self.rows[replica][part];
        if old != self.none {
            self.take(old);
        }
        self.rows[replica][part] = self.none;
        self.record(part, replica, old);
    }

    /// Notes a slot that did not exist before this rebalance.
    pub fn mark_new(&mut self, part: usize, replica: usize, whole: bool) {
        if whole {
            self.changed[part] = FREE;
            self.last_part_moves[part] = 0;
            return;
        }
        match self.changed[part] {
            UNCHANGED => self.changed[part] = replica as u8,
            r if r as usize == replica => {}
            _ => self.changed[part] = LOCKED,
        }
        self.last_part_moves[part] = 0;
    }

    /// A replica of `part` in a tier holding more replicas than its plan
    /// maximum (the one on the most overfull device), if any.
    pub fn plan_violation(&mut self, part: usize) -> Option<usize> {
        self.load_all(part);
        let mut best: Option<(i64, usize)> = None;
        for (i, (r, path)) in self.all.iter().enumerate() {
            let over = (0..LEVELS).any(|l| {
                let n = self.all.iter().filter(|(_, q)| q[l] == path[l]).count() as u32;
                n > self.plan.max[path[l] as usize]
            });
            if over {
                let s = self.surplus(self.rows[*r][part]);
                if best.is_none_or(|(b, _)| s > b) {
                    best = Some((s, i));
                }
            }
        }
        best.map(|(_, i)| self.all[i].0)
    }

    /// Moves at most one surplus replica of `part` to a device with room.
    /// With `Mode::Improve` only replicas in a tier above its max-allowed
    /// count are considered.
    pub fn shed_one(&mut self, part: usize, mode: Mode, over: usize) -> bool {
        let mut cands = std::mem::take(&mut self.cands);
        cands.clear();
        for r in 0..self.rows.len() {
            let Some(&dev) = self.rows[r].get(part) else {
                continue;
            };
            if dev == self.none || (dev as usize) >= self.count.len() {
                continue;
            }
            let d = dev as usize;
            let s = self.surplus(dev);
            let above = self.count[d] > self.bounds[over][d];
            // A device that gained in this rebalance only gives back what
            // is above its high bound, or to lift a device below its low
            // bound: anything else would be a wasted move.
            let fill = mode == Mode::Fill;
            let slot_free = self.changed[part] == FREE;
            let source =
                above && (over == HIGH || fill || slot_free || self.count[d] <= self.initial[d]);
            if source && self.can_move(part, r) {
                let t = self.bounds[TARGET][d].max(1) as f64;
                cands.push((s as f64 / t, r));
            }
        }
        if !cands.is_empty() && mode == Mode::Improve {
            self.load_all(part);
            let all = &self.all;
            let maxr = &self.plan.max_allowed;
            let risky = |r: usize| {
                all.iter().filter(|(q, _)| *q == r).any(|(_, path)| {
                    (0..LEVELS).any(|l| {
                        let n = all.iter().filter(|(_, q)| q[l] == path[l]).count();
                        n > 1 && n as f64 > maxr[path[l] as usize]
                    })
                })
            };
            cands.retain(|(_, r)| risky(*r));
        }
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut done = false;
        for &(_, r) in &cands {
            if self.try_move(part, r, &[mode]) {
                done = true;
                break;
            }
        }
        self.cands = cands;
        done
    }

    /// (replica, tier path) of every assigned replica of `part`.
    fn load_all(&mut self, part: usize) {
        self.all.clear();
        for (r, row) in self.rows.iter().enumerate() {
            let Some(&dev) = row.get(part) else { continue };
            if let Some(path) = self.tree.path(dev) {
                self.all.push((r, *path));
            }
        }
    }

    /// Places an empty slot under the first of `modes` that finds a home.
    pub fn place_vacant(&mut self, part: usize, replica: usize, modes: &[Mode]) -> bool {
        for &mode in modes {
            if let Some(dev) = self.find_home(part, replica, mode) {
                self.loose |= mode == Mode::Any;
                self.rows[replica][part] = dev;
                self.add(dev);
                return true;
            }
        }
        false
    }

    /// Moves slot (part, replica) to a better device under `modes`, if one exists.
    pub fn try_move(&mut self, part: usize, replica: usize, modes: &[Mode]) -> bool {
        let old = self.rows[replica][part];
        for &mode in modes {
            if let Some(dev) = self.find_home(part, replica, mode) {
                self.take(old);
                self.add(dev);
                self.rows[replica][part] = dev;
                self.record(part, replica, old);
                return true;
            }
        }
        false
    }

    /// Tier paths of the partition's replicas other than `skip`.
    fn load_part(&mut self, part: usize, skip: usize) {
        self.others.clear();
        self.source = None;
        for (r, row) in self.rows.iter().enumerate() {
            let Some(&dev) = row.get(part) else { continue };
            if dev == self.none {
                continue;
            }
            let Some(path) = self.tree.path(dev) else {
                continue;
            };
            if r == skip {
                self.source = Some(*path);
            } else {
                self.others.push(*path);
            }
        }
    }

    /// Replicas of the loaded partition (excluding the moving one) in `node`.
    #[inline]
    fn held(&self, level: usize, node: u32) -> u32 {
        self.others.iter().filter(|p| p[level] == node).count() as u32
    }

    /// Chooses a destination device for slot (part, replica) under `mode`.
    pub fn find_home(&mut self, part: usize, replica: usize, mode: Mode) -> Option<u32> {
        self.load_part(part, replica);
        self.descend(0, 0, mode)
    }

    fn allowed(&self, level: usize, node: u32, mode: Mode) -> bool {
        let n = node as usize;
        if self.tree.nodes[n].weighted_devices == 0 {
            return false;
        }
        let plan_max = self.plan.max[n];
        match mode {
            Mode::Plan => self.avail[TARGET][n] > 0 && self.held(level, node) < plan_max,
            Mode::Improve | Mode::Keep | Mode::Soft | Mode::Fill => {
                if self.avail[mode.bound()][n] <= 0 {
                    return false;
                }
                let held = self.held(level, node);
                if held >= plan_max {
                    return false;
                }
                let mut cap = self.plan.max_allowed[n];
                if mode != Mode::Improve {
                    let was = held + u32::from(self.source.is_some_and(|s| s[level] == node));
                    cap = cap.max(f64::from(was));
                }
                f64::from(held + 1) <= cap
            }
            Mode::Relaxed => self.held(level, node) < plan_max,
            Mode::Any => level != LEVELS - 1 || self.held(level, node) == 0,
        }
    }

    fn descend(&mut self, node: u32, level: usize, mode: Mode) -> Option<u32> {
        let tree = self.tree;
        let kids = &tree.nodes[node as usize].children;
        if level == 0 && self.only_constrained {
            let allowed = kids
                .iter()
                .filter(|&&c| self.allowed(level, c, mode))
                .count();
            if allowed > 1 {
                return None;
            }
        }
        let by_room = !matches!(mode, Mode::Relaxed | Mode::Any);
        let mut tried: Vec<u32> = Vec::new();
        loop {
            let best = if by_room {
                self.pick_by_room(node, kids, &tried, level, mode)
            } else {
                self.pick_fullest(kids, &tried, level, mode)
            };
            let b = best?;
            if level == LEVELS - 1 {
                return tree.nodes[b as usize].dev_id;
            }
            if let Some(d) = self.descend(b, level + 1, mode) {
                return Some(d);
            }
            tried.push(b);
        }
    }

    /// A random allowed child, chosen with probability proportional to its
    /// room. Room below the low bound is needed, room between low bound and
    /// target only wanted: while any child needs room, only those compete.
    /// Random (rather than fullest-first) choice keeps which partitions
    /// share a device uncorrelated, which later rebalances need.
    fn pick_by_room(
        &mut self,
        node: u32,
        kids: &[u32],
        tried: &[u32],
        level: usize,
        mode: Mode,
    ) -> Option<u32> {
        let bound = mode.bound();
        // Fast path: a node's room is the sum of its children's, so draw
        // among all children and accept the draw if it is allowed.
        if tried.is_empty() {
            let n = node as usize;
            let table = if self.avail[LOW][n] > 0 { LOW } else { bound };
            let total = self.avail[table][n];
            if total > 0 {
                let mut x = self.rng.gen_range(0..total);
                for &c in kids {
                    let w = self.avail[table][c as usize].max(0);
                    if x < w {
                        if self.allowed(level, c, mode) {
                            return Some(c);
                        }
                        break;
                    }
                    x -= w;
                }
            }
        }
        let mut scratch = std::mem::take(&mut self.pick);
        scratch.clear();
        let mut need = 0i64;
        let mut room = 0i64;
        for &c in kids {
            if tried.contains(&c) || !self.allowed(level, c, mode) {
                continue;
            }
            let low = self.avail[LOW][c as usize].max(0);
            let r = self.avail[bound][c as usize].max(0);
            need += low;
            room += r;
            scratch.push((c, low, r));
        }
        let total = if need > 0 { need } else { room };
        let mut chosen = None;
        if total > 0 {
            let mut x = self.rng.gen_range(0..total);
            for &(c, low, r) in &scratch {
                let w = if need > 0 { low } else { r };
                if x < w {
                    chosen = Some(c);
                    break;
                }
                x -= w;
            }
        }
        self.pick = scratch;
        chosen
    }

    /// The allowed child with the most room (ties by a random order).
    fn pick_fullest(&self, kids: &[u32], tried: &[u32], level: usize, mode: Mode) -> Option<u32> {
        let av = &self.avail[mode.bound()];
        let mut best: Option<u32> = None;
        for &c in kids {
            if tried.contains(&c) || !self.allowed(level, c, mode) {
                continue;
            }
            best = match best {
                None => Some(c),
                Some(b) => {
                    let kb = (av[b as usize], self.tiebreak[b as usize]);
                    let kc = (av[c as usize], self.tiebreak[c as usize]);
                    Some(if kc > kb { c } else { b })
                }
            };
        }
        best
    }
}
