//! Reading from replicas (first good answer wins) and the account/container
//! info the controllers and tempauth depend on, cached briefly in process
//! (refreshed in the background as it ages) and dropped whenever this proxy
//! changes the account or container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use bytes::Bytes;
use hyper::body::Incoming;

use super::headers;
use super::nodes::NodeAddr;
use super::rings::{PartNodes, RingKind};
use super::server::Proxy;

/// What the proxy knows about an account or container.
#[derive(Debug, Clone)]
pub struct Info {
    /// 2xx when it exists, 404 when it does not, 503 when no node answered.
    pub status: StatusCode,
    pub headers: HeaderMap,
}

impl Info {
    pub fn exists(&self) -> bool {
        self.status.is_success()
    }
    /// The container's storage policy index.
    pub fn policy(&self) -> u32 {
        headers::get(&self.headers, "x-backend-storage-policy-index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        headers::get(&self.headers, name)
    }
}

const TTL_FOUND: Duration = Duration::from_secs(10);
const TTL_MISSING: Duration = Duration::from_secs(2);

/// What the cache holds for a path.
enum Cached {
    /// Within its time to live.
    Fresh(Arc<Info>),
    /// An existing account or container whose time has run out: it is
    /// still answered for another [`TTL_FOUND`] while one background
    /// request (`refresh`: the caller must start it) fetches it anew, so
    /// no client request waits on the refresh.
    Stale {
        info: Arc<Info>,
        refresh: bool,
    },
    Missing,
}

struct Entry {
    at: Instant,
    info: Arc<Info>,
    /// A background refresh is under way.
    refreshing: bool,
}

/// Account and container info, by path.
pub struct InfoCache {
    map: Mutex<HashMap<String, Entry>>,
}

impl InfoCache {
    pub fn new() -> Self {
        InfoCache {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Cached {
        let Ok(mut map) = self.map.lock() else {
            return Cached::Missing;
        };
        let Some(e) = map.get_mut(key) else {
            return Cached::Missing;
        };
        let age = e.at.elapsed();
        if !e.info.exists() {
            return match age < TTL_MISSING {
                true => Cached::Fresh(e.info.clone()),
                false => Cached::Missing,
            };
        }
        if age < TTL_FOUND {
            return Cached::Fresh(e.info.clone());
        }
        if age < 2 * TTL_FOUND {
            let refresh = !e.refreshing;
            e.refreshing = true;
            return Cached::Stale {
                info: e.info.clone(),
                refresh,
            };
        }
        Cached::Missing
    }

    fn put(&self, key: String, info: Arc<Info>) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() > 50_000 {
                map.clear();
            }
            map.insert(
                key,
                Entry {
                    at: Instant::now(),
                    info,
                    refreshing: false,
                },
            );
        }
    }

    /// Ends a background refresh: stores its answer (None: no node
    /// answered; the stale entry stays and a later request retries), unless
    /// the entry was dropped or replaced meanwhile (this proxy changed the
    /// account or container: the refresh may predate the change).
    fn refreshed(&self, key: &str, info: Option<Arc<Info>>) {
        if let Ok(mut map) = self.map.lock() {
            if let Some(e) = map.get_mut(key).filter(|e| e.refreshing) {
                match info {
                    Some(info) => {
                        *e = Entry {
                            at: Instant::now(),
                            info,
                            refreshing: false,
                        }
                    }
                    None => e.refreshing = false,
                }
            }
        }
    }

    /// Forgets an account (`/a`) or container (`/a/c`) and, for an account,
    /// nothing else: container entries expire on their own.
    pub fn invalidate(&self, key: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }
}

impl Proxy {
    /// Primaries (ordered for reading) and handoffs for a path.
    pub fn read_nodes(
        &self,
        kind: RingKind,
        a: &str,
        c: Option<&str>,
        o: Option<&str>,
    ) -> Option<(u32, Vec<NodeAddr>)> {
        let PartNodes {
            part,
            mut primaries,
            handoffs,
            ..
        } = self.rings.nodes(kind, a, c, o, self.settings.extra_nodes)?;
        self.settings.affinity.sort_for_read(&mut primaries);
        primaries.retain(|n| !self.backend.limiter.is_limited(n));
        primaries.extend(
            handoffs
                .into_iter()
                .filter(|n| !self.backend.limiter.is_limited(n)),
        );
        Some((part, primaries))
    }

    /// Asks replicas in turn; the first answer that is not a 404 or a server
    /// error wins. `Err(status)` is 404 when every answer was 404 (or a
    /// 404 was seen and the rest failed), else 503.
    #[allow(clippy::too_many_arguments)]
    pub async fn read_first(
        &self,
        kind: RingKind,
        a: &str,
        c: Option<&str>,
        o: Option<&str>,
        method: &Method,
        query: Option<&str>,
        hdrs: &HeaderMap,
    ) -> Result<(Response<Incoming>, NodeAddr, Vec<NodeAddr>, u32), (StatusCode, HeaderMap)> {
        let Some((part, nodes)) = self.read_nodes(kind, a, c, o) else {
            return Err((StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new()));
        };
        let path = path_of(a, c, o);
        let mut not_found: Option<HeaderMap> = None;
        for (i, node) in nodes.iter().enumerate() {
            let Ok(resp) = self
                .backend
                .request(node, part, method, &path, query, hdrs, Bytes::new())
                .await
            else {
                continue;
            };
            let s = resp.status();
            if s == StatusCode::NOT_FOUND {
                if not_found.is_none() {
                    not_found = Some(resp.headers().clone());
                }
                continue;
            }
            if s.is_server_error() {
                continue;
            }
            return Ok((resp, node.clone(), nodes[i + 1..].to_vec(), part));
        }
        match not_found {
            Some(h) => Err((StatusCode::NOT_FOUND, h)),
            None => Err((StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new())),
        }
    }

    async fn fetch_info(&self, kind: RingKind, a: &str, c: Option<&str>, trans_id: &str) -> Info {
        let mut h = HeaderMap::new();
        headers::set(&mut h, "x-trans-id", trans_id);
        match self
            .read_first(kind, a, c, None, &Method::HEAD, None, &h)
            .await
        {
            Ok((resp, ..)) => Info {
                status: resp.status(),
                headers: resp.headers().clone(),
            },
            Err((status, headers)) => Info { status, headers },
        }
    }

    /// The account's info (cached briefly).
    pub async fn account_info(self: &Arc<Self>, a: &str, trans_id: &str) -> Arc<Info> {
        self.cached_info(format!("/{a}"), a, None, trans_id).await
    }

    /// The container's info (cached briefly).
    pub async fn container_info(self: &Arc<Self>, a: &str, c: &str, trans_id: &str) -> Arc<Info> {
        self.cached_info(format!("/{a}/{c}"), a, Some(c), trans_id)
            .await
    }

    /// Info from the cache, fetched when missing; a stale entry is answered
    /// while one background request refreshes it.
    async fn cached_info(
        self: &Arc<Self>,
        key: String,
        a: &str,
        c: Option<&str>,
        trans_id: &str,
    ) -> Arc<Info> {
        let kind = match c {
            Some(_) => RingKind::Container,
            None => RingKind::Account,
        };
        match self.info.get(&key) {
            Cached::Fresh(info) => return info,
            Cached::Stale { info, refresh } => {
                if refresh {
                    let (this, a, c) = (self.clone(), a.to_string(), c.map(str::to_string));
                    let trans_id = trans_id.to_string();
                    tokio::spawn(async move {
                        let info = this.fetch_info(kind, &a, c.as_deref(), &trans_id).await;
                        let found = info.status != StatusCode::SERVICE_UNAVAILABLE;
                        this.info.refreshed(&key, found.then(|| Arc::new(info)));
                    });
                }
                return info;
            }
            Cached::Missing => {}
        }
        let info = Arc::new(self.fetch_info(kind, a, c, trans_id).await);
        if info.status != StatusCode::SERVICE_UNAVAILABLE {
            self.info.put(key, info.clone());
        }
        info
    }
}

/// `/a[/c[/o]]`.
pub fn path_of(a: &str, c: Option<&str>, o: Option<&str>) -> String {
    let mut p = format!("/{a}");
    if let Some(c) = c {
        p.push('/');
        p.push_str(c);
        if let Some(o) = o {
            p.push('/');
            p.push_str(o);
        }
    }
    p
}

/// A streamed backend response as a client response (client-visible headers only).
pub fn relay(resp: Response<Incoming>) -> Response<Body> {
    let (parts, body) = resp.into_parts();
    let mut out = Response::new(Body::new(body));
    *out.status_mut() = parts.status;
    *out.headers_mut() = headers::from_backend(&parts.headers);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(status: StatusCode) -> Arc<Info> {
        Arc::new(Info {
            status,
            headers: HeaderMap::new(),
        })
    }

    fn aged(cache: &InfoCache, key: &str, status: StatusCode, age: Duration) {
        cache.map.lock().unwrap().insert(
            key.into(),
            Entry {
                at: Instant::now() - age,
                info: info(status),
                refreshing: false,
            },
        );
    }

    #[test]
    fn an_aging_entry_is_answered_while_one_refresh_runs() {
        let cache = InfoCache::new();
        let k = "/a/c";
        aged(&cache, k, StatusCode::NO_CONTENT, Duration::from_secs(1));
        assert!(matches!(cache.get(k), Cached::Fresh(_)));
        aged(
            &cache,
            k,
            StatusCode::NO_CONTENT,
            TTL_FOUND + Duration::from_secs(1),
        );
        // Only the first request past the time to live starts a refresh.
        assert!(matches!(cache.get(k), Cached::Stale { refresh: true, .. }));
        assert!(matches!(cache.get(k), Cached::Stale { refresh: false, .. }));
        // A failed refresh keeps the entry and lets a later request retry.
        cache.refreshed(k, None);
        assert!(matches!(cache.get(k), Cached::Stale { refresh: true, .. }));
        cache.refreshed(k, Some(info(StatusCode::NOT_FOUND)));
        assert!(matches!(cache.get(k), Cached::Fresh(i) if i.status == StatusCode::NOT_FOUND));
        // Too old, or missing past its shorter time: fetched at once.
        aged(&cache, k, StatusCode::NO_CONTENT, 2 * TTL_FOUND);
        assert!(matches!(cache.get(k), Cached::Missing));
        aged(&cache, k, StatusCode::NOT_FOUND, TTL_MISSING);
        assert!(matches!(cache.get(k), Cached::Missing));
    }

    #[test]
    fn a_refresh_never_overrides_a_change_made_meanwhile() {
        let cache = InfoCache::new();
        let k = "/a/c";
        aged(
            &cache,
            k,
            StatusCode::NO_CONTENT,
            TTL_FOUND + Duration::from_secs(1),
        );
        assert!(matches!(cache.get(k), Cached::Stale { refresh: true, .. }));
        // This proxy changes the container while the refresh is out.
        cache.invalidate(k);
        cache.refreshed(k, Some(info(StatusCode::NO_CONTENT)));
        assert!(matches!(cache.get(k), Cached::Missing));
        cache.put(k.into(), info(StatusCode::NOT_FOUND));
        cache.refreshed(k, Some(info(StatusCode::NO_CONTENT)));
        assert!(matches!(cache.get(k), Cached::Fresh(i) if i.status == StatusCode::NOT_FOUND));
    }
}
