//! swift-object-auditor on real temp devices written by our object server:
//! it quarantines what Swift's auditor quarantines (both run over copies of
//! the same tree), writes recon stats of Swift's shape, and the object
//! server stops serving what was quarantined.

mod common;
#[path = "server_util/mod.rs"]
mod server_util;

use serde_json::Value;
use server_util::{current_user, http, Site};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn put(port: u16, name: &str, body: &[u8], ts: &str) {
    let (status, _, _) = http(
        port,
        "PUT",
        &format!("/sda1/7/AUTH_t/c/{name}"),
        &[("X-Timestamp", ts), ("Content-Type", "text/plain")],
        body,
    );
    assert_eq!(status, 201, "PUT {name}");
}

/// The single `.data` file of an object (by its unique body prefix).
fn data_file(devices: &Path, body_start: &[u8]) -> PathBuf {
    common::files_under(devices)
        .into_iter()
        .find(|path| {
            path.extension().is_some_and(|x| x == "data")
                && std::fs::read(path).unwrap().starts_with(body_start)
        })
        .unwrap_or_else(|| panic!("no data file starting with {body_start:?}"))
}

fn quarantined(devices: &Path) -> BTreeSet<String> {
    std::fs::read_dir(devices.join("sda1/quarantined/objects"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn write_conf(site_root: &Path, devices: &Path, etc: &Path, cache: &Path) -> PathBuf {
    std::fs::create_dir_all(cache).unwrap();
    let conf = site_root.join(format!(
        "auditor-{}.conf",
        cache.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ndevices = {}\nmount_check = false\nswift_dir = {}\n\
             recon_cache_path = {}\nlog_level = INFO\nuser = {}\n\n[object-auditor]\n\
             files_per_second = 200\nzero_byte_files_per_second = 200\n",
            devices.display(),
            etc.display(),
            cache.display(),
            current_user()
        ),
    )
    .unwrap();
    conf
}

const SWIFT_AUDITOR: &str = r#"
import sys
from swift.common import utils
utils.set_swift_dir(sys.argv.pop(1))
from swift.common import storage_policy
storage_policy.reload_storage_policies()
from swift.obj import auditor
sys.argv[0] = 'swift-object-auditor'
auditor.main()
"#;

fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Number(_) => Value::from("number"),
        other => other.clone(),
    }
}

#[test]
fn auditor_quarantines_what_swift_does() {
    let site = Site::new();
    let server = server_util::spawn(&site, "object", "");
    put(
        server.port,
        "good",
        b"good body, all fine",
        "1700000001.00000",
    );
    put(
        server.port,
        "rotten",
        b"rotten body, soon bad",
        "1700000002.00000",
    );
    put(server.port, "empty", b"", "1700000003.00000");
    put(server.port, "grown", b"grown body", "1700000004.00000");
    // Same length, other bytes: only the full pass (MD5) can tell.
    let rotten = data_file(&site.devices(), b"rotten");
    std::fs::write(&rotten, b"ROTTEN body, soon bad").unwrap();
    // Longer than its Content-Length: the zero-byte pass catches it too.
    let grown = data_file(&site.devices(), b"grown");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&grown)
        .unwrap()
        .write_all(b"!!")
        .unwrap();
    assert_eq!(
        http(server.port, "HEAD", "/sda1/7/AUTH_t/c/rotten", &[], b"").0,
        200
    );

    // Swift's auditor gets a copy of the same tree (xattrs included).
    let swift_devices = site.root().join("swift-node");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(site.devices())
        .arg(&swift_devices)
        .status()
        .unwrap();
    assert!(cp.success());

    let ours_conf = write_conf(
        site.root(),
        &site.devices(),
        &site.etc(),
        &site.root().join("cache-ours"),
    );
    common::check(
        Command::new(common::bin("swift-object-auditor"))
            .arg(&ours_conf)
            .arg("-o"),
    );

    let swift_conf = write_conf(
        site.root(),
        &swift_devices,
        &site.etc(),
        &site.root().join("cache-swift"),
    );
    let etc = site.etc().display().to_string();
    let sc = swift_conf.display().to_string();
    common::run_swift_python(SWIFT_AUDITOR, &[&etc, &sc, "-o"]);

    let ours_q = quarantined(&site.devices());
    assert_eq!(ours_q.len(), 2, "{ours_q:?}");
    assert_eq!(ours_q, quarantined(&swift_devices));

    // The object server no longer serves either; the others are intact.
    for name in ["rotten", "grown"] {
        let (status, _, _) = http(
            server.port,
            "GET",
            &format!("/sda1/7/AUTH_t/c/{name}"),
            &[],
            b"",
        );
        assert_eq!(status, 404, "{name}");
    }
    let (status, _, body) = http(server.port, "GET", "/sda1/7/AUTH_t/c/good", &[], b"");
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"good body, all fine"[..])
    );
    assert_eq!(
        http(server.port, "GET", "/sda1/7/AUTH_t/c/empty", &[], b"").0,
        200
    );

    // Recon stats: the keys Swift writes, in Swift's shape.
    let load = |dir: &str| {
        ferroswift::recon::cache::load(&site.root().join(dir).join("object.recon")).unwrap()
    };
    let (ours, swift) = (load("cache-ours"), load("cache-swift"));
    let captured: Value = serde_json::from_slice(
        &std::fs::read(common::reference(
            "ops-outputs/recon-endpoints/6210-auditor_object.json",
        ))
        .unwrap(),
    )
    .unwrap();
    for key in ["object_auditor_stats_ALL", "object_auditor_stats_ZBF"] {
        assert_eq!(shape(&ours[key]), shape(&swift[key]), "{key}");
        assert_eq!(shape(&ours[key]), shape(&captured[key]), "{key}");
    }
    // Swift reports after the first object of each pass: same counts here.
    assert_eq!(
        ours["object_auditor_stats_ALL"]["passes"],
        swift["object_auditor_stats_ALL"]["passes"]
    );
}

#[test]
fn auditor_bad_config_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("a.conf");
    // The exit code and standard error of one pass with `text` as the config.
    let audit_with = |text: &str| {
        std::fs::write(&conf, text).unwrap();
        let out = Command::new(common::bin("swift-object-auditor"))
            .arg(&conf)
            .arg("-o")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let (code, err) = audit_with("[DEFAULT]\n");
    assert_eq!(code, Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, _) = audit_with("[object-auditor]\nfiles_per_second = lots\n");
    assert_eq!(code, Some(2));
}
