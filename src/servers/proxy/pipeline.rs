//! The middleware pipeline, in Swift's order: catch_errors (transaction
//! ids, error answers), gatekeeper (no backend-only headers in or out),
//! healthcheck, proxy-logging, `/info`, tempauth (tokens and
//! authorization), copy, then the controllers (dlo and listing_formats act
//! inside the object and listing controllers).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::account_acl;
use super::cors::{self, Kind};
use super::headers;
use super::info::Info;
use super::server::Proxy;
use super::tempauth::{Identity, Verdict};
use crate::conf::proxy_conf::Filter;

/// Per-request state the controllers see.
pub struct Ctx {
    pub trans_id: String,
    pub who: Option<Identity>,
    /// Whether the user owns the account (sees ACLs, may change them).
    pub owner: bool,
}

/// A decoded `/v1/a[/c[/o]]` path.
pub struct ApiPath {
    pub account: String,
    pub container: Option<String>,
    pub object: Option<String>,
}

/// Why a path names no account, container or object, each answered as
/// Swift's proxy answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    /// Not UTF-8 once decoded, or holds a NUL: 412.
    Utf8,
    /// No account (`/v1`, `/info asdf`): 412 `Bad URL`.
    NoAccount,
    /// An empty segment before the last one: 404.
    NotFound,
    /// A version other than `v1`/`v1.0`: 400.
    Version,
}

impl BadPath {
    pub fn response(self) -> Response<Body> {
        match self {
            BadPath::Utf8 => headers::text(
                StatusCode::PRECONDITION_FAILED,
                "Invalid UTF8 or contains NULL",
            ),
            BadPath::NoAccount => headers::text(StatusCode::PRECONDITION_FAILED, "Bad URL"),
            BadPath::NotFound => headers::error(StatusCode::NOT_FOUND, None),
            BadPath::Version => headers::error(StatusCode::BAD_REQUEST, None),
        }
    }
}

/// Splits a request path as Swift does: `/<version>/<account>[/<container>[/<object>]]`,
/// the object keeping any further slashes; empty trailing parts are absent.
pub fn parse_path(raw: &str) -> Result<ApiPath, BadPath> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| BadPath::Utf8)?;
    if decoded.contains('\0') {
        return Err(BadPath::Utf8);
    }
    let rest = decoded.strip_prefix('/').ok_or(BadPath::NotFound)?;
    let segs: Vec<&str> = rest.splitn(4, '/').collect();
    if segs[0].is_empty() || segs[..segs.len() - 1].iter().any(|s| s.is_empty()) {
        return Err(BadPath::NotFound);
    }
    let part = |i: usize| segs.get(i).filter(|s| !s.is_empty()).map(|s| s.to_string());
    let (account, container, object) = (part(1), part(2), part(3));
    let Some(account) = account else {
        return Err(BadPath::NoAccount);
    };
    if segs[0] != "v1" && segs[0] != "v1.0" {
        return Err(BadPath::Version);
    }
    Ok(ApiPath {
        account,
        container,
        object,
    })
}

/// Runs a request through the pipeline.
pub async fn handle(proxy: Arc<Proxy>, mut req: Request<Body>) -> Response<Body> {
    let start = Instant::now();
    let suffix = headers::get(req.headers(), "x-trans-id-extra")
        .map(|s| format!("-{}", &s[..s.len().min(32)]))
        .unwrap_or_default();
    let trans_id = headers::new_trans_id(&suffix);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // A client that asks for keep-alive hears it confirmed, as from Swift's
    // WSGI server.
    let keep_alive = headers::get(req.headers(), "connection").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("keep-alive"))
    });
    if proxy.conf.has(Filter::Gatekeeper) {
        strip_inbound(req.headers_mut());
    }
    let mut resp = if header_line_too_long(req.headers()) {
        // Swift's HTTP server refuses a request with a header line of
        // max_header_size bytes or more before anything else sees it.
        let mut r = headers::empty_like(StatusCode::BAD_REQUEST);
        headers::set(r.headers_mut(), "connection", "close");
        r
    } else {
        route(&proxy, req, &trans_id).await
    };
    let h = resp.headers_mut();
    if proxy.conf.has(Filter::Gatekeeper) {
        let drop: Vec<_> = h
            .keys()
            .filter(|k| !headers::client_visible(k.as_str()) && k.as_str() != "date")
            .cloned()
            .collect();
        for k in drop {
            h.remove(k);
        }
    }
    if keep_alive {
        headers::set(h, "connection", "keep-alive");
    }
    headers::set(h, "x-trans-id", &trans_id);
    headers::set(h, "x-openstack-request-id", &trans_id);
    if method == Method::HEAD {
        *resp.body_mut() = Body::empty();
    } else if resp.status() == StatusCode::NO_CONTENT {
        headers::announce_empty(&mut resp);
    }
    if proxy.conf.has(Filter::ProxyLogging) {
        tracing::info!(
            "{} {} {} {} {:.4}",
            method,
            path,
            resp.status().as_u16(),
            trans_id,
            start.elapsed().as_secs_f64()
        );
    }
    resp
}

/// Whether a header line (`Name: value` and its CRLF) reaches
/// `max_header_size`.
fn header_line_too_long(h: &HeaderMap) -> bool {
    h.iter()
        .any(|(k, v)| k.as_str().len() + v.len() + 4 >= headers::MAX_HEADER_SIZE)
}

fn strip_inbound(h: &mut HeaderMap) {
    let drop: Vec<_> = h
        .keys()
        .filter(|k| {
            let n = k.as_str();
            n.starts_with("x-backend-")
                || n.contains("-sysmeta-")
                || n.starts_with("x-object-transient-sysmeta-")
        })
        .cloned()
        .collect();
    for k in drop {
        h.remove(k);
    }
}

async fn route(proxy: &Arc<Proxy>, mut req: Request<Body>, trans_id: &str) -> Response<Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if proxy.conf.has(Filter::Healthcheck) && path == "/healthcheck" {
        let mut r = Response::new(Body::from("OK"));
        headers::set(r.headers_mut(), "content-type", "text/plain");
        return r;
    }
    let mut who = None;
    if let Some(auth) = &proxy.auth {
        if (path == "/auth/v1.0" || path.starts_with("/auth/") || path == "/v1.0")
            && method == Method::GET
        {
            let host = headers::get(req.headers(), "host").unwrap_or("127.0.0.1");
            return auth.get_token(&proxy.cache, req.headers(), host).await;
        }
        who = auth.identify(&proxy.cache, req.headers()).await;
        if who.is_none() && auth.claims_token(req.headers()) {
            // A token of ours that is not (or no longer) valid is refused
            // before anything else looks at the request.
            return unauthorized(realm(&path));
        }
    }
    if path == "/info" {
        return super::swift_info::info_response(proxy, &method, req.headers());
    }
    let p = match parse_path(&path) {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    if p.account.len() > headers::MAX_ACCOUNT_NAME_LENGTH {
        return headers::text(StatusCode::BAD_REQUEST, "Account name length too long");
    }
    if let Err(r) = account_acl_header(proxy, &p, req.headers_mut()) {
        return r;
    }
    let kind = match (&p.container, &p.object) {
        (None, _) => Kind::Account,
        (Some(_), None) => Kind::Container,
        _ => Kind::Object,
    };
    let mut ctx = Ctx {
        trans_id: trans_id.to_string(),
        who,
        owner: false,
    };
    // A request with an Origin on a container or object is a CORS request.
    let origin = headers::get(req.headers(), "origin")
        .filter(|o| !o.is_empty() && kind != Kind::Account && method != Method::OPTIONS)
        .map(str::to_string);
    // A server-side copy is judged by its parts, as Swift's copy middleware
    // makes them: a read of the source and a write of the destination, each
    // answering with its own container's CORS headers (see `copy`).
    let copying = kind == Kind::Object
        && proxy.conf.has(Filter::Copy)
        && (method.as_str() == "COPY"
            || (method == Method::PUT && req.headers().contains_key("x-copy-from")));
    // The copy middleware checks a copy's headers before the user's access
    // is judged (tempauth only decides once the controllers ask it).
    if copying {
        if let Err(r) = super::copy::other_end(&method, req.headers(), &p.account) {
            return r;
        }
    }
    match check_access(proxy, &ctx, &method, req.headers(), &p).await {
        Ok(owner) => ctx.owner = owner,
        Err(r) if copying && method == Method::PUT => {
            let c = p.container.as_deref().unwrap_or_default();
            let o = p.object.as_deref().unwrap_or_default();
            let here = (p.account.as_str(), c, o);
            return super::copy::handle_put(proxy, &ctx, req, here, Some(r)).await;
        }
        Err(mut r) => {
            // Swift's proxy refuses an If-None-Match other than `*` before
            // it judges the user.
            if kind == Kind::Object && method == Method::PUT {
                if let Err(bad) = super::object_put::check_if_none_match(req.headers()) {
                    r = bad;
                }
            }
            if let Some(o) = origin
                .as_deref()
                .filter(|_| cors::denial_decorated(kind, &method))
            {
                let info = cors_container(proxy, &p, trans_id).await;
                cors::decorate(&proxy.settings.cors, &info, o, &mut r);
            }
            return r;
        }
    }
    if method == Method::OPTIONS {
        let info = match kind {
            Kind::Account => None,
            _ if headers::get(req.headers(), "origin").is_some_and(|o| !o.is_empty()) => {
                Some(cors_container(proxy, &p, trans_id).await)
            }
            _ => None,
        };
        return cors::options(proxy, kind, req.headers(), info.as_deref());
    }
    // Swift reads the container's CORS settings before handling the
    // request.
    let cors_info = match &origin {
        Some(_) if !copying => Some(cors_container(proxy, &p, trans_id).await),
        _ => None,
    };
    let mut resp = match (&p.container, &p.object) {
        (None, _) => super::account::handle(proxy, &ctx, req, &p.account).await,
        (Some(c), None) => super::container::handle(proxy, &ctx, req, &p.account, c).await,
        (Some(c), Some(o)) => {
            if method.as_str() == "COPY" && proxy.conf.has(Filter::Copy) {
                super::copy::handle_copy(proxy, &ctx, req, (&p.account, c, o)).await
            } else {
                super::object::handle(proxy, &ctx, req, &p.account, c, o).await
            }
        }
    };
    if !ctx.owner {
        for name in &proxy.settings.owner_headers {
            resp.headers_mut().remove(name.as_str());
        }
    }
    if let (Some(o), Some(info)) = (&origin, &cors_info) {
        cors::decorate(&proxy.settings.cors, info, o, &mut resp);
    }
    resp
}

/// The container whose CORS settings apply to a request.
async fn cors_container(proxy: &Arc<Proxy>, p: &ApiPath, trans_id: &str) -> Arc<Info> {
    let c = p.container.as_deref().unwrap_or("");
    proxy.container_info(&p.account, c, trans_id).await
}

/// tempauth's handling of `X-Account-Access-Control` on any request to an
/// account it answers for: a value that is not a valid ACL is a 400; a
/// valid one travels on as the account sysmeta that stores it.
fn account_acl_header(proxy: &Proxy, p: &ApiPath, h: &mut HeaderMap) -> Result<(), Response<Body>> {
    let Some(auth) = &proxy.auth else {
        return Ok(());
    };
    let Some(v) = h.remove(account_acl::HEADER) else {
        return Ok(());
    };
    if !auth.owns_prefix(&p.account) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(v.as_bytes());
    if let Err(msg) = account_acl::validate(&text) {
        let mut r = headers::text(StatusCode::BAD_REQUEST, &msg);
        headers::set(r.headers_mut(), "content-type", "text/plain; charset=UTF-8");
        return Err(r);
    }
    h.insert(account_acl::SYSMETA, v);
    Ok(())
}

/// tempauth's check, with the container's ACL fetched when it matters and
/// the account's ACL when nothing else allows the request. `Ok(owner)`:
/// allowed, and whether the user may see and set the account's privileged
/// headers. (COPY is checked as a read of its source; `copy` checks the
/// destination.) Ownership is judged for `p`'s account, which for a copy
/// may not be the account of the request's path.
pub async fn check_access(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    method: &Method,
    hdrs: &HeaderMap,
    p: &ApiPath,
) -> Result<bool, Response<Body>> {
    let Some(auth) = &proxy.auth else {
        return Ok(true);
    };
    let method = if method.as_str() == "COPY" {
        &Method::GET
    } else {
        method
    };
    let first = auth.authorize(
        ctx.who.as_ref(),
        method,
        &p.account,
        p.container.as_deref(),
        p.object.as_deref(),
        None,
        None,
    );
    let denied = match first {
        Verdict::Allow { owner } => return Ok(owner),
        Verdict::Deny(status) => status,
        Verdict::AskAccount(denied) => {
            // Swift's first pass (before any container ACL is known) ends
            // with the account's ACL, which can make the user an owner.
            let info = proxy.account_info(&p.account, &ctx.trans_id).await;
            let by_account = auth.authorize_by_account(
                ctx.who.as_ref(),
                method,
                p.container.as_deref(),
                info.header(account_acl::SYSMETA),
                denied,
            );
            if let Ok(owner) = by_account {
                return Ok(owner);
            }
            denied
        }
    };
    // Object requests and container reads may still be allowed by the
    // container's ACL, as Swift's controllers ask again with it.
    let status = match &p.container {
        Some(c)
            if matches!(first, Verdict::AskAccount(_))
                && (p.object.is_some() || matches!(*method, Method::GET | Method::HEAD)) =>
        {
            let info = proxy.container_info(&p.account, c, &ctx.trans_id).await;
            let name = if matches!(*method, Method::GET | Method::HEAD) {
                "x-container-read"
            } else {
                "x-container-write"
            };
            let again = auth.authorize(
                ctx.who.as_ref(),
                method,
                &p.account,
                p.container.as_deref(),
                p.object.as_deref(),
                info.header(name),
                headers::get(hdrs, "referer"),
            );
            match again {
                Verdict::Allow { owner } => return Ok(owner),
                Verdict::Deny(status) | Verdict::AskAccount(status) => status,
            }
        }
        _ => denied,
    };
    if status == StatusCode::UNAUTHORIZED {
        return Err(unauthorized(&crate::servers::http::quote(&p.account)));
    }
    Err(headers::error(status, None))
}

/// A 401 naming the realm (the account) the client should log in to.
fn unauthorized(realm: &str) -> Response<Body> {
    let mut r = headers::error(StatusCode::UNAUTHORIZED, None);
    headers::set(
        r.headers_mut(),
        "www-authenticate",
        &format!("Swift realm=\"{realm}\""),
    );
    r
}

/// The account of a `/<version>/<account>[/...]` path, as tempauth names
/// the realm of a refused token (`unknown` for other paths).
fn realm(path: &str) -> &str {
    let mut segs = path.strip_prefix('/').unwrap_or("").splitn(3, '/');
    match (segs.next(), segs.next()) {
        (Some(v), Some(a)) if !v.is_empty() && !a.is_empty() => a,
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statuses as Swift's proxy answers these paths (with a valid token).
    #[test]
    fn bad_paths_get_swifts_answers() {
        let err = |p: &str| parse_path(p).err().map(|e| e.response().status().as_u16());
        assert_eq!(err("/v1"), Some(412));
        assert_eq!(err("/v1/"), Some(412));
        assert_eq!(err("/info%20asdf"), Some(412));
        assert_eq!(err("/v1/AUTH_test/abc%00def"), Some(412));
        assert_eq!(err("/v1/AUTH_test/%FF%FE"), Some(412));
        assert_eq!(err("/v1//testc/testo"), Some(404));
        assert_eq!(err("/v1/testa//testo"), Some(404));
        assert_eq!(err("/v1///testo"), Some(404));
        assert_eq!(err("/v2/AUTH_test"), Some(400));
        let p = parse_path("/v1/a/c/o/with/slashes/").unwrap();
        assert_eq!(
            (
                p.account.as_str(),
                p.container.as_deref(),
                p.object.as_deref()
            ),
            ("a", Some("c"), Some("o/with/slashes/"))
        );
        let p = parse_path("/v1/a/c/").unwrap();
        assert_eq!((p.container.as_deref(), p.object), (Some("c"), None));
        let p = parse_path("/v1.0/%E2%98%83").unwrap();
        assert_eq!((p.account.as_str(), p.container), ("\u{2603}", None));
    }
}
