//! swift-container-updater, swift-container-auditor and
//! swift-account-auditor on real servers and databases: container stats
//! reach the account (and Swift's broker reads the `reported_*` columns
//! ours wrote), a container whose account is gone everywhere is
//! quarantined, and a corrupt database is quarantined by ours exactly as
//! by Swift's auditor run over a copy of the same tree.

mod common;
#[path = "server_util/mod.rs"]
mod server_util;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferroswift::ring::hash::HashPathConf;
use ferroswift::ring::Ring;
use serde_json::Value;
use server_util::{free_port, http, spawn, spawn_on, Site, HASH_SUFFIX};

/// Writes a one-device `<name>.ring.gz` and returns the ring.
fn one_device_ring(site: &Site, name: &str, port: u16) -> Ring {
    server_util::loopback_ring(site, name, &[(port, "sda1")], 3)
}

fn part(ring: &Ring, a: &str, c: Option<&str>) -> String {
    ring.get_part(&HashPathConf::new("", HASH_SUFFIX), a, c, None)
        .unwrap()
        .to_string()
}

fn daemon_conf(site: &Site, section: &str) -> PathBuf {
    let cache = site.root().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let conf = site.etc().join(format!("{section}.conf"));
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ndevices = {}\nmount_check = false\nswift_dir = {}\nrecon_cache_path = {}\n\n\
             [{section}]\ninterval = 5\n",
            site.devices().display(),
            site.etc().display(),
            cache.display(),
        ),
    )
    .unwrap();
    conf
}

/// One verbose pass of a daemon; its log.
fn run_once(bin: &str, conf: &Path) -> String {
    common::run_once(bin, conf, &["-v"])
}

fn account_counts(port: u16, apart: &str, account: &str) -> (String, String) {
    let (s, h, _) = http(port, "HEAD", &format!("/sda1/{apart}/{account}"), &[], b"");
    assert_eq!(s, 204);
    let get = |k: &str| {
        h.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    (get("x-account-object-count"), get("x-account-bytes-used"))
}

/// Swift's broker reads a container DB's reported stats.
fn swift_reported(db: &Path) -> Value {
    let out = common::run_swift_python(
        "import sys, json\nfrom swift.container.backend import ContainerBroker\n\
         i = ContainerBroker(sys.argv[1]).get_info()\n\
         print(json.dumps({k: i[k] for k in ('reported_object_count', 'reported_bytes_used',\n\
         'reported_put_timestamp', 'object_count', 'put_timestamp')}))",
        &[&db.to_string_lossy()],
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn find_dbs(root: &Path, datadir: &str) -> Vec<PathBuf> {
    let mut out = common::files_under(&root.join("sda1").join(datadir));
    out.retain(|p| p.extension().is_some_and(|x| x == "db"));
    out
}

#[test]
fn container_updater_rolls_stats_into_the_account() {
    let site = Site::new();
    let aport = free_port();
    let aring = one_device_ring(&site, "account", aport);
    let acct = spawn_on(&site, "account", "", aport);
    let cont = spawn(&site, "container", "");
    let conf = daemon_conf(&site, "container-updater");
    let apart = part(&aring, "AUTH_u", None);
    let (s, _, _) = http(
        aport,
        "PUT",
        &format!("/sda1/{apart}/AUTH_u"),
        &[("X-Timestamp", "1.0")],
        b"",
    );
    assert_eq!(s, 201);
    let cpath = "/sda1/3/AUTH_u/c";
    let (s, _, _) = http(cont.port, "PUT", cpath, &[("X-Timestamp", "2.0")], b"");
    assert_eq!(s, 201);
    for (i, size) in [10u64, 20, 30].iter().enumerate() {
        let ts = format!("{}.0", 3 + i);
        let size = size.to_string();
        let (s, _, _) = http(
            cont.port,
            "PUT",
            &format!("{cpath}/o{i}"),
            &[
                ("X-Timestamp", &ts),
                ("X-Size", &size),
                ("X-Content-Type", "text/plain"),
                ("X-Etag", "d41d8cd98f00b204e9800998ecf8427e"),
            ],
            b"",
        );
        assert_eq!(s, 201);
    }
    // Nothing told the account yet.
    assert_eq!(
        account_counts(aport, &apart, "AUTH_u"),
        ("0".into(), "0".into())
    );

    let log = run_once(env!("CARGO_BIN_EXE_swift-container-updater"), &conf);
    assert!(
        log.contains("1 successes, 0 failures, 0 with no changes"),
        "{log}"
    );
    assert_eq!(
        account_counts(aport, &apart, "AUTH_u"),
        ("3".into(), "60".into())
    );
    let db = find_dbs(&site.devices(), "containers")[0].clone();
    let seen = swift_reported(&db);
    assert_eq!(seen["reported_object_count"], 3, "{seen}");
    assert_eq!(seen["reported_bytes_used"], 60);
    assert_eq!(seen["reported_put_timestamp"], seen["put_timestamp"]);
    let recon: Value = serde_json::from_str(
        &std::fs::read_to_string(site.root().join("cache/container.recon")).unwrap(),
    )
    .unwrap();
    assert!(
        recon["container_updater_sweep"].as_f64().is_some(),
        "{recon}"
    );

    // Unchanged: nothing is sent. After a delete, the new stats are.
    let log = run_once(env!("CARGO_BIN_EXE_swift-container-updater"), &conf);
    assert!(
        log.contains("0 successes, 0 failures, 1 with no changes"),
        "{log}"
    );
    let (s, _, _) = http(
        cont.port,
        "DELETE",
        &format!("{cpath}/o1"),
        &[("X-Timestamp", "9.0")],
        b"",
    );
    assert_eq!(s, 204);
    run_once(env!("CARGO_BIN_EXE_swift-container-updater"), &conf);
    assert_eq!(
        account_counts(aport, &apart, "AUTH_u"),
        ("2".into(), "40".into())
    );

    // A container whose account exists nowhere is quarantined.
    let (s, _, _) = http(
        cont.port,
        "PUT",
        "/sda1/3/AUTH_gone/c",
        &[("X-Timestamp", "2.0")],
        b"",
    );
    assert_eq!(s, 201);
    let log = run_once(env!("CARGO_BIN_EXE_swift-container-updater"), &conf);
    assert!(log.contains("0 successes, 1 failures"), "{log}");
    let q: Vec<_> = std::fs::read_dir(site.devices().join("sda1/quarantined/containers"))
        .unwrap()
        .collect();
    assert_eq!(q.len(), 1);
    drop((acct, cont));
}

const SWIFT_AUDIT: &str = r#"
import sys
from swift.container.auditor import ContainerAuditor
from swift.account.auditor import AccountAuditor
conf = {'devices': sys.argv[1], 'mount_check': 'false', 'recon_cache_path': sys.argv[2]}
ContainerAuditor(conf).run_once()
AccountAuditor(conf).run_once()
"#;

fn quarantined(devices: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for kind in ["containers", "accounts"] {
        let dir = devices.join("sda1/quarantined").join(kind);
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            out.insert(format!("{kind}/{}", e.file_name().to_string_lossy()));
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn auditors_quarantine_what_swift_quarantines() {
    let site = Site::new();
    let acct = spawn(&site, "account", "");
    let cont = spawn(&site, "container", "");
    for a in ["AUTH_x", "AUTH_y"] {
        let (s, _, _) = http(
            acct.port,
            "PUT",
            &format!("/sda1/1/{a}"),
            &[("X-Timestamp", "1.0")],
            b"",
        );
        assert_eq!(s, 201);
    }
    for c in ["c1", "c2", "c3"] {
        let (s, _, _) = http(
            cont.port,
            "PUT",
            &format!("/sda1/2/AUTH_x/{c}"),
            &[("X-Timestamp", "1.0")],
            b"",
        );
        assert_eq!(s, 201);
    }
    drop((acct, cont));
    let containers = find_dbs(&site.devices(), "containers");
    let accounts = find_dbs(&site.devices(), "accounts");
    assert_eq!((containers.len(), accounts.len()), (3, 2));
    // One container DB overwritten with junk, one truncated; one account
    // DB's header destroyed.
    std::fs::write(&containers[0], vec![0x5au8; 8192]).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&containers[1])
        .unwrap();
    f.set_len(100).unwrap();
    let mut head = std::fs::read(&accounts[0]).unwrap();
    head[..16].copy_from_slice(b"not sqlite at al");
    std::fs::write(&accounts[0], head).unwrap();

    let swift_copy = tempfile::tempdir().unwrap();
    copy_tree(&site.devices(), swift_copy.path());
    let swift_devices = swift_copy.path().join("node");
    common::run_swift_python(
        SWIFT_AUDIT,
        &[
            &swift_devices.to_string_lossy(),
            &swift_copy.path().to_string_lossy(),
        ],
    );
    let theirs = quarantined(&swift_devices);
    assert_eq!(theirs.len(), 3, "Swift quarantined {theirs:?}");

    let log = run_once(
        env!("CARGO_BIN_EXE_swift-container-auditor"),
        &daemon_conf(&site, "container-auditor"),
    );
    assert!(
        log.contains("Container audit \"once\" mode completed"),
        "{log}"
    );
    run_once(
        env!("CARGO_BIN_EXE_swift-account-auditor"),
        &daemon_conf(&site, "account-auditor"),
    );
    assert_eq!(quarantined(&site.devices()), theirs);
    for (file, key) in [
        ("container.recon", "container_auditor_pass_completed"),
        ("account.recon", "account_auditor_pass_completed"),
    ] {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(site.root().join("cache").join(file)).unwrap(),
        )
        .unwrap();
        assert!(v[key].as_f64().is_some(), "{file}: {v}");
    }
    // The good databases are still in place and readable by Swift.
    assert!(containers[2].is_file() && accounts[1].is_file());
}
