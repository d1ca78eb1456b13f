//! Ring format v2: checksummed, independently inflatable sections
//! (metadata, devices, assignments), an index blob, and a stored trailer.

use std::io::Write;

use md5::Md5;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

use super::error::RingFileError;
use super::gzip::GzWriter;
use super::header;
use super::pyjson;
use super::table::{self, Endian};
use super::{DecodedRing, StreamBuf};
use crate::ring::part_table::{IdLayout, PartTable};
use crate::ring::RingData;

const METADATA: &str = "swift/ring/metadata";
const DEVICES: &str = "swift/ring/devices";
const ASSIGNMENTS: &str = "swift/ring/assignments";

/// One index entry: where a section is and what it hashes to.
struct IndexEntry {
    uncompressed_start: u64,
    uncompressed_end: u64,
    method: String,
    digest: String,
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(b)
}

/// Reads a u64-length-prefixed blob at `at`.
fn blob<'a>(data: &'a [u8], at: u64, what: &str) -> Result<&'a [u8], RingFileError> {
    let start = usize::try_from(at).unwrap_or(usize::MAX);
    let prefix = data.get(start..start.saturating_add(8)).ok_or_else(|| {
        RingFileError::incomplete(
            format!("length of {what}"),
            8,
            data.len().saturating_sub(start) as u64,
        )
    })?;
    let len = be_u64(prefix);
    let body = &data[start + 8..];
    if (body.len() as u64) < len {
        return Err(RingFileError::incomplete(
            what.to_string(),
            len,
            body.len() as u64,
        ));
    }
    Ok(&body[..len as usize])
}

fn hex_digest(method: &str, bytes: &[u8]) -> Option<String> {
    let raw: Vec<u8> = match method {
        "md5" => Md5::digest(bytes).to_vec(),
        "sha256" => Sha256::digest(bytes).to_vec(),
        "sha512" => Sha512::digest(bytes).to_vec(),
        _ => return None,
    };
    Some(raw.iter().map(|b| format!("{b:02x}")).collect())
}

fn parse_index(data: &[u8]) -> Result<Vec<(String, IndexEntry)>, RingFileError> {
    if data.len() < 6 + 16 {
        return Err(RingFileError::IndexOffset(
            "the stream is too short for a v2 trailer".into(),
        ));
    }
    let at = be_u64(&data[data.len() - 16..]);
    if at >= data.len() as u64 {
        return Err(RingFileError::IndexOffset(format!(
            "offset {at} is past the end of the data"
        )));
    }
    let index: serde_json::Map<String, Value> =
        header::parse(blob(data, at, "ring index")?, "ring index")?;
    index
        .into_iter()
        .map(|(section, value)| {
            let bad = |problem: &str| RingFileError::IndexEntry {
                section: section.clone(),
                problem: problem.to_string(),
            };
            let items = value.as_array().ok_or_else(|| bad("not an array"))?;
            if items.len() != 6 {
                return Err(bad("does not have 6 items"));
            }
            let num = |i: usize| {
                items[i]
                    .as_u64()
                    .ok_or_else(|| bad("offset is not an integer"))
            };
            let text = |i: usize| match &items[i] {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad("checksum is not a string")),
            };
            let entry = IndexEntry {
                uncompressed_start: num(1)?,
                uncompressed_end: num(3)?,
                method: text(4)?,
                digest: text(5)?,
            };
            let _ = (num(0)?, num(2)?);
            if entry.uncompressed_end < entry.uncompressed_start {
                return Err(bad("ends before it starts"));
            }
            Ok((section, entry))
        })
        .collect()
}

/// A located section: its payload, and what it must hash to.
struct Section<'a> {
    name: &'static str,
    payload: &'a [u8],
    hashed: &'a [u8],
    method: &'a str,
    digest: &'a str,
}

impl Section<'_> {
    /// Checks the digest (of the length prefix and payload).
    fn verify(&self) -> Result<(), RingFileError> {
        let found = hex_digest(self.method, self.hashed).ok_or_else(|| {
            RingFileError::UnsupportedChecksum {
                section: self.name.to_string(),
                method: self.method.to_string(),
            }
        })?;
        if found != self.digest {
            return Err(RingFileError::HashMismatch {
                section: self.name.to_string(),
                found,
                expected: self.digest.to_string(),
            });
        }
        Ok(())
    }
}

/// Finds a section and checks its size against the index (not its digest).
fn locate<'a>(
    data: &'a [u8],
    index: &'a [(String, IndexEntry)],
    name: &'static str,
) -> Result<Section<'a>, RingFileError> {
    let entry = index
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, e)| e)
        .ok_or(RingFileError::MissingSection(name))?;
    let payload = blob(data, entry.uncompressed_start, name)?;
    let span = entry.uncompressed_end - entry.uncompressed_start;
    if payload.len() as u64 + 8 != span {
        return Err(RingFileError::InconsistentSectionSize {
            section: name.to_string(),
            prefix: payload.len() as u64,
            index: span,
        });
    }
    let start = entry.uncompressed_start as usize;
    Ok(Section {
        name,
        payload,
        hashed: &data[start..start + 8 + payload.len()],
        method: &entry.method,
        digest: &entry.digest,
    })
}

/// Returns a section's payload after checking its size and (if `verify`)
/// its digest.
fn section<'a>(
    data: &'a [u8],
    index: &'a [(String, IndexEntry)],
    name: &'static str,
    verify: bool,
) -> Result<&'a [u8], RingFileError> {
    let section = locate(data, index, name)?;
    if verify {
        section.verify()?;
    }
    Ok(section.payload)
}

/// Sections at least this large are hashed on a helper thread while the
/// other sections are checked and parsed.
const PARALLEL_HASH_MIN: usize = 1 << 20;

/// Decodes a whole decompressed v2 stream (starting with the magic at
/// `buf.base`); the assignments stay in the buffer, which becomes the
/// table. `verify` checks every section's digest (only a stream checked
/// before may skip it).
pub fn decode(buf: StreamBuf, verify: bool) -> Result<DecodedRing, RingFileError> {
    let base = buf.base;
    let data = &buf.bytes[base..];
    let index = parse_index(data)?;
    let parse_rest = || -> Result<_, RingFileError> {
        let meta: header::V2Metadata =
            header::parse(section(data, &index, METADATA, verify)?, "v2 metadata")?;
        let devs: header::Devices =
            header::parse(section(data, &index, DEVICES, verify)?, "v2 device list")?;
        Ok((meta, devs.into_devices()))
    };
    let assignments = match locate(data, &index, ASSIGNMENTS) {
        Ok(section) => section,
        Err(e) => {
            // Report problems in file order: metadata and devices first.
            parse_rest()?;
            return Err(e);
        }
    };
    let (meta, devs) = if !verify {
        parse_rest()?
    } else if assignments.payload.len() >= PARALLEL_HASH_MIN {
        std::thread::scope(|scope| {
            let check = scope.spawn(|| assignments.verify());
            let rest = parse_rest();
            let checked = check
                .join()
                .unwrap_or(Err(RingFileError::Internal("hash thread failed")));
            // Report problems in file order: metadata and devices first.
            let rest = rest?;
            checked.map(|()| rest)
        })?
    } else {
        let rest = parse_rest()?;
        assignments.verify()?;
        rest
    };
    let part_shift = header::part_shift(meta.part_shift)?;
    let layout = match meta.dev_id_bytes {
        2 => IdLayout::U16Be,
        4 => IdLayout::U32Be,
        w => {
            return Err(RingFileError::Header(format!(
                "unsupported dev_id_bytes {w}"
            )))
        }
    };
    let width = layout.width();
    let len = assignments.payload.len();
    if len % width != 0 {
        return Err(RingFileError::Header(format!(
            "assignments length {len} is not a multiple of dev_id_bytes {width}"
        )));
    }
    let start = assignments.payload.as_ptr() as usize - data.as_ptr() as usize;
    let parts = usize::try_from(table::partitions(part_shift)).unwrap_or(usize::MAX);
    let entries = len / width;
    let rows = entries.div_ceil(parts);
    let mut row_lens = vec![parts; rows];
    if let Some(last) = row_lens.last_mut() {
        *last = entries - (rows - 1) * parts;
    }
    let next_part_power = header::next_part_power(meta.next_part_power)?;
    let table = PartTable::new(buf.bytes, base + start, layout, parts, row_lens)
        .map_err(RingFileError::Invalid)?
        .with_origin(base);
    Ok(DecodedRing {
        devs,
        table,
        part_shift,
        next_part_power,
        version: meta.version,
        dev_id_bytes: width as u8,
    })
}

/// The v2 metadata JSON, byte for byte as Swift writes it.
pub fn metadata_json(ring: &RingData) -> String {
    let mut out = format!("{{\"dev_id_bytes\": {}", ring.dev_id_bytes);
    if let Some(npp) = ring.next_part_power {
        out.push_str(&format!(", \"next_part_power\": {npp}"));
    }
    out.push_str(&format!(
        ", \"part_shift\": {}, \"replica_count\": ",
        ring.part_shift
    ));
    if ring.replica2part2dev.is_empty() {
        out.push('0');
    } else {
        pyjson::push_float(&mut out, ring.replica_count());
    }
    match ring.version {
        Some(v) => out.push_str(&format!(", \"version\": {v}}}")),
        None => out.push_str(", \"version\": null}"),
    }
    out
}

fn with_prefix(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Writes `ring` as a v2 gzip file with FNAME `fname` (latin-1 bytes).
pub fn write<W: Write>(ring: &RingData, fname: &[u8], out: W) -> Result<W, RingFileError> {
    let width = ring.dev_id_bytes;
    if width != 2 && width != 4 {
        return Err(RingFileError::Unwritable(format!(
            "unsupported dev_id_bytes {width}"
        )));
    }
    let mut devices = String::new();
    pyjson::push_devices(&mut devices, &ring.devs);
    let mut table = Vec::new();
    for row in &ring.replica2part2dev {
        table::encode_row(&mut table, row, width, Endian::Big)?;
    }
    let sections = [
        (METADATA, with_prefix(metadata_json(ring).as_bytes())),
        (DEVICES, with_prefix(devices.as_bytes())),
        (ASSIGNMENTS, with_prefix(&table)),
    ];

    let mut gz = GzWriter::new(out, fname)?;
    gz.write_stored_flushed(b"R1NG\x00\x02")?;
    let mut entries = Vec::new();
    for (name, bytes) in &sections {
        let (cs, us) = (gz.compressed_tell()?, gz.tell()?);
        gz.write(bytes)?;
        let (ce, ue) = (gz.compressed_tell()?, gz.tell()?);
        let digest = hex_digest("sha256", bytes).unwrap_or_default();
        entries.push((
            *name,
            format!("[{cs}, {us}, {ce}, {ue}, \"sha256\", \"{digest}\"]"),
        ));
    }
    entries.sort_by_key(|(name, _)| *name);
    let index = entries
        .iter()
        .map(|(name, entry)| format!("\"{name}\": {entry}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (index_us, index_cs) = (gz.tell()?, gz.compressed_tell()?);
    gz.write(&with_prefix(format!("{{{index}}}").as_bytes()))?;
    gz.write_stored_flushed(&index_us.to_be_bytes())?;
    gz.write_stored_flushed(&index_cs.to_be_bytes())?;
    gz.finish_stored()
}
