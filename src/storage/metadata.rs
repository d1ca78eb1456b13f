//! Object metadata kept in `user.swift.metadata*` xattrs, as Swift keeps it.
//!
//! The metadata dict is pickled (protocol 2, keys and values as UTF-8 bytes,
//! the bytes CPython writes) and kept in `user.swift.metadata`, split into
//! `user.swift.metadata1`, ... only past 64 KiB, as Swift does; the MD5 of the
//! whole pickle goes in `user.swift.metadata_checksum`. Every extra xattr
//! costs space: ext4 keeps all of an inode's xattrs in one block, so a
//! layout larger than Swift's would refuse metadata Swift accepts. Objects
//! written in smaller chunks (earlier versions) still read.
//!
//! Values taken from request headers are held as Swift holds them: one char
//! per header byte (Latin-1, what Python's WSGI layer calls a native
//! string), so a UTF-8 header value is stored UTF-8-encoded twice, exactly as
//! Swift writes it, and comes back out byte for byte. `name` is real text.

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
/// Bytes per xattr chunk, Swift's `xattr_size`.
pub const CHUNK: usize = 65536;

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

/// A header value's bytes as a metadata value: one char per byte.
pub fn from_header_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The header bytes of a metadata value: one byte per char. A value with
/// wider chars (real text, as earlier versions of this project stored
/// UTF-8 values) goes out as UTF-8.
pub fn to_header_bytes(value: &str) -> std::borrow::Cow<'_, [u8]> {
    if value.is_ascii() {
        return std::borrow::Cow::Borrowed(value.as_bytes());
    }
    match value
        .chars()
        .map(|c| u8::try_from(u32::from(c)))
        .collect::<std::result::Result<Vec<u8>, _>>()
    {
        Ok(bytes) => std::borrow::Cow::Owned(bytes),
        Err(_) => std::borrow::Cow::Borrowed(value.as_bytes()),
    }
}

/// Serialises metadata the way Swift does (before chunking).
pub fn encode(meta: &Metadata) -> Vec<u8> {
    bytes_dict(meta.iter()).dumps()
}

/// Parses a metadata pickle as Swift reads it: UTF-8 bytes when Python 3
/// wrote it (its `bytes` pickle as `_codecs.encode`); when Python 2 did,
/// every value but `name` is Latin-1 (one char per byte).
pub fn decode(data: &[u8], path: &Path) -> Result<Metadata> {
    let value = Pickle::loads(data).map_err(|e| StorageError::BadMetadata {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let Pickle::Dict(items) = value else {
        return Err(StorageError::BadMetadata {
            path: path.to_path_buf(),
            reason: "not a dict".into(),
        });
    };
    let by_py3 = data[..data.len().min(32)]
        .windows(14)
        .any(|w| w == b"_codecs\nencode");
    let text = |p: &Pickle, is_name: bool| match p {
        Pickle::Bytes(b) if !by_py3 && !is_name => Some(from_header_bytes(b)),
        // Python 3 pickles an empty value as the call `bytes()`, which
        // reads as its (empty) argument tuple.
        Pickle::List(args) if args.is_empty() => Some(String::new()),
        other => other.as_text(),
    };
    let mut meta = Metadata::new();
    for (k, v) in &items {
        let Some(key) = text(k, false) else { continue };
        if let Some(value) = text(v, key == "name") {
            meta.insert(key, value);
        }
    }
    Ok(meta)
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
    fn xattr_round_trip_in_one_chunk_and_old_chunked_objects_read() {
        let dir = tempfile::tempdir().unwrap();
        check_xattr_support(dir.path()).expect("the test filesystem must support user xattrs");
        let path = dir.path().join("x.data");
        let f = File::create(&path).unwrap();
        let mut meta = Metadata::new();
        meta.insert("name".into(), "/a/c/o".into());
        meta.insert("X-Object-Meta-Big".into(), "v".repeat(3000));
        meta.insert("X-Object-Meta-Uni".into(), "\u{2603}".into());
        write(&f, &path, &meta).unwrap();
        let whole = xattr::get(&path, KEY).unwrap().unwrap();
        assert_eq!(whole, encode(&meta));
        assert!(xattr::get(&path, "user.swift.metadata1").unwrap().is_none());
        assert_eq!(read(&f, &path).unwrap(), meta);

        // As earlier versions wrote it: 254-byte chunks.
        let old = dir.path().join("old.data");
        let f = File::create(&old).unwrap();
        for (i, chunk) in whole.chunks(254).enumerate() {
            xattr::set(&old, chunk_key(i), chunk).unwrap();
        }
        assert!(xattr::get(&old, "user.swift.metadata5").unwrap().is_some());
        assert_eq!(read(&f, &old).unwrap(), meta);
    }

    #[test]
    fn header_bytes_round_trip_one_char_per_byte() {
        let raw = b"caf\xe9 \xe2\x98\x83";
        let v = from_header_bytes(raw);
        assert_eq!(v.chars().count(), raw.len());
        assert_eq!(&*to_header_bytes(&v), raw);
        // Real text (wider chars) goes out as UTF-8.
        assert_eq!(&*to_header_bytes("\u{2603}"), "\u{2603}".as_bytes());
    }

    #[test]
    fn python2_pickles_read_as_latin1_except_the_name() {
        // pickle.dumps({'name': '/a/c/\xe2\x98\x83', 'X-Object-Meta-M': '\xe2\x98\x83'}, 2)
        // as Python 2 writes it: plain byte strings.
        let mut data = b"\x80\x02}q\x00(U\x04nameq\x01U\x08/a/c/".to_vec();
        data.extend_from_slice(
            b"\xe2\x98\x83q\x02U\x0fX-Object-Meta-Mq\x03U\x03\xe2\x98\x83q\x04u.",
        );
        let meta = decode(&data, Path::new("x")).unwrap();
        assert_eq!(meta["name"], "/a/c/\u{2603}");
        assert_eq!(meta["X-Object-Meta-M"], "\u{e2}\u{98}\u{83}");
    }
}
