//! Rings written by ferroswift, loaded by real Swift 2.38.3 (`RingData.load`
//! and `Ring`): Swift must see exactly the devices and table we meant, and
//! Swift re-saving what it loaded must give the same decompressed bytes.

mod common;

use std::fs;

use common::gunzip_file;
use ferroswift::conf::ring_file::save_ring;
use ferroswift::ring::codec::RingFormat;
use ferroswift::ring::{Device, RingData};
use serde_json::{json, Value};

fn dev(id: u32, ip: &str, port: u16, weight: f64) -> Device {
    Device {
        id,
        region: 1 + id % 3,
        zone: 1 + id % 5,
        ip: ip.to_string(),
        port,
        replication_ip: ip.to_string(),
        replication_port: port,
        device: format!("sd{}", char::from(b'a' + (id % 26) as u8)),
        meta: String::new(),
        weight,
        extra: Default::default(),
    }
}

/// Devices 0..n with a few holes and every unusual field we support.
fn devices(n: u32, holes: &[u32]) -> Vec<Option<Device>> {
    (0..n)
        .map(|id| {
            if holes.contains(&id) {
                return None;
            }
            let mut d = dev(
                id,
                &format!("10.0.{}.{}", id / 200, id % 200 + 1),
                6200 + (id % 3) as u16,
                100.0,
            );
            match id % 7 {
                1 => {
                    d.ip = format!("fd00::{:x}", id + 1);
                    d.replication_ip = format!("fe80::1:{:x}", id);
                    d.replication_port = 6300;
                }
                2 => d.meta = "caf\u{e9} \"quoted\" back\\slash\ttab \u{1f600} \u{7f}".to_string(),
                3 => d.weight = 0.0,
                4 => d.weight = 1e-5,
                5 => d.weight = 1234.5678,
                6 => d.device = "d\u{1d11e}vice".to_string(),
                _ => {}
            }
            Some(d)
        })
        .collect()
}

/// Devices whose weights are arbitrary finite doubles and whose text fields
/// hold arbitrary code points, to check JSON floats and escapes exactly.
fn odd_devices(n: u32) -> Vec<Option<Device>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|id| {
            let mut d = dev(id, "10.9.9.9", 6200, 1.0);
            d.weight = loop {
                let bits = next();
                let w = match bits % 4 {
                    0 => f64::from_bits(bits),
                    1 => (bits % 100_000) as f64 / 1000.0,
                    2 => f64::from_bits(bits) % 1e-3,
                    _ => (bits >> 11) as f64 * 1e10,
                };
                if w.is_finite() {
                    break w.abs();
                }
            };
            let mut meta: String = (0..8)
                .filter_map(|_| char::from_u32((next() % 0x11_0000) as u32))
                .collect();
            meta.extend(char::from_u32((next() % 0x80) as u32));
            d.meta = meta;
            Some(d)
        })
        .collect()
}

/// A deterministic table over the present devices: `rows` full rows plus a
/// last row of `last` entries (if `last > 0`).
fn table(devs: &[Option<Device>], part_power: u32, rows: usize, last: usize) -> Vec<Vec<u32>> {
    let ids: Vec<u32> = devs.iter().flatten().map(|d| d.id).collect();
    let parts = 1usize << part_power;
    let mut state = 0x9E37_79B9u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ids[(state % ids.len() as u64) as usize]
    };
    let mut out: Vec<Vec<u32>> = (0..rows)
        .map(|_| (0..parts).map(|_| next()).collect())
        .collect();
    if last > 0 {
        out.push((0..last).map(|_| next()).collect());
    }
    out
}

fn ring(devs: Vec<Option<Device>>, part_power: u32, rows: usize, last: usize) -> RingData {
    let replica2part2dev = table(&devs, part_power, rows, last);
    RingData {
        devs,
        replica2part2dev,
        part_shift: 32 - part_power,
        next_part_power: None,
        version: Some(7),
        dev_id_bytes: 2,
    }
}

/// The rings to write, each with a name and format.
fn cases() -> Vec<(String, RingData, RingFormat)> {
    let mut out = Vec::new();
    for format in [RingFormat::V1, RingFormat::V2] {
        let v = format.number();
        out.push((
            format!("plain-v{v}"),
            ring(devices(12, &[]), 6, 3, 0),
            format,
        ));
        out.push((
            format!("holes-v{v}"),
            ring(devices(20, &[0, 4, 13, 19]), 8, 3, 0),
            format,
        ));
        out.push((
            format!("fractional-v{v}"),
            ring(devices(9, &[3]), 7, 3, 32),
            format,
        ));
        let mut npp = ring(devices(10, &[]), 5, 2, 0);
        npp.next_part_power = Some(6);
        npp.version = None;
        out.push((format!("npp-noversion-v{v}"), npp, format));
        out.push((
            format!("partpower0-v{v}"),
            ring(devices(3, &[]), 0, 1, 0),
            format,
        ));
    }
    out.push((
        "odd-floats-and-text-v1".into(),
        ring(odd_devices(3000), 4, 3, 0),
        RingFormat::V1,
    ));
    out.push((
        "odd-floats-and-text-v2".into(),
        ring(odd_devices(300), 4, 3, 0),
        RingFormat::V2,
    ));
    let mut forced4 = ring(devices(12, &[5]), 6, 3, 0);
    forced4.dev_id_bytes = 4;
    out.push(("forced-4-byte-v2".into(), forced4, RingFormat::V2));
    let mut wide_devs = devices(8, &[]);
    wide_devs.resize(70_001, None);
    wide_devs[70_000] = Some(dev(70_000, "fd00::beef", 6200, 50.0));
    let mut wide = ring(wide_devs, 6, 3, 5);
    wide.dev_id_bytes = 4;
    out.push(("wide-4-byte-v2".into(), wide, RingFormat::V2));
    out
}

const SWIFT_SCRIPT: &str = r#"
import json, os, sys
from swift.common import utils
from swift.common.ring import RingData, Ring

work, swift_dir, resave_dir = sys.argv[1], sys.argv[2], sys.argv[3]
utils.set_swift_dir(swift_dir)
utils.validate_configuration()
out = {}
for name in sorted(os.listdir(work)):
    path = os.path.join(work, name, 'object.ring.gz')
    rd = RingData.load(path)
    ring = Ring(os.path.join(work, name), ring_name='object')
    parts = 1 << (32 - rd._part_shift)
    out[name] = {
        'format_version': rd.format_version,
        'devs': rd.devs,
        'rows': [list(r) for r in rd._replica2part2dev_id],
        'part_shift': rd._part_shift,
        'next_part_power': rd.next_part_power,
        'version': rd.version,
        'dev_id_bytes': rd.dev_id_bytes,
        'replica_count': ring.replica_count,
        'part_nodes': [[n['id'] for n in ring.get_part_nodes(p)] for p in range(parts)],
    }
    os.makedirs(os.path.join(resave_dir, name))
    rd.save(os.path.join(resave_dir, name, 'object.ring.gz'), format_version=rd.format_version)
json.dump(out, sys.stdout)
"#;

fn device_json(d: &Option<Device>) -> Value {
    match d {
        None => Value::Null,
        Some(d) => json!({
            "id": d.id, "region": d.region, "zone": d.zone, "ip": d.ip, "port": d.port,
            "replication_ip": d.replication_ip, "replication_port": d.replication_port,
            "device": d.device, "meta": d.meta, "weight": d.weight,
        }),
    }
}

/// Swift's `get_part_nodes` ids: each row's entry, first occurrence only.
fn part_nodes(ring: &RingData) -> Vec<Vec<u32>> {
    (0..ring.partition_count())
        .map(|p| {
            let mut ids: Vec<u32> = Vec::new();
            for row in &ring.replica2part2dev {
                if let Some(&id) = row.get(p) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            ids
        })
        .collect()
}

/// A decompressed v2 stream with the index's compressed offsets and the
/// trailer's compressed offset blanked (they depend on the deflate library).
fn mask_v2(mut data: Vec<u8>) -> Vec<u8> {
    let n = data.len();
    let at = u64::from_be_bytes(data[n - 16..n - 8].try_into().unwrap()) as usize;
    let len = u64::from_be_bytes(data[at..at + 8].try_into().unwrap()) as usize;
    let mut index: Value = serde_json::from_slice(&data[at + 8..at + 8 + len]).unwrap();
    for entry in index.as_object_mut().unwrap().values_mut() {
        entry[0] = Value::Null;
        entry[2] = Value::Null;
    }
    let mut out = data[..at].to_vec();
    out.extend_from_slice(index.to_string().as_bytes());
    out.extend_from_slice(&data[n - 16..n - 8]);
    data.clear();
    out
}

#[test]
fn swift_loads_our_rings_as_we_meant_them() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("rings");
    let resave = tmp.path().join("resaved");
    fs::create_dir_all(&work).unwrap();
    fs::create_dir_all(&resave).unwrap();
    fs::copy(
        common::reference_dir().join("swift.conf"),
        tmp.path().join("swift.conf"),
    )
    .unwrap();
    let cases = cases();
    for (name, ring, format) in &cases {
        fs::create_dir_all(work.join(name)).unwrap();
        save_ring(work.join(name).join("object.ring.gz"), ring, *format).unwrap();
    }
    let out = common::run_swift_python(
        SWIFT_SCRIPT,
        &[
            work.to_str().unwrap(),
            tmp.path().to_str().unwrap(),
            resave.to_str().unwrap(),
        ],
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (name, ring, format) in &cases {
        let swift = &seen[name.as_str()];
        assert_eq!(swift["format_version"], format.number(), "{name}");
        let devs: Vec<Value> = ring.devs.iter().map(device_json).collect();
        assert!(
            swift["devs"] == Value::Array(devs),
            "{name}: devices differ"
        );
        assert!(
            swift["rows"] == json!(ring.replica2part2dev),
            "{name}: rows differ"
        );
        assert_eq!(swift["part_shift"], ring.part_shift, "{name}");
        assert_eq!(
            swift["next_part_power"],
            json!(ring.next_part_power),
            "{name}"
        );
        assert_eq!(swift["version"], json!(ring.version), "{name}");
        assert_eq!(swift["dev_id_bytes"], ring.dev_id_bytes, "{name}");
        assert_eq!(
            swift["replica_count"].as_f64(),
            Some(ring.replica_count()),
            "{name}"
        );
        assert!(
            swift["part_nodes"] == json!(part_nodes(ring)),
            "{name}: get_part_nodes differs"
        );

        let ours = gunzip_file(&work.join(name).join("object.ring.gz"));
        let theirs = gunzip_file(&resave.join(name).join("object.ring.gz"));
        match format {
            RingFormat::V1 => {
                if let Some(i) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
                    let ctx = |d: &[u8]| {
                        String::from_utf8_lossy(&d[i.saturating_sub(60)..(i + 40).min(d.len())])
                            .into_owned()
                    };
                    panic!(
                        "{name}: Swift re-saves different bytes at {i}: ours {:?} theirs {:?}",
                        ctx(&ours),
                        ctx(&theirs)
                    );
                }
                assert!(ours == theirs, "{name}: Swift re-saves different bytes")
            }
            RingFormat::V2 => assert!(
                mask_v2(ours) == mask_v2(theirs),
                "{name}: Swift re-saves different bytes"
            ),
        }
    }
}

/// Swift writes rings (v1 and v2) whose devices carry keys we do not model.
const SWIFT_EXTRA_KEYS_SCRIPT: &str = r#"
import os, sys
from swift.common.ring import RingData
out = sys.argv[1]
def dev(i, **extra):
    d = {'id': i, 'region': 1, 'zone': i, 'ip': '10.0.0.%d' % (i + 1), 'port': 6200,
         'replication_ip': '10.0.0.%d' % (i + 1), 'replication_port': 6200,
         'device': 'sda', 'meta': '', 'weight': 100.0}
    d.update(extra)
    return d
devs = [
    dev(0, ssd=True, labels={'rack': 'r1', 'a': [1, 2.5, None, 'caf\u00e9']}),
    dev(1, a_first='x', zz=3, big=2 ** 40, ratio=0.1),
    None,
    dev(3),
    dev(4, empty={}, **{'\u00fcber': -7}),
]
rows = [[0, 1, 3, 4] * 4, [1, 3, 4, 0] * 4, [3, 4, 0, 1] * 4]
for version in (1, 2):
    os.makedirs(os.path.join(out, 'v%d' % version))
    RingData(rows, devs, 28, version=7).save(
        os.path.join(out, 'v%d' % version, 'object.ring.gz'), format_version=version)
"#;

#[test]
fn unknown_device_keys_from_swift_survive_a_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("swift");
    common::run_swift_python(SWIFT_EXTRA_KEYS_SCRIPT, &[theirs.to_str().unwrap()]);
    for (sub, format) in [("v1", RingFormat::V1), ("v2", RingFormat::V2)] {
        let src = theirs.join(sub).join("object.ring.gz");
        let ring = ferroswift::conf::ring_file::load_ring(&src).unwrap();
        let dev0 = ring.devs[0].as_ref().unwrap();
        assert_eq!(dev0.extra["ssd"], json!(true), "{sub}");
        assert_eq!(dev0.extra["labels"]["a"][1], json!(2.5), "{sub}");
        let dev4 = ring.devs[4].as_ref().unwrap();
        assert_eq!(dev4.extra["\u{fc}ber"], json!(-7), "{sub}");
        assert!(ring.devs[3].as_ref().unwrap().extra.is_empty(), "{sub}");
        // The lookup ring keeps them too.
        let lookup = ferroswift::conf::ring_file::load_lookup_ring(&src).unwrap();
        assert_eq!(lookup.devices(), &ring.devs[..], "{sub}");

        let dest = tmp.path().join("ours").join(sub);
        fs::create_dir_all(&dest).unwrap();
        save_ring(dest.join("object.ring.gz"), &ring, format).unwrap();
        let (ours, swift) = (gunzip_file(&dest.join("object.ring.gz")), gunzip_file(&src));
        match format {
            RingFormat::V1 => assert!(ours == swift, "{sub}: written back differently"),
            RingFormat::V2 => assert!(
                mask_v2(ours) == mask_v2(swift),
                "{sub}: written back differently"
            ),
        }
    }
}
