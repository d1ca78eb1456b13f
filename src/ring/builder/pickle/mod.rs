//! The `.builder` file: Swift's pickled `RingBuilder.to_dict()`, read and written.
//!
//! Why not `serde-pickle`: it can read these files (with
//! `keep_restore_state`), but it cannot write a `GLOBAL 'array array'` +
//! `REDUCE`, which Swift's loader needs for the partition tables, and its
//! generic value tree costs tens of bytes per table entry (a part-power-20
//! builder has three million). This module is a small reader and writer for
//! exactly the subset of pickle that builder files use: arrays decode
//! straight into compact integer vectors, memo references are shared rather
//! than copied, and every length is checked against the bytes present.
//!
//! Pure: works over `impl Read` / `impl Write`; the atomic save and the
//! `backups/` copies live in `conf::builder_file`.

mod decode;
mod reader;
#[cfg(test)]
mod tests;
mod value;
mod writer;

use std::io::{Read, Write};

use super::RingBuilder;

/// Why a builder file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BuilderFileError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("file is truncated (ends after {0} bytes)")]
    Truncated(u64),
    #[error("not a pickle: unsupported opcode 0x{op:02x} at byte {offset}")]
    Opcode { op: u8, offset: u64 },
    #[error("malformed pickle at byte {offset}: {msg}")]
    Malformed { offset: u64, msg: String },
    #[error("not a ring builder: {0}")]
    NotABuilder(String),
}

/// Reads a builder pickled by Swift (or by [`write_builder`]).
pub fn read_builder(input: impl Read) -> Result<RingBuilder, BuilderFileError> {
    let (arena, top) = reader::unpickle(input)?;
    decode::builder_from_value(&arena, &top)
}

/// Writes `builder` as Swift's `RingBuilder.save` would (pickle protocol 2).
///
/// The builder's `id` is written as it is; callers that save a builder for
/// the first time assign one beforehand, as Swift's `save()` does.
pub fn write_builder(builder: &RingBuilder, out: impl Write) -> Result<(), BuilderFileError> {
    let mut p = writer::Pickler::new(out);
    p.builder(builder)?;
    p.finish()?;
    Ok(())
}

/// The builder as pickle bytes.
pub fn builder_to_bytes(builder: &RingBuilder) -> Result<Vec<u8>, BuilderFileError> {
    let mut out = Vec::new();
    write_builder(builder, &mut out)?;
    Ok(out)
}
