//! ssync interop with Swift 2.38.3: Swift's own `ssync_sender.Sender`
//! pushes a partition into our object server, and our sender pushes one
//! into Swift's object server. Both sides must end with the same files,
//! metadata and suffix hashes.

mod common;
mod repl_util;

use std::path::Path;
use std::time::Duration;

use ferroswift::servers::ssync::sender::{self, Source, Target, Timeouts};
use repl_util::server_util::{spawn, spawn_swift, Site};
use repl_util::{http, read_meta};
use serde_json::Value;

const PART: &str = "17";

/// Writes objects with Swift's DiskFile API (or, with `read`, reads them
/// back), and prints a JSON view plus Swift's suffix hashes.
const SWIFT_SIDE: &str = r#"
import sys, json, hashlib
from swift.common import utils
utils.set_swift_dir(sys.argv[1])
from swift.common import storage_policy
storage_policy.reload_storage_policies()
from swift.common.storage_policy import POLICIES
from swift.common.utils import Timestamp
from swift.obj.diskfile import DiskFileRouter
from swift.obj import ssync_sender
from swift.common.exceptions import DiskFileDeleted, DiskFileNotExist
mode, devices, part = sys.argv[2], sys.argv[3], sys.argv[4]
logger = utils.get_logger({}, log_route='interop')
router = DiskFileRouter({'devices': devices, 'mount_check': 'false'}, logger)
policy = POLICIES[0]
mgr = router[policy]
names = ['plain', 'snow \u2603', 'gone', 'touched']
base = int(sys.argv[5])
def ts(n):
    return Timestamp(base + n).internal
if mode == 'write':
    for i, name in enumerate(names):
        body = ('body of %s' % name).encode() * (i + 1)
        df = mgr.get_diskfile('sda1', part, 'AUTH_s', 'c', name, policy)
        with df.create() as w:
            w.write(body)
            w.put({'X-Timestamp': ts(i + 1), 'Content-Type': 'text/x-%d' % i,
                   'ETag': hashlib.md5(body).hexdigest(),
                   'Content-Length': str(len(body)),
                   'X-Object-Meta-Origin': 'swift',
                   'X-Object-Sysmeta-Kept': 'yes',
                   'name': '/AUTH_s/c/' + name})
            w.commit(Timestamp(ts(i + 1)))
    mgr.get_diskfile('sda1', part, 'AUTH_s', 'c', 'gone', policy).delete(Timestamp(ts(10)))
    mgr.get_diskfile('sda1', part, 'AUTH_s', 'c', 'touched', policy).write_metadata(
        {'X-Timestamp': ts(11), 'X-Object-Meta-Later': 'posted'})
if mode == 'push':
    class Daemon(object):
        pass
    d = Daemon()
    d._df_router = router
    d.logger = logger
    d.conn_timeout = d.node_timeout = d.http_timeout = 10
    d.network_chunk_size = 65536
    port = int(sys.argv[6])
    node = {'replication_ip': '127.0.0.1', 'replication_port': port, 'ip': '127.0.0.1',
            'port': port, 'device': 'sda1', 'index': 0}
    job = {'device': 'sda1', 'partition': part, 'policy': policy}
    suffixes = list(mgr.get_hashes('sda1', part, [], policy).keys())
    ok, in_sync = ssync_sender.Sender(d, node, job, suffixes)()
    print(json.dumps({'ok': ok, 'in_sync': sorted(in_sync)}))
    sys.exit(0)
out = {}
for name in names:
    df = mgr.get_diskfile('sda1', part, 'AUTH_s', 'c', name, policy)
    try:
        df.open()
        with df:
            meta = dict(df.get_metadata())
            # Swift's receiver keeps a POST's `name` header as `Name` too.
            meta.pop('Name', None)
            body = b''.join(df.reader()).decode()
        out[name] = {'meta': meta, 'body': body, 'data_ts': df.data_timestamp.internal}
    except DiskFileDeleted as e:
        out[name] = {'deleted': e.timestamp.internal}
    except DiskFileNotExist:
        out[name] = None
hashes = mgr.get_hashes('sda1', part, [], policy)
print(json.dumps({'objects': out, 'hashes': hashes}))
"#;

fn swift_side(site: &Site, mode: &str, devices: &Path, extra: &[&str]) -> Value {
    let base = base_secs().to_string();
    let mut args = vec![
        site.etc().to_str().unwrap().to_string(),
        mode.to_string(),
        devices.to_str().unwrap().to_string(),
        PART.to_string(),
        base,
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::run_swift_python(SWIFT_SIDE, &refs);
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or(Value::Null)
}

/// Recent whole seconds shared by both sides (old tombstones would be reclaimed).
fn base_secs() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| ferroswift::storage::Timestamp::now().secs() - 1000)
}

fn our_hashes(port: u16) -> Value {
    let (st, body) = http(port, "REPLICATE", &format!("/sda1/{PART}"), &[], b"");
    assert_eq!(st, 200);
    let p = ferroswift::storage::pickle::Pickle::loads(&body).unwrap();
    serde_json::to_value(p.to_string_map()).unwrap()
}

/// Our server's view of the objects, in the shape the Swift script prints.
fn assert_same_objects(swift: &Value, ours_dev: &Path) {
    for (name, want) in swift.as_object().unwrap() {
        let path = format!("/AUTH_s/c/{name}");
        let dir = repl_util::obj_dir(ours_dev, PART.parse().unwrap(), &path);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        if let Some(ts) = want.get("deleted") {
            assert_eq!(files, [format!("{}.ts", ts.as_str().unwrap())], "{name}");
            continue;
        }
        let data_ts = want["data_ts"].as_str().unwrap();
        let data = read_meta(&dir.join(format!("{data_ts}.data")));
        let body = std::fs::read(dir.join(format!("{data_ts}.data"))).unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), want["body"], "{name}");
        let mut merged = data.clone();
        if let Some(meta_file) = files.iter().find(|f| f.ends_with(".meta")) {
            let m = read_meta(&dir.join(meta_file));
            merged.retain(|k, _| !k.starts_with("X-Object-Meta-"));
            merged.extend(m);
        }
        for (k, v) in want["meta"].as_object().unwrap() {
            assert_eq!(merged.get(k).map(String::as_str), v.as_str(), "{name}: {k}");
        }
    }
}

#[test]
fn swift_sender_pushes_into_our_object_server() {
    let site = Site::new();
    let server = spawn(&site, "object", "");
    let src = site.root().join("swift-src");
    std::fs::create_dir_all(src.join("sda1")).unwrap();
    swift_side(&site, "write", &src, &[]);
    let pushed = swift_side(&site, "push", &src, &[&server.port.to_string()]);
    assert_eq!(pushed["ok"], true, "{pushed}");
    assert_eq!(pushed["in_sync"].as_array().unwrap().len(), 4, "{pushed}");
    let swift = swift_side(&site, "read", &src, &[]);
    assert_same_objects(&swift["objects"], &site.devices().join("sda1"));
    // The suffix hashes agree, so the next replication pass is quiet.
    assert_eq!(our_hashes(server.port), swift["hashes"]);
    // Pushing again finds nothing to send and still succeeds.
    let again = swift_side(&site, "push", &src, &[&server.port.to_string()]);
    assert_eq!(again["ok"], true);
}

#[test]
fn our_sender_pushes_into_swift_object_server() {
    let site = Site::new();
    // Write the objects with Swift's DiskFile API into our server's tree, so
    // both sides describe the same objects; then push them with our sender.
    swift_side(&site, "write", &site.devices(), &[]);
    let dst = site.root().join("swift-dst");
    std::fs::create_dir_all(dst.join("sda1")).unwrap();
    let swift_server = spawn_swift(&common::swift_python(), &site, "object", &dst, "");
    let t = Timeouts {
        conn: Duration::from_secs(2),
        node: Duration::from_secs(10),
        http: Duration::from_secs(10),
    };
    let target = Target {
        ip: "127.0.0.1".into(),
        port: swift_server.port,
        device: "sda1".into(),
    };
    let source = Source {
        dev_path: site.devices().join("sda1"),
        policy: 0,
        partition: PART.into(),
    };
    let part_dir = source.dev_path.join("objects").join(PART);
    let mut suffixes: Vec<String> = std::fs::read_dir(&part_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|s| s.len() == 3)
        .collect();
    suffixes.sort();
    let in_sync = sender::sync(&target, &source, &suffixes, None, &t).unwrap();
    assert_eq!(in_sync.len(), 4);
    let ours = swift_side(&site, "read", &site.devices(), &[]);
    let theirs = swift_side(&site, "read", &dst, &[]);
    assert_eq!(ours["objects"], theirs["objects"]);
    assert_eq!(ours["hashes"], theirs["hashes"]);
    assert_same_objects(&theirs["objects"], &dst.join("sda1"));
    // Swift's REPLICATE answer matches our suffix hashes.
    let (code, body) = sender::replicate(&target, PART, 0, &[], &t).unwrap();
    assert_eq!(code, 200);
    let remote = ferroswift::storage::pickle::Pickle::loads(&body)
        .unwrap()
        .to_string_map();
    assert_eq!(serde_json::to_value(remote).unwrap(), ours["hashes"]);
    // A second push sends nothing and succeeds.
    assert_eq!(
        sender::sync(&target, &source, &suffixes, None, &t)
            .unwrap()
            .len(),
        4
    );
}
