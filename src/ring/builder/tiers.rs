//! The tier tree (region > zone > server ip > device) in compact, indexed form.
//!
//! Every present device (weighted or not) gets a path of four node indexes.
//! Node 0 is the root `()`. Children are kept in Python tuple order, so a
//! depth-first walk visits tiers in the order Swift sorts them.

use std::collections::HashMap;

use super::{RingBuilder, Tier};

/// Number of tier levels below the root.
pub const LEVELS: usize = 4;

/// One tier of the tree.
#[derive(Debug, Clone)]
pub struct TierNode {
    /// `None` for the root.
    pub tier: Option<Tier>,
    /// 0 = root, 1 = region, 2 = zone, 3 = server, 4 = device.
    pub level: u8,
    pub parent: u32,
    /// Child nodes in tuple order (all devices, weighted or not).
    pub children: Vec<u32>,
    /// The device id, for device nodes.
    pub dev_id: Option<u32>,
    /// Number of devices with weight > 0 under this node.
    pub weighted_devices: u32,
}

/// The tier tree of a builder's current devices.
#[derive(Debug, Clone)]
pub struct TierTree {
    pub nodes: Vec<TierNode>,
    /// Indexed by device id: the region, zone, server and device nodes.
    pub dev_path: Vec<Option<[u32; LEVELS]>>,
}

impl TierTree {
    /// Builds the tree over every present device of `builder`.
    pub fn new(builder: &RingBuilder) -> TierTree {
        let mut nodes = vec![TierNode {
            tier: None,
            level: 0,
            parent: 0,
            children: Vec::new(),
            dev_id: None,
            weighted_devices: 0,
        }];
        let mut index: HashMap<Tier, u32> = HashMap::new();
        let mut dev_path = vec![None; builder.devs.len()];
        for (id, slot) in builder.devs.iter().enumerate() {
            let Some(bdev) = slot else { continue };
            let d = &bdev.dev;
            let tiers = [
                Tier::Region(d.region),
                Tier::Zone(d.region, d.zone),
                Tier::Server(d.region, d.zone, d.ip.clone()),
                Tier::Device(d.region, d.zone, d.ip.clone(), id as u32),
            ];
            let weighted = d.weight > 0.0;
            let mut parent = 0u32;
            let mut path = [0u32; LEVELS];
            if weighted {
                nodes[0].weighted_devices += 1;
            }
            for (level, tier) in tiers.into_iter().enumerate() {
                let node = match index.get(&tier) {
                    Some(&n) => n,
                    None => {
                        let n = nodes.len() as u32;
                        nodes.push(TierNode {
                            tier: Some(tier.clone()),
                            level: level as u8 + 1,
                            parent,
                            children: Vec::new(),
                            dev_id: (level == LEVELS - 1).then_some(id as u32),
                            weighted_devices: 0,
                        });
                        nodes[parent as usize].children.push(n);
                        index.insert(tier, n);
                        n
                    }
                };
                if weighted {
                    nodes[node as usize].weighted_devices += 1;
                }
                path[level] = node;
                parent = node;
            }
            dev_path[id] = Some(path);
        }
        for i in 0..nodes.len() {
            let mut children = std::mem::take(&mut nodes[i].children);
            children.sort_by(|a, b| nodes[*a as usize].tier.cmp(&nodes[*b as usize].tier));
            nodes[i].children = children;
        }
        TierTree { nodes, dev_path }
    }

    /// Children of `node` that hold at least one weighted device, in tuple order.
    pub fn weighted_children(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        self.nodes[node as usize]
            .children
            .iter()
            .copied()
            .filter(|c| self.nodes[*c as usize].weighted_devices > 0)
    }

    /// All nodes except the root, in Python tuple order (depth-first).
    pub fn sorted_nodes(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<u32> = self.nodes[0].children.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n as usize].children.iter().rev().copied());
        }
        out
    }

    /// The tier path of a device id, if the device exists.
    pub fn path(&self, dev_id: u32) -> Option<&[u32; LEVELS]> {
        self.dev_path.get(dev_id as usize).and_then(Option::as_ref)
    }
}

/// The name `dispersion -v` prints for a tier: `r1`, `r1z2`, `r1z2-10.0.0.1`,
/// `r1z2-10.0.0.1/sdb`.
pub fn tier_name(tier: &Tier, builder: &RingBuilder) -> String {
    match tier {
        Tier::Region(r) => format!("r{r}"),
        Tier::Zone(r, z) => format!("r{r}z{z}"),
        Tier::Server(r, z, ip) => format!("r{r}z{z}-{ip}"),
        Tier::Device(r, z, ip, id) => {
            let name = builder
                .devs
                .get(*id as usize)
                .and_then(Option::as_ref)
                .map_or("", |d| d.dev.device.as_str());
            format!("r{r}z{z}-{ip}/{name}")
        }
    }
}

/// Sort key that orders tiers as Python orders the tuples `(r,)`, `(r, z)`,
/// `(r, z, ip)`, `(r, z, ip, id)`.
pub fn tuple_order(a: &Tier, b: &Tier) -> std::cmp::Ordering {
    fn parts(t: &Tier) -> (u32, Option<u32>, Option<&str>, Option<u32>) {
        match t {
            Tier::Region(r) => (*r, None, None, None),
            Tier::Zone(r, z) => (*r, Some(*z), None, None),
            Tier::Server(r, z, ip) => (*r, Some(*z), Some(ip.as_str()), None),
            Tier::Device(r, z, ip, id) => (*r, Some(*z), Some(ip.as_str()), Some(*id)),
        }
    }
    parts(a).cmp(&parts(b))
}
