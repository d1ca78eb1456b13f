//! Workflow: a full device on the all-in-one cluster. Node 1's object server
//! is restarted with a `fallocate_reserve` it can never satisfy; writes then
//! route around it (507, then a handoff), while reads and deletes of what it
//! already holds keep working.

mod aio_util;

use std::path::Path;
use std::time::{Duration, Instant};

use aio_util::{add_to_section, Aio};

/// Files under `dir` whose name ends with `ext`.
fn count_files(dir: &Path, ext: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                count_files(&p, ext)
            } else {
                usize::from(p.to_string_lossy().ends_with(ext))
            }
        })
        .sum()
}

fn node_objects(aio: &Aio, node: u16, ext: &str) -> usize {
    count_files(&aio.dir.join(format!("srv/{node}")), ext)
}

/// How long the proxy suppresses a node after an error. A 507 suppresses
/// the node at once, as in Swift; this cluster keeps the suppression short
/// so that the delete phase reaches the full device again (with Swift's
/// default of 60 s the tombstones would go to handoffs and reach the device
/// only through replication).
const SUPPRESSION: Duration = Duration::from_secs(3);

#[test]
fn full_device_routes_writes_to_handoffs_and_still_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::setup(&tmp.path().join("aio"));
    let proxy_conf = aio.dir.join("etc/proxy-server.conf");
    let text = std::fs::read_to_string(&proxy_conf).unwrap();
    std::fs::write(
        &proxy_conf,
        text.replacen(
            "[app:proxy-server]\n",
            &format!(
                "[app:proxy-server]\nerror_suppression_interval = {}\n",
                SUPPRESSION.as_secs()
            ),
            1,
        ),
    )
    .unwrap();
    let aio = aio.start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let (url, token) = aio.auth_token("test:tester", "testing");
    let call = |method: reqwest::Method, path: &str, body: Vec<u8>| {
        rt.block_on(async {
            client
                .request(method, format!("{url}/{path}"))
                .header("x-auth-token", &token)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(call(reqwest::Method::PUT, "full", vec![]), 201);
    let old: Vec<String> = (0..12).map(|i| format!("old-{i}")).collect();
    for name in &old {
        assert_eq!(
            call(
                reqwest::Method::PUT,
                &format!("full/{name}"),
                name.clone().into_bytes()
            ),
            201
        );
    }
    let held_by_node1 = node_objects(&aio, 1, ".data");
    assert!(held_by_node1 > 0, "node 1 holds none of the first objects");

    // Node 1's device becomes "full": the supervisor restarts the killed
    // server with the new reserve.
    add_to_section(
        &aio.dir.join("etc/object-server/1.conf"),
        "[DEFAULT]",
        "fallocate_reserve = 100%",
    );
    let before = aio.server_pid("object", 1).expect("object server 1 pid");
    // SAFETY: kill(2) on a child of our cluster; no memory is involved.
    unsafe {
        libc::kill(before, libc::SIGKILL);
    }
    let port = aio.base_port + 10;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let back = aio.server_pid("object", 1).is_some_and(|p| p != before)
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        if back {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "object server 1 did not come back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The restarted server may accept connections a moment before it serves.
    let direct = loop {
        let r = rt.block_on(async {
            client
                .put(format!(
                    "http://127.0.0.1:{port}/sd1/0/AUTH_test/full/probe"
                ))
                .header("x-timestamp", "1700000000.00000")
                .header("content-type", "text/plain")
                .body("x")
                .send()
                .await
        });
        match r {
            Ok(r) => break r.status().as_u16(),
            Err(e) => assert!(Instant::now() < deadline, "object server 1: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(direct, 507, "the full device must refuse a write");

    // New writes all succeed, with three copies each, none on node 1.
    let total_before = (1..=4)
        .map(|n| node_objects(&aio, n, ".data"))
        .sum::<usize>();
    for i in 0..12 {
        assert_eq!(
            call(
                reqwest::Method::PUT,
                &format!("full/new-{i}"),
                vec![b'n'; 100]
            ),
            201
        );
    }
    assert_eq!(
        node_objects(&aio, 1, ".data"),
        held_by_node1,
        "a write reached the full device"
    );
    // The proxy answers once a quorum has written; the last copy may land
    // just after.
    let settle = Instant::now() + Duration::from_secs(10);
    let total_after = loop {
        let n = (1..=4)
            .map(|n| node_objects(&aio, n, ".data"))
            .sum::<usize>();
        if n >= total_before + 36 || Instant::now() > settle {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        total_after,
        total_before + 36,
        "every new object keeps three copies"
    );

    // What the full device holds still reads, and deletes still work there
    // once the proxy stops suppressing it.
    std::thread::sleep(SUPPRESSION + Duration::from_millis(500));
    for name in &old {
        let got = rt.block_on(async {
            client
                .get(format!("{url}/full/{name}"))
                .header("x-auth-token", &token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        });
        assert_eq!(&got[..], name.as_bytes());
        assert_eq!(
            call(reqwest::Method::DELETE, &format!("full/{name}"), vec![]),
            204
        );
        assert_eq!(
            call(reqwest::Method::GET, &format!("full/{name}"), vec![]),
            404
        );
    }
    assert_eq!(
        node_objects(&aio, 1, ".ts"),
        held_by_node1,
        "each object on the full device got its tombstone there"
    );
}
