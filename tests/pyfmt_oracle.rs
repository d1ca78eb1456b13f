//! Our Python float spelling (`repr`, which `json.dumps` and the ring headers
//! share) against Python itself, over floats of every magnitude.

mod common;

use std::process::Command;

use ferroswift::recon::pyfmt::float_repr;

/// Deterministic spread of finite floats: random bit patterns plus values
/// near the exponent-form boundaries and short decimals.
fn sample() -> Vec<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut out = Vec::new();
    while out.len() < 3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = f64::from_bits(state);
        if x.is_finite() {
            out.push(x);
        }
    }
    for e in -8..20 {
        let p = 10f64.powi(e);
        out.extend([p, -p, p * 1.5, p * 0.999_999_9, p / 3.0, 1.0 / p]);
    }
    out.extend([
        0.0,
        -0.0,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        0.1 + 0.2,
        2.675,
    ]);
    out
}

#[test]
fn float_spellings_match_python() {
    let xs = sample();
    let input: String = xs
        .iter()
        .map(|x| format!("{:016x}\n", x.to_bits()))
        .collect();
    // python3 is needed to check Python's float spellings.
    let out = common::output_with_input(
        Command::new("python3").args([
            "-c",
            "import sys, struct, json\n\
             for line in sys.stdin:\n\
             \tx = struct.unpack('>d', bytes.fromhex(line.strip()))[0]\n\
             \tprint(repr(x), json.dumps(x))",
        ]),
        input.as_bytes(),
    );
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), xs.len());
    for (x, line) in xs.iter().zip(lines) {
        let (repr, dumps) = line.split_once(' ').unwrap();
        assert_eq!(float_repr(*x), repr, "repr of {x:e}");
        assert_eq!(repr, dumps, "json.dumps and repr differ for {x:e}");
    }
}
