//! Async pending files on one device: finding them (only the newest per
//! object; older ones are unlinked as outdated), loading their pickles
//! (quarantining unreadable ones) and saving what a pass learned (the
//! container nodes that already have the update).
//!
//! Layout, as Swift's: `<dev>/async_pending[-N]/<hash[-3:]>/<hash>-<timestamp>`,
//! each a pickled dict `{op, account, container, obj, headers, db_state
//! [, container_path][, successes]}`.

use std::io;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;

use super::SweepStats;
use crate::storage::atomic::{mkdirs, write_file_atomic};
use crate::storage::hashpath::policy_dir;
use crate::storage::pickle::Pickle;

/// One async pending file to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub path: PathBuf,
    pub policy: u32,
    pub obj_hash: String,
    pub timestamp: String,
}

/// The policy of an `async_pending[-N]` directory name, if it is one.
fn dir_policy(name: &str, policies: &[u32]) -> Option<Result<u32, String>> {
    let rest = name.strip_prefix("async_pending")?;
    let policy = match rest {
        "" => Ok(0),
        _ => match rest.strip_prefix('-').and_then(|n| n.parse::<u32>().ok()) {
            Some(p) if policies.contains(&p) => Ok(p),
            Some(p) => Err(format!("No policy with index {p}")),
            None => Err(format!("Invalid policy in {name:?}")),
        },
    };
    Some(policy)
}

fn list(dir: &Path, stats: &mut SweepStats) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .collect(),
        Err(e) => {
            stats.errors += 1;
            tracing::error!("ERROR: Unable to access {}: {e}", dir.display());
            Vec::new()
        }
    }
}

/// Every async pending of a device to send, newest first within each
/// suffix directory (suffixes in random order). Older pendings for an
/// object that has a newer one are unlinked (`outdated_unlinks`).
pub fn scan(dev: &Path, policies: &[u32], stats: &mut SweepStats) -> Vec<Pending> {
    let mut out = Vec::new();
    let mut names = list(dev, stats);
    names.sort();
    for asyncdir in names {
        let Some(policy) = dir_policy(&asyncdir, policies) else {
            continue;
        };
        let async_path = dev.join(&asyncdir);
        if !async_path.is_dir() {
            continue;
        }
        let policy = match policy {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("Directory {asyncdir:?} does not map to a valid policy ({e})");
                continue;
            }
        };
        let mut prefixes = list(&async_path, stats);
        prefixes.shuffle(&mut rand::thread_rng());
        for prefix in prefixes {
            let prefix_path = async_path.join(&prefix);
            if !prefix_path.is_dir() {
                continue;
            }
            let mut files = list(&prefix_path, stats);
            files.sort_unstable_by(|a, b| b.cmp(a));
            let mut last_hash: Option<String> = None;
            for file in files {
                let path = prefix_path.join(&file);
                if !path.is_file() {
                    continue;
                }
                let mut parts = file.split('-');
                let (Some(obj_hash), Some(timestamp), None) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    stats.errors += 1;
                    tracing::error!(
                        "ERROR async pending file with unexpected name {}",
                        path.display()
                    );
                    continue;
                };
                if last_hash.as_deref() == Some(obj_hash) {
                    stats.outdated_unlinks += 1;
                    if let Err(e) = std::fs::remove_file(&path) {
                        if e.kind() != io::ErrorKind::NotFound {
                            stats.errors += 1;
                            tracing::error!("ERROR unlinking {}: {e}", path.display());
                        }
                    }
                    continue;
                }
                last_hash = Some(obj_hash.to_string());
                out.push(Pending {
                    path,
                    policy,
                    obj_hash: obj_hash.to_string(),
                    timestamp: timestamp.to_string(),
                });
            }
        }
    }
    out
}

/// What was in a pending file.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The whole pickled dict, kept to write back with new `successes`.
    pub raw: Pickle,
    pub op: String,
    pub account: String,
    pub container: String,
    pub obj: String,
    /// `account/container` of a shard to send to instead of the root.
    pub container_path: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Container node ids that already have this update.
    pub successes: Vec<u32>,
}

impl Update {
    /// Reads the fields Swift's updater uses; `None` if any is missing.
    pub fn from_pickle(raw: Pickle) -> Option<Update> {
        let text = |k: &str| raw.get(k).and_then(Pickle::as_text);
        let headers = match raw.get("headers")? {
            Pickle::Dict(items) => items
                .iter()
                .filter_map(|(k, v)| Some((k.as_text()?, v.as_text()?)))
                .collect(),
            _ => return None,
        };
        let successes = match raw.get("successes") {
            Some(Pickle::List(ids)) => ids
                .iter()
                .filter_map(|p| match p {
                    Pickle::Int(i) => u32::try_from(*i).ok(),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Update {
            op: text("op")?,
            account: text("account")?,
            container: text("container")?,
            obj: text("obj")?,
            container_path: text("container_path").filter(|p| !p.is_empty()),
            headers,
            successes,
            raw,
        })
    }

    /// `(account, container)` the update goes to (a shard's, if redirected).
    pub fn target(&self) -> (String, String) {
        if let Some((a, c)) = self
            .container_path
            .as_deref()
            .and_then(|p| p.trim_start_matches('/').split_once('/'))
        {
            return (a.to_string(), c.to_string());
        }
        (self.account.clone(), self.container.clone())
    }

    /// The dict with `successes` set to the current list.
    pub fn to_pickle(&self) -> Pickle {
        let ids = Pickle::List(
            self.successes
                .iter()
                .map(|&i| Pickle::Int(i64::from(i)))
                .collect(),
        );
        let mut items = match &self.raw {
            Pickle::Dict(items) => items.clone(),
            _ => Vec::new(),
        };
        match items
            .iter_mut()
            .find(|(k, _)| k.as_text().as_deref() == Some("successes"))
        {
            Some((_, v)) => *v = ids,
            None => items.push((Pickle::Str("successes".into()), ids)),
        }
        Pickle::Dict(items)
    }
}

/// Why a pending could not be used.
#[derive(Debug)]
pub enum LoadError {
    /// Gone already (another pass or a newer write removed it).
    Gone,
    /// Unreadable or not an update: moved to `quarantined/objects/`.
    Quarantined,
}

/// Loads a pending; a file that cannot be read or parsed is moved to
/// `<dev>/quarantined/objects/<name>` (its suffix directory removed if empty).
pub fn load(dev: &Path, p: &Pending) -> Result<Update, LoadError> {
    let why = match std::fs::read(&p.path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LoadError::Gone),
        Err(e) => format!(
            "ERROR Pickle problem reading, quarantining {}: {e}",
            p.path.display()
        ),
        Ok(bytes) => match Pickle::loads(&bytes).map(Update::from_pickle) {
            Ok(Some(u)) => return Ok(u),
            Ok(None) => format!(
                "ERROR Pickle problem unpickling, quarantining {}: not an update",
                p.path.display()
            ),
            Err(e) => format!(
                "ERROR Pickle problem unpickling, quarantining {}: {e}",
                p.path.display()
            ),
        },
    };
    tracing::error!("{why}");
    let qdir = dev.join("quarantined").join("objects");
    let moved = mkdirs(&qdir).is_ok()
        && p.path
            .file_name()
            .is_some_and(|n| std::fs::rename(&p.path, qdir.join(n)).is_ok());
    if !moved {
        tracing::error!("could not quarantine {}", p.path.display());
    }
    if let Some(parent) = p.path.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Err(LoadError::Quarantined)
}

/// Removes a delivered pending and, if now empty, its suffix directory.
pub fn unlink(p: &Pending) -> io::Result<()> {
    match std::fs::remove_file(&p.path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    if let Some(parent) = p.path.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(())
}

/// Writes the update back (atomically, staged in the policy's tmp dir).
pub fn save(dev: &Path, p: &Pending, u: &Update) -> crate::storage::Result<()> {
    write_file_atomic(
        &p.path,
        &u.to_pickle().dumps(),
        &dev.join(policy_dir("tmp", p.policy)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::objstore::AsyncUpdate;
    use crate::storage::replication::write_async_pending;
    use crate::storage::Timestamp;

    fn update(obj: &str, ts: &str) -> AsyncUpdate {
        AsyncUpdate {
            op: "PUT".into(),
            account: "a".into(),
            container: "c".into(),
            obj: obj.into(),
            headers: vec![("X-Size".into(), "3".into())],
            timestamp: Timestamp::parse(ts).unwrap(),
        }
    }

    #[test]
    fn newest_wins_and_junk_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path();
        let h = "0123456789abcdef0123456789abcabc";
        write_async_pending(dev, 0, h, &update("o", "1.0")).unwrap();
        write_async_pending(dev, 0, h, &update("o", "2.0")).unwrap();
        let other = "0123456789abcdef0123456789abcdef";
        write_async_pending(dev, 1, other, &update("p", "1.0")).unwrap();
        std::fs::write(dev.join("async_pending/abc/junk-name-x"), b"x").unwrap();
        let mut stats = SweepStats::default();
        let found = scan(dev, &[0, 1], &mut stats);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(stats.outdated_unlinks, 1);
        assert_eq!(stats.errors, 1);
        let newest = found.iter().find(|p| p.obj_hash == h).unwrap();
        assert_eq!(
            newest.timestamp,
            Timestamp::parse("2.0").unwrap().internal()
        );
        let u = load(dev, newest).unwrap();
        assert_eq!((u.op.as_str(), u.obj.as_str()), ("PUT", "o"));
        assert_eq!(
            found.iter().find(|p| p.obj_hash == other).unwrap().policy,
            1
        );

        // Successes survive a save and a reload.
        let mut u = u;
        u.successes = vec![2, 0];
        save(dev, newest, &u).unwrap();
        assert_eq!(load(dev, newest).unwrap().successes, vec![2, 0]);

        std::fs::write(&newest.path, b"not a pickle").unwrap();
        assert!(matches!(load(dev, newest), Err(LoadError::Quarantined)));
        assert!(dev
            .join("quarantined/objects")
            .join(newest.path.file_name().unwrap())
            .is_file());
    }
}
