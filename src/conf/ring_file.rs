//! Ring files on disk: loading a `*.ring.gz`, and saving one atomically
//! (temporary file in the same directory, fsync, rename, fsync directory).

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

use crate::ring::codec::{self, RingFileError, RingFormat};
use crate::ring::RingData;

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

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file unless the save completed.
struct TempFile {
    path: PathBuf,
    done: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn create_temp(dir: &Path, base: &str) -> std::io::Result<(File, TempFile)> {
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{base}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, TempFile { path, done: false })),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
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
    let io = |e: std::io::Error| RingPathError::new(path, e);
    let base = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        err(RingFileError::Unwritable(
            "destination has no UTF-8 file name".into(),
        ))
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let (file, mut temp) = create_temp(dir, base).map_err(io)?;
    let file = codec::write_ring(ring, format, base, BufWriter::new(file))
        .map_err(err)?
        .into_inner()
        .map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    set_mode_644(&file).map_err(io)?;
    drop(file);
    fs::rename(&temp.path, path).map_err(io)?;
    temp.done = true;
    // Make the rename itself durable.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(())
}

#[cfg(unix)]
fn set_mode_644(file: &File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_mode_644(_file: &File) -> std::io::Result<()> {
    Ok(())
}
