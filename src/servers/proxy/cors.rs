//! `OPTIONS` and CORS as Swift's proxy does them: the methods each kind of
//! path allows, preflight answers from the container's
//! `X-Container-Meta-Access-Control-*` metadata (and the operator's
//! `cors_allow_origin`), and the `Access-Control-Allow-Origin` /
//! `Access-Control-Expose-Headers` headers added to actual responses to
//! requests that carry an `Origin`.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};

use super::headers;
use super::info::Info;
use super::server::Proxy;
use crate::conf::proxy_conf::{Filter, ProxyConf};

/// The proxy's CORS settings (`[app:proxy-server]`).
#[derive(Debug, Clone)]
pub struct CorsConf {
    /// `cors_allow_origin`: origins allowed in every container.
    pub allow_origin: Vec<String>,
    /// `cors_expose_headers`: headers exposed in every response.
    pub expose_headers: Vec<String>,
    /// `strict_cors_mode`: only allowed origins hear CORS headers.
    pub strict: bool,
}

impl CorsConf {
    pub fn from_conf(conf: &ProxyConf) -> CorsConf {
        let list = |key: &str| -> Vec<String> {
            conf.get(key)
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        CorsConf {
            allow_origin: list("cors_allow_origin"),
            expose_headers: list("cors_expose_headers"),
            strict: conf.get_bool("strict_cors_mode", true),
        }
    }
}

/// What a path's kind is: `/v1/a`, `/v1/a/c` or `/v1/a/c/o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Account,
    Container,
    Object,
}

/// The methods a path allows, sorted (the `Allow` header of a 405 and of
/// an `OPTIONS` answer).
pub fn allowed_methods(kind: Kind, account_management: bool) -> &'static [&'static str] {
    match kind {
        Kind::Account if account_management => &["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"],
        Kind::Account => &["GET", "HEAD", "OPTIONS", "POST"],
        Kind::Container | Kind::Object => &["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"],
    }
}

/// A 405 naming the allowed methods.
pub fn method_not_allowed(kind: Kind, account_management: bool) -> Response<Body> {
    let mut r = headers::error(StatusCode::METHOD_NOT_ALLOWED, None);
    headers::set(
        r.headers_mut(),
        "allow",
        &allowed_methods(kind, account_management).join(", "),
    );
    r
}

/// The container's CORS metadata.
struct ContainerCors<'a> {
    allow_origin: Option<&'a str>,
    expose_headers: Option<&'a str>,
    max_age: Option<&'a str>,
}

impl<'a> ContainerCors<'a> {
    fn of(info: &'a Info) -> Self {
        ContainerCors {
            allow_origin: info.header("x-container-meta-access-control-allow-origin"),
            expose_headers: info.header("x-container-meta-access-control-expose-headers"),
            max_age: info.header("x-container-meta-access-control-max-age"),
        }
    }

    /// Whether the container's `allow_origin` is exactly `*`.
    fn any_origin(&self) -> bool {
        self.allow_origin.is_some_and(|a| a.trim() == "*")
    }

    fn allows(&self, conf: &CorsConf, origin: &str) -> bool {
        self.allow_origin
            .unwrap_or("")
            .split(' ')
            .map(str::trim)
            .chain(conf.allow_origin.iter().map(String::as_str))
            .any(|a| a == origin || a == "*")
    }
}

/// Sets `Access-Control-Allow-Origin` (and `Vary: Origin` when it echoes
/// the origin).
fn allow_origin(h: &mut HeaderMap, cors: &ContainerCors, origin: &str) {
    if cors.any_origin() {
        headers::set(h, "access-control-allow-origin", "*");
    } else {
        headers::set(h, "access-control-allow-origin", origin);
        add_vary(h, "Origin");
    }
}

fn add_vary(h: &mut HeaderMap, what: &str) {
    let v = match headers::get(h, "vary") {
        Some(v) => format!("{v}, {what}"),
        None => what.to_string(),
    };
    headers::set(h, "vary", &v);
}

/// Answers `OPTIONS`. Without an `Origin` (or on an account) it lists the
/// allowed methods; with one it is a CORS preflight, allowed (200) only
/// for an origin the container or the operator allows and a method the
/// path allows, else 401.
pub fn options(
    proxy: &Proxy,
    kind: Kind,
    req: &HeaderMap,
    container: Option<&Info>,
) -> Response<Body> {
    let mut methods: Vec<&str> =
        allowed_methods(kind, proxy.settings.allow_account_management).to_vec();
    let mut resp = headers::empty_like(StatusCode::OK);
    let h = resp.headers_mut();
    headers::set(h, "content-type", "text/html; charset=UTF-8");
    let origin = headers::get(req, "origin").filter(|o| !o.is_empty());
    let (Some(origin), Some(info)) = (origin, container) else {
        headers::set(h, "allow", &with_copy(proxy, kind, &methods));
        return resp;
    };
    let cors = ContainerCors::of(info);
    let asked = headers::get(req, "access-control-request-method");
    if !cors.allows(&proxy.settings.cors, origin) || !asked.is_some_and(|m| methods.contains(&m)) {
        let mut r = headers::error(StatusCode::UNAUTHORIZED, None);
        headers::set(r.headers_mut(), "allow", &methods.join(", "));
        return r;
    }
    allow_origin(h, &cors, origin);
    if let Some(age) = cors.max_age {
        headers::set(h, "access-control-max-age", age);
    }
    if kind == Kind::Object && proxy.conf.has(Filter::Copy) {
        methods.push("COPY");
    }
    let methods = methods.join(", ");
    headers::set(h, "allow", &methods);
    headers::set(h, "access-control-allow-methods", &methods);
    let requested: BTreeSet<&str> = headers::get(req, "access-control-request-headers")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if !requested.is_empty() {
        let list: Vec<&str> = requested.into_iter().collect();
        headers::set(h, "access-control-allow-headers", &list.join(", "));
        add_vary(h, "Access-Control-Request-Headers");
    }
    resp
}

/// The `Allow` list of a plain `OPTIONS`, with `COPY` on objects when the
/// copy middleware runs.
fn with_copy(proxy: &Proxy, kind: Kind, methods: &[&str]) -> String {
    let mut all = methods.join(", ");
    if kind == Kind::Object && proxy.conf.has(Filter::Copy) {
        all.push_str(", COPY");
    }
    all
}

/// Headers every CORS response exposes: the simple response headers and
/// Swift's own.
const EXPOSED: &[&str] = &[
    "cache-control",
    "content-language",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
    "etag",
    "x-timestamp",
    "x-trans-id",
    "x-openstack-request-id",
];

/// Adds the CORS headers to the answer to a request with `origin` on a
/// container or object (`container` is the container's info, read before
/// the request was handled). In strict mode an origin the container does
/// not allow gets none.
pub fn decorate(conf: &CorsConf, container: &Info, origin: &str, resp: &mut Response<Body>) {
    let cors = ContainerCors::of(container);
    if conf.strict && !cors.allows(conf, origin) {
        return;
    }
    let h = resp.headers_mut();
    if !h.contains_key("access-control-expose-headers") {
        let mut expose: BTreeSet<String> = EXPOSED.iter().map(|s| s.to_string()).collect();
        // The operator's names go out as written.
        expose.extend(conf.expose_headers.iter().cloned());
        expose.extend(
            h.keys()
                .map(|k| k.as_str())
                .filter(|k| k.starts_with("x-container-meta") || k.starts_with("x-object-meta"))
                .map(str::to_string),
        );
        expose.extend(
            cors.expose_headers
                .unwrap_or("")
                .split(' ')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_lowercase),
        );
        let list: Vec<String> = expose.into_iter().collect();
        headers::set(h, "access-control-expose-headers", &list.join(", "));
    }
    if !h.contains_key("access-control-allow-origin") {
        allow_origin(h, &cors, origin);
    }
}

/// Whether a refusal of `method` on this kind of path still goes through
/// CORS: Swift delays those denials into the controller, which adds the
/// headers (all object methods, container reads).
pub fn denial_decorated(kind: Kind, method: &Method) -> bool {
    match kind {
        Kind::Object => true,
        Kind::Container => matches!(*method, Method::GET | Method::HEAD),
        Kind::Account => false,
    }
}
