//! Streamed object PUT: connect to the primaries (a handoff stands in for
//! each primary that cannot be reached), send the body to all of them at
//! once with `Expect: 100-continue`, and answer once a quorum of the final
//! answers agrees (the others get `post_quorum_timeout`, then finish in the
//! background), as Swift's proxy does. A small body of known length goes
//! whole, in one request per node (see [`SMALL_PUT`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::headers;
use super::info::path_of;
use super::nodes::NodeAddr;
use super::object::{backend_headers, delete_at};
use super::pipeline::Ctx;
use super::putter::{self, Chunk, Putter};
use super::quorum::{best_status, have_quorum, quorum};
use super::rings::RingKind;
use super::server::Proxy;
use crate::storage::Timestamp;

/// Bodies of known length up to this size are read whole first and sent to
/// each node in one request, without `Expect: 100-continue`: no round trip
/// waits for the node's go-ahead, and the object server takes the body,
/// checks, writes and commits in one pass. A node that fails (no
/// connection, 5xx, 507) is replaced by the next handoff with the same
/// body, as in the expect phase. Requests with `If-None-Match` keep the
/// expect phase, so no node writes once one has answered 412.
pub const SMALL_PUT: u64 = 64 * 1024;

/// Validates a PUT's headers once its container is known, in the order
/// of Swift's `check_object_creation` (the body's length, the name, the
/// expiry time, the metadata); `Err` is the response to send, in plain text.
fn check(h: &mut HeaderMap, o: &str) -> Result<Option<u64>, Response<Body>> {
    let chunked = match transfer_encoding(h) {
        Ok(c) => c,
        Err((status, msg)) => return Err(headers::plain(status, msg)),
    };
    let length = match headers::get(h, "content-length").filter(|_| !chunked) {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(headers::plain(
                    StatusCode::BAD_REQUEST,
                    "Invalid Content-Length header value",
                ))
            }
        },
        None if chunked => None,
        None => {
            return Err(headers::plain(
                StatusCode::LENGTH_REQUIRED,
                "Missing Content-Length header.",
            ))
        }
    };
    if length.is_some_and(|n| n > headers::MAX_FILE_SIZE) {
        return Err(headers::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Your request is too large.",
        ));
    }
    if o.len() > headers::MAX_OBJECT_NAME_LENGTH {
        return Err(headers::plain(
            StatusCode::BAD_REQUEST,
            &format!(
                "Object name length of {} longer than {}",
                o.len(),
                headers::MAX_OBJECT_NAME_LENGTH
            ),
        ));
    }
    if let Err(m) = delete_at(h) {
        return Err(headers::plain(StatusCode::BAD_REQUEST, &m));
    }
    if let Err(m) = headers::check_metadata(h, "object") {
        return Err(headers::plain(StatusCode::BAD_REQUEST, &m));
    }
    Ok(length)
}

/// Gives a PUT without a content type (or asking for detection) the type
/// its name suggests, as Swift's proxy does before checking it.
fn update_content_type(h: &mut HeaderMap, o: &str) {
    if !h.contains_key("content-type")
        || headers::get(h, "x-detect-content-type")
            .is_some_and(crate::conf::server_conf::config_true)
    {
        let t = headers::guess_type(o);
        headers::set(h, "content-type", t);
        h.remove("x-detect-content-type");
    }
}

/// Swift's 400 for an `If-None-Match` other than `*`, which its proxy
/// sends before it looks at the container or the user.
pub fn check_if_none_match(h: &HeaderMap) -> Result<(), Response<Body>> {
    match headers::if_none_match_star(h) {
        Some(false) => Err(headers::plain(
            StatusCode::BAD_REQUEST,
            "If-None-Match only supports *",
        )),
        _ => Ok(()),
    }
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
    if let Err(r) = check_if_none_match(&client) {
        return r;
    }
    let info = proxy.container_info(a, c, &ctx.trans_id).await;
    if !info.exists() {
        return headers::error(info.status, None);
    }
    // Swift checks the rest once the container is known to exist.
    update_content_type(&mut client, o);
    let length = match check(&mut client, o) {
        Ok(l) => l,
        Err(r) => return r,
    };
    if let Err(m) = headers::check_content_type(&client) {
        return headers::text(StatusCode::BAD_REQUEST, m);
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
    let n = nodes.primaries.len().min(order.len());
    let replicas = nodes.replicas.max(n);
    let cont_nodes = proxy.rings.nodes(RingKind::Container, a, Some(c), None, 0);
    let expiring = super::object::delete_at_nodes(proxy, &client, a, c, o);
    let ts = Timestamp::now().internal();
    let mut hdrs = backend_headers(&client, ctx, policy);
    headers::set(&mut hdrs, "x-timestamp", &ts);
    headers::set(&mut hdrs, "expect", "100-continue");
    match length {
        // A request with Expect must have a body (RFC 7231 5.1.1): an
        // empty object goes chunked, as Swift sends it.
        Some(l) if l > 0 => headers::set(&mut hdrs, "content-length", &l.to_string()),
        _ => headers::set(&mut hdrs, "transfer-encoding", "chunked"),
    }
    let path = path_of(a, Some(c), Some(o));
    if let Some(l) = length.filter(|l| (1..=SMALL_PUT).contains(l)) {
        if !client.contains_key("if-none-match") {
            let body = match read_whole(body, l, proxy.settings.client_timeout).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            hdrs.remove("expect");
            let (first, rest) = order.split_at(n);
            let slot_headers = |i: usize| {
                let mut h = hdrs.clone();
                super::object::slot_update_headers(&mut h, &cont_nodes, &expiring, i, n);
                h
            };
            let answers = proxy
                .backend
                .fan_out(
                    first,
                    rest,
                    nodes.part,
                    Method::PUT,
                    &path,
                    body,
                    slot_headers,
                )
                .await;
            // A node holding something newer answers 409 before it writes,
            // as in the expect phase: the client hears 202.
            if answers.iter().any(|a| a.status == StatusCode::CONFLICT) {
                return headers::error(StatusCode::ACCEPTED, None);
            }
            let mut statuses: Vec<StatusCode> = answers.iter().map(|a| a.status).collect();
            while statuses.len() < replicas {
                statuses.push(StatusCode::SERVICE_UNAVAILABLE);
            }
            let good: Vec<HeaderMap> = answers
                .into_iter()
                .filter(|a| a.status.is_success())
                .map(|a| a.headers)
                .collect();
            return created(&statuses, &good, &ts);
        }
    }
    // Slot i carries the i-th container update whichever node fills it.
    let request_for = |i: usize, node: &NodeAddr, body: Body| -> Option<Request<Body>> {
        let mut h = hdrs.clone();
        headers::set(&mut h, "host", &node.host());
        super::object::slot_update_headers(&mut h, &cont_nodes, &expiring, i, n);
        let uri = super::backend::backend_uri(node, nodes.part, &path, None);
        let mut req = Request::new(body);
        *req.method_mut() = Method::PUT;
        *req.headers_mut() = h;
        *req.uri_mut() = uri.parse().ok()?;
        Some(req)
    };
    let spare: putter::Spare = std::sync::Mutex::new(order[n..].iter().cloned().collect());
    let done = putter::BodyDone::default();
    let putters: Vec<Putter> =
        futures::future::join_all(order[..n].iter().enumerate().map(|(i, first)| {
            let build = move |node: &NodeAddr, body: Body| request_for(i, node, body);
            putter::connect(&proxy.backend, first.clone(), &spare, &done, build)
        }))
        .await
        .into_iter()
        .flatten()
        .collect();
    let need = quorum(replicas);
    if let Some(r) = early_answer(&putters, &client, need) {
        return r;
    }
    let mut statuses = Vec::new();
    let mut good: Vec<HeaderMap> = Vec::new();
    let mut senders: Vec<Option<mpsc::Sender<Chunk>>> = Vec::new();
    let mut streams = Vec::new();
    for p in putters {
        match p {
            Putter::Streaming { node, tx, answer } => {
                senders.push(Some(tx));
                streams.push((node, answer));
            }
            Putter::Answered { status, headers } => {
                if status.is_success() {
                    good.push(headers);
                }
                statuses.push(status);
            }
        }
    }
    let need_streams = need.saturating_sub(statuses.len());
    if let Err(r) = pump(
        body,
        &mut senders,
        length,
        need_streams,
        proxy.settings.client_timeout,
    )
    .await
    {
        // The backend bodies fail as `senders` go: no node keeps the object.
        return r;
    }
    done.set();
    drop(senders);
    let mut finishing = tokio::task::JoinSet::new();
    for (node, answer) in streams {
        let backend = proxy.backend.clone();
        finishing.spawn(async move { putter::finish(&backend, &node, answer).await });
    }
    while !have_quorum(&statuses, replicas) {
        let Some(done) = finishing.join_next().await else {
            break;
        };
        take(done.ok().flatten(), &mut statuses, &mut good);
    }
    if !finishing.is_empty() {
        // Give the others a moment; past it they finish on their own (the
        // node keeps its copy), counted here as 503s.
        let _ = tokio::time::timeout(proxy.backend.post_quorum_timeout, async {
            while let Some(done) = finishing.join_next().await {
                take(done.ok().flatten(), &mut statuses, &mut good);
            }
        })
        .await;
        finishing.detach_all();
    }
    while statuses.len() < replicas {
        statuses.push(StatusCode::SERVICE_UNAVAILABLE);
    }
    created(&statuses, &good, &ts)
}

/// The client's answer from every replica's status and the headers of the
/// successful ones: the quorum's status, a 201 with the ETag they agree on.
fn created(statuses: &[StatusCode], good: &[HeaderMap], ts: &str) -> Response<Body> {
    let status = best_status(statuses);
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

/// Reads a body of `length` bytes whole: 413 when it is longer, 499 when
/// the client stops short, 408 when it stalls.
async fn read_whole(
    body: Body,
    length: u64,
    client_timeout: Duration,
) -> Result<bytes::Bytes, Response<Body>> {
    let mut body = body;
    let mut buf = bytes::BytesMut::with_capacity(length as usize);
    loop {
        let frame = match tokio::time::timeout(client_timeout, body.frame()).await {
            Err(_) => return Err(headers::error(StatusCode::REQUEST_TIMEOUT, None)),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(client_disconnected()),
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > length {
                return Err(headers::text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Your request is too large.",
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    if (buf.len() as u64) < length {
        return Err(client_disconnected());
    }
    Ok(buf.freeze())
}

/// Swift's 499 for a client that went away mid-body.
fn client_disconnected() -> Response<Body> {
    headers::error(
        StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        None,
    )
}

/// Counts one node's final answer (None: it failed), keeping a success's
/// headers for the ETag.
fn take(
    done: Option<(StatusCode, HeaderMap)>,
    statuses: &mut Vec<StatusCode>,
    good: &mut Vec<HeaderMap>,
) {
    if let Some((s, h)) = done {
        if s.is_success() {
            good.push(h);
        }
        statuses.push(s);
    }
}

/// What Swift answers once the expect phase is over, before any body is
/// sent: 412 when a node already holds the object and the client said
/// `If-None-Match: *`, 202 when a node holds something newer (409), 503
/// when fewer than `need` nodes are ready.
fn early_answer(putters: &[Putter], client: &HeaderMap, need: usize) -> Option<Response<Body>> {
    let early = |code: StatusCode| {
        putters
            .iter()
            .any(|p| matches!(p, Putter::Answered { status, .. } if *status == code))
    };
    let none_match_any = headers::if_none_match_star(client) == Some(true);
    if none_match_any && early(StatusCode::PRECONDITION_FAILED) {
        return Some(headers::error(StatusCode::PRECONDITION_FAILED, None));
    }
    if early(StatusCode::CONFLICT) {
        return Some(headers::error(StatusCode::ACCEPTED, None));
    }
    if putters.len() < need {
        return Some(headers::error(StatusCode::SERVICE_UNAVAILABLE, None));
    }
    None
}

/// Copies the client body to every live backend stream; fails with 499 on a
/// short body, 408 on a stalled client, 413 on too long a body, 503 when
/// fewer than `need` remain (the caller then drops the streams unfinished,
/// see [`putter::BodyDone`]).
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

    #[tokio::test]
    async fn a_small_body_is_read_whole_and_exactly() {
        let body = |parts: &[&'static str], fail: bool| {
            let mut items: Vec<Result<bytes::Bytes, std::io::Error>> = parts
                .iter()
                .map(|p| Ok(bytes::Bytes::from_static(p.as_bytes())))
                .collect();
            if fail {
                items.push(Err(std::io::Error::other("reset")));
            }
            Body::from_stream(futures::stream::iter(items))
        };
        let t = Duration::from_secs(5);
        let got = read_whole(body(&["abc", "de"], false), 5, t).await;
        assert_eq!(got.unwrap(), "abcde");
        let status = |r: Result<bytes::Bytes, Response<Body>>| r.unwrap_err().status().as_u16();
        assert_eq!(
            status(read_whole(body(&["abc", "def"], false), 5, t).await),
            413
        );
        assert_eq!(status(read_whole(body(&["abc"], false), 5, t).await), 499);
        assert_eq!(status(read_whole(body(&["abc"], true), 5, t).await), 499);
        let stalled = Body::from_stream(futures::stream::pending::<
            Result<bytes::Bytes, std::io::Error>,
        >());
        let short = Duration::from_millis(20);
        assert_eq!(status(read_whole(stalled, 5, short).await), 408);
    }

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
