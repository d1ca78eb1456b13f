//! `swift-get-nodes` against Swift's recorded outputs: every invocation of
//! `get-nodes-transcript.txt`, and each scenario's `get-nodes*.stdout.txt`.

mod common;

use std::path::Path;
use std::process::Output;

/// The transcript's invocations, as argv (the transcript prints them joined
/// by single spaces, without shell quoting).
const TRANSCRIPT_ARGV: &[&[&str]] = &[
    &[
        "-d",
        ".",
        "object.ring.gz",
        "AUTH_test",
        "photos",
        "photos/2024/img 001.jpg",
    ],
    &[
        "-d",
        ".",
        "-a",
        "object.ring.gz",
        "AUTH_test",
        "photos",
        "photos/2024/img 001.jpg",
    ],
    &[
        "-d",
        ".",
        "object.ring.gz",
        "AUTH_test/photos/photos/2024/img 001.jpg",
    ],
    &[
        "-d",
        ".",
        "-Q",
        "object.ring.gz",
        "AUTH_test/photos/photos%2F2024%2Fimg%20001.jpg",
    ],
    &[
        "-d",
        ".",
        "object.ring.gz",
        "AUTH_ünïcødé",
        "容器",
        "résumé.pdf",
    ],
    &["-d", ".", "account.ring.gz", "AUTH_test"],
    &["-d", ".", "container.ring.gz", "AUTH_test", "photos"],
    &["-d", ".", "object.ring.gz", "AUTH_test"],
    &["-d", ".", "object.ring.gz", "AUTH_test", "photos"],
    &["-d", ".", "object-1.ring.gz", "AUTH_test", "photos", "obj"],
    &["-d", ".", "object.ring.gz", "-p", "5"],
    &["-d", ".", "account.ring.gz", "-p", "5"],
    &["-d", ".", "object-1.ring.gz", "-p", "5"],
    &["-d", ".", "-P", "Policy-0", "AUTH_test", "photos", "obj"],
    &["-d", ".", "-P", "Policy-0", "-p", "5"],
    &["-d", ".", "-P", "nosuch", "AUTH_test", "photos", "obj"],
    &["-d", ".", "object.ring.gz"],
    &["-d", ".", "nosuch.ring.gz", "AUTH_test"],
    &["-d", ".", "object.ring.gz", "a", "b", "c", "d"],
    &["-d", ".", "object.ring.gz", "", "c", "o"],
    &["--help"],
];

/// A working directory like the transcript's: swift.conf and S1's ring
/// under four names.
pub fn transcript_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let reference = common::reference_dir();
    std::fs::copy(reference.join("swift.conf"), dir.path().join("swift.conf")).unwrap();
    for name in ["object", "account", "container", "object-1"] {
        std::fs::copy(
            reference.join("S1/object.ring.gz"),
            dir.path().join(format!("{name}.ring.gz")),
        )
        .unwrap();
    }
    dir
}

fn ours(dir: &Path, argv: &[&str]) -> Output {
    common::bin_command("swift-get-nodes")
        .args(argv)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// (command line, combined output, exit code) for each transcript entry.
fn transcript() -> Vec<(String, String, i32)> {
    let text =
        std::fs::read_to_string(common::reference_dir().join("get-nodes-transcript.txt")).unwrap();
    let mut entries = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        if let Some(cmd) = line.strip_prefix("$ swift-get-nodes") {
            current = Some((
                cmd.trim_end_matches('\n')
                    .trim_start_matches(' ')
                    .to_owned(),
                String::new(),
            ));
        } else if let Some(code) = line.strip_prefix("[exit ") {
            let (cmd, out) = current.take().unwrap();
            let code: i32 = code.trim_end().trim_end_matches(']').parse().unwrap();
            // The transcript separates entries with one blank line.
            entries.push((cmd, out, code));
        } else if let Some((_, out)) = current.as_mut() {
            out.push_str(line);
        }
    }
    entries
}

#[test]
fn transcript_invocations_match_byte_for_byte() {
    let entries = transcript();
    assert_eq!(entries.len(), TRANSCRIPT_ARGV.len());
    let dir = transcript_dir();
    for ((cmd, expected, code), argv) in entries.iter().zip(TRANSCRIPT_ARGV) {
        assert_eq!(
            &argv.join(" "),
            cmd,
            "argv table out of step with the transcript"
        );
        let out = ours(dir.path(), argv);
        let combined = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(&combined, expected, "output of `swift-get-nodes {cmd}`");
        assert_eq!(
            out.status.code(),
            Some(*code),
            "exit code of `swift-get-nodes {cmd}`"
        );
    }
}

#[test]
fn scenario_outputs_match_byte_for_byte() {
    let reference = common::reference_dir();
    let d = reference.to_str().unwrap();
    let mut compared = 0;
    for scenario in [
        "S1",
        "S2",
        "S3",
        "S6",
        "S4/step0-base",
        "S4/step1-r2-3pct",
        "S4/step8-r2-33pct",
        "S5/step0-S2",
        "S5/step1-remove-server-10.1.1.1",
        "S5/step2-weight0-d10",
    ] {
        let dir = reference.join(scenario);
        for (file, all) in [
            ("get-nodes.stdout.txt", false),
            ("get-nodes-a.stdout.txt", true),
        ] {
            let Ok(expected) = std::fs::read_to_string(dir.join(file)) else {
                continue;
            };
            for ring in ["object.ring.gz", "v2/object.ring.gz"] {
                let ring = dir.join(ring);
                let mut argv = vec![
                    "-d",
                    d,
                    ring.to_str().unwrap(),
                    "AUTH_test",
                    "photos",
                    "photos/2024/img 001.jpg",
                ];
                if all {
                    argv.insert(0, "-a");
                }
                let out = ours(&reference, &argv);
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    expected,
                    "{} {file}",
                    ring.display()
                );
                assert!(
                    out.stderr.is_empty(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_eq!(out.status.code(), Some(0));
                compared += 1;
            }
        }
    }
    assert!(compared >= 26, "compared {compared}");
}

#[test]
fn readme_main_job_command_works() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = ours(
        root,
        &[
            "-d",
            "tests/fixtures/reference",
            "tests/fixtures/reference/S1/object.ring.gz",
            "AUTH_test",
            "photos",
            "cat.jpg",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Partition\t557\n"));
}
