//! Bad input never panics: `swift-get-nodes` prints a one-line error naming
//! the problem and exits non-zero (1, as Swift does for these).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Output;

use common::gunzip;

use flate2::write::GzEncoder;
use flate2::Compression;

fn run(dir: &Path, argv: &[&str]) -> Output {
    common::bin_command("swift-get-nodes")
        .args(argv)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Runs one bad case; checks exit 1, a single stderr line containing
/// `needle`, and no panic.
fn expect_error(dir: &Path, argv: &[&str], needle: &str) {
    let out = run(dir, argv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{argv:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{argv:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{argv:?}: {stderr}");
    assert!(
        stderr.to_lowercase().contains(&needle.to_lowercase()),
        "{argv:?}: expected {needle:?} in {stderr:?}"
    );
}

#[test]
fn bad_rings_and_arguments_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let reference = common::reference_dir();
    std::fs::copy(reference.join("swift.conf"), p.join("swift.conf")).unwrap();
    let good = std::fs::read(reference.join("S1/object.ring.gz")).unwrap();
    std::fs::write(p.join("object.ring.gz"), &good).unwrap();
    std::fs::write(p.join("truncated.ring.gz"), &good[..good.len() / 2]).unwrap();
    std::fs::write(p.join("garbage.ring.gz"), b"this is not gzip at all").unwrap();
    std::fs::write(p.join("empty.ring.gz"), b"").unwrap();
    let mut magic = gunzip(&good);
    magic[..4].copy_from_slice(b"R2NG");
    std::fs::write(p.join("magic.ring.gz"), gzip(&magic)).unwrap();
    // A v2 ring with one byte of its device list changed: its SHA-256 no
    // longer matches.
    let v2 = gunzip(&std::fs::read(reference.join("S1/v2/object.ring.gz")).unwrap());
    let at = v2.windows(5).position(|w| w == b"\"sda\"").unwrap();
    let mut tampered = v2.clone();
    tampered[at + 3] = b'z';
    std::fs::write(p.join("tampered.ring.gz"), gzip(&tampered)).unwrap();
    std::fs::create_dir(p.join("dir.ring.gz")).unwrap();

    let d = ["-d", "."];
    let with = |rest: &[&'static str]| -> Vec<&'static str> {
        d.iter().copied().chain(rest.iter().copied()).collect()
    };
    expect_error(p, &with(&["truncated.ring.gz", "a"]), "truncated.ring.gz");
    expect_error(p, &with(&["garbage.ring.gz", "a"]), "garbage.ring.gz");
    expect_error(p, &with(&["empty.ring.gz", "a"]), "empty.ring.gz");
    expect_error(p, &with(&["magic.ring.gz", "a"]), "magic");
    expect_error(p, &with(&["tampered.ring.gz", "a"]), "tampered.ring.gz");
    expect_error(p, &with(&["dir.ring.gz", "a"]), "dir.ring.gz");
    // Policy 1's ring is missing.
    std::fs::write(
        p.join("swift.conf"),
        "[swift-hash]\nswift_hash_path_suffix = changeme\n[storage-policy:0]\nname = a\ndefault = yes\n[storage-policy:1]\nname = b\n",
    )
    .unwrap();
    expect_error(p, &with(&["-P", "b", "-p", "1"]), "object-1.ring.gz");
    expect_error(
        p,
        &with(&["object.ring.gz", "-p", "abc"]),
        "invalid partition number 'abc'",
    );
    expect_error(p, &with(&["object.ring.gz", "-p", "-1"]), "out of range");
    expect_error(p, &with(&["object.ring.gz", "-p", "1024"]), "out of range");
    expect_error(
        p,
        &with(&["object.ring.gz", "-p", "99999999999999999999999"]),
        "out of range",
    );
    // A non-numeric policy suffix in the ring name.
    std::fs::write(p.join("object-x.ring.gz"), &good).unwrap();
    expect_error(p, &with(&["object-x.ring.gz", "a", "c", "o"]), "object-x");
    // No swift.conf in the swift dir.
    expect_error(
        p,
        &["-d", "nowhere", "object.ring.gz", "a"],
        "nowhere/swift.conf",
    );

    // Swift's own semantic error for an empty container with an object.
    let out = run(p, &with(&["object.ring.gz", "AUTH_test", "", "o"]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No container specified\n"
    );
}

#[test]
fn json_output_has_every_device_field_and_honours_all() {
    let reference = common::reference_dir();
    let d = reference.to_str().unwrap();
    let ring = reference.join("S1/object.ring.gz");
    let ring = ring.to_str().unwrap();
    let run_json = |extra: &[&str]| -> serde_json::Value {
        let mut argv = vec!["-d", d, "--json", ring, "AUTH_test"];
        argv.extend_from_slice(extra);
        let out = run(&reference, &argv);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let doc = run_json(&[]);
    assert_eq!(doc["partition"], 628);
    assert_eq!(doc["hash"], "9d00c9d091fea9ea855f29c22714dc83");
    let primaries = doc["primaries"].as_array().unwrap();
    let ids: Vec<u64> = primaries
        .iter()
        .map(|n| n["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [7, 1, 3]);
    let keys: Vec<&str> = primaries[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "index",
            "id",
            "region",
            "zone",
            "ip",
            "port",
            "replication_ip",
            "replication_port",
            "device",
            "meta",
            "weight"
        ]
    );
    let handoffs = doc["handoffs"].as_array().unwrap();
    let ids: Vec<u64> = handoffs.iter().map(|n| n["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [5, 2, 6]);
    assert_eq!(handoffs[2]["handoff_index"], 2);
    let all = run_json(&["-a"]);
    assert_eq!(all["handoffs"].as_array().unwrap().len(), 5);
    let part = {
        let out = run(&reference, &["-d", d, "--json", ring, "-p", "5"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(part["hash"], serde_json::Value::Null);
    assert_eq!(part["partition"], 5);
}
