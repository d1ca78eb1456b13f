//! Swift's `ssync` replication protocol: one `SSYNC /<dev>/<part>` request
//! whose chunked body carries a missing_check step (one line per object the
//! sender holds: hash and timestamps) and an updates step (PUT/POST/DELETE
//! subrequests for what the receiver asked for), each answered in the
//! streamed response.
//!
//! This module holds the line formats and the on-disk view both sides share
//! (what timestamps a local object has); `receiver` is the object server's
//! side and `sender` the replicator's.

pub mod receiver;
pub mod sender;

use std::fs::File;
use std::path::Path;

use crate::storage::diskfile::list_files;
use crate::storage::metadata::{self, Metadata};
use crate::storage::objstore::{select, FileKind, Selection};
use crate::storage::Timestamp;

/// The timestamps of one object, as missing_check lines carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamps {
    /// The `.data` or `.ts` timestamp.
    pub ts_data: Timestamp,
    /// The newest of data and `.meta`.
    pub ts_meta: Timestamp,
    /// When the content type was last set.
    pub ts_ctype: Timestamp,
}

/// A decoded missing_check line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub hash: String,
    pub stamps: Stamps,
    pub durable: bool,
}

/// Which parts of an object the receiver wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    pub data: bool,
    pub meta: bool,
}

const QUOTE_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn quote(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUOTE_SAFE).to_string()
}

fn unquote(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn delta(from: Timestamp, to: Timestamp) -> String {
    let mut s = format!("{:x}", to.ticks().saturating_sub(from.ticks()));
    if to.offset() != 0 {
        s.push_str(&format!("__{:x}", to.offset()));
    }
    s
}

/// `<hash> <ts_data> [m:<hex delta>[__<hex offset>][,t:<hex delta>...]]`.
pub fn encode_missing(hash: &str, st: &Stamps) -> String {
    let mut msg = format!("{} {}", quote(hash), quote(&st.ts_data.internal()));
    let mut extra = Vec::new();
    if st.ts_meta != st.ts_data {
        extra.push(format!("m:{}", delta(st.ts_data, st.ts_meta)));
        if st.ts_ctype != st.ts_data {
            extra.push(format!("t:{}", delta(st.ts_data, st.ts_ctype)));
        }
    }
    if !extra.is_empty() {
        msg.push(' ');
        msg.push_str(&extra.join(","));
    }
    msg
}

fn parse_delta(base: Timestamp, v: &str) -> Option<Timestamp> {
    let (d, o) = v.split_once("__").unwrap_or((v, "0"));
    let d = i64::from_str_radix(d, 16).ok()?;
    let o = u64::from_str_radix(o, 16).ok()?;
    let ticks = base.ticks().checked_add_signed(d)?;
    Some(Timestamp::from_ticks(ticks).with_offset(o))
}

/// Parses a missing_check line sent by `encode_missing`.
pub fn decode_missing(line: &str) -> Option<Missing> {
    let mut parts = line.split_whitespace();
    let hash = unquote(parts.next()?);
    let ts_data = Timestamp::parse(&unquote(parts.next()?))?;
    let mut m = Missing {
        hash,
        stamps: Stamps {
            ts_data,
            ts_meta: ts_data,
            ts_ctype: ts_data,
        },
        durable: true,
    };
    if let Some(extra) = parts.next() {
        for item in unquote(extra).split(',') {
            let Some((k, v)) = item.split_once(':') else {
                continue;
            };
            match k {
                "m" => m.stamps.ts_meta = parse_delta(ts_data, v)?,
                "t" => m.stamps.ts_ctype = parse_delta(ts_data, v)?,
                "durable" => m.durable = crate::conf::server_conf::config_true(v),
                _ => {}
            }
        }
    }
    Some(m)
}

/// The receiver's answer for one object: `<hash> d`, `<hash> m`, `<hash> dm`,
/// or nothing when it already has everything. `local` is `None` when the
/// receiver has no usable copy; a deleted object has only `ts_data`.
pub fn encode_wanted(remote: &Missing, local: Option<&LocalObject>) -> Option<String> {
    let want = match local {
        None => Wanted {
            data: true,
            meta: true,
        },
        Some(l) => {
            let mut w = Wanted {
                data: remote.stamps.ts_data > l.stamps.ts_data,
                meta: false,
            };
            if !l.deleted {
                w.meta = remote.stamps.ts_meta > l.stamps.ts_meta
                    || (remote.stamps.ts_ctype > l.stamps.ts_ctype
                        && remote.stamps.ts_ctype > remote.stamps.ts_data);
            }
            w
        }
    };
    let flags = match (want.data, want.meta) {
        (false, false) => return None,
        (true, false) => "d",
        (false, true) => "m",
        (true, true) => "dm",
    };
    Some(format!("{} {flags}", quote(&remote.hash)))
}

/// Parses the flags of a wanted line (no flags means the data).
pub fn decode_wanted(flags: Option<&str>) -> Wanted {
    let f = flags.unwrap_or("");
    let w = Wanted {
        data: f.contains('d'),
        meta: f.contains('m'),
    };
    if w.data || w.meta {
        w
    } else {
        Wanted {
            data: true,
            meta: false,
        }
    }
}

/// What one local object directory holds.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalObject {
    pub stamps: Stamps,
    /// A tombstone is the newest file.
    pub deleted: bool,
    pub files: Selection,
}

/// Reads an object directory: `None` if it holds no `.data` or `.ts`.
pub fn local_object(dir: &Path) -> Option<LocalObject> {
    let files = select(&list_files(dir).ok()?);
    let (ts_data, deleted) = match (files.data, files.tombstone) {
        (Some(t), _) => (t, false),
        (None, Some(t)) => (t, true),
        (None, None) => return None,
    };
    let mut stamps = Stamps {
        ts_data,
        ts_meta: ts_data,
        ts_ctype: ts_data,
    };
    if let Some(mt) = files.meta {
        stamps.ts_meta = mt;
        let meta = read_meta(&dir.join(format!("{}{}", mt.internal(), FileKind::Meta.ext())));
        if let Some(ct) = meta
            .as_ref()
            .and_then(|m| m.get("Content-Type-Timestamp"))
            .and_then(|v| Timestamp::parse(v))
        {
            stamps.ts_ctype = ct;
        }
    }
    Some(LocalObject {
        stamps,
        deleted,
        files,
    })
}

/// The metadata of one object file.
pub fn read_meta(path: &Path) -> Option<Metadata> {
    let f = File::open(path).ok()?;
    metadata::read(&f, path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn missing_lines_round_trip() {
        let st = Stamps {
            ts_data: ts("1700000000.00000"),
            ts_meta: ts("1700000001.50000_0000000000000003"),
            ts_ctype: ts("1700000000.00010"),
        };
        let line = encode_missing("9d41d8cd98f00b204e9800998ecf0abc", &st);
        assert_eq!(
            line,
            "9d41d8cd98f00b204e9800998ecf0abc 1700000000.00000 m:249f0__3,t:a"
        );
        let m = decode_missing(&line).unwrap();
        assert_eq!(m.stamps, st);
        assert!(m.durable);
        let plain = Stamps {
            ts_data: st.ts_data,
            ts_meta: st.ts_data,
            ts_ctype: st.ts_data,
        };
        assert_eq!(
            encode_missing("abc", &plain),
            "abc 1700000000.00000".to_string()
        );
        assert_eq!(
            decode_missing("abc 1700000000.00000").unwrap().stamps,
            plain
        );
    }

    #[test]
    fn wanted_rules() {
        let remote = decode_missing("h 1700000005.00000 m:186a0").unwrap();
        assert_eq!(encode_wanted(&remote, None).as_deref(), Some("h dm"));
        let mut local = LocalObject {
            stamps: remote.stamps,
            deleted: false,
            files: Selection::default(),
        };
        assert_eq!(encode_wanted(&remote, Some(&local)), None);
        local.stamps.ts_meta = local.stamps.ts_data;
        assert_eq!(encode_wanted(&remote, Some(&local)).as_deref(), Some("h m"));
        local.stamps.ts_data = ts("1700000001.00000");
        assert_eq!(
            encode_wanted(&remote, Some(&local)).as_deref(),
            Some("h dm")
        );
        local.deleted = true;
        assert_eq!(encode_wanted(&remote, Some(&local)).as_deref(), Some("h d"));
        assert_eq!(
            decode_wanted(Some("dm")),
            Wanted {
                data: true,
                meta: true
            }
        );
        assert_eq!(
            decode_wanted(None),
            Wanted {
                data: true,
                meta: false
            }
        );
    }
}
