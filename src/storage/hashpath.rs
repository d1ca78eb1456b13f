//! Object, container and account names to on-disk hashes.
//!
//! `hash_path` is the MD5 of `prefix + /account[/container[/object]] + suffix`
//! (the cluster's `swift_hash_path_prefix/suffix`), as hex. The hash picks the
//! directory (`<part>/<hash[-3:]>/<hash>`); partitions come from the request.

use md5::{Digest, Md5};

/// The cluster-wide salt from `swift.conf` `[swift-hash]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashSalt {
    pub prefix: String,
    pub suffix: String,
}

impl HashSalt {
    /// Hex MD5 of the salted path.
    pub fn hash_path(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> String {
        let mut h = Md5::new();
        h.update(self.prefix.as_bytes());
        h.update(b"/");
        h.update(account.as_bytes());
        if let Some(c) = container {
            h.update(b"/");
            h.update(c.as_bytes());
            if let Some(o) = object {
                h.update(b"/");
                h.update(o.as_bytes());
            }
        }
        h.update(self.suffix.as_bytes());
        hex(&h.finalize())
    }
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Directory name for a data type and policy: `objects`, `objects-1`, ...
pub fn policy_dir(base: &str, policy: u32) -> String {
    if policy == 0 {
        base.to_string()
    } else {
        format!("{base}-{policy}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hash() {
        let salt = HashSalt {
            prefix: String::new(),
            suffix: "changeme".into(),
        };
        // md5("/a/c/o" + "changeme")
        let mut h = Md5::new();
        h.update(b"/a/c/ochangeme");
        assert_eq!(
            salt.hash_path("a", Some("c"), Some("o")),
            hex(&h.finalize())
        );
        assert_eq!(policy_dir("objects", 0), "objects");
        assert_eq!(policy_dir("async_pending", 2), "async_pending-2");
    }
}
