//! Focused checks of answers that Swift 2.38.3's functional test suite
//! (`tests/swift_functests.rs`) expects from a cluster, each against one
//! running all-in-one cluster: our proxy in front of our storage servers.
//! One cluster serves every check (starting one costs seconds), so the
//! checks run in order inside a single test; each names what it checks.

mod aio_util;

use aio_util::{header, http, token, Aio};
use md5::{Digest, Md5};

/// The cluster and the logged-in users the checks need.
struct Api {
    aio: Aio,
    /// `test:tester` (owner of AUTH_test).
    tok: String,
}

impl Api {
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

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

#[test]
fn proxy_answers_as_swifts_functional_suite_expects() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::run(&tmp.path().join("aio"));
    let tok = token(aio.port, "test:tester", "testing");
    let api = Api { aio, tok };
    utf8_content_type(&api);
    ranges(&api);
    if_unmodified_since(&api);
}
