//! Durable file placement: write to a temp file, fsync, rename, fsync the directory.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use super::{Result, StorageError};

/// Creates `dir` and its parents.
pub fn mkdirs(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))
}

/// Flushes a directory entry to disk (after a rename or create within it).
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| StorageError::io(dir, e))?;
    d.sync_all().map_err(|e| StorageError::io(dir, e))
}

/// Renames `from` to `to`, creating `to`'s directory first, and syncs that directory.
pub fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().unwrap_or(Path::new("."));
    mkdirs(parent)?;
    fs::rename(from, to).map_err(|e| StorageError::io(to, e))?;
    fsync_dir(parent)
}

/// Atomically replaces `target` with `data`, staging the temp file in `tmp_dir`
/// (which must be on the same filesystem).
pub fn write_file_atomic(target: &Path, data: &[u8], tmp_dir: &Path) -> Result<()> {
    mkdirs(tmp_dir)?;
    let tmp = tmp_dir.join(format!("tmp{}", uuid::Uuid::new_v4().simple()));
    let res = (|| {
        let mut f = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
        f.write_all(data).map_err(|e| StorageError::io(&tmp, e))?;
        f.sync_all().map_err(|e| StorageError::io(&tmp, e))?;
        rename_durable(&tmp, target)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/file");
        write_file_atomic(&target, b"one", &dir.path().join("tmp")).unwrap();
        write_file_atomic(&target, b"two", &dir.path().join("tmp")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
