//! The account controller: listings and metadata, `account_autocreate`,
//! and account PUT/DELETE for reseller admins when management is allowed.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::BodyExt;

use super::account_acl;
use super::cors::{method_not_allowed, Kind};
use super::headers;
use super::listing::{self, Format};
use super::pipeline::Ctx;
use super::rings::RingKind;
use super::server::Proxy;
use crate::storage::Timestamp;

/// Handles a request for `/v1/<account>`.
pub async fn handle(proxy: &Arc<Proxy>, ctx: &Ctx, req: Request<Body>, a: &str) -> Response<Body> {
    let method = req.method().clone();
    match method {
        Method::GET | Method::HEAD => get(proxy, ctx, req, a).await,
        Method::POST => {
            if let Err(m) = headers::check_metadata(req.headers(), "account") {
                return headers::plain(StatusCode::BAD_REQUEST, &m);
            }
            let hdrs = headers::to_backend(req.headers());
            let mut w = write(proxy, ctx, a, Method::POST, &hdrs).await;
            if w.status == StatusCode::NOT_FOUND && proxy.settings.account_autocreate {
                autocreate(proxy, ctx, a).await;
                w = write(proxy, ctx, a, Method::POST, &hdrs).await;
            }
            proxy.info.invalidate(&format!("/{a}"));
            w.response()
        }
        Method::PUT | Method::DELETE => {
            // A query string on an account DELETE is more likely a request
            // meant for some middleware than a wish to delete the account.
            if method == Method::DELETE && req.uri().query().is_some_and(|q| !q.is_empty()) {
                return headers::error(StatusCode::BAD_REQUEST, None);
            }
            if !proxy.settings.allow_account_management {
                return method_not_allowed(Kind::Account, false);
            }
            let hdrs = headers::to_backend(req.headers());
            let w = write(proxy, ctx, a, method, &hdrs).await;
            proxy.info.invalidate(&format!("/{a}"));
            w.response()
        }
        _ => method_not_allowed(Kind::Account, proxy.settings.allow_account_management),
    }
}

async fn write(
    proxy: &Proxy,
    ctx: &Ctx,
    a: &str,
    method: Method,
    hdrs: &HeaderMap,
) -> super::writes::Written {
    let ts = Timestamp::now().internal();
    proxy
        .write_replicas(RingKind::Account, a, None, None, method, &[], |_, _| {
            let mut h = hdrs.clone();
            headers::set(&mut h, "x-timestamp", &ts);
            headers::set(&mut h, "x-trans-id", &ctx.trans_id);
            h
        })
        .await
}

/// Creates an account on its replicas (`account_autocreate`).
pub async fn autocreate(proxy: &Proxy, ctx: &Ctx, a: &str) -> bool {
    let w = write(proxy, ctx, a, Method::PUT, &HeaderMap::new()).await;
    proxy.info.invalidate(&format!("/{a}"));
    w.status.is_success()
}

/// Listing or HEAD; a missing account reads as empty under autocreate.
async fn get(proxy: &Arc<Proxy>, ctx: &Ctx, req: Request<Body>, a: &str) -> Response<Body> {
    let l = match listing::backend_request(&req, &ctx.trans_id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let (format, head) = (l.format, l.head);
    match proxy
        .read_first(
            RingKind::Account,
            a,
            None,
            None,
            req.method(),
            Some(&l.query),
            &l.hdrs,
        )
        .await
    {
        Ok((resp, ..)) => {
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let mut out = headers::from_backend(&parts.headers);
            // Owners read the account's ACL back in its normal form.
            if let Some(acl) = headers::get(&parts.headers, account_acl::SYSMETA)
                .filter(|_| ctx.owner)
                .and_then(account_acl::external)
            {
                headers::set(&mut out, account_acl::HEADER, &acl);
            }
            listing::respond(parts.status, out, &body, format, a, false, head)
        }
        // Marked deleted (waiting for the reaper): gone, even under autocreate.
        Err((StatusCode::NOT_FOUND, h))
            if headers::get(&h, "x-account-status")
                .is_some_and(|v| v.eq_ignore_ascii_case("deleted")) =>
        {
            headers::error(StatusCode::GONE, None)
        }
        Err((StatusCode::NOT_FOUND, _)) if proxy.settings.account_autocreate => {
            let mut h = HeaderMap::new();
            for k in [
                "x-account-container-count",
                "x-account-object-count",
                "x-account-bytes-used",
            ] {
                headers::set(&mut h, k, "0");
            }
            headers::set(&mut h, "x-timestamp", &Timestamp::now().normal());
            headers::set(&mut h, "x-put-timestamp", &Timestamp::now().normal());
            let body: &[u8] = if format == Format::Json { b"[]" } else { b"" };
            listing::respond(StatusCode::OK, h, body, format, a, false, head)
        }
        Err((s, _)) => headers::error(s, None),
    }
}
