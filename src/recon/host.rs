//! What the recon endpoints read from the machine they run on: `/proc`
//! files, mount points and filesystem sizes, behind [`Host`] so tests can
//! answer with canned values.
//!
//! The parsers are pure functions over the file text; [`LiveHost`] is the
//! only place that touches the real system.

use serde_json::{Map, Value};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Raw statvfs fields recon reports from (Swift multiplies by `f_bsize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VfsStat {
    pub bsize: u64,
    pub blocks: u64,
    pub bavail: u64,
}

/// The system probes recon needs.
pub trait Host: Send + Sync {
    /// The text of a file under `/proc`, e.g. `"meminfo"` or `"net/sockstat"`.
    fn read_proc(&self, name: &str) -> io::Result<String>;
    /// Swift's `ismount`: a directory on another device than its parent
    /// (or the root), or a symlink holding a `.ismount` stub.
    fn is_mount(&self, path: &Path) -> bool;
    /// statvfs on a path.
    fn statvfs(&self, path: &Path) -> io::Result<VfsStat>;
    /// The kernel page size in bytes.
    fn page_size(&self) -> u64;
    /// Seconds since the epoch.
    fn now(&self) -> f64;
}

/// The machine the server runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveHost;

impl Host for LiveHost {
    fn read_proc(&self, name: &str) -> io::Result<String> {
        std::fs::read_to_string(Path::new("/proc").join(name))
    }

    fn is_mount(&self, path: &Path) -> bool {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if meta.file_type().is_symlink() {
            return path.join(".ismount").is_file();
        }
        let Ok(parent) = std::fs::symlink_metadata(path.join("..")) else {
            return false;
        };
        meta.dev() != parent.dev() || meta.ino() == parent.ino()
    }

    fn statvfs(&self, path: &Path) -> io::Result<VfsStat> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: zeroed statvfs is a valid out-parameter value.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is NUL-terminated and `st` is a valid out-pointer.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(VfsStat {
            bsize: st.f_bsize as u64,
            blocks: st.f_blocks as u64,
            bavail: st.f_bavail as u64,
        })
    }

    fn page_size(&self) -> u64 {
        // SAFETY: sysconf has no memory-safety preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 {
            n as u64
        } else {
            4096
        }
    }

    fn now(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("unexpected {what}"))
}

/// `/proc/meminfo` as `{"MemTotal": "16331912 kB", ...}` in file order.
pub fn parse_meminfo(text: &str) -> Map<String, Value> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), Value::from(v.trim())))
        .collect()
}

/// `/proc/loadavg` as `1m`, `5m`, `15m`, `tasks`, `processes`.
pub fn parse_loadavg(text: &str) -> io::Result<Map<String, Value>> {
    let f: Vec<&str> = text.split_whitespace().collect();
    let [one, five, fifteen, tasks, procs] = f[..] else {
        return Err(bad("/proc/loadavg format"));
    };
    let float = |s: &str| s.parse::<f64>().map_err(|_| bad("load average"));
    let mut m = Map::new();
    m.insert("1m".into(), Value::from(float(one)?));
    m.insert("5m".into(), Value::from(float(five)?));
    m.insert("15m".into(), Value::from(float(fifteen)?));
    m.insert("tasks".into(), Value::from(tasks));
    let procs: i64 = procs.parse().map_err(|_| bad("process count"))?;
    m.insert("processes".into(), Value::from(procs));
    Ok(m)
}

/// `/proc/mounts` as a list of `{"device", "path"}`.
pub fn parse_mounts(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, path) = (f.next()?, f.next()?);
            let mut m = Map::new();
            m.insert("device".into(), Value::from(dev));
            m.insert("path".into(), Value::from(path));
            Some(Value::Object(m))
        })
        .collect()
}

/// The TCP line of `/proc/net/sockstat` (and the TCP6 line of `sockstat6`)
/// as Swift's `tcp_in_use`, `orphan`, `time_wait`,
/// `tcp_mem_allocated_bytes` (pages × page size) and `tcp6_in_use`.
pub fn parse_sockstat(v4: Option<&str>, v6: Option<&str>, page: u64) -> Map<String, Value> {
    let mut m = Map::new();
    let int = |s: Option<&&str>| s.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    for line in v4
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("TCP: inuse"))
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        m.insert("tcp_in_use".into(), Value::from(int(f.get(2))));
        m.insert("orphan".into(), Value::from(int(f.get(4))));
        m.insert("time_wait".into(), Value::from(int(f.get(6))));
        let pages = int(f.get(10));
        m.insert("tcp_mem_allocated_bytes".into(), Value::from(pages * page));
    }
    for line in v6
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("TCP6: inuse"))
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        m.insert("tcp6_in_use".into(), Value::from(int(f.get(2))));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proc_parsers() {
        let mem = parse_meminfo("MemTotal:       24684092 kB\nHugePages_Total:       0\n");
        assert_eq!(
            Value::Object(mem),
            json!({"MemTotal": "24684092 kB", "HugePages_Total": "0"})
        );
        let load = parse_loadavg("2.05 3.50 4.85 3/166 12630\n").unwrap();
        assert_eq!(
            Value::Object(load),
            json!({"1m": 2.05, "5m": 3.5, "15m": 4.85, "tasks": "3/166", "processes": 12630})
        );
        assert!(parse_loadavg("1 2").is_err());
        let mounts = parse_mounts("/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n");
        assert_eq!(mounts[0], json!({"device": "/dev/vda", "path": "/"}));
        let s = parse_sockstat(
            Some("sockets: used 300\nTCP: inuse 18 orphan 0 tw 846 alloc 30 mem 98\n"),
            Some("TCP6: inuse 2\nUDP6: inuse 1\n"),
            4096,
        );
        assert_eq!(
            Value::Object(s),
            json!({"tcp_in_use": 18, "orphan": 0, "time_wait": 846,
                   "tcp_mem_allocated_bytes": 401408, "tcp6_in_use": 2})
        );
    }
}
