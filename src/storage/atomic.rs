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

/// Creates `dir` and any missing parents, returning how many it created.
pub fn mkdirs_count(dir: &Path) -> Result<usize> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.is_dir() {
        missing.push(at);
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => break,
        }
    }
    let mut created = 0;
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => created += 1,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StorageError::io(d, e)),
        }
    }
    Ok(created)
}

/// As [`mkdirs_count`], for a directory that is most likely missing while
/// its parent most likely exists (a new object's): `mkdir` first, going up
/// only when the parent is missing too, and no `stat` on the way.
pub fn mkdirs_count_new(dir: &Path) -> Result<usize> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(1),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let above = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => mkdirs_count_new(p)?,
                _ => return Err(StorageError::io(dir, e)),
            };
            match fs::create_dir(dir) {
                Ok(()) => Ok(above + 1),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {
                    Ok(above)
                }
                Err(e) => Err(StorageError::io(dir, e)),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(0),
        Err(e) => Err(StorageError::io(dir, e)),
    }
}

/// Renames `from` to `to`, creating `to`'s directory if needed, then syncs
/// that directory and, for each directory the call created, its parent (as
/// Swift's `renamer` does), so the new name survives a crash.
pub fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().unwrap_or(Path::new("."));
    // The directory usually exists: try the rename before any mkdir.
    let created = match fs::rename(from, to) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let n = mkdirs_count(parent)?;
            fs::rename(from, to).map_err(|e| StorageError::io(to, e))?;
            n
        }
        Err(e) => return Err(StorageError::io(to, e)),
    };
    let mut dir = parent;
    for _ in 0..=created {
        fsync_dir(dir)?;
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p,
            _ => break,
        }
    }
    Ok(())
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

    #[test]
    fn rename_creates_missing_directories_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(mkdirs_count(&dir.path().join("x/y/z")).unwrap(), 3);
        assert_eq!(mkdirs_count(&dir.path().join("x/y/z")).unwrap(), 0);
        assert_eq!(mkdirs_count(&dir.path().join("x/w")).unwrap(), 1);
        assert_eq!(mkdirs_count_new(&dir.path().join("n/e/w")).unwrap(), 3);
        assert_eq!(mkdirs_count_new(&dir.path().join("n/e/w")).unwrap(), 0);
        assert_eq!(mkdirs_count_new(&dir.path().join("n/e/x")).unwrap(), 1);
        fs::write(dir.path().join("n/file"), b"").unwrap();
        assert!(mkdirs_count_new(&dir.path().join("n/file")).is_err());
        assert!(mkdirs_count_new(&dir.path().join("n/file/below")).is_err());
        let from = dir.path().join("f");
        fs::write(&from, b"data").unwrap();
        let to = dir.path().join("p/q/file");
        rename_durable(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"data");
        assert!(!from.exists());
        // A missing source is an error, not a directory tree.
        let err = rename_durable(&dir.path().join("gone"), &dir.path().join("r/s/t"));
        assert!(err.is_err());
    }
}
