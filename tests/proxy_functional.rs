//! Focused checks of answers that Swift 2.38.3's functional test suite
//! (`tests/swift_functests.rs`) expects from a cluster, each against one
//! running all-in-one cluster: our proxy in front of our storage servers.
//! One cluster serves every check (starting one costs seconds), so the
//! checks run in order inside a single test; each names what it checks.

mod aio_util;

use aio_util::{header, md5_hex, raw_http as http, token, Aio};

/// The cluster and the logged-in users the checks need.
struct Api {
    aio: Aio,
    /// `test:tester` (owner of AUTH_test).
    tok: String,
    /// `test2:tester2` (owner of AUTH_test2 only).
    tok2: String,
    /// `test:tester3` (in AUTH_test, not an admin: needs ACLs).
    tok3: String,
}

impl Api {
    /// A request as `token`'s user.
    fn call_as(
        &self,
        token: &str,
        method: &str,
        path: impl AsRef<[u8]>,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut h = vec![("X-Auth-Token", token)];
        h.extend_from_slice(headers);
        http(self.aio.port, method, path, &h, b"")
    }

    fn call(
        &self,
        method: &str,
        path: impl AsRef<[u8]>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut h = vec![("X-Auth-Token", self.tok.as_str())];
        h.extend_from_slice(headers);
        http(self.aio.port, method, path, &h, body)
    }

    fn put_container(&self, c: &str, headers: &[(&str, &str)]) {
        let (s, _, b) = self.call("PUT", format!("/v1/AUTH_test/{c}"), headers, b"");
        assert!(s == 201 || s == 202, "PUT {c}: {s} {b:?}");
    }

    fn put_object(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let (s, _, b) = self.call("PUT", format!("/v1/AUTH_test/{path}"), headers, body);
        assert_eq!(s, 201, "PUT {path}: {}", String::from_utf8_lossy(&b));
    }
}

/// A Content-Type outside ASCII is stored, served and listed as sent.
fn utf8_content_type(api: &Api) {
    api.put_container("ctype", &[]);
    let ctype = "text/\u{2603}-snowman";
    api.put_object("ctype/o", &[("Content-Type", ctype)], b"hi");
    let (s, h, _) = api.call("GET", "/v1/AUTH_test/ctype/o", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some(ctype));
    let (s, _, body) = api.call("GET", "/v1/AUTH_test/ctype?format=json", &[], b"");
    assert_eq!(s, 200);
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list[0]["content_type"], ctype, "{list}");
}

/// Range headers with spaces or an upper-case unit are honoured, and a 416
/// still carries the object's ETag.
fn ranges(api: &Api) {
    api.put_container("ranges", &[]);
    let data = b"0123456789";
    api.put_object("ranges/o", &[], data);
    for r in ["bytes = 2 - 4", "BYTES=2-4", "bytes=2-4 "] {
        let (s, h, body) = api.call("GET", "/v1/AUTH_test/ranges/o", &[("Range", r)], b"");
        assert_eq!((s, body.as_slice()), (206, &b"234"[..]), "Range: {r}");
        assert_eq!(header(&h, "content-range"), Some("bytes 2-4/10"), "{r}");
        assert_eq!(header(&h, "etag"), Some(md5_hex(data).as_str()), "{r}");
    }
    let (s, h, _) = api.call(
        "GET",
        "/v1/AUTH_test/ranges/o",
        &[("Range", "bytes=-0")],
        b"",
    );
    assert_eq!(s, 416);
    assert_eq!(header(&h, "content-range"), Some("bytes */10"));
    assert_eq!(header(&h, "etag"), Some(md5_hex(data).as_str()));
}

/// `If-Unmodified-Since` in each of HTTP's three date forms.
fn if_unmodified_since(api: &Api) {
    api.put_container("dates", &[]);
    api.put_object("dates/o", &[], b"x");
    let get = |since: &str| {
        let h = [("If-Unmodified-Since", since)];
        api.call("GET", "/v1/AUTH_test/dates/o", &h, b"").0
    };
    assert_eq!(get("Sun, 06 Nov 1994 08:49:37 GMT"), 412);
    assert_eq!(get("Sunday, 06-Nov-94 08:49:37 GMT"), 412);
    assert_eq!(get("Sun Nov  6 08:49:37 1994"), 412);
    assert_eq!(get("Fri, 01 Jan 2100 00:00:00 GMT"), 200);
    assert_eq!(get("Fri Jan  1 00:00:00 2100"), 200);
}

/// A copy into or out of another account needs that account's ACL: 403
/// without it (even when the container or object is missing), 201 with it.
fn copies_across_accounts(api: &Api) {
    api.put_container("xsrc", &[]);
    api.put_object("xsrc/o", &[], b"secret");
    let (s, _, _) = api.call_as(&api.tok2, "PUT", "/v1/AUTH_test2/xdst", &[]);
    assert_eq!(s, 201);
    let copy_from = |from: &str| {
        let h = [
            ("X-Copy-From-Account", "AUTH_test"),
            ("X-Copy-From", from),
            ("Content-Length", "0"),
        ];
        let path = "/v1/AUTH_test2/xdst/copy";
        api.call_as(&api.tok2, "PUT", path, &h).0
    };
    assert_eq!(copy_from("xsrc/o"), 403, "source not readable by test2");
    assert_eq!(copy_from("nosuch/o"), 403, "missing source container");
    // COPY out of one's own account into a foreign one.
    let copy_to = |container: &str| {
        let h = [
            ("Destination-Account", "AUTH_test2"),
            ("Destination", container),
        ];
        api.call("COPY", "/v1/AUTH_test/xsrc/o", &h, b"").0
    };
    assert_eq!(copy_to("xdst/o"), 403, "destination not writable by test");
    assert_eq!(copy_to("nosuch/o"), 403, "missing destination container");
    // The source is read first, as Swift reads it: a missing one is a 404
    // even when the destination would be refused.
    let h = [
        ("Destination-Account", "AUTH_test2"),
        ("Destination", "xdst/o"),
    ];
    let (s, _, _) = api.call("COPY", "/v1/AUTH_test/nosuch/o", &h, b"");
    assert_eq!(s, 404, "missing source, refused destination");
    api.put_container("xsrc", &[("X-Container-Read", "test2:tester2")]);
    assert_eq!(copy_from("xsrc/o"), 201, "source readable through its ACL");
    let h = [("X-Container-Write", "test:tester")];
    let (s, _, _) = api.call_as(&api.tok2, "POST", "/v1/AUTH_test2/xdst", &h);
    assert_eq!(s, 204);
    assert_eq!(
        copy_to("xdst/o2"),
        201,
        "destination writable through its ACL"
    );
    let (s, _, body) = api.call_as(&api.tok2, "GET", "/v1/AUTH_test2/xdst/o2", &[]);
    assert_eq!((s, body.as_slice()), (200, &b"secret"[..]));
}

/// Container ACLs are stored cleaned as Swift cleans them, so a
/// `.r:*.example.com` rule admits referrers from example.com's hosts.
fn referrer_acls(api: &Api) {
    let acl = [("X-Container-Read", ".r:*.example.com, .rlistings")];
    api.put_container("refs", &acl);
    api.put_object("refs/o", &[], b"shared");
    let (_, h, _) = api.call("HEAD", "/v1/AUTH_test/refs", &[], b"");
    assert_eq!(
        header(&h, "x-container-read"),
        Some(".r:.example.com,.rlistings")
    );
    let get = |referer: &str| {
        let h = [("Referer", referer)];
        api.call_as(&api.tok3, "GET", "/v1/AUTH_test/refs/o", &h).0
    };
    assert_eq!(get("http://blah.example.com/page"), 200);
    assert_eq!(get("http://example.org/"), 403);
    let bad = [("X-Container-Write", ".r:*")];
    let (s, _, body) = api.call("POST", "/v1/AUTH_test/refs", &bad, b"");
    assert_eq!(s, 400);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("Referrers not allowed in write ACL"),
        "{body}"
    );
}

/// An empty `X-Storage-Policy` means the default policy.
fn empty_storage_policy(api: &Api) {
    let h = [("X-Storage-Policy", "")];
    let (s, _, body) = api.call("PUT", "/v1/AUTH_test/nopolicy", &h, b"");
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let (_, h, _) = api.call("HEAD", "/v1/AUTH_test/nopolicy", &[], b"");
    assert_eq!(header(&h, "x-storage-policy"), Some("Policy-0"));
}

/// A header line of 8192 bytes or more is refused with 400, as Swift's
/// HTTP server refuses it.
fn header_line_limit(api: &Api) {
    let ok = "a".repeat(8000);
    let long = "a".repeat(8200);
    let (s, _, _) = api.call("HEAD", "/v1/AUTH_test", &[("X-Long", &ok)], b"");
    assert_eq!(s, 204);
    let (s, _, _) = api.call("HEAD", "/v1/AUTH_test", &[("X-Long", &long)], b"");
    assert_eq!(s, 400);
}

/// A POST to an object past its `X-Delete-At` finds nothing (404).
fn post_to_expired_object(api: &Api) {
    api.put_container("expiring", &[]);
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    let at = at.to_string();
    api.put_object("expiring/o", &[("X-Delete-At", &at)], b"soon gone");
    let path = "/v1/AUTH_test/expiring/o";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while api.call("HEAD", path, &[], b"").0 == 200 {
        assert!(std::time::Instant::now() < deadline, "never expired");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (s, _, _) = api.call("POST", path, &[("X-Object-Meta-A", "b")], b"");
    assert_eq!(s, 404);
}

#[test]
fn proxy_answers_as_swifts_functional_suite_expects() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::run(&tmp.path().join("aio"));
    let tok = token(aio.port, "test:tester", "testing");
    let tok2 = token(aio.port, "test2:tester2", "testing2");
    let tok3 = token(aio.port, "test:tester3", "testing3");
    let api = Api {
        aio,
        tok,
        tok2,
        tok3,
    };
    utf8_content_type(&api);
    ranges(&api);
    if_unmodified_since(&api);
    copies_across_accounts(&api);
    referrer_acls(&api);
    empty_storage_policy(&api);
    header_line_limit(&api);
    post_to_expired_object(&api);
}
