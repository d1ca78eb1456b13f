//! The container controller: create (with the account's autocreate and a
//! storage policy), metadata, delete, and listings.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, Response, StatusCode};
use http_body_util::BodyExt;

use super::account::autocreate;
use super::cors::{method_not_allowed, Kind};
use super::headers;
use super::listing;
use super::pipeline::Ctx;
use super::rings::RingKind;
use super::server::Proxy;
use crate::storage::Timestamp;

/// Handles a request for `/v1/<account>/<container>`.
pub async fn handle(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    req: Request<Body>,
    a: &str,
    c: &str,
) -> Response<Body> {
    let method = req.method().clone();
    match method {
        Method::GET | Method::HEAD => get(proxy, ctx, req, a, c).await,
        Method::PUT | Method::POST | Method::DELETE => write(proxy, ctx, req, a, c).await,
        _ => method_not_allowed(Kind::Container, false),
    }
}

async fn write(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    req: Request<Body>,
    a: &str,
    c: &str,
) -> Response<Body> {
    let method = req.method().clone();
    if method == Method::PUT && c.len() > headers::MAX_CONTAINER_NAME_LENGTH {
        return headers::text(
            StatusCode::BAD_REQUEST,
            &format!(
                "Container name length of {} longer than {}",
                c.len(),
                headers::MAX_CONTAINER_NAME_LENGTH
            ),
        );
    }
    if method != Method::DELETE {
        if let Err(m) = headers::check_metadata(req.headers(), "container") {
            return headers::plain(StatusCode::BAD_REQUEST, &m);
        }
    }
    let mut hdrs = headers::to_backend(req.headers());
    headers::set(&mut hdrs, "x-trans-id", &ctx.trans_id);
    if proxy.auth.is_some() && method != Method::DELETE {
        for name in ["x-container-read", "x-container-write"] {
            let Some(v) = req.headers().get(name) else {
                continue;
            };
            match super::tempauth::clean_acl(name, &String::from_utf8_lossy(v.as_bytes())) {
                Ok(clean) => headers::set(&mut hdrs, name, &clean),
                Err(m) => return headers::text(StatusCode::BAD_REQUEST, &m),
            }
        }
    }
    if !ctx.owner {
        // Only owners set ACLs, sync settings and temp URL keys.
        for name in &proxy.settings.owner_headers {
            hdrs.remove(name.as_str());
        }
    }
    if method == Method::PUT {
        // An empty X-Storage-Policy asks for the default, as no header does.
        let named =
            headers::get(req.headers(), "x-storage-policy").filter(|n| !n.trim().is_empty());
        let policy = match named {
            Some(name) => match proxy.policies.get_by_name(name.trim()) {
                Some(p) if !p.is_deprecated => Some(p.index),
                _ => {
                    return headers::text(
                        StatusCode::BAD_REQUEST,
                        &format!("Invalid X-Storage-Policy {name:?}"),
                    )
                }
            },
            None => None,
        };
        hdrs.remove("x-storage-policy");
        let default = proxy.policies.default_policy().map_or(0, |p| p.index);
        headers::set(
            &mut hdrs,
            "x-backend-storage-policy-default",
            &default.to_string(),
        );
        if let Some(p) = policy {
            headers::set(&mut hdrs, "x-backend-storage-policy-index", &p.to_string());
        }
        let account = proxy.account_info(a, &ctx.trans_id).await;
        if account.status == StatusCode::NOT_FOUND {
            if !proxy.settings.account_autocreate || !autocreate(proxy, ctx, a).await {
                return headers::error(StatusCode::NOT_FOUND, None);
            }
        } else if !account.exists() {
            return headers::error(account.status, None);
        }
    }
    let account_nodes = proxy.rings.nodes(RingKind::Account, a, None, None, 0);
    let ts = Timestamp::now().internal();
    let w = proxy
        .write_replicas(
            RingKind::Container,
            a,
            Some(c),
            None,
            method.clone(),
            &[],
            |i, n| {
                let mut h = hdrs.clone();
                headers::set(&mut h, "x-timestamp", &ts);
                if let Some(an) = &account_nodes {
                    super::writes::update_headers(&mut h, "account", an.part, &an.primaries, i, n);
                }
                h
            },
        )
        .await;
    proxy.info.invalidate(&format!("/{a}/{c}"));
    proxy.info.invalidate(&format!("/{a}"));
    // A 409 (the container still holds objects) is relayed as the
    // container servers answered it, as Swift's proxy relays it.
    w.response()
}

async fn get(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    req: Request<Body>,
    a: &str,
    c: &str,
) -> Response<Body> {
    let l = match listing::backend_request(&req, &ctx.trans_id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let (format, head) = (l.format, l.head);
    match proxy
        .read_first(
            RingKind::Container,
            a,
            Some(c),
            None,
            req.method(),
            Some(&l.query),
            &l.hdrs,
        )
        .await
    {
        Ok((resp, ..)) => {
            let (parts, body) = resp.into_parts();
            if !parts.status.is_success() {
                let mut r = Response::new(Body::new(body));
                *r.status_mut() = parts.status;
                *r.headers_mut() = headers::from_backend(&parts.headers);
                return r;
            }
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let mut out = headers::from_backend(&parts.headers);
            if let Some(name) = headers::get(&parts.headers, "x-backend-storage-policy-index")
                .and_then(|i| i.parse().ok())
                .and_then(|i| proxy.policies.get_by_index(i))
                .map(|p| p.name().to_string())
            {
                headers::set(&mut out, "x-storage-policy", &name);
            }
            listing::respond(parts.status, out, &body, format, c, true, head)
        }
        Err((StatusCode::NOT_FOUND, _)) => headers::relayed_not_found(),
        Err((s, _)) => headers::error(s, None),
    }
}
