//! Ring format v1: magic, a u32-length JSON header, then `replica_count` rows
//! of u16 ids in the byte order the header names.

use std::io::Write;

use super::error::RingFileError;
use super::gzip::GzWriter;
use super::header;
use super::prefix::EarlyHeader;
use super::pyjson;
use super::table::{self, Endian};
use super::{DecodedRing, StreamBuf};
use crate::ring::part_table::{IdLayout, PartTable};
use crate::ring::{Device, RingData};

/// The parts of a v1 ring its JSON header gives.
pub struct V1Head {
    layout: IdLayout,
    part_shift: u32,
    replica_count: u64,
    devs: Vec<Option<Device>>,
    /// As stored; checked after the table (the order errors are reported in).
    next_part_power: Option<u64>,
    version: Option<u64>,
}

/// Parses and checks a v1 JSON header.
pub fn parse_header(json: &[u8]) -> Result<V1Head, RingFileError> {
    let head: header::V1Header = header::parse(json, "v1 JSON header")?;
    let layout = match head.byteorder.as_deref() {
        None | Some("little") => IdLayout::U16Le,
        Some("big") => IdLayout::U16Be,
        Some(other) => {
            return Err(RingFileError::Header(format!(
                "\"byteorder\" is not \"little\" or \"big\": {other:?}"
            )))
        }
    };
    Ok(V1Head {
        layout,
        part_shift: header::part_shift(head.part_shift)?,
        replica_count: head.replica_count,
        next_part_power: head.next_part_power,
        version: head.version,
        devs: head.devs.into_devices(),
    })
}

/// The length of the JSON header, from the 4 bytes after magic and version.
pub fn json_len(len_bytes: [u8; 4]) -> usize {
    u32::from_be_bytes(len_bytes) as usize
}

/// Decodes a whole decompressed v1 stream (starting with the magic at
/// `buf.base`); the rows stay in the buffer, which becomes the table.
/// `early` is the header decoded ahead from the same file, used only if
/// its JSON text is the stream's.
pub fn decode(buf: StreamBuf, early: Option<EarlyHeader>) -> Result<DecodedRing, RingFileError> {
    let base = buf.base;
    let data = &buf.bytes[base..];
    let len_bytes = data.get(6..10).ok_or_else(|| {
        RingFileError::incomplete("v1 header length", 4, data.len().saturating_sub(6) as u64)
    })?;
    let json_len = json_len([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let json = data.get(10..10 + json_len).ok_or_else(|| {
        RingFileError::incomplete("v1 JSON header", json_len as u64, (data.len() - 10) as u64)
    })?;
    let head = match early {
        Some(early) if early.json == json => early.head,
        _ => parse_header(json)?,
    };
    let parts = table::partitions(head.part_shift);
    let row_bytes = parts * 2;
    let replica_count = head.replica_count;

    // Swift reads `replica_count` rows of `row_bytes`; only the last may
    // come up short (fractional replicas), and bytes after it are ignored.
    let start = 10 + json_len;
    let avail = (data.len() - start) as u64;
    let full_rows = replica_count.saturating_sub(1);
    if u128::from(avail) < u128::from(full_rows) * u128::from(row_bytes) {
        let r = avail / row_bytes;
        return Err(RingFileError::incomplete(
            format!("v1 replica row {r} of {replica_count}"),
            row_bytes,
            avail - r * row_bytes,
        ));
    }
    let mut row_lens = vec![parts as usize; full_rows as usize];
    if replica_count > 0 {
        let take = row_bytes.min(avail - full_rows * row_bytes);
        if take % 2 != 0 {
            return Err(RingFileError::Header(format!(
                "v1 replica row {full_rows} has an odd number of bytes ({take})"
            )));
        }
        row_lens.push((take / 2) as usize);
    }
    let next_part_power = header::next_part_power(head.next_part_power)?;
    let table = PartTable::new(
        buf.bytes,
        base + start,
        head.layout,
        parts as usize,
        row_lens,
    )
    .map_err(RingFileError::Invalid)?
    .with_origin(base);
    Ok(DecodedRing {
        devs: head.devs,
        table,
        part_shift: head.part_shift,
        next_part_power,
        version: head.version,
        dev_id_bytes: 2,
    })
}

/// The v1 JSON header, byte for byte as Swift writes it.
pub fn header_json(ring: &RingData) -> String {
    let mut out = String::with_capacity(256 + 256 * ring.devs.len());
    out.push_str("{\"byteorder\": \"little\", \"devs\": ");
    pyjson::push_devices(&mut out, &ring.devs);
    if let Some(npp) = ring.next_part_power {
        out.push_str(&format!(", \"next_part_power\": {npp}"));
    }
    out.push_str(&format!(
        ", \"part_shift\": {}, \"replica_count\": {}",
        ring.part_shift,
        ring.replica2part2dev.len()
    ));
    if let Some(version) = ring.version {
        out.push_str(&format!(", \"version\": {version}"));
    }
    out.push('}');
    out
}

/// Writes `ring` as a v1 gzip file with FNAME `fname` (latin-1 bytes).
pub fn write<W: Write>(ring: &RingData, fname: &[u8], out: W) -> Result<W, RingFileError> {
    if ring.dev_id_bytes != 2 {
        return Err(RingFileError::DevIdBytesTooSmall);
    }
    let json = header_json(ring);
    let json_len = u32::try_from(json.len())
        .map_err(|_| RingFileError::Unwritable("v1 JSON header longer than 4 GiB".into()))?;
    let mut gz = GzWriter::new(out, fname)?;
    gz.write_stored_flushed(b"R1NG\x00\x01")?;
    gz.write(&json_len.to_be_bytes())?;
    gz.write(json.as_bytes())?;
    let mut buf = Vec::new();
    for row in &ring.replica2part2dev {
        buf.clear();
        table::encode_row(&mut buf, row, 2, Endian::Little)?;
        gz.write(&buf)?;
    }
    gz.finish_deflate()
}
