//! `RingBuilder::rebalance`: plan targets, vacate what must move, place it,
//! then shift surplus part-replicas to devices below target.
//!
//! Phases, each scanning partitions from a seeded random offset:
//! 1. slots that must move regardless of targets (new replica rows, devices
//!    marked for removal, holes) are vacated and placed;
//! 2. partitions breaking a tier's plan maximum are fixed (one replica each);
//! 3. surplus replicas move to devices with room, first where the move
//!    lowers dispersion risk, then anywhere that keeps it.
//!
//! Only slots on over-target devices move, and only onto under-target ones,
//! so moved part-replicas stay at the minimum the final counts require.

use std::collections::BTreeMap;

use rand::Rng;

use super::gather::{Mode, Mover, MoverInput, HIGH, TARGET};
use super::plan::{py_float, Plan};
use super::tiers::{tuple_order, TierTree, LEVELS};
use super::{BuilderError, RingBuilder, Tier};
use crate::ring::{NONE_DEV_2, NONE_DEV_4};

/// Part-replicas gained and lost by one tier in a rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierMoves {
    pub tier: Tier,
    pub gained: u64,
    pub lost: u64,
}

/// What a rebalance did.
#[derive(Debug, Clone, PartialEq)]
pub struct RebalanceOutcome {
    /// (part, replica) slots whose device changed, counted as Swift counts
    /// them (only partitions below the shortest row's length).
    pub changed_parts: usize,
    /// All (part, replica) slots whose device changed.
    pub moved_replicas: usize,
    pub balance: f64,
    pub dispersion: f64,
    pub removed_devices: usize,
    /// The min_part_hours clock had not expired when the rebalance started.
    pub min_part_hours_blocked: bool,
    /// Per region, zone, server and device (removed ones included), in tier order.
    pub moves: Vec<TierMoves>,
}

/// Progress of a rebalance: (units done, units total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

impl RingBuilder {
    /// Seconds until partitions may move again (Swift's `min_part_seconds_left`).
    pub fn min_part_seconds_left(&self, now: i64) -> i64 {
        let elapsed = now - self.last_part_moves_epoch;
        (i64::from(self.min_part_hours) * 3600 - elapsed).max(0)
    }

    /// Ages `last_part_moves` by the whole hours since the last advance.
    pub fn update_last_part_moves(&mut self, now: i64) {
        let hours = (now - self.last_part_moves_epoch).div_euclid(3600);
        if hours <= 0 {
            return;
        }
        let h = hours.min(255) as u8;
        for m in self.last_part_moves.iter_mut() {
            *m = m.saturating_add(h);
        }
        self.last_part_moves_epoch = now;
    }

    /// Rebalances the ring; see the module docs.
    pub fn rebalance(
        &mut self,
        now: i64,
        rng: &mut impl Rng,
    ) -> Result<RebalanceOutcome, BuilderError> {
        self.rebalance_with_progress(now, rng, &mut |_, _| {})
    }

    /// [`RingBuilder::rebalance`] reporting progress through `progress`.
    pub fn rebalance_with_progress(
        &mut self,
        now: i64,
        rng: &mut impl Rng,
        progress: Progress<'_>,
    ) -> Result<RebalanceOutcome, BuilderError> {
        let weighted = self
            .devs
            .iter()
            .flatten()
            .filter(|d| d.dev.weight > 0.0)
            .count();
        if (weighted as f64) < self.replicas {
            return Err(BuilderError::Validation(format!(
                "Replica count of {} requires more than {} devices",
                py_float(self.replicas),
                weighted
            )));
        }
        let blocked = self.min_part_seconds_left(now) > 0;
        let parts = self.parts();
        if self.last_part_moves.len() != parts {
            self.last_part_moves.resize(parts, 0);
        }
        self.update_last_part_moves(now);

        let tree = TierTree::new(self);
        let plan = Plan::new(self, &tree)?;
        let none = if self.dev_id_bytes > 2 {
            NONE_DEV_4
        } else {
            NONE_DEV_2
        };

        let mut rows = self.replica2part2dev.take().unwrap_or_default();
        let old_lens = resize_rows(&mut rows, self.replicas, parts, none);
        let mut count = vec![0i64; self.devs.len()];
        for row in &rows {
            for &d in row {
                if let Some(c) = count.get_mut(d as usize) {
                    *c += 1;
                }
            }
        }
        let tiebreak = (0..tree.nodes.len()).map(|_| rng.gen::<u32>()).collect();
        let start = rng.gen_range(0..parts);
        let min_part_hours = self.min_part_hours;
        let mut lpm = std::mem::take(&mut self.last_part_moves);
        let removing: Vec<bool> = {
            let mut v = vec![false; self.devs.len()];
            for &id in &self.remove_devs {
                if let Some(x) = v.get_mut(id as usize) {
                    *x = true;
                }
            }
            v
        };

        let result = {
            let wop = self.weight_of_one_part()?;
            let ideal = ideal_of(self, wop);
            let input = MoverInput {
                none,
                count,
                ideal,
                tiebreak,
                seed: rng.gen(),
                min_part_hours,
                slack: swift_target_balance(&plan, &tree, &ideal_of(self, wop)),
            };
            let mut mv = Mover::new(&tree, &plan, &mut rows, &mut lpm, input);
            run_phases(&mut mv, &old_lens, &removing, start, progress)
        };
        self.last_part_moves = lpm;
        let (counts, log) = result?;

        self.replica2part2dev = Some(rows);
        self.last_part_gather_start = start as u64;
        self.finish(&tree, &plan, counts, log, &old_lens, blocked)
    }

    /// Stores counts, removes devices, rebuilds the dispersion graph and
    /// assembles the outcome.
    fn finish(
        &mut self,
        tree: &TierTree,
        plan: &Plan,
        counts: Vec<i64>,
        log: Vec<(u32, u8, u32)>,
        old_lens: &[usize],
        blocked: bool,
    ) -> Result<RebalanceOutcome, BuilderError> {
        let total = (self.replicas * self.parts() as f64) as i64;
        for (id, slot) in self.devs.iter_mut().enumerate() {
            if let Some(d) = slot {
                d.parts = counts.get(id).copied().unwrap_or(0).max(0) as u64;
                d.parts_wanted = Some(match tree.path(id as u32) {
                    Some(p) if d.dev.weight > 0.0 => {
                        plan.parts[p[LEVELS - 1] as usize] - d.parts as i64
                    }
                    _ => -total,
                });
            }
        }
        let rows = self.replica2part2dev.as_ref().map_or(&[][..], |r| &r[..]);
        let min_len = rows.iter().map(Vec::len).min().unwrap_or(0);
        let mut gained = vec![0u64; counts.len()];
        let mut lost = vec![0u64; counts.len()];
        let mut changed = 0usize;
        let mut moved = 0usize;
        for &(p, r, old) in &log {
            let new = rows[r as usize][p as usize];
            if new != old {
                moved += 1;
                if (p as usize) < min_len {
                    changed += 1;
                }
                if let Some(g) = gained.get_mut(new as usize) {
                    *g += 1;
                }
                if let Some(l) = lost.get_mut(old as usize) {
                    *l += 1;
                }
            }
        }
        for (r, row) in rows.iter().enumerate() {
            let from = old_lens.get(r).copied().unwrap_or(0).min(row.len());
            moved += row.len() - from;
            changed += min_len.saturating_sub(from);
            for &d in &row[from..] {
                if let Some(g) = gained.get_mut(d as usize) {
                    *g += 1;
                }
            }
        }
        let moves = tier_moves(tree, &gained, &lost);

        let removed = self.remove_failed_devices();
        self.devs_changed = false;
        self.build_dispersion_graph();
        Ok(RebalanceOutcome {
            changed_parts: changed,
            moved_replicas: moved,
            balance: self.get_balance(),
            dispersion: self.dispersion.unwrap_or(0.0),
            removed_devices: removed,
            min_part_hours_blocked: blocked,
            moves,
        })
    }

    /// Drops devices marked for removal; trims trailing holes and, if ids
    /// fit again, narrows the id width.
    fn remove_failed_devices(&mut self) -> usize {
        let mut removed = 0;
        while let Some(id) = self.remove_devs.pop() {
            if let Some(slot) = self.devs.get_mut(id as usize) {
                *slot = None;
            }
            removed += 1;
        }
        while matches!(self.devs.last(), Some(None)) {
            self.devs.pop();
        }
        if self.dev_id_bytes > 2 && self.devs.len() < (NONE_DEV_2 as usize) / 2 {
            self.dev_id_bytes = 2;
        }
        removed
    }
}

/// Weight-proportional part-replicas per device id.
fn ideal_of(b: &RingBuilder, wop: f64) -> Vec<f64> {
    b.devs
        .iter()
        .map(|d| d.as_ref().map_or(0.0, |d| d.dev.weight * wop))
        .collect()
}

/// The balance (a fraction) of Swift's own per-device plan: how far from
/// weight-proportional Swift's tool aims. Devices within it need not move.
fn swift_target_balance(plan: &Plan, tree: &TierTree, ideal: &[f64]) -> f64 {
    let mut worst: f64 = 0.0;
    for (id, path) in tree.dev_path.iter().enumerate() {
        let (Some(path), Some(&i)) = (path, ideal.get(id)) else {
            continue;
        };
        if i > 0.0 {
            let t = plan.parts[path[LEVELS - 1] as usize] as f64;
            worst = worst.max((t / i - 1.0).abs());
        }
    }
    worst
}

/// Truncates or extends the rows to the replica count; returns each row's
/// previous length (0 for new rows). New slots hold `none`.
fn resize_rows(rows: &mut Vec<Vec<u32>>, replicas: f64, parts: usize, none: u32) -> Vec<usize> {
    let whole = replicas.trunc() as usize;
    let frac = replicas.fract();
    let mut lens = vec![parts; whole];
    if frac > 0.0 {
        lens.push((parts as f64 * frac) as usize);
    }
    rows.truncate(lens.len());
    let mut old = Vec::with_capacity(lens.len());
    for (r, &len) in lens.iter().enumerate() {
        if r < rows.len() {
            old.push(rows[r].len().min(len));
            rows[r].resize(len, none);
        } else {
            old.push(0);
            rows.push(vec![none; len]);
        }
    }
    old
}

type PhaseResult = Result<(Vec<i64>, Vec<(u32, u8, u32)>), BuilderError>;

fn run_phases(
    mv: &mut Mover<'_>,
    old_lens: &[usize],
    removing: &[bool],
    start: usize,
    progress: Progress<'_>,
) -> PhaseResult {
    let parts = mv.changed.len();
    let nrows = mv.rows.len();
    let total_units = parts as u64 * 5;
    let tick = |done: usize, phase: u64, progress: &mut dyn FnMut(u64, u64)| {
        if done % 65536 == 0 {
            progress(phase * parts as u64 + done as u64, total_units);
        }
    };

    // Phase 1: vacate slots that must move, then place them part by part.
    for (r, &old_len) in old_lens.iter().enumerate().take(nrows) {
        for p in 0..mv.rows[r].len() {
            let d = mv.rows[r][p];
            let gone = d == mv.none
                || mv.tree.path(d).is_none()
                || removing.get(d as usize).copied().unwrap_or(false);
            if gone {
                if p < old_len {
                    mv.vacate(p, r);
                } else {
                    mv.mark_new(p, r, old_lens.iter().all(|&l| p >= l));
                }
            }
        }
    }
    let fresh = old_lens.iter().all(|&l| l == 0);
    let strict = [Mode::Improve, Mode::Keep, Mode::Plan];
    let passes: &[(bool, &[Mode])] = if fresh {
        &[
            (false, &strict),
            (false, &[Mode::Soft, Mode::Relaxed, Mode::Any]),
        ]
    } else {
        &[
            (true, &strict),
            (false, &strict),
            (false, &[Mode::Soft]),
            (false, &[Mode::Relaxed, Mode::Any]),
        ]
    };
    for (k, &(constrained, modes)) in passes.iter().enumerate() {
        mv.only_constrained = constrained;
        let last = k + 1 == passes.len();
        for i in 0..parts {
            let p = (start + i) % parts;
            for r in 0..nrows {
                if p < mv.rows[r].len()
                    && mv.rows[r][p] == mv.none
                    && !mv.place_vacant(p, r, modes)
                    && last
                {
                    return Err(BuilderError::Validation(format!(
                        "no home for {p}/{r}: not enough devices for the replica count"
                    )));
                }
            }
            tick(i, 0, progress);
        }
    }
    mv.only_constrained = false;

    // Phase 2: partitions over a tier's plan maximum (devices that lost
    // their weight included), then surplus to room, dispersion-improving
    // moves first. Region-constrained moves go before flexible ones.
    // A fresh build placed everything within the plan unless it had to
    // fall back to any free device.
    let check_plan = !fresh || mv.loose;
    let violating: Vec<usize> = if check_plan {
        (0..parts)
            .map(|i| (start + i) % parts)
            .filter(|&p| mv.plan_violation(p).is_some())
            .collect()
    } else {
        Vec::new()
    };
    let fix = |mv: &mut Mover<'_>, modes: &[Mode], constrained: bool| {
        mv.only_constrained = constrained;
        for &p in &violating {
            if let Some(r) = mv.plan_violation(p) {
                if mv.can_move(p, r) {
                    mv.try_move(p, r, modes);
                }
            }
        }
        mv.only_constrained = false;
    };
    let shed = |mv: &mut Mover<'_>, mode: Mode, over: usize, constrained: bool| {
        mv.only_constrained = constrained;
        // A pass moves at most one replica per partition; repeat while it
        // helps (partitions moved in an earlier pass can only move the
        // same slot again).
        for _ in 0..4 {
            let mut moved = 0;
            for i in 0..parts {
                if mv.avail[mode.bound()][0] == 0 || mv.excess == 0 {
                    break;
                }
                moved += usize::from(mv.shed_one((start + i) % parts, mode, over));
            }
            if moved == 0 {
                break;
            }
        }
        mv.only_constrained = false;
    };
    fix(mv, &strict, true);
    fix(mv, &strict, false);
    fix(mv, &[Mode::Soft], false);
    progress(parts as u64 * 2, total_units);
    shed(mv, Mode::Improve, TARGET, true);
    shed(mv, Mode::Improve, TARGET, false);
    progress(parts as u64 * 3, total_units);
    shed(mv, Mode::Keep, TARGET, true);
    shed(mv, Mode::Keep, TARGET, false);
    shed(mv, Mode::Plan, TARGET, false);
    progress(parts as u64 * 4, total_units);
    fix(mv, &[Mode::Relaxed], false);
    // Repairs: nothing above its high bound, nothing below its low bound.
    shed(mv, Mode::Keep, HIGH, false);
    shed(mv, Mode::Soft, HIGH, false);
    shed(mv, Mode::Fill, TARGET, false);
    progress(total_units, total_units);
    Ok((std::mem::take(&mut mv.count), std::mem::take(&mut mv.log)))
}

fn tier_moves(tree: &TierTree, gained: &[u64], lost: &[u64]) -> Vec<TierMoves> {
    let mut per: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for (counts, gain) in [(gained, true), (lost, false)] {
        for (dev, &n) in counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let Some(path) = tree.path(dev as u32) else {
                continue;
            };
            for &t in path {
                let e = per.entry(t).or_default();
                if gain {
                    e.0 += n;
                } else {
                    e.1 += n;
                }
            }
        }
    }
    let mut out: Vec<TierMoves> = per
        .into_iter()
        .filter_map(|(node, (gained, lost))| {
            let tier = tree.nodes[node as usize].tier.clone()?;
            Some(TierMoves { tier, gained, lost })
        })
        .collect();
    out.sort_by(|a, b| tuple_order(&a.tier, &b.tier));
    out
}
