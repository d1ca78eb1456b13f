//! The replica plan: weighted, maximum, wanted and target replicanths per
//! tier, overload, and the number of part-replicas each device should hold.
//!
//! The numbers follow Swift's definitions (weights → replicanths, unique as
//! possible spreading, overload blending) so plans, `required_overload` and
//! dispersion figures agree with Swift's tool.

use super::tiers::{TierTree, LEVELS};
use super::{BuilderError, RingBuilder};

/// Per-node (index = tier node) planning results.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Replicanths by weight alone.
    pub weighted: Vec<f64>,
    /// Replicanths for the most unique placement the device counts allow.
    pub wanted: Vec<f64>,
    /// Weighted blended towards wanted by the overload.
    pub target: Vec<f64>,
    /// `floor(target)` / `ceil(target)`: replicas of one partition a tier may hold.
    pub min: Vec<u32>,
    pub max: Vec<u32>,
    /// Maximum replicas allowed for full dispersion (ceil bound); 0 for tiers
    /// without weighted devices.
    pub max_allowed: Vec<f64>,
    /// Part-replicas each tier should hold, summing to `int(P * R)`, rounded
    /// tier by tier as Swift does (its `parts_wanted`). These are the
    /// rebalance's per-device targets.
    pub parts: Vec<i64>,
    pub required_overload: f64,
}

/// Python's `repr` of a float, e.g. `3.0`, `3.25`.
pub fn py_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

impl RingBuilder {
    /// `P * R / Σ weight`, Swift's weight of one part-replica.
    pub fn weight_of_one_part(&self) -> Result<f64, BuilderError> {
        let total: f64 = self.devs.iter().flatten().map(|d| d.dev.weight).sum();
        if total == 0.0 {
            return Err(BuilderError::EmptyRing);
        }
        Ok(self.parts() as f64 * self.replicas / total)
    }

    /// The smallest overload that would let the ring be fully dispersed
    /// (a fraction, 0.1 = 10%).
    pub fn get_required_overload(&self) -> Result<f64, BuilderError> {
        let tree = TierTree::new(self);
        Ok(Plan::new(self, &tree)?.required_overload)
    }

    /// Alias of [`RingBuilder::get_required_overload`].
    pub fn required_overload(&self) -> Result<f64, BuilderError> {
        self.get_required_overload()
    }
}

impl Plan {
    /// Computes the plan for `builder`'s devices over `tree`.
    pub fn new(builder: &RingBuilder, tree: &TierTree) -> Result<Plan, BuilderError> {
        let n = tree.nodes.len();
        let replicas = builder.replicas;
        let weighted = weighted_replicas(builder, tree)?;
        let dispersed = max_replicas(tree, replicas, false);
        let max_allowed = max_replicas(tree, replicas, true);
        let mut wanted = vec![0.0; n];
        place_wanted(tree, &weighted, &dispersed, 0, replicas, &mut wanted)?;

        let mut required: f64 = 0.0;
        for path in tree.dev_path.iter().flatten() {
            let d = path[LEVELS - 1] as usize;
            if weighted[d] > 0.0 {
                required = required.max((wanted[d] - weighted[d]) / weighted[d]);
            }
        }
        let target = if required <= 0.0 {
            wanted.clone()
        } else {
            let o = builder.overload.min(required);
            (0..n)
                .map(|t| {
                    if tree.nodes[t].weighted_devices == 0 {
                        0.0
                    } else {
                        (wanted[t] - weighted[t]) / required * o + weighted[t]
                    }
                })
                .collect()
        };
        let min = target.iter().map(|t| (t + 1e-10).floor() as u32).collect();
        let max = target
            .iter()
            .map(|t| (t - 1e-10).ceil().max(0.0) as u32)
            .collect();
        let mut plan = Plan {
            weighted,
            wanted,
            target,
            min,
            max,
            max_allowed,
            parts: vec![0; n],
            required_overload: required.max(0.0),
        };
        let total = (replicas * builder.parts() as f64) as i64;
        plan.place_parts(tree, 0, total, builder.parts() as f64);
        Ok(plan)
    }

    /// Hands out `n` part-replicas under `node` by target, leftovers to the
    /// children with the smallest targets first.
    fn place_parts(&mut self, tree: &TierTree, node: u32, mut n: i64, parts: f64) {
        self.parts[node as usize] = n;
        let kids: Vec<u32> = tree.weighted_children(node).collect();
        if kids.is_empty() {
            return;
        }
        let mut to_place = vec![0i64; kids.len()];
        for (i, &k) in kids.iter().enumerate() {
            to_place[i] = n.min((self.target[k as usize] * parts).floor() as i64);
            n -= to_place[i];
        }
        let mut order: Vec<usize> = (0..kids.len()).collect();
        order.sort_by(|a, b| {
            self.target[kids[*a] as usize].total_cmp(&self.target[kids[*b] as usize])
        });
        let mut i = 0;
        while n > 0 {
            to_place[order[i % order.len()]] += 1;
            n -= 1;
            i += 1;
        }
        for (i, &k) in kids.iter().enumerate() {
            self.place_parts(tree, k, to_place[i], parts);
        }
    }
}

/// Replicanths by weight, each device capped at one replica of any partition.
fn weighted_replicas(builder: &RingBuilder, tree: &TierTree) -> Result<Vec<f64>, BuilderError> {
    let wop = builder.weight_of_one_part()?;
    let parts = builder.parts() as f64;
    let mut w: Vec<(u32, f64)> = Vec::new();
    for (id, d) in builder.devs.iter().enumerate() {
        if let Some(d) = d {
            if d.dev.weight > 0.0 {
                w.push((id as u32, (d.dev.weight * wop / parts).min(1.0)));
            }
        }
    }
    let mut rounds = 0;
    loop {
        let remaining = builder.replicas - w.iter().map(|x| x.1).sum::<f64>();
        if remaining < 1e-10 || rounds > 10_000 {
            break;
        }
        rounds += 1;
        let room: f64 = w.iter().filter(|x| x.1 < 1.0).map(|x| x.1).sum();
        if room <= 0.0 {
            break;
        }
        let rel = remaining / room;
        for x in w.iter_mut().filter(|x| x.1 < 1.0) {
            x.1 = (x.1 * (rel + 1.0)).min(1.0);
        }
    }
    let mut out = vec![0.0; tree.nodes.len()];
    for (id, v) in w {
        if let Some(path) = tree.path(id) {
            for &t in path {
                out[t as usize] += v;
            }
        }
    }
    out[0] = builder.replicas;
    Ok(out)
}

/// Maximum replicas per tier: each child of a tier with value `v` and `k`
/// weighted children gets `v / k` (rounded up when `ceil`), devices at most 1.
pub fn max_replicas(tree: &TierTree, replicas: f64, ceil: bool) -> Vec<f64> {
    let mut out = vec![0.0; tree.nodes.len()];
    let mut stack = vec![(0u32, replicas)];
    while let Some((node, mut v)) = stack.pop() {
        if tree.nodes[node as usize].level as usize == LEVELS {
            v = v.min(1.0);
        }
        out[node as usize] = v;
        let kids: Vec<u32> = tree.weighted_children(node).collect();
        for k in &kids {
            let sub = v / kids.len() as f64;
            stack.push((*k, if ceil { sub.ceil() } else { sub }));
        }
    }
    out
}

/// Spreads `r` replicanths of `node` over its weighted children by weight,
/// kept within each child's dispersed min/max and device count.
fn place_wanted(
    tree: &TierTree,
    weighted: &[f64],
    dispersed: &[f64],
    node: u32,
    r: f64,
    wanted: &mut [f64],
) -> Result<(), BuilderError> {
    let ndev = tree.nodes[node as usize].weighted_devices as f64;
    if r > ndev {
        return Err(BuilderError::Validation(format!(
            "More replicanths ({}) than devices ({}) in tier ({})",
            py_float(r),
            ndev as u64,
            tier_repr(tree, node)
        )));
    }
    wanted[node as usize] = r;
    let kids: Vec<u32> = tree.weighted_children(node).collect();
    if kids.is_empty() {
        return Ok(());
    }
    let dmin = |t: u32| dispersed[t as usize].floor();
    let dmax = |t: u32| dispersed[t as usize].ceil();
    let nd = |t: u32| tree.nodes[t as usize].weighted_devices as f64;
    let mut to_place = vec![0.0f64; kids.len()];
    let mut spread: Vec<usize> = (0..kids.len()).collect();
    let mut remaining = r;
    let mut device_limited = false;
    for _ in 0..10_000 {
        let denom: f64 = spread.iter().map(|&i| weighted[kids[i] as usize]).sum();
        let rel = remaining / denom;
        for &i in &spread {
            let t = kids[i];
            let mut x = to_place[i] + weighted[t as usize] * rel;
            if x < dmin(t) {
                x = dmin(t);
            } else if x > dmax(t) && !device_limited {
                x = dmax(t);
            }
            if x > nd(t) {
                x = nd(t);
            }
            to_place[i] = x;
        }
        remaining = r - to_place.iter().sum::<f64>();
        if remaining < -1e-10 {
            spread = (0..kids.len())
                .filter(|&i| to_place[i] > dmin(kids[i]))
                .collect();
        } else if remaining > 1e-10 {
            spread = (0..kids.len())
                .filter(|&i| nd(kids[i]) > to_place[i] && to_place[i] < dmax(kids[i]))
                .collect();
            if spread.is_empty() {
                device_limited = true;
                spread = (0..kids.len())
                    .filter(|&i| to_place[i] < nd(kids[i]))
                    .collect();
            }
        } else {
            break;
        }
        if spread.is_empty() {
            break;
        }
    }
    for (i, &k) in kids.iter().enumerate() {
        place_wanted(tree, weighted, dispersed, k, to_place[i], wanted)?;
    }
    Ok(())
}

/// Python repr of a tier tuple, for error messages.
fn tier_repr(tree: &TierTree, node: u32) -> String {
    use super::Tier;
    match &tree.nodes[node as usize].tier {
        None => "()".to_string(),
        Some(Tier::Region(r)) => format!("({r},)"),
        Some(Tier::Zone(r, z)) => format!("({r}, {z})"),
        Some(Tier::Server(r, z, ip)) => format!("({r}, {z}, '{ip}')"),
        Some(Tier::Device(r, z, ip, id)) => format!("({r}, {z}, '{ip}', {id})"),
    }
}
