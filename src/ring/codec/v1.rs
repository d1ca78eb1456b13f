//! Ring format v1: magic, a u32-length JSON header, then `replica_count` rows
//! of u16 ids in the byte order the header names.

use std::io::Write;

use super::error::RingFileError;
use super::gzip::GzWriter;
use super::header;
use super::pyjson;
use super::table::{self, Endian};
use crate::ring::RingData;

/// Decodes a whole decompressed v1 stream (starting with the magic).
pub fn decode(data: &[u8]) -> Result<RingData, RingFileError> {
    let len_bytes = data.get(6..10).ok_or_else(|| {
        RingFileError::incomplete("v1 header length", 4, data.len().saturating_sub(6) as u64)
    })?;
    let json_len =
        u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
    let json = data.get(10..10 + json_len).ok_or_else(|| {
        RingFileError::incomplete("v1 JSON header", json_len as u64, (data.len() - 10) as u64)
    })?;
    let head: header::V1Header = header::parse(json, "v1 JSON header")?;
    let endian = match head.byteorder.as_deref() {
        None | Some("little") => Endian::Little,
        Some("big") => Endian::Big,
        Some(other) => {
            return Err(RingFileError::Header(format!(
                "\"byteorder\" is not \"little\" or \"big\": {other:?}"
            )))
        }
    };
    let part_shift = header::part_shift(head.part_shift)?;
    let replica_count = head.replica_count;
    let row_bytes = table::partitions(part_shift) * 2;

    let mut rest = &data[10 + json_len..];
    let mut rows =
        Vec::with_capacity(replica_count.min(rest.len() as u64 / row_bytes + 1) as usize);
    for r in 0..replica_count {
        let take = row_bytes.min(rest.len() as u64) as usize;
        if take < row_bytes as usize && r + 1 < replica_count {
            return Err(RingFileError::incomplete(
                format!("v1 replica row {r} of {replica_count}"),
                row_bytes,
                take as u64,
            ));
        }
        if take % 2 != 0 {
            return Err(RingFileError::Header(format!(
                "v1 replica row {r} has an odd number of bytes ({take})"
            )));
        }
        rows.push(table::decode_row(&rest[..take], 2, endian));
        rest = &rest[take..];
    }
    Ok(RingData {
        devs: head.devs.into_devices(),
        replica2part2dev: rows,
        part_shift,
        next_part_power: header::next_part_power(head.next_part_power)?,
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
