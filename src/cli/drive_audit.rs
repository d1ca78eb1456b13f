//! `swift-drive-audit CONF_FILE [--journal] [--dry-run] [--json]`.
//!
//! Exit codes: 0 no device at or over the error limit; 1 at least one was
//! (unmounted or not); 2 bad arguments, configuration or an I/O failure.

use crate::cli::{EXIT_ERROR, EXIT_SUCCESS, EXIT_WARNING};
use crate::ops::drive_audit::{
    audit, local_now, AuditOptions, DriveAuditConf, HostSystem, Level, System,
};
use clap::Parser;
use serde_json::json;
use std::ffi::{CString, OsString};
use std::io::Write;
use std::path::PathBuf;

/// Audit kernel logs for drive errors and unmount failing drives.
#[derive(Debug, Parser)]
#[command(name = "swift-drive-audit", version)]
pub struct Args {
    /// Configuration file with a [drive-audit] section.
    #[arg(default_value = "/etc/swift/drive-audit.conf")]
    pub conf: PathBuf,
    /// Read kernel messages from journald (journalctl -k) when no log file
    /// matches log_file_pattern.
    #[arg(long)]
    pub journal: bool,
    /// Report what would be unmounted; unmount nothing, edit no fstab and
    /// write no drive.recon.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the devices, error counts and failed devices as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Where log messages go: stderr (`log_to_console`) or syslog.
struct Logger {
    name: String,
    console: bool,
    debug: bool,
}

impl Logger {
    fn new(conf: &DriveAuditConf) -> Self {
        if !conf.log_to_console {
            let ident = CString::new(conf.log_name.clone()).unwrap_or_default();
            // openlog keeps the pointer: the identity must live for the process.
            let ident: &'static CString = Box::leak(Box::new(ident));
            // SAFETY: a valid, never-freed C string.
            unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, libc::LOG_LOCAL0) };
        }
        Logger {
            name: conf.log_name.clone(),
            console: conf.log_to_console,
            debug: conf.log_level_debug,
        }
    }

    fn log(&self, level: Level, msg: &str, err: &mut dyn Write) {
        if level == Level::Debug && !self.debug {
            return;
        }
        if self.console {
            let _ = writeln!(err, "{}: {msg}", self.name);
            return;
        }
        let prio = match level {
            Level::Debug => libc::LOG_DEBUG,
            Level::Info => libc::LOG_INFO,
            Level::Error => libc::LOG_ERR,
        };
        if let Ok(text) = CString::new(msg.replace('\0', " ")) {
            // SAFETY: constant format string and a valid C string argument.
            unsafe { libc::syslog(prio, c"%s".as_ptr(), text.as_ptr()) };
        }
    }
}

/// Runs the tool with the host's real system.
pub fn main(argv: Vec<OsString>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    run(argv, &mut HostSystem::new(), out, err)
}

/// Runs the tool against any [`System`] (tests pass a fake one).
pub fn run(
    argv: Vec<OsString>,
    sys: &mut dyn System,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_SUCCESS
            };
            let _ = if e.use_stderr() {
                write!(err, "{e}")
            } else {
                write!(out, "{e}")
            };
            return code;
        }
    };
    let conf = match DriveAuditConf::load(&args.conf) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "swift-drive-audit: {e}");
            return EXIT_ERROR;
        }
    };
    let logger = Logger::new(&conf);
    let opts = AuditOptions {
        journal: args.journal,
        dry_run: args.dry_run,
    };
    let outcome = audit(&conf, sys, local_now(), opts, &mut |lvl, msg| {
        logger.log(lvl, &msg, err)
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "swift-drive-audit: {e}");
            return EXIT_ERROR;
        }
    };
    if args.dry_run {
        for f in &outcome.failed {
            let _ = writeln!(
                out,
                "would unmount {} ({}): {} errors",
                f.mount_point, f.kernel_device, f.errors
            );
        }
    }
    if args.json {
        let doc = json!({
            "devices": outcome.devices.iter().map(|d| json!({
                "mount_point": d.mount_point, "block_device": d.block_device,
                "major": d.major, "minor": d.minor, "kernel_device": d.kernel_device,
            })).collect::<Vec<_>>(),
            "errors": outcome.errors.iter().map(|(k, v)| (k.clone(), json!(v)))
                .collect::<serde_json::Map<_, _>>(),
            "failed": outcome.failed.iter().map(|f| json!({
                "mount_point": f.mount_point, "kernel_device": f.kernel_device,
                "errors": f.errors, "unmounted": f.unmounted,
            })).collect::<Vec<_>>(),
            "error_limit": conf.error_limit,
            "dry_run": args.dry_run,
            "recon": outcome.recon,
        });
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    }
    if outcome.failed.is_empty() {
        EXIT_SUCCESS
    } else {
        EXIT_WARNING
    }
}
