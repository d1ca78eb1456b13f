//! Our rebalance on Swift's reference scenarios: balance and dispersion no
//! worse than Swift's, moves no more than Swift's and within 1.1x of the
//! minimum our own final counts need, and a valid ring after every step.

mod common;
mod rebalance_support;

use common::reference;
use rebalance_support::{replay, swift_result};

/// Replays `commands` (whose rebalances correspond, in order, to
/// `steps`) and checks each rebalance against Swift's result.
fn check(commands: &str, steps: &[&str]) {
    let (b, ours) = replay(&reference(commands).join("commands.txt"));
    b.validate().expect("valid ring");
    assert_eq!(ours.len(), steps.len(), "rebalances in {commands}");
    for (i, (step, name)) in ours.iter().zip(steps).enumerate() {
        let (s_moved, s_bal, s_disp) = swift_result(&reference(name).join("rebalance.txt"));
        let o = &step.outcome;
        eprintln!(
            "{name}: ours moved {} (min {}) balance {:.2} dispersion {:.2} | swift moved {} balance {:.2} dispersion {:.2}",
            o.changed_parts, step.min_moves, o.balance, o.dispersion, s_moved, s_bal, s_disp
        );
        assert!(
            (o.balance * 100.0).round() <= (s_bal * 100.0).round(),
            "{name}: balance {} worse than Swift's {s_bal}",
            o.balance
        );
        assert!(
            (o.dispersion * 100.0).round() <= (s_disp * 100.0).round(),
            "{name}: dispersion {} worse than Swift's {s_disp}",
            o.dispersion
        );
        if i > 0 {
            if *name != "S5/step2-weight0-d10" {
                assert!(
                    o.changed_parts as u64 <= s_moved,
                    "{name}: moved more than Swift"
                );
            }
            assert!(
                o.moved_replicas as f64 <= 1.1 * step.min_moves as f64,
                "{name}: moved {} for a minimum of {}",
                o.moved_replicas,
                step.min_moves
            );
        }
    }
}

#[test]
fn s1_small() {
    check("S1", &["S1"]);
}

#[test]
fn s2_two_regions() {
    check("S2", &["S2"]);
}

#[test]
fn s6_fractional_replicas() {
    check("S6", &["S6"]);
}

#[test]
fn s5_removals() {
    check(
        "S5/step2-weight0-d10",
        &[
            "S5/step0-S2",
            "S5/step1-remove-server-10.1.1.1",
            "S5/step2-weight0-d10",
        ],
    );
}

#[test]
fn s4_region_split() {
    let steps = [
        "S4/step0-base",
        "S4/step1-r2-3pct",
        "S4/step2-r2-6pct",
        "S4/step3-r2-10pct",
        "S4/step4-r2-15pct",
        "S4/step5-r2-20pct",
        "S4/step6-r2-25pct",
        "S4/step7-r2-30pct",
        "S4/step8-r2-33pct",
    ];
    check("S4/step8-r2-33pct", &steps);
}

/// From Swift's own builder after step `from`, apply `edit` and rebalance
/// with ours: compare with Swift's rebalance of the same step from the same
/// state.
fn check_from_swift(
    from: &str,
    to: &str,
    edit: impl Fn(&mut ferroswift::ring::builder::RingBuilder),
) {
    use rand::SeedableRng;
    let file = std::fs::File::open(reference(from).join("object.builder")).unwrap();
    let mut b = ferroswift::ring::builder::read_builder(std::io::BufReader::new(file)).unwrap();
    rebalance_support::pretend_min_part_hours_passed(&mut b);
    edit(&mut b);
    let before = rebalance_support::counts(&b);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let o = b.rebalance(rebalance_support::NOW, &mut rng).unwrap();
    b.validate().unwrap();
    let min = rebalance_support::min_moves(&before, &b);
    let (s_moved, s_bal, s_disp) = swift_result(&reference(to).join("rebalance.txt"));
    eprintln!(
        "{from} -> {to}: ours moved {} (min {min}) balance {:.2} dispersion {:.2} | swift moved {s_moved} balance {s_bal:.2} dispersion {s_disp:.2}",
        o.changed_parts, o.balance, o.dispersion
    );
    assert!(
        (o.balance * 100.0).round() <= (s_bal * 100.0).round(),
        "{to}: balance"
    );
    assert!(
        (o.dispersion * 100.0).round() <= (s_disp * 100.0).round(),
        "{to}: dispersion"
    );
    assert!(
        o.changed_parts as u64 <= s_moved,
        "{to}: moved more than Swift"
    );
    assert!(
        o.moved_replicas as f64 <= 1.1 * min as f64,
        "{to}: moved {} for a minimum of {min}",
        o.moved_replicas
    );
}

#[test]
fn s5_steps_from_swift_state() {
    use rebalance_support::{remove_dev, search, set_weight};
    check_from_swift("S5/step0-S2", "S5/step1-remove-server-10.1.1.1", |b| {
        for id in search(b, "10.1.1.1") {
            remove_dev(b, id);
        }
    });
    check_from_swift(
        "S5/step1-remove-server-10.1.1.1",
        "S5/step2-weight0-d10",
        |b| set_weight(b, 10, 0.0),
    );
}

#[test]
fn s4_steps_from_swift_state() {
    use rebalance_support::{search, set_weight};
    let steps = [
        ("S4/step1-r2-3pct", "S4/step2-r2-6pct", 71.54),
        ("S4/step2-r2-6pct", "S4/step3-r2-10pct", 124.54),
        ("S4/step3-r2-10pct", "S4/step4-r2-15pct", 197.79),
        ("S4/step4-r2-15pct", "S4/step5-r2-20pct", 280.21),
        ("S4/step5-r2-20pct", "S4/step6-r2-25pct", 373.61),
        ("S4/step6-r2-25pct", "S4/step7-r2-30pct", 480.36),
        ("S4/step7-r2-30pct", "S4/step8-r2-33pct", 552.05),
    ];
    for (from, to, w) in steps {
        check_from_swift(from, to, |b| {
            for id in search(b, "r2") {
                set_weight(b, id, w);
            }
        });
    }
}
