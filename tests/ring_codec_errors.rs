//! Ring file reader robustness: every malformed input gives a one-line error
//! naming the problem, never a panic or an allocation the input cannot justify.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs;
use std::io::Write;

use common::gunzip;
use ferroswift::conf::ring_file::{load_ring, save_ring};
use ferroswift::ring::codec::{self, RingFileError, RingFormat};
use ferroswift::ring::RingData;
use flate2::write::GzEncoder;
use proptest::prelude::*;

/// Records the largest single allocation of each thread, to catch buffers
/// sized by a lying length field (per thread: tests run in parallel).
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

fn largest_since(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    f();
    LARGEST.with(Cell::get)
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

fn reference_bytes(rel: &str) -> Vec<u8> {
    fs::read(common::reference(rel)).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn error_of(file: &[u8]) -> String {
    let err = codec::decode_ring(file).expect_err("decoding should fail");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line error: {msg}");
    msg
}

fn error_of_stream(data: &[u8]) -> String {
    let err = codec::decode_decompressed(data).expect_err("decoding should fail");
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line error: {msg}");
    msg
}

fn assert_contains(msg: &str, want: &str) {
    assert!(msg.contains(want), "{msg:?} does not contain {want:?}");
}

/// The decompressed S1 v2 ring and the positions of its sections.
fn s1_v2() -> (Vec<u8>, serde_json::Value, usize) {
    let data = gunzip(&reference_bytes("S1/v2/object.ring.gz"));
    let n = data.len();
    let at = u64::from_be_bytes(data[n - 16..n - 8].try_into().unwrap()) as usize;
    let len = u64::from_be_bytes(data[at..at + 8].try_into().unwrap()) as usize;
    let index = serde_json::from_slice(&data[at + 8..at + 8 + len]).unwrap();
    (data, index, at)
}

/// Replaces the index blob of a decompressed v2 stream.
fn with_index(data: &[u8], at: usize, index: &serde_json::Value) -> Vec<u8> {
    let text = index.to_string();
    let mut out = data[..at].to_vec();
    out.extend_from_slice(&(text.len() as u64).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&(at as u64).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out
}

#[test]
fn container_errors_name_the_problem() {
    assert_contains(&error_of(b""), "not a gzip file");
    assert_contains(&error_of(b"R1NG\x00\x01 plain"), "not a gzip file");
    let v1 = reference_bytes("S1/object.ring.gz");
    assert_contains(&error_of(&v1[..5]), "truncated gzip stream");
    assert_contains(&error_of(&v1[..v1.len() / 2]), "truncated gzip stream");
    assert_contains(&error_of(&v1[..v1.len() - 3]), "truncated gzip stream");
    let mut bad_crc = v1.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 1;
    assert_contains(&error_of(&bad_crc), "gzip trailer mismatch");
    let mut bad_deflate = v1.clone();
    bad_deflate[0x26] = 0xFF; // a reserved block type
    assert_contains(&error_of(&bad_deflate), "corrupt deflate data");
}

#[test]
fn ring_header_errors_name_the_problem() {
    assert_contains(&error_of(&gzip(b"RING\x00\x01")), "Bad ring magic");
    assert_contains(&error_of(&gzip(b"R1")), "Bad ring magic");
    assert_contains(
        &error_of(&gzip(b"R1NG\x00\x03")),
        "Unsupported ring version: 3",
    );
    assert_contains(&error_of(&gzip(b"R1NG\x00")), "Incomplete read");
    assert_contains(
        &error_of(&gzip(b"R1NG\x00\x01\x00\x00\x00\x05{oops")),
        "invalid JSON in v1 JSON header",
    );
    assert_contains(
        &error_of(&gzip(b"R1NG\x00\x01\xff\xff\xff\xff{}")),
        "Incomplete read of v1 JSON header",
    );
    let header = br#"{"devs": [], "part_shift": 40, "replica_count": 1}"#;
    let mut stream = b"R1NG\x00\x01".to_vec();
    stream.extend_from_slice(&(header.len() as u32).to_be_bytes());
    stream.extend_from_slice(header);
    assert_contains(&error_of_stream(&stream), "part_shift 40 is above 32");
    // Three rows promised, one and a half present.
    let v1 = gunzip(&reference_bytes("S1/object.ring.gz"));
    let cut = 1447 + 1024 * 2 + 1024;
    assert_contains(
        &error_of_stream(&v1[..cut]),
        "Incomplete read of v1 replica row 1 of 3",
    );
}

#[test]
fn v2_section_errors_name_the_problem() {
    let (data, index, at) = s1_v2();
    // The unchanged stream decodes.
    codec::decode_decompressed(&data).unwrap();

    let mut flipped = data.clone();
    flipped[1447 + 100] ^= 0x40;
    assert_contains(
        &error_of_stream(&flipped),
        "Hash mismatch in block swift/ring/assignments",
    );

    let mut inconsistent = index.clone();
    inconsistent["swift/ring/devices"][3] = (1447 - 2).into();
    assert_contains(
        &error_of_stream(&with_index(&data, at, &inconsistent)),
        "Inconsistent section size for swift/ring/devices",
    );

    let mut md4 = index.clone();
    md4["swift/ring/metadata"][4] = "md4".into();
    assert_contains(
        &error_of_stream(&with_index(&data, at, &md4)),
        "Unsupported checksum md4",
    );

    let mut missing = index.clone();
    missing
        .as_object_mut()
        .unwrap()
        .remove("swift/ring/devices");
    assert_contains(
        &error_of_stream(&with_index(&data, at, &missing)),
        "missing section swift/ring/devices",
    );

    let mut beyond = index.clone();
    beyond["swift/ring/assignments"][1] = 1_000_000.into();
    beyond["swift/ring/assignments"][3] = 1_006_152.into();
    assert_contains(
        &error_of_stream(&with_index(&data, at, &beyond)),
        "Incomplete read",
    );

    let mut short = data[..at].to_vec();
    short.extend_from_slice(&[0; 4]);
    assert_contains(&error_of_stream(&short), "Could not read index offset");

    let mut lying_offset = data.clone();
    let n = lying_offset.len();
    lying_offset[n - 16..n - 8].copy_from_slice(&u64::MAX.to_be_bytes());
    assert_contains(
        &error_of_stream(&lying_offset),
        "Could not read index offset",
    );

    let mut lying_len = data.clone();
    lying_len[at..at + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    assert_contains(
        &error_of_stream(&lying_len),
        "Incomplete read of ring index",
    );
}

fn tiny_ring() -> RingData {
    let dev = |id| ferroswift::ring::Device {
        id,
        region: 1,
        zone: 1,
        ip: "127.0.0.1".into(),
        port: 6200,
        replication_ip: "127.0.0.1".into(),
        replication_port: 6200,
        device: "sda".into(),
        meta: String::new(),
        weight: 1.0,
        extra: Default::default(),
    };
    RingData {
        devs: vec![Some(dev(0)), None, Some(dev(2))],
        replica2part2dev: vec![vec![0, 2], vec![2, 0]],
        part_shift: 31,
        next_part_power: None,
        version: Some(3),
        dev_id_bytes: 2,
    }
}

#[test]
fn writer_errors_name_the_problem() {
    let mut wide = tiny_ring();
    wide.dev_id_bytes = 4;
    let err = codec::write_ring_v1(&wide, "object.ring.gz", Vec::new()).unwrap_err();
    assert!(matches!(err, RingFileError::DevIdBytesTooSmall));
    assert_eq!(err.to_string(), "Ring v1 only supports 2-byte dev IDs");
    let mut overflow = tiny_ring();
    overflow.replica2part2dev[0][0] = 70_000;
    let err = codec::write_ring_v2(&overflow, "object.ring.gz", Vec::new()).unwrap_err();
    assert_contains(&err.to_string(), "device id 70000 does not fit in 2 bytes");
    let err = codec::write_ring_v1(&tiny_ring(), "\u{1f600}.ring.gz", Vec::new()).unwrap_err();
    assert_contains(&err.to_string(), "not latin-1");
}

#[test]
fn load_ring_validates_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object.ring.gz");
    let mut ring = tiny_ring();
    ring.replica2part2dev[1][1] = 1; // the hole
    save_ring(&path, &ring, RingFormat::V2).unwrap();
    let msg = load_ring(&path).unwrap_err().to_string();
    assert_contains(&msg, "object.ring.gz: invalid ring: replica 1 of partition 1 is on device 1, which is not in devs");
    ring.replica2part2dev[1][1] = 9;
    save_ring(&path, &ring, RingFormat::V1).unwrap();
    assert_contains(
        &load_ring(&path).unwrap_err().to_string(),
        "device 9, which is not in devs",
    );
    let msg = load_ring(dir.path().join("missing.ring.gz"))
        .unwrap_err()
        .to_string();
    assert_contains(&msg, "missing.ring.gz: I/O error");
}

#[test]
fn save_ring_replaces_atomically_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("object.ring.gz");
    let ring = tiny_ring();
    save_ring(&path, &ring, RingFormat::V1).unwrap();
    let mut other = tiny_ring();
    other.version = Some(4);
    save_ring(&path, &other, RingFormat::V2).unwrap();
    assert_eq!(load_ring(&path).unwrap(), other);
    // A failing write (v1 cannot hold 4-byte ids) leaves the old file intact.
    let mut wide = tiny_ring();
    wide.dev_id_bytes = 4;
    assert!(save_ring(&path, &wide, RingFormat::V1).is_err());
    assert_eq!(load_ring(&path).unwrap(), other);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["object.ring.gz"]);
    // The gzip header names the destination, as Swift's does.
    let bytes = fs::read(&path).unwrap();
    assert_eq!(&bytes[10..22], b"object.ring\0");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
}

/// Decodes `file` and checks that no allocation exceeded what its size allows.
fn decode_bounded(file: &[u8]) {
    let mut result = Ok(());
    let largest = largest_since(|| result = codec::decode_ring(file).map(drop));
    let limit = 2 * 1032 * file.len() + (1 << 20);
    assert!(
        largest <= limit,
        "allocated {largest} bytes for a {}-byte input",
        file.len()
    );
    if let Err(e) = result {
        assert!(!e.to_string().contains('\n'));
    }
}

fn decode_stream_bounded(data: &[u8]) {
    let mut result = Ok(());
    let largest = largest_since(|| result = codec::decode_decompressed(data).map(drop));
    assert!(
        largest <= 4 * data.len() + (1 << 20),
        "allocated {largest} bytes for {} bytes",
        data.len()
    );
    if let Err(e) = result {
        assert!(!e.to_string().contains('\n'));
    }
}

/// Applies (position, value) byte replacements, then maybe truncates.
fn mutate(base: &[u8], edits: &[(usize, u8)], keep: Option<usize>) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(pos, val) in edits {
        let i = pos % out.len();
        out[i] = val;
    }
    if let Some(keep) = keep {
        out.truncate(keep % (out.len() + 1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        decode_bounded(&bytes);
        decode_stream_bounded(&bytes);
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        gz.extend_from_slice(&bytes);
        decode_bounded(&gz);
    }

    #[test]
    fn mutated_reference_files_never_panic(
        v2 in any::<bool>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        keep in proptest::option::of(any::<usize>()),
    ) {
        let rel = if v2 { "S1/v2/object.ring.gz" } else { "S1/object.ring.gz" };
        let file = reference_bytes(rel);
        decode_bounded(&mutate(&file, &edits, None));
        decode_bounded(&mutate(&file, &[], keep));
        decode_bounded(&mutate(&file, &edits, keep));
        // Mutate the decompressed stream too, so the ring parsers see it.
        let data = gunzip(&file);
        let mutated = mutate(&data, &edits, keep);
        decode_stream_bounded(&mutated);
        decode_bounded(&gzip(&mutated));
    }

    #[test]
    fn lying_length_fields_are_bounded(
        json_len in any::<u32>(),
        part_shift in 0u32..=32,
        replicas in any::<u64>(),
        section_len in any::<u64>(),
    ) {
        let header = format!(r#"{{"devs": [], "part_shift": {part_shift}, "replica_count": {replicas}}}"#);
        let mut v1 = b"R1NG\x00\x01".to_vec();
        v1.extend_from_slice(&(header.len() as u32).to_be_bytes());
        v1.extend_from_slice(header.as_bytes());
        v1.extend_from_slice(&[0; 64]);
        decode_stream_bounded(&v1);
        v1[6..10].copy_from_slice(&json_len.to_be_bytes());
        decode_stream_bounded(&v1);
        let (mut data, _, at) = s1_v2();
        data[at..at + 8].copy_from_slice(&section_len.to_be_bytes());
        decode_stream_bounded(&data);
        let (mut data, _, _) = s1_v2();
        data[1447..1455].copy_from_slice(&section_len.to_be_bytes());
        decode_stream_bounded(&data);
    }
}

#[test]
fn allocation_tracking_sees_the_decompressed_buffer() {
    let file = reference_bytes("S1/object.ring.gz");
    let largest = largest_since(|| drop(codec::decode_ring(&file).unwrap()));
    assert!(largest >= 7591, "tracked only {largest} bytes");
}
