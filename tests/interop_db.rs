//! Interop for the account and container servers: Swift's `direct_client`
//! drives our three servers wired together; `swift-container-info` and
//! `swift-account-info` read the databases ours wrote.

mod common;
mod server_util;

use server_util::{find_file, spawn, Site};

const SCRIPT: &str = r#"
import sys, json, time
from swift.common import direct_client as dc
from swift.common.exceptions import ClientException
aport, cport, oport = [int(x) for x in sys.argv[1:4]]
anode = {'ip': '127.0.0.1', 'port': aport, 'device': 'sda1'}
cnode = {'ip': '127.0.0.1', 'port': cport, 'device': 'sda1'}
onode = {'ip': '127.0.0.1', 'port': oport, 'device': 'sda1'}
out = {}
# Accounts starting with '.' are auto-created by the account server.
acct = '.test_acct'
ahdr = {'X-Account-Host': '127.0.0.1:%d' % aport, 'X-Account-Device': 'sda1', 'X-Account-Partition': '2'}
dc.direct_put_container(cnode, 5, acct, 'photos', headers=dict(ahdr, **{'X-Container-Meta-Owner': 'me'}))
chdr = {'X-Container-Host': '127.0.0.1:%d' % cport, 'X-Container-Device': 'sda1', 'X-Container-Partition': '5'}
names = ['a.jpg', 'dir/b.jpg', 'dir/c.jpg', 'dir2/d', 'e\u00e9.png']
for n in names:
    dc.direct_put_object(onode, 1, acct, 'photos', n, b'data-' + n.encode(), content_type='image/jpeg', headers=chdr)
hdrs, listing = dc.direct_get_container(cnode, 5, acct, 'photos')
out['names'] = [o['name'] for o in listing]
out['bytes'] = sum(o['bytes'] for o in listing)
out['count'] = hdrs['X-Container-Object-Count']
out['owner'] = hdrs.get('X-Container-Meta-Owner')
hdrs, listing = dc.direct_get_container(cnode, 5, acct, 'photos', delimiter='/')
out['delim'] = [o.get('name') or o.get('subdir') for o in listing]
hdrs, listing = dc.direct_get_container(cnode, 5, acct, 'photos', prefix='dir/', marker='dir/b.jpg')
out['prefix_marker'] = [o['name'] for o in listing]
hdrs, listing = dc.direct_get_container(cnode, 5, acct, 'photos', limit=2, reverse='true')
out['reverse'] = [o['name'] for o in listing]
hdrs, listing = dc.direct_get_container(cnode, 5, acct, 'photos', end_marker='dir/c.jpg')
out['end_marker'] = [o['name'] for o in listing]
dc.direct_delete_object(onode, 1, acct, 'photos', 'a.jpg', headers=chdr)
h = dc.direct_head_container(cnode, 5, acct, 'photos')
out['count_after_delete'] = h['X-Container-Object-Count']
# Report the new stats to the account (a container PUT carries them), then list.
dc.direct_put_container(cnode, 5, acct, 'photos', headers=ahdr)
dc.direct_put_container(cnode, 5, acct, 'empty', headers=ahdr)
hdrs, listing = dc.direct_get_account(anode, 2, acct)
out['containers'] = [(c['name'], c['count'], c['bytes']) for c in listing]
out['acct_objects'] = hdrs['X-Account-Object-Count']
out['acct_containers'] = hdrs['X-Account-Container-Count']
out['policy_hdr'] = hdrs.get('X-Account-Storage-Policy-Gold-Object-Count')
try:
    dc.direct_delete_container(cnode, 5, acct, 'photos', headers=ahdr)
    out['delete_nonempty'] = 204
except ClientException as e:
    out['delete_nonempty'] = e.http_status
dc.direct_delete_container(cnode, 5, acct, 'empty', headers=ahdr)
hdrs, listing = dc.direct_get_account(anode, 2, acct)
out['containers_after'] = [c['name'] for c in listing]
print(json.dumps(out))
"#;

#[test]
fn swift_direct_client_lists_our_containers_and_accounts() {
    let site = Site::new();
    let acct = spawn(&site, "account", "");
    let cont = spawn(&site, "container", "");
    let obj = spawn(&site, "object", "");
    let out = common::run_swift_python(
        SCRIPT,
        &[
            &acct.port.to_string(),
            &cont.port.to_string(),
            &obj.port.to_string(),
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["names"],
        serde_json::json!(["a.jpg", "dir/b.jpg", "dir/c.jpg", "dir2/d", "e\u{e9}.png"])
    );
    assert_eq!(v["count"], "5");
    assert_eq!(v["owner"], "me");
    assert_eq!(v["bytes"], 5 * 5 + 5 + 9 + 9 + 6 + 7);
    assert_eq!(
        v["delim"],
        serde_json::json!(["a.jpg", "dir/", "dir2/", "e\u{e9}.png"])
    );
    assert_eq!(v["prefix_marker"], serde_json::json!(["dir/c.jpg"]));
    assert_eq!(v["reverse"], serde_json::json!(["e\u{e9}.png", "dir2/d"]));
    assert_eq!(v["end_marker"], serde_json::json!(["a.jpg", "dir/b.jpg"]));
    assert_eq!(v["count_after_delete"], "4");
    assert_eq!(
        v["containers"],
        serde_json::json!([["empty", 0, 0], ["photos", 4, 5 * 4 + 9 + 9 + 6 + 7]])
    );
    assert_eq!(v["acct_objects"], "4");
    assert_eq!(v["acct_containers"], "2");
    assert_eq!(v["policy_hdr"], "4");
    assert_eq!(v["delete_nonempty"], 409);
    assert_eq!(v["containers_after"], serde_json::json!(["photos"]));

    // Swift's own tools read our databases.
    for (tool, dir, expect) in [
        (
            "swift-container-info",
            "containers",
            vec![
                "Account: .test_acct",
                "Container: photos",
                "Object Count: 4",
                "X-Container-Meta-Owner: me",
            ],
        ),
        (
            "swift-account-info",
            "accounts",
            vec![
                "Account: .test_acct",
                "Container Count: 1",
                "Object Count: 4",
            ],
        ),
    ] {
        let db = find_file(&site.devices().join("sda1").join(dir), ".db");
        let text = common::swift_info(tool, &site.etc(), &db);
        for e in expect {
            assert!(text.contains(e), "{tool} output lacks {e:?}:\n{text}");
        }
    }
}

/// A container's reports reach an account out of order (the updater read
/// the container before its DELETE and reports after it): our account
/// server keeps the newest timestamps and the deletion, as Swift's does.
#[test]
fn stale_container_reports_do_not_revive_a_deleted_container() {
    let site = Site::new();
    let ours = spawn(&site, "account", "");
    let swift_devices = site.root().join("swift-node");
    std::fs::create_dir_all(swift_devices.join("sda1")).unwrap();
    let swift = server_util::spawn_swift(
        &common::swift_python(),
        &site,
        "account",
        &swift_devices,
        "",
    );
    let reports: [(&str, &str, &str, &str); 5] = [
        // container, put, delete, objects
        ("kept", "1700000001.00000", "0", "0"),
        ("gone", "1700000001.00000", "0", "0"),
        ("gone", "1700000001.00000", "1700000009.00000", "0"),
        // The stale report, after the deletion.
        ("gone", "1700000001.00000", "0", "0"),
        ("kept", "1700000001.00000", "0", "3"),
    ];
    let mut listings = Vec::new();
    for port in [ours.port, swift.port] {
        let (st, ..) = server_util::http(
            port,
            "PUT",
            "/sda1/7/AUTH_a",
            &[("X-Timestamp", "1700000000.00000")],
            b"",
        );
        assert_eq!(st, 201, "port {port}");
        for (c, put, del, objects) in reports {
            let (st, ..) = server_util::http(
                port,
                "PUT",
                &format!("/sda1/7/AUTH_a/{c}"),
                &[
                    ("X-Put-Timestamp", put),
                    ("X-Delete-Timestamp", del),
                    ("X-Object-Count", objects),
                    ("X-Bytes-Used", "0"),
                ],
                b"",
            );
            assert!((200..300).contains(&st), "port {port}: {st}");
        }
        let (st, h, body) = server_util::http(port, "GET", "/sda1/7/AUTH_a?format=json", &[], b"");
        assert_eq!(st, 200, "port {port}");
        let count = h
            .iter()
            .find(|(k, _)| k == "x-account-container-count")
            .map(|(_, v)| v.clone());
        let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        listings.push((names.join(","), count));
    }
    assert_eq!(listings[0], listings[1], "ours, then Swift's");
    assert_eq!(listings[0].0, "kept");
}
