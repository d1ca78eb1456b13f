//! Helpers for replication tests: several object servers (one device
//! each) under one ring, raw HTTP calls, and where objects sit on disk.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

// Test binaries that also load common or aio_util load these helpers twice; harmless.
#[allow(clippy::duplicate_mod)]
#[path = "../common/mod.rs"]
mod common;
#[path = "../server_util/mod.rs"]
pub mod server_util;

use ferroswift::ring::{Device, Ring};
pub use server_util::{spawn, Running, Site, HASH_SUFFIX};

/// One storage node: its own tree, running object server and config.
pub struct Node {
    pub site: Site,
    pub server: Running,
    pub conf: PathBuf,
    /// The device name (`sd<N>`), unique in the ring as on a real cluster.
    pub device: String,
}

impl Node {
    pub fn port(&self) -> u16 {
        self.server.port
    }
    pub fn dev(&self) -> PathBuf {
        self.site.devices().join(&self.device)
    }
    /// `/<device>/<part><path>` with spaces quoted.
    pub fn url(&self, part: u32, path: &str) -> String {
        format!("/{}/{part}{}", self.device, path.replace(' ', "%20"))
    }
    pub fn recon(&self) -> PathBuf {
        self.site.root().join("recon")
    }
}

/// `n` object servers and a 3-replica ring over them, saved in every node's etc.
pub fn cluster(n: usize, replicator_extra: &str) -> (Vec<Node>, Ring) {
    let mut nodes = Vec::new();
    for i in 0..n {
        let site = Site::new();
        let device = format!("sd{}", i + 1);
        std::fs::create_dir_all(site.devices().join(&device)).unwrap();
        let recon = site.root().join("recon");
        std::fs::create_dir_all(&recon).unwrap();
        let extra = format!(
            "\n[object-replicator]\nrecon_cache_path = {}\n{replicator_extra}\n",
            recon.display()
        );
        let server = spawn(&site, "object", &extra);
        let conf = site
            .etc()
            .join(format!("object-server-{}.conf", server.port));
        nodes.push(Node {
            site,
            server,
            conf,
            device,
        });
    }
    let devs: Vec<Device> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| Device {
            id: i as u32,
            region: 1,
            zone: i as u32 + 1,
            ip: "127.0.0.1".into(),
            port: node.port(),
            replication_ip: "127.0.0.1".into(),
            replication_port: node.port(),
            device: node.device.clone(),
            meta: String::new(),
            weight: 1.0,
            extra: Default::default(),
        })
        .collect();
    let builder = nodes[0].site.root().join("object.builder");
    let data = ferroswift::aio::rings::build(devs, 10, &builder, 1_700_000_000).unwrap();
    for node in &nodes {
        ferroswift::conf::ring_file::save_ring(
            node.site.etc().join("object.ring.gz"),
            &data,
            ferroswift::ring::codec::RingFormat::V1,
        )
        .unwrap();
    }
    (nodes, Ring::new(data).unwrap())
}

/// md5 hex of the salted `/a/c/o`.
pub fn obj_hash(path: &str) -> String {
    let mut h = Md5::new();
    h.update(path.as_bytes());
    h.update(HASH_SUFFIX.as_bytes());
    ferroswift::storage::hashpath::hex(&h.finalize())
}

/// Partition of `/a/c/o` in the ring.
pub fn part_of(ring: &Ring, path: &str) -> u32 {
    let mut h = Md5::new();
    h.update(path.as_bytes());
    h.update(HASH_SUFFIX.as_bytes());
    ring.part_for_digest(&h.finalize().into())
}

/// Ids of the primaries of a partition.
pub fn primaries(ring: &Ring, part: u32) -> Vec<usize> {
    ring.get_part_nodes(part)
        .iter()
        .map(|n| n.device.id as usize)
        .collect()
}

/// `<dev>/objects/<part>/<sfx>/<hash>` for an object.
pub fn obj_dir(dev: &Path, part: u32, path: &str) -> PathBuf {
    let h = obj_hash(path);
    dev.join("objects")
        .join(part.to_string())
        .join(&h[29..])
        .join(&h)
}

/// File names in an object's directory (sorted).
pub fn files(dev: &Path, part: u32, path: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(obj_dir(dev, part, path))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A raw HTTP/1.1 request; returns status and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let (st, _, b) = http_full(port, method, path, headers, body);
    (st, b)
}

/// A raw HTTP/1.1 request; returns status, lower-cased headers and body.
pub fn http_full(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, std::collections::BTreeMap<String, String>, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let start = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    s.write_all(&common::request_head(start.as_bytes(), body.len(), headers))
        .unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let Some(split) = common::head_end(&out) else {
        return (0, Default::default(), out);
    };
    let (status, hdrs) = common::parse_head(&out[..split]);
    let status = status.expect("status line");
    let hdrs: std::collections::BTreeMap<String, String> = hdrs.into_iter().collect();
    let mut rest = out[split + 4..].to_vec();
    if hdrs
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        rest = dechunk(&rest);
    }
    (status, hdrs, rest)
}

/// Decodes a chunked body; a truncated one yields what arrived.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let Some(n) = std::str::from_utf8(&b[..i])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
        else {
            return out;
        };
        if n == 0 {
            return out;
        }
        let Some(chunk) = b.get(i + 2..i + 2 + n) else {
            out.extend_from_slice(&b[i + 2..]);
            return out;
        };
        out.extend_from_slice(chunk);
        b = b.get(i + 4 + n..).unwrap_or(&[]);
    }
}

/// PUTs an object straight onto one node.
pub fn put(node: &Node, part: u32, path: &str, ts: &str, body: &[u8], extra: &[(&str, &str)]) {
    let mut h = vec![("X-Timestamp", ts), ("Content-Type", "application/x-test")];
    h.extend_from_slice(extra);
    let (st, b) = http(node.port(), "PUT", &node.url(part, path), &h, body);
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&b));
}

/// Runs `swift-object-replicator CONF -o` for a node; returns stderr.
pub fn replicate_once(node: &Node) -> String {
    common::run_once(
        env!("CARGO_BIN_EXE_swift-object-replicator"),
        &node.conf,
        &[],
    )
}

/// The node's `object.recon` replication stats.
pub fn recon_stats(node: &Node) -> serde_json::Value {
    let text = std::fs::read_to_string(node.recon().join("object.recon")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["replication_stats"].clone()
}

/// The metadata (xattrs) of one object file.
pub fn read_meta(path: &Path) -> std::collections::BTreeMap<String, String> {
    let f = std::fs::File::open(path).unwrap();
    ferroswift::storage::metadata::read(&f, path).unwrap()
}
