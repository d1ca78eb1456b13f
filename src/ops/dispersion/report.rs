//! The dispersion report's queries: for each sampled name, the partition
//! and its primaries from the ring; every primary HEADed directly (copies
//! of a partition in parallel, `concurrency` requests in flight, backoff
//! sleeps not holding a slot); the counts Swift reports, plus which copies
//! of which partitions are missing.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;

use super::direct::{node_string, DirectClient, HeadError};
use super::setup::part_of;
use crate::ring::hash::HashPathConf;
use crate::ring::{Device, Ring};

/// Containers or objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Object,
}

impl Kind {
    /// `container` / `object`.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Object => "object",
        }
    }

    /// `Container` / `Object` (server type in error messages).
    pub fn title(self) -> &'static str {
        match self {
            Kind::Container => "Container",
            Kind::Object => "Object",
        }
    }
}

/// Where report messages go (stderr and progress, in the CLI).
pub trait Events {
    /// A line for stderr.
    fn message(&self, line: &str);
    /// One more partition answered (`done` of `total`).
    fn progress(&self, kind: Kind, done: usize, total: usize);
    /// A partition was missing copies (`-p` prints it).
    fn missing_partition(&self, kind: Kind, part: u32, missing: usize);
}

/// One partition missing copies.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingPartition {
    pub partition: u32,
    /// The sampled name that placed the partition.
    pub name: String,
    pub missing: usize,
    /// Primaries of the partition (copies expected).
    pub copies: usize,
    /// The primaries that did not have the copy (`ip:port/device`).
    pub nodes: Vec<String>,
}

/// One section's results (containers or objects).
#[derive(Debug, Clone)]
pub struct SectionReport {
    pub kind: Kind,
    /// Names listed.
    pub listed: usize,
    /// Distinct partitions among them.
    pub partitions: usize,
    pub copies_found: u64,
    pub copies_expected: u64,
    /// Extra attempts that ended in success (Swift's `retries`).
    pub retries: u64,
    /// Missing copies → number of partitions missing that many.
    pub missing: BTreeMap<usize, usize>,
    /// Partitions missing copies, by partition number.
    pub missing_partitions: Vec<MissingPartition>,
    pub partition_count: usize,
    pub replica_count: f64,
    pub elapsed: f64,
}

impl SectionReport {
    /// `100 * found / expected`.
    pub fn pct_found(&self) -> f64 {
        100.0 * self.copies_found as f64 / self.copies_expected.max(1) as f64
    }

    /// Sampled share of the partition space, in percent.
    pub fn coverage(&self) -> f64 {
        100.0 * self.partitions as f64 / self.partition_count as f64
    }

    /// Listed names that share a partition with an earlier one.
    pub fn overlapping(&self) -> usize {
        self.listed - self.partitions
    }

    /// Partitions none of whose copies was found.
    pub fn partitions_without_copies(&self) -> usize {
        self.missing_partitions
            .iter()
            .filter(|m| m.missing == m.copies)
            .count()
    }
}

/// State shared by both sections, as Swift keeps it for the whole run:
/// devices already reported unmounted or not-found.
#[derive(Debug, Default)]
pub struct Seen {
    pub unmounted: RefCell<Vec<String>>,
    notfound: RefCell<Vec<String>>,
}

/// What to query and how.
pub struct Query<'a> {
    pub direct: &'a DirectClient,
    pub ring: &'a Ring,
    pub hash: &'a HashPathConf,
    pub account: &'a str,
    pub policy_index: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Print a device's 404 (and other HTTP errors) once (`-d`).
    pub debug: bool,
    pub seen: &'a Seen,
    pub events: &'a dyn Events,
}

struct Target {
    name: String,
    part: u32,
    nodes: Vec<Device>,
}

struct Answered {
    target: Target,
    found: usize,
    retries: u64,
    missing_nodes: Vec<String>,
}

impl Query<'_> {
    /// Swift's `error_log` for one failed attempt on `node`.
    fn log_attempt(&self, node: &str, err: &HeadError) {
        if let Some(code) = err.status() {
            if code == 507 {
                let mut u = self.seen.unmounted.borrow_mut();
                if !u.iter().any(|n| n == node) {
                    u.push(node.to_string());
                    self.events.message(&format!(
                        "ERROR: {node} is unmounted -- This will cause replicas designated \
                         for that device to be considered missing until resolved or the \
                         ring is updated."
                    ));
                }
            }
            if self.debug {
                let mut nf = self.seen.notfound.borrow_mut();
                if !nf.iter().any(|n| n == node) {
                    nf.push(node.to_string());
                    self.events
                        .message(&format!("ERROR: {node} returned a 404"));
                }
            }
            if code == 404 || code == 507 {
                return;
            }
        }
        self.events.message(&format!("ERROR: {node}: {err}"));
    }

    async fn ask(
        &self,
        kind: Kind,
        container: Option<&str>,
        t: Target,
        slots: &Semaphore,
    ) -> Answered {
        let path = match container {
            Some(c) => format!("/{}/{c}/{}", self.account, t.name),
            None => format!("/{}/{}", self.account, t.name),
        };
        let policy = match kind {
            Kind::Object => Some(self.policy_index),
            Kind::Container => None,
        };
        let heads = t.nodes.iter().map(|node| {
            let id = node_string(node);
            let path = &path;
            async move {
                let log = |e: &HeadError| self.log_attempt(&id, e);
                let out = self
                    .direct
                    .head(node, t.part, path, policy, kind.title(), slots, &log)
                    .await;
                if let Err(e) = &out.result {
                    if !matches!(e.status(), Some(404 | 507)) {
                        self.events
                            .message(&format!("ERROR: {id}: Giving up on /{}{path}: {e}", t.part));
                    }
                }
                (id, out)
            }
        });
        let outcomes = futures::future::join_all(heads).await;
        let mut found = 0;
        let mut retries = 0;
        let mut missing_nodes = Vec::new();
        for (id, o) in outcomes {
            match o.result {
                Ok(()) => {
                    found += 1;
                    retries += u64::from(o.attempts - 1);
                }
                Err(_) => missing_nodes.push(id),
            }
        }
        Answered {
            target: t,
            found,
            retries,
            missing_nodes,
        }
    }
}

impl Query<'_> {
    /// Queries the sampled `names` (listing order): containers, or objects
    /// of `container`. Partitions are asked once, for the first name on them.
    pub async fn run(
        &self,
        kind: Kind,
        container: Option<&str>,
        names: &[String],
    ) -> SectionReport {
        let begun = Instant::now();
        let mut seen_parts = std::collections::HashSet::new();
        let mut targets = Vec::new();
        let mut copies_expected = 0u64;
        for name in names {
            let part = match container {
                Some(c) => part_of(self.ring, self.hash, self.account, c, Some(name)),
                None => part_of(self.ring, self.hash, self.account, name, None),
            };
            if seen_parts.insert(part) {
                let nodes: Vec<Device> = self
                    .ring
                    .get_part_nodes(part)
                    .into_iter()
                    .map(|n| n.device.clone())
                    .collect();
                copies_expected += nodes.len() as u64;
                targets.push(Target {
                    name: name.clone(),
                    part,
                    nodes,
                });
            }
        }
        let total = targets.len();
        let slots = Semaphore::new(self.concurrency.max(1));
        let mut answers = stream::iter(targets)
            .map(|t| self.ask(kind, container, t, &slots))
            .buffer_unordered(self.concurrency.max(1) * 8);
        let mut report = SectionReport {
            kind,
            listed: names.len(),
            partitions: total,
            copies_found: 0,
            copies_expected,
            retries: 0,
            missing: BTreeMap::new(),
            missing_partitions: Vec::new(),
            partition_count: self.ring.partition_count(),
            replica_count: self.ring.replica_count(),
            elapsed: 0.0,
        };
        let mut done = 0;
        while let Some(a) = answers.next().await {
            done += 1;
            let copies = a.target.nodes.len();
            let missing = copies - a.found;
            report.copies_found += a.found as u64;
            report.retries += a.retries;
            *report.missing.entry(missing).or_insert(0) += 1;
            if missing > 0 {
                self.events.missing_partition(kind, a.target.part, missing);
                report.missing_partitions.push(MissingPartition {
                    partition: a.target.part,
                    name: a.target.name,
                    missing,
                    copies,
                    nodes: a.missing_nodes,
                });
            }
            self.events.progress(kind, done, total);
        }
        report.missing_partitions.sort_by_key(|m| m.partition);
        report.elapsed = begun.elapsed().as_secs_f64();
        report
    }
}
