//! Ring files on disk: loading a `*.ring.gz` (for lookups, through the
//! decoded-ring cache `ring_cache` unless it is turned off), and saving one
//! atomically (temporary file in the same directory, fsync, rename, fsync
//! directory).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::conf::atomic_file::write_atomically;
use crate::conf::ring_cache::{RingCache, RingIdentity};
use crate::conf::ring_memory::{self, FileBytes};
use crate::ring::codec::{self, DecodedRing, RingFileError, RingFormat};
use crate::ring::{Ring, RingData};

/// A ring file error together with the file it concerns.
#[derive(Debug, Error)]
#[error("{}: {error}", path.display())]
pub struct RingPathError {
    /// The ring file (or, for saves, its destination).
    pub path: PathBuf,
    /// What went wrong.
    pub error: RingFileError,
}

impl RingPathError {
    fn new(path: &Path, error: impl Into<RingFileError>) -> Self {
        RingPathError {
            path: path.to_path_buf(),
            error: error.into(),
        }
    }
}

/// Loads and validates a ring file (v1 or v2).
pub fn load_ring(path: impl AsRef<Path>) -> Result<RingData, RingPathError> {
    load_ring_with_format(path).map(|(ring, _)| ring)
}

/// Like [`load_ring`], also telling which format the file was in.
pub fn load_ring_with_format(
    path: impl AsRef<Path>,
) -> Result<(RingData, RingFormat), RingPathError> {
    let path = path.as_ref();
    let (bytes, _) = read_with_metadata(path).map_err(|e| RingPathError::new(path, e))?;
    let (ring, format) = codec::decode_ring(&bytes).map_err(|e| RingPathError::new(path, e))?;
    codec::validate(&ring).map_err(|e| RingPathError::new(path, e))?;
    Ok((ring, format))
}

/// Loads a ring file straight into a lookup [`Ring`], its table kept as the
/// file stores it (no per-entry conversion). Checks what [`load_ring`] and
/// `Ring::new` check. Uses the decoded-ring cache the environment chooses
/// (on by default, see `conf::ring_cache`).
pub fn load_lookup_ring(path: impl AsRef<Path>) -> Result<Ring, RingPathError> {
    let cache = RingCache::from_env();
    load_lookup_ring_cached(path, cache.as_ref()).map(|(ring, _)| ring)
}

/// How a load used the decoded-ring cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// No cache.
    Off,
    /// The ring file is too small to be worth caching; decoded from it.
    Small,
    /// A sound entry for these exact ring bytes was used; nothing inflated.
    Hit,
    /// The ring was decoded from its file and the entry (re)written.
    Stored,
    /// The ring was decoded from its file; the entry could not be written.
    StoreFailed,
}

/// [`load_lookup_ring`] with an explicit cache (`None`: none), telling how
/// the cache was used. A cache problem never fails the load.
pub fn load_lookup_ring_cached(
    path: impl AsRef<Path>,
    cache: Option<&RingCache>,
) -> Result<(Ring, CacheUse), RingPathError> {
    let path = path.as_ref();
    let err = |e: RingFileError| RingPathError::new(path, e);
    let invalid = |e: crate::ring::RingError| err(RingFileError::Invalid(e.to_string()));
    let (bytes, meta) = read_with_metadata(path).map_err(|e| err(e.into()))?;
    let cache = match cache {
        Some(cache) if cache.wants(bytes.len() as u64) => cache,
        _ => {
            let (ring, _) = decode(&bytes).map_err(err)?;
            drop(bytes);
            let used = if cache.is_some() {
                CacheUse::Small
            } else {
                CacheUse::Off
            };
            return Ok((Ring::from_decoded(ring).map_err(invalid)?, used));
        }
    };
    let id = RingIdentity::of(&meta, &bytes);
    let entry = cache.entry(path);
    if let Some(stream) = entry.read(&id) {
        let cached = codec::decode_checked_stream(stream)
            .ok()
            .and_then(|(ring, _)| Ring::from_decoded(ring).ok());
        match cached {
            Some(ring) => return Ok((ring, CacheUse::Hit)),
            None => tracing::debug!(
                "ring cache {}: entry does not decode",
                entry.path().display()
            ),
        }
    }
    let (ring, _) = decode(&bytes).map_err(err)?;
    drop(bytes);
    let ring = Ring::from_decoded(ring).map_err(invalid)?;
    let used = match entry.store(&id, ring.table.source_bytes()) {
        Ok(()) => CacheUse::Stored,
        Err(e) => {
            tracing::debug!("ring cache {}: not stored: {e}", entry.path().display());
            CacheUse::StoreFailed
        }
    };
    Ok((ring, used))
}

/// Decodes a ring file's bytes, inflating into huge-page-friendly memory
/// that a helper thread faults in ahead of the inflate.
fn decode(bytes: &FileBytes) -> Result<(DecodedRing, RingFormat), RingFileError> {
    std::thread::scope(|scope| {
        codec::decode_ring_compact_in(bytes, |len| {
            let buf = ring_memory::stream_buffer(len);
            ring_memory::prefault(scope, bytes, &buf, len);
            buf
        })
    })
}

/// The file's bytes (large files mapped) and the metadata of the file they
/// were read from.
fn read_with_metadata(path: &Path) -> std::io::Result<(FileBytes, fs::Metadata)> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    let bytes = FileBytes::of(&mut file, &meta)?;
    Ok((bytes, meta))
}

/// Writes `ring` to `path` in `format` atomically: readers see either the old
/// file or the complete new one, never a partial write. The gzip header
/// records the file's base name, as Swift's does. The file gets mode 0644.
pub fn save_ring(
    path: impl AsRef<Path>,
    ring: &RingData,
    format: RingFormat,
) -> Result<(), RingPathError> {
    let path = path.as_ref();
    let err = |e: RingFileError| RingPathError::new(path, e);
    let base = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        err(RingFileError::Unwritable(
            "destination has no UTF-8 file name".into(),
        ))
    })?;
    write_atomically(path, Some(0o644), |w| {
        codec::write_ring(ring, format, base, w).map(|_| ())
    })
    .map_err(err)
}
