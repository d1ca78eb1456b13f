//! The dispersion tools' output: Swift's text lines and `-j` JSON exactly,
//! and the fuller `--json` document.

use serde_json::{json, Map, Value};

use super::populate::Populated;
use super::report::{Kind, SectionReport};

/// Swift's line prefix that clears a progress line: `\r` + erase-line.
pub const CLEAR: &str = "\r\x1B[K";

/// Python's `round()` to an integer: halves go to the even neighbour.
pub fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// Swift's `get_time_units`: seconds, else minutes, else hours.
pub fn time_units(secs: f64) -> (f64, &'static str) {
    let mut t = secs;
    if t > 60.0 {
        t /= 60.0;
        if t > 60.0 {
            return (t / 60.0, "h");
        }
        return (t, "m");
    }
    (t, "s")
}

/// `12s`, `3m`: an elapsed time as Swift prints it.
pub fn elapsed_text(secs: f64) -> String {
    let (v, unit) = time_units(secs);
    format!("{}{unit}", py_round(v))
}

/// Swift's sentence for `partitions` partitions missing `missing` copies,
/// with its `!` / `!!!` warnings.
pub fn missing_line(partitions: usize, missing: usize, copy_count: f64) -> String {
    let (mut marks, mut what) = ("", missing.to_string());
    if missing as f64 == copy_count {
        marks = "!!! ";
        what = "all".into();
    } else if copy_count - missing as f64 == 1.0 {
        marks = "! ";
    }
    let (verb, noun) = if partitions > 1 {
        ("were", "partitions")
    } else {
        ("was", "partition")
    };
    let copies = if missing == 1 { "copy" } else { "copies" };
    format!("{marks}There {verb} {partitions} {noun} missing {what} {copies}.")
}

/// Swift's `-p` line for one partition.
pub fn partition_line(kind: Kind, part: u32, missing: usize) -> String {
    let copies = if missing == 1 { "y" } else { "ies" };
    format!(
        "# {} partition {part} missing {missing} cop{copies}",
        kind.title()
    )
}

/// Counts by missing copies as Swift reports them: containers leave out
/// the partitions missing nothing, objects keep them.
fn reported_missing(r: &SectionReport) -> impl Iterator<Item = (usize, usize)> + '_ {
    r.missing
        .iter()
        .map(|(k, v)| (*k, *v))
        .filter(move |(k, _)| !(r.kind == Kind::Container && *k == 0))
}

/// The text of one section, each line ending in a newline.
pub fn section_text(r: &SectionReport) -> String {
    let noun = r.kind.noun();
    let mut s = format!(
        "{CLEAR}Queried {} {noun}s for dispersion reporting, {}, {} retries\n",
        r.listed,
        elapsed_text(r.elapsed),
        r.retries
    );
    if r.overlapping() > 0 {
        s.push_str(&format!(
            "There were {} overlapping partitions\n",
            r.overlapping()
        ));
    }
    for (missing, parts) in reported_missing(r) {
        s.push_str(&missing_line(parts, missing, r.replica_count));
        s.push('\n');
    }
    s.push_str(&format!(
        "{:.2}% of {noun} copies found ({} of {})\n",
        r.pct_found(),
        r.copies_found,
        r.copies_expected
    ));
    s.push_str(&format!(
        "Sample represents {:.2}% of the {noun} partition space\n",
        r.coverage()
    ));
    s
}

/// Swift's `-j` object for one section.
pub fn swift_json(r: &SectionReport) -> Value {
    let mut m = Map::new();
    m.insert("retries".into(), json!(r.retries));
    m.insert("overlapping".into(), json!(r.overlapping()));
    m.insert("pct_found".into(), json!(r.pct_found()));
    m.insert("copies_found".into(), json!(r.copies_found));
    m.insert("copies_expected".into(), json!(r.copies_expected));
    for (missing, parts) in reported_missing(r) {
        m.insert(format!("missing_{missing}"), json!(parts));
    }
    Value::Object(m)
}

/// `--json`: Swift's fields plus everything else the report knows.
pub fn full_json(r: &SectionReport) -> Value {
    let mut v = swift_json(r);
    if let Value::Object(m) = &mut v {
        m.insert("listed".into(), json!(r.listed));
        m.insert("partitions_sampled".into(), json!(r.partitions));
        m.insert("partition_count".into(), json!(r.partition_count));
        m.insert("coverage".into(), json!(r.coverage()));
        m.insert("replica_count".into(), json!(r.replica_count));
        m.insert(
            "missing_copies".into(),
            Value::Object(
                r.missing
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect(),
            ),
        );
        m.insert(
            "partitions_without_copies".into(),
            json!(r.partitions_without_copies()),
        );
        m.insert("elapsed".into(), json!(r.elapsed));
        m.insert(
            "missing_partitions".into(),
            Value::Array(
                r.missing_partitions
                    .iter()
                    .map(|p| {
                        json!({"partition": p.partition, "name": p.name,
                               "missing": p.missing, "copies": p.copies, "nodes": p.nodes})
                    })
                    .collect(),
            ),
        );
    }
    v
}

/// Populate's closing line for one kind (and the coverage line of
/// `--no-overlap`).
pub fn populated_text(p: &Populated, no_overlap: bool) -> String {
    let noun = p.kind.noun();
    let mut s = format!(
        "{CLEAR}Created {} {noun}s for dispersion reporting, {}, {} retries\n",
        p.plan.created_count(),
        elapsed_text(p.elapsed),
        p.retries
    );
    if no_overlap {
        s.push_str(&format!(
            "{CLEAR}Total {noun} coverage is now {:.2}%.\n",
            p.plan.coverage_pct()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swift_wording() {
        assert_eq!(
            missing_line(102, 0, 3.0),
            "There were 102 partitions missing 0 copies."
        );
        assert_eq!(
            missing_line(1, 1, 3.0),
            "There was 1 partition missing 1 copy."
        );
        assert_eq!(
            missing_line(2, 2, 3.0),
            "! There were 2 partitions missing 2 copies."
        );
        assert_eq!(
            missing_line(1, 3, 3.0),
            "!!! There was 1 partition missing all copies."
        );
        assert_eq!(
            partition_line(Kind::Object, 1001, 1),
            "# Object partition 1001 missing 1 copy"
        );
        assert_eq!(
            partition_line(Kind::Container, 7, 2),
            "# Container partition 7 missing 2 copies"
        );
        assert_eq!(elapsed_text(0.5), "0s");
        assert_eq!(elapsed_text(1.5), "2s");
        assert_eq!(elapsed_text(2.5), "2s");
        assert_eq!(elapsed_text(125.0), "2m");
        assert_eq!(elapsed_text(7300.0), "2h");
    }
}
