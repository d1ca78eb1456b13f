//! Swift's `db_preallocation`: disk space reserved ahead of a growing
//! database, so its pages stay close together on disk.
//!
//! As in Swift it is one switch for the whole process, off by default, set
//! from the `db_preallocation` option by the account and container servers
//! and the database daemons. When on, each merge of a pending file first
//! makes sure the database has blocks reserved up to the next step (1, 2,
//! 5, 10, 25 and 50 MiB, then every 50 MiB), moving to the next step once
//! the file is within half a MiB of it. The space is reserved with
//! `FALLOC_FL_KEEP_SIZE`, so the file's length does not change.

use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::storage::{Result, StorageError};

static DB_PREALLOCATION: AtomicBool = AtomicBool::new(false);

const MIB: u64 = 1024 * 1024;

/// Turns preallocation on or off for every database this process opens.
pub fn set_db_preallocation(on: bool) {
    DB_PREALLOCATION.store(on, Ordering::Relaxed);
}

/// Whether preallocation is on.
pub fn db_preallocation() -> bool {
    DB_PREALLOCATION.load(Ordering::Relaxed)
}

/// The space to have reserved for a database file of `file_size` bytes:
/// the first step at least half a MiB beyond it.
pub fn prealloc_target(file_size: u64) -> u64 {
    let steps = [1, 2, 5, 10, 25, 50]
        .into_iter()
        .chain((2..).map(|n| n * 50));
    steps
        .map(|n: u64| n * MIB)
        .find(|&point| file_size <= point - MIB / 2)
        .expect("the steps never end")
}

/// Reserves space ahead of `db` when preallocation is on and less than
/// the target is allocated. File systems without `fallocate` are left as
/// they are, as Swift leaves them.
pub(super) fn preallocate(db: &Path) -> Result<()> {
    if !db_preallocation() {
        return Ok(());
    }
    let meta = std::fs::metadata(db).map_err(|e| StorageError::io(db, e))?;
    let target = prealloc_target(meta.len());
    if meta.blocks() * 512 >= target {
        return Ok(());
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(db)
        .map_err(|e| StorageError::io(db, e))?;
    let len = libc::off_t::try_from(target).unwrap_or(libc::off_t::MAX);
    // SAFETY: a valid open descriptor; fallocate only reserves blocks.
    let ret = unsafe { libc::fallocate(f.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
    if ret != 0 {
        let err = std::io::Error::last_os_error();
        let unsupported = [libc::ENOSYS, libc::EOPNOTSUPP, libc::EINVAL];
        if !err.raw_os_error().is_some_and(|e| unsupported.contains(&e)) {
            return Err(StorageError::io(db, err));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_as_swifts() {
        let cases = [
            (0, 1),
            (MIB / 2, 1),
            (MIB / 2 + 1, 2),
            (3 * MIB / 2, 2),
            (2 * MIB, 5),
            (9 * MIB, 10),
            (24 * MIB, 25),
            (25 * MIB, 50),
            (50 * MIB, 100),
            (120 * MIB, 150),
        ];
        for (size, mib) in cases {
            assert_eq!(prealloc_target(size), mib * MIB, "{size}");
        }
    }
}
