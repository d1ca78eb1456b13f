//! swift-drive-audit's logic: find the devices mounted under `device_dir`,
//! count kernel-log errors per device within the last `minutes`, unmount the
//! ones at or over `error_limit` (commenting out their fstab line), and
//! record the counts in `drive.recon`.
//!
//! Host actions go through [`System`], so tests run on log files they write
//! and never unmount anything; the clock is passed in as a [`Civil`] time.

mod conf;
mod glob;
mod logscan;
mod system;

pub use conf::{
    parse_section, true_value, ConfError, DriveAuditConf, DEFAULT_PATTERNS, SWIFT_PATTERNS,
};
pub use glob::{fnmatch, glob};
pub use logscan::{parse_iso_prefix, parse_syslog, Civil, ErrorCounts, NaiveTime, Scanner};
pub use system::{comment_fstab_text, find_devices, HostSystem, MountedDevice, System};

use crate::recon::{cache, pyfmt};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Severity of a message drive-audit logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Error,
}

/// What the run may do beyond Swift's behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditOptions {
    /// Read `journalctl -k` when no log file matches the pattern.
    pub journal: bool,
    /// Report what would be unmounted; change nothing, write no cache.
    pub dry_run: bool,
}

/// A device at or over the error limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDevice {
    pub mount_point: String,
    pub kernel_device: String,
    pub errors: u64,
    /// Whether it was unmounted (false with `unmount_failed_device = false`
    /// or `--dry-run`).
    pub unmounted: bool,
}

/// The result of one audit.
#[derive(Debug, Clone)]
pub struct AuditOutcome {
    pub devices: Vec<MountedDevice>,
    pub errors: ErrorCounts,
    pub failed: Vec<FailedDevice>,
    /// The values written (or, in a dry run, that would be written) to
    /// `drive.recon`: one entry per mount point plus `drive_audit_errors`.
    pub recon: Map<String, Value>,
}

/// Why an audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the local clock gives an invalid date")]
    Clock,
}

/// The local wall-clock time now (what `datetime.now()` gives Swift).
pub fn local_now() -> Civil {
    // SAFETY: time/localtime_r only write into the struct we pass.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    Civil {
        year: tm.tm_year as i64 + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec.min(59) as u32,
    }
}

/// `YYYY-MM-DD HH:MM:SS` of `now - minutes`, for `journalctl --since`.
fn since_string(now: Civil, minutes: i64) -> String {
    /// Days from 0000-03-01 (the epoch of `Civil::to_naive`) to 1970-01-01.
    const UNIX_EPOCH_DAYS: i64 = 719_468;
    let secs = now.to_naive().map_or(0, |t| t.0) - minutes * 60;
    crate::recon::report::utc_string((secs - UNIX_EPOCH_DAYS * 86_400) as f64)
}

/// Python's repr of the device list, as Swift logs it.
fn devices_repr(devices: &[MountedDevice]) -> String {
    let items: Vec<String> = devices
        .iter()
        .map(|d| {
            let mut fields = vec![
                ("mount_point", &d.mount_point),
                ("block_device", &d.block_device),
                ("major", &d.major),
                ("minor", &d.minor),
            ];
            if let Some(k) = &d.kernel_device {
                fields.push(("kernel_device", k));
            }
            let inner: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("'{k}': {}", pyfmt::str_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn errors_repr(errors: &ErrorCounts) -> String {
    let inner: Vec<String> = errors
        .iter()
        .map(|(k, v)| format!("{}: {v}", pyfmt::str_repr(k)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// Log files matching the pattern, most recently modified first.
pub fn log_files(pattern: &str) -> Result<Vec<PathBuf>, AuditError> {
    let mut files = Vec::new();
    for p in glob(pattern) {
        let meta = std::fs::metadata(&p).map_err(|source| AuditError::Io {
            what: p.display().to_string(),
            source,
        })?;
        files.push((meta.modified().ok(), p));
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// Counts errors in the kernel log (files, or journald when asked and there
/// are none) within the window ending at `now`.
pub fn count_errors(
    conf: &DriveAuditConf,
    sys: &dyn System,
    now: Civil,
    opts: AuditOptions,
) -> Result<ErrorCounts, AuditError> {
    let mut scanner = Scanner::new(&conf.patterns, now, conf.minutes).ok_or(AuditError::Clock)?;
    let files = log_files(&conf.log_file_pattern)?;
    if files.is_empty() && opts.journal {
        let text = sys
            .kernel_journal(&since_string(now, conf.minutes))
            .map_err(|source| AuditError::Io {
                what: "journalctl -k".into(),
                source,
            })?;
        scanner.text(&text);
    }
    for path in files {
        let what = || format!("Unable to open {}", path.display());
        let f = std::fs::File::open(&path).map_err(|source| AuditError::Io {
            what: what(),
            source,
        })?;
        let more = scanner.reader(f).map_err(|source| AuditError::Io {
            what: what(),
            source,
        })?;
        if !more {
            break;
        }
    }
    Ok(scanner.counts)
}

/// Runs one audit. `log` receives the messages Swift's drive-audit logs.
pub fn audit(
    conf: &DriveAuditConf,
    sys: &mut dyn System,
    now: Civil,
    opts: AuditOptions,
    log: &mut dyn FnMut(Level, String),
) -> Result<AuditOutcome, AuditError> {
    let devices = find_devices(&*sys, &conf.device_dir, &mut |block, mount| {
        log(
            Level::Error,
            format!(
                "Could not determine major:minor numbers for {block} (mounted at {mount})! \
                 Skipping..."
            ),
        )
    })
    .map_err(|source| AuditError::Io {
        what: "reading the mount table".into(),
        source,
    })?;
    log(
        Level::Debug,
        format!("Devices found: {}", devices_repr(&devices)),
    );
    if devices.is_empty() {
        log(Level::Error, "Error: No devices found!".into());
    }
    let mut recon = Map::new();
    for d in &devices {
        recon.insert(d.mount_point.clone(), Value::from(0));
    }
    let errors = count_errors(conf, &*sys, now, opts)?;
    log(
        Level::Debug,
        format!("Errors found: {}", errors_repr(&errors)),
    );

    let mut failed = Vec::new();
    let mut total = 0u64;
    let mut unmounts = 0;
    for (kernel_device, count) in &errors {
        if *count < conf.error_limit {
            continue;
        }
        let Some(dev) = devices
            .iter()
            .find(|d| d.kernel_device.as_ref() == Some(kernel_device))
        else {
            continue;
        };
        let mp = &dev.mount_point;
        let mut unmounted = false;
        if opts.dry_run {
            log(
                Level::Info,
                format!("Would unmount {mp} with {count} errors (dry run)"),
            );
        } else if conf.unmount_failed_device {
            log(Level::Info, format!("Unmounting {mp} with {count} errors"));
            if let Err(e) = sys.unmount(mp) {
                log(Level::Error, format!("umount -fl {mp}: {e}"));
            }
            log(Level::Info, format!("Commenting out {mp} from /etc/fstab"));
            if let Err(e) = sys.comment_fstab(mp) {
                log(Level::Error, format!("Unable to update /etc/fstab: {e}"));
            }
            unmounts += 1;
            unmounted = true;
        } else {
            log(
                Level::Info,
                format!("Detected {mp} with {count} errors (Device not unmounted)"),
            );
        }
        recon.insert(mp.clone(), Value::from(*count));
        total += count;
        failed.push(FailedDevice {
            mount_point: mp.clone(),
            kernel_device: kernel_device.clone(),
            errors: *count,
            unmounted,
        });
    }
    let per_device = recon.clone();
    recon.insert("drive_audit_errors".into(), Value::from(total));
    if !opts.dry_run {
        let file = Path::new(&conf.recon_cache_path).join(cache::DRIVE_FILE);
        let mut totals = Map::new();
        totals.insert("drive_audit_errors".into(), Value::from(total));
        let results = [
            cache::dump(&file, &per_device, cache::DEFAULT_LOCK_TIMEOUT, None),
            cache::dump(
                &file,
                &totals,
                cache::DEFAULT_LOCK_TIMEOUT,
                Some(&conf.user),
            ),
        ];
        for e in results.into_iter().filter_map(Result::err) {
            log(Level::Error, format!("Exception dumping recon cache: {e}"));
        }
    }
    if unmounts == 0 {
        log(Level::Info, "No drives were unmounted".into());
    } else {
        log(
            Level::Debug,
            "fstab updated, calling systemctl daemon-reload".into(),
        );
        if let Err(e) = sys.reload_systemd() {
            log(Level::Error, format!("systemctl daemon-reload: {e}"));
        }
    }
    Ok(AuditOutcome {
        devices,
        errors,
        failed,
        recon,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_local_time_minus_minutes() {
        let now = Civil {
            year: 2025,
            month: 1,
            day: 1,
            hour: 0,
            minute: 30,
            second: 5,
        };
        assert_eq!(since_string(now, 60), "2024-12-31 23:30:05");
        assert_eq!(since_string(now, 0), "2025-01-01 00:30:05");
    }
}
