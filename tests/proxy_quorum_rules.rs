//! The proxy's quorum rules against Swift's own: for every list of up to
//! four replica answers drawn from the statuses storage nodes give, Swift's
//! proxy controller (`have_quorum`, `best_response`, with and without an
//! object DELETE's 404-as-204 override) and ours decide alike: when the
//! answers so far settle a write, which status the client sees, and which
//! replica's answer it is. An object POST's answers are checked against
//! Swift's `_post_object`: when it also tries handoffs, how many, and what
//! the client sees.

#[path = "common/mod.rs"]
mod common;

use axum::http::StatusCode;
use ferroswift::servers::proxy::quorum::{best_answer, have_quorum, post_answer, post_handoffs};

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

/// Swift's object controller's `_post_object`, fed answers instead of
/// asking nodes: for every list of primary answers and of the answers the
/// next handoffs would give, one line `<primaries> <handoffs> <handoffs
/// asked> <status> <index of the answer shown, or ->`. A 503 primary stands
/// for a node that gave no useful answer.
const POST_ORACLE: &str = r#"
import itertools, sys
from types import SimpleNamespace
import swift.proxy.controllers.obj as obj
from swift.common.swob import Request, HTTPException

class Quiet:
    def __getattr__(self, name):
        return lambda *a, **k: None

class Answer:
    def __init__(self, status):
        self.status, self.reason = status, ''
    def getheaders(self):
        return {}

class Handoffs:
    def __init__(self, *a, **k):
        self.handoff_iter = iter([{'ip': 'h', 'port': i, 'device': 'h%d' % i,
                                   'handoff_index': i} for i in range(8)])

obj.NodeIter = Handoffs
codes = [int(c) for c in sys.argv[1].split(',')]
out = []
for n in (2, 3, 4):
    ring = SimpleNamespace(replica_count=n)
    for prim in itertools.product(codes, repeat=n):
        for hand in itertools.product(codes, repeat=n - 1):
            asked = []
            def make_requests(req, ring, part, method, path, headers,
                              node_count=None, node_iterator=None, **kw):
                if not asked:
                    asked.append(0)
                    return [(Answer(s), b'%d' % i, None if s == 503 else {'ip': 'p', 'port': i, 'device': 'p'})
                            for i, s in enumerate(prim)]
                asked.append(len(headers))
                return [(Answer(s), b'%d' % (n + i), {'ip': 'h', 'port': i, 'device': 'h'})
                        for i, s in enumerate(hand[:len(headers)])]
            ctl = obj.ReplicatedObjectController.__new__(obj.ReplicatedObjectController)
            ctl.app = SimpleNamespace(logger=Quiet())
            ctl._make_requests = make_requests
            try:
                resp = ctl._post_object(Request.blank('/v1/a/c/o', method='POST'), ring, 0,
                                        [{} for _ in range(n)])
                status, shown = resp.status_int, resp.body.decode()
            except HTTPException as e:
                status, shown = e.status_int, '-'
            out.append('%s %s %d %d %s' % (
                ','.join(map(str, prim)), ','.join(map(str, hand)), sum(asked), status,
                shown if shown.isdigit() else '-'))
print('\n'.join(out))
"#;

fn codes(list: &str) -> Vec<StatusCode> {
    list.split(',')
        .map(|c| StatusCode::from_u16(c.parse().unwrap()).unwrap())
        .collect()
}

#[test]
fn object_post_answers_match_swifts_controller() {
    let out = common::run_swift_python(POST_ORACLE, &["202,404,409,503"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let (mut checked, mut with_handoffs) = (0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 5, "oracle line {line:?}");
        let primaries = codes(f[0]);
        let n = primaries.len();
        let extra = post_handoffs(&primaries, n);
        assert_eq!(extra.to_string(), f[2], "handoffs asked for {line}");
        let mut all = primaries.clone();
        all.extend(codes(f[1]).into_iter().take(extra));
        let chosen = post_answer(&all, n, n);
        let status = chosen.map_or(503, |i| all[i].as_u16());
        assert_eq!(status.to_string(), f[3], "status for {line}");
        let shown = chosen.map_or("-".to_string(), |i| i.to_string());
        assert_eq!(shown, f[4], "answer shown for {line}");
        checked += 1;
        with_handoffs += usize::from(extra > 0);
    }
    // 4 codes: 4^2*4 + 4^3*4^2 + 4^4*4^3 cases, many of them mixed.
    assert_eq!(checked, 16 * 4 + 64 * 16 + 256 * 64);
    assert!(with_handoffs > 1000, "{with_handoffs}");
}
