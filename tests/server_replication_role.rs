//! `replication_server` on the storage servers, read as Swift 2.38.3 reads
//! it: `false` refuses the replication verbs with 405 and leaves them out of
//! `Allow`; `true` (the default) serves every verb. Swift's object server,
//! run with the same settings, is the oracle for the object server.

mod common;
mod server_util;

use server_util::{http, spawn, spawn_swift, Running, Site};

fn allow(port: u16) -> String {
    let (status, hdrs, _) = http(port, "OPTIONS", "/", &[], b"");
    assert_eq!(status, 200);
    hdrs.into_iter()
        .find(|(k, _)| k == "allow")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn status(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
    http(port, method, path, headers, body).0
}

/// What an object server does with each verb: (REPLICATE, PUT, GET) statuses and `Allow`.
fn object_answers(server: &Running, name: &str) -> (u16, u16, u16, String) {
    let path = format!("/sda1/0/a/c/{name}");
    let put = status(
        server.port,
        "PUT",
        &path,
        &[
            ("X-Timestamp", "1700000000.00000"),
            ("Content-Type", "text/plain"),
        ],
        b"abc",
    );
    let get = status(server.port, "GET", &path, &[], b"");
    let replicate = status(server.port, "REPLICATE", "/sda1/0", &[], b"");
    (replicate, put, get, allow(server.port))
}

#[test]
fn object_server_role_matches_swift() {
    let site = Site::new();
    for (setting, name) in [("false", "off"), ("true", "on")] {
        let extra = format!("replication_server = {setting}");
        let ours = spawn(&site, "object", &extra);
        let swift_dev = site.root().join(format!("swift-{name}"));
        std::fs::create_dir_all(swift_dev.join("sda1")).unwrap();
        let swift = spawn_swift(&common::swift_python(), &site, "object", &swift_dev, &extra);
        let got = object_answers(&ours, name);
        let want = object_answers(&swift, name);
        assert_eq!(got, want, "replication_server = {setting}");
        if setting == "false" {
            assert_eq!(got.0, 405);
            assert_eq!(status(ours.port, "SSYNC", "/sda1/0", &[], b""), 405);
            assert!(!got.3.contains("REPLICATE") && !got.3.contains("SSYNC"));
        } else {
            assert_eq!(got.0, 200);
            assert!(got.3.contains("REPLICATE") && got.3.contains("SSYNC"));
        }
        assert_eq!((got.1, got.2), (201, 200), "plain verbs are always served");
    }
}

#[test]
fn database_servers_refuse_replication_verbs_when_told() {
    let site = Site::new();
    for (kind, path) in [("container", "/sda1/0/a/c"), ("account", "/sda1/0/a")] {
        let off = spawn(&site, kind, "replication_server = false");
        for verb in ["REPLICATE", "PUSHDB"] {
            assert_eq!(
                status(off.port, verb, "/sda1/0/abc", &[], b""),
                405,
                "{kind} {verb}"
            );
        }
        let allow_off = allow(off.port);
        assert!(!allow_off.contains("REPLICATE") && !allow_off.contains("PUSHDB"));
        let ts = [("X-Timestamp", "1700000000.00000")];
        assert_eq!(status(off.port, "PUT", path, &ts, b""), 201, "{kind}");

        let on = spawn(&site, kind, "replication_server = true");
        let body = br#"["sync", 0, "", "", 0, 0, 0, "", ""]"#;
        assert_ne!(status(on.port, "REPLICATE", "/sda1/0/abc", &[], body), 405);
        assert!(allow(on.port).contains("REPLICATE"));
    }
}
