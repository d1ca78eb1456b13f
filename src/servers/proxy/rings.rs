//! The proxy's rings: account, container and one object ring per policy,
//! each reloaded when its file's modification time changes.
//!
//! Lookups never touch the file system: a check happens at most every few
//! seconds, outside the lookup, and swaps in a fully built [`Ring`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use crate::conf::ring_file::load_ring;
use crate::ring::hash::HashPathConf;
use crate::ring::Ring;

use super::nodes::NodeAddr;

/// How often a ring file's mtime is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// One ring file and its current contents.
pub struct ReloadingRing {
    path: PathBuf,
    ring: RwLock<Arc<Ring>>,
    /// (last check, mtime of the loaded file)
    state: Mutex<(Instant, Option<SystemTime>)>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ReloadingRing {
    /// Loads `path`; an error names the file.
    pub fn load(path: &Path) -> Result<ReloadingRing, String> {
        let stamp = mtime(path);
        let data = load_ring(path).map_err(|e| e.to_string())?;
        let ring = Ring::new(data).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(ReloadingRing {
            path: path.into(),
            ring: RwLock::new(Arc::new(ring)),
            state: Mutex::new((Instant::now(), stamp)),
        })
    }

    /// The current ring, reloading it first if the file changed.
    pub fn get(&self) -> Arc<Ring> {
        let reload = {
            let Ok(mut st) = self.state.lock() else {
                return self.current();
            };
            if st.0.elapsed() < CHECK_EVERY {
                false
            } else {
                st.0 = Instant::now();
                let now = mtime(&self.path);
                if now.is_some() && now != st.1 {
                    st.1 = now;
                    true
                } else {
                    false
                }
            }
        };
        if reload {
            match load_ring(&self.path)
                .map_err(|e| e.to_string())
                .and_then(|d| Ring::new(d).map_err(|e| e.to_string()))
            {
                Ok(r) => {
                    tracing::info!("reloaded ring {}", self.path.display());
                    if let Ok(mut w) = self.ring.write() {
                        *w = Arc::new(r);
                    }
                }
                Err(e) => tracing::error!("keeping old ring: {e}"),
            }
        }
        self.current()
    }

    fn current(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
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
