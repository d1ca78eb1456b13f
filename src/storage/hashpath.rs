//! On-disk naming helpers: hex of a digest and per-policy directory names.
//!
//! The hashed name itself (`hash_path`, salted with `swift.conf`'s
//! `[swift-hash]`) is `ring::hash::HashPathConf::hash_path_hex`; its hex picks
//! the directory (`<part>/<hash[-3:]>/<hash>`).

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
    fn hex_and_policy_dirs() {
        assert_eq!(hex(&[0x00, 0x9f, 0xa1]), "009fa1");
        assert_eq!(policy_dir("objects", 0), "objects");
        assert_eq!(policy_dir("async_pending", 2), "async_pending-2");
    }
}
