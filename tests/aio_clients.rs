//! The all-in-one cluster driven by real clients: python-swiftclient's
//! `swift` CLI (upload, list, download with MD5 checks, stat, delete,
//! including a 100 MiB object and a pseudo-directory tree), and a fault test
//! that kills a storage node during a stream of PUTs.

mod aio_util;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use aio_util::{check, md5_hex, one_cluster_at_a_time, Aio};

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn write_file(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(path)
        .unwrap()
        .write_all(data)
        .unwrap();
}

#[test]
fn swift_cli_upload_list_download_stat_delete() {
    let _turn = one_cluster_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::run(&tmp.path().join("aio"));
    let src = tmp.path().join("src");
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, name) in [
        "tree/a.txt",
        "tree/b/c.txt",
        "tree/b/d/e.bin",
        "tree/f g.txt",
        "tree/ü.txt",
    ]
    .iter()
    .enumerate()
    {
        files.insert(
            name.to_string(),
            pseudo_random(1000 * (i + 1) + 7, i as u64 + 1),
        );
    }
    files.insert("big.bin".into(), pseudo_random(100 << 20, 99));
    for (name, data) in &files {
        write_file(&src.join(name), data);
    }
    let swift = |args: &[&str]| {
        let mut c = aio.swift("test:tester", "testing");
        c.current_dir(&src).args(args);
        check(&mut c)
    };
    swift(&["upload", "photos", "tree", "big.bin"]);
    let listing = swift(&["list", "photos"]);
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(names, files.keys().map(String::as_str).collect::<Vec<_>>());
    let top = swift(&["list", "photos", "--delimiter", "/"]);
    assert_eq!(top.lines().collect::<Vec<_>>(), ["big.bin", "tree/"]);
    let sub = swift(&["list", "photos", "--prefix", "tree/b/", "--delimiter", "/"]);
    assert_eq!(
        sub.lines().collect::<Vec<_>>(),
        ["tree/b/c.txt", "tree/b/d/"]
    );
    assert_eq!(swift(&["list"]).trim(), "photos");

    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut c = aio.swift("test:tester", "testing");
    c.current_dir(&out).args(["download", "photos"]);
    let log = check(&mut c);
    for (name, data) in &files {
        let got = std::fs::read(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}\n{log}"));
        assert_eq!(md5_hex(&got), md5_hex(data), "{name}");
    }
    let stat = swift(&["stat", "photos", "big.bin"]);
    assert!(stat.contains("Content Length: 104857600"), "{stat}");
    assert!(
        stat.contains(&format!("ETag: {}", md5_hex(&files["big.bin"]))),
        "{stat}"
    );
    let stat = swift(&["stat", "photos"]);
    assert!(
        stat.contains(&format!("Objects: {}", files.len())),
        "{stat}"
    );
    let acct = swift(&["stat"]);
    assert!(acct.contains("Containers: 1"), "{acct}");

    swift(&["delete", "photos", "tree/a.txt"]);
    assert!(!swift(&["list", "photos"]).contains("tree/a.txt"));
    swift(&["delete", "photos"]);
    assert_eq!(swift(&["list"]).trim(), "");
    // Another account's user cannot read test's containers.
    let mut c = aio.swift("test2:tester2", "testing2");
    c.args([
        "list",
        "--os-storage-url",
        &format!("http://127.0.0.1:{}/v1/AUTH_test", aio.port),
    ]);
    assert!(!c.output().unwrap().status.success());
}

#[test]
fn kill_a_storage_node_during_puts() {
    let _turn = one_cluster_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::run(&tmp.path().join("aio"));
    let (url, token) = aio.auth_token("test:tester", "testing");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    rt.block_on(async {
        let r = client
            .put(format!("{url}/faults"))
            .header("x-auth-token", &token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    });
    let victim = aio.server_pid("object", 2).expect("object server 2 pid");
    let mut acked: Vec<(String, Vec<u8>)> = Vec::new();
    let mut failed = Vec::new();
    for i in 0..120u64 {
        if i == 40 {
            // SAFETY: kill(2) on a child of our cluster; no memory is involved.
            unsafe {
                libc::kill(victim, libc::SIGKILL);
            }
        }
        let name = format!("obj-{i:03}");
        let data = pseudo_random(1 + (i as usize * 7919) % 200_000, i + 5);
        let status = rt.block_on(async {
            client
                .put(format!("{url}/faults/{name}"))
                .header("x-auth-token", &token)
                .body(data.clone())
                .send()
                .await
                .map(|r| r.status().as_u16().to_string())
                .unwrap_or_else(|e| format!("{e:?}"))
        });
        if status == "201" {
            acked.push((name, data));
        } else {
            failed.push(format!("{name}: {status}"));
        }
    }
    assert!(
        acked.len() >= 110,
        "only {} of 120 PUTs acknowledged:\n{}\n{}",
        acked.len(),
        failed.join("\n"),
        aio.logs()
    );
    let read_all = |phase: &str| {
        rt.block_on(async {
            for (name, data) in &acked {
                let r = client
                    .get(format!("{url}/faults/{name}"))
                    .header("x-auth-token", &token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{phase}: {name}");
                let body = r.bytes().await.unwrap();
                assert_eq!(md5_hex(&body), md5_hex(data), "{phase}: {name}");
            }
        })
    };
    read_all("node down");
    // The cluster restarts the node; wait until it is back, then read again.
    let mut back = false;
    for _ in 0..100 {
        if aio.server_pid("object", 2).is_some_and(|p| p != victim)
            && std::net::TcpStream::connect(("127.0.0.1", aio.base_port + 20)).is_ok()
        {
            back = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(back, "object server 2 did not come back\n{}", aio.logs());
    read_all("node back");
}
