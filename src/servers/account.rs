//! The account server: account databases and their container rows.
//!
//! `/<dev>/<part>/<a>` PUT/HEAD/GET/POST/DELETE the account;
//! `/<dev>/<part>/<a>/<c>` PUT records a container's stats (sent by
//! container servers), which roll up into the account's counts and
//! per-policy stats.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;

use super::db_app::{db_router, not_found, open_existing, DbRequest};
use super::http::{empty, header, policy_index, req_timestamp, set_header, ApiError, ApiResult};
use super::listing::{list_params, listing_response, metadata_updates, DbServer, Format};
use super::object::blocking;
use crate::conf::server_conf::{ServerConf, SwiftConf};
use crate::storage::broker::{Broker, DbKind};
use crate::storage::Timestamp;

/// Builds the app from configuration.
pub fn app_from_conf(conf: &ServerConf, swift: &SwiftConf) -> Result<Router, String> {
    Ok(app(Arc::new(super::container::db_server(conf, swift)?)))
}

/// The account server as a router.
pub fn app(server: Arc<DbServer>) -> Router {
    db_router(server, DbKind::Account, dispatch)
}

async fn dispatch(s: Arc<DbServer>, req: DbRequest) -> ApiResult {
    let DbRequest { p, h, q, path, .. } = req;
    let method = req.method;
    let account = p[2].clone();
    if p.len() == 4 {
        if method != "PUT" {
            return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ""));
        }
        let policy = policy_index(&h, &s.policies)?;
        let auto = !s.auto_create_account_prefix.is_empty()
            && account.starts_with(&s.auto_create_account_prefix);
        let container = p[3].clone();
        return blocking(move || {
            let put = header(&h, "x-put-timestamp").unwrap_or("0").to_string();
            let b = match Broker::open(&path, DbKind::Account)? {
                Some(b) => b,
                None if auto => Broker::create(
                    &path,
                    DbKind::Account,
                    &account,
                    None,
                    Timestamp::parse(&put).unwrap_or_else(Timestamp::now),
                    0,
                )?,
                None => return Err(not_found()),
            };
            // The container updater reports even to a deleted account.
            let overrides = header(&h, "x-account-override-deleted")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
            if !overrides && b.is_deleted()? {
                return Err(not_found());
            }
            let del = header(&h, "x-delete-timestamp").unwrap_or("0");
            let count: i64 = header(&h, "x-object-count")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let bytes: i64 = header(&h, "x-bytes-used")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            b.put_container(&container, &put, del, count, bytes, policy)?;
            let deleted = Timestamp::parse(del).unwrap_or_default()
                > Timestamp::parse(&put).unwrap_or_default();
            Ok(empty(if deleted {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::CREATED
            }))
        })
        .await;
    }
    match method.as_str() {
        "PUT" => {
            let ts = req_timestamp(&h)?;
            s.check_space(&p[0])?;
            blocking(move || {
                let status = match Broker::open(&path, DbKind::Account)? {
                    None => {
                        let b = Broker::create(&path, DbKind::Account, &account, None, ts, 0)?;
                        b.update_metadata(&metadata_updates(&h, "account", &[], ts))?;
                        StatusCode::CREATED
                    }
                    Some(b) => {
                        let was_deleted = b.is_deleted()?;
                        b.update_put_timestamp(ts)?;
                        if b.is_deleted()? {
                            // Marked deleted (the reaper's cue): a PUT does not revive it.
                            return Err(ApiError::new(StatusCode::CONFLICT, ""));
                        }
                        b.update_metadata(&metadata_updates(&h, "account", &[], ts))?;
                        if was_deleted {
                            StatusCode::CREATED
                        } else {
                            StatusCode::ACCEPTED
                        }
                    }
                };
                Ok(empty(status))
            })
            .await
        }
        "DELETE" => {
            let ts = req_timestamp(&h)?;
            blocking(move || {
                open_existing(&path, DbKind::Account)?.mark_deleted(ts)?;
                Ok(empty(StatusCode::NO_CONTENT))
            })
            .await
        }
        "POST" => {
            let ts = req_timestamp(&h)?;
            s.check_space(&p[0])?;
            blocking(move || {
                let b = open_existing(&path, DbKind::Account)?;
                b.update_metadata(&metadata_updates(&h, "account", &[], ts))?;
                Ok(empty(StatusCode::NO_CONTENT))
            })
            .await
        }
        "GET" | "HEAD" => {
            let is_head = method == "HEAD";
            let params = list_params(&q, false)?;
            let format = Format::choose(&q, &h);
            let names = s.policy_names.clone();
            blocking(move || {
                let b = Broker::open(&path, DbKind::Account)?
                    .ok_or_else(not_found)?
                    .stale_reads_ok();
                if b.is_deleted()? {
                    return Err(not_found().with_header("x-account-status", "Deleted"));
                }
                let info = b.info()?;
                let mut resp = empty(StatusCode::NO_CONTENT);
                let hm = resp.headers_mut();
                set_header(
                    hm,
                    "x-account-container-count",
                    &info.container_count.to_string(),
                );
                set_header(hm, "x-account-object-count", &info.object_count.to_string());
                set_header(hm, "x-account-bytes-used", &info.bytes_used.to_string());
                set_header(
                    hm,
                    "x-timestamp",
                    &Timestamp::parse(&info.created_at)
                        .unwrap_or_default()
                        .normal(),
                );
                set_header(
                    hm,
                    "x-put-timestamp",
                    &Timestamp::parse(&info.put_timestamp)
                        .unwrap_or_default()
                        .normal(),
                );
                for ps in b.policy_stats()? {
                    let name = names
                        .get(&ps.policy)
                        .cloned()
                        .unwrap_or_else(|| format!("Policy-{}", ps.policy));
                    set_header(
                        hm,
                        &format!("x-account-storage-policy-{name}-container-count"),
                        &ps.container_count.to_string(),
                    );
                    set_header(
                        hm,
                        &format!("x-account-storage-policy-{name}-object-count"),
                        &ps.object_count.to_string(),
                    );
                    set_header(
                        hm,
                        &format!("x-account-storage-policy-{name}-bytes-used"),
                        &ps.bytes_used.to_string(),
                    );
                }
                for (k, (v, _)) in &info.metadata {
                    if !v.is_empty() {
                        set_header(hm, k, v);
                    }
                }
                set_header(hm, "content-type", format.content_type());
                listing_response(
                    &b,
                    &params,
                    format,
                    ("account", &account),
                    &names,
                    is_head,
                    resp,
                )
            })
            .await
        }
        _ => Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "")),
    }
}
