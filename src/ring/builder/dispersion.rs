//! The dispersion graph (replicas of each partition per tier), the
//! dispersion figure, and the rows of `dispersion -v`.

use std::collections::BTreeMap;

use super::plan::max_replicas;
use super::tiers::{tier_name, tuple_order, TierTree, LEVELS};
use super::{RingBuilder, Tier};

/// One row of the verbose dispersion report.
#[derive(Debug, Clone, PartialEq)]
pub struct DispersionRow {
    pub tier: Tier,
    /// `r1`, `r1z2`, `r1z2-10.0.0.1`, `r1z2-10.0.0.1/sdb`.
    pub name: String,
    /// Part-replicas placed in the tier.
    pub parts: u64,
    /// Percentage of those above the tier's max-allowed count.
    pub percent: f64,
    /// Max-allowed replicas of one partition in the tier.
    pub max: u64,
    /// Number of partitions with 0, 1, 2, … replicas in the tier.
    pub replicas: Vec<u64>,
}

impl RingBuilder {
    /// Rebuilds `dispersion_graph` and `dispersion` from the current table
    /// and bumps `version`, as Swift does after every rebalance.
    ///
    /// Like Swift, only partitions below the shortest row's length are
    /// counted (fractional replica counts), and dispersion is the share of
    /// part-replicas above their tier's max-allowed count.
    pub fn build_dispersion_graph(&mut self) {
        let tree = TierTree::new(self);
        let maxr = max_replicas(&tree, self.replicas, true);
        let parts = self.parts() as u64;
        let width = self.replicas.ceil() as usize + 1;
        let mut graph = vec![0u64; tree.nodes.len() * width];
        let mut touched = vec![false; tree.nodes.len()];
        let mut at_risk = 0u64;
        let rows = self.replica2part2dev.as_deref().unwrap_or(&[]);
        let min_len = rows.iter().map(Vec::len).min().unwrap_or(0);
        let mut counts: Vec<(u32, usize)> = Vec::with_capacity(4 * rows.len());
        for p in 0..min_len {
            counts.clear();
            for row in rows {
                let Some(path) = tree.path(row[p]) else {
                    continue;
                };
                for &t in path {
                    match counts.iter_mut().find(|(n, _)| *n == t) {
                        Some(e) => e.1 += 1,
                        None => counts.push((t, 1)),
                    }
                }
            }
            let mut depth = [0u64; LEVELS + 1];
            for &(t, c) in &counts {
                let t = t as usize;
                let base = t * width;
                if !touched[t] {
                    touched[t] = true;
                    graph[base] = parts;
                }
                graph[base] -= 1;
                graph[base + c.min(width - 1)] += 1;
                if c as f64 > maxr[t] {
                    let level = tree.nodes[t].level as usize;
                    depth[level] += (c as f64 - maxr[t]) as u64;
                }
            }
            at_risk += depth.iter().copied().max().unwrap_or(0);
        }
        let mut out = BTreeMap::new();
        for (t, node) in tree.nodes.iter().enumerate() {
            if let (true, Some(tier)) = (touched[t], &node.tier) {
                out.insert(tier.clone(), graph[t * width..(t + 1) * width].to_vec());
            }
        }
        self.dispersion_graph = out;
        self.dispersion = Some(100.0 * at_risk as f64 / (parts as f64 * self.replicas));
        self.version += 1;
    }

    /// Rows of `dispersion -v` from the stored graph, in tier order.
    pub fn dispersion_report(&self) -> Vec<DispersionRow> {
        let tree = TierTree::new(self);
        let maxr = max_replicas(&tree, self.replicas, true);
        let mut max_of: BTreeMap<&Tier, f64> = BTreeMap::new();
        for (t, node) in tree.nodes.iter().enumerate() {
            if let Some(tier) = &node.tier {
                max_of.insert(tier, maxr[t]);
            }
        }
        let mut rows: Vec<DispersionRow> = self
            .dispersion_graph
            .iter()
            .map(|(tier, counts)| {
                let max = max_of.get(tier).copied().unwrap_or(0.0) as u64;
                let mut at_risk = 0;
                let mut placed = 0;
                for (i, &n) in counts.iter().enumerate() {
                    let i = i as u64;
                    placed += n * i;
                    if i > max {
                        at_risk += n * (i - max);
                    }
                }
                let percent = if placed > 0 {
                    100.0 * at_risk as f64 / placed as f64
                } else {
                    0.0
                };
                DispersionRow {
                    tier: tier.clone(),
                    name: tier_name(tier, self),
                    parts: placed,
                    percent,
                    max,
                    replicas: counts.clone(),
                }
            })
            .collect();
        rows.sort_by(|a, b| tuple_order(&a.tier, &b.tier));
        rows
    }
}

/// The first row with the strictly largest percentage, if above zero
/// (Swift's "Worst tier").
pub fn worst_tier(rows: &[DispersionRow]) -> Option<&DispersionRow> {
    let mut best: Option<&DispersionRow> = None;
    for r in rows {
        if r.percent > best.map_or(0.0, |b| b.percent) {
            best = Some(r);
        }
    }
    best
}
