//! The proxy's rings: account, container and one object ring per policy,
//! each reloaded when its file's modification time changes.
//!
//! Lookups never touch the file system: a check happens at most every few
//! seconds, outside the lookup, and swaps in a fully built [`Ring`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::conf::ring_handle::RingHandle;
use crate::ring::hash::HashPathConf;
use crate::ring::Ring;

use super::nodes::NodeAddr;

/// How often a ring file's mtime is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A ring file's handle, checked for changes at most every [`CHECK_EVERY`].
pub struct ReloadingRing {
    handle: RingHandle,
    checked: Mutex<Instant>,
}

impl ReloadingRing {
    /// Loads `path`; an error names the file.
    pub fn load(path: &Path) -> Result<ReloadingRing, String> {
        Ok(ReloadingRing {
            handle: RingHandle::open(path).map_err(|e| e.to_string())?,
            checked: Mutex::new(Instant::now()),
        })
    }

    /// The current ring, reloading it first if the file changed.
    pub fn get(&self) -> Arc<Ring> {
        let due = self.checked.lock().is_ok_and(|mut t| {
            let due = t.elapsed() >= CHECK_EVERY;
            if due {
                *t = Instant::now();
            }
            due
        });
        if due {
            match self.handle.reload_if_changed() {
                Ok(true) => tracing::info!("reloaded ring {}", self.handle.path().display()),
                Ok(false) => {}
                Err(e) => tracing::error!("keeping the old ring: {e}"),
            }
        }
        self.handle.ring()
    }
}

/// Which ring a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingKind {
    Account,
    Container,
    Object(u32),
}

/// All rings of a cluster plus the hash secrets.
pub struct Rings {
    pub hash: HashPathConf,
    account: ReloadingRing,
    container: ReloadingRing,
    objects: HashMap<u32, ReloadingRing>,
}

/// Primaries and handoffs for one name.
#[derive(Debug, Clone)]
pub struct PartNodes {
    pub part: u32,
    pub primaries: Vec<NodeAddr>,
    pub handoffs: Vec<NodeAddr>,
    /// The ring's replica count (rounded up).
    pub replicas: usize,
}

impl Rings {
    /// Loads `account.ring.gz`, `container.ring.gz` and each policy's object ring.
    pub fn load(dir: &Path, hash: HashPathConf, policies: &[u32]) -> Result<Rings, String> {
        let mut objects = HashMap::new();
        for &p in policies {
            let name = if p == 0 {
                "object.ring.gz".to_string()
            } else {
                format!("object-{p}.ring.gz")
            };
            objects.insert(p, ReloadingRing::load(&dir.join(name))?);
        }
        Ok(Rings {
            hash,
            account: ReloadingRing::load(&dir.join("account.ring.gz"))?,
            container: ReloadingRing::load(&dir.join("container.ring.gz"))?,
            objects,
        })
    }

    /// Partition, primaries and up to `handoff_limit` handoffs for a path.
    pub fn nodes(
        &self,
        kind: RingKind,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
        handoff_limit: usize,
    ) -> Option<PartNodes> {
        let ring = match kind {
            RingKind::Account => self.account.get(),
            RingKind::Container => self.container.get(),
            RingKind::Object(p) => self.objects.get(&p)?.get(),
        };
        let part = ring.get_part(&self.hash, account, container, object).ok()?;
        let primaries: Vec<NodeAddr> = ring
            .get_part_nodes(part)
            .iter()
            .map(|n| NodeAddr::from_device(n.device))
            .collect();
        let handoffs = ring
            .get_more_nodes(part)
            .take(handoff_limit)
            .map(|n| NodeAddr::from_device(n.device))
            .collect();
        Some(PartNodes {
            part,
            replicas: ring.replica_count().ceil() as usize,
            primaries,
            handoffs,
        })
    }
}
