//! swift-recon against Swift's own swift-recon: both query the same
//! in-test recon servers (on 127.0.0.x, answering with the bodies captured
//! from a Swift 2.38.3 cluster in `ops-outputs/recon-endpoints/`), with rings
//! built by Swift, and their outputs are compared with times masked.

mod common;

use regex::Regex;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Adds `offset` to every number so that nodes differ (and never tie).
fn perturb(v: &mut Value, offset: i64) {
    match v {
        Value::Number(n) => {
            *v = if let Some(i) = n.as_i64() {
                Value::from(i + offset)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0) + offset as f64)
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| perturb(x, offset)),
        Value::Object(m) => m.values_mut().for_each(|x| perturb(x, offset)),
        _ => {}
    }
}

fn respond(mut s: TcpStream, source_port: u16, offset: i64, server: &str) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let dir = common::reference("ops-outputs/recon-endpoints");
    let name = path.trim_start_matches("/recon/").replace('/', "_");
    let file = dir.join(format!("{source_port}-{name}.json"));
    let (status, ctype, body) = if method == "OPTIONS" {
        ("200 OK", "text/plain", String::new())
    } else if path.starts_with("/recon/") && file.exists() {
        let mut v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        perturb(&mut v, offset);
        ("200 OK", "application/json", v.to_string())
    } else {
        (
            "404 Not Found",
            "text/plain",
            format!("Invalid path: {path}"),
        )
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nServer: {server}/2.38.3\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Starts a recon server on `ip` answering with one captured node's bodies.
fn serve(ip: &str, source_port: u16, offset: i64, server: &'static str) -> u16 {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || respond(s, source_port, offset, server));
        }
    });
    port
}

const MAKE_RINGS: &str = r#"
import sys
from swift.common.ring import RingBuilder
d = sys.argv[1]
hosts = [a.split(':') for a in sys.argv[2:]]
for name in ['object', 'object-1', 'container', 'account']:
    b = RingBuilder(4, 3, 1)
    for i, (ip, port) in enumerate(hosts):
        b.add_dev({'id': i, 'region': 1 + i // 3, 'zone': i + 1, 'ip': ip,
                   'port': int(port), 'device': 'sdb%d' % i, 'weight': 1.0})
    b.rebalance()
    b.get_ring().save('%s/%s.ring.gz' % (d, name))
"#;

/// A cluster of three answering nodes and one that refuses connections.
struct Cluster {
    _dir: tempfile::TempDir,
    swift_dir: PathBuf,
}

fn cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let nodes = [
        ("127.0.0.1", serve("127.0.0.1", 6210, 0, "object-server")),
        ("127.0.0.2", serve("127.0.0.2", 6211, 3, "object-server")),
        ("127.0.0.3", serve("127.0.0.3", 6212, 11, "account-server")),
        (
            "127.0.0.4",
            TcpListener::bind("127.0.0.4:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
        ),
    ];
    let mut args = vec![dir.path().to_str().unwrap().to_string()];
    args.extend(nodes.iter().map(|(ip, port)| format!("{ip}:{port}")));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    common::run_swift_python(MAKE_RINGS, &refs);
    std::fs::write(
        dir.path().join("swift.conf"),
        "[swift-hash]\nswift_hash_path_suffix = t\n[storage-policy:0]\nname = gold\n\
         default = yes\n[storage-policy:1]\nname = silver\naliases = argent\n",
    )
    .unwrap();
    let swift_dir = dir.path().to_path_buf();
    Cluster {
        _dir: dir,
        swift_dir,
    }
}

fn run(program: &Path, args: &[&str], swift_dir: &Path) -> (String, i32) {
    let out = Command::new(program)
        .args(args)
        .arg("--swiftdir")
        .arg(swift_dir)
        .arg("-t")
        .arg("2")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn swift_recon() -> PathBuf {
    common::swift_script("swift-recon")
}

/// Masks what depends on when the command ran.
fn mask(text: &str) -> String {
    let ts = Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").unwrap();
    let ago = Regex::new(r"\(\d+ (seconds|minutes|hours|days) ago\)").unwrap();
    let diff = Regex::new(r"differs by [0-9.]+ sec").unwrap();
    let t = ts.replace_all(text, "TS");
    let t = ago.replace_all(&t, "(AGO)");
    diff.replace_all(&t, "differs by X sec").into_owned()
}

/// Lines Swift prints in host order, which is a hash-set order there.
fn per_host(line: &str) -> bool {
    ["-> ", "!! ", "Not mounted:", "Device errors:", "Invalid:"]
        .iter()
        .any(|p| line.starts_with(p))
}

/// Compares two outputs section by section: per-host lines as multisets,
/// every other line exactly and in order.
fn assert_same(ours: &str, swift: &str, what: &str) {
    // Swift also visits several server types in set order: sort the blocks.
    let blocks = |t: &str| {
        let mut b: Vec<String> = t.split("--> Starting").map(str::to_string).collect();
        b.sort();
        b.join("--> Starting")
    };
    let (ours, swift) = (blocks(&mask(ours)), blocks(&mask(swift)));
    let sections = |t: &str| -> Vec<(Vec<String>, Vec<String>)> {
        t.split(&"=".repeat(79))
            .map(|s| {
                let (mut hosts, mut rest) = (vec![], vec![]);
                for l in s.lines().filter(|l| !l.is_empty()) {
                    if per_host(l) {
                        hosts.push(l.to_string())
                    } else {
                        rest.push(l.to_string())
                    }
                }
                hosts.sort();
                (hosts, rest)
            })
            .collect()
    };
    let (a, b) = (sections(&ours), sections(&swift));
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: section count\n--- ours\n{ours}\n--- swift\n{swift}"
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "{what}\n--- ours\n{ours}\n--- swift\n{swift}");
    }
}

fn compare(c: &Cluster, args: &[&str]) {
    let (swift, swift_rc) = run(&swift_recon(), args, &c.swift_dir);
    let (ours, rc) = run(&common::bin("swift-recon"), args, &c.swift_dir);
    assert_eq!(rc, swift_rc, "exit code of {args:?}");
    assert_same(&ours, &swift, &format!("{args:?}"));
}

#[test]
fn object_checks_match_swift() {
    let c = cluster();
    compare(
        &c,
        &[
            "object",
            "-a",
            "-r",
            "-u",
            "-l",
            "-d",
            "-q",
            "--driveaudit",
            "--sockstat",
        ],
    );
    compare(
        &c,
        &[
            "object",
            "--swift-versions",
            "--auditor",
            "--updater",
            "--expirer",
            "-R",
            "-T",
        ],
    );
    compare(&c, &["object", "--validate-servers", "--sharding", "-v"]);
    compare(
        &c,
        &[
            "-l",
            "-d",
            "--human-readable",
            "--top",
            "2",
            "--lowest",
            "3",
            "--suppress",
        ],
    );
    compare(
        &c,
        &["object", "-a", "-r", "-q", "-T", "-v", "-p", "silver"],
    );
}

#[test]
fn account_and_container_checks_match_swift() {
    let c = cluster();
    compare(
        &c,
        &[
            "container",
            "-a",
            "-r",
            "--auditor",
            "--updater",
            "--sharding",
            "--expirer",
            "-R",
        ],
    );
    compare(
        &c,
        &[
            "account",
            "--auditor",
            "--updater",
            "-u",
            "-q",
            "--driveaudit",
            "-v",
        ],
    );
    compare(&c, &["account", "container", "-l", "--region", "1"]);
    compare(&c, &["container", "-z", "2", "-l", "--sockstat"]);
}

#[test]
fn bad_arguments_match_swift() {
    let c = cluster();
    let (_, rc) = run(&common::bin("swift-recon"), &["bogus", "-l"], &c.swift_dir);
    assert_eq!(rc, 1);
    let (_, rc) = run(&common::bin("swift-recon"), &["--version"], &c.swift_dir);
    assert_eq!(rc, 2);
    let out = Command::new(common::bin("swift-recon")).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn json_document_and_extra_views() {
    let c = cluster();
    let (out, rc) = run(
        &common::bin("swift-recon"),
        &["-a", "-l", "-d", "--mem", "--json"],
        &c.swift_dir,
    );
    assert_eq!(rc, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let obj = &doc["object"];
    assert_eq!(obj["hosts"].as_array().unwrap().len(), 4);
    let asyncs = &obj["checks"]["async"];
    assert_eq!(asyncs["stats"]["async_pending"]["reported"], 3);
    assert!(asyncs["hosts"]
        .as_object()
        .unwrap()
        .values()
        .any(|v| v.get("error").is_some()));
    assert!(
        obj["checks"]["diskusage"]["usage"]["used"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert!(obj["checks"]["mem"]["hosts"]
        .as_object()
        .unwrap()
        .values()
        .any(|v| v.get("MemTotal").is_some()));
}

#[test]
fn md5_check_reports_mismatches() {
    let c = cluster();
    let (out, rc) = run(
        &common::bin("swift-recon"),
        &["--md5", "--suppress"],
        &c.swift_dir,
    );
    assert_eq!(rc, 0);
    // The captured sums are for another cluster's rings: nobody matches.
    assert!(
        out.contains("0/4 hosts matched, 4 error[s] while checking hosts."),
        "{out}"
    );
    assert!(out.contains("!! http://127.0.0.1:"), "{out}");
}
