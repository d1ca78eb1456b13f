//! Builder files both ways with Swift 2.38.3: we read what Swift writes, and
//! Swift's `RingBuilder.load` reads what we write, with the same contents.

mod common;

use std::path::Path;

use ferroswift::ring::builder::{read_builder, write_builder, RingBuilder, Tier};
use serde_json::{json, Value};

/// Loads a builder with Swift and prints its state in a neutral JSON shape.
const SWIFT_DUMP: &str = r#"
import json, sys
from swift.common.ring.builder import RingBuilder
b = RingBuilder.load(sys.argv[1])
d = b.to_dict()
def dev(x):
    if x is None:
        return None
    return {k: x.get(k) for k in ('region', 'zone', 'ip', 'port', 'device',
            'replication_ip', 'replication_port', 'meta', 'id', 'parts',
            )} | {'weight': float(x['weight']),
                  # a float for zero-weight devices; we keep it as an int
                  'parts_wanted': None if x.get('parts_wanted') is None
                  else int(x['parts_wanted'])}
rows = d['_replica2part2dev']
out = {
    'part_power': d['part_power'], 'next_part_power': d['next_part_power'],
    'replicas': float(d['replicas']), 'min_part_hours': d['min_part_hours'],
    'parts': d['parts'], 'devs': [dev(x) for x in d['devs']],
    'devs_changed': bool(d['devs_changed']), 'dev_id_bytes': d['dev_id_bytes'],
    'version': d['version'], 'overload': float(d['overload']),
    'rows': None if rows is None else [list(r) for r in rows],
    'typecodes': None if rows is None else [r.typecode for r in rows],
    'epoch': d['_last_part_moves_epoch'] or 0,
    'moves': list(d['_last_part_moves']),
    'gather_start': d['_last_part_gather_start'],
    'graph': sorted([list(k), v] for k, v in d['_dispersion_graph'].items()),
    'dispersion': d['dispersion'],
    'remove_devs': [x['id'] for x in d['_remove_devs']],
    'remove_devs_shared': all(any(x is y for y in d['devs']) for x in d['_remove_devs']),
    'id': d['id'],
}
print(json.dumps(out))
"#;

fn swift_dump(path: &Path) -> Value {
    let out = common::run_swift_python(SWIFT_DUMP, &[path.to_str().unwrap()]);
    serde_json::from_slice(&out.stdout).expect("Swift dump is JSON")
}

/// Our state in the same shape as `SWIFT_DUMP`.
fn our_dump(b: &RingBuilder) -> Value {
    let devs: Vec<Value> = b
        .devs
        .iter()
        .map(|d| match d {
            None => Value::Null,
            Some(d) => json!({
                "region": d.dev.region, "zone": d.dev.zone, "ip": d.dev.ip,
                "port": d.dev.port, "device": d.dev.device,
                "replication_ip": d.dev.replication_ip,
                "replication_port": d.dev.replication_port, "meta": d.dev.meta,
                "id": d.dev.id, "parts": d.parts, "parts_wanted": d.parts_wanted,
                "weight": d.dev.weight,
            }),
        })
        .collect();
    let code = if b.dev_id_bytes == 2 { "H" } else { "I" };
    let mut graph: Vec<Value> = b
        .dispersion_graph
        .iter()
        .map(|(t, counts)| {
            let key = match t {
                Tier::Region(r) => json!([r]),
                Tier::Zone(r, z) => json!([r, z]),
                Tier::Server(r, z, ip) => json!([r, z, ip]),
                Tier::Device(r, z, ip, d) => json!([r, z, ip, d]),
            };
            json!([key, counts])
        })
        .collect();
    graph.sort_by_key(|v| v.to_string());
    json!({
        "part_power": b.part_power, "next_part_power": b.next_part_power,
        "replicas": b.replicas, "min_part_hours": b.min_part_hours,
        "parts": b.parts(), "devs": devs, "devs_changed": b.devs_changed,
        "dev_id_bytes": b.dev_id_bytes, "version": b.version, "overload": b.overload,
        "rows": b.replica2part2dev,
        "typecodes": b.replica2part2dev.as_ref().map(|r| vec![code; r.len()]),
        "epoch": b.last_part_moves_epoch, "moves": b.last_part_moves,
        "gather_start": b.last_part_gather_start, "graph": graph,
        "dispersion": b.dispersion, "remove_devs": b.remove_devs,
        "remove_devs_shared": true, "id": b.id,
    })
}

/// Python sorts mixed tuples its own way; compare graphs as sets.
fn normalize(mut v: Value) -> Value {
    if let Some(g) = v.get_mut("graph").and_then(Value::as_array_mut) {
        g.sort_by_key(|x| x.to_string());
    }
    v
}

fn read_path(path: &Path) -> RingBuilder {
    let f = std::fs::File::open(path).unwrap();
    read_builder(std::io::BufReader::new(f)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn reference_builders() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for s in ["S1", "S2", "S6"] {
        out.push(common::reference(s).join("object.builder"));
    }
    for s in ["S4", "S5"] {
        let mut steps: Vec<_> = std::fs::read_dir(common::reference(s))
            .unwrap()
            .map(|e| e.unwrap().path().join("object.builder"))
            .collect();
        steps.sort();
        out.extend(steps);
    }
    out
}

/// Reads `path` with ours and Swift, compares, writes ours back and has Swift
/// load that, comparing again.
fn round_trip(path: &Path) {
    let ours = read_path(path);
    let swift = normalize(swift_dump(path));
    assert_eq!(
        normalize(our_dump(&ours)),
        swift,
        "reading {}",
        path.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("object.builder");
    write_builder(&ours, std::fs::File::create(&written).unwrap()).unwrap();
    assert_eq!(
        normalize(swift_dump(&written)),
        swift,
        "Swift loading ours of {}",
        path.display()
    );
    assert_eq!(
        read_path(&written),
        ours,
        "re-reading ours of {}",
        path.display()
    );
}

#[test]
fn reference_builders_round_trip_through_swift() {
    for path in reference_builders() {
        round_trip(&path);
    }
}

/// Builders Swift makes on the spot: empty, unrebalanced, pending removals
/// (memo-shared dicts), IPv6, unicode meta, holes, fractional replicas,
/// 4-byte ids, a partition-power increase in flight.
const SWIFT_MAKE: &str = r#"
import sys, os
from swift.common.ring.builder import RingBuilder
d = sys.argv[1]
b = RingBuilder(8, 3, 1); b.save(os.path.join(d, 'empty.builder'))
b = RingBuilder(6, 3.25, 0)
for i in range(8):
    b.add_dev({'region': 1 + i % 2, 'zone': i % 4, 'ip': '10.0.0.%d' % (i // 2),
               'port': 6200 + i, 'device': 'sd%s' % 'abcdefgh'[i], 'weight': 100 + i,
               'meta': 'caf\u00e9 \u2603 %d' % i})
b.add_dev({'region': 2, 'zone': 9, 'ip': 'fe80::1:2', 'port': 6000,
           'replication_ip': '2001:db8::7', 'replication_port': 6001,
           'device': 'nvme0', 'weight': 3.5})
b.save(os.path.join(d, 'unbalanced.builder'))
b.rebalance(seed=1)
b.save(os.path.join(d, 'balanced.builder'))
b.remove_dev(3); b.remove_dev(8)
b.set_overload(0.125)
b.save(os.path.join(d, 'removing.builder'))
b.pretend_min_part_hours_passed()
b.rebalance(seed=2)
b.save(os.path.join(d, 'holes.builder'))
b.prepare_increase_partition_power()
b.increase_partition_power()
b.save(os.path.join(d, 'increased.builder'))
b = RingBuilder(4, 2, 1)
b.add_dev({'id': 70000, 'region': 1, 'zone': 1, 'ip': 'h1', 'port': 1, 'device': 'a', 'weight': 1})
b.add_dev({'region': 1, 'zone': 2, 'ip': 'h2', 'port': 1, 'device': 'a', 'weight': 1})
b.rebalance(seed=3)
b.save(os.path.join(d, 'wide.builder'))
"#;

#[test]
fn builders_made_by_swift_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    common::run_swift_python(SWIFT_MAKE, &[dir.path().to_str().unwrap()]);
    for name in [
        "empty",
        "unbalanced",
        "balanced",
        "removing",
        "holes",
        "increased",
        "wide",
    ] {
        let path = dir.path().join(format!("{name}.builder"));
        round_trip(&path);
        let b = read_path(&path);
        match name {
            "removing" => assert_eq!(b.remove_devs, vec![3, 8]),
            "wide" => assert_eq!(b.dev_id_bytes, 4),
            "increased" => assert_eq!(b.next_part_power, Some(7)),
            "unbalanced" => assert!(b.devs[8].as_ref().unwrap().dev.ip.contains("fe80")),
            _ => {}
        }
    }
}

/// A part-power-20 builder (three million table entries) both ways, quickly.
#[test]
fn large_builder_round_trips() {
    const MAKE_BIG: &str = r#"
import sys, random
from array import array
from swift.common.ring.builder import RingBuilder
b = RingBuilder(20, 3, 1)
for i in range(40):
    b.add_dev({'region': 1, 'zone': i % 5, 'ip': '10.0.0.%d' % i, 'port': 6200,
               'device': 'sda', 'weight': 100})
rnd = random.Random(5)
b._replica2part2dev = [array('H', (rnd.randrange(40) for _ in range(b.parts)))
                       for _ in range(3)]
b.save(sys.argv[1])
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.builder");
    common::run_swift_python(MAKE_BIG, &[path.to_str().unwrap()]);
    let started = std::time::Instant::now();
    let ours = read_path(&path);
    let read_time = started.elapsed();
    assert_eq!(ours.replica2part2dev.as_ref().unwrap()[2].len(), 1 << 20);
    let written = dir.path().join("ours.builder");
    write_builder(
        &ours,
        std::io::BufWriter::new(std::fs::File::create(&written).unwrap()),
    )
    .unwrap();
    assert_eq!(
        normalize(swift_dump(&written)),
        normalize(swift_dump(&path)),
        "Swift reads our large builder"
    );
    assert!(read_time.as_secs() < 5, "reading took {read_time:?}");
}

/// `save_builder` assigns an id on first save, writes atomically, and Swift
/// loads the result.
#[test]
fn save_assigns_id_and_swift_loads_it() {
    let mut b = read_path(&common::reference("S1").join("object.builder"));
    b.id = None;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object.builder");
    ferroswift::conf::builder_file::save_builder(&mut b, &path).unwrap();
    let id = b.id.clone().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(swift_dump(&path)["id"], json!(id));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary files left behind");
}

/// Makes a builder with Swift whose devices carry keys Swift does not know
/// about (an operator's tag, a nested value), rebalanced and saved.
const SWIFT_MAKE_WITH_EXTRA_KEYS: &str = r#"
import sys
from swift.common.ring.builder import RingBuilder
b = RingBuilder(8, 3, 1)
for i in range(4):
    b.add_dev({'id': i, 'region': 1, 'zone': i, 'ip': '10.0.0.%d' % (i + 1),
               'port': 6200, 'device': 'sda', 'weight': 100, 'meta': '',
               'site_tag': 'rack-%d' % i,
               'labels': {'ssd': i % 2 == 0, 'tiers': [i, 2.5, None]}})
b.rebalance(seed=1)
b.save(sys.argv[1])
"#;

/// Prints, as Swift loads them, the device keys outside Swift's own set:
/// of the builder, and of a ring file if one is given.
const SWIFT_EXTRA_KEYS: &str = r#"
import json, sys
from swift.common.ring import RingData
from swift.common.ring.builder import RingBuilder
known = {'id', 'region', 'zone', 'ip', 'port', 'replication_ip',
         'replication_port', 'device', 'meta', 'weight', 'parts',
         'parts_wanted'}
def extra(devs):
    return [None if d is None else {k: v for k, v in d.items() if k not in known}
            for d in devs]
out = {'builder': extra(RingBuilder.load(sys.argv[1]).devs)}
if len(sys.argv) > 2:
    out['ring'] = extra(RingData.load(sys.argv[2]).devs)
    out['weights'] = [d['weight'] for d in RingBuilder.load(sys.argv[1]).devs]
print(json.dumps(out))
"#;

#[test]
fn unknown_device_keys_survive_our_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let builder = dir.path().join("object.builder");
    let ring = dir.path().join("object.ring.gz");
    let builder_arg = builder.to_str().unwrap();
    common::run_swift_python(SWIFT_MAKE_WITH_EXTRA_KEYS, &[builder_arg]);
    let swift_made: Value =
        serde_json::from_slice(&common::run_swift_python(SWIFT_EXTRA_KEYS, &[builder_arg]).stdout)
            .unwrap();
    assert_eq!(swift_made["builder"][2]["site_tag"], "rack-2");

    // Our swift-ring-builder rewrites the builder, then writes a ring from it.
    for args in [&["set_weight", "d1", "150"][..], &["write_ring"][..]] {
        common::check(
            std::process::Command::new(common::bin("swift-ring-builder"))
                .arg(&builder)
                .args(args),
        );
    }

    let after: Value = serde_json::from_slice(
        &common::run_swift_python(SWIFT_EXTRA_KEYS, &[builder_arg, ring.to_str().unwrap()]).stdout,
    )
    .unwrap();
    assert_eq!(after["weights"][1], 150.0, "the edit was saved");
    assert_eq!(after["builder"], swift_made["builder"]);
    // Swift's get_ring() copies every device key but parts/parts_wanted.
    assert_eq!(after["ring"], swift_made["builder"]);
}
