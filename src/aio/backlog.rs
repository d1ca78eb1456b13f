//! What the all-in-one cluster's background daemons have left to do, read
//! from its directory without changing anything: async pendings (the object
//! updaters' queue), container `.pending` files (rows a container server
//! took but has not merged yet), object copies missing from their primaries
//! or sitting on handoffs (the object replicators' work) and, for one
//! container, the stored objects each container replica does not list yet
//! and the count each account replica holds for it (the container
//! updaters' work). Databases are read through read-only connections and
//! their pending files decoded, so a look never merges anything itself.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::conf::ring_file::load_lookup_ring;
use crate::conf::server_conf::load_swift_conf;
use crate::daemons::recon_cron::async_count;
use crate::daemons::walk::sorted_entries;
use crate::ring::hash::HashPathConf;
use crate::ring::Ring;
use crate::storage::broker::{db_path, pending_path, DbKind, Record};
use crate::storage::hashpath::policy_dir;

/// Work queued on disk across the whole cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queues {
    pub async_pendings: u64,
    /// Non-empty container `.pending` files and their bytes.
    pub pending_files: u64,
    pub pending_bytes: u64,
}

/// Where the copies of a set of objects are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copies {
    /// Names with at least one copy (a `.data` file) on some device.
    pub stored: Vec<String>,
    /// Primary copies missing from objects that are stored.
    pub missing_on_primaries: usize,
    /// Copies on devices that are not primaries for them.
    pub on_handoffs: usize,
}

/// One container replica against the objects stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRows {
    pub device: String,
    /// Stored objects this replica lists (committed or pending rows).
    pub listed: usize,
    /// Stored objects it does not know of.
    pub missing: Vec<String>,
}

/// The cluster's rings and devices.
pub struct Cluster {
    salt: HashPathConf,
    object: Ring,
    container: Ring,
    account: Ring,
    /// Each node's devices directory (`srv/<node>`).
    nodes: Vec<PathBuf>,
    /// Device name → its directory (`srv/<node>/<device>`).
    devices: BTreeMap<String, PathBuf>,
}

impl Cluster {
    /// Reads the rings and `swift.conf` of the cluster in `root`.
    pub fn open(root: &Path) -> Result<Cluster, String> {
        let etc = root.join("etc");
        let salt = load_swift_conf(&etc).map_err(|e| e.to_string())?.salt;
        let ring = |kind: &str| {
            load_lookup_ring(etc.join(format!("{kind}.ring.gz"))).map_err(|e| e.to_string())
        };
        let nodes: Vec<PathBuf> = sorted_entries(&root.join("srv"))
            .into_iter()
            .filter(|n| n.is_dir())
            .collect();
        let mut devices = BTreeMap::new();
        for node in &nodes {
            for dev in sorted_entries(node).into_iter().filter(|d| d.is_dir()) {
                if let Some(name) = dev.file_name().and_then(|n| n.to_str()) {
                    devices.insert(name.to_string(), dev.clone());
                }
            }
        }
        Ok(Cluster {
            salt,
            object: ring("object")?,
            container: ring("container")?,
            account: ring("account")?,
            nodes,
            devices,
        })
    }

    /// Async pendings and container `.pending` files on every device.
    pub fn queues(&self) -> Queues {
        let mut q = Queues {
            async_pendings: self.nodes.iter().map(|n| async_count(n)).sum(),
            ..Queues::default()
        };
        for dev in self.devices.values() {
            let mut stack = vec![dev.join(DbKind::Container.datadir())];
            while let Some(dir) = stack.pop() {
                for p in sorted_entries(&dir) {
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "pending") {
                        let len = std::fs::metadata(&p).map_or(0, |m| m.len());
                        if len > 0 {
                            q.pending_files += 1;
                            q.pending_bytes += len;
                        }
                    }
                }
            }
        }
        q
    }

    /// Where the copies of `account/container/<name>` are, for each name
    /// (storage policy 0).
    pub fn copies(&self, account: &str, container: &str, names: &[String]) -> Copies {
        let mut out = Copies::default();
        let datadir = policy_dir("objects", 0);
        for name in names {
            let Ok(hash) = self
                .salt
                .hash_path_hex(account, Some(container), Some(name))
            else {
                continue;
            };
            let Ok(part) = self
                .object
                .get_part(&self.salt, account, Some(container), Some(name))
            else {
                continue;
            };
            let primaries: Vec<&str> = self
                .object
                .get_part_nodes(part)
                .iter()
                .map(|n| n.device.device.as_str())
                .collect();
            let mut on_primaries = 0;
            let mut on_handoffs = 0;
            for (dev, path) in &self.devices {
                let dir = path
                    .join(&datadir)
                    .join(part.to_string())
                    .join(&hash[29..])
                    .join(&hash);
                let has_data = sorted_entries(&dir)
                    .iter()
                    .any(|f| f.extension().is_some_and(|x| x == "data"));
                match (has_data, primaries.contains(&dev.as_str())) {
                    (false, _) => {}
                    (true, true) => on_primaries += 1,
                    (true, false) => on_handoffs += 1,
                }
            }
            if on_primaries + on_handoffs > 0 {
                out.stored.push(name.clone());
                out.missing_on_primaries += primaries.len() - on_primaries;
                out.on_handoffs += on_handoffs;
            }
        }
        out
    }

    /// Each primary container replica of `account/container` against the
    /// `stored` object names.
    pub fn container_rows(
        &self,
        account: &str,
        container: &str,
        stored: &[String],
    ) -> Vec<ReplicaRows> {
        let Some((hash, part, devs)) = self.db_place(&self.container, account, Some(container))
        else {
            return Vec::new();
        };
        devs.into_iter()
            .map(|device| {
                let names = self
                    .devices
                    .get(&device)
                    .map(|d| {
                        let db = db_path(d, DbKind::Container, &part.to_string(), &hash);
                        object_names(&db)
                    })
                    .unwrap_or_default();
                let missing: Vec<String> = stored
                    .iter()
                    .filter(|n| !names.contains(*n))
                    .cloned()
                    .collect();
                ReplicaRows {
                    device,
                    listed: stored.len() - missing.len(),
                    missing,
                }
            })
            .collect()
    }

    /// The object count each primary account replica of `account` holds
    /// for `container` (`None`: no row, or no database).
    pub fn account_counts(&self, account: &str, container: &str) -> Vec<(String, Option<i64>)> {
        let Some((hash, part, devs)) = self.db_place(&self.account, account, None) else {
            return Vec::new();
        };
        devs.into_iter()
            .map(|device| {
                let count = self.devices.get(&device).and_then(|d| {
                    let db = db_path(d, DbKind::Account, &part.to_string(), &hash);
                    container_count(&db, container)
                });
                (device, count)
            })
            .collect()
    }

    /// A database's hash, partition and primary devices.
    fn db_place(
        &self,
        ring: &Ring,
        account: &str,
        container: Option<&str>,
    ) -> Option<(String, u32, Vec<String>)> {
        let hash = self.salt.hash_path_hex(account, container, None).ok()?;
        let part = ring.get_part(&self.salt, account, container, None).ok()?;
        let devs = ring
            .get_part_nodes(part)
            .iter()
            .map(|n| n.device.device.clone())
            .collect();
        Some((hash, part, devs))
    }
}

fn read_only(db: &Path) -> Option<Connection> {
    if !db.is_file() {
        return None;
    }
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()
}

/// The records of a database's pending file, oldest first.
fn pending_records(db: &Path, kind: DbKind) -> Vec<Record> {
    let raw = std::fs::read(pending_path(db)).unwrap_or_default();
    raw.split(|&b| b == b':')
        .filter(|e| !e.is_empty())
        .filter_map(|e| Record::decode(kind, e).ok())
        .collect()
}

/// Names a container database lists: committed rows not deleted, then its
/// pending records applied in order.
fn object_names(db: &Path) -> HashSet<String> {
    let mut names = HashSet::new();
    if let Some(conn) = read_only(db) {
        if let Ok(mut st) = conn.prepare("SELECT name FROM object WHERE deleted = 0") {
            if let Ok(rows) = st.query_map([], |r| r.get::<_, String>(0)) {
                names.extend(rows.flatten());
            }
        }
    }
    for r in pending_records(db, DbKind::Container) {
        if let Record::Object(row) = r {
            if row.deleted {
                names.remove(&row.name);
            } else {
                names.insert(row.name);
            }
        }
    }
    names
}

/// The object count an account database holds for `container`: its last
/// pending report if any, else the committed row.
fn container_count(db: &Path, container: &str) -> Option<i64> {
    let pending = pending_records(db, DbKind::Account)
        .into_iter()
        .filter_map(|r| match r {
            Record::Container(c) if c.name == container => Some(c.object_count),
            _ => None,
        })
        .next_back();
    if pending.is_some() {
        return pending;
    }
    let conn = read_only(db)?;
    conn.query_row(
        "SELECT object_count FROM container WHERE name = ?1 AND deleted = 0",
        [container],
        |r| r.get(0),
    )
    .ok()
}
