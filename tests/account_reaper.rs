//! Account deletion end to end on the all-in-one cluster: the reseller
//! admin DELETEs an account through the proxy (tempauth), the account
//! servers mark it deleted, and one pass of `swift-account-reaper` on every
//! node removes its objects, container rows and containers; a second pass
//! does nothing, an account not marked deleted keeps everything, and the
//! account replicator then reclaims the emptied account databases.
//!
//! The same is done with Swift's own reaper (`AccountReaper.run_once` from
//! the Swift virtualenv) on a second account, against our servers, to show
//! they answer what Swift's reaper expects.

mod aio_util;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use aio_util::{bin, files_under, http, run_swift_python, salt, succeed, Aio};
use ferroswift::servers::http::quote;
use ferroswift::storage::broker::{Broker, DbKind, ListParams};

const CONTAINERS: &[&str] = &["alpha", "beta", "gamma δ", "delta", "eps&ilon%"];
const OBJECTS: &[&str] = &["one", "two/slash", "three x", "ünï"];

/// Keeps only the servers' own sections (the test runs each daemon itself,
/// so no updater or replicator mends what a pass leaves). Object servers
/// wait longer for their container updates: on a loaded machine one
/// arriving after the object DELETE's answer makes the container DELETE
/// that follows a 409, which only replication would mend.
fn strip_daemons(aio: &Aio) {
    for kind in ["object", "container", "account"] {
        for node in 1..=4 {
            let p = aio.dir.join(format!("etc/{kind}-server/{node}.conf"));
            let text = std::fs::read_to_string(&p).unwrap();
            let end = text.find("[filter:recon]").unwrap();
            let end = end + text[end..].find("\n\n").unwrap_or(text.len() - end);
            let app = "[app:object-server]\nuse = egg:swift#object\n";
            let text = text[..end].replace(app, &format!("{app}container_update_timeout = 20\n"));
            std::fs::write(&p, format!("{text}\n")).unwrap();
        }
    }
}

/// A node's account server config plus one daemon section.
fn daemon_conf(aio: &Aio, node: u16, section: &str) -> PathBuf {
    let base =
        std::fs::read_to_string(aio.dir.join(format!("etc/account-server/{node}.conf"))).unwrap();
    let name = section.lines().next().unwrap().trim_matches(['[', ']']);
    let p = aio.dir.join(format!("etc/{node}-{name}.conf"));
    std::fs::write(&p, format!("{base}\n{section}\n")).unwrap();
    p
}

fn token(aio: &Aio, user: &str, key: &str) -> (String, String) {
    aio.auth_token(user, key)
}

/// Containers and objects in the account of `user`; returns its URL.
fn populate(aio: &Aio, user: &str, key: &str) -> String {
    let (url, tok) = token(aio, user, key);
    populate_at(&url, &tok);
    url
}

/// Containers and objects at an account URL.
fn populate_at(url: &str, tok: &str) {
    let h = [("x-auth-token", tok)];
    for c in CONTAINERS {
        let (st, ..) = http("PUT", &format!("{url}/{}", quote(c)), &h, b"");
        assert_eq!(st, 201, "PUT {c}");
        for o in OBJECTS {
            let (st, ..) = http(
                "PUT",
                &format!("{url}/{}/{}", quote(c), quote(o)),
                &h,
                b"data",
            );
            assert_eq!(st, 201, "PUT {c}/{o}");
        }
    }
}

/// Every file under a node's data directories whose name ends in `ext`.
fn files(aio: &Aio, datadir: &str, ext: &str) -> Vec<PathBuf> {
    (1..=4)
        .flat_map(|n| files_under(&aio.dir.join(format!("srv/{n}/sd{n}/{datadir}"))))
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect()
}

/// Open databases of one account (its account DBs or its container DBs).
fn dbs(aio: &Aio, kind: DbKind, account: &str) -> Vec<Broker> {
    files(aio, kind.datadir(), ".db")
        .iter()
        .filter_map(|p| Broker::open(p, kind).unwrap())
        .filter(|b| b.info().unwrap().account == account)
        .collect()
}

/// File names in each object hash directory of `account`'s objects.
fn object_dirs(aio: &Aio, account: &str) -> Vec<Vec<String>> {
    let salt = salt(aio);
    let hashes: BTreeSet<String> = CONTAINERS
        .iter()
        .flat_map(|c| OBJECTS.iter().map(move |o| (c, o)))
        .map(|(c, o)| salt.hash_path_hex(account, Some(c), Some(o)).unwrap())
        .collect();
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for f in files(aio, "objects", "") {
        let dir = f.parent().unwrap();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if hashes.contains(&name) {
            dirs.insert(dir.to_path_buf());
        }
    }
    dirs.iter()
        .map(|d| {
            std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .collect()
}

/// Replicas of every ring of the all-in-one cluster.
const REPLICAS: usize = 3;

/// The account holds everything it was given.
fn assert_intact(aio: &Aio, account: &str) {
    let dirs = object_dirs(aio, account);
    assert_eq!(dirs.len(), CONTAINERS.len() * OBJECTS.len() * REPLICAS);
    for d in &dirs {
        assert!(d.iter().any(|f| f.ends_with(".data")), "{account}: {d:?}");
    }
    let cdbs = dbs(aio, DbKind::Container, account);
    assert_eq!(cdbs.len(), CONTAINERS.len() * REPLICAS);
    for b in &cdbs {
        assert!(!b.is_deleted().unwrap());
        let rows = b
            .list(&ListParams {
                limit: 100,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(rows.len(), OBJECTS.len());
    }
    let adbs = dbs(aio, DbKind::Account, account);
    assert_eq!(adbs.len(), REPLICAS);
    for b in &adbs {
        assert!(!b.is_status_deleted().unwrap());
        assert_eq!(b.info().unwrap().container_count, CONTAINERS.len() as i64);
    }
}

/// Every object replica is a tombstone, every container replica deleted
/// and empty, every account replica marked deleted with no containers.
fn assert_reaped(aio: &Aio, account: &str) {
    if let Some(problem) = not_reaped(aio, account) {
        panic!("{account}: {problem}");
    }
}

/// What is left of an account that should be reaped, if anything.
fn not_reaped(aio: &Aio, account: &str) -> Option<String> {
    let all = ListParams {
        limit: 100,
        ..Default::default()
    };
    let dirs = object_dirs(aio, account);
    if dirs.len() != CONTAINERS.len() * OBJECTS.len() * REPLICAS {
        return Some(format!("{} object replicas", dirs.len()));
    }
    if let Some(d) = dirs
        .iter()
        .find(|d| d.iter().any(|f| f.ends_with(".data")) || !d.iter().any(|f| f.ends_with(".ts")))
    {
        return Some(format!("object left {d:?}"));
    }
    let cdbs = dbs(aio, DbKind::Container, account);
    if cdbs.len() != CONTAINERS.len() * REPLICAS {
        return Some(format!("{} container replicas", cdbs.len()));
    }
    for b in &cdbs {
        let rows = b.list(&all).unwrap();
        if !b.is_deleted().unwrap() || !rows.is_empty() {
            return Some(format!("{} holds {rows:?}", b.path.display()));
        }
    }
    let adbs = dbs(aio, DbKind::Account, account);
    if adbs.len() != REPLICAS {
        return Some(format!("{} account replicas", adbs.len()));
    }
    for b in &adbs {
        let rows = b.list(&all).unwrap();
        let count = b.info().unwrap().container_count;
        if !b.is_status_deleted().unwrap() || count != 0 || !rows.is_empty() {
            return Some(format!("{} lists {count}: {rows:?}", b.path.display()));
        }
    }
    None
}

/// Runs `bin` once on every node; returns their logs.
fn run_daemon(aio: &Aio, bin_name: &str, section: &str) -> String {
    let mut logs = String::new();
    for node in 1..=4 {
        let conf = daemon_conf(aio, node, section);
        let out = succeed(Command::new(bin(bin_name)).arg(&conf).arg("--once"));
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    logs
}

/// Sum of `, N <what>` over the log lines that end an account pass.
fn logged(logs: &str, account: &str, what: &str) -> u64 {
    logs.lines()
        .filter(|l| l.contains(&format!("Completed pass on account {account}")))
        .flat_map(|l| l.split(", "))
        .filter_map(|part| part.strip_suffix(what))
        .filter_map(|n| n.trim().rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Every file under `srv/` with its size and modification time.
fn snapshot(aio: &Aio) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out: Vec<_> = files(aio, "", "")
        .into_iter()
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            Some((p, m.len(), m.modified().ok()?))
        })
        .collect();
    out.sort();
    out
}

/// Deletes an account as the reseller admin, checking who may and how.
fn delete_account(aio: &Aio, url: &str, owner: (&str, &str)) {
    let (_, owner_tok) = token(aio, owner.0, owner.1);
    let (st, ..) = http("DELETE", url, &[("x-auth-token", owner_tok.as_str())], b"");
    assert_eq!(st, 403, "only a reseller admin deletes an account");
    let (_, admin) = token(aio, "admin:admin", "admin");
    let h = [("x-auth-token", admin.as_str())];
    let (st, ..) = http("DELETE", &format!("{url}?bulk-delete"), &h, b"");
    assert_eq!(st, 400, "a query string on an account DELETE");
    let (st, ..) = http("DELETE", url, &h, b"");
    assert_eq!(st, 204);
    let (st, ..) = http("HEAD", url, &h, b"");
    assert_eq!(st, 410, "a deleted account is gone");
    for b in dbs(aio, DbKind::Account, url.rsplit('/').next().unwrap()) {
        assert!(b.is_status_deleted().unwrap());
    }
}

/// Swift's reaper, one pass per node, against our servers.
const SWIFT_REAPER: &str = r#"
import sys
from swift.common import utils
utils.HASH_PATH_PREFIX = sys.argv[2].encode()
utils.HASH_PATH_SUFFIX = sys.argv[3].encode()
from swift.account.reaper import AccountReaper
for node, port in zip(sys.argv[5::2], sys.argv[6::2]):
    conf = {'devices': sys.argv[4] + '/' + node, 'mount_check': 'false',
            'swift_dir': sys.argv[1], 'bind_ip': '127.0.0.1',
            'bind_port': port, 'delay_reaping': '0', 'log_name': 'reaper'}
    AccountReaper(conf).run_once()
"#;

#[test]
fn deleted_account_is_reaped_by_ours_and_by_swifts() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::setup(tmp.path());
    strip_daemons(&aio);
    let aio = aio.start();
    let ours = populate(&aio, "test:tester", "testing");
    let theirs = populate(&aio, "test2:tester2", "testing2");
    let kept = populate(&aio, "admin:admin", "admin");
    let (ours_a, theirs_a, kept_a) = (
        ours.rsplit('/').next().unwrap().to_string(),
        theirs.rsplit('/').next().unwrap().to_string(),
        kept.rsplit('/').next().unwrap().to_string(),
    );
    assert_intact(&aio, &ours_a);

    // Ours, on an account marked deleted.
    delete_account(&aio, &ours, ("test:tester", "testing"));
    let logs = run_daemon(
        &aio,
        "swift-account-reaper",
        "[account-reaper]\ndelay_reaping = 0",
    );
    assert_reaped(&aio, &ours_a);
    assert_intact(&aio, &theirs_a);
    assert_intact(&aio, &kept_a);
    assert_eq!(
        logged(&logs, &ours_a, "containers deleted"),
        CONTAINERS.len() as u64,
        "{logs}"
    );
    assert_eq!(
        logged(&logs, &ours_a, "objects deleted"),
        (CONTAINERS.len() * OBJECTS.len()) as u64,
        "{logs}"
    );
    assert!(!logs.contains("remaining"), "{logs}");

    // A second pass has nothing to do.
    let before = snapshot(&aio);
    let logs = run_daemon(
        &aio,
        "swift-account-reaper",
        "[account-reaper]\ndelay_reaping = 0",
    );
    assert!(!logs.contains("Beginning pass on account"), "{logs}");
    assert_eq!(before, snapshot(&aio), "a second pass changed files");

    // Swift's reaper against our servers does the same to another account.
    delete_account(&aio, &theirs, ("test2:tester2", "testing2"));
    let s = salt(&aio);
    let etc = aio.dir.join("etc").to_string_lossy().into_owned();
    let srv = aio.dir.join("srv").to_string_lossy().into_owned();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut args = vec![etc, text(&s.prefix), text(&s.suffix), srv];
    for node in 1..=4u16 {
        args.push(format!("{node}"));
        args.push((aio.base_port + 10 * node + 2).to_string());
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    run_swift_python(SWIFT_REAPER, &argv);
    assert_reaped(&aio, &theirs_a);
    assert_intact(&aio, &kept_a);

    // Daemon mode: running reapers find an account deleted meanwhile.
    let (_, admin_tok) = token(&aio, "admin:admin", "admin");
    let daemon = kept.replace(&kept_a, "AUTH_daemon");
    populate_at(&daemon, &admin_tok);
    let mut running: Vec<_> = (1..=4)
        .map(|node| {
            let conf = daemon_conf(
                &aio,
                node,
                "[account-reaper]\ndelay_reaping = 0\ninterval = 1",
            );
            Command::new(bin("swift-account-reaper"))
                .arg(conf)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    delete_account(&aio, &daemon, ("test:tester", "testing"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut left = not_reaped(&aio, "AUTH_daemon");
    while left.is_some() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(250));
        left = not_reaped(&aio, "AUTH_daemon");
    }
    for c in &mut running {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert_eq!(left, None, "the running reapers did not reap AUTH_daemon");
    assert_intact(&aio, &kept_a);

    // The account replicator reclaims the emptied accounts, not the other.
    run_daemon(
        &aio,
        "swift-account-replicator",
        "[account-replicator]\nreclaim_age = 0",
    );
    assert!(dbs(&aio, DbKind::Account, &ours_a).is_empty());
    assert!(dbs(&aio, DbKind::Account, &theirs_a).is_empty());
    assert!(dbs(&aio, DbKind::Account, "AUTH_daemon").is_empty());
    assert_intact(&aio, &kept_a);
}

/// Which primary reaps which container is decided as Swift's reaper does,
/// so a cluster mixing our reapers and Swift's still covers every one.
#[test]
fn container_shares_match_swifts() {
    let names: Vec<String> = (0..40)
        .map(|i| format!("c{i}"))
        .chain(CONTAINERS.iter().map(|c| c.to_string()))
        .collect();
    let script = "import sys\nfrom swift.common.utils import md5\n\
                  n = int(sys.argv[1])\n\
                  for c in sys.argv[2:]:\n    \
                  print(int(md5(c.encode('utf-8'), usedforsecurity=False).hexdigest(), 16) % n)";
    for replicas in [2usize, 3, 5] {
        let mut args = vec![replicas.to_string()];
        args.extend(names.iter().cloned());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_swift_python(script, &argv);
        let swift: Vec<usize> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        assert_eq!(swift.len(), names.len());
        for (name, shard) in names.iter().zip(swift) {
            for s in 0..replicas {
                assert_eq!(
                    ferroswift::daemons::account_reaper::in_shard(name, replicas, Some(s)),
                    s == shard,
                    "{name} with {replicas} replicas"
                );
            }
        }
    }
}
