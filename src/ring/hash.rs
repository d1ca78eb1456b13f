//! `hash_path`: the MD5 of prefix + `/a[/c[/o]]` + suffix, and name → partition.
//!
//! Pure functions; the prefix and suffix come from `swift.conf` and are passed
//! in by the caller (see `conf::swift_conf`).

use md5::{Digest, Md5};
use thiserror::Error;

/// A 16-byte MD5 digest of a hashed path.
pub type PathDigest = [u8; 16];

/// Why a path could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HashError {
    /// An object name was given without a container name.
    #[error("object specified without container")]
    ObjectWithoutContainer,
}

/// The `[swift-hash]` secrets mixed into every hashed path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashPathConf {
    /// `swift_hash_path_prefix`, as latin-1 bytes.
    pub prefix: Vec<u8>,
    /// `swift_hash_path_suffix`, as latin-1 bytes.
    pub suffix: Vec<u8>,
}

impl HashPathConf {
    /// A configuration from a prefix and a suffix.
    pub fn new(prefix: impl Into<Vec<u8>>, suffix: impl Into<Vec<u8>>) -> Self {
        HashPathConf {
            prefix: prefix.into(),
            suffix: suffix.into(),
        }
    }

    /// `hash_path` with this configuration's prefix and suffix.
    pub fn hash_path(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Result<PathDigest, HashError> {
        hash_path(&self.prefix, &self.suffix, account, container, object)
    }

    /// [`hash_path`](Self::hash_path) as lower-case hex: the name Swift gives
    /// the object's (or database's) directory and file on disk.
    pub fn hash_path_hex(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Result<String, HashError> {
        self.hash_path(account, container, object)
            .map(|d| hex_digest(&d))
    }
}

/// MD5 of `prefix + "/" + account[/container[/object]] + suffix`.
///
/// As in Swift, an empty container or object counts as absent, and an object
/// without a container is an error. Names are hashed as their UTF-8 bytes,
/// without normalization.
pub fn hash_path(
    prefix: &[u8],
    suffix: &[u8],
    account: &str,
    container: Option<&str>,
    object: Option<&str>,
) -> Result<PathDigest, HashError> {
    let container = container.filter(|c| !c.is_empty());
    let object = object.filter(|o| !o.is_empty());
    if object.is_some() && container.is_none() {
        return Err(HashError::ObjectWithoutContainer);
    }
    let mut md5 = Md5::new();
    md5.update(prefix);
    md5.update(b"/");
    md5.update(account.as_bytes());
    for part in [container, object].into_iter().flatten() {
        md5.update(b"/");
        md5.update(part.as_bytes());
    }
    md5.update(suffix);
    Ok(md5.finalize().into())
}

/// Lower-case hex of a digest, as Swift's `hexdigest()`.
pub fn hex_digest(digest: &PathDigest) -> String {
    crate::storage::hashpath::hex(digest)
}

/// Partition of a digest: its first 4 bytes, big-endian, shifted right by
/// `part_shift` (a shift of 32 or more gives partition 0).
pub fn part_from_digest(digest: &[u8; 16], part_shift: u32) -> u32 {
    let top = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    top.checked_shr(part_shift).unwrap_or(0)
}

/// Where the handoff search of a partition starts: the MD5 of the partition
/// number in decimal ASCII, reduced like a path digest.
pub fn handoff_start(part: u32, part_shift: u32) -> u32 {
    // The decimal digits are written into a stack buffer, right to left.
    let mut buf = [0u8; 10];
    let mut at = buf.len();
    let mut n = part;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digest: [u8; 16] = Md5::digest(&buf[at..]).into();
    part_from_digest(&digest, part_shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_hash_matches_swift_example() {
        let d = hash_path(b"", b"changeme", "AUTH_test", None, None).unwrap();
        assert_eq!(hex_digest(&d), "9d00c9d091fea9ea855f29c22714dc83");
        assert_eq!(part_from_digest(&d, 22), 628);
        let conf = HashPathConf::new("", "changeme");
        assert_eq!(
            conf.hash_path_hex("AUTH_test", None, None).unwrap(),
            "9d00c9d091fea9ea855f29c22714dc83"
        );
    }

    #[test]
    fn empty_components_count_as_absent() {
        let a = hash_path(b"", b"s", "a", Some(""), None).unwrap();
        let b = hash_path(b"", b"s", "a", None, None).unwrap();
        assert_eq!(a, b);
        let c = hash_path(b"", b"s", "a", Some("c"), Some("")).unwrap();
        let d = hash_path(b"", b"s", "a", Some("c"), None).unwrap();
        assert_eq!(c, d);
        assert_eq!(
            hash_path(b"", b"s", "a", Some(""), Some("o")),
            Err(HashError::ObjectWithoutContainer)
        );
    }

    #[test]
    fn shift_of_32_gives_partition_zero() {
        assert_eq!(part_from_digest(&[0xFF; 16], 32), 0);
        assert_eq!(part_from_digest(&[0xFF; 16], 31), 1);
    }

    #[test]
    fn handoff_start_uses_decimal_partition() {
        // Section (c) of the ring notes: S1 partition 628 starts at 267.
        assert_eq!(handoff_start(628, 22), 267);
    }

    #[test]
    fn handoff_start_digits_match_decimal_formatting() {
        for part in [0, 7, 9, 10, 99, 100, 65535, 1 << 20, u32::MAX] {
            let digest: [u8; 16] = Md5::digest(part.to_string().as_bytes()).into();
            assert_eq!(
                handoff_start(part, 12),
                part_from_digest(&digest, 12),
                "{part}"
            );
        }
    }
}
