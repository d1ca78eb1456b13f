//! One cache entry on disk: a ring's decompressed stream, the path of the
//! ring file it was made from, and a trailer tying both to the exact ring
//! bytes. Reading checks everything; any doubt is a miss.
//!
//! Layout: the stream, the ring's canonical path (raw bytes), then a
//! 48-byte trailer: magic `FSRCACH2`, ring size (u64), ring mtime seconds
//! (i64) and nanoseconds (u32), CRC-32 of the ring file's bytes (u32),
//! stream length (u64), CRC-32 of stream and path together (u32), path
//! length (u32); integers little-endian. The ring's identity (size, mtime,
//! CRC of its compressed bytes) keys the entry, so a ring rewritten within
//! the same mtime tick is still told apart; the second CRC catches an entry
//! damaged on disk (or cut short by a crash: entries are not fsynced).

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::conf::atomic_file::write_atomically_unsynced;

const MAGIC: &[u8; 8] = b"FSRCACH2";
const TRAILER_LEN: usize = 48;
/// Entry files are readable and writable by their owner alone.
pub(super) const ENTRY_MODE: u32 = 0o600;

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
            crc: libdeflater::crc32(bytes),
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

/// A parsed trailer.
struct Trailer {
    id: [u8; 24],
    stream_len: u64,
    crc: u32,
    path_len: u32,
}

impl Trailer {
    fn parse(bytes: &[u8]) -> Option<Trailer> {
        let bytes: &[u8; TRAILER_LEN] = bytes.try_into().ok()?;
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        (&bytes[..8] == MAGIC).then(|| Trailer {
            id: bytes[8..32].try_into().unwrap(),
            stream_len: u64::from_le_bytes(bytes[32..40].try_into().unwrap()),
            crc: word(40),
            path_len: word(44),
        })
    }

    /// The file length this trailer describes.
    fn file_len(&self) -> u64 {
        self.stream_len + u64::from(self.path_len) + TRAILER_LEN as u64
    }
}

/// The effective user id of this process.
pub(super) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether an entry file can only have been written by this user (or
/// root): nobody else may own it or be able to write it.
fn trusted(meta: &Metadata) -> bool {
    meta.is_file() && (meta.uid() == euid() || meta.uid() == 0) && meta.mode() & 0o022 == 0
}

/// Logs why an existing entry was not used (debug level: a miss is normal).
fn reject<T>(entry: &Path, why: &str) -> Option<T> {
    tracing::debug!("ring cache entry {} not used: {why}", entry.display());
    None
}

/// The cached stream in `entry` if it was made from ring bytes of identity
/// `id` and is intact.
pub fn read(entry: &Path, id: &RingIdentity) -> Option<Vec<u8>> {
    let mut file = match File::open(entry) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => return reject(entry, &e.to_string()),
    };
    let meta = file.metadata().ok()?;
    if !trusted(&meta) {
        return reject(entry, "owned by another user or writable by others");
    }
    // The trailer first: a stale entry is told without reading it all.
    let mut tail = [0u8; TRAILER_LEN];
    let Some(at) = meta.len().checked_sub(TRAILER_LEN as u64) else {
        return reject(entry, "too short");
    };
    if let Err(e) = file.read_exact_at(&mut tail, at) {
        return reject(entry, &e.to_string());
    }
    let Some(trailer) = Trailer::parse(&tail) else {
        return reject(entry, "no trailer");
    };
    if trailer.id != id.encode() {
        return reject(entry, "made from other ring bytes");
    }
    if trailer.file_len() != meta.len() {
        return reject(entry, "damaged");
    }
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
    if let Err(e) = file.read_to_end(&mut data) {
        return reject(entry, &e.to_string());
    }
    let at = data.len().saturating_sub(TRAILER_LEN);
    if data.len() as u64 != meta.len() || libdeflater::crc32(&data[..at]) != trailer.crc {
        return reject(entry, "damaged");
    }
    data.truncate(trailer.stream_len as usize);
    Some(data)
}

/// The path of the ring file `entry` was made from, read from its trailer
/// (not checksummed: for pruning only). `None` when it is not an entry.
pub fn ring_path(entry: &Path) -> Option<PathBuf> {
    let file = File::open(entry).ok()?;
    let len = file.metadata().ok()?.len();
    let mut tail = [0u8; TRAILER_LEN];
    file.read_exact_at(&mut tail, len.checked_sub(TRAILER_LEN as u64)?)
        .ok()?;
    let trailer = Trailer::parse(&tail)?;
    if trailer.file_len() != len {
        return None;
    }
    let mut path = vec![0u8; trailer.path_len as usize];
    file.read_exact_at(&mut path, trailer.stream_len).ok()?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(&path)))
}

/// Stores `stream` (the checked decompressed stream of the ring file at
/// `ring`, whose bytes have identity `id`) as `entry`: a temporary file
/// renamed over it, so readers and concurrent writers only ever see whole
/// entries. The entry's directory must exist.
pub fn write(entry: &Path, ring: &Path, id: &RingIdentity, stream: &[u8]) -> io::Result<()> {
    let path = ring.as_os_str().as_bytes();
    let path_len = u32::try_from(path.len()).map_err(io::Error::other)?;
    let mut crc = libdeflater::Crc::new();
    crc.update(stream);
    crc.update(path);
    let mut trailer = Vec::with_capacity(TRAILER_LEN);
    trailer.extend_from_slice(MAGIC);
    trailer.extend_from_slice(&id.encode());
    trailer.extend_from_slice(&(stream.len() as u64).to_le_bytes());
    trailer.extend_from_slice(&crc.sum().to_le_bytes());
    trailer.extend_from_slice(&path_len.to_le_bytes());
    write_atomically_unsynced(entry, Some(ENTRY_MODE), |w| {
        w.write_all(stream)?;
        w.write_all(path)?;
        w.write_all(&trailer)
    })
}

/// Removes `entry` if it is there (a cache file someone else removed or
/// replaced first is no error).
pub(super) fn remove(entry: &Path) {
    if let Err(e) = fs::remove_file(entry) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::debug!("ring cache: cannot remove {}: {e}", entry.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, PathBuf, RingIdentity, Metadata) {
        let dir = tempfile::tempdir().unwrap();
        let ring = dir.path().join("object.ring.gz");
        fs::write(&ring, b"ring bytes").unwrap();
        let meta = fs::metadata(&ring).unwrap();
        let id = RingIdentity::of(&meta, b"ring bytes");
        (dir, ring, id, meta)
    }

    #[test]
    fn entry_round_trips_and_rejects_other_rings_and_damage() {
        let (dir, ring, id, meta) = setup();
        let entry = dir.path().join("e.decoded");
        assert!(read(&entry, &id).is_none());
        write(&entry, &ring, &id, b"R1NG stream").unwrap();
        assert_eq!(read(&entry, &id).as_deref(), Some(&b"R1NG stream"[..]));
        assert_eq!(ring_path(&entry), Some(ring.clone()));
        let mode = fs::metadata(&entry).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, ENTRY_MODE);

        let same_size = RingIdentity::of(&meta, b"ring bytez");
        assert!(read(&entry, &same_size).is_none());

        let good = fs::read(&entry).unwrap();
        for at in [2, good.len() - TRAILER_LEN - 3, good.len() - 5] {
            let mut damaged = good.clone();
            damaged[at] ^= 1;
            fs::write(&entry, &damaged).unwrap();
            assert!(read(&entry, &id).is_none(), "byte {at} flipped");
        }
        fs::write(&entry, &good[..good.len() - 1]).unwrap();
        assert!(read(&entry, &id).is_none());
        assert!(ring_path(&entry).is_none());
        fs::write(&entry, &good[1..]).unwrap();
        assert!(read(&entry, &id).is_none());
        assert!(ring_path(&entry).is_none());
    }

    #[test]
    fn entries_others_could_have_written_are_not_used() {
        let (dir, ring, id, _) = setup();
        let entry = dir.path().join("e.decoded");
        write(&entry, &ring, &id, b"R1NG stream").unwrap();
        for mode in [0o620, 0o602, 0o666] {
            fs::set_permissions(&entry, fs::Permissions::from_mode(mode)).unwrap();
            assert!(read(&entry, &id).is_none(), "{mode:o}");
        }
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read(&entry, &id).is_some());
    }
}
