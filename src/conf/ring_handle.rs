//! A ring that follows its file: reload when the file's mtime changes and
//! swap in a new `Arc<Ring>`, as Swift's daemons do. Lookups stay on the
//! pure `ring::Ring`; only this handle touches the file system.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use thiserror::Error;

use super::ring_file::{load_lookup_ring, RingPathError};
use crate::ring::{Ring, RingError};

/// Why a ring file could not be (re)loaded.
#[derive(Debug, Error)]
pub enum RingHandleError {
    #[error(transparent)]
    Load(#[from] RingPathError),
    #[error("{}: {source}", path.display())]
    Invalid { path: PathBuf, source: RingError },
    #[error("cannot stat {}: {source}", path.display())]
    Stat {
        path: PathBuf,
        source: std::io::Error,
    },
}

struct Loaded {
    ring: Arc<Ring>,
    mtime: SystemTime,
}

/// A shared, reloadable ring.
pub struct RingHandle {
    path: PathBuf,
    current: RwLock<Loaded>,
}

impl RingHandle {
    /// Loads the ring at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<RingHandle, RingHandleError> {
        let path = path.as_ref().to_owned();
        let loaded = load(&path)?;
        Ok(RingHandle {
            path,
            current: RwLock::new(loaded),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ring as last loaded.
    pub fn ring(&self) -> Arc<Ring> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&guard.ring)
    }

    /// Reloads if the file's mtime differs from the loaded one. Returns
    /// whether a new ring was swapped in. On error the old ring stays.
    pub fn reload_if_changed(&self) -> Result<bool, RingHandleError> {
        let mtime = mtime(&self.path)?;
        {
            let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
            if guard.mtime == mtime {
                return Ok(false);
            }
        }
        let loaded = load(&self.path)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = loaded;
        Ok(true)
    }
}

fn mtime(path: &Path) -> Result<SystemTime, RingHandleError> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| RingHandleError::Stat {
            path: path.to_owned(),
            source,
        })
}

fn load(path: &Path) -> Result<Loaded, RingHandleError> {
    // Take the mtime first: a write racing the load is seen next time.
    let mtime = mtime(path)?;
    let ring = load_lookup_ring(path)?;
    Ok(Loaded {
        ring: Arc::new(ring),
        mtime,
    })
}
