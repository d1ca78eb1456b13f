//! `GET /info`: what this cluster offers, in the shape of Swift's
//! capabilities document. Only middlewares that are enabled (and really
//! implemented) are advertised, since clients decide what to use from it.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::headers::*;
use super::server::Proxy;
use crate::conf::proxy_conf::Filter;

/// The version string the proxy reports as Swift's.
pub const SWIFT_VERSION: &str = "2.38.3";

/// The capabilities document.
pub fn document(proxy: &Proxy) -> Value {
    let policies: Vec<Value> = proxy
        .policies
        .iter()
        .filter(|p| !p.is_deprecated)
        .map(|p| {
            let mut m = Map::new();
            m.insert("name".into(), json!(p.name()));
            m.insert("aliases".into(), json!(p.names.join(", ")));
            if p.is_default {
                m.insert("default".into(), json!(true));
            }
            Value::Object(m)
        })
        .collect();
    let mut doc = json!({
        "swift": {
            "version": SWIFT_VERSION,
            "strict_cors_mode": proxy.settings.cors.strict,
            "policies": policies,
            "allow_account_management": proxy.settings.allow_account_management,
            "account_autocreate": proxy.settings.account_autocreate,
            "allow_open_expired": false,
            "max_file_size": MAX_FILE_SIZE,
            "max_meta_name_length": MAX_META_NAME_LENGTH,
            "max_meta_value_length": MAX_META_VALUE_LENGTH,
            "max_meta_count": MAX_META_COUNT,
            "max_meta_overall_size": MAX_META_OVERALL_SIZE,
            "max_header_size": MAX_HEADER_SIZE,
            "max_request_line": 8192,
            "max_object_name_length": MAX_OBJECT_NAME_LENGTH,
            "container_listing_limit": LISTING_LIMIT,
            "account_listing_limit": LISTING_LIMIT,
            "max_account_name_length": MAX_ACCOUNT_NAME_LENGTH,
            "max_container_name_length": MAX_CONTAINER_NAME_LENGTH,
            "valid_api_versions": ["v1", "v1.0"],
            "extra_header_count": 0,
            "auto_create_account_prefix": ".",
        }
    });
    if proxy.conf.has(Filter::TempAuth) {
        doc["tempauth"] = json!({"account_acls": true});
    }
    doc
}

/// Answers `/info`: the document for GET and HEAD (an `Origin` hears
/// itself allowed), the methods for OPTIONS, 405 otherwise.
pub fn info_response(proxy: &Proxy, method: &Method, req: &HeaderMap) -> Response<Body> {
    const ALLOW: &str = "GET, HEAD, OPTIONS";
    if *method == Method::OPTIONS {
        let mut r = empty_like(StatusCode::OK);
        set(r.headers_mut(), "allow", ALLOW);
        set(r.headers_mut(), "content-type", "text/html; charset=UTF-8");
        return r;
    }
    if !matches!(*method, Method::GET | Method::HEAD) {
        let mut r = error(StatusCode::METHOD_NOT_ALLOWED, None);
        set(r.headers_mut(), "allow", ALLOW);
        return r;
    }
    let body = document(proxy).to_string();
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    set(h, "content-type", "application/json; charset=UTF-8");
    if let Some(origin) = get(req, "origin") {
        set(h, "access-control-allow-origin", origin);
        set(h, "access-control-expose-headers", "x-trans-id");
    }
    r
}
