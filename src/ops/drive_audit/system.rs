//! What drive-audit asks of the host, behind a trait so tests never touch
//! real mounts: the mount table, device numbers, unmounting, fstab, journald.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

/// The host operations drive-audit needs.
pub trait System {
    /// Contents of `/proc/mounts`.
    fn mounts(&self) -> io::Result<String>;
    /// Contents of `/proc/partitions`.
    fn partitions(&self) -> io::Result<String>;
    /// `(link target basename, major, minor)` for each `/dev/block` symlink.
    fn block_links(&self) -> io::Result<Vec<(String, String, String)>>;
    /// `(major, minor)` of a block device node.
    fn device_number(&self, block_device: &str) -> io::Result<(u32, u32)>;
    /// `umount -fl <mount_point>`.
    fn unmount(&mut self, mount_point: &str) -> io::Result<()>;
    /// Comments out the fstab line that mounts `mount_point`.
    fn comment_fstab(&mut self, mount_point: &str) -> io::Result<()>;
    /// `systemctl daemon-reload`, only when systemd runs the host.
    fn reload_systemd(&mut self) -> io::Result<()>;
    /// Kernel messages from journald since a local time
    /// (`YYYY-MM-DD HH:MM:SS`), with ISO timestamps.
    fn kernel_journal(&self, since: &str) -> io::Result<String>;
}

/// The real host.
#[derive(Debug, Default)]
pub struct HostSystem {
    /// Path of the fstab to edit (normally `/etc/fstab`).
    pub fstab: String,
}

impl HostSystem {
    pub fn new() -> Self {
        HostSystem {
            fstab: "/etc/fstab".into(),
        }
    }
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let status = cmd.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{cmd:?} failed: {status}")))
    }
}

impl System for HostSystem {
    fn mounts(&self) -> io::Result<String> {
        std::fs::read_to_string("/proc/mounts")
    }

    fn partitions(&self) -> io::Result<String> {
        std::fs::read_to_string("/proc/partitions")
    }

    fn block_links(&self) -> io::Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/dev/block")? {
            let entry = entry?;
            if !entry.file_type()?.is_symlink() {
                continue;
            }
            let target = std::fs::read_link(entry.path())?;
            let Some(dev) = target.file_name() else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((major, minor)) = name.split_once(':') {
                out.push((
                    dev.to_string_lossy().into_owned(),
                    major.into(),
                    minor.into(),
                ));
            }
        }
        Ok(out)
    }

    fn device_number(&self, block_device: &str) -> io::Result<(u32, u32)> {
        let meta = std::fs::metadata(block_device)?;
        if !meta.file_type().is_block_device() {
            return Err(io::Error::other("not a block device"));
        }
        let rdev = meta.rdev();
        Ok((libc::major(rdev), libc::minor(rdev)))
    }

    fn unmount(&mut self, mount_point: &str) -> io::Result<()> {
        run(Command::new("umount").args(["-fl", mount_point]))
    }

    fn comment_fstab(&mut self, mount_point: &str) -> io::Result<()> {
        let text = std::fs::read_to_string(&self.fstab)?;
        let new_path = format!("{}.new", self.fstab);
        std::fs::write(&new_path, comment_fstab_text(&text, mount_point))?;
        std::fs::rename(&new_path, &self.fstab)
    }

    fn reload_systemd(&mut self) -> io::Result<()> {
        if Path::new("/run/systemd/system").is_dir() {
            run(Command::new("systemctl").arg("daemon-reload"))?;
        }
        Ok(())
    }

    fn kernel_journal(&self, since: &str) -> io::Result<String> {
        let out = Command::new("journalctl")
            .args([
                "-k",
                "--no-pager",
                "-q",
                "-o",
                "short-iso",
                "--since",
                since,
            ])
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "journalctl failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// fstab text with every uncommented line that mounts `mount_point`
/// commented out (Swift's rule: at least three fields, the second equal).
pub fn comment_fstab_text(text: &str, mount_point: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for line in text.split_inclusive('\n') {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() > 2 && parts[1] == mount_point && !line.starts_with('#') {
            out.push('#');
        }
        out.push_str(line);
    }
    out
}

/// One mounted device under the device directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedDevice {
    pub mount_point: String,
    pub block_device: String,
    pub major: String,
    pub minor: String,
    /// The kernel's name for it (`sdb1`, `nvme0n1p1`, `dm-0`) when known.
    pub kernel_device: Option<String>,
}

/// Undoes `/proc/mounts` octal escapes (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Devices mounted under `device_dir` (a plain prefix match, as Swift does),
/// with their device numbers and kernel names. Devices whose numbers cannot
/// be found are reported through `skipped` and left out.
pub fn find_devices(
    sys: &dyn System,
    device_dir: &str,
    skipped: &mut dyn FnMut(&str, &str),
) -> io::Result<Vec<MountedDevice>> {
    let links = sys.block_links().unwrap_or_default();
    let mut devices = Vec::new();
    for line in sys.mounts()?.lines() {
        let mut fields = line.split_whitespace();
        let (Some(block), Some(mount)) = (fields.next(), fields.next()) else {
            continue;
        };
        let mount_point = unescape_mount(mount);
        if !mount_point.starts_with(device_dir) {
            continue;
        }
        let block_device = unescape_mount(block);
        let base = Path::new(&block_device)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let numbers = match links.iter().find(|(dev, _, _)| *dev == base) {
            Some((_, major, minor)) => Some((major.clone(), minor.clone())),
            None => sys
                .device_number(&block_device)
                .ok()
                .map(|(a, b)| (a.to_string(), b.to_string())),
        };
        let Some((major, minor)) = numbers else {
            skipped(&block_device, &mount_point);
            continue;
        };
        devices.push(MountedDevice {
            mount_point,
            block_device,
            major,
            minor,
            kernel_device: None,
        });
    }
    for line in sys.partitions()?.lines().skip(2) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [major, minor, _blocks, name] = f[..] else {
            continue;
        };
        if let Some(d) = devices
            .iter_mut()
            .find(|d| d.major == major && d.minor == minor)
        {
            d.kernel_device = Some(name.to_string());
        }
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_commenting() {
        let text = "# c\n/dev/sdb1 /srv/node/sdb1 xfs noatime 0 0\n#/dev/x /srv/node/sdb1 xfs\n\
                    /dev/sdc1 /srv/node/sdc1 xfs\n/dev/sdb1 /srv/node/sdb1\n";
        assert_eq!(
            comment_fstab_text(text, "/srv/node/sdb1"),
            "# c\n#/dev/sdb1 /srv/node/sdb1 xfs noatime 0 0\n#/dev/x /srv/node/sdb1 xfs\n\
             /dev/sdc1 /srv/node/sdc1 xfs\n/dev/sdb1 /srv/node/sdb1\n"
        );
    }

    #[test]
    fn mount_escapes() {
        assert_eq!(unescape_mount("/srv/a\\040b"), "/srv/a b");
    }
}
