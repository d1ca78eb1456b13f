//! Reading from replicas (first good answer wins) and the account/container
//! info the controllers and tempauth depend on, cached briefly in process
//! and dropped whenever this proxy changes the account or container.

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

/// Account and container info, by path.
pub struct InfoCache {
    map: Mutex<HashMap<String, (Instant, Arc<Info>)>>,
}

impl InfoCache {
    pub fn new() -> Self {
        InfoCache {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Info>> {
        let map = self.map.lock().ok()?;
        let (at, info) = map.get(key)?;
        let ttl = if info.exists() {
            TTL_FOUND
        } else {
            TTL_MISSING
        };
        (at.elapsed() < ttl).then(|| info.clone())
    }

    fn put(&self, key: String, info: Arc<Info>) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() > 50_000 {
                map.clear();
            }
            map.insert(key, (Instant::now(), info));
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
    pub async fn account_info(&self, a: &str, trans_id: &str) -> Arc<Info> {
        let key = format!("/{a}");
        if let Some(i) = self.info.get(&key) {
            return i;
        }
        let info = Arc::new(self.fetch_info(RingKind::Account, a, None, trans_id).await);
        if info.status != StatusCode::SERVICE_UNAVAILABLE {
            self.info.put(key, info.clone());
        }
        info
    }

    /// The container's info (cached briefly).
    pub async fn container_info(&self, a: &str, c: &str, trans_id: &str) -> Arc<Info> {
        let key = format!("/{a}/{c}");
        if let Some(i) = self.info.get(&key) {
            return i;
        }
        let info = Arc::new(
            self.fetch_info(RingKind::Container, a, Some(c), trans_id)
                .await,
        );
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
