//! Our pickles byte for byte against the ones Swift 2.38.3 writes: object
//! metadata as Swift's diskfile pickles it (and lays it out in xattrs), and
//! other values as CPython's pickler writes them again.

mod common;

use ferroswift::storage::metadata::{self, Metadata};
use ferroswift::storage::pickle::Pickle;

/// For each metadata dict (a JSON list of pairs, in our order): the pickle
/// Swift's diskfile makes of it, and for small ones the xattrs its
/// `write_metadata` sets on a real file (name and hex value, in order).
const SWIFT_METADATA: &str = r#"
import sys, json, os, pickle, tempfile, xattr
from swift.obj import diskfile
out = []
for pairs in json.load(sys.stdin):
    md = dict(pairs)
    raw = pickle.dumps(diskfile._encode_metadata(md), diskfile.PICKLE_PROTOCOL)
    attrs = None
    if len(raw) < 3000:
        fd, path = tempfile.mkstemp()
        diskfile.write_metadata(fd, md)
        attrs = [[n if isinstance(n, str) else n.decode(), xattr.getxattr(fd, n).hex()]
                 for n in sorted(xattr.listxattr(fd))]
        os.close(fd)
        os.remove(path)
    out.append({'pickle': raw.hex(), 'xattrs': attrs})
print(json.dumps(out))
"#;

fn run_python(script: &str, stdin: &str) -> serde_json::Value {
    let out = common::output_with_input(
        std::process::Command::new(common::swift_python())
            .arg("-c")
            .arg(script),
        stdin.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// A value as the object server holds a header: one char per UTF-8 byte.
fn header_chars(text: &str) -> String {
    metadata::from_header_bytes(text.as_bytes())
}

/// Metadata shaped like the functional suite's `testMetadataOnPut` with
/// UTF-8 names: ten items of 32-hex keys and 15 CJK-range chars each.
fn utf8_put_metadata(seed: u32) -> Metadata {
    const CHARS: &[char] = &[
        '\u{F10F}', '\u{D20D}', '\u{B30B}', '\u{9409}', '\u{8508}', '\u{5605}', '\u{3703}',
        '\u{1801}', '\u{0900}', '\u{03A9}', '\u{2603}',
    ];
    let mut m = Metadata::new();
    let name: String = (0..15)
        .map(|i| CHARS[(i * 7 + seed as usize) % 11])
        .collect();
    m.insert("name".into(), format!("/AUTH_test/{name}/{name}"));
    m.insert("X-Timestamp".into(), "1700000000.12345".into());
    m.insert("Content-Type".into(), "application/octet-stream".into());
    m.insert("ETag".into(), "d41d8cd98f00b204e9800998ecf8427e".into());
    m.insert("Content-Length".into(), "1".into());
    for j in 0..10u32 {
        let key = format!("X-Object-Meta-{:032x}", u128::from(seed * 1000 + j) << 64);
        let val: String = (0..15)
            .map(|i| CHARS[(i * 3 + (j * 5) as usize + seed as usize) % 11])
            .collect();
        m.insert(key, header_chars(&val));
    }
    m
}

#[test]
fn object_metadata_pickles_and_xattrs_are_swifts() {
    let mut cases = vec![utf8_put_metadata(1), utf8_put_metadata(2)];
    // Shared objects: equal one-byte and empty values, a 'latin1' value.
    let mut small = Metadata::new();
    for (k, v) in [
        ("name", "/a/c/o"),
        ("Content-Length", "1"),
        ("X-Object-Meta-A", "1"),
        ("X-Object-Meta-B", ""),
        ("X-Object-Meta-C", ""),
        ("X-Object-Meta-D", "latin1"),
        ("X-Object-Meta-E", "\u{e9}"),
        ("X-Object-Meta-F", "x"),
    ] {
        small.insert(k.into(), v.into());
    }
    cases.push(small);
    // Past 256 memo entries (LONG_BINPUT), as testMetadataNumberLimit's 90 items.
    let mut many = Metadata::new();
    for i in 0..90 {
        many.insert(
            format!("X-Object-Meta-{i:022}"),
            header_chars(&"\u{2603}".repeat(7)),
        );
    }
    cases.push(many);
    // Past 1000 items: two SETITEMS batches.
    let mut batches = Metadata::new();
    for i in 0..1001 {
        batches.insert(format!("k{i:04}"), (i % 3).to_string());
    }
    cases.push(batches);

    let pairs: Vec<Vec<(String, String)>> = cases
        .iter()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .collect();
    let swift = run_python(SWIFT_METADATA, &serde_json::to_string(&pairs).unwrap());
    for (i, meta) in cases.iter().enumerate() {
        let ours = metadata::encode(meta);
        assert_eq!(hex(&ours), swift[i]["pickle"], "case {i}");
        if let Some(attrs) = swift[i]["xattrs"].as_array() {
            // Ours, written to a real file, sets the same xattrs.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("o.data");
            let f = std::fs::File::create(&path).unwrap();
            metadata::write(&f, &path, meta).unwrap();
            let mut names: Vec<String> = xattr::list(&path)
                .unwrap()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            names.sort();
            let ours: Vec<serde_json::Value> = names
                .iter()
                .map(|n| serde_json::json!([n, hex(&xattr::get(&path, n).unwrap().unwrap())]))
                .collect();
            assert_eq!(&ours, attrs, "case {i}");
            assert_eq!(metadata::read(&f, &path).unwrap(), *meta);
        }
    }
}

/// CPython re-pickles what it reads of ours: the same bytes come back.
const REPICKLE: &str = r#"
import sys, json, pickle
print(json.dumps([pickle.dumps(pickle.loads(bytes.fromhex(h), encoding='bytes'), 2).hex()
                  for h in json.load(sys.stdin)]))
"#;

#[test]
fn other_pickles_are_what_cpython_writes() {
    let ints = [
        0,
        1,
        255,
        256,
        65535,
        65536,
        -1,
        -129,
        i64::from(i32::MAX),
        i64::from(i32::MAX) + 1,
        i64::from(i32::MIN) - 1,
        1 << 40,
        -(1 << 40),
        i64::MAX,
        i64::MIN,
    ];
    let values = [
        Pickle::Dict(vec![
            (Pickle::Str("op".into()), Pickle::Str("PUT".into())),
            (Pickle::Str("obj".into()), Pickle::Str("\u{2603} o".into())),
            (
                Pickle::Str("headers".into()),
                Pickle::Dict(vec![(
                    Pickle::Str("X-Size".into()),
                    Pickle::Str("3".into()),
                )]),
            ),
            (
                Pickle::Str("successes".into()),
                Pickle::List(vec![Pickle::Int(1)]),
            ),
            (Pickle::Str("none".into()), Pickle::None),
            (Pickle::Str("t".into()), Pickle::Bool(true)),
            (Pickle::Str("f".into()), Pickle::Float(1.5)),
            (Pickle::Str("e".into()), Pickle::List(vec![])),
        ]),
        Pickle::List(ints.iter().map(|&i| Pickle::Int(i)).collect()),
        Pickle::List((0..1500).map(|i| Pickle::Str(format!("s{i}"))).collect()),
        Pickle::Dict(vec![]),
        // Pending-file records: tuples of every length CPython writes apart.
        Pickle::List(vec![
            Pickle::Tuple(vec![]),
            Pickle::Tuple(vec![Pickle::Str("a".into())]),
            Pickle::Tuple(vec![Pickle::Int(1), Pickle::Int(2)]),
            Pickle::Tuple(vec![Pickle::Int(1), Pickle::Int(2), Pickle::Int(3)]),
            Pickle::Tuple(vec![
                Pickle::Str("o".into()),
                Pickle::Str("1700000000.00000".into()),
                Pickle::Int(4),
                Pickle::Str("text/plain".into()),
                Pickle::Str("etag".into()),
                Pickle::Int(0),
                Pickle::Int(0),
            ]),
        ]),
    ];
    let ours: Vec<String> = values.iter().map(|v| hex(&v.dumps())).collect();
    let again = run_python(REPICKLE, &serde_json::to_string(&ours).unwrap());
    for (i, h) in ours.iter().enumerate() {
        assert_eq!(&again[i], h, "value {i}: {:?}", values[i]);
    }
}
