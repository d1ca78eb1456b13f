//! Device roots: mount checks, free space and the `fallocate_reserve` rule.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Result, StorageError};

/// Space to keep free on every device: PUT/POST are refused below it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reserve {
    Bytes(u64),
    Percent(f64),
}

impl Default for Reserve {
    fn default() -> Self {
        Reserve::Bytes(0)
    }
}

impl Reserve {
    /// Parses `fallocate_reserve`: a byte count or a percentage like `1%`.
    pub fn parse(s: &str) -> Option<Reserve> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.trim().parse().ok()?;
            (0.0..=100.0).contains(&v).then_some(Reserve::Percent(v))
        } else {
            s.parse().ok().map(Reserve::Bytes)
        }
    }

    /// True when the filesystem still has more free space than the reserve.
    pub fn satisfied(self, usage: &FsUsage) -> bool {
        match self {
            Reserve::Bytes(0) => true,
            Reserve::Bytes(b) => usage.avail > b,
            Reserve::Percent(p) if p <= 0.0 => true,
            Reserve::Percent(p) => {
                usage.size > 0 && (usage.avail as f64 * 100.0 / usage.size as f64) > p
            }
        }
    }
}

/// Filesystem sizes in bytes, from statvfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsUsage {
    pub size: u64,
    pub avail: u64,
    pub used: u64,
}

/// statvfs on a path.
pub fn fs_usage(path: &Path) -> Result<FsUsage> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| StorageError::InvalidName(path.display().to_string()))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` is a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(StorageError::io(path, std::io::Error::last_os_error()));
    }
    let frsize = st.f_frsize as u64;
    let size = st.f_blocks as u64 * frsize;
    let avail = st.f_bavail as u64 * frsize;
    let free = st.f_bfree as u64 * frsize;
    Ok(FsUsage {
        size,
        avail,
        used: size.saturating_sub(free),
    })
}

/// True if `path` is a mount point: a different device than its parent, or the root.
pub fn is_mount(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return false;
    }
    let Ok(parent) = std::fs::metadata(path.join("..")) else {
        return false;
    };
    parent.dev() != meta.dev() || parent.ino() == meta.ino()
}

/// The devices directory and how to check it.
#[derive(Debug, Clone)]
pub struct Devices {
    pub root: PathBuf,
    pub mount_check: bool,
    pub reserve: Reserve,
}

impl Devices {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Devices {
            root: root.into(),
            mount_check: false,
            reserve: Reserve::default(),
        }
    }

    /// `<root>/<device>` if it is usable: mounted when `mount_check`, else a directory.
    /// The caller must already have validated `device` as a single path component.
    pub fn path(&self, device: &str) -> Result<PathBuf> {
        let p = self.root.join(device);
        let ok = if self.mount_check {
            is_mount(&p)
        } else {
            p.is_dir()
        };
        if ok {
            Ok(p)
        } else {
            Err(StorageError::DeviceUnavailable(device.to_string()))
        }
    }

    /// Whether writes must leave free space (`fallocate_reserve`).
    pub fn keeps_reserve(&self) -> bool {
        !matches!(self.reserve, Reserve::Bytes(0))
    }

    /// Errors with `InsufficientSpace` when the device is below its reserve.
    pub fn check_space(&self, device: &str, dev_path: &Path) -> Result<()> {
        if !self.keeps_reserve() {
            return Ok(());
        }
        if self.reserve.satisfied(&fs_usage(dev_path)?) {
            Ok(())
        } else {
            Err(StorageError::InsufficientSpace(device.to_string()))
        }
    }
}

/// Checks a device or partition name is one safe path component.
pub fn valid_component(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@+".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_rules() {
        let u = FsUsage {
            size: 1000,
            avail: 100,
            used: 900,
        };
        assert!(Reserve::parse("5%").unwrap().satisfied(&u));
        assert!(!Reserve::parse("10%").unwrap().satisfied(&u));
        assert!(Reserve::parse("99").unwrap().satisfied(&u));
        assert!(!Reserve::parse("100").unwrap().satisfied(&u));
        assert!(Reserve::parse("x").is_none());
        assert!(Reserve::parse("101%").is_none());
    }

    #[test]
    fn components_and_mounts() {
        assert!(valid_component("sda1"));
        assert!(!valid_component(".."));
        assert!(!valid_component("a/b"));
        assert!(!valid_component(""));
        assert!(is_mount(Path::new("/")));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        assert!(!is_mount(&dir.path().join("d")));
        let mut devs = Devices::new(dir.path());
        assert!(devs.path("d").is_ok());
        assert!(devs.path("missing").is_err());
        devs.mount_check = true;
        assert!(matches!(
            devs.path("d"),
            Err(StorageError::DeviceUnavailable(_))
        ));
    }
}
