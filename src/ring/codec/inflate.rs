//! Inflating a ring file's gzip member and checking its trailer. When the
//! trailer's length is plausible the member is inflated in one call by
//! libdeflate (which checks the CRC32 and length itself); otherwise, or if
//! that fails, a streaming zlib-rs inflater runs (large outputs get their
//! CRC32 on a helper thread) and names the problem precisely.

use std::sync::mpsc;
use std::thread;

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::error::RingFileError;
use super::gzip;
use super::StreamBuf;

/// Deflate cannot expand data by more than about 1032:1; used to cap buffers.
const MAX_DEFLATE_RATIO: usize = 1032;
/// Outputs at least this large are checksummed on a helper thread.
const PIPELINE_MIN: usize = 1 << 20;
/// Bytes inflated per step of the pipelined loop.
const CHUNK: usize = 1 << 19;

/// Decompresses the first gzip member of `file` and checks its trailer.
/// Bytes after the member are ignored, as Swift's reader ignores them.
/// When the trailer's length is plausible, `alloc` provides the buffer the
/// one-call inflate writes into (returned trimmed to the stream's end).
pub fn gunzip(
    file: &[u8],
    alloc: impl FnOnce(usize) -> StreamBuf,
) -> Result<StreamBuf, RingFileError> {
    let start = gzip::header_len(file)?;
    let body = &file[start..];
    // ISIZE is only a hint (it could lie): never reserve more than the
    // compressed data can possibly expand to.
    let hint = match file.len().checked_sub(4) {
        Some(at) if file.len() >= start + 8 => {
            u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]) as usize
        }
        _ => 0,
    };
    let initial = hint.min(body.len().saturating_mul(MAX_DEFLATE_RATIO));
    if initial == hint && hint > 0 {
        let mut buf = alloc(hint);
        let end = buf.base + hint;
        let out = buf
            .bytes
            .get_mut(buf.base..end)
            .ok_or(RingFileError::Internal("stream buffer smaller than asked"))?;
        let mut inflater = libdeflater::Decompressor::new();
        if let Ok(n) = inflater.gzip_decompress(file, out) {
            if n == hint {
                buf.bytes.truncate(end);
                return Ok(buf);
            }
        }
    }
    let mut inflater = Decompress::new(false);
    let (mut out, mut crc, ended) = if initial >= PIPELINE_MIN {
        inflate_pipelined(&mut inflater, body, initial)?
    } else {
        (Vec::with_capacity(initial + 64), Crc::new(), false)
    };
    if !ended {
        let from = out.len();
        inflate_growing(&mut inflater, body, &mut out)?;
        crc.update(&out[from..]);
    }
    let end = inflater.total_in() as usize;
    let trailer = body
        .get(end..end + 8)
        .ok_or(RingFileError::Truncated("missing gzip trailer"))?;
    let want_crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let want_len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc.sum() != want_crc {
        return Err(RingFileError::GzipTrailer(format!(
            "CRC32 {:08x} of the data, {want_crc:08x} in the trailer",
            crc.sum()
        )));
    }
    if out.len() as u32 != want_len {
        return Err(RingFileError::GzipTrailer(format!(
            "length {} of the data, {want_len} (mod 2^32) in the trailer",
            out.len()
        )));
    }
    Ok(StreamBuf {
        bytes: out,
        base: 0,
    })
}

fn stalled(consumed: usize, body: &[u8]) -> RingFileError {
    if consumed >= body.len() {
        RingFileError::Truncated("deflate data ends before the gzip member does")
    } else {
        RingFileError::Deflate("inflater made no progress".into())
    }
}

fn deflate_error(e: flate2::DecompressError) -> RingFileError {
    RingFileError::Deflate(e.to_string())
}

/// Inflates into a buffer of `size` bytes, handing each finished chunk to a
/// CRC thread. Returns the filled buffer, its CRC, and whether the stream
/// ended (if not, the buffer was too small and the caller continues).
fn inflate_pipelined(
    inflater: &mut Decompress,
    body: &[u8],
    size: usize,
) -> Result<(Vec<u8>, Crc, bool), RingFileError> {
    let mut out = vec![0u8; size];
    let mut filled = 0;
    let (ended, crc) = thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<&[u8]>();
        let worker = scope.spawn(move || {
            let mut crc = Crc::new();
            for chunk in rx {
                crc.update(chunk);
            }
            crc
        });
        let mut rest: &mut [u8] = &mut out;
        let ended = loop {
            if rest.is_empty() {
                break Ok(false);
            }
            let consumed = inflater.total_in() as usize;
            let before_out = inflater.total_out();
            let n = rest.len().min(CHUNK);
            let status =
                match inflater.decompress(&body[consumed..], &mut rest[..n], FlushDecompress::None)
                {
                    Ok(status) => status,
                    Err(e) => break Err(deflate_error(e)),
                };
            let produced = (inflater.total_out() - before_out) as usize;
            let (done, tail) = std::mem::take(&mut rest).split_at_mut(produced);
            rest = tail;
            filled += produced;
            if !done.is_empty() && tx.send(&*done).is_err() {
                break Err(RingFileError::Internal("checksum thread stopped"));
            }
            if status == Status::StreamEnd {
                break Ok(true);
            }
            if produced == 0 && inflater.total_in() as usize == consumed {
                break Err(stalled(consumed, body));
            }
        };
        drop(tx);
        let crc = worker
            .join()
            .map_err(|_| RingFileError::Internal("checksum thread failed"));
        (ended, crc)
    });
    let ended = ended?;
    out.truncate(filled);
    Ok((out, crc?, ended))
}

/// Inflates the rest of the stream into `out`, growing it as output appears.
fn inflate_growing(
    inflater: &mut Decompress,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RingFileError> {
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.len().max(1 << 16));
        }
        let consumed = inflater.total_in() as usize;
        let produced = out.len();
        let status = inflater
            .decompress_vec(&body[consumed..], out, FlushDecompress::None)
            .map_err(deflate_error)?;
        if status == Status::StreamEnd {
            return Ok(());
        }
        let progressed = inflater.total_in() as usize != consumed || out.len() != produced;
        if !progressed && out.len() < out.capacity() {
            return Err(stalled(consumed, body));
        }
    }
}
