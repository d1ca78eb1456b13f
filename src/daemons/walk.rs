//! Walking device trees in a daemon's pass: sorted directory listings and
//! the devices a pass covers.

use std::path::{Path, PathBuf};

/// Every entry of `dir`, sorted (an unreadable directory: none).
pub fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// The subdirectories of `dir`, sorted (an unreadable directory: none).
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v = sorted_entries(dir);
    v.retain(|p| p.is_dir());
    v
}

/// Every file below `dir` with the extension `ext`, at any depth, in no
/// particular order (unreadable directories are passed over).
pub fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out
}

/// The devices of `devices` a pass covers: those named in `only` (all
/// when `None`) and, with `mount_check`, mounted; an unmounted one is
/// logged and skipped.
pub fn covered(devices: Vec<PathBuf>, only: Option<&[String]>, mount_check: bool) -> Vec<PathBuf> {
    devices
        .into_iter()
        .filter(|dev| {
            let name = dev.file_name().map(|n| n.to_string_lossy().into_owned());
            if only.is_some_and(|o| !o.iter().any(|d| Some(d) == name.as_ref())) {
                return false;
            }
            if mount_check && !crate::storage::device::is_mount(dev) {
                tracing::warn!("Skipping {} as it is not mounted", dev.display());
                return false;
            }
            true
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_sorted_and_subdirs_leave_files_out() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["b", "a", "c"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("0.db"), b"").unwrap();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names(sorted_entries(dir.path())), ["0.db", "a", "b", "c"]);
        assert_eq!(names(subdirs(dir.path())), ["a", "b", "c"]);
        assert!(subdirs(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn files_with_extension_look_at_every_depth() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("1/abc/0123");
        std::fs::create_dir_all(&deep).unwrap();
        for f in ["0123.db", "0123.db.pending", "x.db"] {
            std::fs::write(deep.join(f), b"").unwrap();
        }
        std::fs::write(dir.path().join("top.db"), b"").unwrap();
        let mut found = files_with_extension(dir.path(), "db");
        found.sort();
        let want = [
            deep.join("0123.db"),
            deep.join("x.db"),
            dir.path().join("top.db"),
        ];
        assert_eq!(found, want);
    }

    #[test]
    fn covered_keeps_the_named_devices_and_the_mounted_ones() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["sda", "sdb"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let all = subdirs(dir.path());
        assert_eq!(covered(all.clone(), None, false), all);
        let only = ["sdb".to_string()];
        assert_eq!(covered(all.clone(), Some(&only), false), [all[1].clone()]);
        // Plain directories of a temporary directory are not mount points.
        assert!(covered(all, None, true).is_empty());
    }
}
