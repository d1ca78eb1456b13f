//! Object metadata kept in `user.swift.metadata*` xattrs, as Swift keeps it.
//!
//! The metadata dict is pickled (protocol 2, keys and values as UTF-8 bytes)
//! and split over `user.swift.metadata`, `user.swift.metadata1`, ... in chunks
//! small enough for ext4's per-inode xattr space; the MD5 of the whole pickle
//! goes in `user.swift.metadata_checksum`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use super::pickle::{bytes_dict, Pickle};
use super::{Result, StorageError};

/// Metadata of one object file: header-style keys (`X-Timestamp`, `ETag`,
/// `Content-Length`, `X-Object-Meta-*`, ...) and `name` (`/a/c/o`).
pub type Metadata = BTreeMap<String, String>;

const KEY: &str = "user.swift.metadata";
const CHECKSUM_KEY: &str = "user.swift.metadata_checksum";
/// Bytes per xattr chunk; keeps several chunks within a 4 KiB ext4 inode block.
pub const CHUNK: usize = 254;

fn chunk_key(i: usize) -> String {
    if i == 0 {
        KEY.to_string()
    } else {
        format!("{KEY}{i}")
    }
}

fn xattr_error(path: &Path, e: std::io::Error) -> StorageError {
    match e.raw_os_error() {
        Some(libc::ENOTSUP) => StorageError::XattrUnsupported(path.to_path_buf()),
        _ => StorageError::io(path, e),
    }
}

/// Serialises metadata the way Swift does (before chunking).
pub fn encode(meta: &Metadata) -> Vec<u8> {
    bytes_dict(meta.iter()).dumps()
}

/// Parses a metadata pickle.
pub fn decode(data: &[u8], path: &Path) -> Result<Metadata> {
    let value = Pickle::loads(data).map_err(|e| StorageError::BadMetadata {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !matches!(value, Pickle::Dict(_)) {
        return Err(StorageError::BadMetadata {
            path: path.to_path_buf(),
            reason: "not a dict".into(),
        });
    }
    Ok(value.to_string_map())
}

/// Writes metadata to an open file's xattrs.
pub fn write(file: &File, path: &Path, meta: &Metadata) -> Result<()> {
    use xattr::FileExt;
    let data = encode(meta);
    for (i, chunk) in data.chunks(CHUNK).enumerate() {
        file.set_xattr(chunk_key(i), chunk)
            .map_err(|e| xattr_error(path, e))?;
    }
    let sum = super::hashpath::hex(&md5::Md5::digest_bytes(&data));
    file.set_xattr(CHECKSUM_KEY, sum.as_bytes())
        .map_err(|e| xattr_error(path, e))?;
    Ok(())
}

/// Reads metadata from an open file's xattrs, checking the checksum if present.
pub fn read(file: &File, path: &Path) -> Result<Metadata> {
    use xattr::FileExt;
    let mut data = Vec::new();
    for i in 0.. {
        match file
            .get_xattr(chunk_key(i))
            .map_err(|e| xattr_error(path, e))?
        {
            Some(chunk) => data.extend_from_slice(&chunk),
            None => break,
        }
    }
    if data.is_empty() {
        return Err(StorageError::BadMetadata {
            path: path.to_path_buf(),
            reason: "no metadata".into(),
        });
    }
    if let Some(sum) = file
        .get_xattr(CHECKSUM_KEY)
        .map_err(|e| xattr_error(path, e))?
    {
        let computed = super::hashpath::hex(&md5::Md5::digest_bytes(&data));
        if sum != computed.as_bytes() {
            return Err(StorageError::BadMetadata {
                path: path.to_path_buf(),
                reason: "checksum mismatch".into(),
            });
        }
    }
    decode(&data, path)
}

/// Checks that the filesystem holding `dir` accepts user xattrs, with a clear error if not.
pub fn check_xattr_support(dir: &Path) -> Result<()> {
    let probe = tempfile_in(dir)?;
    let res = xattr::set(&probe, "user.ferroswift.probe", b"1");
    let _ = std::fs::remove_file(&probe);
    res.map_err(|e| xattr_error(dir, e))
}

fn tempfile_in(dir: &Path) -> Result<std::path::PathBuf> {
    let p = dir.join(format!(".xattr-probe-{}", uuid::Uuid::new_v4().simple()));
    File::create(&p).map_err(|e| StorageError::io(&p, e))?;
    Ok(p)
}

/// Small MD5 helper so callers need not juggle the digest traits.
trait DigestBytes {
    fn digest_bytes(data: &[u8]) -> [u8; 16];
}

impl DigestBytes for md5::Md5 {
    fn digest_bytes(data: &[u8]) -> [u8; 16] {
        use md5::Digest;
        md5::Md5::digest(data).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_round_trip_and_chunking() {
        let dir = tempfile::tempdir().unwrap();
        check_xattr_support(dir.path()).expect("the test filesystem must support user xattrs");
        let path = dir.path().join("x.data");
        let f = File::create(&path).unwrap();
        let mut meta = Metadata::new();
        meta.insert("name".into(), "/a/c/o".into());
        meta.insert("X-Object-Meta-Big".into(), "v".repeat(3000));
        meta.insert("X-Object-Meta-Uni".into(), "\u{2603}".into());
        write(&f, &path, &meta).unwrap();
        assert!(xattr::get(&path, "user.swift.metadata5").unwrap().is_some());
        assert_eq!(read(&f, &path).unwrap(), meta);
    }
}
