//! Decoding a large v1 ring's JSON header ahead, on a helper thread, while
//! the whole gzip member is inflated in one call on the calling thread.
//! The header sits at the start of the stream, so inflating just that far
//! is a small fraction of the work; parsing it (thousands of devices) then
//! overlaps the main inflate instead of following it.
//!
//! Nothing is trusted from this early pass: the main decode uses its result
//! only when the header text it parsed equals the text in the fully
//! inflated, CRC-checked stream; otherwise (or if the early pass failed for
//! any reason) the header is parsed from the stream as usual, which reports
//! any error.

use std::thread;

use flate2::{Decompress, FlushDecompress, Status};

use super::gzip;
use super::v1::{self, V1Head};

/// Streams whose trailer announces fewer bytes than this are decoded on one
/// thread: starting a helper would cost more than it saves.
const EARLY_MIN: usize = 1 << 20;
/// Deflate cannot expand data by more than about 1032:1.
const MAX_DEFLATE_RATIO: usize = 1032;
/// The stored block a ring writer puts the magic and version in, as the
/// first bytes of the deflate data: final bit clear, stored, length 6.
const MAGIC_V1_BLOCK: [u8; 11] = [0x00, 6, 0, !6, 0xFF, b'R', b'1', b'N', b'G', 0, 1];

/// A v1 header decoded from the start of the file: its JSON text and what
/// it says.
pub struct EarlyHeader {
    pub json: Vec<u8>,
    pub head: V1Head,
}

/// Runs `decode` with the v1 header decoded ahead on a helper thread when
/// the file is a large v1 ring laid out as ring writers lay it out (magic
/// in its own stored block); otherwise with `None`. `decode` receives a
/// function that waits for the helper and returns its result.
pub fn with_v1_header<R>(
    file: &[u8],
    decode: impl FnOnce(&mut dyn FnMut() -> Option<EarlyHeader>) -> R,
) -> R {
    let Some((body, announced)) = worth_decoding_early(file) else {
        return decode(&mut || None);
    };
    thread::scope(|scope| {
        let mut helper = Some(scope.spawn(move || early_header(body, announced)));
        let mut wait = || helper.take().and_then(|h| h.join().ok().flatten());
        decode(&mut wait)
    })
}

/// The deflate data of `file` and the stream length its trailer announces,
/// if it is a large ring starting with a v1 magic block.
fn worth_decoding_early(file: &[u8]) -> Option<(&[u8], usize)> {
    let start = gzip::header_len(file).ok()?;
    let body = file.get(start..)?;
    let isize_at = file.len().checked_sub(4)?;
    let announced = u32::from_le_bytes(file[isize_at..].try_into().ok()?) as usize;
    let plausible = announced <= body.len().saturating_mul(MAX_DEFLATE_RATIO);
    (plausible && announced >= EARLY_MIN && body.starts_with(&MAGIC_V1_BLOCK))
        .then_some((body, announced))
}

/// Inflates the magic, the header length and the JSON header from the start
/// of `body` (a stream of `announced` bytes) and parses the header. `None`
/// on any problem.
fn early_header(body: &[u8], announced: usize) -> Option<EarlyHeader> {
    let mut inflater = Decompress::new(false);
    let mut lead = [0u8; 10];
    inflate_exactly(&mut inflater, body, &mut lead)?;
    if &lead[..6] != b"R1NG\x00\x01" {
        return None;
    }
    let json_len = v1::json_len([lead[6], lead[7], lead[8], lead[9]]);
    if json_len > announced.saturating_sub(lead.len()) {
        return None;
    }
    let mut json = vec![0u8; json_len];
    inflate_exactly(&mut inflater, body, &mut json)?;
    let head = v1::parse_header(&json).ok()?;
    Some(EarlyHeader { json, head })
}

/// Fills `out` with the next decompressed bytes; `None` if the data ends,
/// stalls or is corrupt first.
fn inflate_exactly(inflater: &mut Decompress, body: &[u8], out: &mut [u8]) -> Option<()> {
    let mut filled = 0;
    while filled < out.len() {
        let consumed = inflater.total_in() as usize;
        let before = inflater.total_out();
        let status = inflater
            .decompress(
                body.get(consumed..)?,
                &mut out[filled..],
                FlushDecompress::None,
            )
            .ok()?;
        let produced = (inflater.total_out() - before) as usize;
        filled += produced;
        if filled < out.len()
            && (status == Status::StreamEnd
                || (produced == 0 && inflater.total_in() as usize == consumed))
        {
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::codec::{self, inflate, RingFormat, StreamBuf};
    use crate::ring::{Device, RingData};

    /// A ring whose stream is past `EARLY_MIN`: part power 18, 3 replicas.
    fn large_ring() -> RingData {
        let devs = (0..12u32)
            .map(|id| {
                Some(Device {
                    id,
                    region: 1 + id % 2,
                    zone: id % 3,
                    ip: format!("10.0.0.{}", id / 2),
                    port: 6200,
                    replication_ip: format!("10.1.0.{}", id / 2),
                    replication_port: 6300,
                    device: format!("d{id}"),
                    meta: String::new(),
                    weight: 100.0,
                    extra: Default::default(),
                })
            })
            .collect();
        let parts = 1u32 << 18;
        let rows = (0..3u32)
            .map(|r| (0..parts).map(|p| (p * 7 + r * 5) % 12).collect())
            .collect();
        RingData {
            devs,
            replica2part2dev: rows,
            part_shift: 14,
            next_part_power: None,
            version: Some(3),
            dev_id_bytes: 2,
        }
    }

    fn file(ring: &RingData, format: RingFormat) -> Vec<u8> {
        codec::write_ring(ring, format, "object.ring.gz", Vec::new()).unwrap()
    }

    #[test]
    fn early_header_is_the_streams_header() {
        let ring = large_ring();
        let bytes = file(&ring, RingFormat::V1);
        let (body, announced) = worth_decoding_early(&bytes).expect("a large v1 ring");
        let early = early_header(body, announced).expect("header decoded ahead");
        let stream = inflate::gunzip(&bytes, StreamBuf::zeroed).unwrap().bytes;
        assert_eq!(early.json, stream[10..10 + early.json.len()]);
        assert_eq!(
            v1::json_len(stream[6..10].try_into().unwrap()),
            early.json.len()
        );
        let (decoded, format) = codec::decode_ring_compact(&bytes).unwrap();
        assert_eq!(format, RingFormat::V1);
        assert_eq!(decoded.into_ring_data(), ring);
    }

    #[test]
    fn small_and_v2_rings_are_decoded_on_one_thread() {
        let mut small = large_ring();
        for row in &mut small.replica2part2dev {
            row.truncate(1 << 10);
        }
        small.part_shift = 22;
        assert!(worth_decoding_early(&file(&small, RingFormat::V1)).is_none());
        assert!(worth_decoding_early(&file(&large_ring(), RingFormat::V2)).is_none());
        assert!(worth_decoding_early(b"\x1f\x8b").is_none());
    }

    #[test]
    fn damage_after_the_header_still_fails_the_load() {
        let bytes = file(&large_ring(), RingFormat::V1);
        let (body, announced) = worth_decoding_early(&bytes).unwrap();
        assert!(early_header(body, announced).is_some());
        // The header decodes ahead, but the table (or the CRC) is wrong.
        let mut damaged = bytes.clone();
        let at = damaged.len() / 2;
        damaged[at] ^= 0x55;
        let e = codec::decode_ring_compact(&damaged)
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        // A trailer that lies about the length is caught too.
        let mut lying = bytes;
        let n = lying.len();
        lying[n - 4] ^= 1;
        assert!(codec::decode_ring_compact(&lying).is_err());
    }

    #[test]
    fn a_damaged_header_gives_no_early_result_and_the_usual_error() {
        let bytes = file(&large_ring(), RingFormat::V1);
        let mut damaged = bytes.clone();
        // Inside the (small) compressed JSON header, after the magic block.
        let start = gzip::header_len(&bytes).unwrap() + MAGIC_V1_BLOCK.len() + 40;
        damaged[start] ^= 0xFF;
        assert!(worth_decoding_early(&damaged).is_some());
        let e = codec::decode_ring_compact(&damaged)
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
    }
}
