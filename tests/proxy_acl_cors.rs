//! Account ACLs (`X-Account-Access-Control`) and CORS through our proxy,
//! compared with Swift's own proxy over the same all-in-one cluster: the
//! same requests go to each (Swift's first), and every answer's status,
//! ACL, privileged and CORS headers, and the text of each 400 must match.
//! A few answers are also checked outright, so that the comparison cannot
//! pass with both proxies allowing everything.

mod aio_util;

use std::collections::HashMap;

use aio_util::{another_proxy, bin, raw_http, swift_proxy, token, MemcachedCluster};

/// The headers compared on every answer.
const COMPARED: &[&str] = &[
    "x-account-access-control",
    "x-account-meta-temp-url-key",
    "x-account-meta-color",
    "x-container-meta-test",
    "x-container-read",
    "x-container-sync-key",
    "allow",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-expose-headers",
    "vary",
    "www-authenticate",
];

/// Headers holding lists in no fixed order (Swift builds them from sets).
const UNORDERED: &[&str] = &[
    "allow",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "vary",
];

const USERS: &[(&str, &str)] = &[
    ("test:tester", "testing"),
    ("test:tester3", "testing3"),
    ("test2:tester2", "testing2"),
];

/// One proxy's answers to a scenario, a line per request.
struct Run {
    port: u16,
    tokens: HashMap<&'static str, String>,
    lines: Vec<String>,
}

impl Run {
    fn with_users(port: u16, users: &[(&'static str, &str)]) -> Run {
        let tokens = users.iter().map(|(u, k)| (*u, token(port, u, k))).collect();
        Run {
            port,
            tokens,
            lines: Vec::new(),
        }
    }

    /// Sends a request as `who` (`None`: anonymous) and records the answer;
    /// returns the status.
    fn req(
        &mut self,
        who: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> u16 {
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        if let Some(u) = who {
            h.push(("X-Auth-Token", &self.tokens[u]));
        }
        let (status, got, text) = raw_http(self.port, method, path, &h, body);
        let mut line = format!(
            "{} {method} {path} {headers:?}: {status}",
            who.unwrap_or("-")
        );
        for name in COMPARED {
            let Some((_, v)) = got.iter().find(|(k, _)| k == name) else {
                continue;
            };
            let v = if UNORDERED.contains(name) {
                let mut items: Vec<&str> = v.split(',').map(str::trim).collect();
                items.sort_unstable();
                items.join(", ")
            } else {
                v.clone()
            };
            line.push_str(&format!(" {name}={v}"));
        }
        if status == 400 || status == 412 {
            line.push_str(&format!(" body={:?}", String::from_utf8_lossy(&text)));
        }
        if method == "GET" && status == 200 && !path.contains("/cors") {
            let listed = String::from_utf8_lossy(&text).contains("acl-c\n");
            line.push_str(&format!(" lists-acl-c={listed}"));
        }
        self.lines.push(line);
        status
    }

    /// The same request, unrecorded (cleanup whose outcome may differ).
    fn quiet(&self, who: &str, method: &str, path: &str, headers: &[(&str, &str)]) {
        let h = [&[("X-Auth-Token", self.tokens[who].as_str())], headers].concat();
        raw_http(self.port, method, path, &h, b"");
    }
}

const OWNER: Option<&str> = Some("test:tester");
const USER3: Option<&str> = Some("test:tester3");
const OTHER: Option<&str> = Some("test2:tester2");
const ACCOUNT: &str = "/v1/AUTH_test";

fn reset(r: &Run) {
    for path in [
        "acl-c/o", "acl-c/o3", "acl-c", "acl-c2", "cors/o", "cors/o2", "cors/o3", "cors/o4",
        "cors/o6", "cors", "star/o", "star/o2", "star/o4", "star/o5", "star",
    ] {
        r.quiet("test:tester", "DELETE", &format!("{ACCOUNT}/{path}"), &[]);
    }
    r.quiet(
        "test:tester",
        "POST",
        ACCOUNT,
        &[
            ("X-Account-Access-Control", "{}"),
            ("X-Remove-Account-Meta-Temp-Url-Key", "x"),
            ("X-Remove-Account-Meta-Color", "x"),
        ],
    );
}

fn acl_scenario(r: &mut Run) {
    reset(r);
    let c = &format!("{ACCOUNT}/acl-c");
    let o = &format!("{ACCOUNT}/acl-c/o");
    let acl = "X-Account-Access-Control";
    r.req(OWNER, "PUT", c, &[("X-Container-Read", "jdoe")], b"");
    r.req(OWNER, "PUT", o, &[], b"data");
    r.req(
        OWNER,
        "POST",
        ACCOUNT,
        &[
            ("X-Account-Meta-Temp-Url-Key", "secret"),
            ("X-Account-Meta-Color", "blue"),
        ],
        b"",
    );
    r.req(OWNER, "POST", c, &[("X-Container-Meta-Test", "v")], b"");

    // No ACL yet: the other user of the account is refused.
    assert_eq!(r.req(USER3, "GET", ACCOUNT, &[], b""), 403);
    r.req(USER3, "HEAD", c, &[], b"");
    r.req(USER3, "GET", o, &[], b"");

    // ACLs that are not tempauth's are refused, whoever sends them.
    for bad in [
        "yuck",
        "[1]",
        "{\"admin\":\"test:tester3\"}",
        "{\"bogus\":[]}",
        "{\"read-only\":[1]}",
        "{\"admin\":[\"a\"],\"read-write\":{}}",
    ] {
        assert_eq!(r.req(OWNER, "POST", ACCOUNT, &[(acl, bad)], b""), 400);
        r.req(None, "POST", ACCOUNT, &[(acl, bad)], b"");
    }
    r.req(OWNER, "HEAD", ACCOUNT, &[], b"");
    // A token that is no longer valid is refused before the ACL is read.
    let bogus = ("X-Auth-Token", "AUTH_tkbogus");
    r.req(None, "POST", ACCOUNT, &[(acl, "yuck"), bogus], b"");
    r.req(None, "GET", "/info", &[bogus], b"");

    // Read-only: reads everything but privileged headers, writes nothing.
    r.req(
        OWNER,
        "POST",
        ACCOUNT,
        &[(acl, r#"{"read-only":["test:tester3"]}"#)],
        b"",
    );
    r.req(OWNER, "GET", ACCOUNT, &[], b"");
    assert_eq!(r.req(USER3, "GET", ACCOUNT, &[], b""), 200);
    r.req(USER3, "HEAD", ACCOUNT, &[], b"");
    r.req(USER3, "HEAD", c, &[], b"");
    r.req(USER3, "GET", c, &[], b"");
    r.req(USER3, "GET", o, &[], b"");
    assert_eq!(r.req(USER3, "PUT", o, &[], b"x"), 403);
    r.req(USER3, "DELETE", o, &[], b"");
    r.req(USER3, "POST", o, &[("X-Object-Meta-A", "b")], b"");
    r.req(USER3, "POST", c, &[("X-Container-Meta-Test", "w")], b"");
    r.req(USER3, "PUT", &format!("{ACCOUNT}/acl-c2"), &[], b"");
    r.req(
        USER3,
        "POST",
        ACCOUNT,
        &[("X-Account-Meta-Color", "red")],
        b"",
    );
    r.req(USER3, "POST", ACCOUNT, &[(acl, "{}")], b"");
    r.req(OTHER, "GET", ACCOUNT, &[], b"");

    // Read-write (sent with spaces, read back compact): containers and
    // objects, but not the account nor privileged headers.
    r.req(
        OWNER,
        "POST",
        ACCOUNT,
        &[(
            acl,
            r#"{ "read-write" : [ "test:tester3" ], "read-only": [] }"#,
        )],
        b"",
    );
    r.req(OWNER, "HEAD", ACCOUNT, &[], b"");
    r.req(USER3, "HEAD", ACCOUNT, &[], b"");
    r.req(
        USER3,
        "POST",
        ACCOUNT,
        &[("X-Account-Meta-Color", "red")],
        b"",
    );
    assert_eq!(
        r.req(USER3, "PUT", &format!("{ACCOUNT}/acl-c2"), &[], b""),
        201
    );
    r.req(USER3, "DELETE", &format!("{ACCOUNT}/acl-c2"), &[], b"");
    r.req(
        USER3,
        "POST",
        c,
        &[
            ("X-Container-Meta-Test", "w"),
            ("X-Container-Read", "frank"),
            ("X-Container-Sync-Key", "k"),
        ],
        b"",
    );
    r.req(OWNER, "HEAD", c, &[], b"");
    r.req(USER3, "HEAD", c, &[], b"");
    r.req(USER3, "PUT", &format!("{ACCOUNT}/acl-c/o3"), &[], b"3");
    r.req(USER3, "DELETE", &format!("{ACCOUNT}/acl-c/o3"), &[], b"");
    r.req(USER3, "POST", ACCOUNT, &[(acl, "{}")], b"");

    // Admin: an owner in all but name, who sees the ACL and the keys, and
    // may even revoke itself. Another account's user may be granted too.
    let admin = r#"{"admin":["test:tester3","caf\u00e9"],"read-only":["test2:tester2"]}"#;
    r.req(OWNER, "POST", ACCOUNT, &[(acl, admin)], b"");
    let before = r.lines.len();
    r.req(USER3, "HEAD", ACCOUNT, &[], b"");
    assert!(
        r.lines[before].contains("x-account-access-control={\"admin\""),
        "{}",
        r.lines[before]
    );
    r.req(
        USER3,
        "POST",
        ACCOUNT,
        &[("X-Account-Meta-Temp-Url-Key", "s2")],
        b"",
    );
    r.req(USER3, "GET", ACCOUNT, &[], b"");
    r.req(USER3, "HEAD", c, &[], b"");
    r.req(USER3, "PUT", ACCOUNT, &[], b"");
    r.req(OTHER, "HEAD", ACCOUNT, &[], b"");
    r.req(OTHER, "GET", o, &[], b"");
    r.req(OTHER, "PUT", &format!("{ACCOUNT}/acl-c2"), &[], b"");
    r.req(USER3, "POST", ACCOUNT, &[(acl, "{}")], b"");
    r.req(USER3, "HEAD", ACCOUNT, &[], b"");
    r.req(None, "HEAD", ACCOUNT, &[], b"");
    // An empty value clears the ACL too.
    r.req(
        OWNER,
        "POST",
        ACCOUNT,
        &[(acl, r#"{"read-only":["test:tester3"]}"#)],
        b"",
    );
    r.req(OWNER, "POST", ACCOUNT, &[(acl, "")], b"");
    r.req(OWNER, "HEAD", ACCOUNT, &[], b"");
    r.req(USER3, "HEAD", ACCOUNT, &[], b"");
    reset(r);
}

fn cors_scenario(r: &mut Run) {
    reset(r);
    let c = &format!("{ACCOUNT}/cors");
    let o = &format!("{ACCOUNT}/cors/o");
    let a_com = ("Origin", "http://a.com");
    let evil = ("Origin", "http://evil.com");
    let get = ("Access-Control-Request-Method", "GET");
    r.req(
        OWNER,
        "PUT",
        c,
        &[
            (
                "X-Container-Meta-Access-Control-Allow-Origin",
                "http://a.com http://b.com",
            ),
            ("X-Container-Meta-Access-Control-Max-Age", "60"),
            (
                "X-Container-Meta-Access-Control-Expose-Headers",
                "X-Foo x-bar",
            ),
        ],
        b"",
    );
    r.req(OWNER, "PUT", o, &[("X-Object-Meta-Color", "red")], b"data");
    // Preflights: allowed origin and method, or 401.
    r.req(None, "OPTIONS", o, &[], b"");
    r.req(None, "OPTIONS", o, &[a_com], b"");
    assert_eq!(r.req(None, "OPTIONS", o, &[a_com, get], b""), 200);
    r.req(
        None,
        "OPTIONS",
        o,
        &[
            a_com,
            get,
            (
                "Access-Control-Request-Headers",
                "x-auth-token, Content-Type",
            ),
        ],
        b"",
    );
    r.req(None, "OPTIONS", o, &[evil, get], b"");
    r.req(
        None,
        "OPTIONS",
        o,
        &[a_com, ("Access-Control-Request-Method", "COPY")],
        b"",
    );
    r.req(
        None,
        "OPTIONS",
        c,
        &[a_com, ("Access-Control-Request-Method", "PUT")],
        b"",
    );
    r.req(None, "OPTIONS", c, &[], b"");
    r.req(None, "OPTIONS", ACCOUNT, &[a_com, get], b"");
    r.req(
        None,
        "OPTIONS",
        &format!("{ACCOUNT}/nothere/o"),
        &[a_com, get],
        b"",
    );
    r.req(None, "OPTIONS", "/info", &[], b"");
    // Actual requests: headers for allowed origins only (strict mode).
    r.req(OWNER, "GET", o, &[a_com], b"");
    r.req(OWNER, "HEAD", o, &[("Origin", "http://b.com")], b"");
    r.req(OWNER, "GET", o, &[evil], b"");
    r.req(OWNER, "HEAD", c, &[a_com], b"");
    r.req(
        OWNER,
        "POST",
        o,
        &[a_com, ("X-Object-Meta-Color", "blue")],
        b"",
    );
    r.req(
        OWNER,
        "POST",
        c,
        &[a_com, ("X-Container-Meta-Test", "t")],
        b"",
    );
    r.req(None, "GET", o, &[a_com], b"");
    r.req(None, "GET", c, &[a_com], b"");
    r.req(USER3, "PUT", &format!("{ACCOUNT}/cors/o2"), &[a_com], b"x");
    r.req(USER3, "POST", c, &[a_com], b"");
    r.req(
        OWNER,
        "GET",
        &format!("{ACCOUNT}/cors/missing"),
        &[a_com],
        b"",
    );
    r.req(OWNER, "GET", ACCOUNT, &[a_com], b"");
    r.req(None, "GET", "/info", &[a_com], b"");
    // A container open to any origin answers `*`.
    let star = &format!("{ACCOUNT}/star");
    r.req(
        OWNER,
        "PUT",
        star,
        &[("X-Container-Meta-Access-Control-Allow-Origin", "*")],
        b"",
    );
    r.req(OWNER, "PUT", &format!("{star}/o"), &[], b"x");
    r.req(None, "OPTIONS", &format!("{star}/o"), &[evil, get], b"");
    r.req(OWNER, "GET", &format!("{star}/o"), &[evil], b"");

    // Copies: a failed read of the source answers with the source's CORS,
    // the write with the destination's; a malformed copy with none.
    let star_o = &format!("{star}/o");
    let to = |d: &'static str| ("Destination", d);
    let from = |d: &'static str| ("X-Copy-From", d);
    r.req(OWNER, "COPY", o, &[a_com, to("star/o2")], b"");
    let line = r.lines.last().unwrap().clone();
    assert!(
        line.contains(": 201") && line.contains("access-control-allow-origin=*"),
        "{line}"
    );
    r.req(OWNER, "COPY", star_o, &[evil, to("cors/o3")], b"");
    r.req(OWNER, "COPY", star_o, &[a_com, to("cors/o3")], b"");
    r.req(
        OWNER,
        "COPY",
        &format!("{c}/missing"),
        &[a_com, to("star/o5")],
        b"",
    );
    r.req(
        OWNER,
        "COPY",
        &format!("{c}/missing"),
        &[evil, to("star/o5")],
        b"",
    );
    r.req(OWNER, "COPY", o, &[a_com, to("nonsense")], b"");
    r.req(OWNER, "COPY", o, &[a_com], b"");
    r.req(
        OWNER,
        "PUT",
        &format!("{star}/o4"),
        &[evil, from("cors/o")],
        b"",
    );
    r.req(
        OWNER,
        "PUT",
        &format!("{c}/o4"),
        &[evil, from("star/o")],
        b"",
    );
    r.req(
        OWNER,
        "PUT",
        &format!("{c}/o4"),
        &[a_com, from("star/o")],
        b"",
    );
    r.req(
        OWNER,
        "PUT",
        &format!("{c}/o4"),
        &[evil, from("star/none")],
        b"",
    );
    r.req(OWNER, "PUT", &format!("{c}/o4"), &[a_com, from("bad")], b"");
    // Refused on the source (read) or on the destination (write).
    r.req(USER3, "COPY", star_o, &[evil, to("cors/o6")], b"");
    r.req(
        USER3,
        "PUT",
        &format!("{c}/o6"),
        &[a_com, from("star/o")],
        b"",
    );
    r.req(
        OWNER,
        "POST",
        star,
        &[
            ("X-Container-Read", "test:tester3"),
            ("X-Container-Meta-Access-Control-Allow-Origin", "*"),
        ],
        b"",
    );
    r.req(USER3, "COPY", star_o, &[a_com, to("cors/o6")], b"");
    r.req(USER3, "COPY", star_o, &[evil, to("cors/o6")], b"");
    reset(r);
}

const GROUPED: Option<&str> = Some("test:tester5");

/// tempauth's `require_group = .sg`: `test:tester` is an admin of the
/// account without the group, `test:tester5` an admin with it.
fn require_group_scenario(r: &mut Run) {
    let c = &format!("{ACCOUNT}/rg");
    let o = &format!("{ACCOUNT}/rg/o");
    let acl = "X-Account-Access-Control";
    let clean = |r: &Run| {
        for path in [o.as_str(), c.as_str()] {
            r.quiet("test:tester5", "DELETE", path, &[]);
        }
        r.quiet("test:tester5", "POST", ACCOUNT, &[(acl, "{}")]);
    };
    clean(r);
    // The admin with the group owns the account.
    r.req(
        GROUPED,
        "PUT",
        c,
        &[("X-Container-Read", "test:tester")],
        b"",
    );
    r.req(GROUPED, "PUT", o, &[], b"data");
    assert_eq!(r.req(GROUPED, "GET", ACCOUNT, &[], b""), 200);
    r.req(GROUPED, "HEAD", c, &[], b"");
    r.req(
        GROUPED,
        "POST",
        ACCOUNT,
        &[("X-Account-Meta-Temp-Url-Key", "k")],
        b"",
    );
    r.req(GROUPED, "HEAD", ACCOUNT, &[], b"");
    // The admin without it is refused unless an ACL lets them in, and
    // then not as an owner.
    assert_eq!(r.req(OWNER, "GET", ACCOUNT, &[], b""), 403);
    r.req(OWNER, "HEAD", ACCOUNT, &[], b"");
    r.req(
        OWNER,
        "POST",
        ACCOUNT,
        &[("X-Account-Meta-Color", "red")],
        b"",
    );
    r.req(OWNER, "PUT", &format!("{ACCOUNT}/rg2"), &[], b"");
    assert_eq!(r.req(OWNER, "GET", o, &[], b""), 200);
    r.req(OWNER, "HEAD", c, &[], b"");
    r.req(OWNER, "PUT", o, &[], b"x");
    r.req(OWNER, "DELETE", o, &[], b"");
    r.req(None, "GET", o, &[], b"");
    r.req(
        GROUPED,
        "POST",
        ACCOUNT,
        &[(acl, r#"{"admin":["test:tester"]}"#)],
        b"",
    );
    r.req(OWNER, "HEAD", ACCOUNT, &[], b"");
    r.req(OWNER, "POST", c, &[("X-Container-Sync-Key", "s")], b"");
    r.req(OWNER, "HEAD", c, &[], b"");
    r.req(USER3, "HEAD", ACCOUNT, &[], b"");
    r.req(OTHER, "HEAD", ACCOUNT, &[], b"");
    r.req(OWNER, "POST", ACCOUNT, &[(acl, "{}")], b"");
    r.req(OWNER, "HEAD", ACCOUNT, &[], b"");
    r.req(
        GROUPED,
        "POST",
        ACCOUNT,
        &[("X-Remove-Account-Meta-Temp-Url-Key", "x")],
        b"",
    );
    clean(r);
}

/// Runs a scenario on Swift's proxy, then on ours, and compares.
fn compare(swift_port: u16, our_port: u16, scenario: fn(&mut Run)) {
    compare_as(USERS, swift_port, our_port, scenario);
}

/// [`compare`] with these users' tokens.
fn compare_as(
    users: &[(&'static str, &str)],
    swift_port: u16,
    our_port: u16,
    scenario: fn(&mut Run),
) {
    let mut theirs = Run::with_users(swift_port, users);
    scenario(&mut theirs);
    let mut ours = Run::with_users(our_port, users);
    scenario(&mut ours);
    assert_eq!(theirs.lines.len(), ours.lines.len());
    let diffs: Vec<String> = theirs
        .lines
        .iter()
        .zip(&ours.lines)
        .filter(|(t, o)| t != o)
        .map(|(t, o)| format!("swift: {t}\nours:  {o}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{} answers differ:\n{}",
        diffs.len(),
        diffs.join("\n\n")
    );
}

#[test]
fn account_acls_and_cors_answer_as_swifts_proxy() {
    let cluster = MemcachedCluster::start();
    let (aio, conf) = (&cluster.aio, &cluster.conf);
    let swift = swift_proxy(aio, conf);
    compare(swift.port, aio.port, acl_scenario);
    compare(swift.port, aio.port, cors_scenario);
    drop(swift);

    // The operator's CORS settings: origins allowed everywhere, headers
    // always exposed, and (not strict) headers for any origin.
    let app = "[app:proxy-server]\n";
    assert!(conf.contains(app), "{conf}");
    let open = conf.replace(
        app,
        &format!(
            "{app}cors_allow_origin = http://op.com, http://a.com\n\
             cors_expose_headers = X-Op-One, x-op-two\nstrict_cors_mode = false\n"
        ),
    );
    let swift_open = swift_proxy(aio, &open);
    let ours_open = another_proxy(aio, &open, "", &bin("swift-proxy-server"), "proxy-open");
    compare(swift_open.port, ours_open.port, cors_scenario);
    drop((swift_open, ours_open));

    // tempauth's `require_group`, with an admin who has the group.
    let auth = "[filter:tempauth]\nuse = egg:swift#tempauth\n";
    assert!(conf.contains(auth), "{conf}");
    let grouped = conf.replace(
        auth,
        &format!("{auth}require_group = .sg\nuser_test_tester5 = testing5 .admin .sg\n"),
    );
    let swift_grouped = swift_proxy(aio, &grouped);
    let ours_grouped = another_proxy(
        aio,
        &grouped,
        "",
        &bin("swift-proxy-server"),
        "proxy-grouped",
    );
    let users = [USERS, &[("test:tester5", "testing5")]].concat();
    compare_as(
        &users,
        swift_grouped.port,
        ours_grouped.port,
        require_group_scenario,
    );
}
