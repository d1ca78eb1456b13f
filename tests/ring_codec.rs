//! Ring file codec against the reference rings made by Swift 2.38.3: decoding,
//! header facts, v1/v2 agreement, and byte-exact re-encoding.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{gunzip, gunzip_file};
use ferroswift::conf::ring_file::load_ring_with_format;
use ferroswift::ring::codec::{self, RingFormat};
use ferroswift::ring::RingData;
use serde_json::Value;

/// Every reference scenario (or step) directory holding a v1 and a v2 ring.
fn scenarios() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if dir.join("object.ring.gz").exists() && dir.join("v2/object.ring.gz").exists() {
            out.push(dir.to_path_buf());
        }
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() && path.file_name().is_some_and(|n| n != "v2") {
                walk(&path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&common::reference_dir(), &mut out);
    assert!(
        out.len() >= 16,
        "expected all reference scenarios, found {out:?}"
    );
    out
}

fn ring_files(dir: &Path) -> [(PathBuf, PathBuf, RingFormat); 2] {
    [
        (
            dir.join("object.ring.gz"),
            dir.join("ringdump-v1.json"),
            RingFormat::V1,
        ),
        (
            dir.join("v2/object.ring.gz"),
            dir.join("ringdump-v2.json"),
            RingFormat::V2,
        ),
    ]
}

#[test]
fn reference_rings_decode_with_their_header_facts() {
    for dir in scenarios() {
        for (ring_path, dump_path, want_format) in ring_files(&dir) {
            let what = ring_path.display().to_string();
            let (ring, format) =
                load_ring_with_format(&ring_path).unwrap_or_else(|e| panic!("{e}"));
            let dump: Value = serde_json::from_slice(&fs::read(&dump_path).unwrap()).unwrap();
            assert_eq!(format, want_format, "{what}");
            assert_eq!(u64::from(format.number()), dump["version"], "{what}");
            assert_eq!(
                u64::from(ring.part_shift),
                dump["meta"]["part_shift"],
                "{what}"
            );
            assert_eq!(ring.version, dump["meta"]["version"].as_u64(), "{what}");
            assert_eq!(
                ring.next_part_power.map(u64::from),
                dump["meta"]["next_part_power"].as_u64(),
                "{what}"
            );
            assert_eq!(u64::from(ring.dev_id_bytes), dump["dev_id_bytes"], "{what}");
            assert_eq!(ring.devs.len() as u64, dump["ndevs_slots"], "{what}");
            let lengths: Vec<u64> = ring
                .replica2part2dev
                .iter()
                .map(|r| r.len() as u64)
                .collect();
            let want: Vec<u64> = dump["replica_row_lengths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(lengths, want, "{what}");
            match format {
                RingFormat::V1 => assert_eq!(
                    ring.replica2part2dev.len() as u64,
                    dump["meta"]["replica_count"],
                    "{what}"
                ),
                RingFormat::V2 => assert_eq!(
                    ring.replica_count(),
                    dump["meta"]["replica_count"].as_f64().unwrap(),
                    "{what}"
                ),
            }
            assert_eq!(
                gunzip_file(&ring_path).len() as u64,
                dump["uncompressed_size"],
                "{what}"
            );
            let assigned = ring.replica2part2dev.iter().flatten().count();
            assert!(assigned > 0, "{what}");
        }
    }
}

#[test]
fn v1_and_v2_of_each_scenario_decode_to_the_same_ring() {
    for dir in scenarios() {
        let read =
            |p: PathBuf| -> RingData { codec::read_ring(fs::File::open(p).unwrap()).unwrap() };
        let v1 = read(dir.join("object.ring.gz"));
        let v2 = read(dir.join("v2/object.ring.gz"));
        assert_eq!(v1, v2, "{}", dir.display());
    }
}

#[test]
fn reference_devices_decode_with_their_fields() {
    let ring =
        codec::read_ring(fs::File::open(common::reference("S1/object.ring.gz")).unwrap()).unwrap();
    let dev = ring.devs[0].as_ref().unwrap();
    assert_eq!((dev.id, dev.region, dev.zone), (0, 1, 1));
    assert_eq!(
        (dev.ip.as_str(), dev.port, dev.device.as_str()),
        ("10.1.1.1", 6200, "sda")
    );
    assert_eq!(
        (dev.replication_ip.as_str(), dev.replication_port),
        ("10.1.1.1", 6200)
    );
    assert_eq!((dev.weight, dev.meta.as_str()), (100.0, ""));
    // Partitions 0..4 of replica 0 (see the format description, a.3).
    assert_eq!(ring.replica2part2dev[0][..5], [2, 3, 2, 2, 5]);
}

/// Index entries of a decompressed v2 stream, without the compressed offsets
/// (those depend on the deflate implementation).
fn v2_index_without_compressed_offsets(data: &[u8]) -> Value {
    let at = u64::from_be_bytes(data[data.len() - 16..data.len() - 8].try_into().unwrap()) as usize;
    let len = u64::from_be_bytes(data[at..at + 8].try_into().unwrap()) as usize;
    let mut index: Value = serde_json::from_slice(&data[at + 8..at + 8 + len]).unwrap();
    for entry in index.as_object_mut().unwrap().values_mut() {
        let items = entry.as_array_mut().unwrap();
        items[0] = Value::Null;
        items[2] = Value::Null;
    }
    index
}

#[test]
fn re_encoding_reference_rings_reproduces_swift_bytes() {
    let mut exact_gz = 0;
    for dir in scenarios() {
        for (ring_path, _, format) in ring_files(&dir) {
            let what = ring_path.display().to_string();
            let original = fs::read(&ring_path).unwrap();
            let (ring, _) = codec::decode_ring(&original).unwrap();
            let ours = codec::write_ring(&ring, format, "object.ring.gz", Vec::new()).unwrap();
            assert_eq!(ours[..22], original[..22], "gzip header of {what}");
            let theirs = gunzip_file(&ring_path);
            let mine = gunzip(&ours);
            if ours == original {
                exact_gz += 1;
            }
            match format {
                RingFormat::V1 => {
                    assert!(mine == theirs, "decompressed v1 bytes differ for {what}")
                }
                RingFormat::V2 => {
                    // Everything before the index is identical, and so is the
                    // index apart from the compressed offsets.
                    let at = theirs.len() - 16;
                    let index_at =
                        u64::from_be_bytes(theirs[at..at + 8].try_into().unwrap()) as usize;
                    assert_eq!(mine.len(), theirs.len(), "{what}");
                    assert!(
                        mine[..index_at] == theirs[..index_at],
                        "sections differ for {what}"
                    );
                    assert_eq!(mine[at..at + 8], theirs[at..at + 8], "{what}");
                    assert_eq!(
                        v2_index_without_compressed_offsets(&mine),
                        v2_index_without_compressed_offsets(&theirs),
                        "{what}"
                    );
                    // Our trailer points at our own index, where Swift's reader looks.
                    let comp = u64::from_be_bytes(mine[mine.len() - 8..].try_into().unwrap());
                    assert!(comp < ours.len() as u64, "{what}");
                }
            }
        }
    }
    eprintln!("{exact_gz} re-encoded rings are byte-identical to Swift's .gz files");
}

mod roundtrip {
    use ferroswift::ring::codec::{self, RingFormat};
    use ferroswift::ring::{Device, RingData};
    use proptest::prelude::*;

    fn device() -> impl Strategy<Value = Device> {
        (
            (
                any::<u32>(),
                any::<u32>(),
                ".{0,12}",
                any::<u16>(),
                ".{0,12}",
                any::<u16>(),
            ),
            (
                ".{0,12}",
                ".{0,20}",
                any::<f64>().prop_filter("finite", |w| w.is_finite()),
            ),
        )
            .prop_map(
                |((region, zone, ip, port, rip, rport), (device, meta, weight))| Device {
                    id: 0,
                    region,
                    zone,
                    ip,
                    port,
                    replication_ip: rip,
                    replication_port: rport,
                    device,
                    meta,
                    weight,
                    extra: Default::default(),
                },
            )
    }

    fn ring() -> impl Strategy<Value = RingData> {
        (
            proptest::collection::vec(proptest::option::weighted(0.8, device()), 1..12),
            0u32..=6,
            1usize..=4,
            0usize..=64,
            any::<bool>(),
            proptest::option::of(0u32..=32),
            proptest::option::of(any::<u64>()),
            any::<u64>(),
        )
            .prop_map(|(mut devs, power, rows, last, wide, npp, version, seed)| {
                for (i, d) in devs.iter_mut().enumerate() {
                    if let Some(d) = d {
                        d.id = i as u32;
                    }
                }
                let parts = 1usize << power;
                let id_max = if wide { u32::MAX } else { 0xFFFF };
                let mut state = seed | 1;
                let mut next = || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % (u64::from(id_max) + 1)) as u32
                };
                let mut table: Vec<Vec<u32>> = (0..rows)
                    .map(|_| (0..parts).map(|_| next()).collect())
                    .collect();
                let last = last % parts;
                if last > 0 {
                    table.push((0..last).map(|_| next()).collect());
                }
                RingData {
                    devs,
                    replica2part2dev: table,
                    part_shift: 32 - power,
                    next_part_power: npp,
                    version,
                    dev_id_bytes: if wide { 4 } else { 2 },
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn written_rings_read_back_equal(ring in ring()) {
            let formats: &[RingFormat] = if ring.dev_id_bytes == 2 {
                &[RingFormat::V1, RingFormat::V2]
            } else {
                &[RingFormat::V2]
            };
            for &format in formats {
                let bytes = codec::write_ring(&ring, format, "object.ring.gz", Vec::new()).unwrap();
                let (back, found) = codec::decode_ring(&bytes).unwrap();
                prop_assert_eq!(found, format);
                prop_assert_eq!(&back, &ring);
                let again = codec::write_ring(&back, format, "object.ring.gz", Vec::new()).unwrap();
                prop_assert!(again == bytes, "re-encoding changed the bytes");
            }
        }
    }
}
