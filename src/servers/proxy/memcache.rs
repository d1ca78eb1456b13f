//! A memcached client compatible with Swift's `MemcacheRing`: keys are the
//! hex MD5 of the cache key, values are JSON with flag 2, and a key's server
//! is found on a consistent-hash ring of 50 points per server.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use md5::{Digest, Md5};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const JSON_FLAG: u32 = 2;
const NODE_WEIGHT: usize = 50;
const IO_TIMEOUT: Duration = Duration::from_secs(1);

fn md5_hex(s: &str) -> String {
    let d = Md5::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Connections to a set of memcached servers.
pub struct Memcache {
    ring: BTreeMap<String, String>,
    idle: Mutex<Vec<(String, BufReader<TcpStream>)>>,
}

impl Memcache {
    /// `servers` as in `memcache_servers`: `host:port` separated by commas.
    pub fn new(servers: &str) -> Memcache {
        let mut list: Vec<String> = servers
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        list.sort();
        let mut ring = BTreeMap::new();
        for s in &list {
            for i in 0..NODE_WEIGHT {
                ring.insert(md5_hex(&format!("{s}-{i}")), s.clone());
            }
        }
        Memcache {
            ring,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The server for a hashed key: the first ring point after it.
    fn server_for(&self, hashed: &str) -> Option<String> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.ring
            .range::<str, _>((Excluded(hashed), Unbounded))
            .next()
            .or_else(|| self.ring.iter().next())
            .map(|(_, s)| s.clone())
    }

    async fn conn(&self, server: &str) -> std::io::Result<BufReader<TcpStream>> {
        if let Ok(mut idle) = self.idle.lock() {
            if let Some(i) = idle.iter().position(|(s, _)| s == server) {
                return Ok(idle.swap_remove(i).1);
            }
        }
        let s = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(server))
            .await
            .map_err(|_| std::io::Error::other("memcached connect timeout"))??;
        let _ = s.set_nodelay(true);
        Ok(BufReader::new(s))
    }

    fn put_back(&self, server: &str, c: BufReader<TcpStream>) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < 32 {
                idle.push((server.to_string(), c));
            }
        }
    }

    async fn exchange(
        &self,
        key: &str,
        cmd: Vec<u8>,
        is_get: bool,
    ) -> std::io::Result<Option<Vec<u8>>> {
        let hashed = md5_hex(key);
        let server = self
            .server_for(&hashed)
            .ok_or_else(|| std::io::Error::other("no memcache servers"))?;
        let cmd = String::from_utf8_lossy(&cmd)
            .replace("{key}", &hashed)
            .into_bytes();
        let mut c = self.conn(&server).await?;
        let work = async {
            c.get_mut().write_all(&cmd).await?;
            let mut line = String::new();
            c.read_line(&mut line).await?;
            if !is_get {
                return Ok(None);
            }
            let mut value = None;
            while line.starts_with("VALUE ") {
                let bytes: usize = line
                    .split_whitespace()
                    .nth(3)
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| std::io::Error::other("bad memcached reply"))?;
                let mut buf = vec![0u8; bytes + 2];
                c.read_exact(&mut buf).await?;
                buf.truncate(bytes);
                value = Some(buf);
                line.clear();
                c.read_line(&mut line).await?;
            }
            if line.trim_end() != "END" {
                return Err(std::io::Error::other(format!(
                    "memcached: {}",
                    line.trim_end()
                )));
            }
            Ok(value)
        };
        let out = tokio::time::timeout(IO_TIMEOUT, work)
            .await
            .map_err(|_| std::io::Error::other("memcached timeout"))??;
        self.put_back(&server, c);
        Ok(out)
    }

    /// Stores a JSON value for `ttl` seconds (0 = no expiry).
    pub async fn set(&self, key: &str, json: &str, ttl: u64) -> std::io::Result<()> {
        let mut cmd = format!("set {{key}} {JSON_FLAG} {ttl} {}\r\n", json.len()).into_bytes();
        cmd.extend_from_slice(json.as_bytes());
        cmd.extend_from_slice(b"\r\n");
        self.exchange(key, cmd, false).await.map(|_| ())
    }

    /// Fetches a value (as stored: JSON text for Swift's entries).
    pub async fn get(&self, key: &str) -> std::io::Result<Option<String>> {
        let v = self.exchange(key, b"get {key}\r\n".to_vec(), true).await?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Removes a key.
    pub async fn delete(&self, key: &str) -> std::io::Result<()> {
        self.exchange(key, b"delete {key}\r\n".to_vec(), false)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_md5_hex() {
        assert_eq!(md5_hex("AUTH_/user/test:tester").len(), 32);
        let m = Memcache::new("127.0.0.1:11211");
        assert_eq!(m.server_for("00").as_deref(), Some("127.0.0.1:11211"));
    }
}
