//! Kernel log scanning: timestamps, newest-first reading, boot markers and
//! error counting per kernel device name. Pure over bytes and a given "now".

use regex::Regex;
use std::io::{self, Read, Seek, SeekFrom};

/// A wall-clock time without zone, as seconds since 0000-03-01 (only compared
/// and subtracted, like Python's naive `datetime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NaiveTime(pub i64);

/// The broken-down form of a `NaiveTime`, used to seed the year logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl Civil {
    /// Validates the fields (as `datetime` does) and converts.
    pub fn to_naive(self) -> Option<NaiveTime> {
        if !(1..=9999).contains(&self.year)
            || !(1..=12).contains(&self.month)
            || self.day == 0
            || self.day > days_in_month(self.year, self.month)
            || self.hour > 23
            || self.minute > 59
            || self.second > 59
        {
            return None;
        }
        // Days from civil (proleptic Gregorian), H. Hinnant's algorithm.
        let y = if self.month <= 2 {
            self.year - 1
        } else {
            self.year
        };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = self.month as i64;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + self.day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146097 + doe;
        let secs = self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64;
        Some(NaiveTime(days * 86400 + secs))
    }

    /// The month's English abbreviation (`strftime('%b')` in the C locale).
    pub fn month_abbr(&self) -> &'static str {
        MONTHS
            .get(self.month.wrapping_sub(1) as usize)
            .copied()
            .unwrap_or("Jan")
    }
}

/// Parses a number of 1 to `max_len` ASCII digits.
fn small_num(s: &str, max_len: usize) -> Option<u32> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The instant of a date at an `HH:MM:SS` time.
fn at(year: i64, month: u32, day: u32, hms: &str) -> Option<NaiveTime> {
    let mut it = hms.split(':');
    let hour = small_num(it.next()?, 2)?;
    let minute = small_num(it.next()?, 2)?;
    let second = small_num(it.next()?, 2)?;
    if it.next().is_some() {
        return None;
    }
    Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
    }
    .to_naive()
}

/// `Mon DD HH:MM:SS` in the given year (syslog's format has no year).
pub fn parse_syslog(year: i64, fields: &[&str]) -> Option<NaiveTime> {
    let [mon, day, hms] = fields else { return None };
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let day = small_num(day, 2)?;
    at(year, month, day, hms)
}

/// `YYYY-MM-DDTHH:MM:SS` at the start of a line (zone and fraction ignored).
pub fn parse_iso_prefix(line: &str) -> Option<NaiveTime> {
    let head = line.get(..19)?;
    let (date, hms) = head.split_once('T')?;
    let mut d = date.split('-');
    let year = d
        .next()
        .filter(|y| y.len() == 4)
        .and_then(|y| small_num(y, 4))? as i64;
    let month = small_num(d.next()?, 2)?;
    let day = small_num(d.next()?, 2)?;
    if d.next().is_some() {
        return None;
    }
    at(year, month, day, hms)
}

/// Lines that mark a boot: everything older belongs to a previous boot.
pub fn is_boot_marker(line: &str) -> bool {
    line.contains("[    0.000000]")
        || line.contains("KERNEL supported cpus:")
        || line.contains("BIOS-provided physical RAM map:")
}

/// Counts of error matches per kernel device name, in first-seen order.
pub type ErrorCounts = Vec<(String, u64)>;

/// Adds one to `name`'s count.
pub fn bump(counts: &mut ErrorCounts, name: &str) {
    match counts.iter_mut().find(|(n, _)| n == name) {
        Some((_, c)) => *c += 1,
        None => counts.push((name.to_string(), 1)),
    }
}

/// State of one newest-first scan across several files.
pub struct Scanner<'a> {
    patterns: &'a [Regex],
    end: NaiveTime,
    year: i64,
    prev_month: String,
    /// Set once a line older than the window or a boot marker is reached.
    pub done: bool,
    pub counts: ErrorCounts,
}

impl<'a> Scanner<'a> {
    /// A scan of the window `(now - minutes, now]`.
    pub fn new(patterns: &'a [Regex], now: Civil, minutes: i64) -> Option<Self> {
        let end = NaiveTime(now.to_naive()?.0 - minutes * 60);
        Some(Scanner {
            patterns,
            end,
            year: now.year,
            prev_month: now.month_abbr().to_string(),
            done: false,
            counts: Vec::new(),
        })
    }

    /// Feeds one line (newest first). Returns false once the scan is over.
    pub fn line(&mut self, line: &str) -> bool {
        if self.done {
            return false;
        }
        if is_boot_marker(line) {
            self.done = true;
            return false;
        }
        let fields: Vec<&str> = line.split_whitespace().take(3).collect();
        let Some(first) = fields.first() else {
            return true;
        };
        // Walking backwards from January into December means a new year.
        if *first == "Dec" && self.prev_month == "Jan" {
            self.year -= 1;
        }
        self.prev_month = first.to_string();
        let Some(when) = parse_syslog(self.year, &fields).or_else(|| parse_iso_prefix(line)) else {
            return true;
        };
        if when <= self.end {
            self.done = true;
            return false;
        }
        for re in self.patterns {
            for caps in re.captures_iter(line) {
                let m = caps.get(1).or_else(|| caps.get(0));
                bump(&mut self.counts, m.map_or("", |m| m.as_str()));
            }
        }
        true
    }

    /// Feeds a whole text, last line first.
    pub fn text(&mut self, text: &str) -> bool {
        for line in text.lines().rev() {
            if !self.line(line) {
                return false;
            }
        }
        true
    }

    /// Feeds a file's lines newest first without reading it all into memory.
    pub fn reader<R: Read + Seek>(&mut self, r: R) -> io::Result<bool> {
        let mut lines = BackwardLines::new(r)?;
        while let Some(line) = lines.next_line()? {
            if !self.line(&String::from_utf8_lossy(&line)) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Reads lines from the end of a file towards its start, in blocks.
pub struct BackwardLines<R> {
    inner: R,
    pos: u64,
    /// Bytes read but not yet split into lines (the start of the file side).
    pending: Vec<u8>,
}

const BLOCK: u64 = 64 * 1024;

impl<R: Read + Seek> BackwardLines<R> {
    pub fn new(mut inner: R) -> io::Result<Self> {
        let pos = inner.seek(SeekFrom::End(0))?;
        Ok(BackwardLines {
            inner,
            pos,
            pending: Vec::new(),
        })
    }

    /// The previous non-empty line (without its newline), or `None` at the start.
    pub fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(i) = self.pending.iter().rposition(|&b| b == b'\n') {
                let line = self.pending.split_off(i + 1);
                self.pending.pop();
                if !line.is_empty() {
                    return Ok(Some(line));
                }
                continue;
            }
            if self.pos == 0 {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(std::mem::take(&mut self.pending)));
            }
            let len = self.pos.min(BLOCK);
            self.pos -= len;
            self.inner.seek(SeekFrom::Start(self.pos))?;
            let mut block = vec![0; len as usize];
            self.inner.read_exact(&mut block)?;
            block.extend_from_slice(&self.pending);
            self.pending = block;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civil(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> Civil {
        Civil {
            year,
            month,
            day,
            hour,
            minute,
            second: 0,
        }
    }

    fn default_patterns() -> Vec<Regex> {
        vec![
            Regex::new(r"\berror\b.*\b(sd[a-z]{1,2}\d?)\b").unwrap(),
            Regex::new(r"\b(sd[a-z]{1,2}\d?)\b.*\berror\b").unwrap(),
        ]
    }

    #[test]
    fn backward_lines_in_small_blocks() {
        let text = b"one\n\ntwo\nthree\n".to_vec();
        let mut r = BackwardLines::new(io::Cursor::new(text)).unwrap();
        let mut got = vec![];
        while let Some(l) = r.next_line().unwrap() {
            got.push(String::from_utf8(l).unwrap());
        }
        assert_eq!(got, ["three", "two", "one"]);
    }

    #[test]
    fn year_rollover_going_backwards() {
        let pats = default_patterns();
        let mut s = Scanner::new(&pats, civil(2025, 1, 1, 0, 30), 60).unwrap();
        s.text("Dec 31 23:40:00 h kernel: error on sdb\nJan  1 00:10:00 h kernel: error on sdc\n");
        assert_eq!(s.counts, vec![("sdc".into(), 1), ("sdb".into(), 1)]);
        // Without the rollover Dec 31 would be read as 2025-12-31, in the future.
        let mut s = Scanner::new(&pats, civil(2025, 1, 1, 0, 30), 60).unwrap();
        s.text("Dec 31 23:20:00 h kernel: error on sdb\nJan  1 00:10:00 h kernel: error on sdc\n");
        assert_eq!(s.counts, vec![("sdc".into(), 1)]);
        assert!(s.done);
    }

    #[test]
    fn iso_timestamps_and_boot_markers() {
        let pats = default_patterns();
        let mut s = Scanner::new(&pats, civil(2024, 3, 1, 12, 0), 60).unwrap();
        let log = "2024-03-01T11:00:30+0000 h kernel: error sdd\n\
                   2024-03-01T11:05:00+0000 h kernel: [    0.000000] Linux version\n\
                   2024-03-01T11:30:00.123+0000 h kernel: error on sdb1\n\
                   garbage line with error sdz\n";
        s.text(log);
        assert_eq!(s.counts, vec![("sdb1".into(), 1)]);
        assert!(s.done);
        assert!(parse_syslog(2023, &["Feb", "29", "00:00:00"]).is_none());
        assert!(parse_syslog(2024, &["feb", "29", "0:0:0"]).is_some());
    }
}
