//! Bytes ↔ `RingData`: the `*.ring.gz` formats v1 and v2, over `impl Read` /
//! `impl Write`. No file system here; `conf::ring_file` does the file I/O.
//!
//! Reading auto-detects the format from the version after the `R1NG` magic.
//! Writing reproduces Swift's layout exactly (gzip header, stored magic block,
//! full flushes, JSON text, v2 index and trailer), so the decompressed bytes
//! equal Swift's for the same ring and file name.

mod error;
mod gzip;
mod header;
mod inflate;
mod prefix;
pub(crate) mod pyjson;
mod table;
mod v1;
mod v2;
mod validate;

use std::io::{Read, Write};

pub use error::RingFileError;
pub use gzip::RING_MTIME;
pub use validate::validate;

use crate::ring::part_table::PartTable;
use crate::ring::{Device, RingData};

/// A decoded ring file with its table left in the file's compact form
/// (see [`PartTable`]): what lookups are built from without a copy.
#[derive(Debug, Clone)]
pub struct DecodedRing {
    /// Index = device id; `None` marks a hole.
    pub devs: Vec<Option<Device>>,
    pub table: PartTable,
    pub part_shift: u32,
    pub next_part_power: Option<u32>,
    pub version: Option<u64>,
    /// 2 or 4: the width ids are stored with (v1 is always 2).
    pub dev_id_bytes: u8,
}

impl DecodedRing {
    /// The plain form, with one `Vec<u32>` per replica row.
    pub fn into_ring_data(self) -> RingData {
        RingData {
            replica2part2dev: self.table.to_rows(),
            devs: self.devs,
            part_shift: self.part_shift,
            next_part_power: self.next_part_power,
            version: self.version,
            dev_id_bytes: self.dev_id_bytes,
        }
    }
}

/// The on-disk ring format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingFormat {
    /// JSON header plus native-order u16 rows (Swift's default).
    V1,
    /// Checksummed sections with an index; 2- or 4-byte ids.
    V2,
}

impl RingFormat {
    /// The number stored after the magic (1 or 2).
    pub fn number(self) -> u16 {
        match self {
            RingFormat::V1 => 1,
            RingFormat::V2 => 2,
        }
    }
}

/// Reads a whole ring file from `reader`, auto-detecting v1 or v2.
pub fn read_ring(reader: impl Read) -> Result<RingData, RingFileError> {
    read_ring_with_format(reader).map(|(ring, _)| ring)
}

/// Like [`read_ring`], also telling which format the file was in.
pub fn read_ring_with_format(
    mut reader: impl Read,
) -> Result<(RingData, RingFormat), RingFileError> {
    let mut file = Vec::new();
    reader.read_to_end(&mut file)?;
    decode_ring(&file)
}

/// Decodes the bytes of a whole `*.ring.gz` file.
pub fn decode_ring(file: &[u8]) -> Result<(RingData, RingFormat), RingFileError> {
    let (ring, format) = decode_ring_compact(file)?;
    Ok((ring.into_ring_data(), format))
}

/// Decodes a whole `*.ring.gz` file, keeping the table as the file holds it.
pub fn decode_ring_compact(file: &[u8]) -> Result<(DecodedRing, RingFormat), RingFileError> {
    decode_ring_compact_in(file, StreamBuf::zeroed)
}

/// [`decode_ring_compact`], inflating into a buffer from `alloc`, which is
/// asked for room for the stream length the gzip trailer announces (once it
/// is known to be plausible). The caller chooses the memory (for instance
/// laid out for huge pages); the buffer becomes the ring's table.
pub fn decode_ring_compact_in(
    file: &[u8],
    alloc: impl FnOnce(usize) -> StreamBuf,
) -> Result<(DecodedRing, RingFormat), RingFileError> {
    prefix::with_v1_header(file, |early| {
        let buf = inflate::gunzip(file, alloc)?;
        decode_stream(buf, true, early())
    })
}

/// Decodes an already decompressed ring stream (starting with `R1NG`).
pub fn decode_decompressed(data: &[u8]) -> Result<(RingData, RingFormat), RingFileError> {
    let (ring, format) = decode_owned(data.to_vec())?;
    Ok((ring.into_ring_data(), format))
}

/// Zeroed memory a decompressed stream is written into: the stream occupies
/// `bytes[base..]` (the bytes before `base` are padding, e.g. to align the
/// stream for huge pages).
#[derive(Debug)]
pub struct StreamBuf {
    pub bytes: Vec<u8>,
    pub base: usize,
}

impl StreamBuf {
    /// A plain zeroed buffer of `len` bytes, with no padding.
    pub fn zeroed(len: usize) -> StreamBuf {
        StreamBuf {
            bytes: vec![0; len],
            base: 0,
        }
    }
}

/// Decodes a decompressed stream that was fully checked once before and
/// has been kept intact since (a cache entry whose own checksum matched):
/// v2 section digests are not recomputed; everything else is checked as
/// usual. Its bytes become the ring's table.
pub fn decode_checked_stream(data: Vec<u8>) -> Result<(DecodedRing, RingFormat), RingFileError> {
    decode_stream(
        StreamBuf {
            bytes: data,
            base: 0,
        },
        false,
        None,
    )
}

/// Decodes a decompressed stream; its bytes become the ring's table.
fn decode_owned(data: Vec<u8>) -> Result<(DecodedRing, RingFormat), RingFileError> {
    decode_stream(
        StreamBuf {
            bytes: data,
            base: 0,
        },
        true,
        None,
    )
}

/// `early`: a v1 header decoded ahead from the start of the same file,
/// used only if its JSON text equals the stream's.
fn decode_stream(
    buf: StreamBuf,
    verify_digests: bool,
    early: Option<prefix::EarlyHeader>,
) -> Result<(DecodedRing, RingFormat), RingFileError> {
    let format = detect(&buf.bytes[buf.base..])?;
    let ring = match format {
        RingFormat::V1 => v1::decode(buf, early)?,
        RingFormat::V2 => v2::decode(buf, verify_digests)?,
    };
    Ok((ring, format))
}

/// Checks the magic and returns the format version it announces.
fn detect(data: &[u8]) -> Result<RingFormat, RingFileError> {
    let magic = &data[..data.len().min(4)];
    if magic != b"R1NG" {
        return Err(RingFileError::BadMagic(
            String::from_utf8_lossy(magic).into_owned(),
        ));
    }
    let version = data.get(4..6).ok_or_else(|| {
        RingFileError::incomplete("ring format version", 2, data.len() as u64 - 4)
    })?;
    match u16::from_be_bytes([version[0], version[1]]) {
        1 => Ok(RingFormat::V1),
        2 => Ok(RingFormat::V2),
        other => Err(RingFileError::UnsupportedVersion(other)),
    }
}

/// The gzip FNAME Python writes for a destination path: its base name without
/// a trailing `.gz`, as latin-1 bytes.
pub fn gzip_fname(dest: &str) -> Result<Vec<u8>, RingFileError> {
    let base = dest.rsplit('/').next().unwrap_or(dest);
    let base = base.strip_suffix(".gz").unwrap_or(base);
    base.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| RingFileError::Unwritable(format!("file name {base:?} is not latin-1")))
}

/// Writes `ring` in format v1. `fname` is the destination file name (or
/// path); the gzip header records its base name without `.gz`.
pub fn write_ring_v1<W: Write>(ring: &RingData, fname: &str, out: W) -> Result<W, RingFileError> {
    v1::write(ring, &gzip_fname(fname)?, out)
}

/// Writes `ring` in format v2 (see [`write_ring_v1`] for `fname`).
pub fn write_ring_v2<W: Write>(ring: &RingData, fname: &str, out: W) -> Result<W, RingFileError> {
    v2::write(ring, &gzip_fname(fname)?, out)
}

/// Writes `ring` in `format`.
pub fn write_ring<W: Write>(
    ring: &RingData,
    format: RingFormat,
    fname: &str,
    out: W,
) -> Result<W, RingFileError> {
    match format {
        RingFormat::V1 => write_ring_v1(ring, fname, out),
        RingFormat::V2 => write_ring_v2(ring, fname, out),
    }
}
