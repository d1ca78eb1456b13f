//! The proxy's quorum rules against Swift's own: for every list of up to
//! four replica answers drawn from the statuses storage nodes give, Swift's
//! proxy controller (`have_quorum`, `best_response`, with and without an
//! object DELETE's 404-as-204 override) and ours decide alike: when the
//! answers so far settle a write, which status the client sees, and which
//! replica's answer it is.

#[path = "common/mod.rs"]
mod common;

use axum::http::StatusCode;
use ferroswift::servers::proxy::quorum::{best_answer, have_quorum};

/// Each case as Swift decides it, one line per (answers, overrides):
/// `<overrides 0|1> <statuses,...> <have_quorum per prefix, as 0/1>
/// <best status> <index of the answer shown, or ->`.
const ORACLE: &str = r#"
import itertools, sys
from types import SimpleNamespace
from swift.proxy.controllers.base import Controller
from swift.common.swob import Request

class Logger:
    def error(self, *a, **k): pass
    def debug(self, *a, **k): pass
    def warning(self, *a, **k): pass

ctl = Controller(SimpleNamespace(logger=Logger()))
codes = [int(c) for c in sys.argv[1].split(',')]
out = []
for n in range(1, 5):
    for statuses in itertools.product(codes, repeat=n):
        hq = ''.join('1' if ctl.have_quorum(list(statuses[:k]), n) else '0'
                     for k in range(1, n + 1))
        for ov in (0, 1):
            req = Request.blank('/v1/a/c/o')
            resp = ctl.best_response(
                req, list(statuses), [''] * n, [str(i).encode() for i in range(n)],
                'Object DELETE', headers=[{} for _ in range(n)],
                overrides={404: 204} if ov else None)
            shown = resp.body.decode() if resp.body.decode().isdigit() else '-'
            out.append('%d %s %s %d %s' % (ov, ','.join(map(str, statuses)), hq,
                                           resp.status_int, shown))
print('\n'.join(out))
"#;

const CODES: [u16; 9] = [100, 201, 202, 204, 404, 409, 412, 503, 507];

#[test]
fn quorum_rules_match_swifts_controller() {
    let list: Vec<String> = CODES.iter().map(u16::to_string).collect();
    let out = common::run_swift_python(ORACLE, &[&list.join(",")]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 5, "oracle line {line:?}");
        let overrides: &[(u16, u16)] = if f[0] == "1" { &[(404, 204)] } else { &[] };
        let statuses: Vec<StatusCode> = f[1]
            .split(',')
            .map(|c| StatusCode::from_u16(c.parse().unwrap()).unwrap())
            .collect();
        let n = statuses.len();
        let ours_hq: String = (1..=n)
            .map(|k| {
                if have_quorum(&statuses[..k], n) {
                    '1'
                } else {
                    '0'
                }
            })
            .collect();
        assert_eq!(ours_hq, f[2], "have_quorum for each prefix of {line}");
        let chosen = best_answer(&statuses, overrides);
        let status = chosen.map_or(503, |i| statuses[i].as_u16());
        assert_eq!(status.to_string(), f[3], "status for {line}");
        let shown = chosen.map_or("-".to_string(), |i| i.to_string());
        assert_eq!(shown, f[4], "answer shown for {line}");
        checked += 1;
    }
    // 9 + 81 + 729 + 6561 lists, each with and without the override.
    assert_eq!(checked, 2 * (9 + 81 + 729 + 6561));
}
