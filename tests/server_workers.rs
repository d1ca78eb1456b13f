//! Storage servers with `workers = N`: N worker processes behind one
//! parent, a dead worker replaced, all stopped by SIGTERM; and `OPTIONS`
//! answered with `Allow` and `Server` as Swift's servers answer it.

#[path = "server_util/mod.rs"]
mod server_util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use server_util::{spawn, Site};

fn children(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn options(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"OPTIONS / HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.to_ascii_lowercase()
}

#[test]
fn workers_are_processes_replaced_and_stopped_together() {
    let site = Site::new();
    let mut server = spawn(&site, "object", "workers = 3");
    let pid = server.child.id();
    wait_for("3 workers", || children(pid).len() == 3);
    let first = children(pid);
    // Every worker serves the shared socket.
    for _ in 0..6 {
        assert!(options(server.port).starts_with("http/1.0 200"));
    }
    // A worker killed outright is replaced.
    unsafe { libc::kill(first[0], libc::SIGKILL) };
    wait_for("a replacement worker", || {
        let now = children(pid);
        now.len() == 3 && !now.contains(&first[0])
    });
    let workers = children(pid);
    // SIGTERM stops them all; the parent exits cleanly after the last.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    for w in workers {
        wait_for("worker gone", || {
            !std::path::Path::new(&format!("/proc/{w}")).exists()
                || std::fs::read_to_string(format!("/proc/{w}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        });
    }
}

#[test]
fn options_names_the_server_and_its_methods() {
    let site = Site::new();
    for (kind, allow) in [
        (
            "object",
            "DELETE, GET, HEAD, OPTIONS, POST, PUT, REPLICATE, SSYNC",
        ),
        (
            "container",
            "DELETE, GET, HEAD, OPTIONS, POST, PUSHDB, PUT, REPLICATE",
        ),
        (
            "account",
            "DELETE, GET, HEAD, OPTIONS, POST, PUSHDB, PUT, REPLICATE",
        ),
    ] {
        let server = spawn(&site, kind, "");
        let head = options(server.port);
        assert!(head.starts_with("http/1.0 200"), "{kind}: {head}");
        assert!(
            head.contains(&format!("\r\nallow: {}\r\n", allow.to_ascii_lowercase())),
            "{kind}: {head}"
        );
        assert!(
            head.contains(&format!("\r\nserver: {kind}-server/")),
            "{kind}: {head}"
        );
    }
}
