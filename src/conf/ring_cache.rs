//! Opt-in cache of decoded ring files. Loading a large `*.ring.gz` is mostly
//! inflating it; with a cache directory set (`FERROSWIFT_RING_CACHE_DIR`,
//! off by default), the decompressed stream is kept there after a load and
//! read back in one read by later loads of the same file, skipping the
//! inflate and the v2 section digests.
//!
//! An entry is used only when it was made from the very same ring bytes:
//! it is keyed by the ring file's size, mtime and the CRC-32 of its
//! compressed bytes, and carries the CRC-32 of the stream it holds, checked
//! on every read. Any mismatch or damage means a normal load, which then
//! rewrites the entry. Entries are written atomically (`atomic_file`).
//!
//! Entry layout: the decompressed stream, then a 48-byte trailer: magic
//! `FSRCACH1`, ring size (u64), mtime seconds (i64), mtime nanoseconds
//! (u32), ring CRC-32 (u32), stream length (u64), stream CRC-32 (u32), 4
//! zero bytes; integers little-endian.

use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use super::atomic_file::write_atomically;

/// The environment variable naming the cache directory (unset or empty: no cache).
pub const CACHE_DIR_ENV: &str = "FERROSWIFT_RING_CACHE_DIR";

const MAGIC: &[u8; 8] = b"FSRCACH1";
const TRAILER_LEN: usize = 48;

/// The cache directory the operator chose, if any.
pub fn cache_dir_from_env() -> Option<PathBuf> {
    std::env::var_os(CACHE_DIR_ENV)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// What identifies a ring file's bytes: size, mtime, CRC-32 of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingIdentity {
    size: u64,
    mtime_sec: i64,
    mtime_nsec: u32,
    crc: u32,
}

impl RingIdentity {
    /// The identity of `bytes`, read from a file whose metadata is `meta`.
    pub fn of(meta: &Metadata, bytes: &[u8]) -> RingIdentity {
        RingIdentity {
            size: bytes.len() as u64,
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec() as u32,
            crc: crc32(bytes),
        }
    }

    fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.size.to_le_bytes());
        out[8..16].copy_from_slice(&self.mtime_sec.to_le_bytes());
        out[16..20].copy_from_slice(&self.mtime_nsec.to_le_bytes());
        out[20..].copy_from_slice(&self.crc.to_le_bytes());
        out
    }
}

/// CRC-32 (gzip's), by libdeflate: its SIMD version is several times faster
/// than the portable one in flate2's backend, and a warm load checksums
/// both the ring file and the entry.
fn crc32(bytes: &[u8]) -> u32 {
    libdeflater::crc32(bytes)
}

/// The entry for a ring file: `<dir>/<ring file name>.<hash of its absolute
/// path>.decoded`, so rings of the same name in different places differ.
pub fn entry_path(dir: &Path, ring: &Path) -> PathBuf {
    let absolute = fs::canonicalize(ring).unwrap_or_else(|_| ring.to_path_buf());
    let digest = Md5::digest(absolute.as_os_str().as_bytes());
    let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name = ring
        .file_name()
        .unwrap_or(OsStr::new("ring"))
        .to_string_lossy();
    dir.join(format!("{name}.{tag}.decoded"))
}

/// The cached stream for the ring `id`, if `entry` holds a sound one made
/// from the same ring bytes.
pub fn read(entry: &Path, id: &RingIdentity) -> Option<Vec<u8>> {
    let mut data = fs::read(entry).ok()?;
    let at = data.len().checked_sub(TRAILER_LEN)?;
    let trailer = &data[at..];
    if &trailer[..8] != MAGIC || trailer[8..32] != id.encode() {
        return None;
    }
    let len = u64::from_le_bytes(trailer[32..40].try_into().ok()?);
    let crc = u32::from_le_bytes(trailer[40..44].try_into().ok()?);
    if len != at as u64 || crc32(&data[..at]) != crc {
        return None;
    }
    data.truncate(at);
    Some(data)
}

/// Stores `stream` (the ring's checked decompressed stream) as the entry
/// for the ring `id`, creating the directory if needed.
pub fn write(entry: &Path, id: &RingIdentity, stream: &[u8]) -> io::Result<()> {
    if let Some(dir) = entry.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut trailer = Vec::with_capacity(TRAILER_LEN);
    trailer.extend_from_slice(MAGIC);
    trailer.extend_from_slice(&id.encode());
    trailer.extend_from_slice(&(stream.len() as u64).to_le_bytes());
    trailer.extend_from_slice(&crc32(stream).to_le_bytes());
    trailer.extend_from_slice(&[0; 4]);
    write_atomically(entry, Some(0o644), |w| {
        w.write_all(stream)?;
        w.write_all(&trailer)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips_and_rejects_other_rings_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let ring = dir.path().join("object.ring.gz");
        fs::write(&ring, b"ring bytes").unwrap();
        let meta = fs::metadata(&ring).unwrap();
        let id = RingIdentity::of(&meta, b"ring bytes");
        let entry = entry_path(&dir.path().join("cache"), &ring);
        assert!(read(&entry, &id).is_none());
        write(&entry, &id, b"R1NG stream").unwrap();
        assert_eq!(read(&entry, &id).as_deref(), Some(&b"R1NG stream"[..]));

        let same_size = RingIdentity::of(&meta, b"ring bytez");
        assert!(read(&entry, &same_size).is_none());

        let mut damaged = fs::read(&entry).unwrap();
        damaged[2] ^= 1;
        fs::write(&entry, &damaged).unwrap();
        assert!(read(&entry, &id).is_none());
        fs::write(&entry, &damaged[..damaged.len() - 1]).unwrap();
        assert!(read(&entry, &id).is_none());
    }
}
