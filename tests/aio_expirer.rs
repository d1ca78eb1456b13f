//! The expiring-objects queue on the all-in-one cluster: an object PUT with
//! `X-Delete-After` is queued in `.expiring_objects`; once due,
//! `swift-object-expirer` deletes it and removes its queue row.

mod aio_util;

use std::process::Command;
use std::time::Duration;

use aio_util::{bin, check, http, salt, Aio};
use ferroswift::storage::expiring;

/// (host:port, device, partition) of each primary of a name in a ring.
fn nodes(aio: &Aio, ring: &str, a: &str, c: Option<&str>) -> Vec<(String, String, u32)> {
    let data = ferroswift::conf::ring_file::load_ring(aio.dir.join(format!("etc/{ring}.ring.gz")))
        .unwrap();
    let r = ferroswift::ring::Ring::new(data).unwrap();
    let hash = salt(aio);
    let part = r.get_part(&hash, a, c, None).unwrap();
    r.get_part_nodes(part)
        .iter()
        .map(|n| {
            (
                format!("127.0.0.1:{}", n.device.port),
                n.device.device.clone(),
                part,
            )
        })
        .collect()
}

fn queue_rows(aio: &Aio, tc: &str) -> Vec<Vec<String>> {
    nodes(aio, "container", expiring::ACCOUNT, Some(tc))
        .iter()
        .map(|(h, d, p)| {
            let (st, _, body) = http(
                "GET",
                &format!("http://{h}/{d}/{p}/{}/{tc}?format=json", expiring::ACCOUNT),
                &[],
                b"",
            );
            if st == 404 {
                return Vec::new();
            }
            assert!(st == 200 || st == 204, "{st}");
            let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
            rows.iter()
                .map(|r| format!("{} {}", r["name"].as_str().unwrap(), r["content_type"]))
                .collect()
        })
        .collect()
}

#[test]
fn expired_object_disappears_and_leaves_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::run(&tmp.path().join("aio"));
    let (st, h, _) = http(
        "GET",
        &aio.auth_url(),
        &[("x-auth-user", "test:tester"), ("x-auth-key", "testing")],
        b"",
    );
    assert_eq!(st, 200);
    let url = h["x-storage-url"].to_str().unwrap().to_string();
    let token = h["x-auth-token"].to_str().unwrap().to_string();
    let auth = [("x-auth-token", token.as_str())];
    assert_eq!(http("PUT", &format!("{url}/c"), &auth, b"").0, 201);
    let (st, _, _) = http(
        "PUT",
        &format!("{url}/c/short-lived"),
        &[("x-auth-token", &token), ("x-delete-after", "5")],
        b"soon gone",
    );
    assert_eq!(st, 201);
    assert_eq!(
        http("PUT", &format!("{url}/c/keeper"), &auth, b"stays").0,
        201
    );
    let (_, h, _) = http("HEAD", &format!("{url}/c/short-lived"), &auth, b"");
    let delete_at: u64 = h["x-delete-at"].to_str().unwrap().parse().unwrap();

    // The queue row, where Swift 2.38 puts it.
    let account = url.rsplit('/').next().unwrap().to_string();
    let hash = salt(&aio)
        .hash_path_hex(&account, Some("c"), Some("short-lived"))
        .unwrap();
    let tc = expiring::task_container(delete_at, &hash);
    let task = expiring::task_object(delete_at, &account, "c", "short-lived");
    let rows = queue_rows(&aio, &tc);
    assert!(
        rows.iter()
            .all(|r| r == &[format!("{task} \"text/plain;swift_expirer_bytes=9\"")]),
        "{rows:?}"
    );

    // The expirer finds task containers in the `.expiring_objects` account
    // listing; the container updater puts them there. Run it once on every
    // node (the cluster's own updater may get there first, which is fine).
    for node in 1..=ferroswift::aio::layout::NODES {
        let conf = aio.dir.join(format!("etc/container-server/{node}.conf"));
        check(
            Command::new(bin("swift-container-updater"))
                .arg(&conf)
                .arg("-o"),
        );
    }
    for (h, d, p) in nodes(&aio, "account", expiring::ACCOUNT, None) {
        let (st, _, body) = http(
            "GET",
            &format!("http://{h}/{d}/{p}/{}?format=json", expiring::ACCOUNT),
            &[],
            b"",
        );
        assert_eq!(st, 200, "{h}/{d}");
        let listing: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert!(
            listing
                .iter()
                .any(|c| c["name"] == tc.as_str() && c["count"] == 1),
            "{h}/{d}: {listing:?}"
        );
    }

    // Not due yet: the expirer leaves it alone.
    let expirer = |aio: &Aio| {
        check(
            Command::new(bin("swift-object-expirer"))
                .arg(aio.dir.join("etc/object-expirer.conf"))
                .args(["-o", "-v"]),
        );
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now + 3 < delete_at {
        expirer(&aio);
        assert_eq!(
            http("GET", &format!("{url}/c/short-lived"), &auth, b"").0,
            200
        );
    }
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= delete_at
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    expirer(&aio);
    assert_eq!(
        http("GET", &format!("{url}/c/short-lived"), &auth, b"").0,
        404
    );
    assert_eq!(http("GET", &format!("{url}/c/keeper"), &auth, b"").0, 200);
    let rows = queue_rows(&aio, &tc);
    assert!(rows.iter().all(Vec::is_empty), "{rows:?}");
    let (_, _, body) = http("GET", &format!("{url}/c?format=json"), &auth, b"");
    let listing: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    let names: Vec<&str> = listing
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["keeper"]);
    let recon: serde_json::Value =
        serde_json::from_slice(&std::fs::read(aio.dir.join("cache/expirer/object.recon")).unwrap())
            .unwrap();
    assert!(
        recon["object_expiration_pass"].as_f64().unwrap() >= 0.0,
        "{recon}"
    );
    // The cluster's own expirer may have done it first; between the two,
    // exactly one object expired.
    assert!(recon["expired_last_pass"].as_u64().unwrap() <= 1, "{recon}");
}
