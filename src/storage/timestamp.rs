//! Swift timestamps: seconds with five decimals plus an optional offset.
//!
//! The "normal" form is `%016.5f` (`0001700000000.12345` style, zero padded to
//! 16 characters); the "internal" form appends `_%016x` when the offset is
//! non-zero. Ordering is by time, then offset.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A Swift timestamp with 10-microsecond resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Time in units of 10 microseconds since the epoch.
    ticks: u64,
    offset: u64,
}

const TICKS_PER_SEC: u64 = 100_000;

impl Timestamp {
    /// The timestamp for now.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let ticks = d.as_secs() * TICKS_PER_SEC + u64::from(d.subsec_nanos()) / 10_000;
        Timestamp { ticks, offset: 0 }
    }

    /// Builds a timestamp from whole seconds.
    pub fn from_secs(secs: u64) -> Self {
        Timestamp {
            ticks: secs.saturating_mul(TICKS_PER_SEC),
            offset: 0,
        }
    }

    /// Parses `1700000000.12345`, `1700000000`, or the internal form with `_<hex offset>`.
    /// More than five decimals are rounded half-up, as Swift does.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (time, offset) = match s.split_once('_') {
            Some((t, o)) => {
                if o.is_empty() || o.len() > 16 {
                    return None;
                }
                (t, u64::from_str_radix(o, 16).ok()?)
            }
            None => (s, 0),
        };
        let (int, frac) = time.split_once('.').unwrap_or((time, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut ticks_frac: u64 = 0;
        for i in 0..5 {
            let d = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
            ticks_frac = ticks_frac * 10 + d;
        }
        if frac.as_bytes().get(5).is_some_and(|b| *b >= b'5') {
            ticks_frac += 1;
        }
        let ticks = secs.checked_mul(TICKS_PER_SEC)?.checked_add(ticks_frac)?;
        // Swift refuses timestamps at or beyond 10**10 seconds.
        if secs >= 10_000_000_000 {
            return None;
        }
        Some(Timestamp { ticks, offset })
    }

    /// A copy with the given offset.
    pub fn with_offset(self, offset: u64) -> Self {
        Timestamp { offset, ..self }
    }

    /// Swift's `raw`: the time in units of 10 microseconds.
    pub fn ticks(self) -> u64 {
        self.ticks
    }

    /// The timestamp `ticks` units of 10 microseconds after the epoch.
    pub fn from_ticks(ticks: u64) -> Self {
        Timestamp { ticks, offset: 0 }
    }

    /// The offset part.
    pub fn offset(self) -> u64 {
        self.offset
    }

    /// Whole seconds since the epoch.
    pub fn secs(self) -> u64 {
        self.ticks / TICKS_PER_SEC
    }

    /// Seconds rounded up, as Swift does for `Last-Modified`.
    pub fn ceil_secs(self) -> u64 {
        self.ticks.div_ceil(TICKS_PER_SEC)
    }

    /// The time as a float (for JSON listings and the like).
    pub fn as_f64(self) -> f64 {
        self.ticks as f64 / TICKS_PER_SEC as f64
    }

    /// `%016.5f` form, ignoring the offset.
    pub fn normal(self) -> String {
        format!(
            "{:010}.{:05}",
            self.ticks / TICKS_PER_SEC,
            self.ticks % TICKS_PER_SEC
        )
    }

    /// The normal form plus `_%016x` when there is an offset.
    pub fn internal(self) -> String {
        if self.offset == 0 {
            self.normal()
        } else {
            format!("{}_{:016x}", self.normal(), self.offset)
        }
    }

    /// ISO 8601 with microseconds (container/account JSON listings).
    pub fn isoformat(self) -> String {
        let secs = self.secs();
        let micros = (self.ticks % TICKS_PER_SEC) * 10;
        let (y, mo, d, h, mi, s) = crate::storage::timestamp::civil(secs);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}")
    }
}

/// Swift's `encode_timestamps(t1, t2, t3)` for a container row's
/// `created_at`: `t1` (internal form), then `t2 - t1` and `t3 - t2` as
/// signed hex counts of 10 microseconds, written only when one of them is
/// non-zero.
pub fn encode_timestamps(t1: Timestamp, t2: Timestamp, t3: Timestamp) -> String {
    let d2 = i128::from(t2.ticks) - i128::from(t1.ticks);
    let d3 = i128::from(t3.ticks) - i128::from(t2.ticks);
    let mut out = t1.internal();
    if d2 != 0 || d3 != 0 {
        for d in [d2, d3] {
            let sign = if d < 0 { '-' } else { '+' };
            out.push_str(&format!("{sign}{:x}", d.unsigned_abs()));
        }
    }
    out
}

/// Swift's `decode_timestamps`: the data, content-type and metadata times
/// of an encoded `created_at`; a missing part equals the one before it.
/// A part with a non-zero delta drops the offset, as Swift's does.
pub fn decode_timestamps(encoded: &str) -> Option<(Timestamp, Timestamp, Timestamp)> {
    let mut parts: Vec<(i128, &str)> = Vec::new();
    for pos in encoded.split('+') {
        for (i, neg) in pos.split('-').enumerate() {
            parts.push((if i == 0 { 1 } else { -1 }, neg));
        }
    }
    let t1 = Timestamp::parse(parts.first()?.1)?;
    let step = |prev: Timestamp, part: Option<&(i128, &str)>| -> Option<Timestamp> {
        let Some((sign, hex)) = part else {
            return Some(prev);
        };
        let delta = sign * i128::from_str_radix(hex, 16).ok()?;
        if delta == 0 {
            return Some(prev);
        }
        let ticks = u64::try_from(i128::from(prev.ticks) + delta).ok()?;
        Some(Timestamp::from_ticks(ticks))
    };
    let t2 = step(t1, parts.get(1))?;
    let t3 = step(t2, parts.get(2))?;
    Some((t1, t2, t3))
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.internal())
    }
}

/// Splits seconds since the epoch into UTC (year, month, day, hour, minute, second).
pub fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    )
}

/// Days since the epoch for a UTC date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = Timestamp::parse("1700000000.123456").unwrap();
        assert_eq!(t.normal(), "1700000000.12346");
        assert_eq!(Timestamp::parse("5").unwrap().normal(), "0000000005.00000");
        let o = Timestamp::parse("1700000000.12345_000000000000000a").unwrap();
        assert_eq!(o.internal(), "1700000000.12345_000000000000000a");
        assert!(o > Timestamp::parse("1700000000.12345").unwrap());
        assert!(Timestamp::parse("abc").is_none());
        assert!(Timestamp::parse("-1").is_none());
        assert!(Timestamp::parse("").is_none());
        assert_eq!(
            Timestamp::from_secs(0).isoformat(),
            "1970-01-01T00:00:00.000000"
        );
        assert_eq!(
            Timestamp::parse("1700000000.5").unwrap().isoformat(),
            "2023-11-14T22:13:20.500000"
        );
        assert_eq!(days_from_civil(2023, 11, 14), 1_700_000_000 / 86_400);
    }

    #[test]
    fn encoded_row_timestamps() {
        let t = |s: &str| Timestamp::parse(s).unwrap();
        let (a, b, c) = (t("1700000000"), t("1700000001.5"), t("1700000000.00016"));
        assert_eq!(encode_timestamps(a, a, a), "1700000000.00000");
        assert_eq!(encode_timestamps(a, b, b), "1700000000.00000+249f0+0");
        assert_eq!(encode_timestamps(a, b, c), "1700000000.00000+249f0-249e0");
        assert_eq!(encode_timestamps(a, a, c), "1700000000.00000+0+10");
        for (x, y, z) in [(a, a, a), (a, b, b), (a, b, c), (a, a, c)] {
            assert_eq!(
                decode_timestamps(&encode_timestamps(x, y, z)),
                Some((x, y, z))
            );
        }
        let o = t("1700000000_0000000000000002");
        assert_eq!(decode_timestamps(&o.internal()), Some((o, o, o)));
        assert_eq!(
            decode_timestamps(&format!("{}+0+0", o.internal())),
            Some((o, o, o))
        );
        assert_eq!(
            decode_timestamps("1700000000+1"),
            Some((a, t("1700000000.00001"), t("1700000000.00001")))
        );
        assert_eq!(decode_timestamps("junk+1"), None);
        assert_eq!(decode_timestamps("1700000000+zz"), None);
    }
}
