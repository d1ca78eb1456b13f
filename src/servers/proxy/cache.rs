//! The `cache` middleware's store: memcached when `memcache_servers` is set
//! (in the filter section or `memcache.conf`), else an in-process map.
//! Values are JSON text, so entries are shared with Swift's own proxies.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::memcache::Memcache;
use crate::conf::server_conf::parse_ini;

/// Where cached values live.
pub enum Cache {
    Memcached(Memcache),
    InProcess(Mutex<HashMap<String, (Option<Instant>, String)>>),
}

impl Cache {
    pub fn in_process() -> Cache {
        Cache::InProcess(Mutex::new(HashMap::new()))
    }

    /// From the cache filter's options, falling back to `<swift_dir>/memcache.conf`.
    pub fn from_conf(opts: &HashMap<String, String>, swift_dir: &Path) -> Cache {
        let servers = opts.get("memcache_servers").cloned().or_else(|| {
            let text = std::fs::read_to_string(swift_dir.join("memcache.conf")).ok()?;
            parse_ini(&text)
                .get("memcache")?
                .get("memcache_servers")
                .cloned()
        });
        match servers {
            Some(s) if !s.trim().is_empty() => Cache::Memcached(Memcache::new(&s)),
            _ => Cache::in_process(),
        }
    }

    /// A stored JSON value.
    pub async fn get(&self, key: &str) -> Option<String> {
        match self {
            Cache::Memcached(m) => m.get(key).await.unwrap_or_else(|e| {
                tracing::warn!("memcache get: {e}");
                None
            }),
            Cache::InProcess(map) => {
                let mut map = map.lock().ok()?;
                match map.get(key) {
                    Some((Some(exp), _)) if *exp <= Instant::now() => {
                        map.remove(key);
                        None
                    }
                    Some((_, v)) => Some(v.clone()),
                    None => None,
                }
            }
        }
    }

    /// Stores a JSON value for `ttl` seconds (0 = until evicted).
    pub async fn set(&self, key: &str, json: &str, ttl: u64) {
        match self {
            Cache::Memcached(m) => {
                if let Err(e) = m.set(key, json, ttl).await {
                    tracing::warn!("memcache set: {e}");
                }
            }
            Cache::InProcess(map) => {
                if let Ok(mut map) = map.lock() {
                    if map.len() > 100_000 {
                        let now = Instant::now();
                        map.retain(|_, (e, _)| e.is_none_or(|e| e > now));
                    }
                    let exp = (ttl > 0).then(|| Instant::now() + Duration::from_secs(ttl));
                    map.insert(key.to_string(), (exp, json.to_string()));
                }
            }
        }
    }

    /// Removes a key.
    pub async fn delete(&self, key: &str) {
        match self {
            Cache::Memcached(m) => {
                let _ = m.delete(key).await;
            }
            Cache::InProcess(map) => {
                if let Ok(mut map) = map.lock() {
                    map.remove(key);
                }
            }
        }
    }
}
