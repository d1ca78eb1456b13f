//! Builder files on disk: loading, atomic saves, and Swift's `backups/` copies.
//!
//! A save never leaves a half-written file: bytes go to a temporary file in
//! the same directory, which is flushed, fsynced and renamed over the target
//! (then the directory is fsynced). Backups are named as Swift names them:
//! `<builder dir>/backups/<unix seconds>.<file name>`.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use crate::conf::atomic_file::write_atomically;
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
    let result = write_atomically(path, None, |w| {
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
}
