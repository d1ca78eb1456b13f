//! Server-side copy: `COPY` with `Destination`, and `PUT` with
//! `X-Copy-From`. The source is read through the object controller (so DLO
//! manifests copy as their contents) and written as a new PUT.
//!
//! CORS, as Swift's copy middleware gets it from the requests it makes: a
//! failed read of the source answers with the source container's CORS
//! headers, the write with the destination container's (exposing only
//! what the write itself answered, not the `X-Copied-From` headers added
//! after it), and a malformed copy request with none.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::cors;
use super::headers;
use super::pipeline::{check_access, ApiPath, Ctx};
use super::server::Proxy;
use crate::servers::http::quote;

/// `container/object` from a header (URL-encoded, leading `/` optional).
fn split_target(v: &str) -> Option<(String, String)> {
    let v = percent_decode_str(v).decode_utf8().ok()?;
    let v = v.strip_prefix('/').unwrap_or(&v);
    let (c, o) = v.split_once('/')?;
    (!c.is_empty() && !o.is_empty()).then(|| (c.to_string(), o.to_string()))
}

/// How a copy request names its other end: `COPY` names the destination
/// (the path is the source), `PUT` with `X-Copy-From` names the source.
struct Direction {
    /// The header naming the other end's `container/object`, as Swift
    /// spells it in its error message.
    target: &'static str,
    /// The header naming the other end's account.
    account: &'static str,
    /// The access the user needs to the other end.
    access: Method,
    path_is_source: bool,
}

const COPY_TO: Direction = Direction {
    target: "Destination",
    account: "destination-account",
    access: Method::PUT,
    path_is_source: true,
};

const PUT_FROM: Direction = Direction {
    target: "X-Copy-From",
    account: "x-copy-from-account",
    access: Method::GET,
    path_is_source: false,
};

impl Direction {
    fn of(method: &Method) -> &'static Direction {
        if method.as_str() == "COPY" {
            &COPY_TO
        } else {
            &PUT_FROM
        }
    }
}

/// Checks a copy request as Swift's copy middleware does before anything
/// reads or writes (so before the user's access is judged): a PUT's body
/// (a 400), then the other end's account and `container/object` (412s).
/// Returns the other end: a COPY's destination, a PUT's source.
pub fn other_end(method: &Method, h: &HeaderMap, account: &str) -> Result<ApiPath, Response<Body>> {
    let d = Direction::of(method);
    let target = d.target.to_ascii_lowercase();
    let precondition = |msg: &str| Err(headers::text(StatusCode::PRECONDITION_FAILED, msg));
    if d.path_is_source {
        if headers::get(h, &target).is_none_or(str::is_empty) {
            return precondition("Destination header required");
        }
    } else if headers::get(h, "content-length").is_some_and(|l| l.trim() != "0") {
        let mut r = headers::text(
            StatusCode::BAD_REQUEST,
            "Copy requests require a zero byte body",
        );
        headers::set(r.headers_mut(), "content-type", "text/plain");
        return Err(r);
    }
    // A COPY's empty Destination-Account is refused; a PUT's empty
    // X-Copy-From-Account means the request's own account.
    let named = headers::get(h, d.account).filter(|v| d.path_is_source || !v.is_empty());
    let other_account = match named {
        None => account.to_string(),
        Some(v) => {
            let v = percent_decode_str(v).decode_utf8_lossy().into_owned();
            if v.is_empty() {
                return precondition("Account name cannot be empty");
            }
            if v.contains('/') {
                return precondition("Account name cannot contain slashes");
            }
            v
        }
    };
    let Some((c, o)) = headers::get(h, &target).and_then(split_target) else {
        return precondition(&format!(
            "{} header must be of the form <container name>/<object name>",
            d.target
        ));
    };
    Ok(ApiPath {
        account: other_account,
        container: Some(c),
        object: Some(o),
    })
}

/// `COPY /v1/a/c/o` with `Destination: c2/o2` (and `Destination-Account`).
pub async fn handle_copy(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    req: Request<Body>,
    here: (&str, &str, &str),
) -> Response<Body> {
    handle(proxy, ctx, req, here, &COPY_TO, None).await
}

/// `PUT` with `X-Copy-From: c/o` (and `X-Copy-From-Account`). With
/// `refusal`, the user may not write here: Swift's copy middleware checks
/// the request and reads the source first, so a malformed request, a
/// source the user may not read or a missing one answers before
/// `refusal` does.
pub async fn handle_put(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    req: Request<Body>,
    here: (&str, &str, &str),
    refusal: Option<Response<Body>>,
) -> Response<Body> {
    handle(proxy, ctx, req, here, &PUT_FROM, refusal).await
}

/// Either kind of copy: finds and authorizes the other end, then copies.
async fn handle(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    req: Request<Body>,
    here: (&str, &str, &str),
    d: &Direction,
    refusal: Option<Response<Body>>,
) -> Response<Body> {
    let h = req.headers().clone();
    let other = match other_end(req.method(), &h, here.0) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let oa = other.account.clone();
    let oc = other.container.clone().unwrap_or_default();
    let oo = other.object.clone().unwrap_or_default();
    // Swift reads the source (authorized as a read) before it writes the
    // destination: a missing source is a 404 even where the destination
    // would be refused. The pipeline has already checked the request path.
    let origin = headers::get(&h, "origin")
        .filter(|o| !o.is_empty())
        .map(str::to_string);
    if !d.path_is_source {
        if let Err(r) = check_access(proxy, ctx, &d.access, &h, &other).await {
            return with_cors(proxy, ctx, origin.as_deref(), (&oa, &oc), r).await;
        }
    }
    let mut put_headers = h;
    for k in [&d.target.to_ascii_lowercase(), d.account, "content-length"] {
        put_headers.remove(k);
    }
    let query = req.uri().query().map(str::to_string);
    let there = (oa.as_str(), oc.as_str(), oo.as_str());
    let (src, dst) = if d.path_is_source {
        (here, there)
    } else {
        (there, here)
    };
    let dest = match refusal {
        _ if d.path_is_source => Dest::Check(&other),
        Some(r) => Dest::Refused(r),
        None => Dest::Allowed,
    };
    let ends = Ends {
        src,
        dst,
        dest,
        origin: origin.as_deref(),
    };
    copy_into(proxy, ctx, put_headers, query, ends).await
}

/// Both ends of a copy, and the `Origin` of a CORS request.
struct Ends<'a> {
    src: (&'a str, &'a str, &'a str),
    dst: (&'a str, &'a str, &'a str),
    dest: Dest<'a>,
    origin: Option<&'a str>,
}

/// The user's right to write the destination of a copy.
enum Dest<'a> {
    Allowed,
    /// Still to be checked, at this path.
    Check(&'a ApiPath),
    /// Refused, with this answer (given once the source is read).
    Refused(Response<Body>),
}

/// `r` with the CORS headers of container `c` of account `a`, for a
/// request with `origin`.
async fn with_cors(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    origin: Option<&str>,
    (a, c): (&str, &str),
    mut r: Response<Body>,
) -> Response<Body> {
    if let Some(o) = origin {
        let info = proxy.container_info(a, c, &ctx.trans_id).await;
        cors::decorate(&proxy.settings.cors, &info, o, &mut r);
    }
    r
}

async fn copy_into(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    client: HeaderMap,
    query: Option<String>,
    ends: Ends<'_>,
) -> Response<Body> {
    let Ends {
        src,
        dst,
        dest,
        origin,
    } = ends;
    let manifest_get = super::dlo::manifest_get(query.as_deref());
    let mut get_headers = HeaderMap::new();
    for k in super::object::CONDITIONS {
        if let Some(v) = client.get(k) {
            get_headers.insert(k, v.clone());
        }
    }
    // A copy reads the newest replica of its source, as Swift's copy
    // middleware does: a replica that missed the latest write must not
    // become the copy.
    headers::set(&mut get_headers, "x-newest", "true");
    let source =
        super::object::read(proxy, ctx, &Method::GET, &get_headers, src, manifest_get).await;
    let is_manifest = source.headers().contains_key("x-object-manifest");
    if !source.status().is_success() {
        return with_cors(proxy, ctx, origin, (src.0, src.1), source).await;
    }
    let refused = match dest {
        Dest::Allowed => None,
        Dest::Check(p) => check_access(proxy, ctx, &Method::PUT, &client, p)
            .await
            .err(),
        Dest::Refused(r) => Some(r),
    };
    if let Some(r) = refused {
        return with_cors(proxy, ctx, origin, (dst.0, dst.1), r).await;
    }
    let (sparts, sbody) = source.into_parts();
    let length =
        headers::get(&sparts.headers, "content-length").and_then(|l| l.parse::<u64>().ok());
    if length.is_some_and(|l| l > headers::MAX_FILE_SIZE) {
        return headers::text(StatusCode::PAYLOAD_TOO_LARGE, "Your request is too large.");
    }
    let fresh = headers::get(&client, "x-fresh-metadata")
        .is_some_and(crate::conf::server_conf::config_true);
    let mut h = HeaderMap::new();
    for (k, v) in &sparts.headers {
        let n = k.as_str();
        let keep = n == "content-type"
            || (!fresh
                && (n.starts_with("x-object-meta-")
                    || matches!(
                        n,
                        "content-encoding"
                            | "content-disposition"
                            | "content-language"
                            | "cache-control"
                            | "expires"
                            | "x-delete-at"
                            | "x-robots-tag"
                    )))
            || (n == "x-object-manifest" && manifest_get);
        if keep {
            h.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &client {
        if k.as_str() == "x-fresh-metadata" {
            continue;
        }
        h.insert(k.clone(), v.clone());
    }
    match length {
        Some(l) => headers::set(&mut h, "content-length", &l.to_string()),
        None => headers::set(&mut h, "transfer-encoding", "chunked"),
    }
    h.remove("etag");
    h.remove("range");
    if is_manifest && !manifest_get {
        h.remove("x-object-manifest");
    }
    // Swift's answer repeats the metadata the copy wrote.
    let written: Vec<_> = h
        .iter()
        .filter(|(k, _)| copied_back(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let r = super::object_put::put(proxy, ctx, h, sbody, dst.0, dst.1, dst.2).await;
    let mut r = with_cors(proxy, ctx, origin, (dst.0, dst.1), r).await;
    if r.status().is_success() {
        let rh = r.headers_mut();
        headers::set(rh, "x-copied-from", &quote(&format!("{}/{}", src.1, src.2)));
        headers::set(rh, "x-copied-from-account", &quote(src.0));
        if let Some(lm) = headers::get(&sparts.headers, "last-modified") {
            headers::set(rh, "x-copied-from-last-modified", lm);
        }
        rh.extend(written);
    }
    r
}

/// The headers of a copy's write that its answer repeats, as Swift's copy
/// middleware picks them: user metadata, system metadata (which the
/// gatekeeper then keeps from clients) and `X-Delete-At`.
fn copied_back(name: &str) -> bool {
    name.starts_with("x-object-meta-")
        || name.starts_with("x-object-sysmeta-")
        || name.starts_with("x-object-transient-sysmeta-")
        || name == "x-delete-at"
}
