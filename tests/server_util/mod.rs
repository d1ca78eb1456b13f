//! Helpers for server tests: temp devices, configs, spawned server binaries.
#![allow(dead_code)]

// Test binaries that also load aio_util load these helpers twice; harmless.
#[allow(clippy::duplicate_mod)]
#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferroswift::conf::ring_file::save_ring;
use ferroswift::ring::builder::edit::NewDevice;
use ferroswift::ring::builder::RingBuilder;
use ferroswift::ring::codec::RingFormat;
use ferroswift::ring::Ring;

pub const HASH_SUFFIX: &str = "ferrotest";

/// A temp tree: `<root>/node/sda1` devices and `<root>/etc/swift.conf`.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("node/sda1")).unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/swift.conf"),
            format!("[swift-hash]\nswift_hash_path_suffix = {HASH_SUFFIX}\nswift_hash_path_prefix =\n\n[storage-policy:0]\nname = gold\ndefault = yes\n\n[storage-policy:1]\nname = silver\n"),
        )
        .unwrap();
        ferroswift::storage::metadata::check_xattr_support(dir.path())
            .expect("server tests need a filesystem with user xattrs");
        Site { dir }
    }
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn devices(&self) -> PathBuf {
        self.root().join("node")
    }
    pub fn etc(&self) -> PathBuf {
        self.root().join("etc")
    }
}

/// Writes the site's `etc/<name>.ring.gz` and returns the ring: partition
/// power 4, a replica per `(port, device)` on 127.0.0.1, each device in a
/// zone of its own, placed by a rebalance seeded with `seed`.
pub fn loopback_ring(site: &Site, name: &str, devs: &[(u16, &str)], seed: u64) -> Ring {
    use rand::SeedableRng;
    let mut b = RingBuilder::new(4, devs.len() as f64, 1).unwrap();
    for (i, (port, dev)) in devs.iter().enumerate() {
        b.add_dev(NewDevice {
            id: Some(i as u32),
            region: 1,
            zone: i as u32 + 1,
            ip: "127.0.0.1".into(),
            port: *port,
            replication_ip: "127.0.0.1".into(),
            replication_port: *port,
            device: dev.to_string(),
            meta: String::new(),
            weight: 1.0,
        })
        .unwrap();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    b.rebalance(0, &mut rng).unwrap();
    let data = b.get_ring();
    let path = site.etc().join(format!("{name}.ring.gz"));
    save_ring(path, &data, RingFormat::V1).unwrap();
    Ring::new(data).unwrap()
}

/// The user running the tests (Swift's servers and daemons switch to `user`).
pub fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub use common::{files_under, free_port};

/// A running server binary, killed on drop.
pub struct Running {
    pub child: Child,
    pub port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Writes `<kind>-server.conf` and starts the binary; waits for `/healthcheck`.
pub fn spawn(site: &Site, kind: &str, extra: &str) -> Running {
    spawn_on(site, kind, extra, free_port())
}

/// `spawn` on a given port (e.g. one a ring already names).
pub fn spawn_on(site: &Site, kind: &str, extra: &str, port: u16) -> Running {
    let conf = site.etc().join(format!("{kind}-server-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\ndevices = {}\nmount_check = false\nworkers = 1\nswift_dir = {}\nlog_level = WARNING\n\n\
             [pipeline:main]\npipeline = healthcheck recon {kind}-server\n\n[app:{kind}-server]\nuse = egg:swift#{kind}\n{extra}\n\n\
             [filter:healthcheck]\nuse = egg:swift#healthcheck\n\n[filter:recon]\nuse = egg:swift#recon\n",
            site.devices().display(),
            site.etc().display()
        ),
    )
    .unwrap();
    let bin = match kind {
        "object" => env!("CARGO_BIN_EXE_swift-object-server"),
        "container" => env!("CARGO_BIN_EXE_swift-container-server"),
        _ => env!("CARGO_BIN_EXE_swift-account-server"),
    };
    start(bin, &conf, port)
}

/// Starts our server binary `bin` with `conf`, which has it listen on
/// `port`, and waits for its `/healthcheck` to answer 200.
pub fn start(bin: &str, conf: &Path, port: u16) -> Running {
    let child = Command::new(bin)
        .arg(conf)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running { child, port };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthcheck HTTP/1.0\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if out.contains("200") {
                return running;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{bin} did not come up on port {port}");
}

/// Swift's own `<kind>` server (`object`, `container`, `account`), run by
/// the oracle's `python` over `devices`, with `extra` lines in its app
/// section; killed on drop.
pub fn spawn_swift(python: &Path, site: &Site, kind: &str, devices: &Path, extra: &str) -> Running {
    let port = free_port();
    let conf = site.etc().join(format!("swift-{kind}-server-{port}.conf"));
    let user = current_user();
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ndevices = {}\nmount_check = false\nbind_ip = 127.0.0.1\nbind_port = {port}\n\
             workers = 0\nswift_dir = {}\nuser = {}\nlog_level = WARNING\n\n\
             [pipeline:main]\npipeline = {kind}-server\n\n[app:{kind}-server]\nuse = egg:swift#{kind}\n{extra}\n",
            devices.display(),
            site.etc().display(),
            user.trim()
        ),
    )
    .unwrap();
    let bin = python
        .parent()
        .unwrap()
        .join(format!("swift-{kind}-server"));
    let child = Command::new(python)
        .arg(bin)
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running { child, port };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "Swift's {kind} server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    running
}

/// One HTTP/1.0 request to 127.0.0.1:`port`; returns the status, headers
/// (lower-cased names) and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let start = format!("{method} {path} HTTP/1.0\r\n");
    s.write_all(&common::request_head(start.as_bytes(), body.len(), headers))
        .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = common::head_end(&out).unwrap_or(out.len());
    let (status, hdrs) = common::parse_head(&out[..split]);
    (
        status.unwrap_or(0),
        hdrs,
        out.get(split + 4..).unwrap_or_default().to_vec(),
    )
}

/// The first file below `dir` whose path ends with `suffix`.
pub fn find_file(dir: &Path, suffix: &str) -> PathBuf {
    files_under(dir)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .unwrap_or_else(|| panic!("no *{suffix} under {}", dir.display()))
}
