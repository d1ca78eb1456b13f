//! swift-drive-audit: the captured Swift 2.38.3 runs in
//! `ops-outputs/drive-audit/`, log scanning compared with Swift's own
//! `get_errors` on logs written here, and the command's exit codes and
//! options against a fake host (nothing real is ever unmounted).

mod common;

use ferroswift::ops::drive_audit::{
    audit, count_errors, local_now, AuditOptions, Civil, DriveAuditConf, Level, System,
    SWIFT_PATTERNS,
};
use regex::Regex;
use std::io;
use std::path::Path;

/// A host with one loop device mounted under the device dir.
#[derive(Default)]
struct FakeHost {
    mounts: String,
    partitions: String,
    journal: String,
    unmounted: Vec<String>,
    fstab: String,
    reloads: usize,
}

impl FakeHost {
    fn loop0(mount_point: &str) -> Self {
        FakeHost {
            mounts: format!(
                "proc /proc proc rw 0 0\n/dev/loop0 {mount_point} xfs rw 0 0\n\
                 /dev/sda1 / ext4 rw 0 0\n"
            ),
            partitions: "major minor  #blocks  name\n\n   8        0   1000 sda\n   8        1    900 sda1\n   7        0   5000 loop0\n".into(),
            fstab: format!("# fstab\n/dev/loop0 {mount_point} xfs noatime 0 0\n"),
            ..Default::default()
        }
    }
}

impl System for FakeHost {
    fn mounts(&self) -> io::Result<String> {
        Ok(self.mounts.clone())
    }
    fn partitions(&self) -> io::Result<String> {
        Ok(self.partitions.clone())
    }
    fn block_links(&self) -> io::Result<Vec<(String, String, String)>> {
        Err(io::ErrorKind::NotFound.into())
    }
    fn device_number(&self, dev: &str) -> io::Result<(u32, u32)> {
        match dev {
            "/dev/loop0" => Ok((7, 0)),
            "/dev/sda1" => Ok((8, 1)),
            _ => Err(io::ErrorKind::NotFound.into()),
        }
    }
    fn unmount(&mut self, mp: &str) -> io::Result<()> {
        self.unmounted.push(mp.to_string());
        Ok(())
    }
    fn comment_fstab(&mut self, mp: &str) -> io::Result<()> {
        self.fstab = ferroswift::ops::drive_audit::comment_fstab_text(&self.fstab, mp);
        Ok(())
    }
    fn reload_systemd(&mut self) -> io::Result<()> {
        self.reloads += 1;
        Ok(())
    }
    fn kernel_journal(&self, _since: &str) -> io::Result<String> {
        Ok(self.journal.clone())
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    common::reference("ops-outputs/drive-audit").join(name)
}

fn current_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Loads a fixture config, pointing its log pattern and cache at `dir`.
fn fixture_conf(name: &str, cache: &Path) -> DriveAuditConf {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let text = text
        .replace(
            "saio/drive-audit/kern.log*",
            &fixture("kern.log*").display().to_string(),
        )
        .replace("/var/cache/swift/1", &cache.display().to_string())
        .replace("user = root", &format!("user = {}", current_user()));
    let p = cache.join("drive-audit.conf");
    std::fs::write(&p, text).unwrap();
    DriveAuditConf::load(&p).unwrap()
}

/// The time the fixture was captured at (the kernel log's last line is 02:07).
fn capture_time() -> Civil {
    Civil {
        year: 2025,
        month: 11,
        day: 22,
        hour: 2,
        minute: 10,
        second: 0,
    }
}

fn run_fixture(conf_name: &str) -> (FakeHost, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let conf = fixture_conf(conf_name, dir.path());
    let mut host = FakeHost::loop0("/srv/node/1/sdb1");
    let mut logs = Vec::new();
    audit(
        &conf,
        &mut host,
        capture_time(),
        AuditOptions::default(),
        &mut |l, m| {
            if l != Level::Debug || conf.log_level_debug {
                logs.push(format!("drive-audit: {m}"));
            }
        },
    )
    .unwrap();
    let recon = std::fs::read_to_string(dir.path().join("drive.recon")).unwrap();
    (host, logs, recon)
}

/// The `drive-audit: ...` lines of a captured transcript.
fn transcript_logs(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("drive-audit: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn stock_config_matches_swift_capture() {
    let (host, logs, recon) = run_fixture("drive-audit.conf");
    assert_eq!(logs, transcript_logs("B-ns-stock-regexes.txt"));
    assert_eq!(
        recon,
        std::fs::read_to_string(fixture("B-drive.recon")).unwrap()
    );
    assert!(host.unmounted.is_empty());
    assert_eq!(host.reloads, 0);
}

#[test]
fn loop_patterns_unmount_like_swift_capture() {
    let (host, logs, recon) = run_fixture("drive-audit-loop.conf");
    let mut want = transcript_logs("C-ns-loop-regexes.txt");
    // Swift logs this at debug level after the captured lines.
    want.push("drive-audit: fstab updated, calling systemctl daemon-reload".into());
    assert_eq!(logs, want);
    assert_eq!(
        recon,
        std::fs::read_to_string(fixture("C-drive.recon")).unwrap()
    );
    assert_eq!(host.unmounted, ["/srv/node/1/sdb1"]);
    assert_eq!(
        host.fstab,
        "# fstab\n#/dev/loop0 /srv/node/1/sdb1 xfs noatime 0 0\n"
    );
    assert_eq!(host.reloads, 1);
}

/// Writes rotated kernel logs stamped relative to Swift's idea of "now".
const WRITE_LOGS: &str = r#"
import datetime, os, sys
d = sys.argv[1]
now = datetime.datetime.now()
def sl(m): return (now - datetime.timedelta(minutes=m)).strftime('%b %e %H:%M:%S')
def iso(m): return (now - datetime.timedelta(minutes=m)).strftime('%Y-%m-%dT%H:%M:%S.123456+00:00')
old = [
  sl(300) + ' h kernel: [ 1.0] error on sdq',
  sl(200) + ' h kernel: [    0.000000] Linux version 6.1',
  sl(50) + ' h kernel: Buffer I/O error on dev sdc1, logical block 3',
  sl(45) + ' h kernel: critical medium error, dev nvme0n1, sector 8',
]
new = [
  sl(40) + ' h kernel: XFS (sdb1): metadata I/O error in x error 5',
  'not a timestamp error on sdz',
  '',
  iso(30) + ' h kernel: I/O error, dev sdb, sector 1 error sdb again',
  sl(20) + ' h kernel: blk_update_request: I/O error, dev dm-3, sector 2',
  sl(10) + ' h kernel: [sdc] Sense: Unrecovered read error',
  sl(5) + ' h kernel: error vdb1 and sdd2 then sde',
]
with open(os.path.join(d, 'kern.log.1'), 'w') as f: f.write('\n'.join(old) + '\n')
with open(os.path.join(d, 'kern.log'), 'w') as f: f.write('\n'.join(new) + '\n')
t = os.stat(os.path.join(d, 'kern.log')).st_mtime
os.utime(os.path.join(d, 'kern.log.1'), (t - 100, t - 100))
"#;

/// Swift's `get_errors` on the same files, as `[[name, count], ...]` in order.
const SWIFT_GET_ERRORS: &str = r#"
import json, re, sys, logging
from swift.cli.drive_audit import get_errors
pats = [re.compile(p) for p in json.loads(sys.argv[2])]
errs = get_errors(pats, sys.argv[1], int(sys.argv[3]), logging.getLogger(), 'utf-8')
print(json.dumps(list(errs.items())))
"#;

fn swift_counts(pattern: &str, regexes: &[&str], minutes: i64) -> Vec<(String, u64)> {
    let pats = serde_json::to_string(regexes).unwrap();
    let out = common::run_swift_python(SWIFT_GET_ERRORS, &[pattern, &pats, &minutes.to_string()]);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn our_counts(pattern: &str, regexes: &[&str], minutes: i64) -> Vec<(String, u64)> {
    let conf = DriveAuditConf {
        patterns: regexes.iter().map(|p| Regex::new(p).unwrap()).collect(),
        minutes,
        log_file_pattern: pattern.into(),
        ..DriveAuditConf::from_section(&vec![]).unwrap()
    };
    let host = FakeHost::default();
    count_errors(&conf, &host, local_now(), AuditOptions::default()).unwrap()
}

#[test]
fn log_scan_matches_swift_get_errors() {
    let dir = tempfile::tempdir().unwrap();
    common::run_swift_python(WRITE_LOGS, &[dir.path().to_str().unwrap()]);
    let pattern = format!("{}/kern.*[!.][!g][!z]", dir.path().display());
    for minutes in [60, 42, 15, 1] {
        let swift = swift_counts(&pattern, &SWIFT_PATTERNS, minutes);
        assert_eq!(
            our_counts(&pattern, &SWIFT_PATTERNS, minutes),
            swift,
            "minutes={minutes}"
        );
    }
    // Sanity: the window reaches into the rotated file and stops at the boot.
    let swift = swift_counts(&pattern, &SWIFT_PATTERNS, 60);
    assert!(swift.iter().any(|(n, _)| n == "sdc1"), "{swift:?}");
    assert!(!swift.iter().any(|(n, _)| n == "sdq"), "{swift:?}");
    // Our extra default patterns find NVMe, dm and virtio names too.
    let defaults = ferroswift::ops::drive_audit::DEFAULT_PATTERNS;
    let ours = our_counts(&pattern, &defaults, 60);
    for name in ["nvme0n1", "dm-3", "vdb1"] {
        assert!(
            ours.iter().any(|(n, _)| n == name),
            "{name} missing from {ours:?}"
        );
    }
}

fn write_conf(dir: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("drive-audit.conf");
    let text = format!(
        "[drive-audit]\ndevice_dir = /srv/node\nlog_to_console = true\nrecon_cache_path = {}\n\
         log_file_pattern = {}/kern.log*\nuser = {}\n\
         regex_pattern_1 = \\berror\\b.*\\b(loop\\d+|sd[a-z]\\d?)\\b\n{extra}",
        dir.display(),
        dir.display(),
        current_user()
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn recent_log(dir: &Path, device: &str) {
    let now = local_now();
    let line = format!(
        "{} {:2} {:02}:{:02}:{:02} h kernel: Buffer I/O error on dev {device}, block 1\n",
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            [now.month as usize - 1],
        now.day,
        now.hour,
        now.minute,
        now.second
    );
    std::fs::write(dir.join("kern.log"), line.repeat(2)).unwrap();
}

fn run_cli(args: &[&str], host: &mut FakeHost) -> (u8, String, String) {
    let mut argv: Vec<std::ffi::OsString> = vec!["swift-drive-audit".into()];
    argv.extend(args.iter().map(Into::into));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = ferroswift::cli::drive_audit::run(argv, host, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn exit_codes_dry_run_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "error_limit = 2\n");
    let c = conf.to_str().unwrap();
    recent_log(dir.path(), "loop0");
    let mut host = FakeHost::loop0("/srv/node/d1");
    let (code, out, _) = run_cli(&[c, "--dry-run"], &mut host);
    assert_eq!(code, 1);
    assert_eq!(out, "would unmount /srv/node/d1 (loop0): 2 errors\n");
    assert!(host.unmounted.is_empty());
    assert!(!dir.path().join("drive.recon").exists());

    let (code, out, _) = run_cli(&[c, "--json"], &mut host);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["failed"][0]["errors"], 2);
    assert_eq!(doc["failed"][0]["unmounted"], true);
    assert_eq!(host.unmounted, ["/srv/node/d1"]);
    let recon = std::fs::read_to_string(dir.path().join("drive.recon")).unwrap();
    assert_eq!(recon, "{\"/srv/node/d1\": 2, \"drive_audit_errors\": 2}\n");

    // Errors on a device that is not under device_dir do not count.
    recent_log(dir.path(), "sda1");
    let (code, _, err) = run_cli(&[c], &mut FakeHost::loop0("/srv/node/d1"));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("No drives were unmounted"));
}

#[test]
fn journal_fallback_and_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), "unmount_failed_device = false\n");
    let c = conf.to_str().unwrap();
    let mut host = FakeHost::loop0("/srv/node/d1");
    let now = local_now();
    host.journal = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000 h kernel: I/O error, dev loop0, sector 9\n",
        now.year, now.month, now.day, now.hour, now.minute, now.second
    );
    let (code, _, _) = run_cli(&[c], &mut host);
    assert_eq!(code, 0, "without --journal there is nothing to read");
    let (code, _, err) = run_cli(&[c, "--journal"], &mut host);
    assert_eq!(code, 1);
    assert!(
        err.contains("Detected /srv/node/d1 with 1 errors (Device not unmounted)"),
        "{err}"
    );
    assert!(host.unmounted.is_empty());

    let bad = write_conf(dir.path(), "regex_pattern_1 = (unclosed\n");
    let (code, _, err) = run_cli(&[bad.to_str().unwrap()], &mut host);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _, _) = run_cli(&["/nonexistent/drive-audit.conf"], &mut host);
    assert_eq!(code, 2);
}
