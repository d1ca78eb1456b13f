//! Unit tests of the builder pickle codec: round trips and hostile input.

use super::*;

const S1: &[u8] = include_bytes!("../../../../tests/fixtures/reference/S1/object.builder");

#[test]
fn reads_reference_builder() {
    let b = read_builder(S1).unwrap();
    assert_eq!(b.part_power, 10);
    assert_eq!(b.replicas, 3.0);
    assert_eq!(b.version, 9);
    assert_eq!(b.devs.len(), 8);
    assert_eq!(b.id.as_deref(), Some("f32c4149f15846babcfbb475dd854ad6"));
    let rows = b.replica2part2dev.as_ref().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == 1024));
    assert_eq!(b.devs[0].as_ref().unwrap().parts, 384);
    assert_eq!(b.dispersion, Some(0.0));
}

#[test]
fn write_then_read_is_identity() {
    let b = read_builder(S1).unwrap();
    let bytes = builder_to_bytes(&b).unwrap();
    assert_eq!(read_builder(&bytes[..]).unwrap(), b);
}

#[test]
fn every_truncation_is_an_error() {
    for len in 0..S1.len() {
        let err = read_builder(&S1[..len]).unwrap_err();
        assert!(
            matches!(err, BuilderFileError::Truncated(_)),
            "prefix {len}: {err}"
        );
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Deterministic corruption of every byte position with a few values.
    for pos in 0..S1.len() {
        for val in [0x00u8, 0x28, 0x4a, 0x58, 0x71, 0x80, 0xff] {
            let mut data = S1.to_vec();
            data[pos] = val;
            let _ = read_builder(&data[..]);
        }
    }
}

#[test]
fn huge_length_fields_do_not_allocate() {
    // BINUNICODE claiming 4 GiB, BINBYTES8 claiming 2^62, LONG4 claiming 4 GiB.
    for data in [
        &b"\x80\x02X\xff\xff\xff\xffabc"[..],
        &b"\x80\x02\x8e\x00\x00\x00\x00\x00\x00\x00\x40abc"[..],
        &b"\x80\x02\x8b\xff\xff\xff\xffabc"[..],
    ] {
        assert!(matches!(
            read_builder(data),
            Err(BuilderFileError::Truncated(_))
        ));
    }
}

#[test]
fn not_a_builder() {
    assert!(matches!(
        read_builder(&b"\x00 not a pickle"[..]),
        Err(BuilderFileError::Opcode { .. })
    ));
    // A pickled list, and a dict with the wrong content.
    assert!(matches!(
        read_builder(&b"\x80\x02]q\x00."[..]),
        Err(BuilderFileError::NotABuilder(_))
    ));
    assert!(matches!(
        read_builder(&b"\x80\x02}q\x00."[..]),
        Err(BuilderFileError::NotABuilder(_))
    ));
    // Stack and memo misuse.
    for data in [
        &b"\x80\x02."[..],
        b"\x80\x02h\x05.",
        b"\x80\x02(e.",
        b"\x80\x02N\x85R.",
    ] {
        assert!(matches!(
            read_builder(data),
            Err(BuilderFileError::Malformed { .. })
        ));
    }
    // A global other than array.array is never called.
    let evil = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.";
    assert!(matches!(
        read_builder(&evil[..]),
        Err(BuilderFileError::Malformed { .. })
    ));
}

#[test]
fn self_referencing_list_is_harmless() {
    // l = []; l.append(l); {'devs': l, ...} is rejected without recursion.
    let data = b"\x80\x02}q\x00(X\x04\x00\x00\x00devsq\x01]q\x02h\x02au.";
    assert!(read_builder(&data[..]).is_err());
}
