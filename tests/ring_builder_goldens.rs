//! Our describe and dispersion views on every reference builder, against
//! the `describe.txt` / `dispersion.txt` Swift printed for it.

mod common;
mod ring_builder_support;

use ring_builder_support::{mask, ours};

fn scenarios() -> Vec<String> {
    let mut out = vec!["S1".to_string(), "S2".to_string(), "S6".to_string()];
    for group in ["S4", "S5"] {
        let mut steps: Vec<String> = std::fs::read_dir(common::reference(group))
            .unwrap()
            .map(|e| format!("{group}/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        steps.sort();
        out.extend(steps);
    }
    out
}

#[test]
fn describe_and_dispersion_match_swift_on_every_scenario() {
    let mut failures = Vec::new();
    for s in scenarios() {
        let src = common::reference(&s);
        let dir = tempfile::tempdir().unwrap();
        for f in ["object.builder", "object.ring.gz"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let want = std::fs::read_to_string(src.join("describe.txt")).unwrap();
        let got = ours(dir.path(), &["object.builder"]);
        if mask(&got.stdout) != mask(&want) || got.code != 0 {
            failures.push(format!("{s} describe:\n{}\nvs\n{want}", got.stdout));
        }
        let want = std::fs::read_to_string(src.join("dispersion.txt")).unwrap();
        let mut args = vec!["object.builder", "dispersion"];
        if want.contains("\nTier ") {
            args.push("-v");
        }
        let got = ours(dir.path(), &args);
        let code = if want.contains("Worst tier") { 1 } else { 0 };
        if got.stdout != want || got.code != code {
            failures.push(format!(
                "{s} dispersion (exit {}):\n{}\nvs\n{want}",
                got.code, got.stdout
            ));
        }
        // Reading never changes the files.
        assert_eq!(
            std::fs::read(dir.path().join("object.builder")).unwrap(),
            std::fs::read(src.join("object.builder")).unwrap()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
