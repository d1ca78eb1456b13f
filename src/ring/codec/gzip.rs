//! The gzip container of ring files: parsing the member header, and writing
//! a member with Swift's exact header, stored blocks, full flushes and level
//! switches. Inflating is in `inflate`.

use std::io::Write;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use super::error::RingFileError;

/// The gzip MTIME Swift always writes, so that equal rings give equal bytes.
pub const RING_MTIME: u32 = 1_300_507_380;

const FTEXT_FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xE0;
/// The empty stored block a full flush emits: the sync marker.
const SYNC_MARKER: [u8; 5] = [0x00, 0x00, 0x00, 0xFF, 0xFF];
/// The final empty stored block a level-0 compressor emits when finished.
const FINAL_STORED: [u8; 5] = [0x01, 0x00, 0x00, 0xFF, 0xFF];

/// Returns the offset of the deflate data after a gzip member header.
pub fn header_len(file: &[u8]) -> Result<usize, RingFileError> {
    if file.len() < 2 || file[0] != 0x1F || file[1] != 0x8B {
        return Err(RingFileError::NotGzip(file[..file.len().min(2)].to_vec()));
    }
    if file.len() < 10 {
        return Err(RingFileError::Truncated("gzip header"));
    }
    if file[2] != 8 {
        return Err(RingFileError::GzipHeader(
            "compression method is not deflate",
        ));
    }
    let flags = file[3];
    if flags & FRESERVED != 0 {
        return Err(RingFileError::GzipHeader("reserved flag bits set"));
    }
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let xlen = file
            .get(pos..pos + 2)
            .ok_or(RingFileError::Truncated("gzip header extra field"))?;
        pos += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = file
                .get(pos..)
                .ok_or(RingFileError::Truncated("gzip header name"))?;
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(RingFileError::Truncated("gzip header name"))?;
            pos += nul + 1;
        }
    }
    if flags & FTEXT_FHCRC != 0 {
        let stored = file
            .get(pos..pos + 2)
            .ok_or(RingFileError::Truncated("gzip header CRC"))?;
        let mut crc = Crc::new();
        crc.update(&file[..pos]);
        if crc.sum() as u16 != u16::from_le_bytes([stored[0], stored[1]]) {
            return Err(RingFileError::GzipHeader("header CRC mismatch"));
        }
        pos += 2;
    }
    if pos > file.len() {
        return Err(RingFileError::Truncated("gzip header"));
    }
    Ok(pos)
}

/// Writes one gzip member the way Swift's `RingWriter` does: level-9 deflate
/// for data, hand-made stored blocks for the level-0 parts, full flushes.
pub struct GzWriter<W: Write> {
    out: W,
    compressed: u64,
    uncompressed: u64,
    crc: Crc,
    deflate: Compress,
    buf: Vec<u8>,
    flushed: bool,
}

impl<W: Write> GzWriter<W> {
    /// Writes the gzip header with FNAME `fname` (latin-1 bytes; none if empty).
    pub fn new(mut out: W, fname: &[u8]) -> Result<Self, RingFileError> {
        let flags = if fname.is_empty() { 0 } else { FNAME };
        let mut header = vec![0x1F, 0x8B, 8, flags];
        header.extend_from_slice(&RING_MTIME.to_le_bytes());
        header.extend_from_slice(&[2, 0xFF]); // XFL: best compression; OS: unknown
        if !fname.is_empty() {
            header.extend_from_slice(fname);
            header.push(0);
        }
        out.write_all(&header)?;
        Ok(GzWriter {
            out,
            compressed: header.len() as u64,
            uncompressed: 0,
            crc: Crc::new(),
            deflate: Compress::new(Compression::new(9), false),
            buf: Vec::with_capacity(1 << 16),
            flushed: true,
        })
    }

    /// Writes `data` as one stored (level-0) block followed by a full flush.
    pub fn write_stored_flushed(&mut self, data: &[u8]) -> Result<(), RingFileError> {
        self.full_flush()?;
        let len = u16::try_from(data.len())
            .map_err(|_| RingFileError::Unwritable("stored block too long".into()))?;
        let mut block = vec![0x00];
        block.extend_from_slice(&len.to_le_bytes());
        block.extend_from_slice(&(!len).to_le_bytes());
        block.extend_from_slice(data);
        block.extend_from_slice(&SYNC_MARKER);
        self.out.write_all(&block)?;
        self.compressed += block.len() as u64;
        self.account(data);
        Ok(())
    }

    /// Compresses `data` at level 9.
    pub fn write(&mut self, data: &[u8]) -> Result<(), RingFileError> {
        if data.is_empty() {
            return Ok(());
        }
        self.flushed = false;
        self.account(data);
        self.run(data, FlushCompress::None)
    }

    /// `Z_FULL_FLUSH`, unless nothing was written since the last flush.
    pub fn full_flush(&mut self) -> Result<(), RingFileError> {
        if !self.flushed {
            self.run(&[], FlushCompress::Full)?;
            self.flushed = true;
        }
        Ok(())
    }

    /// Offset in the file after flushing: a point a fresh inflater can start at.
    pub fn compressed_tell(&mut self) -> Result<u64, RingFileError> {
        self.full_flush()?;
        Ok(self.compressed)
    }

    /// Offset in the decompressed stream after flushing.
    pub fn tell(&mut self) -> Result<u64, RingFileError> {
        self.full_flush()?;
        Ok(self.uncompressed)
    }

    /// Ends the level-9 stream with a final block and writes the gzip trailer (v1).
    pub fn finish_deflate(mut self) -> Result<W, RingFileError> {
        self.run(&[], FlushCompress::Finish)?;
        self.trailer()
    }

    /// Ends the stream with a final empty stored block and the trailer (v2).
    pub fn finish_stored(mut self) -> Result<W, RingFileError> {
        self.full_flush()?;
        self.out.write_all(&FINAL_STORED)?;
        self.compressed += FINAL_STORED.len() as u64;
        self.trailer()
    }

    fn trailer(mut self) -> Result<W, RingFileError> {
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out
            .write_all(&(self.uncompressed as u32).to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn account(&mut self, data: &[u8]) {
        self.crc.update(data);
        self.uncompressed += data.len() as u64;
    }

    fn run(&mut self, mut input: &[u8], flush: FlushCompress) -> Result<(), RingFileError> {
        loop {
            self.buf.clear();
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(input, &mut self.buf, flush)
                .map_err(|e| RingFileError::Unwritable(format!("deflate failed: {e}")))?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            self.out.write_all(&self.buf)?;
            self.compressed += self.buf.len() as u64;
            let output_full = self.buf.len() == self.buf.capacity();
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty() && !output_full,
            };
            if done {
                return Ok(());
            }
        }
    }
}
