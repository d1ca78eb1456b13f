//! Ring files on disk: loading a `*.ring.gz`, and saving one atomically
//! (temporary file in the same directory, fsync, rename, fsync directory).

use std::fs;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::conf::atomic_file::write_atomically;
use crate::ring::codec::{self, RingFileError, RingFormat};
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
    let bytes = fs::read(path).map_err(|e| RingPathError::new(path, e))?;
    let (ring, format) = codec::decode_ring(&bytes).map_err(|e| RingPathError::new(path, e))?;
    codec::validate(&ring).map_err(|e| RingPathError::new(path, e))?;
    Ok((ring, format))
}

/// Loads a ring file straight into a lookup [`Ring`], its table kept as the
/// file stores it (no per-entry conversion). Checks what [`load_ring`] and
/// `Ring::new` check.
pub fn load_lookup_ring(path: impl AsRef<Path>) -> Result<Ring, RingPathError> {
    let path = path.as_ref();
    let bytes = fs::read(path).map_err(|e| RingPathError::new(path, e))?;
    let (ring, _) = codec::decode_ring_compact(&bytes).map_err(|e| RingPathError::new(path, e))?;
    drop(bytes);
    Ring::from_decoded(ring)
        .map_err(|e| RingPathError::new(path, RingFileError::Invalid(e.to_string())))
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
