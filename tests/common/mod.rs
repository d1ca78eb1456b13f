//! Helpers shared by the integration tests: fixture paths and the Swift oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `tests/fixtures/reference`: rings, builders and outputs made by Swift 2.38.3.
pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference")
}

/// One reference scenario directory, e.g. `reference("S1")` or `reference("S4/step1-r2-3pct")`.
pub fn reference(scenario: &str) -> PathBuf {
    reference_dir().join(scenario)
}

/// The Python interpreter of the virtualenv that holds Swift 2.38.3.
///
/// Tests that compare against Swift must really run it: when the virtualenv
/// is missing this panics with instructions rather than skipping.
pub fn swift_python() -> PathBuf {
    let venv = std::env::var_os("FERROSWIFT_SWIFT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-swift"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "Swift oracle not found at {}: run `scripts/swift-venv` (or `scripts/test`), \
         or set FERROSWIFT_SWIFT_VENV",
        venv.display()
    );
    python
}

/// One of the scripts the Swift oracle's virtualenv installs next to its
/// Python (`swift-ring-builder`, `swift-recon`, ...).
pub fn swift_script(name: &str) -> PathBuf {
    swift_python().with_file_name(name)
}

/// Runs a Python snippet with Swift importable; panics (with stderr) if it fails.
pub fn run_swift_python(script: &str, args: &[&str]) -> Output {
    let out = Command::new(swift_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("failed to start the Swift oracle's python");
    assert!(
        out.status.success(),
        "Swift oracle script failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Path of one of this package's binaries, built by cargo for the tests.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join(name)
}

/// The decoded-ring cache directory for our binaries that tests start: the
/// one the test run chose (`scripts/test` sets one for the whole run), else
/// one in cargo's temporary directory, so that tests never write into the
/// user's own cache (`$HOME/.cache/ferroswift/rings`).
pub fn ring_cache_dir() -> PathBuf {
    std::env::var_os("FERROSWIFT_RING_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("ring-cache"))
}

/// A command running one of this package's binaries with its decoded-ring
/// cache in [`ring_cache_dir`].
pub fn bin_command(name: &str) -> Command {
    let mut command = Command::new(bin(name));
    command.env("FERROSWIFT_RING_CACHE_DIR", ring_cache_dir());
    command
}

/// Runs one of Swift's `swift-*-info` tools on `file` with `swift_dir`'s
/// swift.conf; panics (with its output) unless it succeeds, else returns
/// its standard output.
pub fn swift_info(tool: &str, swift_dir: &Path, file: &Path) -> String {
    let exe = swift_script(tool);
    let res = Command::new(exe)
        .arg("--swift-dir")
        .arg(swift_dir)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    let text = String::from_utf8_lossy(&res.stdout).into_owned();
    assert!(
        res.status.success(),
        "{tool}: {text}{}",
        String::from_utf8_lossy(&res.stderr)
    );
    text
}

/// A loopback port free right now, below the kernel's ephemeral range
/// (32768 and up by default) and below the all-in-one clusters' ports
/// (20000 and up), handed out once per test process.
///
/// Ports from `bind(0)` come from the ephemeral range, where the servers'
/// own outgoing connections (replicators, updaters, proxies) take ports
/// too, and two parallel tests could each be handed the same released
/// port. Here each process walks its own stretch of 10000–19999 from a
/// start drawn from its pid and clock, and skips ports it cannot bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10000;
    const SPAN: u32 = 10000;
    let start = *START.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        (std::process::id().wrapping_mul(2654435761) ^ nanos) % SPAN
    });
    for _ in 0..SPAN {
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + i) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 10000-19999");
}

/// Every file below `dir` (none if it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs a command, panicking with its output if it fails; returns the output.
pub fn succeed(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command with `input` on its standard input (a command that exits
/// without reading all of it is no error here) and returns its output.
pub fn output_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait")
}

/// Runs a command, panicking with its output if it fails; returns stdout.
pub fn check(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&succeed(cmd).stdout).into_owned()
}

/// Runs a daemon binary for one pass (`bin CONF -o`, then `extra`),
/// panicking with its output if it fails; returns its log (standard error).
pub fn run_once(bin: impl AsRef<std::ffi::OsStr>, conf: &Path, extra: &[&str]) -> String {
    let out = succeed(Command::new(bin).arg(conf).arg("-o").args(extra));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One HTTP request through reqwest, blocking the calling thread: the
/// status, headers and body of the answer.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = reqwest::Client::new().request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body.into()).send().await.expect("request");
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        (status, h, resp.bytes().await.unwrap().to_vec())
    })
}

/// The bytes of a request head written by hand: `start` (the request line
/// and any fixed header lines, each ending in CRLF), a Content-Length of
/// `body_len`, `headers`, then the blank line.
pub fn request_head(start: &[u8], body_len: usize, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut req = start.to_vec();
    req.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
    for (k, v) in headers {
        req.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req
}

/// Where the head of an answer read off the wire ends (the offset of its
/// blank line), if all of it arrived.
pub fn head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n")
}

/// An answer head's status (`None` when the status line has no number)
/// and headers, names lower-cased and values trimmed.
pub fn parse_head(head: &[u8]) -> (Option<u16>, Vec<(String, String)>) {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// The bytes of the first gzip member of `gz`.
pub fn gunzip(gz: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// [`gunzip`] of the file at `path`.
pub fn gunzip_file(path: &Path) -> Vec<u8> {
    gunzip(&std::fs::read(path).unwrap())
}

/// The MD5 of `data` in lower-case hex, as an ETag spells it.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
