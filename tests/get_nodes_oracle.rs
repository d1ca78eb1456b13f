//! `swift-get-nodes` against Swift's own tool, run live from the Swift
//! virtualenv (`FERROSWIFT_SWIFT_VENV`), on cases beyond the recorded
//! transcript: unicode and spaces, slashes, quoting, policies and aliases,
//! IPv6 rings, fractional replicas, option syntax and errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SWIFT_CONF: &str = "\
[swift-hash]
swift_hash_path_prefix = pre
swift_hash_path_suffix = changeme

[storage-policy:0]
name = gold
aliases = yellow, Orange
default = yes

[storage-policy:1]
name = silver

[storage-policy:2]
name = bronze
";

/// Builds a ring with Swift on IPv6 addresses (two regions).
const MAKE_V6_RING: &str = "
import sys
from swift.common.ring import RingBuilder
b = RingBuilder(8, 3, 1)
for i in range(8):
    b.add_dev({'id': i, 'region': 1 + i % 2, 'zone': 1 + i % 4,
               'ip': 'fd00::%d' % (i // 2 + 1), 'port': 6200 + i % 2,
               'device': 'sd%s' % 'abcdefgh'[i], 'weight': 100.0})
b.rebalance(seed=7)
b.get_ring().save(sys.argv[1])
";

fn swift_tool() -> PathBuf {
    common::swift_script("swift-get-nodes")
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let reference = common::reference_dir();
    std::fs::write(p.join("swift.conf"), SWIFT_CONF).unwrap();
    std::fs::copy(
        reference.join("S1/object.ring.gz"),
        p.join("object.ring.gz"),
    )
    .unwrap();
    std::fs::copy(
        reference.join("S6/v2/object.ring.gz"),
        p.join("object-1.ring.gz"),
    )
    .unwrap();
    std::fs::copy(
        reference.join("S2/object.ring.gz"),
        p.join("account.ring.gz"),
    )
    .unwrap();
    let v6 = p.join("object-2.ring.gz");
    common::run_swift_python(MAKE_V6_RING, &[v6.to_str().unwrap()]);
    std::fs::copy(&v6, p.join("container.ring.gz")).unwrap();
    let bad = p.join("nohash");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("swift.conf"),
        "[swift-hash]\nswift_hash_path_prefix =\n",
    )
    .unwrap();
    dir
}

fn run(program: &Path, python: bool, dir: &Path, argv: &[&str]) -> Output {
    let mut cmd = if python {
        let mut c = Command::new(common::swift_python());
        c.arg(program);
        c
    } else {
        let mut c = Command::new(program);
        c.env("FERROSWIFT_RING_CACHE_DIR", common::ring_cache_dir());
        c
    };
    cmd.args(argv).current_dir(dir).output().unwrap()
}

const CASES: &[&[&str]] = &[
    &[
        "-d",
        ".",
        "object.ring.gz",
        "AUTH_tést",
        "con tainer",
        "ob/ject/ with spaces/",
    ],
    &["-d", ".", "object.ring.gz", "/AUTH_test/c/o/"],
    &["-d", ".", "object.ring.gz", "AUTH_test/c/"],
    &["-d", ".", "object.ring.gz", "AUTH_test//o"],
    &["-d", ".", "object.ring.gz", "AUTH_test", "", "o"],
    &[
        "-d",
        ".",
        "-Q",
        "object.ring.gz",
        "AUTH_test",
        "c%20d",
        "%E5%AE%B9%zz%FF%",
    ],
    &["-d", ".", "-Q", "object.ring.gz", "%2FAUTH_q%2Fc%2Fo%2Fp"],
    &[
        "-d",
        ".",
        "object.ring.gz",
        "AUTH_\u{1F600}",
        "c\u{301}",
        "o~-_.!*'()",
    ],
    &["-d", ".", "object-2.ring.gz", "AUTH_v6", "c", "o"],
    &["-d", ".", "container.ring.gz", "AUTH_v6", "c"],
    &["-d", ".", "-a", "container.ring.gz", "AUTH_v6", "c"],
    &["-d", ".", "object-2.ring.gz", "-p", "17", "--all"],
    &["-d", ".", "object-1.ring.gz", "AUTH_test", "photos", "frac"],
    &["-d", ".", "-a", "object-1.ring.gz", "-p", "16383"],
    &["-d", ".", "object-1.ring.gz", "-p", "0"],
    &["-d", ".", "-P", "silver", "AUTH_test", "c", "o"],
    &["-d", ".", "-P", "YELLOW", "-p", "7"],
    &["-d", ".", "--policy-name=orange", "AUTH_test", "c", "o"],
    &["-d", ".", "-P", "gold", "AUTH_test"],
    &["-d", ".", "-P", "silver", "AUTH_test", "c"],
    &["-d", ".", "-P", "silver", "-p", "3", "AUTH_test"],
    &["-d", ".", "-P", "nosuch", "-p", "1"],
    &["-d", ".", "-P", "Policy-0", "-p", "1"],
    &["-d", ".", "object.ring.gz", "-p", "0"],
    &["-d", ".", "object.ring.gz", "-p", " +1_0 "],
    &["-d", ".", "object.ring.gz", "-p", "", "AUTH_test"],
    &["-d", ".", "account.ring.gz", "-p", "3", "AUTH_test", "c"],
    &[
        "-d",
        ".",
        "object.ring.gz",
        "AUTH_test",
        "-a",
        "c",
        "--",
        "-o",
    ],
    &["-d", ".", "-aQ", "object.ring.gz", "a"],
    &["-d", "./", "--part=9", "object.ring.gz"],
    &["-d", ".", "object.ring.gz", ""],
    &["-d", ".", "object.ring.gz", "///"],
    &["-d", ".", "AUTH_test"],
    &["-d", ".", "-x"],
    &["-d", ".", "--p", "3"],
    &["-d", ".", "-p"],
    &["--all=1"],
    &["-h"],
    &["--he", "-x"],
    &["-d", "nohash", "object.ring.gz", "AUTH_test"],
];

#[test]
fn same_bytes_and_exit_codes_as_swift() {
    let dir = setup();
    let swift = swift_tool();
    let ours = common::bin("swift-get-nodes");
    let mut failures = Vec::new();
    for argv in CASES {
        let theirs = run(&swift, true, dir.path(), argv);
        let mine = run(&ours, false, dir.path(), argv);
        let show = |o: &Output| {
            format!(
                "exit {:?}\n--- stdout\n{}--- stderr\n{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        if theirs.stdout != mine.stdout
            || theirs.stderr != mine.stderr
            || theirs.status.code() != mine.status.code()
        {
            failures.push(format!(
                "{argv:?}\n=== Swift: {}\n=== ours: {}",
                show(&theirs),
                show(&mine)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
