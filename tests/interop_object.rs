//! Interop: Swift's own `direct_client` and `swift-object-info` against our
//! object server binary and the files it writes; hostile paths over raw TCP.

mod common;
mod server_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::md5_hex;
use server_util::{files_under, find_file, spawn, spawn_swift, Site, HASH_SUFFIX};

const DIRECT: &str = r#"
import sys, json
from swift.common import direct_client as dc
from swift.common.exceptions import ClientException
port, = sys.argv[1:]
node = {'ip': '127.0.0.1', 'port': int(port), 'device': 'sda1'}
out = {}
etag = dc.direct_put_object(node, 3, 'AUTH_test', 'cont', 'dir/obj \u2603', b'hello swift',
                            content_type='text/plain', headers={'X-Object-Meta-Mood': 'happy'})
out['etag'] = etag
hdrs, body = dc.direct_get_object(node, 3, 'AUTH_test', 'cont', 'dir/obj \u2603')
out['body'] = body.decode() if isinstance(body, bytes) else b''.join(body).decode()
out['mood'] = hdrs.get('X-Object-Meta-Mood')
h = dc.direct_head_object(node, 3, 'AUTH_test', 'cont', 'dir/obj \u2603')
out['length'] = h.get('Content-Length')
big = b'x' * (3 * 1024 * 1024 + 17)
dc.direct_put_object(node, 3, 'AUTH_test', 'cont', 'big', big, content_type='a/b')
hdrs, body = dc.direct_get_object(node, 3, 'AUTH_test', 'cont', 'big', resp_chunk_size=65536)
out['big_ok'] = b''.join(body) == big
dc.direct_delete_object(node, 3, 'AUTH_test', 'cont', 'dir/obj \u2603')
try:
    dc.direct_head_object(node, 3, 'AUTH_test', 'cont', 'dir/obj \u2603')
    out['after_delete'] = 200
except ClientException as e:
    out['after_delete'] = e.http_status
print(json.dumps(out))
"#;

#[test]
fn swift_direct_client_talks_to_our_object_server() {
    let site = Site::new();
    let server = spawn(&site, "object", "");
    let out = common::run_swift_python(DIRECT, &[&server.port.to_string()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["etag"], md5_hex(b"hello swift"));
    assert_eq!(v["body"], "hello swift");
    assert_eq!(v["mood"], "happy");
    assert_eq!(v["length"], "11");
    assert_eq!(v["big_ok"], true);
    assert_eq!(v["after_delete"], 404);
}

#[test]
fn swift_object_info_reads_our_files_and_updater_reads_our_async_pendings() {
    let site = Site::new();
    let server = spawn(&site, "object", "conn_timeout = 0.2\nnode_timeout = 0.5");
    let dead = server_util::free_port();
    let resp = raw(
        server.port,
        &format!(
            "PUT /sda1/3/AUTH_test/cont/info HTTP/1.1\r\nHost: x\r\nX-Timestamp: 1700000000.00000\r\nContent-Type: text/plain\r\n\
             X-Object-Meta-Big: {}\r\nX-Container-Host: 127.0.0.1:{dead}\r\nX-Container-Device: sdb1\r\nX-Container-Partition: 9\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\nbody",
            "m".repeat(2000)
        )
        .into_bytes(),
    );
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let data = find_file(&site.devices(), ".data");
    let text = common::swift_info("swift-object-info", &site.etc(), &data);
    assert!(text.contains("Path: /AUTH_test/cont/info"), "{text}");
    assert!(
        text.contains("ETag: 841a2d689ad86bd1611447453c22c6fc (valid)"),
        "{text}"
    );
    assert!(text.contains("Content-Length: 4 (valid)"), "{text}");
    assert!(text.contains(&"m".repeat(2000)), "{text}");

    // The failed container update left an async pending the updater can read.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pending = find_file(
        &site.devices().join("sda1/async_pending"),
        "-1700000000.00000",
    );
    let script = r#"
import sys, pickle
import swift.common.utils as u
u.HASH_PATH_SUFFIX = sys.argv[2].encode()
u.HASH_PATH_PREFIX = b''
d = pickle.load(open(sys.argv[1], 'rb'))
assert d['op'] == 'PUT' and d['account'] == 'AUTH_test' and d['obj'] == 'info', d
h = d['headers']
assert h['X-Size'] == '4' and h['X-Etag'] == '841a2d689ad86bd1611447453c22c6fc', h
assert h['X-Backend-Storage-Policy-Index'] == 0, h
assert sys.argv[1].split('/')[-1].startswith(u.hash_path('AUTH_test', 'cont', 'info'))
print('ok')
"#;
    common::check(
        Command::new(common::swift_python())
            .arg("-c")
            .arg(script)
            .arg(&pending)
            .arg(HASH_SUFFIX),
    );
}

/// Non-ASCII header values as a client sends them: UTF-8, and a Latin-1
/// byte that is not UTF-8.
const NON_ASCII: [(&str, &[u8]); 3] = [
    ("content-type", b"text/pl\xc3\xa9in"),
    ("x-object-meta-snow", b"\xe2\x98\x83 man"),
    ("x-object-meta-l1", b"caf\xe9"),
];

/// Every `user.swift.metadata*` pickle as Python reads it (keys and values
/// as hex of their bytes), whether it is marked as written by Python 3,
/// what Swift's `read_metadata` makes of it, and the size of each xattr.
const READ_PICKLES: &str = r#"
import sys, json, pickle, xattr
from swift.obj.diskfile import read_metadata
out = {}
for path in sys.argv[1:]:
    raw, i = b'', 0
    while True:
        try:
            raw += xattr.getxattr(path, 'user.swift.metadata' + (str(i) if i else ''))
        except OSError:
            break
        i += 1
    d = pickle.loads(raw, encoding='bytes')
    out[path] = {
        'py3': b'_codecs\nencode' in raw[:32],
        'pickle': {k.hex(): v.hex() for k, v in d.items()},
        'swift': {k: v for k, v in read_metadata(path).items()},
        'xattr_sizes': {n if isinstance(n, str) else n.decode(): len(xattr.getxattr(path, n))
                        for n in xattr.listxattr(path)},
    }
print(json.dumps(out))
"#;

#[test]
fn non_ascii_metadata_is_stored_as_swift_stores_it_and_read_both_ways() {
    let site = Site::new();
    let ours = spawn(&site, "object", "");
    let swift_devices = site.root().join("swift-node");
    std::fs::create_dir_all(swift_devices.join("sda1")).unwrap();
    let python = common::swift_python();
    let swift = spawn_swift(&python, &site, "object", &swift_devices, "");
    let path = "/sda1/0/AUTH_test/cont/%E2%98%83obj";
    let mut put =
        format!("PUT {path} HTTP/1.1\r\nHost: x\r\nX-Timestamp: 1700000000.00000\r\n").into_bytes();
    for (name, value) in NON_ASCII {
        put.extend_from_slice(format!("{name}: ").as_bytes());
        put.extend_from_slice(value);
        put.extend_from_slice(b"\r\n");
    }
    put.extend_from_slice(b"Content-Length: 1\r\nConnection: close\r\n\r\nx");
    for port in [ours.port, swift.port] {
        let resp = raw(port, &put);
        assert!(resp.starts_with("HTTP/1.1 201"), "{port}: {resp}");
    }
    let (our_file, swift_file) = (
        find_file(&site.devices(), ".data"),
        find_file(&swift_devices, ".data"),
    );
    assert_eq!(
        our_file.strip_prefix(site.devices()).unwrap(),
        swift_file.strip_prefix(&swift_devices).unwrap()
    );

    // The same pickled bytes, Python 3 style, and the same metadata read back.
    let out = common::run_swift_python(
        READ_PICKLES,
        &[our_file.to_str().unwrap(), swift_file.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (o, s) = (
        &v[our_file.to_str().unwrap()],
        &v[swift_file.to_str().unwrap()],
    );
    assert_eq!(o["pickle"], s["pickle"]);
    assert_eq!(o["swift"], s["swift"]);
    assert_eq!((&o["py3"], &s["py3"]), (&true.into(), &true.into()));
    // The same xattrs of the same sizes: the same room in the inode's block.
    assert_eq!(o["xattr_sizes"], s["xattr_sizes"]);
    let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02x}")).collect::<String>();
    // Swift keeps the name as UTF-8 text and header values one char per byte,
    // so the snowman in a header is UTF-8-encoded twice on disk.
    assert_eq!(
        o["pickle"][hex(b"name")],
        hex("/AUTH_test/cont/\u{2603}obj".as_bytes())
    );
    assert_eq!(
        o["pickle"][hex(b"X-Object-Meta-Snow")],
        hex("\u{e2}\u{98}\u{83} man".as_bytes())
    );

    // Swap the files: each server now serves the other's, and both answer
    // with the bytes the client sent.
    let tmp = site.root().join("swap.data");
    std::fs::rename(&our_file, &tmp).unwrap();
    std::fs::rename(&swift_file, &our_file).unwrap();
    std::fs::rename(&tmp, &swift_file).unwrap();
    let head = format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    for port in [ours.port, swift.port] {
        let resp = raw_bytes(port, head.as_bytes());
        assert!(resp.starts_with(b"HTTP/1.1 200"), "{port}");
        for (name, value) in NON_ASCII {
            let mut line = format!("\r\n{name}: ").into_bytes();
            line.extend_from_slice(value);
            line.extend_from_slice(b"\r\n");
            let lower = resp.to_ascii_lowercase();
            let want = line.to_ascii_lowercase();
            assert!(
                lower.windows(want.len()).any(|w| w == want),
                "port {port}: no {name} {value:?} in {:?}",
                String::from_utf8_lossy(&resp)
            );
        }
    }
}

#[test]
fn hostile_names_are_refused_and_nothing_escapes() {
    let site = Site::new();
    let server = spawn(&site, "object", "");
    let long = "l".repeat(5000);
    let hostile: Vec<Vec<u8>> = vec![
        b"/sda1/0/a/c/..".to_vec(),
        b"/sda1/0/a/c/%2e%2e".to_vec(),
        b"/sda1/0/a/c/%2E%2E/%2e%2e/escape".to_vec(),
        b"/../0/a/c/o".to_vec(),
        b"/%2e%2e/0/a/c/o".to_vec(),
        b"/sda1/..%2f..%2f/a/c/o".to_vec(),
        b"/sda1/0/../../c/o".to_vec(),
        b"/sda1/0/a/c/nul%00byte".to_vec(),
        format!("/sda1/0/a/c/{long}").into_bytes(),
        format!("/sda1/0/{long}/c/o").into_bytes(),
    ];
    // Names that are not UTF-8, encoded or raw, get Swift's 412 ("Invalid
    // UTF8 or contains NULL"); tests/raw_request_line.rs holds the status
    // and body against Swift's own object server.
    let not_utf8: Vec<Vec<u8>> = vec![
        b"/sda1/0/a/c/bad%ff%feutf8".to_vec(),
        b"/sda1/0/a/c/raw\xff\xfe".to_vec(),
    ];
    let cases = hostile
        .into_iter()
        .map(|path| (path, "HTTP/1.1 400"))
        .chain(not_utf8.into_iter().map(|path| (path, "HTTP/1.1 412")));
    for (path, want) in cases {
        let mut req = b"PUT ".to_vec();
        req.extend_from_slice(&path);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nX-Timestamp: 1700000000\r\nContent-Type: a/b\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
        let resp = raw(server.port, &req);
        assert!(
            resp.starts_with(want),
            "{} -> {resp}",
            String::from_utf8_lossy(&path)
        );
    }
    // Nothing was written anywhere: no data files under the site at all.
    assert!(files_under(site.root())
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".data")));
}

fn raw(port: u16, req: &[u8]) -> String {
    String::from_utf8_lossy(&raw_bytes(port, req)).into_owned()
}

fn raw_bytes(port: u16, req: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}
