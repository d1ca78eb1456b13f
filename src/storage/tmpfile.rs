//! Where an object file is written before it gets its name, and how it gets it.
//!
//! As Swift's `DiskFileWriter` with `use_linkat`: an unnamed file opened
//! with `O_TMPFILE` in the object's own directory, linked to
//! `<timestamp>.<ext>` once written and synced (`link_fd_to_path`). On a
//! filesystem without `O_TMPFILE` the file is a named temp file in
//! `<dev>/tmp[-N]` renamed into place (`renamer`). Either way the object
//! directory is then synced, and the parent of each directory the write
//! created. Also a directory listing over an open directory, so one open
//! serves the state check, the unnamed file and the final sync.

use std::ffi::{CStr, CString, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::atomic::{fsync_dir, mkdirs_count};
use super::{Result, StorageError};

/// How a file being written waits for its name.
pub enum Staged {
    /// An `O_TMPFILE` file; holds its (open) object directory.
    Unnamed(File),
    /// A named temp file, renamed into place at the end.
    Named(PathBuf),
}

/// Opens a directory for listing, `openat`, `linkat` and `fsync`.
pub fn open_dir(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
}

/// Opens an unnamed file for writing in directory `dir` (`O_TMPFILE`).
pub fn open_unnamed(dir: &File) -> io::Result<File> {
    // SAFETY: a directory descriptor we own and a NUL-terminated path; the
    // returned descriptor is new and owned by the File made from it.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c".".as_ptr(),
            libc::O_TMPFILE | libc::O_WRONLY | libc::O_CLOEXEC,
            0o666 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Whether an `O_TMPFILE` open failed because the filesystem (or kernel)
/// cannot do it, the errors on which Swift falls back to `mkstemp`.
pub fn tmpfile_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
    )
}

/// Opens a named temp file in `tmp_dir`, creating the directory if needed.
pub fn open_named(tmp_dir: &Path) -> Result<(File, PathBuf)> {
    let tmp = tmp_dir.join(format!("tmp{}", uuid::Uuid::new_v4().simple()));
    let create = || OpenOptions::new().write(true).create_new(true).open(&tmp);
    let file = match create() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(tmp_dir).map_err(|e| StorageError::io(tmp_dir, e))?;
            create()
        }
        other => other,
    }
    .map_err(|e| StorageError::io(&tmp, e))?;
    Ok((file, tmp))
}

fn c_name(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| StorageError::InvalidName(name.to_string()))
}

/// `linkat` of open file `file` to `name` in directory `dir`, as Swift's
/// `link_fd_to_path` does it (through `/proc/self/fd`).
fn link_fd(file: &File, dir: &File, name: &CStr) -> io::Result<()> {
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).expect("no NUL");
    // SAFETY: NUL-terminated paths and descriptors we own; no memory is kept.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn unlink_at(dir: &File, name: &CStr) -> io::Result<()> {
    // SAFETY: a directory descriptor we own and a NUL-terminated name.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Gives `file` (staged as `staged`) the name `name` in object directory
/// `dir`, then syncs `dir` and the parents of the `created` directories the
/// write made, so the name survives a crash.
///
/// An unnamed file is linked; `linkat` cannot replace a name, so an
/// existing one is unlinked first, and a directory removed meanwhile (by a
/// cleanup of an empty object directory) is made again: two retries, as
/// Swift's `link_fd_to_path`. A named one is renamed, with Swift's
/// `renamer` retry. When a retry makes directories again, the parents of
/// the larger count are synced.
pub fn place(
    staged: &mut Staged,
    file: &File,
    dir: &Path,
    name: &str,
    mut created: usize,
) -> Result<()> {
    let target = || dir.join(name);
    match staged {
        Staged::Unnamed(dir_file) => {
            let cname = c_name(name)?;
            let mut attempts = 0;
            loop {
                attempts += 1;
                let err = match link_fd(file, dir_file, &cname) {
                    Ok(()) => break,
                    Err(e) => e,
                };
                if attempts > 2 {
                    return Err(StorageError::io(target(), err));
                }
                match err.kind() {
                    io::ErrorKind::NotFound => {
                        created = created.max(mkdirs_count(dir)?);
                        *dir_file = open_dir(dir).map_err(|e| StorageError::io(dir, e))?;
                    }
                    io::ErrorKind::AlreadyExists => match unlink_at(dir_file, &cname) {
                        Err(e) if e.kind() != io::ErrorKind::NotFound => {
                            return Err(StorageError::io(target(), e))
                        }
                        _ => {}
                    },
                    _ => return Err(StorageError::io(target(), err)),
                }
            }
            dir_file.sync_all().map_err(|e| StorageError::io(dir, e))?;
        }
        Staged::Named(tmp) => {
            if let Err(e) = fs::rename(&*tmp, target()) {
                if e.kind() != io::ErrorKind::NotFound {
                    return Err(StorageError::io(target(), e));
                }
                created = created.max(mkdirs_count(dir)?);
                fs::rename(&*tmp, target()).map_err(|e| StorageError::io(target(), e))?;
            }
            fsync_dir(dir)?;
        }
    }
    let mut at = dir;
    for _ in 0..created {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => break,
        }
        fsync_dir(at)?;
    }
    Ok(())
}

/// The names in an open directory (without `.` and `..`), read with
/// `getdents64` from the directory's current position.
pub fn list_open_dir(dir: &File) -> io::Result<Vec<OsString>> {
    // Records: d_ino (8 bytes), d_off (8), d_reclen (2), d_type (1), name, NUL.
    const NAME_AT: usize = 19;
    let mut buf = vec![0u8; 8192];
    let mut out = Vec::new();
    loop {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(out);
        }
        let mut at = 0usize;
        while at + NAME_AT <= n as usize {
            let len = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if len <= NAME_AT || at + len > n as usize {
                return Err(io::Error::other("malformed directory record"));
            }
            let raw = &buf[at + NAME_AT..at + len];
            let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
            if name != b"." && name != b".." {
                out.push(OsString::from_vec(name.to_vec()));
            }
            at += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn listing_an_open_directory_sees_every_name() {
        let d = tempfile::tempdir().unwrap();
        let mut want: Vec<String> = (0..500)
            .map(|i| format!("{i:04}-{}", "x".repeat(40)))
            .collect();
        for n in &want {
            fs::write(d.path().join(n), b"").unwrap();
        }
        let mut got: Vec<String> = list_open_dir(&open_dir(d.path()).unwrap())
            .unwrap()
            .into_iter()
            .map(|n| n.into_string().unwrap())
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        let file = d.path().join(&want[0]);
        assert!(open_dir(&file).is_err(), "a file is not a directory");
    }

    #[test]
    fn an_unnamed_file_is_invisible_until_placed() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        let created = mkdirs_count(&dir).unwrap();
        assert_eq!(created, 2);
        let mut staged = Staged::Unnamed(open_dir(&dir).unwrap());
        let Staged::Unnamed(dir_file) = &staged else {
            unreachable!()
        };
        let mut f = match open_unnamed(dir_file) {
            Ok(f) => f,
            Err(e) if tmpfile_unsupported(&e) => {
                panic!("the test directory's filesystem has no O_TMPFILE: {e}")
            }
            Err(e) => panic!("{e}"),
        };
        f.write_all(b"body").unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        place(&mut staged, &f, &dir, "1.data", created).unwrap();
        assert_eq!(fs::read(dir.join("1.data")).unwrap(), b"body");
        // linkat cannot replace a name: the old one goes first.
        let Staged::Unnamed(dir_file) = &staged else {
            unreachable!()
        };
        let mut g = open_unnamed(dir_file).unwrap();
        g.write_all(b"again").unwrap();
        place(&mut staged, &g, &dir, "1.data", 0).unwrap();
        assert_eq!(fs::read(dir.join("1.data")).unwrap(), b"again");
        // A directory removed under a pending file is made again.
        let h = {
            let Staged::Unnamed(dir_file) = &staged else {
                unreachable!()
            };
            open_unnamed(dir_file).unwrap()
        };
        fs::remove_file(dir.join("1.data")).unwrap();
        fs::remove_dir(&dir).unwrap();
        place(&mut staged, &h, &dir, "2.data", 0).unwrap();
        assert!(dir.join("2.data").is_file());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn unsupported_means_the_errors_swift_falls_back_on() {
        for e in [libc::EOPNOTSUPP, libc::EISDIR, libc::EINVAL] {
            assert!(tmpfile_unsupported(&io::Error::from_raw_os_error(e)));
        }
        for e in [libc::ENOENT, libc::EACCES, libc::ENOSPC] {
            assert!(!tmpfile_unsupported(&io::Error::from_raw_os_error(e)));
        }
    }

    #[test]
    fn a_named_file_is_renamed_into_a_directory_made_on_the_way() {
        let d = tempfile::tempdir().unwrap();
        let (mut f, tmp) = open_named(&d.path().join("tmp")).unwrap();
        f.write_all(b"x").unwrap();
        let dir = d.path().join("objects/1/abc/hash");
        let mut staged = Staged::Named(tmp.clone());
        place(&mut staged, &f, &dir, "5.ts", 0).unwrap();
        assert_eq!(fs::read(dir.join("5.ts")).unwrap(), b"x");
        assert!(!tmp.exists());
    }
}
