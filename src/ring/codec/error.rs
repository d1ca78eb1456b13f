//! `RingFileError`: every way reading or writing a `*.ring.gz` can fail, one line each.

use thiserror::Error;

/// An error reading, writing or validating a ring file.
///
/// Messages are single lines that name the problem; where Swift has a
/// message for the same condition ("Bad ring magic", "Hash mismatch in
/// block", ...) the message starts the same way.
#[derive(Debug, Error)]
pub enum RingFileError {
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with a gzip header.
    #[error("not a gzip file (bad gzip magic {0:02x?})")]
    NotGzip(Vec<u8>),
    /// The gzip header is malformed or uses an unsupported feature.
    #[error("bad gzip header: {0}")]
    GzipHeader(&'static str),
    /// The compressed data ended before the gzip member did.
    #[error("truncated gzip stream: {0}")]
    Truncated(&'static str),
    /// The deflate data is corrupt.
    #[error("corrupt deflate data: {0}")]
    Deflate(String),
    /// The gzip trailer does not match the decompressed data.
    #[error("gzip trailer mismatch: {0}")]
    GzipTrailer(String),
    /// The first four decompressed bytes are not `R1NG`.
    #[error("Bad ring magic: {0:?}")]
    BadMagic(String),
    /// The format version after the magic is neither 1 nor 2.
    #[error("Unsupported ring version: {0}")]
    UnsupportedVersion(u16),
    /// A JSON header, device list or index is not valid JSON.
    #[error("invalid JSON in {what}: {error}")]
    Json {
        what: &'static str,
        error: serde_json::Error,
    },
    /// A header value is missing or has the wrong type or range.
    #[error("invalid ring header: {0}")]
    Header(String),
    /// A device entry is missing a key or has a bad value.
    #[error("invalid device {index}: {problem}")]
    Device { index: usize, problem: String },
    /// The data ended before a length-prefixed field or row was complete.
    #[error("Incomplete read of {what}: expected {expected} bytes, found {found}")]
    IncompleteRead {
        what: String,
        expected: u64,
        found: u64,
    },
    /// A v2 section's length prefix disagrees with its index entry.
    #[error(
        "Inconsistent section size for {section}: prefix says {prefix} + 8, index says {index}"
    )]
    InconsistentSectionSize {
        section: String,
        prefix: u64,
        index: u64,
    },
    /// A v2 section's digest disagrees with its index entry.
    #[error("Hash mismatch in block {section}: {found:?} found; {expected:?} expected")]
    HashMismatch {
        section: String,
        found: String,
        expected: String,
    },
    /// A v2 index entry names a checksum method this reader does not know.
    #[error("Unsupported checksum {method} for section {section}")]
    UnsupportedChecksum { section: String, method: String },
    /// A v2 index entry is malformed.
    #[error("invalid index entry for {section}: {problem}")]
    IndexEntry { section: String, problem: String },
    /// A required v2 section is not in the index.
    #[error("missing section {0} in ring index")]
    MissingSection(&'static str),
    /// The v2 trailer does not point at a readable index.
    #[error("Could not read index offset: {0}")]
    IndexOffset(String),
    /// v1 was asked to hold ids wider than 2 bytes.
    #[error("Ring v1 only supports 2-byte dev IDs")]
    DevIdBytesTooSmall,
    /// The data cannot be written in the requested form.
    #[error("cannot write ring: {0}")]
    Unwritable(String),
    /// A helper thread of the decoder failed (a bug, not bad input).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The decoded ring is inconsistent (see `validate`).
    #[error("invalid ring: {0}")]
    Invalid(String),
}

impl RingFileError {
    pub(crate) fn json(what: &'static str, error: serde_json::Error) -> Self {
        RingFileError::Json { what, error }
    }

    pub(crate) fn incomplete(what: impl Into<String>, expected: u64, found: u64) -> Self {
        RingFileError::IncompleteRead {
            what: what.into(),
            expected,
            found,
        }
    }
}
