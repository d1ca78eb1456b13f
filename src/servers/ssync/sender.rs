//! The replicator's side of ssync: pushes the objects of some suffixes of
//! a local partition to one node, over one blocking HTTP/1.1 connection
//! with a hand-written chunked body (the protocol interleaves our body
//! with the node's streamed answer, which ordinary clients do not allow).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use super::{decode_wanted, encode_missing, local_object, quote, read_meta, LocalObject, Wanted};
use crate::storage::diskfile::quarantine_dir;
use crate::storage::hashpath::hex;
use crate::storage::Timestamp;

/// Where to push: a device on a node's replication address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub ip: String,
    pub port: u16,
    pub device: String,
}

/// What to push from: one local partition.
#[derive(Debug, Clone)]
pub struct Source {
    pub dev_path: PathBuf,
    pub policy: u32,
    pub partition: String,
}

/// `conn_timeout` (connect), `node_timeout` (each send) and `http_timeout`
/// (each wait for the node's answer).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub conn: Duration,
    pub node: Duration,
    pub http: Duration,
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum SsyncError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
}

fn protocol<T>(msg: impl Into<String>) -> Result<T, SsyncError> {
    Err(SsyncError::Protocol(msg.into()))
}

/// The objects of some suffixes of a partition with their files.
pub fn yield_hashes(part_dir: &Path, suffixes: &[String]) -> Vec<(String, LocalObject)> {
    let mut out = Vec::new();
    for sfx in suffixes {
        let Ok(rd) = fs::read_dir(part_dir.join(sfx)) else {
            continue;
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for hash in names {
            if let Some(obj) = local_object(&part_dir.join(sfx).join(&hash)) {
                out.push((hash, obj));
            }
        }
    }
    out
}

/// The node's answer: a response body read line by line, chunked or not.
struct Answer {
    r: BufReader<TcpStream>,
    chunked: bool,
    /// Bytes left in the current chunk; `None` at the end of the body.
    left: Option<u64>,
    pending: Vec<u8>,
}

impl Answer {
    fn more(&mut self) -> Result<bool, SsyncError> {
        let Some(mut left) = self.left else {
            return Ok(false);
        };
        if self.chunked && left == 0 {
            let mut size = String::new();
            if self.r.read_line(&mut size)? == 0 {
                return protocol("Early disconnect");
            }
            let size = size.split(';').next().unwrap_or("").trim();
            left = u64::from_str_radix(size, 16).or_else(|_| protocol("Early disconnect"))?;
            if left == 0 {
                self.left = None;
                return Ok(false);
            }
        }
        let want = if self.chunked {
            left.min(65_536)
        } else {
            65_536
        };
        let mut buf = vec![0u8; want as usize];
        let n = self.r.read(&mut buf)?;
        if n == 0 {
            self.left = None;
            if self.chunked {
                return protocol("Early disconnect");
            }
            return Ok(false);
        }
        self.pending.extend_from_slice(&buf[..n]);
        if self.chunked {
            left -= n as u64;
            if left == 0 {
                let mut crlf = [0u8; 2];
                self.r.read_exact(&mut crlf)?;
            }
        }
        self.left = Some(left);
        Ok(true)
    }

    /// The next line, trimmed; `None` at the end of the answer.
    fn line(&mut self) -> Result<Option<String>, SsyncError> {
        loop {
            if let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                let l: Vec<u8> = self.pending.drain(..=i).collect();
                return Ok(Some(String::from_utf8_lossy(&l).trim().to_string()));
            }
            if !self.more()? {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                let l = std::mem::take(&mut self.pending);
                return Ok(Some(String::from_utf8_lossy(&l).trim().to_string()));
            }
        }
    }

    /// Skips blank lines up to `marker`; anything else is an error.
    fn expect(&mut self, marker: &str) -> Result<(), SsyncError> {
        loop {
            match self.line()? {
                None => return protocol("Early disconnect"),
                Some(l) if l == marker => return Ok(()),
                Some(l) if l.is_empty() => {}
                Some(l) => return protocol(format!("Unexpected response: {l:?}")),
            }
        }
    }
}

/// Reads an answer's status line and headers: the status, whether the
/// body is chunked, and its `Content-Length`.
fn read_head(r: &mut BufReader<TcpStream>) -> Result<(u16, bool, Option<u64>), SsyncError> {
    let mut status = String::new();
    r.read_line(&mut status)?;
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| SsyncError::Protocol(format!("bad status line {status:?}")))?;
    let (mut chunked, mut length) = (false, None);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse::<u64>().ok();
            }
        }
    }
    Ok((code, chunked, length))
}

fn chunk(w: &mut impl Write, data: &[u8]) -> std::io::Result<()> {
    write!(w, "{:x}\r\n", data.len())?;
    w.write_all(data)?;
    w.write_all(b"\r\n")
}

/// Opens `SSYNC /<dev>/<part>` and reads the status and headers.
fn connect(
    target: &Target,
    src: &Source,
    t: &Timeouts,
) -> Result<(BufWriter<TcpStream>, Answer), SsyncError> {
    let addr = (target.ip.as_str(), target.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| SsyncError::Protocol(format!("cannot resolve {}", target.ip)))?;
    let stream = TcpStream::connect_timeout(&addr, t.conn)?;
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(t.node))?;
    stream.set_read_timeout(Some(t.http))?;
    let mut w = BufWriter::with_capacity(256 * 1024, stream.try_clone()?);
    write!(
        w,
        "SSYNC /{}/{} HTTP/1.1\r\nHost: {}:{}\r\nAccept-Encoding: identity\r\n\
         Transfer-Encoding: chunked\r\nX-Backend-Storage-Policy-Index: {}\r\n\r\n",
        target.device, src.partition, target.ip, target.port, src.policy
    )?;
    w.flush()?;
    let mut r = BufReader::new(stream);
    let (code, chunked, length) = read_head(&mut r)?;
    let mut answer = Answer {
        r,
        chunked,
        left: Some(0),
        pending: Vec::new(),
    };
    if code != 200 {
        let mut body = Vec::new();
        if chunked {
            while answer.more().unwrap_or(false) && answer.pending.len() < 1024 {}
            body = answer.pending;
        } else if let Some(n) = length {
            let mut b = vec![0u8; n.min(1024) as usize];
            let _ = answer.r.read_exact(&mut b);
            body = b;
        }
        return protocol(format!(
            "Expected status 200; got {code} ({})",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok((w, answer))
}

/// Pushes the objects of `suffixes` to `target`. Returns the objects the
/// target now has (hash → data/tombstone timestamp). With `remote_check`,
/// only those hashes are checked and nothing is sent.
pub fn sync(
    target: &Target,
    src: &Source,
    suffixes: &[String],
    remote_check: Option<&HashSet<String>>,
    t: &Timeouts,
) -> Result<BTreeMap<String, Timestamp>, SsyncError> {
    if suffixes.is_empty() {
        return Ok(BTreeMap::new());
    }
    let part_dir = crate::storage::hashes::partition_dir(&src.dev_path, src.policy, &src.partition);
    let (mut w, mut answer) = connect(target, src, t)?;
    chunk(&mut w, b":MISSING_CHECK: START\r\n")?;
    let mut available = BTreeMap::new();
    for (hash, obj) in yield_hashes(&part_dir, suffixes) {
        if remote_check.is_some_and(|c| !c.contains(&hash)) {
            continue;
        }
        chunk(
            &mut w,
            format!("{}\r\n", encode_missing(&hash, &obj.stamps)).as_bytes(),
        )?;
        available.insert(hash, obj.stamps.ts_data);
    }
    chunk(&mut w, b":MISSING_CHECK: END\r\n")?;
    w.flush()?;
    answer.expect(":MISSING_CHECK: START")?;
    let mut send: Vec<(String, Wanted)> = Vec::new();
    loop {
        match answer.line()? {
            None => return protocol("Early disconnect"),
            Some(l) if l == ":MISSING_CHECK: END" => break,
            Some(l) => {
                let mut parts = l.split_whitespace();
                if let Some(h) = parts.next() {
                    send.push((h.to_string(), decode_wanted(parts.next())));
                }
            }
        }
    }
    if let Some(_check) = remote_check {
        let _ = chunk(&mut w, b"");
        let _ = w.flush();
        let wanted: HashSet<&String> = send.iter().map(|(h, _)| h).collect();
        return Ok(available
            .into_iter()
            .filter(|(h, _)| !wanted.contains(h))
            .collect());
    }
    chunk(&mut w, b":UPDATES: START\r\n")?;
    for (hash, want) in &send {
        let hash = super::unquote(hash);
        if hash.len() < 3 {
            continue;
        }
        let dir = part_dir.join(&hash[hash.len() - 3..]).join(&hash);
        send_updates(&mut w, src, &dir, *want)?;
    }
    chunk(&mut w, b":UPDATES: END\r\n")?;
    w.flush()?;
    answer.expect(":UPDATES: START")?;
    answer.expect(":UPDATES: END")?;
    let _ = chunk(&mut w, b"");
    let _ = w.flush();
    Ok(available)
}

fn subrequest(
    w: &mut impl Write,
    method: &str,
    path: &str,
    headers: &BTreeMap<String, String>,
) -> std::io::Result<()> {
    let mut msg = format!("{method} {path}").into_bytes();
    for (k, v) in headers {
        // Metadata values go out byte for byte, as Swift's sender sends them.
        msg.extend_from_slice(format!("\r\n{k}: ").as_bytes());
        msg.extend_from_slice(&crate::storage::metadata::to_header_bytes(v));
    }
    msg.extend_from_slice(b"\r\n\r\n");
    chunk(w, &msg)
}

/// Sends what the node wants of one object (nothing if it is gone).
fn send_updates(
    w: &mut impl Write,
    src: &Source,
    dir: &Path,
    want: Wanted,
) -> Result<(), SsyncError> {
    let Some(obj) = local_object(dir) else {
        return Ok(());
    };
    if obj.deleted {
        if want.data {
            let ts = obj.stamps.ts_data;
            let meta = read_meta(&dir.join(format!("{}.ts", ts.internal())));
            let Some(name) = meta.as_ref().and_then(|m| m.get("name")) else {
                return Ok(());
            };
            let mut h = BTreeMap::new();
            h.insert("X-Timestamp".to_string(), ts.internal());
            subrequest(w, "DELETE", &quote(name), &h)?;
        }
        return Ok(());
    }
    let data_path = dir.join(format!("{}.data", obj.stamps.ts_data.internal()));
    let Some(data_meta) = read_meta(&data_path) else {
        return Ok(());
    };
    let Some(name) = data_meta.get("name").cloned() else {
        return Ok(());
    };
    let path = quote(&name);
    if want.data {
        send_put(w, src, dir, &data_path, &data_meta, &path)?;
    }
    if want.meta {
        if let Some(mt) = obj.files.meta {
            if let Some(meta) = read_meta(&dir.join(format!("{}.meta", mt.internal()))) {
                subrequest(w, "POST", &path, &meta)?;
            }
        }
    }
    Ok(())
}

/// A PUT with the data file's metadata and body. A body that does not
/// match its ETag is quarantined here and the push fails.
fn send_put(
    w: &mut impl Write,
    src: &Source,
    dir: &Path,
    data_path: &Path,
    meta: &BTreeMap<String, String>,
    path: &str,
) -> Result<(), SsyncError> {
    let mut f = File::open(data_path)?;
    let length: u64 = meta
        .get("Content-Length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(f.metadata()?.len());
    let mut headers: BTreeMap<String, String> = meta
        .iter()
        .filter(|(k, _)| k.as_str() != "name" && k.as_str() != "Content-Length")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    headers.insert("Content-Length".into(), length.to_string());
    subrequest(w, "PUT", path, &headers)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 65_536];
    let mut sent = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        chunk(w, &buf[..n])?;
        sent += n as u64;
    }
    let etag = meta.get("ETag").map(|e| e.to_ascii_lowercase());
    if sent != length || etag.is_some_and(|e| e != hex(&md5.finalize())) {
        let q = quarantine_dir(&src.dev_path, dir, src.policy);
        return protocol(format!(
            "{} does not match its metadata; quarantined ({q:?})",
            data_path.display()
        ));
    }
    Ok(())
}

/// `REPLICATE /<dev>/<part>[/<sfx>-<sfx>...]`: the node's suffix hashes
/// (or, with suffixes, asks it to rehash them). Returns status and body.
pub fn replicate(
    target: &Target,
    partition: &str,
    policy: u32,
    suffixes: &[String],
    t: &Timeouts,
) -> Result<(u16, Vec<u8>), SsyncError> {
    let addr = (target.ip.as_str(), target.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| SsyncError::Protocol(format!("cannot resolve {}", target.ip)))?;
    let mut stream = TcpStream::connect_timeout(&addr, t.conn)?;
    stream.set_write_timeout(Some(t.node))?;
    stream.set_read_timeout(Some(t.http))?;
    let tail = if suffixes.is_empty() {
        String::new()
    } else {
        format!("/{}", suffixes.join("-"))
    };
    write!(
        stream,
        "REPLICATE /{}/{partition}{tail} HTTP/1.1\r\nHost: {}:{}\r\nContent-Length: 0\r\n\
         X-Backend-Storage-Policy-Index: {policy}\r\nUser-Agent: object-replicator {}\r\n\
         Connection: close\r\n\r\n",
        target.device,
        target.ip,
        target.port,
        std::process::id()
    )?;
    let mut r = BufReader::new(stream);
    let (code, chunked, length) = read_head(&mut r)?;
    let body = if chunked {
        let mut a = Answer {
            r,
            chunked: true,
            left: Some(0),
            pending: Vec::new(),
        };
        while a.more()? {}
        a.pending
    } else if let Some(n) = length {
        let mut b = vec![0u8; n as usize];
        r.read_exact(&mut b)?;
        b
    } else {
        let mut b = Vec::new();
        r.read_to_end(&mut b)?;
        b
    };
    Ok((code, body))
}
