//! Atomic replacement of configuration-side files (rings, builders).
//!
//! Bytes go to a temporary file in the target's directory, which is flushed,
//! fsynced and renamed over the target; the directory is then fsynced so the
//! rename itself survives a crash. On any error the target is untouched and
//! the temporary file is removed. (Object data uses `storage::atomic`, whose
//! temporary files live in each device's `tmp/` as Swift's layout requires.)
//! Files whose readers verify them (the ring cache's checksummed entries)
//! may skip the fsyncs: a crash can lose such a file, never pass a damaged
//! one off as sound.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `path` atomically with the bytes `fill` produces. `mode`, when
/// given, is applied to the new file before it replaces the target.
pub fn write_atomically<E: From<io::Error>>(
    path: &Path,
    mode: Option<u32>,
    fill: impl FnOnce(&mut BufWriter<&File>) -> Result<(), E>,
) -> Result<(), E> {
    replace(path, mode, true, fill)
}

/// Like [`write_atomically`] (readers see the old file or the whole new
/// one), without the fsyncs: after a crash the new file may be missing or
/// damaged, so only for files every reader checks (checksums) and can do
/// without.
pub fn write_atomically_unsynced<E: From<io::Error>>(
    path: &Path,
    mode: Option<u32>,
    fill: impl FnOnce(&mut BufWriter<&File>) -> Result<(), E>,
) -> Result<(), E> {
    replace(path, mode, false, fill)
}

/// When `name` is one of the temporary files this module creates
/// (`.<target>.<pid>.<n>.tmp`, e.g. one a crashed writer left), the name of
/// the target it was for.
pub fn temp_file_target(name: &str) -> Option<&str> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (rest, n) = rest.rsplit_once('.')?;
    let (target, pid) = rest.rsplit_once('.')?;
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (number(n) && number(pid) && !target.is_empty()).then_some(target)
}

fn replace<E: From<io::Error>>(
    path: &Path,
    mode: Option<u32>,
    sync: bool,
    fill: impl FnOnce(&mut BufWriter<&File>) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (file, tmp) = create_temp(&dir, &name, mode)?;
    let result = (|| {
        let mut w = BufWriter::with_capacity(1 << 16, &file);
        fill(&mut w)?;
        w.flush()?;
        drop(w);
        if sync {
            file.sync_all()?;
        }
        if let Some(mode) = mode {
            set_mode(&file, mode)?;
        }
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    if !sync {
        return Ok(());
    }
    // Make the rename durable; some file systems refuse to fsync directories.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A new temporary file beside the target, created with `mode` (less the
/// umask) when given, so it is never more open than the final file.
fn create_temp(dir: &Path, name: &str, mode: Option<u32>) -> io::Result<(File, PathBuf)> {
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match new_file_options(mode).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(unix)]
fn new_file_options(mode: Option<u32>) -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    if let Some(mode) = mode {
        options.mode(mode);
    }
    options
}

#[cfg(not(unix))]
fn new_file_options(_mode: Option<u32>) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    options
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.builder");
        fs::write(&target, b"old").unwrap();
        let err = write_atomically(&target, None, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file removed"
        );
        write_atomically(&target, Some(0o644), |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn unsynced_writes_replace_whole_files_with_the_mode_asked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.decoded");
        fs::write(&target, b"old").unwrap();
        let mut temp_name = None;
        write_atomically_unsynced(&target, Some(0o600), |w| {
            let names: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.starts_with('.'))
                .collect();
            temp_name = names.into_iter().next();
            w.write_all(b"new")
        })
        .unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let mode = fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let temp_name = temp_name.expect("a temporary file while filling");
        assert_eq!(temp_file_target(&temp_name), Some("x.decoded"));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temp_file_names_are_told_apart() {
        assert_eq!(
            temp_file_target(".a.b.decoded.12.0.tmp"),
            Some("a.b.decoded")
        );
        for name in [
            ".x.tmp",
            "a.decoded.1.2.tmp",
            ".a.decoded.p.2.tmp",
            "..1.2.tmp",
        ] {
            assert_eq!(temp_file_target(name), None, "{name}");
        }
    }
}
