//! Requests from the proxy to storage nodes: a pooled hyper client (for
//! ordinary requests and streamed object PUTs alike), the fan-out of small
//! writes to every replica with handoff replacement, answered once a
//! quorum decides.

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
use tokio::task::JoinSet;

use super::nodes::{ErrorLimiter, NodeAddr};
use super::quorum::have_quorum;
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

/// The nodes of a [`Backend::fan_out_over`]: one first node per slot, and
/// spares that replace failed ones.
pub struct Fanned<'a> {
    pub first: &'a [NodeAddr],
    pub spare: &'a [NodeAddr],
    /// The first nodes are handoffs too (their 404s without a timestamp
    /// say nothing).
    pub first_are_handoffs: bool,
}

/// The proxy's connection to its storage nodes.
pub struct Backend {
    client: Client<HttpConnector, Body>,
    pub conn_timeout: Duration,
    pub node_timeout: Duration,
    /// How long a write waits for the remaining replicas once a quorum
    /// has answered (`post_quorum_timeout`); they finish in the
    /// background after that.
    pub post_quorum_timeout: Duration,
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
            post_quorum_timeout: Duration::from_millis(500),
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

    /// Sends the same kind of request (with the same `body`) to one node
    /// per primary slot, replacing a node that fails (transport error, 5xx)
    /// with the next handoff; `headers(i)` gives the headers of slot i.
    /// Returns as soon as the answers so far decide the outcome
    /// ([`have_quorum`]) plus at most `post_quorum_timeout` for the others:
    /// slots still waiting then go on
    /// in the background (their nodes keep the write) and count as 503s
    /// here, as do slots with no useful answer. A 404 from a handoff
    /// without `X-Backend-Timestamp` says nothing and is not counted.
    #[allow(clippy::too_many_arguments)] // a request's parts, plus the node lists
    pub async fn fan_out(
        self: &Arc<Self>,
        primaries: &[NodeAddr],
        handoffs: &[NodeAddr],
        part: u32,
        method: Method,
        path: &str,
        body: Bytes,
        headers: impl Fn(usize) -> HeaderMap,
    ) -> Vec<Answer> {
        let nodes = Fanned {
            first: primaries,
            spare: handoffs,
            first_are_handoffs: false,
        };
        self.fan_out_over(nodes, part, method, path, body, headers)
            .await
            .0
    }

    /// [`Backend::fan_out`] over `nodes`; also returns the handoffs no slot
    /// took (yet).
    pub async fn fan_out_over(
        self: &Arc<Self>,
        nodes: Fanned<'_>,
        part: u32,
        method: Method,
        path: &str,
        body: Bytes,
        headers: impl Fn(usize) -> HeaderMap,
    ) -> (Vec<Answer>, Vec<NodeAddr>) {
        let Fanned {
            first: primaries,
            spare: handoffs,
            first_are_handoffs,
        } = nodes;
        let spare: Arc<Mutex<VecDeque<NodeAddr>>> =
            Arc::new(Mutex::new(handoffs.iter().cloned().collect()));
        let mut slots = JoinSet::new();
        for (i, first) in primaries.iter().enumerate() {
            let this = self.clone();
            let spare = spare.clone();
            let method = method.clone();
            let path = path.to_string();
            let hdrs = headers(i);
            let first = first.clone();
            let body = body.clone();
            slots.spawn(async move {
                let mut node = Some((first, first_are_handoffs));
                let mut last: Option<(Answer, bool)> = None;
                while let Some((n, handoff)) = node.take() {
                    if !this.limiter.is_limited(&n) {
                        match this
                            .fetch(&n, part, &method, &path, None, &hdrs, body.clone())
                            .await
                        {
                            Ok(a) if !a.status.is_server_error() => return Some((a, handoff)),
                            Ok(a) => last = Some((a, handoff)),
                            Err(_) => {}
                        }
                    }
                    node = spare
                        .lock()
                        .ok()
                        .and_then(|mut s| s.pop_front())
                        .map(|n| (n, true));
                }
                last
            });
        }
        let node_count = primaries.len();
        let mut out: Vec<Answer> = Vec::with_capacity(node_count);
        let useful = |done: Result<Option<(Answer, bool)>, _>| match done {
            Ok(Some((a, handoff))) => {
                let says_nothing = handoff
                    && a.status == StatusCode::NOT_FOUND
                    && !a.headers.contains_key("x-backend-timestamp");
                (!says_nothing).then_some(a)
            }
            _ => None,
        };
        while let Some(done) = slots.join_next().await {
            if let Some(a) = useful(done) {
                out.push(a);
                let statuses: Vec<StatusCode> = out.iter().map(|a| a.status).collect();
                if have_quorum(&statuses, node_count) {
                    break;
                }
            }
        }
        if !slots.is_empty() {
            let _ = tokio::time::timeout(self.post_quorum_timeout, async {
                while let Some(done) = slots.join_next().await {
                    out.extend(useful(done));
                }
            })
            .await;
            // The slots still running finish on their own.
            slots.detach_all();
        }
        while out.len() < node_count {
            out.push(Answer {
                status: StatusCode::SERVICE_UNAVAILABLE,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            });
        }
        let unused = spare
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        (out, unused)
    }
}
