//! Recon cache files (`object.recon`, `drive.recon`, …): locked merge-writes
//! and tolerant reads, with Swift's semantics.
//!
//! A writer takes an exclusive `flock` on the cache file (retrying until a
//! timeout, and re-opening if the file was replaced while waiting), reads the
//! first line as JSON (anything unparsable counts as empty), merges the new
//! entries, writes a temporary file in the same directory and renames it over
//! the cache. The merge is one level deep as in Swift: an empty object as a
//! value deletes the key, and an object value is merged key by key, where an
//! empty object again deletes that nested key.

use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::pyfmt::json_dumps;

/// Swift's default `recon_cache_path`.
pub const DEFAULT_RECON_CACHE_PATH: &str = "/var/cache/swift";
/// Cache file names, as Swift names them.
pub const OBJECT_FILE: &str = "object.recon";
pub const CONTAINER_FILE: &str = "container.recon";
pub const ACCOUNT_FILE: &str = "account.recon";
pub const DRIVE_FILE: &str = "drive.recon";
pub const RELINKER_FILE: &str = "relinker.recon";
/// How long a writer waits for the lock by default (Swift: 2 s).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a recon cache could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: timed out after {timeout:?} waiting for the lock")]
    LockTimeout { path: PathBuf, timeout: Duration },
    #[error("unknown user {0:?}")]
    UnknownUser(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Merges one `key: value` update into a cache object (Swift's
/// `put_recon_cache_entry`).
pub fn put_entry(cache: &mut Map<String, Value>, key: &str, value: &Value) {
    match value {
        Value::Object(item) if item.is_empty() => {
            cache.remove(key);
        }
        Value::Object(item) => {
            if !matches!(cache.get(key), Some(Value::Object(_))) {
                cache.insert(key.to_string(), Value::Object(Map::new()));
            }
            if let Some(Value::Object(nested)) = cache.get_mut(key) {
                for (k, v) in item {
                    if matches!(v, Value::Object(m) if m.is_empty()) {
                        nested.remove(k);
                    } else {
                        nested.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        other => {
            cache.insert(key.to_string(), other.clone());
        }
    }
}

/// Reads a whole cache file. A missing file or invalid JSON reads as empty
/// (Swift's `load_recon_cache`); other I/O errors are returned.
pub fn load(path: &Path) -> io::Result<Map<String, Value>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e),
    }
}

/// Reads `keys` from a cache file for a recon endpoint: every key is present
/// in the result, `null` when missing. When the file cannot be read or parsed
/// every value is `null` (Swift's `_from_recon_cache`).
pub fn read_keys(path: &Path, keys: &[&str]) -> Map<String, Value> {
    let data: Option<Map<String, Value>> = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    keys.iter()
        .map(|k| {
            let v = data.as_ref().and_then(|d| d.get(*k)).cloned();
            (k.to_string(), v.unwrap_or(Value::Null))
        })
        .collect()
}

/// Opens `path` and takes an exclusive flock on it, retrying until `timeout`.
/// Re-opens when the file was renamed over while waiting.
fn lock(path: &Path, timeout: Duration) -> Result<File, CacheError> {
    let deadline = Instant::now() + timeout;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err(path))?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is shared.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io_err(path)(err));
            }
            if Instant::now() >= deadline {
                return Err(CacheError::LockTimeout {
                    path: path.to_path_buf(),
                    timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let same = match (std::fs::metadata(path), file.metadata()) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if same {
            return Ok(file);
        }
    }
}

/// Looks a user name up in the password database.
fn user_uid(user: &str) -> Result<u32, CacheError> {
    let name = std::ffi::CString::new(user).map_err(|_| CacheError::UnknownUser(user.into()))?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: all pointers are valid for the call; `buf` outlives it.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(CacheError::UnknownUser(user.into()));
    }
    Ok(pwd.pw_uid)
}

/// Merges `entries` into the cache file at `path` (Swift's
/// `dump_recon_cache`). `owner`, when given, becomes the file's owner.
pub fn dump(
    path: &Path,
    entries: &Map<String, Value>,
    lock_timeout: Duration,
    owner: Option<&str>,
) -> Result<(), CacheError> {
    let locked = lock(path, lock_timeout)?;
    let mut first_line = String::new();
    let mut cache = Map::new();
    if BufReader::new(&locked).read_line(&mut first_line).is_ok() {
        if let Ok(Value::Object(map)) = serde_json::from_str(first_line.trim_end()) {
            cache = map;
        }
    }
    for (k, v) in entries {
        put_entry(&mut cache, k, v);
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        let text = json_dumps(&Value::Object(cache), true) + "\n";
        f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
        if let Some(user) = owner {
            let uid = user_uid(user)?;
            std::os::unix::fs::chown(&tmp, Some(uid), None).map_err(io_err(&tmp))?;
        }
        std::fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    drop(locked);
    result
}

/// [`dump`] for a daemon in the middle of a pass: the default lock timeout,
/// no owner, and a failure logged rather than returned (the pass goes on
/// and its next dump tries again).
pub fn dump_or_log(path: &Path, entries: &Map<String, Value>) {
    if let Err(e) = dump(path, entries, DEFAULT_LOCK_TIMEOUT, None) {
        tracing::error!("recon cache: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn merge_semantics() {
        let mut c = obj(json!({"a": 1, "d": {"x": 1, "y": 2}, "s": 3}));
        put_entry(&mut c, "d", &json!({"x": {}, "z": 3}));
        put_entry(&mut c, "s", &json!({}));
        put_entry(&mut c, "a", &json!({"n": 1}));
        assert_eq!(
            Value::Object(c),
            json!({"a": {"n": 1}, "d": {"y": 2, "z": 3}})
        );
    }

    #[test]
    fn dump_and_load_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("drive.recon");
        dump(
            &p,
            &obj(json!({"b": 1, "a": {"k": 2}})),
            DEFAULT_LOCK_TIMEOUT,
            None,
        )
        .unwrap();
        dump(&p, &obj(json!({"c": 1.5})), DEFAULT_LOCK_TIMEOUT, None).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "{\"a\": {\"k\": 2}, \"b\": 1, \"c\": 1.5}\n");
        assert_eq!(load(&p).unwrap().len(), 3);
        let got = read_keys(&p, &["b", "zz"]);
        assert_eq!(Value::Object(got), json!({"b": 1, "zz": null}));
        // Garbage is replaced, not an error.
        std::fs::write(&p, "not json").unwrap();
        dump(&p, &obj(json!({"x": 1})), DEFAULT_LOCK_TIMEOUT, None).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"x\": 1}\n");
    }
}
