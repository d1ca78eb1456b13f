//! Python string behaviours `swift-get-nodes` output depends on: `quote`,
//! `unquote`, `repr`, `int()`, and the IPv6 test used for bracketing.

use std::net::Ipv6Addr;

/// `urllib.parse.quote(s, safe='/')`: UTF-8 bytes other than letters,
/// digits, `_.-~` and `/` become `%XX`.
pub fn py_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `urllib.parse.unquote(s)`: `%XX` escapes inside runs of ASCII are decoded
/// as UTF-8 (invalid sequences become U+FFFD); everything else is kept.
pub fn py_unquote(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut ascii_run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut String| {
        let mut bytes = Vec::with_capacity(run.len());
        let mut i = 0;
        while i < run.len() {
            if run[i] == b'%' && i + 2 < run.len() {
                if let (Some(h), Some(l)) = (hex_val(run[i + 1]), hex_val(run[i + 2])) {
                    bytes.push(h * 16 + l);
                    i += 3;
                    continue;
                }
            }
            bytes.push(run[i]);
            i += 1;
        }
        out.push_str(&String::from_utf8_lossy(&bytes));
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii() {
            ascii_run.push(c as u8);
        } else {
            flush(&mut ascii_run, &mut out);
            out.push(c);
        }
    }
    flush(&mut ascii_run, &mut out);
    out
}

/// Python's `repr()` of a `str`.
pub use crate::recon::pyfmt::str_repr as py_repr;

/// Python's `int(str)` for base 10: surrounding whitespace, a sign,
/// digits with single `_` between them.
pub fn py_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if !clean.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i128 = clean.parse().ok()?;
    Some(if neg { -value } else { value })
}

/// `inet_pton(AF_INET6, ip)` succeeds.
pub fn is_ipv6(ip: &str) -> bool {
    ip.contains(':') && ip.parse::<Ipv6Addr>().is_ok()
}

/// The decimal digits of `n`, written at the end of `buf`.
pub fn decimal(buf: &mut [u8; 10], mut n: u32) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits() {
        let mut buf = [0u8; 10];
        for n in [0, 7, 6200, 65535, u32::MAX] {
            assert_eq!(decimal(&mut buf, n), n.to_string().as_bytes());
        }
    }

    #[test]
    fn quote_like_python() {
        assert_eq!(
            py_quote("photos/2024/img 001.jpg"),
            "photos/2024/img%20001.jpg"
        );
        assert_eq!(py_quote("AUTH_ünï"), "AUTH_%C3%BCn%C3%AF");
        assert_eq!(py_quote("a~b-c_d.e"), "a~b-c_d.e");
    }

    #[test]
    fn unquote_like_python() {
        assert_eq!(py_unquote("a%2Fb%20c"), "a/b c");
        assert_eq!(py_unquote("%zz%4"), "%zz%4");
        assert_eq!(py_unquote("%C3%A9"), "é");
        assert_eq!(py_unquote("%FFx"), "\u{FFFD}x");
    }

    #[test]
    fn repr_like_python() {
        assert_eq!(py_repr("nosuch"), "'nosuch'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a\tb"), "'a\\tb'");
    }

    #[test]
    fn int_like_python() {
        assert_eq!(py_int(" 12 "), Some(12));
        assert_eq!(py_int("1_0"), Some(10));
        assert_eq!(py_int("-3"), Some(-3));
        assert_eq!(py_int("0x1"), None);
        assert_eq!(py_int(""), None);
    }
}
