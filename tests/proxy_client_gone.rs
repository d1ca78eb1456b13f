//! Object writes whose client goes away, on an all-in-one cluster, as
//! Swift's proxy treats them: a PUT whose body the proxy has received in
//! full is finished (every primary stores the object and the container
//! lists it) however soon the client closes its connection, and the proxy
//! logs it; a client that leaves half-way through the body gets no object
//! anywhere (the proxy answers 499 and aborts the backend requests, so the
//! object servers discard what they got). Object POST and DELETE and
//! container PUT are finished the same way.

mod aio_util;

use std::io::Write;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use aio_util::{raw_http, token, Aio};
use ferroswift::ring::Ring;

/// How the client leaves.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// Closes as soon as its last byte is written.
    AtOnce,
    /// Waits this many milliseconds, then closes.
    After(u64),
    /// Closes at once with a reset (`SO_LINGER` 0) instead of a FIN.
    Reset,
}

/// How the body is framed.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Length,
    Chunked,
}

/// Sends `PUT path` with `body`, of which only the first `sent` bytes go
/// out, then leaves without reading a byte of the answer.
fn put_and_leave(
    port: u16,
    path: &str,
    tok: &str,
    body: &[u8],
    sent: usize,
    framing: Framing,
    leave: Leave,
) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).unwrap();
    let framing_header = match framing {
        Framing::Length => format!("Content-Length: {}", body.len()),
        Framing::Chunked => "Transfer-Encoding: chunked".to_string(),
    };
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Auth-Token: {tok}\r\n\
         Content-Type: application/octet-stream\r\n{framing_header}\r\n\r\n"
    );
    let mut out = head.into_bytes();
    match framing {
        Framing::Length => out.extend_from_slice(&body[..sent]),
        Framing::Chunked => {
            for piece in body[..sent].chunks(16 * 1024) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            if sent == body.len() {
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
    }
    s.write_all(&out).expect("send the request");
    match leave {
        Leave::AtOnce => {}
        Leave::After(ms) => std::thread::sleep(Duration::from_millis(ms)),
        Leave::Reset => {
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: setsockopt(2) on the socket `s` owns, with a linger
            // struct that outlives the call and its exact size.
            let rc = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0, "SO_LINGER");
        }
    }
    drop(s);
}

/// Sends a request without a body, with `headers`, and closes at once.
fn send_and_leave(port: u16, method: &str, path: &str, tok: &str, headers: &[(&str, &str)]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Auth-Token: {tok}\r\n\
         Content-Length: 0\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("send the request");
}

/// The nodes holding a file ending in `.ext` in the directory of the
/// object whose hash is `hash`.
fn nodes_with(aio: &Aio, hash: &str, ext: &str) -> Vec<u16> {
    let mut nodes: Vec<u16> = (1..=4u16)
        .filter(|n| {
            let objects = aio.dir.join(format!("srv/{n}/sd{n}/objects"));
            aio_util::files_under(&objects).iter().any(|p| {
                p.parent().and_then(|d| d.file_name()) == Some(hash.as_ref())
                    && p.extension().is_some_and(|x| x == ext)
            })
        })
        .collect();
    nodes.sort();
    nodes
}

/// The node numbers (from `sd<N>`) of an object's primaries and its hash.
fn primaries(aio: &Aio, c: &str, o: &str) -> (Vec<u16>, String) {
    let data = ferroswift::conf::ring_file::load_ring(aio.dir.join("etc/object.ring.gz")).unwrap();
    let ring = Ring::new(data).unwrap();
    let salt = aio_util::salt(aio);
    let part = ring.get_part(&salt, "AUTH_test", Some(c), Some(o)).unwrap();
    let mut nodes: Vec<u16> = ring
        .get_part_nodes(part)
        .iter()
        .map(|n| n.device.device.trim_start_matches("sd").parse().unwrap())
        .collect();
    nodes.sort();
    let hash = salt.hash_path_hex("AUTH_test", Some(c), Some(o)).unwrap();
    (nodes, hash)
}

/// The nodes holding a `.data` file of the object whose hash is `hash`,
/// and that file's size on each.
fn holders(aio: &Aio, hash: &str) -> Vec<(u16, u64)> {
    aio.data_files()
        .into_iter()
        .filter(|(_, _, p)| p.parent().and_then(|d| d.file_name()) == Some(hash.as_ref()))
        .map(|(n, _, p)| (n, std::fs::metadata(&p).map_or(0, |m| m.len())))
        .collect()
}

/// The container's plain listing.
fn listing(port: u16, tok: &str, c: &str) -> Vec<String> {
    let (status, _, body) = raw_http(
        port,
        "GET",
        format!("/v1/AUTH_test/{c}"),
        &[("X-Auth-Token", tok)],
        b"",
    );
    assert!(status == 200 || status == 204, "listing {c}: {status}");
    String::from_utf8_lossy(&body)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Lines of the proxy's log naming `path`.
fn logged(aio: &Aio, path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(aio.dir.join("log/proxy-server.log")).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains(&format!(" {path} ")))
        .map(str::to_string)
        .collect()
}

/// A cluster with the container `c` made and a token of `test:tester`.
fn cluster(dir: &std::path::Path, c: &str) -> (Aio, String) {
    let aio = Aio::run(dir);
    let tok = token(aio.port, "test:tester", "testing");
    let (status, _, _) = raw_http(
        aio.port,
        "PUT",
        format!("/v1/AUTH_test/{c}"),
        &[("X-Auth-Token", &tok)],
        b"",
    );
    assert_eq!(status, 201, "container PUT");
    (aio, tok)
}

/// Every case: (object name, body size, framing, how the client leaves).
fn cases(prefix: &str, leaving: &[Leave]) -> Vec<(String, usize, Framing, Leave)> {
    let mut out = Vec::new();
    // A small body goes whole in one request per node; a larger one and a
    // chunked one are streamed through `Expect: 100-continue`.
    for (size, framing) in [
        (4096, Framing::Length),
        (300 * 1024, Framing::Length),
        (300 * 1024, Framing::Chunked),
    ] {
        for leave in leaving {
            let name = format!("{prefix}-{size}-{framing:?}-{leave:?}")
                .replace(['(', ')'], "")
                .to_lowercase();
            out.push((name, size, framing, *leave));
        }
    }
    out
}

fn body_of(size: usize, seed: usize) -> Vec<u8> {
    (0..size)
        .map(|i| ((i * 31 + seed * 7) % 251) as u8)
        .collect()
}

/// A client that sends the whole body and goes away before the answer
/// (closing its connection at once or a little later) still gets its
/// object stored on every primary, listed in its container, and its
/// request logged.
#[test]
fn a_write_received_in_full_finishes_when_the_client_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let (aio, tok) = cluster(dir.path(), "gone");
    let leaving = [
        Leave::AtOnce,
        Leave::After(1),
        Leave::After(5),
        Leave::After(20),
    ];
    let cases = cases("whole", &leaving);
    for (i, (name, size, framing, leave)) in cases.iter().enumerate() {
        let body = body_of(*size, i);
        let path = format!("/v1/AUTH_test/gone/{name}");
        put_and_leave(aio.port, &path, &tok, &body, body.len(), *framing, *leave);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut missing = Vec::new();
    loop {
        missing.clear();
        let listed = listing(aio.port, &tok, "gone");
        for (name, size, _, _) in &cases {
            let (want, hash) = primaries(&aio, "gone", name);
            let have = holders(&aio, &hash);
            let nodes: Vec<u16> = have.iter().map(|(n, _)| *n).collect();
            if nodes != want || have.iter().any(|(_, len)| *len != *size as u64) {
                missing.push(format!("{name}: stored on {have:?}, primaries {want:?}"));
            }
            if !listed.contains(name) {
                missing.push(format!("{name}: not listed"));
            }
            let path = format!("/v1/AUTH_test/gone/{name}");
            let lines = logged(&aio, &path);
            if !lines.iter().any(|l| l.contains(" 201 ")) {
                missing.push(format!("{name}: no 201 in the proxy's log: {lines:?}"));
            }
        }
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(missing.is_empty(), "{}\n{}", missing.join("\n"), aio.logs());
}

/// A client that leaves half-way through the body (with a FIN or a reset,
/// at once or a little later) gets no object: none is stored on any node
/// (primary or handoff) and the container does not list it; the proxy logs
/// a 499. A client that resets its connection right after its last byte
/// may take with it bytes the proxy had not read yet (the kernel drops
/// them): its object is then stored everywhere or nowhere, never cut short.
#[test]
fn a_write_cut_short_by_its_client_leaves_no_object() {
    let dir = tempfile::tempdir().unwrap();
    let (aio, tok) = cluster(dir.path(), "cut");
    let leaving = [Leave::AtOnce, Leave::Reset, Leave::After(5)];
    let half = cases("half", &leaving);
    let reset = cases("reset", &[Leave::Reset]);
    for (i, (name, size, framing, leave)) in half.iter().enumerate() {
        let body = body_of(*size, i);
        let path = format!("/v1/AUTH_test/cut/{name}");
        put_and_leave(aio.port, &path, &tok, &body, size / 2, *framing, *leave);
    }
    for (i, (name, size, framing, leave)) in reset.iter().enumerate() {
        let body = body_of(*size, i);
        let path = format!("/v1/AUTH_test/cut/{name}");
        put_and_leave(aio.port, &path, &tok, &body, *size, *framing, *leave);
    }
    // Once the proxy has logged each request, give the object servers a
    // moment to end theirs.
    let deadline = Instant::now() + Duration::from_secs(15);
    let unlogged = |aio: &Aio| -> Vec<String> {
        let cut = half.iter().map(|c| (c, &[" 499 "][..]));
        let whole = reset.iter().map(|c| (c, &[" 201 ", " 499 "][..]));
        cut.chain(whole)
            .map(|((name, _, _, _), statuses)| (format!("/v1/AUTH_test/cut/{name}"), statuses))
            .filter(|(p, statuses)| {
                !logged(aio, p)
                    .iter()
                    .any(|l| statuses.iter().any(|s| l.contains(s)))
            })
            .map(|(p, _)| p)
            .collect()
    };
    while !unlogged(&aio).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        unlogged(&aio),
        Vec::<String>::new(),
        "requests the proxy has not logged as expected\n{}",
        aio.logs()
    );
    std::thread::sleep(Duration::from_secs(1));
    let listed = listing(aio.port, &tok, "cut");
    let listed = |name: &String| listed.contains(name);
    let mut found = Vec::new();
    for (name, _, _, _) in &half {
        let (_, hash) = primaries(&aio, "cut", name);
        let have = holders(&aio, &hash);
        if !have.is_empty() {
            found.push(format!("{name}: stored on {have:?}"));
        }
        if listed(name) {
            found.push(format!("{name}: listed"));
        }
    }
    for (name, size, _, _) in &reset {
        let (want, hash) = primaries(&aio, "cut", name);
        let have = holders(&aio, &hash);
        let everywhere = have.iter().map(|(n, _)| *n).collect::<Vec<_>>() == want
            && have.iter().all(|(_, len)| *len == *size as u64)
            && listed(name);
        if !everywhere && (!have.is_empty() || listed(name)) {
            let shown = listed(name);
            found.push(format!(
                "{name}: stored on {have:?} (primaries {want:?}), listed: {shown}"
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// POST and DELETE of objects and a container PUT go on to their end too
/// when the client closes its connection right after sending them: every
/// primary gets the metadata or the tombstone, the listing drops the
/// deleted object, and the account lists the new container.
#[test]
fn posts_deletes_and_container_writes_finish_when_the_client_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let (aio, tok) = cluster(dir.path(), "other");
    for o in ["posted", "deleted"] {
        let path = format!("/v1/AUTH_test/other/{o}");
        let (status, _, _) = raw_http(aio.port, "PUT", &path, &[("X-Auth-Token", &tok)], b"x");
        assert_eq!(status, 201, "PUT {o}");
    }
    let meta = [("X-Object-Meta-Color", "blue")];
    send_and_leave(aio.port, "POST", "/v1/AUTH_test/other/posted", &tok, &meta);
    send_and_leave(aio.port, "DELETE", "/v1/AUTH_test/other/deleted", &tok, &[]);
    send_and_leave(aio.port, "PUT", "/v1/AUTH_test/made", &tok, &[]);
    let (posted, posted_hash) = primaries(&aio, "other", "posted");
    let (deleted, deleted_hash) = primaries(&aio, "other", "deleted");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut missing = Vec::new();
    loop {
        missing.clear();
        let metas = nodes_with(&aio, &posted_hash, "meta");
        if metas != posted {
            missing.push(format!("posted: .meta on {metas:?}, primaries {posted:?}"));
        }
        let tombs = nodes_with(&aio, &deleted_hash, "ts");
        if tombs != deleted {
            missing.push(format!("deleted: .ts on {tombs:?}, primaries {deleted:?}"));
        }
        if listing(aio.port, &tok, "other").contains(&"deleted".to_string()) {
            missing.push("deleted: still listed".to_string());
        }
        let (_, _, body) = raw_http(
            aio.port,
            "GET",
            "/v1/AUTH_test",
            &[("X-Auth-Token", &tok)],
            b"",
        );
        if !String::from_utf8_lossy(&body).lines().any(|l| l == "made") {
            missing.push("made: not listed in the account".to_string());
        }
        for (path, status) in [
            ("/v1/AUTH_test/other/posted", " 202 "),
            ("/v1/AUTH_test/other/deleted", " 204 "),
            ("/v1/AUTH_test/made", " 201 "),
        ] {
            let lines = logged(&aio, path);
            if !lines
                .iter()
                .any(|l| l.contains(status) && !l.contains(" GET "))
            {
                missing.push(format!("{path}: not logged with{status}: {lines:?}"));
            }
        }
        if missing.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(missing.is_empty(), "{}\n{}", missing.join("\n"), aio.logs());
}
