//! `swift-container-auditor` and `swift-account-auditor`: open every
//! database and read its info, as Swift's database auditor does. A file
//! SQLite calls malformed or not a database is quarantined to
//! `<dev>/quarantined/{containers,accounts}/<hash>`; an account whose
//! totals differ from the sum of its per-policy stats fails the audit.
//!
//! Settings come from `[container-auditor]` / `[account-auditor]`:
//! `interval` (1800), `containers_per_second` / `accounts_per_second`
//! (200). Recon (`container.recon` / `account.recon`):
//! `<type>_auditor_pass_completed` after each pass, and
//! `<type>_audits_passed`, `_failed`, `_since` every hour of auditing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map};

use super::conf::DaemonConf;
use super::runner::{self, DaemonArgs, RateLimiter};
use super::walk;
use super::DaemonError;
use crate::recon::cache;
use crate::storage::broker::{is_corruption, quarantine_db, Broker, DbKind};
use crate::storage::StorageError;

/// Seconds between progress reports (Swift's `logging_interval`).
const LOGGING_INTERVAL: f64 = 3600.0;

/// One database auditor's settings.
#[derive(Debug, Clone)]
pub struct DbAuditorConf {
    pub kind: DbKind,
    pub devices: PathBuf,
    pub mount_check: bool,
    pub interval: Duration,
    pub dbs_per_second: f64,
    pub recon_file: PathBuf,
}

fn type_name(kind: DbKind) -> &'static str {
    match kind {
        DbKind::Account => "account",
        DbKind::Container => "container",
    }
}

impl DbAuditorConf {
    pub fn from_conf(c: &DaemonConf, kind: DbKind) -> Result<Self, DaemonError> {
        // Swift's database daemons set the process-wide switch too.
        crate::storage::broker::set_db_preallocation(c.bool_or("db_preallocation", false));
        let t = type_name(kind);
        let file = match kind {
            DbKind::Account => cache::ACCOUNT_FILE,
            DbKind::Container => cache::CONTAINER_FILE,
        };
        Ok(DbAuditorConf {
            kind,
            devices: c.path_or("devices", "/srv/node"),
            mount_check: c.bool_or("mount_check", true),
            interval: c.secs_or("interval", 1800.0)?,
            dbs_per_second: c.parse_or(&format!("{t}s_per_second"), 200.0)?,
            recon_file: c.recon_cache_path().join(file),
        })
    }
}

/// What auditing one database found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Deleted databases are not audited.
    Deleted,
    Failed(String),
    /// Broken file, moved to this path.
    Quarantined(PathBuf),
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn check(path: &Path, kind: DbKind) -> Result<Verdict, StorageError> {
    let Some(b) = Broker::open(path, kind)? else {
        return Ok(Verdict::Failed("database vanished".into()));
    };
    if b.is_deleted()? {
        return Ok(Verdict::Deleted);
    }
    let info = b.info()?;
    if kind == DbKind::Account {
        let stats = b.policy_stats()?;
        let sums = [
            (
                "container_count",
                info.container_count,
                stats.iter().map(|s| s.container_count).sum::<i64>(),
            ),
            (
                "object_count",
                info.object_count,
                stats.iter().map(|s| s.object_count).sum(),
            ),
            (
                "bytes_used",
                info.bytes_used,
                stats.iter().map(|s| s.bytes_used).sum(),
            ),
        ];
        for (key, total, sum) in sums {
            if total != sum {
                return Ok(Verdict::Failed(format!(
                    "The total {key} for the account {} ({total}) does not match the sum of \
                     {key} across policies ({sum})",
                    info.account
                )));
            }
        }
    }
    Ok(Verdict::Passed)
}

/// Audits one database, quarantining it if SQLite says the file is broken.
pub fn audit(path: &Path, kind: DbKind) -> Verdict {
    match check(path, kind) {
        Ok(v) => v,
        Err(e) => match is_corruption(&e) {
            Some(reason) => match quarantine_db(path, kind) {
                Ok(to) => {
                    tracing::error!(
                        "Quarantined {} to {} due to {reason}",
                        path.parent().unwrap_or(path).display(),
                        to.display()
                    );
                    Verdict::Quarantined(to)
                }
                Err(q) => Verdict::Failed(format!("{e}; quarantine failed: {q}")),
            },
            None => Verdict::Failed(e.to_string()),
        },
    }
}

/// Every `*.db` at `<dev>/<datadir>/<part>/<sfx>/<hash>/`, device by device.
fn locations(conf: &DbAuditorConf, only: Option<&[String]>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dev in walk::covered(walk::sorted_entries(&conf.devices), only, conf.mount_check) {
        for part in walk::subdirs(&dev.join(conf.kind.datadir())) {
            for sfx in walk::subdirs(&part) {
                for hash in walk::subdirs(&sfx) {
                    out.extend(
                        walk::sorted_entries(&hash)
                            .into_iter()
                            .filter(|f| f.extension().is_some_and(|x| x == "db")),
                    );
                }
            }
        }
    }
    out
}

/// The auditor between passes: counts since the last recon report.
pub struct DbAuditor {
    pub conf: DbAuditorConf,
    pub passes: u64,
    pub failures: u64,
    reported: f64,
}

impl DbAuditor {
    pub fn new(conf: DbAuditorConf) -> Self {
        DbAuditor {
            conf,
            passes: 0,
            failures: 0,
            reported: now(),
        }
    }

    fn dump(&self, entries: Map<String, serde_json::Value>) {
        cache::dump_or_log(&self.conf.recon_file, &entries);
    }

    /// One pass over every database.
    pub fn run_pass(&mut self, args: &DaemonArgs) {
        let t = type_name(self.conf.kind);
        let mode = if args.once { " \"once\" mode" } else { " pass" };
        if args.once {
            tracing::info!("Begin {t} audit \"once\" mode");
            self.reported = now();
        } else {
            tracing::info!("Begin {t} audit pass.");
        }
        let begin = Instant::now();
        let mut limiter = RateLimiter::new(self.conf.dbs_per_second);
        for path in locations(&self.conf, args.devices.as_deref()) {
            match audit(&path, self.conf.kind) {
                Verdict::Passed => {
                    self.passes += 1;
                    tracing::debug!("Audit passed for {}", path.display());
                }
                Verdict::Deleted => {}
                Verdict::Failed(why) => {
                    self.failures += 1;
                    tracing::error!("Audit Failed for {}: {why}", path.display());
                }
                Verdict::Quarantined(_) => {
                    self.failures += 1;
                }
            }
            if now() - self.reported >= LOGGING_INTERVAL {
                tracing::info!(
                    "Since {}: {t} audits: {} passed audit, {} failed audit",
                    self.reported,
                    self.passes,
                    self.failures
                );
                let mut m = Map::new();
                m.insert(format!("{t}_audits_since"), json!(self.reported));
                m.insert(format!("{t}_audits_passed"), json!(self.passes));
                m.insert(format!("{t}_audits_failed"), json!(self.failures));
                self.dump(m);
                self.reported = now();
                self.passes = 0;
                self.failures = 0;
            }
            limiter.wait(1.0);
        }
        let elapsed = begin.elapsed().as_secs_f64();
        let title = format!("{}{}", t[..1].to_uppercase(), &t[1..]);
        tracing::info!("{title} audit{mode} completed: {elapsed:.2}s");
        let mut m = Map::new();
        m.insert(format!("{t}_auditor_pass_completed"), json!(elapsed));
        self.dump(m);
    }
}

fn run_kind(name: &str, section: &str, kind: DbKind, argv: &[String]) -> u8 {
    runner::main_with(name, section, argv, |args, c| {
        let conf = DbAuditorConf::from_conf(c, kind)?;
        let interval = conf.interval;
        let mut auditor = DbAuditor::new(conf);
        runner::run(args.once, interval, || {
            auditor.run_pass(args);
            Ok(())
        })
    })
}

/// `swift-container-auditor CONFIG [-o] [-v]` with explicit arguments.
pub fn run_container(argv: &[String]) -> u8 {
    run_kind(
        "swift-container-auditor",
        "container-auditor",
        DbKind::Container,
        argv,
    )
}

/// `swift-account-auditor CONFIG [-o] [-v]` with explicit arguments.
pub fn run_account(argv: &[String]) -> u8 {
    run_kind(
        "swift-account-auditor",
        "account-auditor",
        DbKind::Account,
        argv,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::broker::db_path;
    use crate::storage::Timestamp;

    #[test]
    fn good_passes_junk_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("sda1");
        let ts = Timestamp::parse("1.0").unwrap();
        let good = db_path(
            &dev,
            DbKind::Container,
            "1",
            "00000000000000000000000000000aaa",
        );
        Broker::create(&good, DbKind::Container, "a", Some("c"), ts, 0).unwrap();
        assert_eq!(audit(&good, DbKind::Container), Verdict::Passed);
        let bad = db_path(
            &dev,
            DbKind::Container,
            "1",
            "00000000000000000000000000000bbb",
        );
        std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
        std::fs::write(&bad, vec![b'x'; 4096]).unwrap();
        let v = audit(&bad, DbKind::Container);
        assert_eq!(
            v,
            Verdict::Quarantined(
                dev.join("quarantined/containers/00000000000000000000000000000bbb")
            )
        );
    }
}
