//! Builder files on disk: loading, atomic saves, and Swift's `backups/` copies.
//!
//! A save never leaves a half-written file: bytes go to a temporary file in
//! the same directory, which is flushed, fsynced and renamed over the target
//! (then the directory is fsynced). Backups are named as Swift names them:
//! `<builder dir>/backups/<unix seconds>.<file name>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::ring::builder::{read_builder, write_builder, BuilderFileError, RingBuilder};

/// Why a builder file could not be loaded. The messages are Swift's.
#[derive(Debug, thiserror::Error)]
pub enum LoadBuilderError {
    #[error("Ring Builder file does not exist: {0}")]
    NotFound(String),
    #[error("Ring Builder file cannot be accessed: {0}")]
    PermissionDenied(String),
    #[error("Ring Builder file is invalid: {path}")]
    Invalid {
        path: String,
        #[source]
        source: BuilderFileError,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Loads a builder file; `path` is shown in errors as given.
pub fn load_builder(path: &Path) -> Result<RingBuilder, LoadBuilderError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => LoadBuilderError::NotFound(shown.clone()),
        io::ErrorKind::PermissionDenied => LoadBuilderError::PermissionDenied(shown.clone()),
        _ => LoadBuilderError::Io {
            path: shown.clone(),
            source: e,
        },
    })?;
    read_builder(BufReader::with_capacity(1 << 16, file)).map_err(|source| match source {
        BuilderFileError::Io(e) if e.kind() != io::ErrorKind::InvalidData => LoadBuilderError::Io {
            path: shown.clone(),
            source: e,
        },
        source => LoadBuilderError::Invalid {
            path: shown.clone(),
            source,
        },
    })
}

/// Saves `builder` atomically, assigning it an id first if it has none (as
/// Swift's `save()` does; the id is kept only if the save succeeds).
pub fn save_builder(builder: &mut RingBuilder, path: &Path) -> io::Result<()> {
    let assigned = builder.id.is_none();
    if assigned {
        builder.id = Some(uuid::Uuid::new_v4().simple().to_string());
    }
    let result = write_atomically(path, |w| {
        write_builder(builder, w).map_err(|e| match e {
            BuilderFileError::Io(e) => e,
            other => io::Error::other(other.to_string()),
        })
    });
    if result.is_err() && assigned {
        builder.id = None;
    }
    result
}

/// `<dir of builder>/backups`, created if missing (Swift does this on every
/// invocation that names a builder).
pub fn ensure_backup_dir(builder_path: &Path) -> io::Result<PathBuf> {
    let dir = backup_dir(builder_path);
    match fs::create_dir(&dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(dir),
    }
}

/// `<dir of builder>/backups`.
pub fn backup_dir(builder_path: &Path) -> PathBuf {
    builder_path
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join("backups")
}

/// Where a backup of `file` taken at `now` goes: `backups/<now>.<file name>`,
/// with `backups` beside `builder_path`.
pub fn backup_path(builder_path: &Path, file: &Path, now: i64) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    backup_dir(builder_path).join(format!("{now}.{name}"))
}

/// Writes `path` through a temporary file in the same directory: flush,
/// fsync, rename, fsync the directory. On any error the target is untouched
/// and the temporary file is removed.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
) -> io::Result<()> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 16, &file);
        fill(&mut w)?;
        w.flush()?;
        drop(w);
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename durable; some file systems refuse to fsync directories.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_follow_swift() {
        let p = backup_path(
            Path::new("etc/object.builder"),
            Path::new("etc/object.ring.gz"),
            1700000000,
        );
        assert_eq!(p, Path::new("etc/backups/1700000000.object.ring.gz"));
        assert_eq!(
            backup_dir(Path::new("object.builder")),
            Path::new("backups")
        );
    }

    #[test]
    fn failed_write_leaves_target_alone() {
        let dir = std::env::temp_dir().join(format!("fs-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("x.builder");
        fs::write(&target, b"old").unwrap();
        let err = write_atomically(&target, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "temp file removed");
        write_atomically(&target, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        fs::remove_dir_all(&dir).unwrap();
    }
}
