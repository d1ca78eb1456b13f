//! Replays Swift's `cli-transcript.txt` against our `swift-ring-builder`.
//!
//! Every command runs with our tool except the rebalances that reassign
//! partitions: those run Swift's own tool on the builder files we wrote, so
//! the state (and every number printed afterwards) matches the transcript.
//! That also proves Swift reads each builder we save. Output is compared
//! line for line with only the builder id and the min_part_hours countdown
//! masked; exit codes must match.

mod common;
mod ring_builder_support;

use ring_builder_support::{mask, ours, swift, transcript, Run};

/// The transcript prints `set_info`'s change value unquoted; it was one argument.
fn fix_quoting(mut args: Vec<String>) -> Vec<String> {
    if let Some(i) = args.iter().position(|a| a.ends_with("/sdx_new")) {
        if args.get(i + 1).map(String::as_str) == Some("meta") {
            args[i] = format!("{} meta", args[i]);
            args.remove(i + 1);
        }
    }
    args
}

#[test]
fn cli_transcript_replays_line_for_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let steps = transcript();
    assert!(
        steps.len() > 60,
        "transcript parsed into {} steps",
        steps.len()
    );
    let mut failures = Vec::new();
    for step in steps {
        let args = fix_quoting(step.args.clone());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        // Set-up the transcript script did off-camera.
        if argv.first() == Some(&"few/x.builder") && !d.join("few").exists() {
            std::fs::create_dir(d.join("few")).unwrap();
            assert_eq!(
                ours(d, &["few/x.builder", "create", "10", "3", "1"]).code,
                0
            );
            let add = [
                "few/x.builder",
                "add",
                "r1z1-10.9.0.1:6200/sda",
                "1",
                "r1z2-10.9.0.2:6200/sda",
                "1",
            ];
            assert_eq!(ours(d, &add).code, 0);
        }
        if argv.first().is_some_and(|a| a.starts_with("rec/")) && !d.join("rec").exists() {
            std::fs::create_dir(d.join("rec")).unwrap();
            std::fs::copy(d.join("object.ring.gz"), d.join("rec/object.ring.gz")).unwrap();
        }
        let swift_rebalance = argv.get(1) == Some(&"rebalance")
            && (step.expected.contains("Reassigned") || step.expected.contains("No partitions"));
        let run: Run = if swift_rebalance {
            swift(d, &argv)
        } else {
            ours(d, &argv)
        };
        let got = mask(&format!("{}{}", run.stderr, run.stdout));
        let want = mask(&step.expected);
        let ok = match step.code {
            Some(code) => got == want && run.code == code,
            None => got.starts_with(&want),
        };
        if !ok {
            failures.push(format!(
                "$ swift-ring-builder {}  [{}]\n--- expected (exit {:?})\n{want}--- got (exit {})\n{got}",
                args.join(" "),
                if swift_rebalance { "Swift's tool" } else { "ours" },
                step.code,
                run.code
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
