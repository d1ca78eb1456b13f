//! Recon endpoints of our object server against Swift's own recon
//! middleware (run by the Swift oracle over the same devices, rings and
//! cache files), and Swift's `swift-recon` CLI against our servers.

mod common;
#[path = "server_util/mod.rs"]
mod server_util;

use serde_json::{json, Value};
use server_util::{free_port, Running, Site};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Every path Swift's middleware answers, plus some it refuses.
const PATHS: &[&str] = &[
    "/recon/mem",
    "/recon/load",
    "/recon/async",
    "/recon/replication",
    "/recon/replication/account",
    "/recon/replication/container",
    "/recon/replication/object",
    "/recon/devices",
    "/recon/updater/container",
    "/recon/updater/object",
    "/recon/auditor/account",
    "/recon/auditor/container",
    "/recon/auditor/object",
    "/recon/expirer/object",
    "/recon/mounted",
    "/recon/unmounted",
    "/recon/diskusage",
    "/recon/ringmd5",
    "/recon/swiftconfmd5",
    "/recon/quarantined",
    "/recon/sockstat",
    "/recon/version",
    "/recon/driveaudit",
    "/recon/time",
    "/recon/sharding",
    "/recon/relinker",
    "/recon/reconstruction/object",
    "/recon/bogus",
    "/recon/replication/bogus",
    "/recon/updater/account",
    "/recon/expirer/container",
    "/recon/",
];

/// Values that move on their own: compared by shape only.
const LIVE: &[&str] = &[
    "/recon/mem",
    "/recon/load",
    "/recon/sockstat",
    "/recon/time",
];

const SWIFT_MIDDLEWARE: &str = r#"
import sys, json
from swift.common import utils
swift_dir, devices, cache = sys.argv[1:4]
utils.set_swift_dir(swift_dir)
from swift.common import storage_policy
storage_policy.reload_storage_policies()
from swift.common.middleware import recon
from swift.common.swob import Request
recon.SWIFT_CONF_FILE = utils.SWIFT_CONF_FILE
mw = recon.ReconMiddleware(None, {'devices': devices, 'swift_dir': swift_dir,
                                  'recon_cache_path': cache})
out = {}
for p in sys.argv[4:]:
    r = Request.blank(p).get_response(mw)
    out[p] = [r.status_int, r.headers['Content-Type'].split(';')[0], r.body.decode()]
print(json.dumps(out))
"#;

const MAKE_RINGS: &str = r#"
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
ports = [int(p) for p in sys.argv[2:]]
for name in ['object', 'object-1', 'container', 'account']:
    b = RingBuilder(4, 2, 1)
    for i, port in enumerate(ports):
        for j, dev in enumerate(['sda1', 'sdb1']):
            b.add_dev({'id': 2 * i + j, 'region': 1, 'zone': i + 1, 'ip': '127.0.0.1',
                       'port': port, 'device': dev, 'weight': 1.0})
    b.rebalance()
    b.get_ring().save('%s/%s.ring.gz' % (d, name))
"#;

/// A site with two devices, quarantined items, async pendings and recon
/// cache files holding what a Swift cluster's daemons wrote.
struct Fixture {
    site: Site,
}

impl Fixture {
    fn new() -> Fixture {
        let site = Site::new();
        let dev = site.devices();
        std::fs::create_dir_all(dev.join("sdb1")).unwrap();
        std::fs::write(dev.join("not-a-device"), "x").unwrap();
        for (d, q, n) in [
            ("sda1", "objects", 2),
            ("sdb1", "objects-1", 1),
            ("sda1", "containers", 3),
        ] {
            for i in 0..n {
                std::fs::create_dir_all(
                    dev.join(d)
                        .join("quarantined")
                        .join(q)
                        .join(format!("h{i}")),
                )
                .unwrap();
            }
        }
        for (d, adir, n) in [("sda1", "async_pending", 3), ("sdb1", "async_pending-1", 2)] {
            let sfx = dev.join(d).join(adir).join("abc");
            std::fs::create_dir_all(&sfx).unwrap();
            for i in 0..n {
                std::fs::write(sfx.join(format!("{i:032x}-1700000000.0000{i}")), "p").unwrap();
            }
        }
        let cache = site.root().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let captured = |name: &str| -> serde_json::Map<String, Value> {
            let p =
                common::reference("ops-outputs/recon-endpoints").join(format!("6210-{name}.json"));
            match serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() {
                Value::Object(m) => m,
                _ => panic!("{name}: not an object"),
            }
        };
        let files: [(&str, &[&str]); 4] = [
            (
                "object.recon",
                &[
                    "replication_object",
                    "updater_object",
                    "auditor_object",
                    "expirer_object",
                    "reconstruction_object",
                ],
            ),
            (
                "container.recon",
                &[
                    "replication_container",
                    "updater_container",
                    "auditor_container",
                    "sharding",
                ],
            ),
            ("account.recon", &["replication_account", "auditor_account"]),
            ("drive.recon", &["driveaudit"]),
        ];
        for (file, parts) in files {
            let mut all = serde_json::Map::new();
            for p in parts {
                all.extend(captured(p));
            }
            ferroswift::recon::cache::dump(&cache.join(file), &all, Duration::from_secs(2), None)
                .unwrap();
        }
        Fixture { site }
    }

    fn cache(&self) -> PathBuf {
        self.site.root().join("cache")
    }

    /// The object server config, with the recon filter's own settings.
    fn conf(&self, port: u16) -> PathBuf {
        let conf = self.site.etc().join(format!("object-server-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\ndevices = {}\n\
                 mount_check = false\nworkers = 1\nswift_dir = {}\nlog_level = WARNING\n\n\
                 [pipeline:main]\npipeline = healthcheck recon object-server\n\n\
                 [app:object-server]\nuse = egg:swift#object\n\n\
                 [filter:healthcheck]\nuse = egg:swift#healthcheck\n\n\
                 [filter:recon]\nuse = egg:swift#recon\nrecon_cache_path = {}\nrecon_lock_path = {}\n",
                self.site.devices().display(),
                self.site.etc().display(),
                self.cache().display(),
                self.site.root().display(),
            ),
        )
        .unwrap();
        conf
    }

    fn spawn(&self) -> Running {
        let port = free_port();
        server_util::start(
            env!("CARGO_BIN_EXE_swift-object-server"),
            &self.conf(port),
            port,
        )
    }

    fn rings(&self, ports: &[u16]) {
        let mut args = vec![self.site.etc().display().to_string()];
        args.extend(ports.iter().map(u16::to_string));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_swift_python(MAKE_RINGS, &refs);
    }
}

/// A GET over plain HTTP/1.0: status, content type, body.
fn get(port: u16, path: &str) -> (u16, String, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new(), String::new());
    };
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let ctype = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ctype, body.to_string())
}

fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
        other => other.clone(),
    }
}

fn run_recon_cron(bin: &Path, conf: &Path) -> String {
    let out = Command::new(bin).arg(conf).output().unwrap();
    assert!(out.status.success(), "{}: {:?}", bin.display(), out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn recon_cron_counts_async_pendings_as_swift() {
    let f = Fixture::new();
    let conf = f.conf(1);
    run_recon_cron(&common::bin("swift-recon-cron"), &conf);
    let ours = ferroswift::recon::cache::load(&f.cache().join("object.recon")).unwrap();
    assert_eq!(ours["async_pending"], json!(5));
    let swift_cron = common::swift_script("swift-recon-cron");
    run_recon_cron(&swift_cron, &conf);
    let swift = ferroswift::recon::cache::load(&f.cache().join("object.recon")).unwrap();
    assert_eq!(swift["async_pending"], json!(5));
    assert!(swift["async_pending_last"].as_f64() >= ours["async_pending_last"].as_f64());
    let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ours), keys(&swift));
    // Usage and bad config: Swift's usage text and exit 1; no section: exit 2.
    let out = Command::new(common::bin("swift-recon-cron"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Usage: swift-recon-cron CONF_FILE"));
    let bad = f.site.root().join("bad.conf");
    std::fs::write(&bad, "[DEFAULT]\n").unwrap();
    let out = Command::new(common::bin("swift-recon-cron"))
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn endpoints_answer_as_swift_middleware() {
    let f = Fixture::new();
    run_recon_cron(&common::bin("swift-recon-cron"), &f.conf(1));
    let node = f.spawn();
    f.rings(&[node.port]);
    let mut args = vec![
        f.site.etc().display().to_string(),
        f.site.devices().display().to_string(),
        f.cache().display().to_string(),
    ];
    args.extend(PATHS.iter().map(|p| p.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::run_swift_python(SWIFT_MIDDLEWARE, &refs);
    let swift: Value = serde_json::from_slice(&out.stdout).unwrap();
    for path in PATHS {
        let (status, ctype, body) = get(node.port, path);
        let want = &swift[path];
        assert_eq!(
            (status as u64, ctype.as_str()),
            (want[0].as_u64().unwrap(), want[1].as_str().unwrap()),
            "{path}: {body}"
        );
        let want_body = want[2].as_str().unwrap();
        if LIVE.contains(path) {
            let (a, b): (Value, Value) = (
                serde_json::from_str(&body).unwrap(),
                serde_json::from_str(want_body).unwrap(),
            );
            assert_eq!(shape(&a), shape(&b), "{path}: {body} vs {want_body}");
        } else {
            assert_eq!(body, want_body, "{path}");
        }
    }
    let (_, _, q) = get(node.port, "/recon/quarantined");
    assert_eq!(
        serde_json::from_str::<Value>(&q).unwrap(),
        json!({"objects": 3, "containers": 3, "accounts": 0,
               "policies": {"0": {"objects": 2}, "1": {"objects": 1}}})
    );
    let (_, _, a) = get(node.port, "/recon/async");
    assert_eq!(
        serde_json::from_str::<Value>(&a).unwrap()["async_pending"],
        json!(5)
    );
    // Everything else still reaches the object server.
    assert_eq!(get(node.port, "/sda1/0/a/c/o").0, 404);
}

/// Swift's `swift-recon` takes the local swift.conf for `--md5` from
/// `/etc/swift` whatever `--swiftdir` says; this runs it with the test's.
const SWIFT_RECON: &str = r#"
import sys
from swift.cli import recon
recon.SWIFT_CONF_FILE = sys.argv.pop(1)
sys.argv[0] = 'swift-recon'
sys.exit(recon.main())
"#;

fn swift_recon_run(program: &Path, swift_dir: &Path, args: &[&str]) -> (String, String, i32) {
    let mut cmd = Command::new(program);
    if program == common::swift_python() {
        cmd.arg("-c")
            .arg(SWIFT_RECON)
            .arg(swift_dir.join("swift.conf"));
    }
    let out = cmd
        .args(args)
        .arg("--swiftdir")
        .arg(swift_dir)
        .arg("-t")
        .arg("5")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn swift_recon_cli_reads_our_servers() {
    let f = Fixture::new();
    run_recon_cron(&common::bin("swift-recon-cron"), &f.conf(1));
    let nodes = [f.spawn(), f.spawn()];
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    f.rings(&ports);
    let swift = common::swift_python();
    let etc = f.site.etc();
    for ty in ["object", "container", "account"] {
        let (out, err, rc) = swift_recon_run(&swift, &etc, &[ty, "--all", "-v"]);
        assert_eq!(rc, 0, "{ty}: {err}\n{out}");
        let failed = [
            "Traceback",
            "URLError",
            "HTTP Error",
            "timed out",
            "Invalid path",
        ]
        .iter()
        .any(|e| err.contains(e) || out.lines().any(|l| l.contains(e)));
        assert!(!failed, "{ty}: {err}\n{out}");
        // `--validate-servers` (`OPTIONS /`): both nodes are object servers.
        let validated = if ty == "object" {
            "2/2 hosts ok, 0 error[s] while checking hosts.".to_string()
        } else {
            "0/2 hosts ok, 2 error[s] while checking hosts.".to_string()
        };
        assert!(out.contains(&validated), "{ty}: {out}");
        let (ours, _, rc) = swift_recon_run(
            &common::bin("swift-recon"),
            &etc,
            &[ty, "--validate-servers"],
        );
        assert_eq!(rc, 0, "{ours}");
        assert!(ours.contains(&validated), "{ty}: {ours}");
        if ty != "object" {
            assert!(ours.contains("is object-server"), "{ours}");
            assert!(out.contains("is object-server"), "{out}");
        }
        assert!(
            out.contains("Versions matched (2.38.3), 0 error[s] while checking hosts."),
            "{out}"
        );
        assert!(
            out.contains("2/2 hosts matched, 0 error[s] while checking hosts."),
            "{out}"
        );
        assert!(
            out.contains("[drive_audit_errors] low: 3, high: 3, avg: 3.0, total: 6"),
            "{out}"
        );
        assert!(
            out.contains("[quarantined_objects] low: 3, high: 3"),
            "{out}"
        );
        assert!(out.contains("Not mounted: sda1 on 127.0.0.1:"), "{out}");
    }
    let (out, _, _) = swift_recon_run(&swift, &etc, &["object", "-a"]);
    assert!(
        out.contains("[async_pending] low: 5, high: 5, avg: 5.0, total: 10"),
        "{out}"
    );
    let (out, _, _) = swift_recon_run(&swift, &etc, &["container", "--auditor"]);
    assert!(
        out.contains("[container_auditor_pass_completed] low: 2, high: 2"),
        "{out}"
    );
    // Ours reads the same values.
    let (out, err, rc) = swift_recon_run(
        &common::bin("swift-recon"),
        &etc,
        &["-a", "-q", "--md5", "--mem", "--devices", "--json"],
    );
    assert_eq!(rc, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let o = &doc["object"]["checks"];
    assert_eq!(
        o["async"]["stats"]["async_pending"]["total"].as_f64(),
        Some(10.0),
        "{o}"
    );
    assert_eq!(
        o["async"]["stats"]["async_pending"]["reported"],
        json!(2),
        "{o}"
    );
    assert!(doc.to_string().contains("MemTotal"), "{doc}");
}
