//! Raw bytes of 0x80 and above in a request line (a path or query sent
//! unquoted, valid UTF-8 or not), answered as Swift answers them: our
//! storage servers next to Swift's, our proxy next to Swift's proxy over
//! one all-in-one cluster. Each request goes to Swift first, then to ours,
//! and the statuses (with the bodies that say why) must match. Some
//! requests share one keep-alive connection, pipelined, with bodies
//! (`Content-Length` and chunked) that themselves look like request lines
//! with high bytes: those must arrive untouched.

mod aio_util;
mod server_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aio_util::{swift_proxy, token, MemcachedCluster};
use server_util::{spawn, spawn_swift, Site};

/// One answer: status, headers (lower-case names, raw values) and body.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Sends `bytes` on one connection (the last request asks to close it)
/// and reads every answer (`heads` says which requests were HEADs: no body).
fn exchange(port: u16, bytes: &[u8], heads: &[bool]) -> Vec<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let mut answers = Vec::new();
    let mut rest = raw.as_slice();
    for &head_only in heads {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = &rest[..end];
        rest = &rest[end + 4..];
        let mut lines = head.split(|&b| b == b'\n');
        let status = String::from_utf8_lossy(lines.next().unwrap())
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, Vec<u8>)> = lines
            .filter_map(|l| {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                let colon = l.iter().position(|&b| b == b':')?;
                let name = String::from_utf8_lossy(&l[..colon]).to_ascii_lowercase();
                Some((name, l[colon + 1..].trim_ascii().to_vec()))
            })
            .collect();
        let mut answer = Answer {
            status,
            headers,
            body: Vec::new(),
        };
        let length = answer
            .header("content-length")
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
        let chunked = answer
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"));
        if head_only || status == 204 || status == 304 {
        } else if chunked {
            loop {
                let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(&String::from_utf8_lossy(&rest[..eol]), 16).unwrap();
                answer
                    .body
                    .extend_from_slice(&rest[eol + 2..eol + 2 + size]);
                rest = &rest[eol + 4 + size..];
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            answer.body = rest[..n].to_vec();
            rest = &rest[n..];
        } else {
            answer.body = rest.to_vec();
            rest = &[];
        }
        answers.push(answer);
    }
    answers
}

/// A request as bytes: `line` is `METHOD target` (raw), HTTP/1.1.
fn request(line: &[u8], headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut r = line.to_vec();
    r.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        r.extend_from_slice(k.as_bytes());
        r.extend_from_slice(b": ");
        r.extend_from_slice(v);
        r.extend_from_slice(b"\r\n");
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
    {
        r.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

/// One request on its own connection.
fn one(port: u16, line: &[u8], headers: &[(&str, &[u8])], body: &[u8]) -> Answer {
    let mut h = headers.to_vec();
    h.push(("Connection", b"close"));
    let head = line.starts_with(b"HEAD ");
    exchange(port, &request(line, &h, body), &[head])
        .pop()
        .unwrap_or_else(|| panic!("no answer to {}", String::from_utf8_lossy(line)))
}

/// What is compared of an answer: the status, and the body of a 4xx
/// (which says why) or of a 200 GET of an object.
fn summary(line: &[u8], a: &Answer, with_body: bool) -> String {
    let mut s = format!("{} => {}", String::from_utf8_lossy(line), a.status);
    if with_body || a.status == 412 {
        s.push_str(&format!(" {:?}", String::from_utf8_lossy(&a.body)));
    }
    s
}

fn assert_same(swift: &[String], ours: &[String]) {
    assert_eq!(swift.len(), ours.len());
    let diffs: Vec<String> = swift
        .iter()
        .zip(ours)
        .filter(|(s, o)| s != o)
        .map(|(s, o)| format!("swift: {s}\nours:  {o}"))
        .collect();
    assert!(diffs.is_empty(), "answers differ:\n{}", diffs.join("\n\n"));
}

const INVALID: &[u8] = b"\xff\xfe";
const SURROGATE: &[u8] = b"\xed\xa0\x80";
const OVERLONG: &[u8] = b"\xc0\xaf";
const E_ACUTE: &[u8] = "\u{e9}t\u{e9}".as_bytes();

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Requests to one storage server of `kind`; returns the summaries.
fn storage_scenario(port: u16, kind: &str) -> Vec<String> {
    let ts: &[u8] = b"1700000000.00000";
    let put = [("X-Timestamp", ts), ("Content-Type", &b"text/plain"[..])];
    // Where the names of this server's kind go.
    let base: &[u8] = match kind {
        "object" => b"/sda1/0/a/c/",
        "container" => b"/sda1/0/a/",
        _ => b"/sda1/0/",
    };
    let mut out = Vec::new();
    let mut go = |line: Vec<u8>, headers: &[(&str, &[u8])], body: &[u8], show: bool| {
        let a = one(port, &line, headers, body);
        let show = show || (line.starts_with(b"GET") && a.status == 200);
        out.push(summary(&line, &a, show));
    };
    for bad in [INVALID, SURROGATE, OVERLONG] {
        go(cat(&[b"PUT ", base, bad]), &put, b"x", false);
        go(cat(&[b"GET ", base, bad]), &[], b"", false);
        go(
            cat(&[b"DELETE ", base, b"o", bad]),
            &[("X-Timestamp", ts)],
            b"",
            false,
        );
        go(cat(&[b"HEAD /sda1/0/", bad]), &[], b"", false);
        go(cat(&[b"FOO ", base, bad]), &[], b"", false);
        go(cat(&[b"GET /", bad]), &[], b"", false);
    }
    go(cat(&[b"PUT ", base, E_ACUTE]), &put, b"body", false);
    go(cat(&[b"GET ", base, E_ACUTE]), &[], b"", false);
    go(cat(&[b"GET ", base, b"%C3%A9t%C3%A9"]), &[], b"", false);
    go(
        cat(&[b"HEAD ", base, E_ACUTE, b"?x=", INVALID]),
        &[],
        b"",
        false,
    );
    go(
        cat(&[b"GET ", base, E_ACUTE, b"?prefix=", E_ACUTE]),
        &[],
        b"",
        false,
    );
    go(
        cat(&[b"GET ", base, E_ACUTE, b"?prefix=", INVALID]),
        &[],
        b"",
        true,
    );
    out
}

/// Pipelined requests on one connection: bodies shaped like request lines
/// with high bytes, a chunked body, an invalid path in between.
fn pipelined(prefix: &[u8], headers: &[(&str, &[u8])], put: &[(&str, &[u8])]) -> Vec<u8> {
    let put_h: Vec<(&str, &[u8])> = [headers, put].concat();
    let chunked: Vec<(&str, &[u8])> =
        [&put_h[..], &[("Transfer-Encoding", &b"chunked"[..])]].concat();
    let mut close = headers.to_vec();
    close.push(("Connection", b"close"));
    let body: &[u8] = b"GET /\xff\xfe HTTP/1.1\r\nContent-Length: 3\r\n\r\n\xc3\xa9";
    [
        request(&cat(&[b"PUT ", prefix, E_ACUTE]), &put_h, body),
        request(
            &cat(&[b"PUT ", prefix, b"chunked-", E_ACUTE]),
            &chunked,
            &chunks(&[b"GET /\xff", b" HTTP/1.1\r\n\r\n0\r\n\r\n\xc3"]),
        ),
        request(&cat(&[b"GET ", prefix, INVALID]), headers, b""),
        request(&cat(&[b"GET ", prefix, b"%C3%A9t%C3%A9"]), headers, b""),
        request(&cat(&[b"GET ", prefix, b"chunked-", E_ACUTE]), &close, b""),
    ]
    .concat()
}

/// `parts` as a chunked body.
fn chunks(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn pipelined_summary(port: u16, bytes: &[u8]) -> Vec<String> {
    let answers = exchange(port, bytes, &[false; 5]);
    assert_eq!(answers.len(), 5, "five answers on one connection");
    assert_eq!(
        answers.iter().map(|a| a.status).collect::<Vec<_>>(),
        [201, 201, 412, 200, 200]
    );
    assert_eq!(
        answers[3].body,
        b"GET /\xff\xfe HTTP/1.1\r\nContent-Length: 3\r\n\r\n\xc3\xa9"
    );
    assert_eq!(answers[4].body, b"GET /\xff HTTP/1.1\r\n\r\n0\r\n\r\n\xc3");
    answers
        .iter()
        .map(|a| format!("{} {:?}", a.status, String::from_utf8_lossy(&a.body)))
        .collect()
}

#[test]
fn storage_servers_answer_raw_high_bytes_as_swifts() {
    let python = aio_util::swift_python();
    let site = Site::new();
    let swift_devices = site.root().join("swift-node");
    std::fs::create_dir_all(swift_devices.join("sda1")).unwrap();
    let mut answers = Vec::new();
    for kind in ["object", "container", "account"] {
        let theirs = spawn_swift(&python, &site, kind, &swift_devices, "");
        let ours = spawn(&site, kind, "");
        answers.push((
            kind,
            storage_scenario(theirs.port, kind),
            storage_scenario(ours.port, kind),
        ));
        if kind == "object" {
            let ts: &[u8] = b"1700000001.00000";
            let put = [("X-Timestamp", ts), ("Content-Type", &b"text/plain"[..])];
            let bytes = pipelined(b"/sda1/0/a/c/p-", &[], &put);
            assert_same(
                &pipelined_summary(theirs.port, &bytes),
                &pipelined_summary(ours.port, &bytes),
            );
        }
    }
    for (kind, swift, ours) in &answers {
        eprintln!("{kind}: {swift:#?}");
        assert!(
            swift.iter().filter(|l| l.contains(" => 412 ")).count() >= 18,
            "{kind}: {swift:#?}"
        );
        assert_same(swift, ours);
    }
}

/// Requests through a proxy as `test:tester`; returns the summaries.
fn proxy_scenario(port: u16) -> Vec<String> {
    let tok = token(port, "test:tester", "testing");
    let auth = [("X-Auth-Token", tok.as_bytes())];
    let mut out = Vec::new();
    let mut go = |line: Vec<u8>, extra: &[(&str, &[u8])], body: &[u8], show: bool| {
        let headers = [&auth[..], extra].concat();
        let a = one(port, &line, &headers, body);
        out.push(summary(&line, &a, show));
        a
    };
    let c = cat(&[b"/v1/AUTH_test/raw-", E_ACUTE]);
    let obj = cat(&[&c, b"/", E_ACUTE]);
    for bad in [INVALID, SURROGATE, OVERLONG] {
        go(cat(&[b"PUT /v1/AUTH_test/", bad]), &[], b"", false);
        go(cat(&[b"GET /v1/AUTH_test/", bad]), &[], b"", false);
        go(cat(&[b"PUT /v1/", bad]), &[], b"", false);
        go(cat(&[b"HEAD /v1/AUTH_test/c/", bad]), &[], b"", false);
        go(cat(&[b"DELETE ", &c, b"/", bad]), &[], b"", false);
    }
    go(cat(&[b"PUT ", &c]), &[], b"", false);
    go(
        cat(&[b"GET /v1/AUTH_test?prefix=raw-", E_ACUTE]),
        &[],
        b"",
        true,
    );
    go(
        cat(&[b"GET /v1/AUTH_test?prefix=raw-", INVALID]),
        &[],
        b"",
        true,
    );
    let meta: &[(&str, &[u8])] = &[
        ("X-Object-Meta-Name", E_ACUTE),
        ("X-Object-Meta-Raw", INVALID),
        ("Content-Type", b"text/plain"),
    ];
    go(cat(&[b"PUT ", &obj]), meta, b"hello", false);
    go(cat(&[b"GET ", &obj]), &[], b"", true);
    go(
        b"GET /v1/AUTH_test/raw-%C3%A9t%C3%A9/%C3%A9t%C3%A9".to_vec(),
        &[],
        b"",
        true,
    );
    let head = go(cat(&[b"HEAD ", &obj]), &[], b"", false);
    let mut later: Vec<String> = ["x-object-meta-name", "x-object-meta-raw"]
        .iter()
        .map(|name| format!("{name}: {:?}", head.header(name).unwrap_or_default()))
        .collect();
    go(cat(&[b"GET ", &c, b"?prefix=", E_ACUTE]), &[], b"", true);
    go(cat(&[b"GET ", &c, b"?prefix=", INVALID]), &[], b"", true);
    let mut prefix = c.clone();
    prefix.extend_from_slice(b"/p-");
    let put = [("Content-Type", &b"text/plain"[..])];
    let bytes = pipelined(&prefix, &auth, &put);
    later.extend(pipelined_summary(port, &bytes));
    for o in [
        &obj[..],
        &cat(&[&prefix, E_ACUTE]),
        &cat(&[&prefix, b"chunked-", E_ACUTE]),
    ] {
        go(cat(&[b"DELETE ", o]), &[], b"", false);
    }
    go(cat(&[b"DELETE ", &c]), &[], b"", false);
    out.extend(later);
    out
}

#[test]
fn proxy_answers_raw_high_bytes_as_swifts() {
    let cluster = MemcachedCluster::start();
    let swift = swift_proxy(&cluster.aio, &cluster.conf);
    let theirs = proxy_scenario(swift.port);
    let ours = proxy_scenario(cluster.aio.port);
    eprintln!("Swift's proxy: {theirs:#?}");
    assert!(
        theirs.iter().filter(|l| l.contains(" => 412 ")).count() >= 12,
        "{theirs:#?}"
    );
    assert!(
        theirs.iter().any(|l| l.contains("=> 200 \"hello\"")),
        "{theirs:#?}"
    );
    assert_same(&theirs, &ours);
}
