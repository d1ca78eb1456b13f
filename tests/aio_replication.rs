//! Self-healing workflows on the all-in-one cluster (issue 7):
//! 1. corruption: one replica's `.data` is overwritten on disk; the auditor
//!    quarantines it, the replicators restore a good copy, and no GET ever
//!    returns the corrupt bytes;
//! 2. lost node: an object server is stopped, objects written meanwhile land
//!    on handoffs; once it is back the replicators move every object to its
//!    primaries, remove the handoff copies, and dispersion reaches 100%.

mod aio_util;
mod repl_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aio_util::{bin, signal, Aio};
use ferroswift::ring::Ring;
use repl_util::http_full;

/// Sets the cluster up with the replicator daemons nearly idle (one pass at
/// start), so the test decides when replication runs.
fn quiet_cluster(dir: &Path) -> Aio {
    let aio = Aio::setup(dir);
    for node in 1..=4 {
        let conf = dir.join(format!("etc/object-server/{node}.conf"));
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains("[object-replicator]"), "{text}");
        let text = text.replace("interval = 30", "interval = 3600")
            + "\n[object-auditor]\nfiles_per_second = 1000\nbytes_per_second = 100000000\n";
        std::fs::write(&conf, text).unwrap();
    }
    aio.start()
}

fn conf(aio: &Aio, node: u16) -> PathBuf {
    aio.dir.join(format!("etc/object-server/{node}.conf"))
}

fn run_daemon(name: &str, aio: &Aio, node: u16) {
    aio_util::run_once(bin(name), &conf(aio, node), &[]);
}

fn replicate_all(aio: &Aio) {
    for node in 1..=4 {
        run_daemon("swift-object-replicator", aio, node);
    }
}

fn proxy(aio: &Aio, tok: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (st, _, b) = http_full(aio.port, method, path, &[("X-Auth-Token", tok)], body);
    (st, b)
}

fn ring(aio: &Aio) -> Ring {
    let data = ferroswift::conf::ring_file::load_ring(aio.dir.join("etc/object.ring.gz")).unwrap();
    Ring::new(data).unwrap()
}

fn obj_hash(aio: &Aio, name: &str) -> String {
    let swift = ferroswift::conf::server_conf::load_swift_conf(&aio.dir.join("etc")).unwrap();
    swift
        .salt
        .hash_path_hex("AUTH_test", Some("c"), Some(name))
        .unwrap()
}

/// Nodes (1-based) holding a `.data` of the object, with the file.
fn data_copies(aio: &Aio, part: u32, hash: &str) -> Vec<(u16, PathBuf)> {
    let mut out = Vec::new();
    for node in 1..=4u16 {
        let dir = aio.dir.join(format!(
            "srv/{node}/sd{node}/objects/{part}/{}/{hash}",
            &hash[29..]
        ));
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().ends_with(".data") {
                out.push((node, e.path()));
            }
        }
    }
    out
}

fn part_and_primaries(aio: &Aio, name: &str) -> (u32, Vec<u16>) {
    let r = ring(aio);
    let hash = obj_hash(aio, name);
    let mut digest = [0u8; 16];
    for (i, b) in digest.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap();
    }
    let part = r.part_for_digest(&digest);
    let prim = r
        .get_part_nodes(part)
        .iter()
        .map(|n| n.device.id as u16 + 1)
        .collect();
    (part, prim)
}

#[test]
fn corrupt_replica_is_quarantined_and_restored() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = quiet_cluster(&tmp.path().join("aio"));
    let (acct, tok) = aio.login_path("test:tester", "testing");
    assert_eq!(proxy(&aio, &tok, "PUT", &format!("{acct}/c"), b"").0, 201);
    let good: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let url = format!("{acct}/c/precious");
    assert_eq!(proxy(&aio, &tok, "PUT", &url, &good).0, 201);
    let (part, prim) = part_and_primaries(&aio, "precious");
    let hash = obj_hash(&aio, "precious");
    let copies = data_copies(&aio, part, &hash);
    assert_eq!(copies.iter().map(|c| c.0).collect::<Vec<_>>(), {
        let mut p = prim.clone();
        p.sort();
        p
    });

    // Same length, other bytes: only an MD5 check can tell.
    let (victim, path) = copies[0].clone();
    let corrupt: Vec<u8> = good.iter().map(|b| b ^ 0x5a).collect();
    std::fs::write(&path, &corrupt).unwrap();
    let mut gets = Vec::new();
    for _ in 0..6 {
        gets.push(proxy(&aio, &tok, "GET", &url, b""));
    }

    run_daemon("swift-object-auditor", &aio, victim);
    assert!(!path.exists(), "the corrupt replica was not quarantined");
    let quarantined = aio.dir.join(format!(
        "srv/{victim}/sd{victim}/quarantined/objects/{hash}"
    ));
    assert!(quarantined.is_dir(), "{}", quarantined.display());
    for _ in 0..6 {
        gets.push(proxy(&aio, &tok, "GET", &url, b""));
    }

    replicate_all(&aio);
    let restored = data_copies(&aio, part, &hash);
    assert_eq!(restored.len(), 3, "{restored:?}");
    for (node, file) in &restored {
        assert_eq!(std::fs::read(file).unwrap(), good, "node {node}");
    }
    // The restored replica serves the good bytes straight from its node.
    let (st, _, body) = http_full(
        aio.base_port + 10 * victim,
        "GET",
        &format!("/sd{victim}/{part}/AUTH_test/c/precious"),
        &[],
        b"",
    );
    assert_eq!((st, body == good), (200, true));
    for _ in 0..6 {
        gets.push(proxy(&aio, &tok, "GET", &url, b""));
    }
    for (i, (st, body)) in gets.iter().enumerate() {
        assert_ne!(body, &corrupt, "GET {i} returned the corrupt bytes");
        if *st == 200 {
            assert!(good.starts_with(body), "GET {i} returned other bytes");
        }
    }
    assert!(
        gets.iter()
            .filter(|(st, b)| *st == 200 && b == &good)
            .count()
            >= 12
    );
}

fn dispersion(conf: &Path, tool: &str, args: &[&str]) -> String {
    let out = Command::new(bin(&format!("swift-dispersion-{tool}")))
        .args(args)
        .arg(conf)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lost_node_handoffs_move_home_and_dispersion_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = quiet_cluster(&tmp.path().join("aio"));
    let disp = tmp.path().join("dispersion.conf");
    aio.write_dispersion_conf(&disp, "1", 10);
    let (acct, tok) = aio.login_path("test:tester", "testing");
    assert_eq!(proxy(&aio, &tok, "PUT", &format!("{acct}/c"), b"").0, 201);

    // Stop node 2's object server, holding the supervisor so it stays down.
    let supervisor = aio.pid().unwrap();
    let victim = aio.server_pid("object", 2).unwrap();
    signal(supervisor, libc::SIGSTOP);
    signal(victim, libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(300));
    let names: Vec<String> = (0..24).map(|i| format!("while-down-{i}")).collect();
    for n in &names {
        let (st, _) = proxy(&aio, &tok, "PUT", &format!("{acct}/c/{n}"), n.as_bytes());
        assert_eq!(st, 201, "{n}");
    }
    dispersion(&disp, "populate", &[]);
    // Bring it back.
    signal(supervisor, libc::SIGCONT);
    let start = Instant::now();
    while aio.server_pid("object", 2).is_none_or(|p| p == victim)
        || std::net::TcpStream::connect(("127.0.0.1", aio.base_port + 20)).is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node 2 did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let down: serde_json::Value =
        serde_json::from_str(dispersion(&disp, "report", &["-j"]).trim()).unwrap();
    let on_handoffs = names
        .iter()
        .filter(|n| part_and_primaries(&aio, n).1.contains(&2))
        .count();
    assert!(on_handoffs > 0, "no object had node 2 as a primary");
    assert!(
        down["object"]["pct_found"].as_f64().unwrap() < 100.0,
        "{down}"
    );

    replicate_all(&aio);
    for n in &names {
        let (part, prim) = part_and_primaries(&aio, n);
        let copies: Vec<u16> = data_copies(&aio, part, &obj_hash(&aio, n))
            .iter()
            .map(|c| c.0)
            .collect();
        let mut want = prim.clone();
        want.sort();
        assert_eq!(
            copies, want,
            "{n}: copies on {copies:?}, primaries {prim:?}"
        );
        let (st, body) = proxy(&aio, &tok, "GET", &format!("{acct}/c/{n}"), b"");
        assert_eq!((st, body), (200, n.as_bytes().to_vec()));
    }
    let healed: serde_json::Value =
        serde_json::from_str(dispersion(&disp, "report", &["-j"]).trim()).unwrap();
    assert_eq!(healed["object"]["pct_found"], 100.0, "{healed}");
    assert_eq!(healed["container"]["pct_found"], 100.0, "{healed}");
}
