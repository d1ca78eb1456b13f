//! Our `swift-ring-builder` with our own rebalance: Swift's rules for
//! saving, backups and exit codes, Swift reading everything we write, and
//! the script-facing extensions (`--json`, `rebalance --dry-run`).

mod common;
mod ring_builder_support;

use std::path::Path;

use ring_builder_support::{mask, ours, ours_with_input, swift};
use serde_json::Value;

fn setup(dir: &Path) {
    assert_eq!(
        ours(dir, &["object.builder", "create", "10", "3", "1"]).code,
        0
    );
    let mut args = vec!["object.builder".to_string(), "add".to_string()];
    for z in 1..=4 {
        for d in ["sda", "sdb"] {
            args.push(format!("r1z{z}-10.1.{z}.1:6200/{d}"));
            args.push("100".into());
        }
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(ours(dir, &argv).code, 0);
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

#[test]
fn rebalance_saves_like_swift_and_swift_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let r = ours(d, &["object.builder", "rebalance", "--seed", "42"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "Defaulting to --format-version=1. This ensures the ring"
    );
    assert!(
        lines[5].starts_with("Reassigned 3072 (300.00%) partitions. Balance is now "),
        "{}",
        r.stdout
    );
    assert!(lines[5].contains(".  Dispersion is now "));
    assert!(
        r.code == 0 || (r.code == 1 && r.stdout.contains("NOTE: ")),
        "{r:?}"
    );
    assert_eq!(files(d), ["backups", "object.builder", "object.ring.gz"]);
    let backups = files(&d.join("backups"));
    // create's backup and the rebalance's share a name within the same second.
    assert!(backups.len() >= 2, "ring and builder backups: {backups:?}");
    assert!(backups.iter().any(|b| b.ends_with(".object.builder")));
    assert!(backups.iter().any(|b| b.ends_with(".object.ring.gz")));
    assert!(backups
        .iter()
        .all(|b| b.split('.').next().unwrap().parse::<u64>().is_ok()));

    // Swift's tool sees the same builder, an up-to-date ring and the same numbers.
    for args in [
        &["object.builder"][..],
        &["object.builder", "dispersion", "-v"],
        &["object.builder", "validate"],
    ] {
        let (a, b) = (ours(d, args), swift(d, args));
        assert_eq!(mask(&a.stdout), mask(&b.stdout), "{args:?}");
        assert_eq!(a.code, b.code, "{args:?}");
    }
    assert!(ours(d, &["object.builder"])
        .stdout
        .contains("Ring file object.ring.gz is up-to-date"));

    // Again at once: the min_part_hours clock has not run; nothing is saved.
    let before = std::fs::read(d.join("object.builder")).unwrap();
    let ring_before = std::fs::read(d.join("object.ring.gz")).unwrap();
    let r = ours(
        d,
        &[
            "object.builder",
            "rebalance",
            "--seed",
            "42",
            "--format-version",
            "2",
        ],
    );
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("No partitions could be reassigned.\nThe time between rebalances must be at least min_part_hours: 1 hours ("), "{}", r.stdout);
    assert_eq!(std::fs::read(d.join("object.builder")).unwrap(), before);
    assert_eq!(
        std::fs::read(d.join("object.ring.gz")).unwrap(),
        ring_before
    );

    // --force saves even with nothing reassigned.
    let r = ours(
        d,
        &[
            "object.builder",
            "rebalance",
            "--force",
            "--format-version=2",
        ],
    );
    assert!(
        r.stdout.starts_with("Reassigned 0 (0.00%) partitions."),
        "{}",
        r.stdout
    );
    let v = ours(d, &["object.ring.gz", "version"]);
    assert!(
        v.stdout.contains("Serialization version: 2 (2-byte IDs)"),
        "{}",
        v.stdout
    );

    // A changed weight is picked up once the clock is out of the way.
    assert_eq!(
        ours(d, &["object.builder", "set_weight", "d0", "200"]).code,
        0
    );
    assert_eq!(
        ours(d, &["object.builder", "pretend_min_part_hours_passed"]).code,
        0
    );
    let r = ours(d, &["object.builder", "rebalance", "7"]);
    assert!(r.stdout.contains("Reassigned "), "{}", r.stdout);
    let (a, b) = (ours(d, &["object.builder"]), swift(d, &["object.builder"]));
    assert_eq!(mask(&a.stdout), mask(&b.stdout));
    assert!(
        !files(d).iter().any(|f| f.ends_with(".tmp")),
        "no temporary files left"
    );
}

#[test]
fn failed_rebalance_saves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    assert_eq!(ours(d, &["x.builder", "create", "8", "3", "1"]).code, 0);
    assert_eq!(
        ours(
            d,
            &[
                "x.builder",
                "add",
                "r1z1-10.0.0.1:1/a",
                "1",
                "r1z1-10.0.0.2:1/a",
                "1"
            ]
        )
        .code,
        0
    );
    let before = std::fs::read(d.join("x.builder")).unwrap();
    let r = ours(d, &["x.builder", "rebalance", "--format-version", "1"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stdout
            .contains(" Replica count of 3.0 requires more than 2 devices\n"),
        "{}",
        r.stdout
    );
    assert_eq!(std::fs::read(d.join("x.builder")).unwrap(), before);
    assert!(!d.join("x.ring.gz").exists());
    let r = ours(d, &["x.builder", "rebalance", "--json"]);
    assert_eq!(r.code, 2);
    assert_eq!(json(&r.stdout)["exit_code"], 2);
}

#[test]
fn dry_run_reports_moves_and_saves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    assert!(ours(d, &["object.builder", "rebalance", "-s", "1"]).code <= 1);
    assert_eq!(
        ours(
            d,
            &["object.builder", "add", "r1z5-10.1.5.1:6200/sda", "200"]
        )
        .code,
        0
    );
    assert_eq!(
        ours(d, &["object.builder", "pretend_min_part_hours_passed"]).code,
        0
    );
    let before = std::fs::read(d.join("object.builder")).unwrap();
    let ring = std::fs::read(d.join("object.ring.gz")).unwrap();
    let r = ours(
        d,
        &["object.builder", "rebalance", "--dry-run", "--seed", "3"],
    );
    assert!(r.code <= 1, "{r:?}");
    assert!(r.stdout.contains("Would reassign "), "{}", r.stdout);
    assert!(
        r.stdout.contains("Dry run: nothing was saved."),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("r1z5-10.1.5.1/sda"),
        "the new device gains parts:\n{}",
        r.stdout
    );
    let r = ours(
        d,
        &[
            "object.builder",
            "rebalance",
            "--dry-run",
            "--seed",
            "3",
            "--json",
        ],
    );
    let v = json(&r.stdout);
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["saved"], false);
    let moves = v["moves"].as_array().unwrap();
    let gained: u64 = moves
        .iter()
        .filter(|m| m["level"] == "device")
        .map(|m| m["gained"].as_u64().unwrap())
        .sum();
    let lost: u64 = moves
        .iter()
        .filter(|m| m["level"] == "device")
        .map(|m| m["lost"].as_u64().unwrap())
        .sum();
    assert_eq!(gained, lost);
    assert_eq!(gained, v["moved_part_replicas"].as_u64().unwrap());
    assert!(gained > 0);
    assert_eq!(std::fs::read(d.join("object.builder")).unwrap(), before);
    assert_eq!(std::fs::read(d.join("object.ring.gz")).unwrap(), ring);
}

#[test]
fn json_views() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let r = ours(d, &["object.builder", "rebalance", "--seed", "5", "--json"]);
    let v = json(&r.stdout);
    assert_eq!(v["saved"], true);
    assert_eq!(v["changed_parts"], 3072);
    assert_eq!(v["exit_code"].as_u64().unwrap() as i32, r.code);
    let v = json(&ours(d, &["object.builder", "--json"]).stdout);
    assert_eq!(v["partitions"], 1024);
    assert_eq!(v["devices"].as_array().unwrap().len(), 8);
    assert_eq!(v["ring_file"]["status"], "up-to-date");
    let v = json(&ours(d, &["object.builder", "search", "z2", "--json"]).stdout);
    assert_eq!(v["devices"].as_array().unwrap().len(), 2);
    let r = ours(d, &["object.builder", "search", "d99", "--json"]);
    assert_eq!(r.code, 2);
    assert_eq!(json(&r.stdout)["devices"], serde_json::json!([]));
    let v = json(&ours(d, &["object.builder", "list_parts", "d0", "--json"]).stdout);
    assert!(v["partitions"].as_array().unwrap().len() > 300);
    let v = json(&ours(d, &["object.builder", "dispersion", "-v", "--json"]).stdout);
    assert_eq!(v["tiers"].as_array().unwrap().len(), 17);
    let v = json(&ours(d, &["object.builder", "validate", "--json"]).stdout);
    assert_eq!(v["valid"], true);
}

#[test]
fn file_names_prompts_and_help() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    setup(d);
    let r = ours(d, &["object.ring.gz"]);
    assert!(r.stdout.starts_with("Note: using object.builder instead of object.ring.gz as builder file\nobject.builder, build version 8"), "{}", r.stdout);
    let r = ours(d, &["object.ring.gz", "version"]);
    assert!(!r.stdout.contains("Note: using"));
    // A y answer goes ahead.
    let r = ours_with_input(d, &["object.builder", "set_zone", "z4", "5"], "y\n");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("(y/N) d6r1z5"), "{}", r.stdout);
    let r = ours_with_input(d, &["object.builder", "remove", "z5"], "n\n");
    assert_eq!(r.code, 2);
    assert!(r.stdout.ends_with("(y/N) Aborting device removals\n"));
    let r = ours(d, &[]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("swift-ring-builder 1.3\n"));
}

#[test]
fn man_page_covers_every_command() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("man/swift-ring-builder.1"),
    )
    .unwrap();
    for (command, _) in ferroswift::cli::ring_builder::help::DOCS {
        if *command != "default" {
            assert!(
                page.contains(&command.replace('_', "\\_")) || page.contains(command),
                "{command}"
            );
        }
    }
    for flag in [
        "\\-\\-json",
        "\\-\\-dry\\-run",
        "\\-\\-force",
        "\\-\\-seed",
        "\\-\\-recalculate",
        "\\-\\-dev\\-id\\-bytes",
    ] {
        assert!(page.contains(flag), "{flag}");
    }
}
