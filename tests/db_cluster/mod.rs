//! A small cluster of account or container servers for replication tests:
//! one server per node on 127.0.0.1, one device each, a 3-replica ring
//! built with our ring builder, and each node's config with its
//! `[<type>-replicator]` section.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../common/mod.rs"]
mod common;
pub use common::*;

use ferroswift::conf::ring_file::save_ring;
use ferroswift::ring::codec::RingFormat;
use ferroswift::ring::Device;

pub const SUFFIX: &str = "dbrepltest";

/// One storage node.
pub struct Node {
    pub port: u16,
    pub device: String,
    pub devices: PathBuf,
    pub conf: PathBuf,
    pub recon: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL of `path` (empty, or starting with `/`) in partition `part`
    /// of this node's device.
    pub fn part_url(&self, part: u32, path: &str) -> String {
        format!("{}/{}/{part}{path}", self.url(), self.device)
    }
}

/// A temp directory with a ring, configs and (started) servers.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub kind: &'static str,
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// `n` nodes serving `kind` (`container` or `account`), not started.
    pub fn new(kind: &'static str, n: u16) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("swift.conf"),
            format!("[swift-hash]\nswift_hash_path_suffix = {SUFFIX}\nswift_hash_path_prefix =\n\n[storage-policy:0]\nname = gold\ndefault = yes\n"),
        )
        .unwrap();
        let mut nodes = Vec::new();
        let mut devs = Vec::new();
        for i in 1..=n {
            let port = common::free_port();
            let device = format!("d{i}");
            let devices = dir.path().join(format!("node{i}"));
            std::fs::create_dir_all(devices.join(&device)).unwrap();
            let recon = dir.path().join(format!("cache{i}"));
            std::fs::create_dir_all(&recon).unwrap();
            let conf = etc.join(format!("{kind}-server-{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\ndevices = {}\nmount_check = false\n\
                     workers = 1\nswift_dir = {}\nlog_level = WARNING\nrecon_cache_path = {}\n\n\
                     [pipeline:main]\npipeline = {kind}-server\n\n[app:{kind}-server]\nuse = egg:swift#{kind}\n\n\
                     [{kind}-replicator]\nconcurrency = 2\nper_diff = 5\nmax_diffs = 100\ndatabases_per_second = 1000\n\
                     node_timeout = 5\n",
                    devices.display(),
                    etc.display(),
                    recon.display()
                ),
            )
            .unwrap();
            devs.push(Device {
                id: u32::from(i - 1),
                region: 1,
                zone: u32::from(i),
                ip: "127.0.0.1".into(),
                port,
                replication_ip: "127.0.0.1".into(),
                replication_port: port,
                device: device.clone(),
                meta: String::new(),
                weight: 1.0,
                extra: Default::default(),
            });
            nodes.push(Node {
                port,
                device,
                devices,
                conf,
                recon,
                child: None,
            });
        }
        let ring = ferroswift::aio::rings::build(devs, 8, &etc.join(format!("{kind}.builder")), 0)
            .expect("build ring");
        save_ring(etc.join(format!("{kind}.ring.gz")), &ring, RingFormat::V1).unwrap();
        Cluster { dir, kind, nodes }
    }

    pub fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// Starts node `i`'s server (0-based) and waits until it answers.
    pub fn start(&mut self, i: usize) {
        let bin = bin(&format!("swift-{}-server", self.kind));
        let node = &mut self.nodes[i];
        let child = Command::new(bin)
            .arg(&node.conf)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        node.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", node.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// Runs node `i`'s replicator once; panics on failure.
    pub fn replicate(&self, i: usize) -> String {
        let replicator = bin(&format!("swift-{}-replicator", self.kind));
        common::run_once(replicator, &self.nodes[i].conf, &["-v"])
    }

    /// Partition and primary node indexes of a name, per the ring.
    pub fn locate(&self, account: &str, container: Option<&str>) -> (u32, Vec<usize>) {
        let data = ferroswift::conf::ring_file::load_ring(
            self.etc().join(format!("{}.ring.gz", self.kind)),
        )
        .unwrap();
        let ring = ferroswift::ring::Ring::new(data).unwrap();
        let hash = ferroswift::ring::hash::HashPathConf {
            prefix: Vec::new(),
            suffix: SUFFIX.as_bytes().to_vec(),
        };
        let part = ring.get_part(&hash, account, container, None).unwrap();
        let nodes = ring
            .get_part_nodes(part)
            .iter()
            .map(|n| n.device.id as usize)
            .collect();
        (part, nodes)
    }

    /// The on-disk database of a name on node `i`, if there is one.
    pub fn db_file(&self, i: usize, part: u32, account: &str, container: Option<&str>) -> PathBuf {
        let salt = ferroswift::ring::hash::HashPathConf::new("", SUFFIX);
        let hash = salt.hash_path_hex(account, container, None).unwrap();
        let node = &self.nodes[i];
        let kind = if self.kind == "container" {
            ferroswift::storage::broker::DbKind::Container
        } else {
            ferroswift::storage::broker::DbKind::Account
        };
        ferroswift::storage::broker::db_path(
            &node.devices.join(&node.device),
            kind,
            &part.to_string(),
            &hash,
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// A fresh `X-Timestamp` value.
pub fn ts() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    std::thread::sleep(Duration::from_millis(2));
    format!("{t:.5}")
}

/// Names listed by a container (or account) GET on node `i`, with `?format=json`.
pub fn listing(c: &Cluster, i: usize, part: u32, path: &str) -> Vec<serde_json::Value> {
    let n = &c.nodes[i];
    let (st, _, body) = http(
        "GET",
        &n.part_url(part, &format!("{path}?format=json")),
        &[],
        Vec::new(),
    );
    assert!(st == 200 || st == 204, "GET {path} on node {i}: {st}");
    serde_json::from_slice(&body).unwrap_or_default()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
