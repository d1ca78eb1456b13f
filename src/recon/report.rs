//! Pure aggregation of recon answers, as `swift-recon` computes it:
//! min/max/avg/total with failed and missing counts, oldest/newest
//! completions, disk-usage histogram and rankings. Returns data; the CLI
//! renders it.

use serde::Serialize;
use serde_json::Value;

/// Swift's `_gen_stats` over one metric's per-host values (`None` = the
/// host answered without a value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub low: f64,
    pub high: f64,
    pub total: f64,
    pub average: f64,
    /// Hosts that gave a value.
    pub reported: usize,
    /// Hosts that answered with `null`.
    pub number_none: usize,
    /// `number_none` as a percentage of all answers.
    pub perc_none: f64,
}

/// Computes [`Stats`]; `None` when no host reported a value.
pub fn gen_stats(values: &[Option<f64>]) -> Option<Stats> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    if present.is_empty() {
        return None;
    }
    let total: f64 = present.iter().sum();
    let number_none = values.len() - present.len();
    Some(Stats {
        low: present.iter().copied().fold(f64::INFINITY, f64::min),
        high: present.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        total,
        average: total / present.len() as f64,
        reported: present.len(),
        number_none,
        perc_none: number_none as f64 * 100.0 / values.len() as f64,
    })
}

/// Python's `'%d' % x` for a float (truncation toward zero).
pub fn py_int(x: f64) -> i64 {
    x.trunc() as i64
}

/// Swift's stats line: `[name] low: L, high: H, avg: A, total: T, ...`.
pub fn stats_line(name: &str, s: &Stats) -> String {
    format!(
        "[{name}] low: {}, high: {}, avg: {:.1}, total: {}, Failed: {:.1}%, no_result: {}, reported: {}",
        py_int(s.low),
        py_int(s.high),
        s.average,
        py_int(s.total),
        s.perc_none,
        s.number_none,
        s.reported
    )
}

/// A JSON number as a float; anything else is `None`.
pub fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

/// UTC `YYYY-mm-dd HH:MM:SS` of a Unix time (floored to the second).
pub fn utc_string(ts: f64) -> String {
    let secs = ts.floor() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Swift's `seconds2timeunit`: the elapsed time in its largest unit.
pub fn seconds_to_unit(seconds: f64) -> (f64, &'static str) {
    let mut v = seconds;
    if v < 60.0 {
        return (v, "seconds");
    }
    v /= 60.0;
    if v < 60.0 {
        return (v, "minutes");
    }
    v /= 60.0;
    if v < 24.0 {
        return (v, "hours");
    }
    (v / 24.0, "days")
}

/// Swift's `size_suffix`: decimal units with integer division.
pub fn size_suffix(size: i128) -> String {
    const SUFFIXES: [&str; 9] = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = size;
    for s in SUFFIXES {
        if size < 1000 {
            return format!("{size} {s}");
        }
        size = size.div_euclid(1000);
    }
    format!("{size} YB")
}

/// The oldest and the newest completion among `(host, time)` pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completions {
    /// `(host, time)`; a time of 0 means "never".
    pub oldest: Option<(String, f64)>,
    pub newest: Option<(String, f64)>,
}

/// Swift's `_calculate_least_and_most_recent` (hosts without a time skipped).
pub fn completions(data: &[(String, Option<f64>)]) -> Completions {
    let mut oldest: Option<(String, f64)> = None;
    let mut newest: Option<(String, f64)> = None;
    let (mut least, mut most) = (9_999_999_999.0, 0.0);
    for (host, t) in data {
        let Some(t) = *t else { continue };
        if t < least {
            least = t;
            oldest = Some((host.clone(), t));
        }
        if t > most {
            most = t;
            newest = Some((host.clone(), t));
        }
    }
    Completions { oldest, newest }
}

/// Disk usage across hosts, as `swift-recon -d` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiskUsage {
    /// `(whole percent, number of devices)` in ascending percent order.
    pub histogram: Vec<(i64, usize)>,
    pub used: i128,
    pub avail: i128,
    /// Lowest and highest per-device percentage (rounded to 2 places).
    pub lowest: f64,
    pub highest: f64,
    pub average: f64,
    /// `(host, device, percent)` from fullest down; `top` entries at most.
    pub top: Vec<(String, String, f64)>,
    /// `(host, device, percent)` from emptiest up.
    pub bottom: Vec<(String, String, f64)>,
}

/// One mounted device's usage from one host: `(host, device, used, avail, size)`.
pub type DeviceUsage = (String, String, f64, f64, f64);

fn round2(x: f64) -> f64 {
    format!("{x:.2}").parse().unwrap_or(x)
}

/// Aggregates disk usage. `per_host` lists, per host in order, its mounted
/// devices; `None` when nothing was mounted. Returns `None` when no host had
/// any device.
pub fn disk_usage(per_host: &[Vec<DeviceUsage>], top: usize, lowest: usize) -> Option<DiskUsage> {
    let mut top_list: Vec<(Option<(String, String)>, f64)> = vec![(None, 0.0); top];
    let mut low_list: Vec<(Option<(String, String)>, f64)> = vec![(None, 100.0); lowest];
    let mut histogram: std::collections::BTreeMap<i64, usize> = Default::default();
    let (mut used_sum, mut avail_sum) = (0i128, 0i128);
    let (mut lows, mut highs) = (Vec::new(), Vec::new());
    for host in per_host {
        let mut rounded = Vec::new();
        for (h, dev, used, avail, size) in host {
            let pct = used / size * 100.0;
            used_sum += *used as i128;
            avail_sum += *avail as i128;
            rounded.push(round2(pct));
            let ident = Some((h.clone(), dev.clone()));
            if top_list.iter().any(|(_, o)| *o < pct) {
                top_list.push((ident.clone(), pct));
                top_list.sort_by(|a, b| b.1.total_cmp(&a.1));
                top_list.pop();
            }
            if low_list.iter().any(|(_, o)| *o > pct) {
                low_list.push((ident, pct));
                low_list.sort_by(|a, b| a.1.total_cmp(&b.1));
                low_list.pop();
            }
        }
        if rounded.is_empty() {
            continue;
        }
        lows.push(rounded.iter().copied().fold(f64::INFINITY, f64::min));
        highs.push(rounded.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        for p in rounded {
            *histogram.entry(p.trunc() as i64).or_default() += 1;
        }
    }
    if lows.is_empty() {
        return None;
    }
    let named = |l: Vec<(Option<(String, String)>, f64)>| {
        l.into_iter()
            .filter_map(|(id, p)| id.map(|(h, d)| (h, d, p)))
            .collect()
    };
    Some(DiskUsage {
        histogram: histogram.into_iter().collect(),
        used: used_sum,
        avail: avail_sum,
        lowest: lows.iter().copied().fold(f64::INFINITY, f64::min),
        highest: highs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        average: 100.0 * used_sum as f64 / (used_sum + avail_sum) as f64,
        top: named(top_list),
        bottom: named(low_list),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_like_swift() {
        let s = gen_stats(&[Some(2.05), Some(3.5), None, Some(4.0)]).unwrap();
        assert_eq!(
            stats_line("x", &s),
            "[x] low: 2, high: 4, avg: 3.2, total: 9, Failed: 25.0%, no_result: 1, reported: 3"
        );
        assert!(gen_stats(&[None]).is_none());
    }

    #[test]
    fn times_and_sizes() {
        assert_eq!(utc_string(1795318499.94), "2026-11-22 03:34:59");
        assert_eq!(utc_string(0.0), "1970-01-01 00:00:00");
        assert_eq!(seconds_to_unit(3500.0).1, "minutes");
        assert_eq!(size_suffix(765345792), "765 MB");
        assert_eq!(size_suffix(999), "999 bytes");
    }

    #[test]
    fn disk_usage_rankings() {
        let d = |h: &str, used: f64| (h.to_string(), "sdb".to_string(), used, 100.0 - used, 100.0);
        let hosts = vec![vec![d("a", 10.0), d("a", 30.0)], vec![d("b", 20.0)], vec![]];
        let u = disk_usage(&hosts, 2, 1).unwrap();
        assert_eq!(u.histogram, vec![(10, 1), (20, 1), (30, 1)]);
        assert_eq!(u.top.iter().map(|t| t.2).collect::<Vec<_>>(), [30.0, 20.0]);
        assert_eq!(u.bottom[0].2, 10.0);
        assert_eq!((u.lowest, u.highest, u.average), (10.0, 30.0, 20.0));
    }
}
