//! `db_preallocation`: off by default as in Swift; when on, space is
//! reserved ahead of a growing database in Swift's steps, on real files,
//! the same as Swift 2.38.3's broker reserves for the same records; and the
//! servers read the option as Swift's do. One test, as the switch is one
//! for the whole process.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ferroswift::conf::server_conf::{ServerConf, SwiftConf};
use ferroswift::servers::container::db_server;
use ferroswift::storage::broker::{
    db_path, db_preallocation, prealloc_target, set_db_preallocation, Broker, DbKind, ObjectRow,
};
use ferroswift::storage::Timestamp;

const MIB: u64 = 1024 * 1024;

/// Adds the rows `first..last` of a round to the database at `argv[1]` and
/// merges them, with Swift's preallocation switched as `argv[4]` says.
const SWIFT_ADDS: &str = r#"
import sys
import swift.common.db
from swift.container.backend import ContainerBroker
path, first, last, on = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
swift.common.db.DB_PREALLOCATION = on == 'on'
c = ContainerBroker(path)
for i in range(first, last):
    c.put_object('%05d-' % i + 'x' * 200, '1700000001.00000', i, 'text/plain', 'e%d' % i, 0, 0)
c.get_info()
"#;

fn name(i: u64) -> String {
    format!("{i:05}-{}", "x".repeat(200))
}

fn ours_add(b: &Broker, first: u64, last: u64) {
    let rows: Vec<ObjectRow> = (first..last)
        .map(|i| ObjectRow {
            name: name(i),
            ts: Timestamp::parse("1700000001").unwrap(),
            size: i,
            content_type: "text/plain".into(),
            etag: format!("e{i}"),
            ..ObjectRow::default()
        })
        .collect();
    for chunk in rows.chunks(500) {
        b.put_objects(chunk).unwrap();
    }
    b.info().unwrap();
}

fn swift_add(db: &Path, first: u64, last: u64, on: bool) {
    let (f, l) = (first.to_string(), last.to_string());
    let on = if on { "on" } else { "off" };
    common::run_swift_python(SWIFT_ADDS, &[db.to_str().unwrap(), &f, &l, on]);
}

/// (length, bytes allocated on disk)
fn sizes(db: &Path) -> (u64, u64) {
    let m = std::fs::metadata(db).unwrap();
    (m.len(), m.blocks() * 512)
}

fn create(dir: &Path, node: &str) -> (PathBuf, Broker) {
    let path = db_path(
        &dir.join(node),
        DbKind::Container,
        "3",
        "00112233445566778899aabbccddeeff",
    );
    let ts = Timestamp::parse("1700000000").unwrap();
    let b = Broker::create(&path, DbKind::Container, "a", Some("c"), ts, 0).unwrap();
    (path, b)
}

fn server_sets(conf: &str) -> bool {
    let c = ServerConf::from_text(conf, Path::new("c.conf"), "container-server", 6201).unwrap();
    db_server(&c, &SwiftConf::default()).unwrap();
    db_preallocation()
}

#[test]
fn databases_grow_into_space_reserved_in_swifts_steps() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, b) = create(dir.path(), "ours");
    let (theirs, _) = create(dir.path(), "theirs");

    // Off by default, in Swift as here: only what SQLite wrote is allocated.
    assert!(!db_preallocation());
    ours_add(&b, 0, 10);
    swift_add(&theirs, 0, 10, false);
    for db in [&ours, &theirs] {
        let (len, alloc) = sizes(db);
        assert!(alloc < MIB && alloc <= len + 64 * 1024, "{len} {alloc}");
    }

    // On: each merge reserves up to the next step, beyond the file's end.
    set_db_preallocation(true);
    let mut steps = Vec::new();
    for (first, last) in [(10, 20), (20, 1500), (1500, 4000)] {
        ours_add(&b, first, last);
        swift_add(&theirs, first, last, true);
        let (len, alloc) = sizes(&ours);
        let (their_len, their_alloc) = sizes(&theirs);
        let target = prealloc_target(len);
        assert_eq!(target, prealloc_target(their_len), "{len} {their_len}");
        assert!(len < target, "the length stays as SQLite wrote it");
        for a in [alloc, their_alloc] {
            assert!(
                a >= target && a < target + 64 * 1024,
                "{a} allocated for {len} bytes (step {target})"
            );
        }
        steps.push(target / MIB);
    }
    assert_eq!(steps, [1, 2, 5], "three steps crossed");

    // The servers read it as Swift's: [DEFAULT] or the app section, with
    // Swift's true values; unset is off.
    let conf = |default: &str, app: &str| {
        format!("[DEFAULT]\n{default}\n[app:container-server]\nuse = egg:swift#container\n{app}\n")
    };
    assert!(server_sets(&conf("db_preallocation = yes", "")));
    assert!(!server_sets(&conf("", "")));
    assert!(server_sets(&conf("", "db_preallocation = t")));
    assert!(!server_sets(&conf("", "db_preallocation = f")));
}
