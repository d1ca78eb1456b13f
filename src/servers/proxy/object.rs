//! The object controller: GET/HEAD with failover between replicas (and the
//! newest copy on `X-Newest`), POST and DELETE to every replica; PUT is in
//! `object_put`, DLO manifests in `dlo`, server-side copies in `copy`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::cors::{method_not_allowed, Kind};
use super::headers;
use super::info::path_of;
use super::nodes::NodeAddr;
use super::pipeline::Ctx;
use super::rings::RingKind;
use super::server::Proxy;
use crate::conf::proxy_conf::Filter;
use crate::storage::Timestamp;

/// Handles a request for `/v1/<account>/<container>/<object>`.
pub async fn handle(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    req: Request<Body>,
    a: &str,
    c: &str,
    o: &str,
) -> Response<Body> {
    let method = req.method().clone();
    match method {
        Method::GET | Method::HEAD => {
            let manifest_get = super::dlo::manifest_get(req.uri().query());
            let (parts, _) = req.into_parts();
            read(proxy, ctx, &method, &parts.headers, (a, c, o), manifest_get).await
        }
        Method::PUT => {
            if proxy.conf.has(Filter::Copy) && req.headers().contains_key("x-copy-from") {
                return super::copy::handle_put(proxy, ctx, req, (a, c, o), None).await;
            }
            let (parts, body) = req.into_parts();
            super::object_put::put(proxy, ctx, parts.headers, body, a, c, o).await
        }
        Method::POST | Method::DELETE => write(proxy, ctx, req, a, c, o).await,
        _ => method_not_allowed(Kind::Object, false),
    }
}

/// The request headers that make a read conditional or partial.
pub const CONDITIONS: [&str; 5] = [
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
];

/// A GET or HEAD of an object as the client sees it: a DLO manifest is
/// served as its segments (unless `manifest_get`, or the `dlo` middleware
/// is off), with its range and conditions judged against them.
pub async fn read(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    method: &Method,
    client: &HeaderMap,
    (a, c, o): (&str, &str, &str),
    manifest_get: bool,
) -> Response<Body> {
    let mut resp = get(proxy, ctx, method, client, a, c, o).await;
    let dlo = proxy.conf.has(Filter::Dlo) && !manifest_get;
    if dlo && matches!(resp.status().as_u16(), 304 | 412 | 416) {
        // The range and conditions were judged against the manifest
        // itself; a manifest is judged as its concatenation instead.
        let mut plain = client.clone();
        for k in CONDITIONS {
            plain.remove(k);
        }
        let again = get(proxy, ctx, method, &plain, a, c, o).await;
        if again.status().is_success() && again.headers().contains_key("x-object-manifest") {
            resp = again;
        }
    }
    if dlo && resp.headers().contains_key("x-object-manifest") && resp.status().is_success() {
        return super::dlo::serve(proxy, ctx, method, client, a, resp).await;
    }
    resp
}

/// The backend headers every object request carries.
pub fn backend_headers(client: &HeaderMap, ctx: &Ctx, policy: u32) -> HeaderMap {
    let mut h = headers::to_backend(client);
    headers::set(&mut h, "x-trans-id", &ctx.trans_id);
    headers::set(
        &mut h,
        "x-backend-storage-policy-index",
        &policy.to_string(),
    );
    h
}

/// Normalizes `X-Delete-After` into `X-Delete-At` and checks both as
/// Swift's proxy does: each must be an integer as Python reads one, and
/// the time it gives (kept between 0 and ten digits) must be later than
/// now; `Err` is the 400 body.
pub fn delete_at(h: &mut HeaderMap) -> Result<(), String> {
    let now = Timestamp::now().as_f64();
    // Swift's delete-at times: ten digits, never below 0 or above 10^10-1.
    let clamp = |t: i128| t.clamp(0, 9_999_999_999) as i64;
    if let Some(after) = h.get("x-delete-after") {
        let secs =
            python_int(after.as_bytes()).ok_or_else(|| "Non-integer X-Delete-After".to_string())?;
        let at = clamp((now as i128).saturating_add(secs));
        if (at as f64) <= now {
            return Err("X-Delete-After in past".into());
        }
        h.remove("x-delete-after");
        headers::set(h, "x-delete-at", &format!("{at:010}"));
    }
    if let Some(at) = h.get("x-delete-at") {
        let at = python_int(at.as_bytes()).ok_or_else(|| "Non-integer X-Delete-At".to_string())?;
        let at = clamp(at);
        if (at as f64) <= now {
            return Err("X-Delete-At in past".into());
        }
        headers::set(h, "x-delete-at", &format!("{at:010}"));
    }
    Ok(())
}

/// An integer as Python's `int()` reads a header value: surrounding
/// whitespace, a sign, decimal digits with single underscores between
/// them. Values past what `i128` holds saturate (Swift clamps them anyway).
fn python_int(v: &[u8]) -> Option<i128> {
    let v = v.trim_ascii();
    let (negative, digits) = match v.first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    let ok = !digits.is_empty()
        && digits.first()?.is_ascii_digit()
        && digits.last()?.is_ascii_digit()
        && !digits.windows(2).any(|w| w == b"__")
        && digits.iter().all(|b| b.is_ascii_digit() || *b == b'_');
    if !ok {
        return None;
    }
    let n = digits
        .iter()
        .filter(|b| b.is_ascii_digit())
        .fold(0i128, |n, b| {
            n.saturating_mul(10).saturating_add(i128::from(b - b'0'))
        });
    Some(if negative { -n } else { n })
}

/// Where the expiring-objects queue row of a write with `X-Delete-At`
/// goes: the task container and its container nodes (Swift's proxy sends
/// them as `X-Delete-At-Container`/`-Host`/`-Device`/`-Partition`).
pub fn delete_at_nodes(
    proxy: &super::server::Proxy,
    h: &HeaderMap,
    a: &str,
    c: &str,
    o: &str,
) -> Option<(String, super::rings::PartNodes)> {
    use crate::storage::expiring;
    let at: u64 = headers::get(h, "x-delete-at")?.trim().parse().ok()?;
    let digest = proxy.rings.hash.hash_path(a, Some(c), Some(o)).ok()?;
    let container = expiring::task_container(at, &crate::storage::hashpath::hex(&digest));
    let nodes = proxy.rings.nodes(
        super::rings::RingKind::Container,
        expiring::ACCOUNT,
        Some(&container),
        None,
        0,
    )?;
    Some((container, nodes))
}

/// Adds one backend slot's share of the queue-row update headers.
pub fn delete_at_headers(
    h: &mut HeaderMap,
    target: &Option<(String, super::rings::PartNodes)>,
    slot: usize,
    slots: usize,
) {
    if let Some((container, nodes)) = target {
        super::writes::update_headers(h, "delete-at", nodes.part, &nodes.primaries, slot, slots);
        headers::set(h, "x-delete-at-container", container);
    }
}

/// The headers that differ from one node slot of an object write to the
/// next: the slot's container update and, when the object expires, its
/// delete-at update.
pub fn slot_update_headers(
    h: &mut HeaderMap,
    container: &Option<super::rings::PartNodes>,
    expiring: &Option<(String, super::rings::PartNodes)>,
    slot: usize,
    slots: usize,
) {
    if let Some(cn) = container {
        super::writes::update_headers(h, "container", cn.part, &cn.primaries, slot, slots);
    }
    delete_at_headers(h, expiring, slot, slots);
}

/// GET or HEAD of one object (no manifest handling), its headers as
/// Swift's proxy answers: an answer relayed without a content type (a 304
/// or 412 of the object servers) is typed as Swift's responses are by
/// default, and a content type ending in a `swift_bytes` parameter (which
/// a POST may set) is answered without it.
pub async fn get(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    method: &Method,
    client: &HeaderMap,
    a: &str,
    c: &str,
    o: &str,
) -> Response<Body> {
    let mut r = get_relayed(proxy, ctx, method, client, a, c, o).await;
    let h = r.headers_mut();
    match h.get("content-type") {
        None => headers::set(h, "content-type", "text/html; charset=UTF-8"),
        Some(v) => {
            let clean = headers::clean_content_type(v.as_bytes());
            if clean.len() < v.len() {
                if let Ok(v) = axum::http::HeaderValue::from_bytes(clean) {
                    h.insert("content-type", v);
                }
            }
        }
    }
    r
}

/// [`get`] as the object servers answer it.
async fn get_relayed(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    method: &Method,
    client: &HeaderMap,
    a: &str,
    c: &str,
    o: &str,
) -> Response<Body> {
    let info = proxy.container_info(a, c, &ctx.trans_id).await;
    if info.status == StatusCode::NOT_FOUND {
        // Swift asks the object servers all the same; they find nothing.
        return headers::relayed_not_found();
    }
    if !info.exists() {
        return headers::error(info.status, None);
    }
    let policy = info.policy();
    let hdrs = backend_headers(client, ctx, policy);
    let kind = RingKind::Object(policy);
    if headers::get(client, "x-newest").is_some_and(crate::conf::server_conf::config_true) {
        return newest(proxy, kind, method, &hdrs, a, c, o).await;
    }
    match proxy
        .read_first(kind, a, Some(c), Some(o), method, None, &hdrs)
        .await
    {
        Ok((resp, _node, rest, part)) => {
            let plain_get = *method == Method::GET
                && resp.status() == StatusCode::OK
                && !client.contains_key("range");
            let (parts, body) = resp.into_parts();
            let mut out_headers = headers::from_backend(&parts.headers);
            headers::set(&mut out_headers, "accept-ranges", "bytes");
            let body = if plain_get {
                let etag = headers::get(&parts.headers, "etag").map(str::to_string);
                failover_body(
                    proxy.clone(),
                    body,
                    rest,
                    part,
                    path_of(a, Some(c), Some(o)),
                    hdrs,
                    etag,
                )
            } else {
                Body::new(body)
            };
            let mut r = Response::new(body);
            *r.status_mut() = parts.status;
            *r.headers_mut() = out_headers;
            r
        }
        Err((StatusCode::NOT_FOUND, _)) => headers::relayed_not_found(),
        Err((s, _)) => headers::error(s, None),
    }
}

/// `X-Newest`: asks every node (primaries, then handoffs) and answers with
/// the newest copy, as Swift's proxy does: a 2xx or 3xx answer (or a 416)
/// is a candidate unless a node's 404 tells of a newer deletion; without a
/// candidate, the other answers' quorum decides. A handoff's 404 or server
/// error counts only if it knows of a deletion, and so does the first such
/// 404 of a primary (Swift's `rebalance_missing_suppression_count`, 1).
async fn newest(
    proxy: &Arc<Proxy>,
    kind: RingKind,
    method: &Method,
    hdrs: &HeaderMap,
    a: &str,
    c: &str,
    o: &str,
) -> Response<Body> {
    let Some((part, nodes)) = proxy.read_nodes(kind, a, Some(c), Some(o)) else {
        return headers::error(StatusCode::SERVICE_UNAVAILABLE, None);
    };
    let primaries = proxy
        .rings
        .nodes(kind, a, Some(c), Some(o), 0)
        .map(|n| n.primaries)
        .unwrap_or_default();
    let mut suppress = 1.min(primaries.len().saturating_sub(1));
    let path = path_of(a, Some(c), Some(o));
    let stamp = |h: &HeaderMap, names: &[&str]| {
        let found = names.iter().find_map(|n| headers::get(h, n));
        found.and_then(Timestamp::parse).unwrap_or_default()
    };
    let mut sources: Vec<(Timestamp, Response<Incoming>)> = Vec::new();
    let mut others: Vec<Response<Incoming>> = Vec::new();
    let mut deleted = Timestamp::default();
    for node in nodes.iter() {
        let Ok(resp) = proxy
            .backend
            .request(node, part, method, &path, None, hdrs, Bytes::new())
            .await
        else {
            continue;
        };
        let s = resp.status();
        if s.is_success() || s.is_redirection() || s == StatusCode::RANGE_NOT_SATISFIABLE {
            let names = [
                "x-backend-data-timestamp",
                "x-backend-timestamp",
                "x-put-timestamp",
                "x-timestamp",
            ];
            let ts = stamp(resp.headers(), &names);
            if ts >= deleted {
                sources.push((ts, resp));
            }
            continue;
        }
        let known = stamp(resp.headers(), &["x-backend-timestamp"]);
        let missing = s == StatusCode::NOT_FOUND && known == Timestamp::default();
        if missing || (s.is_server_error() && known == Timestamp::default()) {
            if !primaries.contains(node) {
                continue;
            }
            if missing && suppress > 0 {
                suppress -= 1;
                continue;
            }
        }
        if s == StatusCode::NOT_FOUND {
            deleted = deleted.max(known);
        }
        others.push(resp);
    }
    // The newest; of equal ones, the last asked.
    let best = sources
        .into_iter()
        .filter(|(ts, _)| *ts >= deleted)
        .reduce(|best, next| if next.0 >= best.0 { next } else { best });
    if let Some((_, resp)) = best {
        let mut r = super::info::relay(resp);
        headers::set(r.headers_mut(), "accept-ranges", "bytes");
        return r;
    }
    let statuses: Vec<StatusCode> = others.iter().map(|r| r.status()).collect();
    match super::quorum::best_answer(&statuses, &[]) {
        Some(i) if statuses[i] == StatusCode::NOT_FOUND => headers::relayed_not_found(),
        Some(i) => super::info::relay(others.swap_remove(i)),
        None => headers::error(StatusCode::SERVICE_UNAVAILABLE, None),
    }
}

/// A GET body that, if its replica fails mid-stream, resumes from the next
/// replica at the same offset (same ETag required).
fn failover_body(
    proxy: Arc<Proxy>,
    first: Incoming,
    rest: Vec<NodeAddr>,
    part: u32,
    path: String,
    hdrs: HeaderMap,
    etag: Option<String>,
) -> Body {
    struct St {
        body: Option<Incoming>,
        rest: std::vec::IntoIter<NodeAddr>,
        sent: u64,
    }
    let st = St {
        body: Some(first),
        rest: rest.into_iter(),
        sent: 0,
    };
    let stream = futures::stream::unfold(st, move |mut st| {
        let proxy = proxy.clone();
        let path = path.clone();
        let hdrs = hdrs.clone();
        let etag = etag.clone();
        async move {
            loop {
                let body = st.body.as_mut()?;
                match body.frame().await {
                    None => return None,
                    Some(Ok(f)) => {
                        if let Ok(d) = f.into_data() {
                            st.sent += d.len() as u64;
                            return Some((Ok::<Bytes, std::io::Error>(d), st));
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!("GET {path}: replica failed after {} bytes: {e}", st.sent);
                        st.body = None;
                        let etag = etag.as_ref()?;
                        let mut h = hdrs.clone();
                        headers::set(&mut h, "range", &format!("bytes={}-", st.sent));
                        headers::set(&mut h, "if-match", etag);
                        for node in st.rest.by_ref() {
                            if let Ok(r) = proxy
                                .backend
                                .request(&node, part, &Method::GET, &path, None, &h, Bytes::new())
                                .await
                            {
                                if r.status() == StatusCode::PARTIAL_CONTENT {
                                    st.body = Some(r.into_body());
                                    break;
                                }
                            }
                        }
                        if st.body.is_none() {
                            return Some((Err(std::io::Error::other("all replicas failed")), st));
                        }
                    }
                }
            }
        }
    });
    Body::from_stream(stream)
}

async fn write(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    req: Request<Body>,
    a: &str,
    c: &str,
    o: &str,
) -> Response<Body> {
    let method = req.method().clone();
    let mut client = req.headers().clone();
    let info = proxy.container_info(a, c, &ctx.trans_id).await;
    if !info.exists() {
        return headers::error(info.status, None);
    }
    // Swift checks a POST's headers once the container is known to exist.
    if method == Method::POST {
        if let Err(m) = headers::check_metadata(&client, "object") {
            return headers::plain(StatusCode::BAD_REQUEST, &m);
        }
        if let Err(m) = delete_at(&mut client) {
            return headers::plain(StatusCode::BAD_REQUEST, &m);
        }
    }
    let policy = info.policy();
    let hdrs = backend_headers(&client, ctx, policy);
    let cont_nodes = proxy.rings.nodes(RingKind::Container, a, Some(c), None, 0);
    let is_delete = method == Method::DELETE;
    // A DELETE may carry its own X-Timestamp (the expirer deletes at the
    // object's X-Delete-At), as Swift's proxy allows.
    let ts = headers::get(&client, "x-timestamp")
        .filter(|_| is_delete)
        .and_then(Timestamp::parse)
        .unwrap_or_else(Timestamp::now)
        .internal();
    let expiring = if is_delete {
        None
    } else {
        delete_at_nodes(proxy, &client, a, c, o)
    };
    let w = proxy
        .write_replicas(
            RingKind::Object(policy),
            a,
            Some(c),
            Some(o),
            method,
            // Swift's object DELETE: a 404 counts as deleted when
            // nothing else makes a quorum.
            if is_delete { &[(404, 204)] } else { &[] },
            |i, n| {
                let mut h = hdrs.clone();
                headers::set(&mut h, "x-timestamp", &ts);
                // POST too: a new Content-Type reaches the container listing.
                slot_update_headers(&mut h, &cont_nodes, &expiring, i, n);
                h
            },
        )
        .await;
    let r = w.response();
    if r.status().is_success() {
        let mut ok = if is_delete {
            headers::empty_like(r.status())
        } else {
            headers::error(r.status(), None)
        };
        headers::set(ok.headers_mut(), "content-type", "text/html; charset=UTF-8");
        return ok;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_as_python_reads_them() {
        let int = |v: &str| python_int(v.as_bytes());
        assert_eq!(int("42"), Some(42));
        assert_eq!(int(" +4_2 "), Some(42));
        assert_eq!(int("-5"), Some(-5));
        for bad in ["", "-", "1e10", "nan", "1.5", "4__2", "_4", "4_", "0x10"] {
            assert_eq!(int(bad), None, "{bad}");
        }
        assert_eq!(int(&"9".repeat(60)), Some(i128::MAX));
    }

    #[test]
    fn expiry_times_are_checked_as_swifts_proxy_checks_them() {
        let check = |k: &str, v: &str| {
            let mut h = HeaderMap::new();
            headers::set(&mut h, k, v);
            delete_at(&mut h).map(|()| headers::get(&h, "x-delete-at").map(str::to_string))
        };
        assert_eq!(
            check("x-delete-at", "-5").unwrap_err(),
            "X-Delete-At in past"
        );
        assert_eq!(
            check("x-delete-at", "1e10").unwrap_err(),
            "Non-integer X-Delete-At"
        );
        assert_eq!(
            check("x-delete-after", "0").unwrap_err(),
            "X-Delete-After in past"
        );
        assert_eq!(
            check("x-delete-at", "99999999999").unwrap(),
            Some("9999999999".to_string())
        );
        let later = check("x-delete-after", "+600").unwrap().unwrap();
        assert_eq!(later.len(), 10);
    }
}
