//! The object server's protocol, in process (no sockets), over the disk
//! store and the in-memory double.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use ferroswift::servers::object::{app, ObjectServer};
use ferroswift::storage::device::Devices;
use ferroswift::storage::diskfile::DiskStore;
use ferroswift::storage::mem::MemStore;
use ferroswift::storage::ObjectStore;
use http_body_util::BodyExt;
use tower::ServiceExt;

mod server_util;
use server_util::{files_under, free_port};

struct Client {
    app: axum::Router,
}

impl Client {
    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (Response<Body>, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !body.is_empty() || method == "PUT" {
            req = req.header("content-length", body.len().to_string());
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body.to_vec())).unwrap())
            .await
            .unwrap();
        let (parts, b) = resp.into_parts();
        let bytes = b
            .collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default();
        (Response::from_parts(parts, Body::empty()), bytes)
    }

    /// Only the status of a call.
    async fn status(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> StatusCode {
        self.call(method, path, headers, body).await.0.status()
    }
}

fn hdr<'a>(r: &'a Response<Body>, k: &str) -> &'a str {
    r.headers()
        .get(k)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

async fn suite(store: Arc<dyn ObjectStore>) {
    let mut server = ObjectServer::new(store, vec![0, 1]);
    server.container_update_timeout = std::time::Duration::from_millis(200);
    let c = Client {
        app: app(Arc::new(server)),
    };
    let o = "/sda1/1/AUTH_t/c/obj";
    let put = |ts: &'static str| {
        [
            ("x-timestamp", ts),
            ("content-type", "text/plain"),
            ("x-object-meta-color", "red"),
        ]
    };

    let (r, _) = c
        .call("PUT", o, &put("1700000001.00000"), b"0123456789")
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(hdr(&r, "etag"), "781e5e245d69b566979b86e28d23f2c7");
    let (r, body) = c.call("GET", o, &[], b"").await;
    assert_eq!(
        (r.status(), body.as_slice()),
        (StatusCode::OK, &b"0123456789"[..])
    );
    assert_eq!(hdr(&r, "x-object-meta-color"), "red");
    assert_eq!(hdr(&r, "x-timestamp"), "1700000001.00000");
    assert_eq!(hdr(&r, "last-modified"), "Tue, 14 Nov 2023 22:13:21 GMT");
    let (r, body) = c.call("HEAD", o, &[], b"").await;
    assert_eq!(
        (r.status(), hdr(&r, "content-length"), body.len()),
        (StatusCode::OK, "10", 0)
    );

    // Older or equal timestamps conflict.
    let (r, _) = c.call("PUT", o, &put("1700000000.00000"), b"old").await;
    assert_eq!(
        (r.status(), hdr(&r, "x-backend-timestamp")),
        (StatusCode::CONFLICT, "1700000001.00000")
    );

    // Ranges.
    let (r, body) = c.call("GET", o, &[("range", "bytes=2-4")], b"").await;
    assert_eq!(
        (r.status(), body.as_slice(), hdr(&r, "content-range")),
        (StatusCode::PARTIAL_CONTENT, &b"234"[..], "bytes 2-4/10")
    );
    let (r, body) = c.call("GET", o, &[("range", "bytes=-2")], b"").await;
    assert_eq!(body, b"89");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let (r, body) = c.call("GET", o, &[("range", "bytes=0-0,8-")], b"").await;
    assert!(hdr(&r, "content-type").starts_with("multipart/byteranges;boundary="));
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(
        text.contains("Content-Range: bytes 0-0/10\r\n\r\n0\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 8-9/10\r\n\r\n89\r\n--"),
        "{text}"
    );
    assert_eq!(hdr(&r, "content-length"), body.len().to_string());
    let (r, _) = c.call("GET", o, &[("range", "bytes=50-")], b"").await;
    assert_eq!(
        (r.status(), hdr(&r, "content-range")),
        (StatusCode::RANGE_NOT_SATISFIABLE, "bytes */10")
    );

    // Conditionals.
    let etag = "781e5e245d69b566979b86e28d23f2c7";
    for (header, value, want) in [
        ("if-match", etag, StatusCode::OK),
        ("if-match", "\"nope\"", StatusCode::PRECONDITION_FAILED),
        ("if-none-match", etag, StatusCode::NOT_MODIFIED),
        (
            "if-modified-since",
            "Tue, 14 Nov 2023 22:13:21 GMT",
            StatusCode::NOT_MODIFIED,
        ),
        (
            "if-modified-since",
            "Tue, 14 Nov 2023 22:13:20 GMT",
            StatusCode::OK,
        ),
        (
            "if-unmodified-since",
            "Tue, 14 Nov 2023 22:13:20 GMT",
            StatusCode::PRECONDITION_FAILED,
        ),
    ] {
        let got = c.status("GET", o, &[(header, value)], b"").await;
        assert_eq!(got, want, "{header}: {value}");
    }
    assert_eq!(
        c.status(
            "PUT",
            o,
            &[put("1700000009")[0], put("1")[1], ("if-none-match", "*")],
            b"x"
        )
        .await,
        StatusCode::PRECONDITION_FAILED
    );

    // ETag and length checks on PUT.
    let (r, _) = c
        .call(
            "PUT",
            "/sda1/1/AUTH_t/c/bad",
            &[put("1700000002")[0], put("1")[1], ("etag", "0000")],
            b"abc",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (r, _) = c
        .call(
            "PUT",
            "/sda1/1/AUTH_t/c/bad",
            &[("content-type", "a/b")],
            b"abc",
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // POST replaces user metadata; an older POST conflicts.
    let (r, _) = c
        .call(
            "POST",
            o,
            &[
                ("x-timestamp", "1700000002.00000"),
                ("x-object-meta-shape", "square"),
            ],
            b"",
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (r, _) = c.call("HEAD", o, &[], b"").await;
    assert_eq!(
        (
            hdr(&r, "x-object-meta-shape"),
            hdr(&r, "x-object-meta-color")
        ),
        ("square", "")
    );
    assert_eq!(hdr(&r, "x-backend-data-timestamp"), "1700000001.00000");
    assert_eq!(
        c.status("POST", o, &[("x-timestamp", "1700000001.50000")], b"")
            .await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        c.status(
            "POST",
            "/sda1/1/AUTH_t/c/nope",
            &[("x-timestamp", "1700000003")],
            b""
        )
        .await,
        StatusCode::NOT_FOUND
    );

    // Policies are separate.
    assert_eq!(
        c.status("GET", o, &[("x-backend-storage-policy-index", "1")], b"")
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.status("GET", o, &[("x-backend-storage-policy-index", "7")], b"")
            .await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // X-Delete-At.
    assert_eq!(
        c.status(
            "PUT",
            "/sda1/1/AUTH_t/c/d",
            &[put("1700000002")[0], put("1")[1], ("x-delete-at", "100")],
            b"x"
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    assert_eq!(
        c.status(
            "PUT",
            "/sda1/1/AUTH_t/c/d",
            &[put("1700000002")[0], put("1")[1], ("x-delete-at", &later)],
            b"x"
        )
        .await,
        StatusCode::CREATED
    );
    assert_eq!(
        hdr(
            &c.call("HEAD", "/sda1/1/AUTH_t/c/d", &[], b"").await.0,
            "x-delete-at"
        ),
        later
    );

    // DELETE: 204, then 404 with the tombstone's timestamp; older DELETE conflicts.
    assert_eq!(
        c.status("DELETE", o, &[("x-timestamp", "1700000000.50000")], b"")
            .await,
        StatusCode::CONFLICT
    );
    let (r, _) = c
        .call("DELETE", o, &[("x-timestamp", "1700000003.00000")], b"")
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (r, _) = c.call("GET", o, &[], b"").await;
    assert_eq!(
        (r.status(), hdr(&r, "x-backend-timestamp")),
        (StatusCode::NOT_FOUND, "1700000003.00000")
    );
    assert_eq!(
        c.status("DELETE", o, &[("x-timestamp", "1700000004")], b"")
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.status("PUT", o, &put("1700000002.00000"), b"x").await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        c.status("PUT", o, &put("1700000005.00000"), b"back").await,
        StatusCode::CREATED
    );

    // REPLICATE returns a pickled dict of suffix hashes.
    let (r, body) = c.call("REPLICATE", "/sda1/1", &[], b"").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(&body[..2], b"\x80\x02");

    // Bad requests.
    for bad in [
        "/sda1/1/AUTH_t/c",
        "/sda1/x/AUTH_t/c/o",
        "/../1/a/c/o",
        "/sda1/1/a/c/..",
        "/sda1/1/a/c/%2e%2e",
        "/sda1/1/a/c/a%00b",
        "/sda1/1/a/c/%ff%fe",
    ] {
        let (r, _) = c.call("GET", bad, &[], b"").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let long = format!("/sda1/1/a/c/{}", "n".repeat(2000));
    assert_eq!(
        c.status("PUT", &long, &put("1700000001"), b"x").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        c.status("PUT", o, &[("content-type", "a/b")], b"x").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        c.status("GET", "/sdz9/1/a/c/o", &[], b"").await,
        StatusCode::INSUFFICIENT_STORAGE
    );

    // A container update to a dead server becomes an async pending.
    let dead = format!("127.0.0.1:{}", free_port());
    let (r, _) = c
        .call(
            "PUT",
            "/sda1/1/AUTH_t/c/upd",
            &[
                put("1700000001")[0],
                put("1")[1],
                ("x-container-host", &dead),
                ("x-container-device", "sdb1"),
                ("x-container-partition", "5"),
            ],
            b"u",
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// A disk store over `root`, with one device `sda1`.
fn disk_store(root: &std::path::Path) -> DiskStore {
    std::fs::create_dir(root.join("sda1")).unwrap();
    ferroswift::storage::metadata::check_xattr_support(root).expect("need user xattrs");
    DiskStore::new(
        Devices::new(root),
        ferroswift::ring::hash::HashPathConf::new("", "s"),
    )
}

#[tokio::test]
async fn object_protocol_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path());
    suite(Arc::new(store)).await;
    let pending = files_under(&dir.path().join("sda1/async_pending"));
    assert_eq!(pending.len(), 1, "one async pending expected");
}

#[tokio::test]
async fn object_protocol_in_memory() {
    let mem = MemStore::with_devices(&["sda1"]);
    suite(Arc::new(mem.clone())).await;
    let asyncs = mem.async_updates();
    assert_eq!(asyncs.len(), 1);
    assert_eq!(asyncs[0].1.op, "PUT");
    assert!(asyncs[0]
        .1
        .headers
        .iter()
        .any(|(k, v)| k == "X-Size" && v == "1"));
}

#[tokio::test]
async fn full_device_refuses_writes_but_serves_reads_and_deletes() {
    let mem = MemStore::new();
    let c = Client {
        app: app(Arc::new(ObjectServer::new(Arc::new(mem.clone()), vec![0]))),
    };
    let o = "/sda1/1/a/c/o";
    assert_eq!(
        c.status(
            "PUT",
            o,
            &[("x-timestamp", "1700000001"), ("content-type", "a/b")],
            b"x"
        )
        .await,
        StatusCode::CREATED
    );
    mem.set_full("sda1", true);
    assert_eq!(
        c.status(
            "PUT",
            o,
            &[("x-timestamp", "1700000002"), ("content-type", "a/b")],
            b"x"
        )
        .await,
        StatusCode::INSUFFICIENT_STORAGE
    );
    assert_eq!(
        c.status("POST", o, &[("x-timestamp", "1700000002")], b"")
            .await,
        StatusCode::INSUFFICIENT_STORAGE
    );
    assert_eq!(c.status("GET", o, &[], b"").await, StatusCode::OK);
    assert_eq!(c.status("HEAD", o, &[], b"").await, StatusCode::OK);
    assert_eq!(
        c.status("DELETE", o, &[("x-timestamp", "1700000003")], b"")
            .await,
        StatusCode::NO_CONTENT
    );
    mem.set_unavailable("sda1", true);
    assert_eq!(
        c.status("GET", o, &[], b"").await,
        StatusCode::INSUFFICIENT_STORAGE
    );
}

/// A write whose client goes away after sending its body still ends as it
/// would have, whenever the answer is given up: the object is stored and its
/// container update is made (here, to a dead container server, an async
/// pending). Dropping the request half-way once left objects no listing
/// would ever show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_finish_when_the_client_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let store = disk_store(dir.path());
    let mut server = ObjectServer::new(Arc::new(store), vec![0, 1]);
    server.container_update_timeout = std::time::Duration::from_millis(200);
    let app = app(Arc::new(server));
    let dead = format!("127.0.0.1:{}", free_port());
    let writes = 8u64;
    for i in 0..writes {
        let req = Request::builder()
            .method("PUT")
            .uri(format!("/sda1/1/AUTH_t/c/gone-{i}"))
            .header("x-timestamp", format!("17000000{i:02}.00000"))
            .header("content-type", "text/plain")
            .header("content-length", "4")
            .header("x-container-host", &dead)
            .header("x-container-device", "sdb1")
            .header("x-container-partition", "5")
            .body(Body::from("abcd"))
            .unwrap();
        // The answer is given up at a different point each time, the first
        // one as soon as the request has been polled once.
        let wait = std::time::Duration::from_micros(300 * i);
        let _ = tokio::time::timeout(wait, app.clone().oneshot(req)).await;
    }
    let count = |sub: &str, suffix: &str| {
        files_under(&dir.path().join("sda1").join(sub))
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .count() as u64
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (stored, pending) = (count("objects", ".data"), count("async_pending", ""));
        if (stored, pending) == (writes, writes) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{stored} objects stored and {pending} async pendings, {writes} of each expected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
