//! Requests from the proxy to storage nodes: a pooled hyper client (for
//! ordinary requests and streamed object PUTs alike) and the fan-out of small writes to every replica with handoff replacement.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;

use super::nodes::{ErrorLimiter, NodeAddr};
use crate::servers::http::quote;

/// Headers a backend answer may carry: up to 90 metadata items plus the
/// usual and per-policy headers, more than hyper's default of 100.
const MAX_BACKEND_HEADERS: usize = 256;

/// A backend answer with its body read into memory (for small responses).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The proxy's connection to its storage nodes.
pub struct Backend {
    client: Client<HttpConnector, Body>,
    pub conn_timeout: Duration,
    pub node_timeout: Duration,
    pub limiter: ErrorLimiter,
}

/// `/<device>/<part>/<quoted path>[?query]`.
pub fn backend_uri(node: &NodeAddr, part: u32, path: &str, query: Option<&str>) -> String {
    let mut uri = format!(
        "http://{}/{}/{part}{}",
        node.host(),
        quote(&node.device),
        quote(path)
    );
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(q);
    }
    uri
}

impl Backend {
    pub fn new(conn_timeout: Duration, node_timeout: Duration, limiter: ErrorLimiter) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(conn_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .http1_max_headers(MAX_BACKEND_HEADERS)
            .build(connector);
        Backend {
            client,
            conn_timeout,
            node_timeout,
            limiter,
        }
    }

    /// One request; transport errors and timeouts count against the node,
    /// as do 5xx answers (507 suppresses the node at once). A pooled
    /// connection the node closed under us is retried once on a fresh one.
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        node: &NodeAddr,
        part: u32,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Incoming>, String> {
        let uri: hyper::Uri = backend_uri(node, part, path, query)
            .parse()
            .map_err(|e| format!("bad backend uri: {e}"))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = Request::new(Body::from(body.clone()));
            *req.method_mut() = method.clone();
            *req.uri_mut() = uri.clone();
            *req.headers_mut() = headers.clone();
            let fut = self.client.request(req);
            let msg = match tokio::time::timeout(self.conn_timeout + self.node_timeout, fut).await {
                Ok(Ok(resp)) => {
                    self.note_status(node, resp.status());
                    return Ok(resp);
                }
                Ok(Err(e)) if !e.is_connect() && attempt == 1 => continue,
                Ok(Err(e)) => format!("{method} {path}: {e}"),
                Err(_) => format!("{method} {path}: timeout"),
            };
            self.limiter.error(node, &msg);
            return Err(msg);
        }
    }

    /// Accounts for a node's answer in error limiting.
    pub fn note_status(&self, node: &NodeAddr, status: StatusCode) {
        if status == StatusCode::INSUFFICIENT_STORAGE {
            self.limiter.limit_now(node, "507 Insufficient Storage");
        } else if status.is_server_error() {
            self.limiter.error(node, &format!("answered {status}"));
        }
    }

    /// A request whose body is read in full.
    #[allow(clippy::too_many_arguments)]
    pub async fn fetch(
        &self,
        node: &NodeAddr,
        part: u32,
        method: &Method,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Answer, String> {
        let resp = self
            .request(node, part, method, path, query, headers, body)
            .await?;
        let (parts, body) = resp.into_parts();
        let body = match tokio::time::timeout(self.node_timeout, body.collect()).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("timeout reading body".into()),
        };
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Starts a request on a pooled connection (a fresh one when none is
    /// idle), for a streamed upload: the caller owns the body's pace, the
    /// timeouts and the error accounting.
    pub fn start(&self, req: Request<Body>) -> ResponseFuture {
        self.client.request(req)
    }

    /// Sends the same kind of request to `want` nodes, replacing a node that
    /// fails (transport error, 5xx) with the next handoff. `headers(i)`
    /// gives the headers for the i-th slot. Returns every final answer.
    pub async fn fan_out(
        self: &Arc<Self>,
        primaries: &[NodeAddr],
        handoffs: &[NodeAddr],
        part: u32,
        method: Method,
        path: &str,
        headers: impl Fn(usize) -> HeaderMap,
    ) -> Vec<Answer> {
        let spare: Arc<Mutex<VecDeque<NodeAddr>>> =
            Arc::new(Mutex::new(handoffs.iter().cloned().collect()));
        let mut tasks = Vec::new();
        for (i, first) in primaries.iter().enumerate() {
            let this = self.clone();
            let spare = spare.clone();
            let method = method.clone();
            let path = path.to_string();
            let hdrs = headers(i);
            let first = first.clone();
            tasks.push(tokio::spawn(async move {
                let mut node = Some(first);
                let mut last: Option<Answer> = None;
                while let Some(n) = node.take() {
                    if !this.limiter.is_limited(&n) {
                        match this
                            .fetch(&n, part, &method, &path, None, &hdrs, Bytes::new())
                            .await
                        {
                            Ok(a) if !a.status.is_server_error() => return Some(a),
                            Ok(a) => last = Some(a),
                            Err(_) => {}
                        }
                    }
                    node = spare.lock().ok().and_then(|mut s| s.pop_front());
                }
                last
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Some(a)) => out.push(a),
                _ => out.push(Answer {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    headers: HeaderMap::new(),
                    body: Bytes::new(),
                }),
            }
        }
        out
    }
}

/// Swift's majority quorum: `n // 2 + 1`.
pub fn quorum(n: usize) -> usize {
    n / 2 + 1
}

/// The status a client sees for a set of replica answers: the first class
/// (2xx, 3xx, 4xx, 5xx) with a quorum, its most common status; else 503.
pub fn best_status(statuses: &[StatusCode], replicas: usize) -> StatusCode {
    let q = quorum(replicas);
    for class in [2u16, 3, 4, 5] {
        let in_class: Vec<StatusCode> = statuses
            .iter()
            .copied()
            .filter(|s| s.as_u16() / 100 == class)
            .collect();
        if in_class.len() >= q {
            let mut best = in_class[0];
            let mut best_n = 0;
            for s in &in_class {
                let n = in_class.iter().filter(|x| *x == s).count();
                if n > best_n {
                    best = *s;
                    best_n = n;
                }
            }
            return best;
        }
    }
    StatusCode::SERVICE_UNAVAILABLE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_and_best() {
        assert_eq!((quorum(1), quorum(2), quorum(3), quorum(4)), (1, 2, 2, 3));
        let s = |v: &[u16]| -> Vec<StatusCode> {
            v.iter()
                .map(|&c| StatusCode::from_u16(c).unwrap())
                .collect()
        };
        assert_eq!(best_status(&s(&[201, 201, 503]), 3), StatusCode::CREATED);
        assert_eq!(best_status(&s(&[404, 404, 204]), 3), StatusCode::NOT_FOUND);
        assert_eq!(
            best_status(&s(&[201, 503, 503]), 3),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            best_status(&s(&[201, 404, 503]), 3),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
