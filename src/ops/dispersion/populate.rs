//! swift-dispersion-populate's work: plan the sample names (`plan`), then
//! create them through the proxy, `concurrency` at a time, stopping at the
//! first request that fails for good.

use std::time::Instant;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::plan::{self, Plan};
use super::proxy::{ProxyClient, ProxyError};
use super::report::Kind;
use super::setup::part_of;
use crate::conf::swift_conf::StoragePolicy;
use crate::ring::hash::HashPathConf;
use crate::ring::Ring;

/// What populate was asked to do for one kind of sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct PopulateOptions {
    /// First suffix to write; lower ones only take their partitions.
    pub suffix_start: u64,
    /// Skip partitions that already hold a sample (listing them first).
    pub no_overlap: bool,
    /// Percentage of the partition space to cover.
    pub coverage: f64,
    /// Requests in flight.
    pub concurrency: usize,
}

/// One kind's result.
#[derive(Debug, Clone)]
pub struct Populated {
    pub kind: Kind,
    pub plan: Plan,
    /// Names actually written (the plan minus those below the suffix start).
    pub written: usize,
    /// Extra attempts that ended in success.
    pub retries: u64,
    pub elapsed: f64,
}

/// Shared inputs.
pub struct Populator<'a> {
    pub client: &'a ProxyClient,
    pub hash: &'a HashPathConf,
    pub policy: &'a StoragePolicy,
    /// Called after each name is done: (kind, done, total).
    pub progress: &'a dyn Fn(Kind, usize, usize),
}

impl Populator<'_> {
    async fn write_all<F, Fut>(
        &self,
        kind: Kind,
        plan: &Plan,
        concurrency: usize,
        put: F,
    ) -> Result<(usize, u64), ProxyError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<u32, ProxyError>>,
    {
        let total = plan.items.len();
        let wanted: Vec<String> = plan
            .items
            .iter()
            .filter(|i| i.create)
            .map(|i| i.name.clone())
            .collect();
        let skipped = total - wanted.len();
        let written = wanted.len();
        let mut done = skipped;
        let mut retries = 0u64;
        let mut puts = stream::iter(wanted)
            .map(put)
            .buffer_unordered(concurrency.max(1));
        while let Some(attempts) = puts.try_next().await? {
            retries += u64::from(attempts - 1);
            done += 1;
            (self.progress)(kind, done, total);
        }
        Ok((written, retries))
    }

    /// Creates the sample containers `dispersion_<policy>_<n>`.
    pub async fn containers(
        &self,
        ring: &Ring,
        opts: PopulateOptions,
    ) -> Result<Populated, ProxyError> {
        let begun = Instant::now();
        let account = self.client.account().to_string();
        let idx = self.policy.index;
        let mut taken = Vec::new();
        if opts.no_overlap {
            let existing = self
                .client
                .list(None, &plan::container_prefix(idx))
                .await?
                .unwrap_or_default();
            taken.extend(
                existing
                    .iter()
                    .map(|c| part_of(ring, self.hash, &account, c, None)),
            );
        }
        let plan = plan::plan(
            ring.partition_count(),
            opts.coverage,
            taken,
            opts.suffix_start,
            |n| plan::container_name(idx, n),
            |c| part_of(ring, self.hash, &account, c, None),
        );
        let policy = self.policy.name();
        let (written, retries) = self
            .write_all(Kind::Container, &plan, opts.concurrency, |c| async move {
                self.client.put_container(&c, policy).await
            })
            .await?;
        Ok(Populated {
            kind: Kind::Container,
            plan,
            written,
            retries,
            elapsed: begun.elapsed().as_secs_f64(),
        })
    }

    /// Creates `dispersion_objects_<policy>` and the sample objects in it.
    pub async fn objects(
        &self,
        ring: &Ring,
        opts: PopulateOptions,
    ) -> Result<Populated, ProxyError> {
        let account = self.client.account().to_string();
        let container = plan::objects_container(self.policy.index);
        self.client
            .put_container(&container, self.policy.name())
            .await?;
        let begun = Instant::now();
        let mut taken = Vec::new();
        if opts.no_overlap {
            let existing = self
                .client
                .list(Some(&container), plan::OBJECT_PREFIX)
                .await?
                .unwrap_or_default();
            taken.extend(
                existing
                    .iter()
                    .map(|o| part_of(ring, self.hash, &account, &container, Some(o))),
            );
        }
        let plan = plan::plan(
            ring.partition_count(),
            opts.coverage,
            taken,
            opts.suffix_start,
            plan::object_name,
            |o| part_of(ring, self.hash, &account, &container, Some(o)),
        );
        let container = &container;
        let (written, retries) = self
            .write_all(Kind::Object, &plan, opts.concurrency, |o| async move {
                self.client.put_object(container, &o).await
            })
            .await?;
        Ok(Populated {
            kind: Kind::Object,
            plan,
            written,
            retries,
            elapsed: begun.elapsed().as_secs_f64(),
        })
    }
}
