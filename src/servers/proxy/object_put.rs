//! Streamed object PUT: connect to the primaries (a handoff stands in for
//! each primary that cannot be reached), send the body to all of them at
//! once with `Expect: 100-continue`, and succeed on a majority of 201s.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use tokio::sync::mpsc;

use super::backend::{best_status, quorum};
use super::headers;
use super::info::path_of;
use super::nodes::NodeAddr;
use super::object::{backend_headers, delete_at};
use super::pipeline::Ctx;
use super::rings::RingKind;
use super::server::Proxy;
use crate::servers::http::quote;
use crate::storage::Timestamp;

type Chunk = Result<Bytes, std::io::Error>;

/// Validates a PUT's headers; `Err` is the response to send.
fn check(h: &mut HeaderMap, o: &str) -> Result<Option<u64>, Response<Body>> {
    if o.len() > headers::MAX_OBJECT_NAME_LENGTH {
        return Err(headers::text(
            StatusCode::BAD_REQUEST,
            &format!(
                "Object name length of {} longer than {}",
                o.len(),
                headers::MAX_OBJECT_NAME_LENGTH
            ),
        ));
    }
    let chunked = match transfer_encoding(h) {
        Ok(c) => c,
        Err((status, msg)) => return Err(headers::text(status, msg)),
    };
    let length = match headers::get(h, "content-length").filter(|_| !chunked) {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(headers::text(
                    StatusCode::BAD_REQUEST,
                    "Invalid Content-Length header value",
                ))
            }
        },
        None if chunked => None,
        None => {
            return Err(headers::text(
                StatusCode::LENGTH_REQUIRED,
                "Missing Content-Length header.",
            ))
        }
    };
    if length.is_some_and(|n| n > headers::MAX_FILE_SIZE) {
        return Err(headers::text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Your request is too large.",
        ));
    }
    if let Err(m) = headers::check_metadata(h, "object") {
        return Err(headers::text(StatusCode::BAD_REQUEST, &m));
    }
    if let Some(v) = headers::get(h, "if-none-match") {
        if v.trim() != "*" {
            return Err(headers::text(
                StatusCode::BAD_REQUEST,
                "If-None-Match only supports *",
            ));
        }
    }
    if let Err(m) = delete_at(h) {
        return Err(headers::text(StatusCode::BAD_REQUEST, &m));
    }
    if !h.contains_key("content-type")
        || headers::get(h, "x-detect-content-type")
            .is_some_and(crate::conf::server_conf::config_true)
    {
        let t = headers::guess_type(o);
        headers::set(h, "content-type", t);
        h.remove("x-detect-content-type");
    }
    Ok(length)
}

/// Whether the body is chunked. Only `chunked` alone is supported: more than
/// one coding is a 501 and any other coding a 400, as Swift answers.
fn transfer_encoding(h: &HeaderMap) -> Result<bool, (StatusCode, &'static str)> {
    let Some(te) = h.get("transfer-encoding") else {
        return Ok(false);
    };
    let te = String::from_utf8_lossy(te.as_bytes());
    if te.contains(',') {
        return Err((
            StatusCode::NOT_IMPLEMENTED,
            "Unsupported Transfer-Coding header value specified in Transfer-Encoding header",
        ));
    }
    if te.eq_ignore_ascii_case("chunked") {
        Ok(true)
    } else {
        Err((
            StatusCode::BAD_REQUEST,
            "Invalid Transfer-Encoding header value",
        ))
    }
}

/// Connects one slot: its node, else the next untried handoff.
async fn connect_slot(
    proxy: &Proxy,
    first: NodeAddr,
    spare: &std::sync::Mutex<std::collections::VecDeque<NodeAddr>>,
) -> Option<(NodeAddr, SendRequest<Body>)> {
    let mut node = Some(first);
    while let Some(n) = node.take() {
        if !proxy.backend.limiter.is_limited(&n) {
            if let Ok(mut s) = proxy.backend.connect(&n).await {
                if s.ready().await.is_ok() {
                    return Some((n, s));
                }
            }
        }
        node = spare.lock().ok().and_then(|mut s| s.pop_front());
    }
    None
}

/// PUT of one object with a streamed body of `length` bytes (None = chunked).
pub async fn put(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    mut client: HeaderMap,
    body: Body,
    a: &str,
    c: &str,
    o: &str,
) -> Response<Body> {
    let length = match check(&mut client, o) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let info = proxy.container_info(a, c, &ctx.trans_id).await;
    if !info.exists() {
        return headers::error(info.status, None);
    }
    let policy = info.policy();
    let Some(nodes) = proxy.rings.nodes(
        RingKind::Object(policy),
        a,
        Some(c),
        Some(o),
        proxy.settings.extra_nodes,
    ) else {
        return headers::error(StatusCode::SERVICE_UNAVAILABLE, None);
    };
    let order = proxy
        .settings
        .affinity
        .order_for_write(&nodes.primaries, &nodes.handoffs);
    let n = nodes.primaries.len();
    let replicas = nodes.replicas.max(n);
    let spare = std::sync::Mutex::new(order[n.min(order.len())..].iter().cloned().collect());
    let slots = futures::future::join_all(
        order[..n.min(order.len())]
            .iter()
            .map(|first| connect_slot(proxy, first.clone(), &spare)),
    )
    .await;
    let cont_nodes = proxy.rings.nodes(RingKind::Container, a, Some(c), None, 0);
    let expiring = super::object::delete_at_nodes(proxy, &client, a, c, o);
    let ts = Timestamp::now().internal();
    let mut hdrs = backend_headers(&client, ctx, policy);
    headers::set(&mut hdrs, "x-timestamp", &ts);
    headers::set(&mut hdrs, "expect", "100-continue");
    match length {
        Some(l) => headers::set(&mut hdrs, "content-length", &l.to_string()),
        None => headers::set(&mut hdrs, "transfer-encoding", "chunked"),
    }
    let path = path_of(a, Some(c), Some(o));
    let mut senders: Vec<Option<mpsc::Sender<Chunk>>> = Vec::new();
    let mut waiters = Vec::new();
    for (i, slot) in slots.into_iter().enumerate() {
        let Some((node, mut conn)) = slot else {
            continue;
        };
        let (tx, mut rx) = mpsc::channel::<Chunk>(8);
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let mut h = hdrs.clone();
        headers::set(&mut h, "host", &node.host());
        if let Some(cn) = &cont_nodes {
            super::writes::update_headers(&mut h, "container", cn.part, &cn.primaries, i, n);
        }
        super::object::delete_at_headers(&mut h, &expiring, i, n);
        let uri = format!("/{}/{}{}", quote(&node.device), nodes.part, quote(&path));
        let mut req = Request::new(Body::from_stream(stream));
        *req.method_mut() = Method::PUT;
        *req.headers_mut() = h;
        let Ok(u) = uri.parse() else { continue };
        *req.uri_mut() = u;
        senders.push(Some(tx));
        let backend = proxy.backend.clone();
        let timeout = backend.node_timeout;
        waiters.push(tokio::spawn(async move {
            let r = conn.send_request(req).await;
            match r {
                Ok(resp) => {
                    backend.note_status(&node, resp.status());
                    let (parts, b) = resp.into_parts();
                    let _ = tokio::time::timeout(timeout, b.collect()).await;
                    Some((parts.status, parts.headers))
                }
                Err(e) => {
                    // A body we stopped sending (the client failed or sent
                    // too much) says nothing about the node.
                    if !e.is_body_write_aborted() {
                        backend.limiter.error(&node, &format!("PUT: {e}"));
                    }
                    None
                }
            }
        }));
    }
    let need = quorum(replicas);
    if senders.len() < need {
        return headers::error(StatusCode::SERVICE_UNAVAILABLE, None);
    }
    if let Err(r) = pump(
        body,
        &mut senders,
        length,
        need,
        proxy.settings.client_timeout,
    )
    .await
    {
        return r;
    }
    drop(senders);
    let mut statuses = Vec::new();
    let mut good: Vec<HeaderMap> = Vec::new();
    let wait = proxy.backend.node_timeout + Duration::from_secs(1);
    for w in waiters {
        match tokio::time::timeout(wait, w).await {
            Ok(Ok(Some((s, h)))) => {
                if s.is_success() {
                    good.push(h);
                }
                statuses.push(s);
            }
            _ => statuses.push(StatusCode::SERVICE_UNAVAILABLE),
        }
    }
    while statuses.len() < replicas {
        statuses.push(StatusCode::SERVICE_UNAVAILABLE);
    }
    let status = best_status(&statuses, replicas);
    if !status.is_success() {
        return headers::error(status, None);
    }
    let etags: Vec<&str> = good
        .iter()
        .filter_map(|h| headers::get(h, "etag"))
        .collect();
    if etags.windows(2).any(|w| w[0] != w[1]) {
        return headers::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("Object servers disagree on the ETag"),
        );
    }
    let mut r = headers::empty_like(StatusCode::CREATED);
    let rh = r.headers_mut();
    headers::set(rh, "content-type", "text/html; charset=UTF-8");
    if let Some(e) = etags.first() {
        headers::set(rh, "etag", e);
    }
    if let Ok(t) = ts.parse::<f64>() {
        headers::set(
            rh,
            "last-modified",
            &crate::servers::http::http_date(t.ceil() as u64),
        );
    }
    r
}

/// Copies the client body to every live backend stream; fails with 499 on a
/// short body, 408 on a stalled client, 503 when fewer than `need` remain.
async fn pump(
    body: Body,
    senders: &mut [Option<mpsc::Sender<Chunk>>],
    length: Option<u64>,
    need: usize,
    client_timeout: Duration,
) -> Result<(), Response<Body>> {
    let mut body = body;
    let mut total = 0u64;
    loop {
        let frame = match tokio::time::timeout(client_timeout, body.frame()).await {
            Err(_) => return Err(headers::error(StatusCode::REQUEST_TIMEOUT, None)),
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(headers::error(
                    StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                    None,
                ))
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if length.is_some_and(|l| total > l) {
            return Err(headers::text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Your request is too large.",
            ));
        }
        if total > headers::MAX_FILE_SIZE {
            return Err(headers::text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Your request is too large.",
            ));
        }
        for s in senders.iter_mut() {
            if let Some(tx) = s {
                if tx.send(Ok(data.clone())).await.is_err() {
                    *s = None;
                }
            }
        }
        if senders.iter().filter(|s| s.is_some()).count() < need {
            return Err(headers::error(StatusCode::SERVICE_UNAVAILABLE, None));
        }
    }
    if length.is_some_and(|l| total < l) {
        for tx in senders.iter().flatten() {
            let _ = tx
                .send(Err(std::io::Error::other("client disconnected")))
                .await;
        }
        return Err(headers::error(
            StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            None,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_chunked_transfer_coding_is_accepted() {
        let te = |v: &str| {
            let mut h = HeaderMap::new();
            headers::set(&mut h, "transfer-encoding", v);
            transfer_encoding(&h).map_err(|(s, _)| s.as_u16())
        };
        assert_eq!(transfer_encoding(&HeaderMap::new()), Ok(false));
        assert_eq!(te("chunked"), Ok(true));
        assert_eq!(te("Chunked"), Ok(true));
        assert_eq!(te("gzip,chunked"), Err(501));
        assert_eq!(te("gzip"), Err(400));
    }
}
