//! Helpers for the `swift-ring-builder` tests: running our tool and Swift's,
//! masking what differs by nature, and reading the reference transcript.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::common;

/// Output and exit code of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

fn run_in(exe: &Path, dir: &Path, args: &[&str], stdin: &str) -> Run {
    let out = common::output_with_input(
        Command::new(exe).args(args).current_dir(dir),
        stdin.as_bytes(),
    );
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Runs our `swift-ring-builder` in `dir`.
pub fn ours(dir: &Path, args: &[&str]) -> Run {
    run_in(&common::bin("swift-ring-builder"), dir, args, "")
}

/// Runs ours with `stdin` as the answers to prompts.
pub fn ours_with_input(dir: &Path, args: &[&str], stdin: &str) -> Run {
    run_in(&common::bin("swift-ring-builder"), dir, args, stdin)
}

/// Swift's own `swift-ring-builder` from the oracle virtualenv.
pub fn swift_tool() -> PathBuf {
    common::swift_script("swift-ring-builder")
}

/// Runs Swift's `swift-ring-builder` in `dir`.
pub fn swift(dir: &Path, args: &[&str]) -> Run {
    run_in(&swift_tool(), dir, args, "")
}

/// Masks what legitimately differs between runs: builder ids and the
/// `(H:MM:SS remaining)` countdown.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut l = line.to_string();
        if let Some(pos) = l.find(", id ") {
            let id = &l[pos + 5..].trim_end().to_string();
            if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                l = format!(
                    "{}, id <ID>{}",
                    &l[..pos],
                    if line.ends_with('\n') { "\n" } else { "" }
                );
            }
        }
        if let (Some(open), Some(close)) = (l.rfind('('), l.rfind(" remaining)")) {
            if open < close {
                l = format!(
                    "{}(<T> remaining){}",
                    &l[..open],
                    &l[close + " remaining)".len()..]
                );
            }
        }
        out.push_str(&l);
    }
    out
}

/// One command of the reference transcript.
#[derive(Debug, Clone)]
pub struct Step {
    pub section: String,
    pub args: Vec<String>,
    pub expected: String,
    /// `None` when the transcript truncated the output (then `expected`
    /// is a prefix).
    pub code: Option<i32>,
}

/// Splits a command line the way the transcript printed it (plain words;
/// a trailing empty argument is kept when the line ends with a space).
fn words(cmd: &str) -> Vec<String> {
    if cmd.is_empty() {
        return Vec::new();
    }
    let mut args: Vec<String> = cmd.split(' ').map(String::from).collect();
    // "--change-meta " ends with an empty argument.
    if args.last().is_some_and(|a| a.is_empty()) {
        return args;
    }
    args.retain(|a| !a.is_empty());
    args
}

/// Parses `cli-transcript.txt` into steps.
pub fn transcript() -> Vec<Step> {
    let text = std::fs::read_to_string(common::reference_dir().join("cli-transcript.txt"))
        .expect("transcript");
    let mut steps = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(s) = line.strip_prefix("=== ") {
            section = s.trim_end_matches(" ===").to_string();
            continue;
        }
        let Some(cmd) = line.strip_prefix("$ swift-ring-builder") else {
            continue;
        };
        let (cmd, truncated) = match cmd.find("    (output truncated") {
            Some(i) => (&cmd[..i], true),
            None => (cmd, false),
        };
        let args = words(cmd.strip_prefix(' ').unwrap_or(cmd));
        let mut expected = String::new();
        let mut code = None;
        while let Some(&next) = lines.peek() {
            if next.starts_with("$ ") || next.starts_with("=== ") {
                break;
            }
            lines.next();
            if let Some(c) = next.strip_prefix("[exit ") {
                code = c.trim_end_matches(']').parse().ok();
                lines.next_if(|l| l.is_empty());
                break;
            }
            expected.push_str(next);
            expected.push('\n');
        }
        if truncated {
            expected = expected.trim_end_matches('\n').to_string() + "\n";
        }
        steps.push(Step {
            section: section.clone(),
            args,
            expected,
            code,
        });
    }
    steps
}
