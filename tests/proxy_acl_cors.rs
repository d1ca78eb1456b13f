//! Account ACLs (`X-Account-Access-Control`) and CORS through our proxy,
//! compared with Swift's own proxy over the same all-in-one cluster: the
//! same requests go to each (Swift's first), and every answer's status,
//! ACL, privileged and CORS headers, and the text of each 400 must match.
//! A few answers are also checked outright, so that the comparison cannot
//! pass with both proxies allowing everything.

mod aio_util;

use aio_util::{another_proxy, bin, compare_runs, swift_proxy, MemcachedCluster, Recorded};

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
type Run = Recorded;

/// The requests of these scenarios, and what they record of the answers.
trait Requests {
    fn req(
        &mut self,
        who: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> u16;
    fn ask(&mut self, who: Option<&str>, method: &str, path: &str, headers: &[(&str, &str)])
        -> u16;
    fn quiet(&self, who: &str, method: &str, path: &str, headers: &[(&str, &str)]);
}

impl Requests for Run {
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
        let (status, got, text) = self.send(who, method, path, headers, body);
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

    /// [`Run::req`] with no body.
    fn ask(
        &mut self,
        who: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> u16 {
        self.req(who, method, path, headers, b"")
    }

    /// The same request, unrecorded (cleanup whose outcome may differ).
    fn quiet(&self, who: &str, method: &str, path: &str, headers: &[(&str, &str)]) {
        self.send(Some(who), method, path, headers, b"");
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
    r.ask(OWNER, "PUT", c, &[("X-Container-Read", "jdoe")]);
    r.req(OWNER, "PUT", o, &[], b"data");
    r.ask(
        OWNER,
        "POST",
        ACCOUNT,
        &[
            ("X-Account-Meta-Temp-Url-Key", "secret"),
            ("X-Account-Meta-Color", "blue"),
        ],
    );
    r.ask(OWNER, "POST", c, &[("X-Container-Meta-Test", "v")]);

    // No ACL yet: the other user of the account is refused.
    assert_eq!(r.ask(USER3, "GET", ACCOUNT, &[]), 403);
    r.ask(USER3, "HEAD", c, &[]);
    r.ask(USER3, "GET", o, &[]);

    // ACLs that are not tempauth's are refused, whoever sends them.
    for bad in [
        "yuck",
        "[1]",
        "{\"admin\":\"test:tester3\"}",
        "{\"bogus\":[]}",
        "{\"read-only\":[1]}",
        "{\"admin\":[\"a\"],\"read-write\":{}}",
    ] {
        assert_eq!(r.ask(OWNER, "POST", ACCOUNT, &[(acl, bad)]), 400);
        r.ask(None, "POST", ACCOUNT, &[(acl, bad)]);
    }
    r.ask(OWNER, "HEAD", ACCOUNT, &[]);
    // A token that is no longer valid is refused before the ACL is read.
    let bogus = ("X-Auth-Token", "AUTH_tkbogus");
    r.ask(None, "POST", ACCOUNT, &[(acl, "yuck"), bogus]);
    r.ask(None, "GET", "/info", &[bogus]);

    // Read-only: reads everything but privileged headers, writes nothing.
    r.ask(
        OWNER,
        "POST",
        ACCOUNT,
        &[(acl, r#"{"read-only":["test:tester3"]}"#)],
    );
    r.ask(OWNER, "GET", ACCOUNT, &[]);
    assert_eq!(r.ask(USER3, "GET", ACCOUNT, &[]), 200);
    r.ask(USER3, "HEAD", ACCOUNT, &[]);
    r.ask(USER3, "HEAD", c, &[]);
    r.ask(USER3, "GET", c, &[]);
    r.ask(USER3, "GET", o, &[]);
    assert_eq!(r.req(USER3, "PUT", o, &[], b"x"), 403);
    r.ask(USER3, "DELETE", o, &[]);
    r.ask(USER3, "POST", o, &[("X-Object-Meta-A", "b")]);
    r.ask(USER3, "POST", c, &[("X-Container-Meta-Test", "w")]);
    r.ask(USER3, "PUT", &format!("{ACCOUNT}/acl-c2"), &[]);
    r.ask(USER3, "POST", ACCOUNT, &[("X-Account-Meta-Color", "red")]);
    r.ask(USER3, "POST", ACCOUNT, &[(acl, "{}")]);
    r.ask(OTHER, "GET", ACCOUNT, &[]);

    // Read-write (sent with spaces, read back compact): containers and
    // objects, but not the account nor privileged headers.
    r.ask(
        OWNER,
        "POST",
        ACCOUNT,
        &[(
            acl,
            r#"{ "read-write" : [ "test:tester3" ], "read-only": [] }"#,
        )],
    );
    r.ask(OWNER, "HEAD", ACCOUNT, &[]);
    r.ask(USER3, "HEAD", ACCOUNT, &[]);
    r.ask(USER3, "POST", ACCOUNT, &[("X-Account-Meta-Color", "red")]);
    assert_eq!(r.ask(USER3, "PUT", &format!("{ACCOUNT}/acl-c2"), &[]), 201);
    r.ask(USER3, "DELETE", &format!("{ACCOUNT}/acl-c2"), &[]);
    r.ask(
        USER3,
        "POST",
        c,
        &[
            ("X-Container-Meta-Test", "w"),
            ("X-Container-Read", "frank"),
            ("X-Container-Sync-Key", "k"),
        ],
    );
    r.ask(OWNER, "HEAD", c, &[]);
    r.ask(USER3, "HEAD", c, &[]);
    r.req(USER3, "PUT", &format!("{ACCOUNT}/acl-c/o3"), &[], b"3");
    r.ask(USER3, "DELETE", &format!("{ACCOUNT}/acl-c/o3"), &[]);
    r.ask(USER3, "POST", ACCOUNT, &[(acl, "{}")]);

    // Admin: an owner in all but name, who sees the ACL and the keys, and
    // may even revoke itself. Another account's user may be granted too.
    let admin = r#"{"admin":["test:tester3","caf\u00e9"],"read-only":["test2:tester2"]}"#;
    r.ask(OWNER, "POST", ACCOUNT, &[(acl, admin)]);
    let before = r.lines.len();
    r.ask(USER3, "HEAD", ACCOUNT, &[]);
    assert!(
        r.lines[before].contains("x-account-access-control={\"admin\""),
        "{}",
        r.lines[before]
    );
    r.ask(
        USER3,
        "POST",
        ACCOUNT,
        &[("X-Account-Meta-Temp-Url-Key", "s2")],
    );
    r.ask(USER3, "GET", ACCOUNT, &[]);
    r.ask(USER3, "HEAD", c, &[]);
    r.ask(USER3, "PUT", ACCOUNT, &[]);
    r.ask(OTHER, "HEAD", ACCOUNT, &[]);
    r.ask(OTHER, "GET", o, &[]);
    r.ask(OTHER, "PUT", &format!("{ACCOUNT}/acl-c2"), &[]);
    r.ask(USER3, "POST", ACCOUNT, &[(acl, "{}")]);
    r.ask(USER3, "HEAD", ACCOUNT, &[]);
    r.ask(None, "HEAD", ACCOUNT, &[]);
    // An empty value clears the ACL too.
    r.ask(
        OWNER,
        "POST",
        ACCOUNT,
        &[(acl, r#"{"read-only":["test:tester3"]}"#)],
    );
    r.ask(OWNER, "POST", ACCOUNT, &[(acl, "")]);
    r.ask(OWNER, "HEAD", ACCOUNT, &[]);
    r.ask(USER3, "HEAD", ACCOUNT, &[]);
    reset(r);
}

fn cors_scenario(r: &mut Run) {
    reset(r);
    let c = &format!("{ACCOUNT}/cors");
    let o = &format!("{ACCOUNT}/cors/o");
    let a_com = ("Origin", "http://a.com");
    let evil = ("Origin", "http://evil.com");
    let get = ("Access-Control-Request-Method", "GET");
    r.ask(
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
    );
    r.req(OWNER, "PUT", o, &[("X-Object-Meta-Color", "red")], b"data");
    // Preflights: allowed origin and method, or 401.
    r.ask(None, "OPTIONS", o, &[]);
    r.ask(None, "OPTIONS", o, &[a_com]);
    assert_eq!(r.ask(None, "OPTIONS", o, &[a_com, get]), 200);
    r.ask(
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
    );
    r.ask(None, "OPTIONS", o, &[evil, get]);
    r.ask(
        None,
        "OPTIONS",
        o,
        &[a_com, ("Access-Control-Request-Method", "COPY")],
    );
    r.ask(
        None,
        "OPTIONS",
        c,
        &[a_com, ("Access-Control-Request-Method", "PUT")],
    );
    r.ask(None, "OPTIONS", c, &[]);
    r.ask(None, "OPTIONS", ACCOUNT, &[a_com, get]);
    r.ask(
        None,
        "OPTIONS",
        &format!("{ACCOUNT}/nothere/o"),
        &[a_com, get],
    );
    r.ask(None, "OPTIONS", "/info", &[]);
    // Actual requests: headers for allowed origins only (strict mode).
    r.ask(OWNER, "GET", o, &[a_com]);
    r.ask(OWNER, "HEAD", o, &[("Origin", "http://b.com")]);
    r.ask(OWNER, "GET", o, &[evil]);
    r.ask(OWNER, "HEAD", c, &[a_com]);
    r.ask(OWNER, "POST", o, &[a_com, ("X-Object-Meta-Color", "blue")]);
    r.ask(OWNER, "POST", c, &[a_com, ("X-Container-Meta-Test", "t")]);
    r.ask(None, "GET", o, &[a_com]);
    r.ask(None, "GET", c, &[a_com]);
    r.req(USER3, "PUT", &format!("{ACCOUNT}/cors/o2"), &[a_com], b"x");
    r.ask(USER3, "POST", c, &[a_com]);
    r.ask(OWNER, "GET", &format!("{ACCOUNT}/cors/missing"), &[a_com]);
    r.ask(OWNER, "GET", ACCOUNT, &[a_com]);
    r.ask(None, "GET", "/info", &[a_com]);
    // A container open to any origin answers `*`.
    let star = &format!("{ACCOUNT}/star");
    r.ask(
        OWNER,
        "PUT",
        star,
        &[("X-Container-Meta-Access-Control-Allow-Origin", "*")],
    );
    r.req(OWNER, "PUT", &format!("{star}/o"), &[], b"x");
    r.ask(None, "OPTIONS", &format!("{star}/o"), &[evil, get]);
    r.ask(OWNER, "GET", &format!("{star}/o"), &[evil]);

    // Copies: a failed read of the source answers with the source's CORS,
    // the write with the destination's; a malformed copy with none.
    let star_o = &format!("{star}/o");
    let to = |d: &'static str| ("Destination", d);
    let from = |d: &'static str| ("X-Copy-From", d);
    r.ask(OWNER, "COPY", o, &[a_com, to("star/o2")]);
    let line = r.lines.last().unwrap().clone();
    assert!(
        line.contains(": 201") && line.contains("access-control-allow-origin=*"),
        "{line}"
    );
    r.ask(OWNER, "COPY", star_o, &[evil, to("cors/o3")]);
    r.ask(OWNER, "COPY", star_o, &[a_com, to("cors/o3")]);
    r.ask(
        OWNER,
        "COPY",
        &format!("{c}/missing"),
        &[a_com, to("star/o5")],
    );
    r.ask(
        OWNER,
        "COPY",
        &format!("{c}/missing"),
        &[evil, to("star/o5")],
    );
    r.ask(OWNER, "COPY", o, &[a_com, to("nonsense")]);
    r.ask(OWNER, "COPY", o, &[a_com]);
    r.ask(OWNER, "PUT", &format!("{star}/o4"), &[evil, from("cors/o")]);
    r.ask(OWNER, "PUT", &format!("{c}/o4"), &[evil, from("star/o")]);
    r.ask(OWNER, "PUT", &format!("{c}/o4"), &[a_com, from("star/o")]);
    r.ask(OWNER, "PUT", &format!("{c}/o4"), &[evil, from("star/none")]);
    r.ask(OWNER, "PUT", &format!("{c}/o4"), &[a_com, from("bad")]);
    // Refused on the source (read) or on the destination (write).
    r.ask(USER3, "COPY", star_o, &[evil, to("cors/o6")]);
    r.ask(USER3, "PUT", &format!("{c}/o6"), &[a_com, from("star/o")]);
    r.ask(
        OWNER,
        "POST",
        star,
        &[
            ("X-Container-Read", "test:tester3"),
            ("X-Container-Meta-Access-Control-Allow-Origin", "*"),
        ],
    );
    r.ask(USER3, "COPY", star_o, &[a_com, to("cors/o6")]);
    r.ask(USER3, "COPY", star_o, &[evil, to("cors/o6")]);
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
    r.ask(GROUPED, "PUT", c, &[("X-Container-Read", "test:tester")]);
    r.req(GROUPED, "PUT", o, &[], b"data");
    assert_eq!(r.ask(GROUPED, "GET", ACCOUNT, &[]), 200);
    r.ask(GROUPED, "HEAD", c, &[]);
    r.ask(
        GROUPED,
        "POST",
        ACCOUNT,
        &[("X-Account-Meta-Temp-Url-Key", "k")],
    );
    r.ask(GROUPED, "HEAD", ACCOUNT, &[]);
    // The admin without it is refused unless an ACL lets them in, and
    // then not as an owner.
    assert_eq!(r.ask(OWNER, "GET", ACCOUNT, &[]), 403);
    r.ask(OWNER, "HEAD", ACCOUNT, &[]);
    r.ask(OWNER, "POST", ACCOUNT, &[("X-Account-Meta-Color", "red")]);
    r.ask(OWNER, "PUT", &format!("{ACCOUNT}/rg2"), &[]);
    assert_eq!(r.ask(OWNER, "GET", o, &[]), 200);
    r.ask(OWNER, "HEAD", c, &[]);
    r.req(OWNER, "PUT", o, &[], b"x");
    r.ask(OWNER, "DELETE", o, &[]);
    r.ask(None, "GET", o, &[]);
    r.ask(
        GROUPED,
        "POST",
        ACCOUNT,
        &[(acl, r#"{"admin":["test:tester"]}"#)],
    );
    r.ask(OWNER, "HEAD", ACCOUNT, &[]);
    r.ask(OWNER, "POST", c, &[("X-Container-Sync-Key", "s")]);
    r.ask(OWNER, "HEAD", c, &[]);
    r.ask(USER3, "HEAD", ACCOUNT, &[]);
    r.ask(OTHER, "HEAD", ACCOUNT, &[]);
    r.ask(OWNER, "POST", ACCOUNT, &[(acl, "{}")]);
    r.ask(OWNER, "HEAD", ACCOUNT, &[]);
    r.ask(
        GROUPED,
        "POST",
        ACCOUNT,
        &[("X-Remove-Account-Meta-Temp-Url-Key", "x")],
    );
    clean(r);
}

/// Runs a scenario on Swift's proxy, then on ours, and compares.
fn compare(swift_port: u16, our_port: u16, scenario: fn(&mut Run)) {
    compare_runs(USERS, swift_port, our_port, scenario);
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
    compare_runs(
        &users,
        swift_grouped.port,
        ours_grouped.port,
        require_group_scenario,
    );
}
