//! The dispersion report's text and `-j` JSON against outputs captured
//! from Swift 2.38.3's swift-dispersion-report on a live cluster
//! (`ops-outputs/dispersion-report-*`): the same counts render to the same
//! bytes.

mod common;

use std::collections::BTreeMap;

use ferroswift::ops::dispersion::render::{full_json, section_text, swift_json};
use ferroswift::ops::dispersion::report::{Kind, MissingPartition, SectionReport};
use ferroswift::recon::pyfmt::json_dumps;
use serde_json::{Map, Value};

fn reference(name: &str) -> String {
    std::fs::read_to_string(common::reference("ops-outputs").join(name)).unwrap()
}

/// A section with Swift's counts: 102 of 1024 partitions, 3 replicas.
fn section(kind: Kind, found: u64, missing: &[(usize, usize)], elapsed: f64) -> SectionReport {
    let missing: BTreeMap<usize, usize> = missing.iter().copied().collect();
    let missing_partitions = missing
        .iter()
        .filter(|(k, _)| **k > 0)
        .flat_map(|(k, n)| {
            (0..*n).map(move |i| MissingPartition {
                partition: i as u32,
                name: format!("dispersion_{i}"),
                missing: *k,
                copies: 3,
                nodes: vec!["127.0.0.4:6240/sdb4".into(); *k],
            })
        })
        .collect();
    SectionReport {
        kind,
        listed: 102,
        partitions: 102,
        copies_found: found,
        copies_expected: 306,
        retries: 0,
        missing,
        missing_partitions,
        partition_count: 1024,
        replica_count: 3.0,
        elapsed,
    }
}

/// The report's text for the two sections, as Swift prints it for the
/// policy `gold`.
fn report_text(c: &SectionReport, o: &SectionReport) -> String {
    format!(
        "Using storage policy: gold \n{}{}",
        section_text(c),
        section_text(o)
    )
}

fn swift_document(c: &SectionReport, o: &SectionReport) -> String {
    let mut m = Map::new();
    m.insert("container".into(), swift_json(c));
    m.insert("object".into(), swift_json(o));
    json_dumps(&Value::Object(m), false) + "\n"
}

#[test]
fn healthy_report_matches_swift() {
    let c = section(Kind::Container, 306, &[(0, 102)], 1.0);
    let o = section(Kind::Object, 306, &[(0, 102)], 1.0);
    let text = report_text(&c, &o);
    assert_eq!(text, reference("dispersion-report-healthy.stdout"));
    assert_eq!(
        swift_document(&c, &o),
        reference("dispersion-report-healthy-j.stdout")
    );
}

#[test]
fn node_down_report_matches_swift() {
    let c = section(Kind::Container, 230, &[(0, 26), (1, 76)], 120.0);
    let o = section(Kind::Object, 228, &[(0, 24), (1, 78)], 125.0);
    assert_eq!(
        swift_document(&c, &o),
        reference("dispersion-report-node4-down-j.stdout")
    );
    // Swift's stdout also holds its timed "Querying ..." progress lines.
    let progress = regex::Regex::new(r"\r\x1b\[KQuerying [^\r\n]*").unwrap();
    let swift_text = reference("dispersion-report-node4-down.stdout");
    let text = report_text(&c, &o);
    assert_eq!(text, progress.replace_all(&swift_text, ""));
    let full = full_json(&o);
    assert_eq!(full["partitions_without_copies"], 0);
    assert_eq!(full["missing_copies"]["1"], 78);
    assert_eq!(full["missing_partitions"].as_array().unwrap().len(), 78);
    assert_eq!(full["coverage"], 9.9609375);
}

#[test]
fn deleted_replica_report_matches_swift() {
    let c = section(Kind::Container, 306, &[(0, 102)], 1.0);
    let o = section(Kind::Object, 305, &[(0, 101), (1, 1)], 1.0);
    let text = report_text(&c, &o);
    assert_eq!(text, reference("dispersion-report-replica-deleted.stdout"));
    assert_eq!(
        swift_document(&c, &o),
        reference("dispersion-report-replica-deleted-j.stdout")
    );
}

#[test]
fn all_copies_missing_is_flagged() {
    let o = section(Kind::Object, 303, &[(0, 101), (3, 1)], 1.0);
    let text = section_text(&o);
    assert!(
        text.contains("!!! There was 1 partition missing all copies.\n"),
        "{text}"
    );
    assert_eq!(o.partitions_without_copies(), 1);
    assert_eq!(full_json(&o)["partitions_without_copies"], 1);
}
