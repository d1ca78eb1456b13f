//! Small answers of our proxy compared with Swift's own proxy over the same
//! all-in-one cluster (Swift's first, then ours; a line per answer, which
//! must match): server-side copies (the headers a copy answers with, and
//! the order in which a copy request is checked), raw control bytes in a
//! request path, a client that half-closes its connection, and tempauth
//! over several reseller prefixes, copies of a source whose replicas
//! disagree (read with `X-Newest`), object writes whose content type has
//! `swift_*` parameters (and reads of such a type), and HTTP/1.0 requests.
//! Object writes that break Swift's rules are answered in Swift's order
//! and words. Container listings of a `swift_bytes` content type are
//! compared with Swift's container server.

mod aio_util;
mod server_util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use aio_util::{
    another_proxy, bin, compare_runs, one_cluster_at_a_time, raw_http, swift_proxy, token, Aio,
    MemcachedCluster, Recorded,
};

/// Headers compared on every answer (with every `x-object-meta-*`).
const COMPARED: &[&str] = &[
    "content-type",
    "x-copied-from",
    "x-copied-from-account",
    "x-delete-at",
    "www-authenticate",
];

/// One proxy's answers to a scenario.
type Run = Recorded;

/// The request of these scenarios, and what it records of the answer.
trait Requests {
    fn req(
        &mut self,
        who: Option<&str>,
        method: &str,
        path: &[u8],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>);
}

impl Requests for Run {
    /// Sends a request as `who` (`None`: anonymous), records the answer
    /// and returns it.
    fn req(
        &mut self,
        who: Option<&str>,
        method: &str,
        path: &[u8],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>) {
        let (status, got, text) = self.send(who, method, path, headers, body);
        let mut line = format!(
            "{} {method} {} {headers:?}: {status}",
            who.unwrap_or("-"),
            String::from_utf8_lossy(path).escape_debug()
        );
        let mut shown: Vec<&(String, String)> = got
            .iter()
            .filter(|(k, _)| COMPARED.contains(&k.as_str()) || k.starts_with("x-object-meta-"))
            .collect();
        shown.sort();
        for (k, v) in shown {
            line.push_str(&format!(" {k}={v}"));
        }
        if status >= 400 && status != 401 {
            line.push_str(&format!(" body={:?}", String::from_utf8_lossy(&text)));
        }
        self.lines.push(line);
        (status, got)
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    aio_util::header(h, name)
}

const USERS: &[(&str, &str)] = &[("test:tester", "testing"), ("test:tester3", "testing3")];
const OWNER: Option<&str> = Some("test:tester");
/// A user of the account who is no admin and has no ACL.
const STRANGER: Option<&str> = Some("test:tester3");

/// Copies and what they answer, then copy requests refused for their
/// headers, by users who may not read or write.
fn copy_scenario(r: &mut Run) {
    let c = "/v1/AUTH_test/parity";
    let src = format!("{c}/src");
    let p = |o: &str| format!("{c}/{o}");
    r.req(OWNER, "PUT", c.as_bytes(), &[], b"");
    r.req(
        OWNER,
        "PUT",
        src.as_bytes(),
        &[
            ("X-Object-Meta-Color", "red"),
            ("X-Object-Meta-Size", "big"),
            ("Content-Type", "text/x-src"),
            ("Content-Disposition", "inline"),
            ("X-Delete-At", "4102444800"),
        ],
        b"hello",
    );
    let (_, head) = r.req(OWNER, "HEAD", src.as_bytes(), &[], b"");
    let modified = header(&head, "last-modified").map(str::to_string);
    let copies: &[(&str, &[(&str, &str)])] = &[
        (
            "COPY",
            &[
                ("Destination", "parity/d1"),
                ("X-Object-Meta-Size", "small"),
            ],
        ),
        (
            "COPY",
            &[
                ("Destination", "/parity/d2"),
                ("Content-Type", "text/x-new"),
            ],
        ),
        (
            "PUT d3",
            &[("X-Copy-From", "parity/src"), ("X-Object-Meta-New", "1")],
        ),
        (
            "PUT d4",
            &[
                ("X-Copy-From", "parity/src"),
                ("X-Fresh-Metadata", "true"),
                ("X-Object-Meta-New", "2"),
            ],
        ),
        (
            "PUT d5",
            &[("X-Copy-From", "parity/src"), ("X-Copy-From-Account", "")],
        ),
    ];
    for (what, headers) in copies {
        let (method, path) = match what.split_once(' ') {
            Some((m, o)) => (m, p(o)),
            None => (*what, src.clone()),
        };
        let (status, got) = r.req(OWNER, method, path.as_bytes(), headers, b"");
        assert_eq!(status, 201, "{what} {headers:?}");
        assert_eq!(
            header(&got, "x-copied-from-last-modified").map(str::to_string),
            modified,
            "{what}: the source's Last-Modified"
        );
    }
    r.req(OWNER, "HEAD", p("d1").as_bytes(), &[], b"");
    r.req(OWNER, "HEAD", p("d4").as_bytes(), &[], b"");
    // Malformed copies are refused for their headers before anyone's
    // access is judged.
    let refused: &[(&str, &[(&str, &str)])] = &[
        ("COPY", &[]),
        ("COPY", &[("Destination", "")]),
        ("COPY", &[("Destination", "no-slash")]),
        (
            "COPY",
            &[("Destination", "parity/x"), ("Destination-Account", "")],
        ),
        (
            "COPY",
            &[("Destination", "parity/x"), ("Destination-Account", "a/b")],
        ),
        ("PUT", &[("X-Copy-From", "no-slash")]),
        (
            "PUT",
            &[
                ("X-Copy-From", "parity/src"),
                ("X-Copy-From-Account", "a%2Fb"),
            ],
        ),
    ];
    for who in [OWNER, STRANGER, None] {
        for (method, headers) in refused {
            let (status, _) = r.req(who, method, p("x").as_bytes(), headers, b"");
            assert_eq!(status, 412, "{who:?} {method} {headers:?}");
        }
        let from = [("X-Copy-From", "parity/src")];
        let (status, _) = r.req(who, "PUT", p("x").as_bytes(), &from, b"body");
        assert_eq!(status, 400, "{who:?}: a copy with a body");
    }
    // Well-formed copies by users who may not make them.
    let to = [("Destination", "parity/x")];
    r.req(STRANGER, "COPY", src.as_bytes(), &to, b"");
    r.req(None, "COPY", src.as_bytes(), &to, b"");
    r.req(STRANGER, "COPY", p("missing").as_bytes(), &to, b"");
    r.req(
        STRANGER,
        "PUT",
        p("x").as_bytes(),
        &[("X-Copy-From", "parity/src")],
        b"",
    );
    for o in ["src", "d1", "d2", "d3", "d4", "d5", "x"] {
        r.req(OWNER, "DELETE", p(o).as_bytes(), &[], b"");
    }
    r.req(OWNER, "DELETE", c.as_bytes(), &[], b"");
}

/// Object writes whose `Content-Type` has `swift_*` parameters (Swift's
/// proxy refuses them on a PUT and on a copy's write, once the container
/// is found and the user may write; a POST takes them), and the content
/// type such a POST leaves as reads and copies answer it.
fn content_type_scenario(r: &mut Run) {
    let c = "/v1/AUTH_test/parity-ct";
    let p = |o: &str| format!("{c}/{o}");
    r.req(OWNER, "PUT", c.as_bytes(), &[], b"");
    for (i, ctype) in [
        "text/plain;swift_bytes=5",
        "text/plain; swift_x=1",
        "text/plain; charset=utf-8;\tswift_y",
        "text/plain; charset=utf-8",
        "swift_x/plain",
        "text/plain; a=swift_b",
        "text/plain;swift",
        "application/x; charset=UTF-8; swift_bytes=12345",
        "a/b;swift_bytes=4; z=1",
        "a/b ;  swift_bytes=",
    ]
    .into_iter()
    .enumerate()
    {
        let o = p(&format!("o{i}"));
        r.req(
            OWNER,
            "PUT",
            o.as_bytes(),
            &[("Content-Type", ctype)],
            b"data",
        );
        let guessed = [("Content-Type", ctype), ("X-Detect-Content-Type", "true")];
        r.req(OWNER, "PUT", p("g.txt").as_bytes(), &guessed, b"data");
        let copy = [("Content-Type", ctype), ("Destination", "parity-ct/copy")];
        r.req(OWNER, "COPY", p("src").as_bytes(), &copy, b"");
        r.req(OWNER, "COPY", p("missing").as_bytes(), &copy, b"");
        let from = [("Content-Type", ctype), ("X-Copy-From", "parity-ct/src")];
        r.req(OWNER, "PUT", p("copy").as_bytes(), &from, b"");
        r.req(
            OWNER,
            "POST",
            p("src").as_bytes(),
            &[("Content-Type", ctype)],
            b"",
        );
        // What a POST set is answered without a last swift_bytes, and
        // copied as answered.
        r.req(OWNER, "HEAD", p("src").as_bytes(), &[], b"");
        r.req(OWNER, "GET", p("src").as_bytes(), &[], b"");
        r.req(OWNER, "GET", p("src").as_bytes(), &[("X-Newest", "1")], b"");
        let to = [("Destination", "parity-ct/copy2")];
        r.req(OWNER, "COPY", p("src").as_bytes(), &to, b"");
        r.req(OWNER, "HEAD", p("copy2").as_bytes(), &[], b"");
        let elsewhere = format!("/v1/AUTH_test/parity-missing/o{i}");
        let h = [("Content-Type", ctype)];
        r.req(OWNER, "PUT", elsewhere.as_bytes(), &h, b"data");
        r.req(STRANGER, "PUT", o.as_bytes(), &h, b"data");
        if i == 0 {
            r.req(OWNER, "PUT", p("src").as_bytes(), &[], b"source");
        }
    }
    for o in ["o3", "o4", "o5", "o6", "g.txt", "src", "copy", "copy2"] {
        r.req(OWNER, "DELETE", p(o).as_bytes(), &[], b"");
    }
    r.req(OWNER, "DELETE", c.as_bytes(), &[], b"");
}

/// Raw control bytes in request paths: Swift takes them as part of the
/// path (and refuses a NUL with a 412).
fn raw_path_scenario(r: &mut Run) {
    for (i, byte) in [0u8, 1, 9, 0x1f, 0x7f].into_iter().enumerate() {
        let mut path = b"/v1/AUTH_test/parity-raw/o".to_vec();
        path.extend([byte, b'x']);
        let (status, _) = r.req(OWNER, "GET", &path, &[], b"");
        assert_eq!(status, if i == 0 { 412 } else { 404 }, "{byte:#x}");
        let mut account = b"/v1/AUTH_te".to_vec();
        account.extend([byte, b't']);
        r.req(OWNER, "HEAD", &account, &[], b"");
        r.req(None, "PUT", &path, &[], b"x");
    }
}

/// The status line a server sends to a client that shuts its side of the
/// connection as soon as its request is sent (empty if none).
fn half_closed(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    // The version of the status line is not compared (Swift always says 1.1).
    let line = text.lines().next().unwrap_or("");
    line.split_once(' ')
        .map_or("", |(_, rest)| rest)
        .to_string()
}

fn half_close_answers(port: u16) -> Vec<String> {
    let tok = token(port, "test:tester", "testing");
    let requests = [
        "GET /healthcheck HTTP/1.0\r\n\r\n".to_string(),
        "GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
        format!("HEAD /v1/AUTH_test HTTP/1.0\r\nX-Auth-Token: {tok}\r\n\r\n"),
        format!(
            "PUT /v1/AUTH_test/parity-half HTTP/1.0\r\nX-Auth-Token: {tok}\r\nContent-Length: 0\r\n\r\n"
        ),
        format!("DELETE /v1/AUTH_test/parity-half HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {tok}\r\n\r\n"),
    ];
    requests.iter().map(|q| half_closed(port, q)).collect()
}

/// How a server answers one request on a fresh connection: the status
/// line's version, then the rest of the line, its `Connection` header and
/// whether it closed the connection after the answer (or answered a second
/// request on it).
fn connection_answer(port: u16, request: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).expect("an answer");
        assert!(n > 0, "closed before answering {request:?}");
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let field = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or("-".to_string(), |(_, v)| v.trim().to_string())
    };
    let length: usize = field("content-length").parse().unwrap_or(0);
    let body = if request.starts_with("HEAD") {
        0
    } else {
        length
    };
    while got.len() < head_end + body {
        let n = s.read(&mut buf).expect("the body");
        assert!(n > 0, "short body for {request:?}");
        got.extend_from_slice(&buf[..n]);
    }
    // A connection kept open answers a second request; a closed one
    // reads its end (or refuses the write) instead.
    let again = b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let closed = s.write_all(again).is_err() || !matches!(s.read(&mut buf), Ok(n) if n > 0);
    let line = head.lines().next().unwrap_or("");
    let (version, rest) = line.split_once(' ').unwrap_or((line, ""));
    let answer = format!("{rest} connection={} closed={closed}", field("connection"));
    (version.to_string(), answer)
}

/// HTTP/1.0 and HTTP/1.1 requests, with and without `Connection`.
fn connection_answers(port: u16) -> Vec<(String, String)> {
    let tok = token(port, "test:tester", "testing");
    [
        "GET /healthcheck HTTP/1.0\r\n\r\n".to_string(),
        "GET /healthcheck HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".into(),
        "GET /healthcheck HTTP/1.0\r\nConnection: close\r\n\r\n".into(),
        "GET /healthcheck HTTP/1.1\r\nHost: x\r\n\r\n".into(),
        "GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
        format!("HEAD /v1/AUTH_test HTTP/1.0\r\nX-Auth-Token: {tok}\r\n\r\n"),
        format!("GET /v1/AUTH_test/none HTTP/1.0\r\nX-Auth-Token: {tok}\r\n\r\n"),
    ]
    .iter()
    .map(|q| connection_answer(port, q))
    .collect()
}

#[test]
fn answers_match_swifts_proxy() {
    let _turn = one_cluster_at_a_time();
    let cluster = MemcachedCluster::start();
    let aio = &cluster.aio;
    let swift = swift_proxy(aio, &cluster.conf);
    let lines = compare_runs(USERS, swift.port, aio.port, rules_scenario);
    let answer = |start: &str| {
        let l = lines.iter().find(|l| l.starts_with(start));
        l.unwrap_or_else(|| panic!("{start} in {lines:#?}")).clone()
    };
    let owner = "test:tester PUT /v1/AUTH_test/parity-rules";
    // Swift looks for the container before it checks the rest.
    assert!(answer(&format!("{owner}-missing/o0 at past")).contains(": 404"));
    assert!(
        answer(&format!("{owner}/o0 at past"))
            .ends_with(": 400 type=text/plain length=19 \"X-Delete-At in past\""),
        "{lines:#?}"
    );
    // It names a metadata header as its WSGI layer spells it.
    assert!(answer(&format!("{owner}/o11 meta long value"))
        .contains("\"Metadata value longer than 256: x-object-meta-Value\""));
    // If-None-Match is judged before the user.
    for who in ["test:tester3", "-"] {
        let l = answer(&format!("{who} PUT /v1/AUTH_test/parity-rules/o15 inm tag"));
        assert!(l.contains(": 400 type=text/plain"), "{l}");
    }
    assert!(answer(&format!("{owner}/o18 inm quoted star")).contains(": 201"));
    let conflict = answer("test:tester DELETE /v1/AUTH_test/parity-rules not empty");
    assert!(conflict.ends_with(": 409 type=text/html; charset=UTF-8 length=0 \"\""));
    let lines = compare_runs(USERS, swift.port, aio.port, copy_scenario);
    // The comparison cannot pass with metadata missing from both.
    let copy = lines
        .iter()
        .find(|l| l.contains("Destination\", \"parity/d1\""));
    let copy = copy.expect("the first COPY");
    assert!(
        copy.contains("x-object-meta-color=red x-object-meta-size=small"),
        "{copy}"
    );
    assert!(copy.contains("x-delete-at=4102444800"), "{copy}");
    compare_runs(USERS, swift.port, aio.port, raw_path_scenario);
    let lines = compare_runs(USERS, swift.port, aio.port, content_type_scenario);
    let refused = "body=\"Invalid Content-Type, swift_* is not a valid parameter name.\"";
    let put = |ct: &str| {
        let l = lines
            .iter()
            .find(|l| l.contains("PUT /v1/AUTH_test/parity-ct/o") && l.contains(ct));
        l.unwrap_or_else(|| panic!("{ct} in {lines:#?}")).clone()
    };
    assert!(
        put("swift_bytes=5").contains(&format!(
            ": 400 content-type=text/html; charset=UTF-8 {refused}"
        )),
        "{lines:#?}"
    );
    assert!(put("a=swift_b").contains(": 201"), "{lines:#?}");
    // Swift drops a last swift_bytes parameter only, leaving the rest as is.
    let read = |ct: &str| {
        let after = lines
            .iter()
            .position(|l| l.contains("POST") && l.contains(ct));
        let after = after.unwrap_or_else(|| panic!("{ct} in {lines:#?}"));
        lines[after + 1].clone()
    };
    let typed =
        |l: String, ct: &str| assert!(l.contains(&format!(": 200 content-type={ct}")), "{l}");
    typed(
        read("charset=UTF-8; swift_bytes=12345"),
        "application/x; charset=UTF-8",
    );
    typed(read("a/b;swift_bytes=4; z=1"), "a/b;swift_bytes=4; z=1");
    let theirs = half_close_answers(swift.port);
    assert_eq!(
        theirs,
        [
            "200 OK",
            "200 OK",
            "204 No Content",
            "201 Created",
            "204 No Content"
        ]
    );
    assert_eq!(half_close_answers(aio.port), theirs);
    let theirs = newest_reads(aio, swift.port);
    assert_eq!(
        theirs
            .iter()
            .filter(|l| l.ends_with("text/x-new \"new\""))
            .count(),
        3,
        "Swift's copies read the newest version: {theirs:#?}"
    );
    assert_eq!(newest_reads(aio, aio.port), theirs);
    let theirs = connection_answers(swift.port);
    let ours = connection_answers(aio.port);
    let answers = |all: &[(String, String)]| all.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>();
    assert_eq!(
        answers(&theirs),
        [
            "200 OK connection=close closed=true",
            "200 OK connection=keep-alive closed=false",
            "200 OK connection=close closed=true",
            "200 OK connection=- closed=false",
            "200 OK connection=close closed=true",
            "204 No Content connection=close closed=true",
            "404 Not Found connection=close closed=true",
        ]
    );
    assert_eq!(answers(&ours), answers(&theirs));
    // Swift's server (eventlet) always says HTTP/1.1, answering an
    // HTTP/1.0 request as its framing allows (no chunks, the end of a body
    // of unknown length marked by closing). hyper, under our proxy, makes
    // every answer to an HTTP/1.0 request say HTTP/1.0 (its connection
    // forces the version; no setting changes it), so the versions differ
    // there and only there.
    for ((v, _), (ours, q)) in theirs.iter().zip(ours.iter().zip(0..)) {
        assert_eq!(v, "HTTP/1.1", "Swift's answer to request {q}");
        let expected = if q == 3 || q == 4 {
            "HTTP/1.1"
        } else {
            "HTTP/1.0"
        };
        assert_eq!(ours.0, expected, "our answer to request {q}");
    }
}

/// An object whose newest version only its first handoff holds (written
/// there directly, past the primaries, which a plain read asks first), read
/// and copied through the proxy on `port`: a line per answer. Copies read
/// their source with `X-Newest`, so they get that version.
fn newest_reads(aio: &Aio, port: u16) -> Vec<String> {
    let tok = token(port, "test:tester", "testing");
    let send = |method: &str, path: &str, extra: &[(&str, &str)]| {
        let h = [&[("X-Auth-Token", tok.as_str())], extra].concat();
        let body: &[u8] = if method == "PUT" && extra.is_empty() {
            b"old"
        } else {
            b""
        };
        raw_http(port, method, path, &h, body)
    };
    let c = "/v1/AUTH_test/parity-newest";
    assert_eq!(send("PUT", c, &[]).0, 201);
    let mut lines = Vec::new();
    for attempt in 0.. {
        // The handoff's replicator may push the version to the primaries
        // before the first read: then the case starts again.
        assert!(
            attempt < 3,
            "the handoff's copy kept reaching the primaries"
        );
        let name = format!("src{attempt}");
        let o = format!("{c}/{name}");
        let (part, _, handoff) = aio.object_placement("AUTH_test", "parity-newest", &name);
        let direct = format!("/sd{handoff}/{part}/AUTH_test/parity-newest/{name}");
        let now = || {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            format!("{:.5}", t.unwrap().as_secs_f64())
        };
        assert_eq!(send("PUT", &o, &[]).0, 201);
        let newer = [
            ("X-Timestamp", now()),
            ("Content-Type", "text/x-new".into()),
        ];
        let newer: Vec<(&str, &str)> = newer.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, _) = raw_http(aio.object_port(handoff), "PUT", &direct, &newer, b"new");
        assert_eq!(status, 201, "PUT {direct}");
        let read = |what: &str, method: &str, path: &str, extra: &[(&str, &str)]| {
            let (status, h, body) = send(method, path, extra);
            let ct = header(&h, "content-type").unwrap_or("-").to_string();
            let body = String::from_utf8_lossy(&body).into_owned();
            format!("{what}: {status} {ct} {body:?}")
        };
        let plain = read("GET", "GET", &o, &[]);
        let mut case = vec![plain.clone()];
        let newest = [("X-Newest", "true")];
        case.push(read("GET X-Newest", "GET", &o, &newest));
        case.push(read("HEAD X-Newest", "HEAD", &o, &newest));
        let to = [("Destination", "parity-newest/d1")];
        case.push(read("COPY", "COPY", &o, &to));
        let from = format!("parity-newest/{name}");
        case.push(read(
            "PUT X-Copy-From",
            "PUT",
            &format!("{c}/d2"),
            &[("X-Copy-From", &from)],
        ));
        let unmet = [("Destination", "parity-newest/d3"), ("If-Match", "nope")];
        case.push(read("COPY If-Match", "COPY", &o, &unmet));
        for newest in [&[][..], &newest[..]] {
            for cond in [("If-Match", "nope"), ("If-None-Match", "*")] {
                let h = [newest, &[cond]].concat();
                case.push(read(&format!("GET {h:?}"), "GET", &o, &h));
            }
        }
        let missing = format!("{c}/missing");
        case.push(read("GET X-Newest missing", "GET", &missing, &newest));
        case.push(read("GET d1", "GET", &format!("{c}/d1"), &[]));
        case.push(read("GET d2", "GET", &format!("{c}/d2"), &[]));
        for d in ["d1", "d2", "d3"] {
            send("DELETE", &format!("{c}/{d}"), &[]);
        }
        send("DELETE", &o, &[]);
        raw_http(
            aio.object_port(handoff),
            "DELETE",
            &direct,
            &[("X-Timestamp", &now())],
            b"",
        );
        if plain.ends_with("\"old\"") {
            lines = case;
            break;
        }
    }
    send("DELETE", c, &[]);
    lines
}

/// tempauth with two reseller prefixes, the second requiring a group of
/// its admins: `test:tester` is an admin without the group,
/// `test:tester6` one with it.
fn prefixes_scenario(r: &mut Run) {
    let grouped = Some("test:tester6");
    let reseller = Some("admin:admin");
    for account in ["AUTH_test", "SERVICE_test"] {
        let c = format!("/v1/{account}/parity-svc");
        let o = format!("{c}/o");
        for who in [OWNER, grouped] {
            r.req(who, "PUT", c.as_bytes(), &[], b"");
            r.req(who, "PUT", o.as_bytes(), &[], b"data");
            r.req(who, "GET", o.as_bytes(), &[], b"");
            r.req(who, "HEAD", format!("/v1/{account}").as_bytes(), &[], b"");
        }
        for who in [STRANGER, reseller, None] {
            r.req(who, "GET", o.as_bytes(), &[], b"");
            r.req(who, "HEAD", c.as_bytes(), &[], b"");
        }
        r.req(grouped, "DELETE", o.as_bytes(), &[], b"");
        r.req(grouped, "DELETE", c.as_bytes(), &[], b"");
    }
    r.req(grouped, "HEAD", b"/v1/OTHER_test", &[], b"");
    r.req(reseller, "HEAD", b"/v1/SERVICE_", &[], b"");
}

#[test]
fn tempauth_serves_every_reseller_prefix_as_swifts() {
    let _turn = one_cluster_at_a_time();
    let cluster = MemcachedCluster::start();
    let (aio, conf) = (&cluster.aio, &cluster.conf);
    let auth = "[filter:tempauth]\nuse = egg:swift#tempauth\n";
    assert!(conf.contains(auth), "{conf}");
    let conf = conf.replace(
        auth,
        &format!(
            "{auth}reseller_prefix = AUTH, SERVICE\nSERVICE_require_group = .service\n\
             user_test_tester6 = testing6 .admin .service\n"
        ),
    );
    let swift = swift_proxy(aio, &conf);
    let ours = another_proxy(aio, &conf, "", &bin("swift-proxy-server"), "proxy-prefixes");
    let users = [
        USERS,
        &[("test:tester6", "testing6"), ("admin:admin", "admin")],
    ]
    .concat();
    let lines = compare_runs(&users, swift.port, ours.port, prefixes_scenario);
    let status = |needle: &str| {
        let l = lines.iter().find(|l| l.starts_with(needle));
        l.unwrap_or_else(|| panic!("{needle} in {lines:#?}"))
            .clone()
    };
    // The group is needed under the second prefix only.
    assert!(status("test:tester6 PUT /v1/SERVICE_test/parity-svc/o").contains(": 201"));
    assert!(status("test:tester PUT /v1/SERVICE_test/parity-svc/o").contains(": 403"));
    assert!(status("test:tester PUT /v1/AUTH_test/parity-svc/o").contains(": 201"));
}

/// Object rows whose content types carry `swift_bytes` (as large-object
/// middlewares write them), and others.
const ROWS: &[(&str, &str, u64)] = &[
    ("a", "text/plain;swift_bytes=99", 5),
    ("b", "application/x; charset=UTF-8; swift_bytes=12345", 0),
    ("c", "text/plain; charset=utf-8", 3),
    ("d", "a/b;swift_bytes=many", 7),
    ("e", "a/b", 4),
    ("f", "a/b; q=\"x;y\" ;swift_bytes=4; z=1", 2),
];

/// A container server's listings of [`ROWS`] in each format.
fn listings(port: u16) -> Vec<String> {
    let ts = "1700000000.00000";
    let put = |path: &str, extra: &[(&str, &str)]| {
        let h = [&[("X-Timestamp", ts)], extra].concat();
        let (status, _, body) = server_util::http(port, "PUT", path, &h, b"");
        assert!(
            status == 201 || status == 202,
            "PUT {path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    };
    put("/sda1/0/a/c", &[]);
    for (name, ctype, size) in ROWS {
        let size = size.to_string();
        put(
            &format!("/sda1/0/a/c/{name}"),
            &[
                ("X-Size", &size),
                ("X-Content-Type", ctype),
                ("X-Etag", "d41d8cd98f00b204e9800998ecf8427e"),
            ],
        );
    }
    let mut out = Vec::new();
    for (query, accept) in [
        ("?format=json", ""),
        ("?format=xml", ""),
        ("", ""),
        ("", "application/json"),
    ] {
        let h: &[(&str, &str)] = if accept.is_empty() {
            &[]
        } else {
            &[("Accept", accept)]
        };
        let (status, _, body) =
            server_util::http(port, "GET", &format!("/sda1/0/a/c{query}"), h, b"");
        out.push(format!(
            "{query} {accept}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    out
}

#[test]
fn listings_take_sizes_from_swift_bytes_as_swifts_container_server() {
    let site = server_util::Site::new();
    let ours = server_util::spawn(&site, "container", "");
    let swift_devices = site.root().join("swift-node");
    std::fs::create_dir_all(swift_devices.join("sda1")).unwrap();
    let python = aio_util::swift_python();
    let swift = server_util::spawn_swift(&python, &site, "container", &swift_devices, "");
    let theirs = listings(swift.port);
    assert!(
        theirs[0].contains(r#""bytes": 12345"#) || theirs[0].contains(r#""bytes":12345"#),
        "{theirs:#?}"
    );
    // JSON spacing differs between the servers; the values must not.
    let json = |s: &str| -> serde_json::Value {
        let body = s.split_once(": 200 ").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {s}"))
    };
    let mine = listings(ours.port);
    assert_eq!(json(&mine[0]), json(&theirs[0]));
    assert_eq!(json(&mine[3]), json(&theirs[3]));
    assert_eq!(mine[1], theirs[1]);
    assert_eq!(mine[2], theirs[2]);
}

/// Records a request's answer under a short label (the request may carry
/// too many headers to print): status, type, length and body.
fn labelled(
    r: &mut Run,
    label: &str,
    who: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> u16 {
    let (status, got, text) = r.send(who, method, path, headers, body);
    let field = |k: &str| header(&got, k).unwrap_or("-").to_string();
    // Success bodies are the storage servers' (relayed by both proxies).
    let body = if status < 400 || status == 401 {
        String::new()
    } else {
        let length = field("content-length");
        format!("length={length} {:?}", String::from_utf8_lossy(&text))
    };
    r.lines.push(format!(
        "{} {method} {path} {label}: {status} type={} {body}",
        who.unwrap_or("-"),
        field("content-type"),
    ));
    status
}

/// Object writes that break one of Swift's rules (metadata limits,
/// expiry times, `If-None-Match`, the object name's length), into a
/// container that exists and one that does not, by the owner, a user who
/// may not write and nobody: Swift's proxy judges `If-None-Match` first,
/// then the user, then the container, then the rest, and answers each
/// rule's 400 in plain text. Container and account metadata limits, and a
/// container DELETE that finds objects.
fn rules_scenario(r: &mut Run) {
    let c = "/v1/AUTH_test/parity-rules";
    let missing = "/v1/AUTH_test/parity-rules-missing";
    r.req(OWNER, "PUT", c.as_bytes(), &[], b"");
    let long_name = format!("X-Object-Meta-a1b-{}", "m".repeat(125));
    let long_value = "v".repeat(257);
    let many: Vec<(String, String)> = (0..91)
        .map(|i| (format!("X-Object-Meta-K{i}"), "v".to_string()))
        .collect();
    let big: Vec<(String, String)> = (0..17)
        .map(|i| (format!("X-Object-Meta-Big{i}"), "v".repeat(250)))
        .collect();
    let cases: Vec<(&str, Vec<(String, String)>)> = [
        ("at past", vec![("X-Delete-At", "1")]),
        ("at negative", vec![("X-Delete-At", "-5")]),
        ("at exponent", vec![("X-Delete-At", "1e10")]),
        ("at nan", vec![("X-Delete-At", "nan")]),
        ("at fraction", vec![("X-Delete-At", "1.5")]),
        ("at plus", vec![("X-Delete-At", "+4102444800")]),
        ("after word", vec![("X-Delete-After", "abc")]),
        ("after zero", vec![("X-Delete-After", "0")]),
        ("after negative", vec![("X-Delete-After", "-1")]),
        ("after plus", vec![("X-Delete-After", "+600")]),
        ("meta long name", vec![(long_name.as_str(), "v")]),
        (
            "meta long value",
            vec![("X-Object-Meta-Value", long_value.as_str())],
        ),
        ("meta empty name", vec![("X-Object-Meta-", "v")]),
        (
            "meta and at",
            vec![("X-Object-Meta-Color", "red"), ("X-Delete-At", "1")],
        ),
        (
            "long name and after",
            vec![(long_name.as_str(), "v"), ("X-Delete-After", "x")],
        ),
        ("inm tag", vec![("If-None-Match", "abc")]),
        ("inm empty", vec![("If-None-Match", "")]),
        ("inm weak star", vec![("If-None-Match", "W/*")]),
        ("inm quoted star", vec![("If-None-Match", "\"*\"")]),
        ("inm list", vec![("If-None-Match", "\"a\", *")]),
        (
            "inm and meta",
            vec![("If-None-Match", "abc"), (long_name.as_str(), "v")],
        ),
    ]
    .into_iter()
    .map(|(label, h)| {
        let h = h.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        (label, h.collect())
    })
    .chain([("meta many", many), ("meta big", big)])
    .collect();
    for who in [OWNER, STRANGER, None] {
        for (i, (label, case)) in cases.iter().enumerate() {
            let h: Vec<(&str, &str)> = case.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            for container in [missing, c] {
                let o = format!("{container}/o{i}");
                labelled(r, label, who, "PUT", &o, &h, b"data");
                if !label.starts_with("inm") {
                    labelled(r, label, who, "POST", &o, &h, b"");
                }
            }
        }
        for container in [missing, c] {
            let long = format!("{container}/{}", "o".repeat(1025));
            labelled(r, "long object name", who, "PUT", &long, &[], b"data");
        }
    }
    // Container and account metadata limits.
    let name = long_name.replace("Object", "Container");
    let h = [(name.as_str(), "v")];
    labelled(r, "meta long name", OWNER, "POST", c, &h, b"");
    labelled(
        r,
        "meta long name",
        OWNER,
        "PUT",
        &format!("{c}-new"),
        &h,
        b"",
    );
    let name = long_name.replace("Object", "Account");
    let h = [(name.as_str(), "v")];
    labelled(r, "meta long name", OWNER, "POST", "/v1/AUTH_test", &h, b"");
    // A container that still holds objects is not deleted.
    let status = labelled(r, "not empty", OWNER, "DELETE", c, &[], b"");
    assert_eq!(status, 409);
    for i in 0..cases.len() {
        r.req(OWNER, "DELETE", format!("{c}/o{i}").as_bytes(), &[], b"");
    }
    r.req(OWNER, "DELETE", c.as_bytes(), &[], b"");
}
