//! swift-object-updater against real servers: a container replica that was
//! down when an object was written gets the update once it is back, the
//! nodes that already have it are remembered in the pending file, and
//! pending files pass both ways between ours and Swift's updater code
//! (Swift's updater delivers what our object server wrote; ours delivers
//! what Swift's disk-file code wrote). On the all-in-one cluster, objects
//! PUT while one container server is down leave async pendings, and once
//! it is back the cluster's own updater daemons bring every container
//! listing and account row up to date.

mod aio_util;
#[path = "server_util/mod.rs"]
mod server_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aio_util::{signal, Aio};
use ferroswift::aio::backlog::Cluster;
use ferroswift::ring::hash::HashPathConf;
use serde_json::Value;
use server_util::{free_port, http, spawn, spawn_on, Running, Site, HASH_SUFFIX};

/// Writes `etc/container.ring.gz`: one replica per `(port, device)`.
/// Returns the partition of `AUTH_a/c`.
fn container_ring(site: &Site, devs: &[(u16, &str)]) -> u32 {
    let ring = server_util::loopback_ring(site, "container", devs, 7);
    ring.get_part(
        &HashPathConf::new("", HASH_SUFFIX),
        "AUTH_a",
        Some("c"),
        None,
    )
    .unwrap()
}

fn updater_conf(site: &Site) -> PathBuf {
    std::fs::create_dir_all(site.root().join("cache")).unwrap();
    let conf = site.etc().join("object-updater.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ndevices = {}\nmount_check = false\nswift_dir = {}\nrecon_cache_path = {}\n\n\
             [object-updater]\ninterval = 5\nnode_timeout = 3\nconcurrency = 4\n",
            site.devices().display(),
            site.etc().display(),
            site.root().join("cache").display(),
        ),
    )
    .unwrap();
    conf
}

fn run_updater(conf: &Path) -> String {
    aio_util::run_once(env!("CARGO_BIN_EXE_swift-object-updater"), conf, &["-v"])
}

/// Every async pending file of the object device.
fn pendings(site: &Site) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = site.devices().join("sda1/async_pending");
    for sfx in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(sfx.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            out.push(f.path());
        }
    }
    out
}

fn listing(port: u16, dev: &str, part: u32) -> Vec<(String, u64)> {
    let (status, _, body) = http(
        port,
        "GET",
        &format!("/{dev}/{part}/AUTH_a/c?format=json"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn put_object(obj: &Running, name: &str, body: &[u8], ts: &str, hosts: &str, part: u32) {
    let part = part.to_string();
    let (status, _, _) = http(
        obj.port,
        "PUT",
        &format!("/sda1/0/AUTH_a/c/{name}"),
        &[
            ("X-Timestamp", ts),
            ("Content-Type", "text/plain"),
            ("X-Container-Host", hosts),
            ("X-Container-Device", "sdb1,sdc1"),
            ("X-Container-Partition", &part),
        ],
        body,
    );
    assert_eq!(status, 201);
}

/// Swift reads a pickle: `{"successes": [...], "obj": ...}`.
fn swift_reads_pending(path: &Path) -> Value {
    let out = aio_util::run_swift_python(
        "import sys, json\nfrom swift.common.utils.pickle import unpickle\n\
         d = unpickle(open(sys.argv[1], 'rb').read())\n\
         print(json.dumps({'successes': d.get('successes'), 'obj': d['obj'], 'op': d['op'],\n\
         'size': dict(d['headers']).get('X-Size')}))",
        &[&path.to_string_lossy()],
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const SWIFT_UPDATER: &str = r#"
import sys
from swift.common import utils
utils.HASH_PATH_PREFIX = b''
utils.HASH_PATH_SUFFIX = sys.argv[4].encode()
from swift.obj.updater import ObjectUpdater
conf = {'devices': sys.argv[1], 'swift_dir': sys.argv[2], 'recon_cache_path': sys.argv[3],
        'mount_check': 'false', 'interval': '30', 'node_timeout': '3'}
ObjectUpdater(conf).run_once()
"#;

const SWIFT_WRITES_PENDING: &str = r#"
import sys
from swift.common import utils
utils.HASH_PATH_PREFIX = b''
utils.HASH_PATH_SUFFIX = sys.argv[2].encode()
from swift.common.header_key_dict import HeaderKeyDict
from swift.common.storage_policy import POLICIES
from swift.common.utils import Timestamp
from swift.obj.diskfile import DiskFileManager
ts = Timestamp(float(sys.argv[3]))
headers = HeaderKeyDict({'x-size': '11', 'x-content-type': 'text/plain',
    'x-etag': '5eb63bbbe01eeed093cb22bb8f5acdc3', 'x-timestamp': ts.internal,
    'X-Backend-Storage-Policy-Index': '0', 'referer': 'PUT http://x/v1/AUTH_a/c/o3'})
data = {'op': 'PUT', 'account': 'AUTH_a', 'container': 'c', 'obj': 'o3',
        'headers': headers, 'db_state': None}
mgr = DiskFileManager({'devices': sys.argv[1], 'mount_check': 'false'}, utils.get_logger({}))
mgr.pickle_async_update('sda1', 'AUTH_a', 'c', 'o3', data, ts, POLICIES[0])
"#;

#[test]
fn pending_updates_reach_every_container_replica() {
    let site = Site::new();
    for d in ["sdb1", "sdc1"] {
        std::fs::create_dir_all(site.devices().join(d)).unwrap();
    }
    let (p1, p2) = (free_port(), free_port());
    let part = container_ring(&site, &[(p1, "sdb1"), (p2, "sdc1")]);
    let hosts = format!("127.0.0.1:{p1},127.0.0.1:{p2}");
    let conf = updater_conf(&site);
    let obj = spawn(&site, "object", "");
    let c1 = spawn_on(&site, "container", "", p1);
    let mut c2 = Some(spawn_on(&site, "container", "", p2));
    for (port, dev) in [(p1, "sdb1"), (p2, "sdc1")] {
        let path = format!("/{dev}/{part}/AUTH_a/c");
        let (s, _, _) = http(port, "PUT", &path, &[("X-Timestamp", "1000.00000")], b"");
        assert_eq!(s, 201);
    }

    // Replica 2 is down during the write: its update is kept as a pending.
    c2.take();
    put_object(&obj, "o1", b"hello", "1001.00000", &hosts, part);
    assert_eq!(listing(p1, "sdb1", part), [("o1".to_string(), 5)]);
    let files = pendings(&site);
    assert_eq!(files.len(), 1, "{files:?}");

    // A pass while it is still down: replica 1 (id 0) is remembered.
    let log = run_updater(&conf);
    assert!(log.contains("1 failures"), "{log}");
    let seen = swift_reads_pending(&files[0]);
    assert_eq!(seen["successes"], serde_json::json!([0]), "{seen}");
    assert_eq!(
        (seen["obj"].as_str(), seen["size"].as_str()),
        (Some("o1"), Some("5"))
    );
    let recon: Value = serde_json::from_str(
        &std::fs::read_to_string(site.root().join("cache/object.recon")).unwrap(),
    )
    .unwrap();
    let stats = &recon["object_updater_stats"];
    assert_eq!(stats["failures_account_container_count"], 1, "{recon}");
    assert_eq!(
        stats["failures_oldest_timestamp_account_containers"]["oldest_entries"][0]["container"],
        "c"
    );
    assert!(recon["object_updater_sweep"].as_f64().is_some());

    // Back up: the next pass delivers it and removes the file.
    let c2 = spawn_on(&site, "container", "", p2);
    assert!(listing(p2, "sdc1", part).is_empty());
    let log = run_updater(&conf);
    assert!(log.contains("1 successes"), "{log}");
    assert_eq!(listing(p2, "sdc1", part), [("o1".to_string(), 5)]);
    assert!(pendings(&site).is_empty());
    assert!(
        !files[0].parent().unwrap().exists(),
        "empty suffix dir kept"
    );
    let recon: Value = serde_json::from_str(
        &std::fs::read_to_string(site.root().join("cache/object.recon")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        recon["object_updater_stats"]["failures_account_container_count"],
        0
    );

    // Swift's updater delivers a pending our object server wrote.
    drop(c1);
    put_object(&obj, "o2", b"hello world", "1002.00000", &hosts, part);
    assert_eq!(pendings(&site).len(), 1);
    let c1 = spawn_on(&site, "container", "", p1);
    let devices = site.devices().to_string_lossy().into_owned();
    let etc = site.etc().to_string_lossy().into_owned();
    let cache2 = site
        .root()
        .join("cache-swift")
        .to_string_lossy()
        .into_owned();
    aio_util::run_swift_python(SWIFT_UPDATER, &[&devices, &etc, &cache2, HASH_SUFFIX]);
    assert!(
        pendings(&site).is_empty(),
        "Swift's updater left {:?}",
        pendings(&site)
    );
    assert_eq!(
        listing(p1, "sdb1", part),
        [("o1".to_string(), 5), ("o2".to_string(), 11)]
    );

    // Ours delivers a pending written by Swift's disk-file code.
    aio_util::run_swift_python(SWIFT_WRITES_PENDING, &[&devices, HASH_SUFFIX, "1003.5"]);
    assert_eq!(pendings(&site).len(), 1);
    let log = run_updater(&conf);
    assert!(pendings(&site).is_empty(), "{log}");
    for (port, dev) in [(p1, "sdb1"), (p2, "sdc1")] {
        assert_eq!(
            listing(port, dev, part).last(),
            Some(&("o3".to_string(), 11)),
            "{dev}"
        );
    }
    drop((c1, c2));
}

#[test]
fn junk_pendings_are_quarantined_and_bad_config_is_an_error() {
    let site = Site::new();
    let part = container_ring(&site, &[(free_port(), "sdb1")]);
    assert!(part < 16);
    let conf = updater_conf(&site);
    let dir = site.devices().join("sda1/async_pending/abc");
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("0123456789abcdef0123456789abcabc-0000001000.00000");
    std::fs::write(&junk, b"garbage").unwrap();
    let log = run_updater(&conf);
    assert!(log.contains("1 quarantines"), "{log}");
    assert!(site
        .devices()
        .join("sda1/quarantined/objects")
        .join(junk.file_name().unwrap())
        .is_file());

    let bad = site.etc().join("bad.conf");
    std::fs::write(&bad, "[object-updater]\nconcurrency = many\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_swift-object-updater"))
        .arg(&bad)
        .arg("-o")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("concurrency"), "{err}");
}

#[test]
fn aio_updaters_bring_listings_up_to_date_after_a_container_server_outage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("aio");
    let aio = Aio::setup(&dir);
    // Container replication stays idle after its first pass, so only the
    // updaters can bring the returning replica up to date.
    for node in 1..=4 {
        let conf = dir.join(format!("etc/container-server/{node}.conf"));
        let text = std::fs::read_to_string(&conf).unwrap();
        let quiet = text.replacen(
            "[container-replicator]\nnice_priority = 10\ninterval = 10\n",
            "[container-replicator]\nnice_priority = 10\ninterval = 3600\n",
            1,
        );
        assert_ne!(quiet, text, "container-replicator section of {text}");
        std::fs::write(&conf, quiet).unwrap();
    }
    let aio = aio.start();
    let cluster = Cluster::open(&dir).unwrap();
    let (path, tok) = aio.login_path("test:tester", "testing");
    let account = path.trim_start_matches("/v1/");
    let put = |p: &str, body: &'static [u8]| {
        aio_util::http(
            "PUT",
            &format!("http://127.0.0.1:{}{p}", aio.port),
            &[("X-Auth-Token", &tok)],
            body,
        )
        .0
    };
    // The first write also creates the account: on a loaded machine a
    // node may still time out on it, which a retry clears (the updater is
    // what this test is about).
    let mut last = 0;
    aio_util::wait_for(
        || {
            last = put(&format!("{path}/c"), b"");
            last == 201
        },
        "the container PUT to answer 201",
    );
    assert_eq!(last, 201);

    // Stop the container server of the container's first primary, holding
    // the supervisor so it stays down.
    let victim_dev = cluster.container_rows(account, "c", &[])[0].device.clone();
    let node: u16 = victim_dev.trim_start_matches("sd").parse().unwrap();
    let supervisor = aio.pid().unwrap();
    let victim = aio.server_pid("container", node).unwrap();
    signal(supervisor, libc::SIGSTOP);
    let _resume = aio_util::Resume(supervisor);
    signal(victim, libc::SIGKILL);
    let port = aio.base_port + 10 * node + 1;
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{victim_dev} still up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let names: Vec<String> = (0..20).map(|i| format!("o{i}")).collect();
    for n in &names {
        assert_eq!(put(&format!("{path}/c/{n}"), b"body"), 201, "{n}");
    }
    let copies = cluster.copies(account, "c", &names);
    assert_eq!(copies.stored, names);
    // One pending per object: the update its down replica did not take.
    assert_eq!(cluster.queues().async_pendings, names.len() as u64);
    let rows = cluster.container_rows(account, "c", &names);
    for r in &rows {
        let want = if r.device == victim_dev {
            0
        } else {
            names.len()
        };
        assert_eq!(r.listed, want, "{rows:?}");
    }

    // Back up: the updaters deliver every pending, the replica lists every
    // object, and the account rows count them.
    signal(supervisor, libc::SIGCONT);
    let start = Instant::now();
    loop {
        let q = cluster.queues();
        let rows = cluster.container_rows(account, "c", &names);
        let counts = cluster.account_counts(account, "c");
        if q.async_pendings == 0
            && rows.iter().all(|r| r.missing.is_empty())
            && counts.iter().all(|(_, n)| *n == Some(names.len() as i64))
        {
            assert_eq!(rows.len(), 3);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(25),
            "not caught up: {q:?} {rows:?} {counts:?}\n{}",
            aio.logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (st, _, body) = aio_util::http(
        "GET",
        &format!("http://127.0.0.1:{}{path}/c", aio.port),
        &[("X-Auth-Token", &tok)],
        b"",
    );
    assert_eq!(st, 200);
    let mut listed: Vec<String> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    listed.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(listed, want);
}
