//! The container server: container databases and their object rows.
//!
//! `/<dev>/<part>/<a>/<c>` PUT/HEAD/GET/POST/DELETE the container;
//! `/<dev>/<part>/<a>/<c>/<o>` PUT/DELETE object rows (sent by object
//! servers). Container PUT/DELETE are reported to the account servers named
//! in `X-Account-Host`/`-Device`/`-Partition`.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::Router;

use super::db_app::{db_router, open_existing, DbRequest};
use super::http::{
    empty, header, header_text, policy_index, req_timestamp, set_header, ApiError, ApiResult,
};
use super::listing::{list_params, listing_response, metadata_updates, DbServer, Format};
use super::object::blocking;
use super::update::{targets, UpdateClient};
use crate::conf::server_conf::{config_true, ServerConf, SwiftConf};
use crate::storage::broker::{set_db_preallocation, Broker, DbInfo, DbKind, ObjectRow};
use crate::storage::device::{Devices, Reserve};
use crate::storage::Timestamp;

const EXTRA_META: [&str; 7] = [
    "x-container-read",
    "x-container-write",
    "x-container-sync-key",
    "x-container-sync-to",
    "x-versions-location",
    "x-history-location",
    "x-storage-policy",
];

/// Builds a `DbServer` from configuration.
pub fn db_server(conf: &ServerConf, swift: &SwiftConf) -> Result<DbServer, String> {
    let mut devices = Devices::new(&conf.devices);
    devices.mount_check = conf.mount_check;
    if let Some(r) = conf.get("fallocate_reserve") {
        devices.reserve =
            Reserve::parse(r).ok_or_else(|| format!("bad fallocate_reserve {r:?}"))?;
    }
    // One switch for the process, as Swift's servers set it.
    set_db_preallocation(conf.get("db_preallocation").is_some_and(config_true));
    Ok(DbServer {
        devices,
        salt: swift.salt.clone(),
        policies: swift.policies.clone(),
        policy_names: swift.policy_names.clone(),
        updates: UpdateClient::new(
            conf.get_f64("conn_timeout", 0.5),
            conf.get_f64("node_timeout", 3.0),
        ),
        auto_create_account_prefix: conf
            .get("auto_create_account_prefix")
            .unwrap_or(".")
            .to_string(),
    })
}

/// Builds the app from configuration.
pub fn app_from_conf(conf: &ServerConf, swift: &SwiftConf) -> Result<Router, String> {
    Ok(app(Arc::new(db_server(conf, swift)?)))
}

/// The container server as a router.
pub fn app(server: Arc<DbServer>) -> Router {
    db_router(server, DbKind::Container, dispatch)
}

async fn dispatch(s: Arc<DbServer>, req: DbRequest) -> ApiResult {
    let DbRequest { p, h, q, path, .. } = req;
    let method = req.method;
    if p.len() == 5 {
        let ts = req_timestamp(&h)?;
        let policy = policy_index(&h, &s.policies)?;
        let name = p[4].clone();
        let deleted = match method.as_str() {
            "PUT" => false,
            "DELETE" => true,
            _ => return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "")),
        };
        if !deleted {
            s.check_space(&p[0])?;
        }
        // Hidden accounts (`.expiring_objects`) get their containers on the
        // first row, as Swift's container server does.
        if !s.auto_create_account_prefix.is_empty()
            && p[2].starts_with(&s.auto_create_account_prefix)
            && !path.is_file()
        {
            let (a, c, dbp) = (p[2].clone(), p[3].clone(), path.clone());
            blocking(move || {
                Broker::create(&dbp, DbKind::Container, &a, Some(&c), ts, policy)?;
                Ok(())
            })
            .await?;
        }
        let row = ObjectRow {
            name,
            ts,
            size: header(&h, "x-size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            // The object server sends the bytes its client sent: UTF-8 text.
            content_type: h.get("x-content-type").map(header_text).unwrap_or_default(),
            etag: header(&h, "x-etag").unwrap_or("").to_string(),
            deleted,
            policy,
            // A POST that changed the content type or metadata reports
            // when, as Swift's object server does.
            ctype_ts: header(&h, "x-content-type-timestamp").and_then(Timestamp::parse),
            meta_ts: header(&h, "x-meta-timestamp").and_then(Timestamp::parse),
        };
        super::row_batch::put_row(path, row).await?;
        return Ok(empty(if deleted {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::CREATED
        }));
    }
    match method.as_str() {
        "PUT" => put_container(s, p, h, path).await,
        "DELETE" => delete_container(s, p, h, path).await,
        "POST" => {
            let ts = req_timestamp(&h)?;
            s.check_space(&p[0])?;
            blocking(move || {
                let b = open_existing(&path, DbKind::Container)?;
                // A POST moves the put timestamp (and so Last-Modified),
                // unless the sender asks it not to.
                if !header(&h, "x-backend-no-timestamp-update")
                    .is_some_and(crate::conf::server_conf::config_true)
                {
                    b.update_put_timestamp(ts)?;
                }
                b.update_metadata(&metadata_updates(&h, "container", &EXTRA_META, ts))?;
                Ok(empty(StatusCode::NO_CONTENT))
            })
            .await
        }
        "GET" | "HEAD" => {
            let is_head = method == "HEAD";
            let params = list_params(&q, true)?;
            let format = Format::choose(&q, &h);
            let name = p[3].clone();
            blocking(move || {
                let b = Broker::open(&path, DbKind::Container)?
                    .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, ""))?
                    .stale_reads_ok();
                let info = b.info()?;
                if b.is_deleted()? {
                    return Err(ApiError::new(StatusCode::NOT_FOUND, "")
                        .with_header("x-backend-delete-timestamp", info.delete_timestamp.clone()));
                }
                let mut resp = empty(StatusCode::NO_CONTENT);
                info_headers(&info, resp.headers_mut());
                set_header(resp.headers_mut(), "content-type", format.content_type());
                listing_response(
                    &b,
                    &params,
                    format,
                    ("container", &name),
                    &Default::default(),
                    is_head,
                    resp,
                )
            })
            .await
        }
        _ => Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "")),
    }
}

fn info_headers(info: &DbInfo, h: &mut HeaderMap) {
    set_header(
        h,
        "x-container-object-count",
        &info.object_count.to_string(),
    );
    set_header(h, "x-container-bytes-used", &info.bytes_used.to_string());
    let created = Timestamp::parse(&info.created_at).unwrap_or_default();
    set_header(h, "x-timestamp", &created.normal());
    let put = Timestamp::parse(&info.put_timestamp).unwrap_or_default();
    set_header(h, "x-put-timestamp", &put.normal());
    set_header(h, "last-modified", &super::http::http_date(put.ceil_secs()));
    set_header(h, "x-backend-timestamp", &info.created_at);
    set_header(h, "x-backend-put-timestamp", &info.put_timestamp);
    set_header(h, "x-backend-delete-timestamp", &info.delete_timestamp);
    set_header(h, "x-backend-status-changed-at", &info.status_changed_at);
    set_header(
        h,
        "x-backend-storage-policy-index",
        &info.storage_policy_index.to_string(),
    );
    set_header(h, "x-backend-sharding-state", "unsharded");
    for (k, (v, _)) in &info.metadata {
        if !v.is_empty() {
            set_header(h, k, v);
        }
    }
}

async fn put_container(
    s: Arc<DbServer>,
    p: Vec<String>,
    h: HeaderMap,
    path: std::path::PathBuf,
) -> ApiResult {
    let ts = req_timestamp(&h)?;
    let policy = policy_index(&h, &s.policies)?;
    s.check_space(&p[0])?;
    let (a, c, h2) = (p[2].clone(), p[3].clone(), h.clone());
    let (status, info) = blocking(move || {
        let (b, status) = match Broker::open(&path, DbKind::Container)? {
            None => (
                Broker::create(&path, DbKind::Container, &a, Some(&c), ts, policy)?,
                StatusCode::CREATED,
            ),
            Some(b) => {
                let was_deleted = b.is_deleted()?;
                let info = b.info()?;
                if !was_deleted
                    && info.storage_policy_index != policy
                    && header(&h2, "x-backend-storage-policy-index").is_some()
                {
                    return Err(ApiError::new(StatusCode::CONFLICT, "").with_header(
                        "x-backend-storage-policy-index",
                        info.storage_policy_index.to_string(),
                    ));
                }
                b.update_put_timestamp(ts)?;
                (
                    b,
                    if was_deleted {
                        StatusCode::CREATED
                    } else {
                        StatusCode::ACCEPTED
                    },
                )
            }
        };
        b.update_metadata(&metadata_updates(&h2, "container", &EXTRA_META, ts))?;
        Ok((status, b.info()?))
    })
    .await?;
    if let Some(err) = account_update(&s, &p, &h, &info).await {
        return Err(err);
    }
    Ok(empty(status))
}

async fn delete_container(
    s: Arc<DbServer>,
    p: Vec<String>,
    h: HeaderMap,
    path: std::path::PathBuf,
) -> ApiResult {
    let ts = req_timestamp(&h)?;
    let info = blocking(move || {
        let b = Broker::open(&path, DbKind::Container)?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, ""))?;
        if b.is_deleted()? {
            return Err(ApiError::new(StatusCode::NOT_FOUND, ""));
        }
        if b.info()?.object_count > 0 {
            return Err(ApiError::new(StatusCode::CONFLICT, ""));
        }
        b.mark_deleted(ts)?;
        Ok(b.info()?)
    })
    .await?;
    // Every account replica missing the account makes it a 404, as Swift.
    if let Some(err) = account_update(&s, &p, &h, &info).await {
        return Err(err);
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Reports a container's state to its account servers. Returns an error
/// response only when every account server says the account does not exist.
async fn account_update(
    s: &DbServer,
    p: &[String],
    h: &HeaderMap,
    info: &DbInfo,
) -> Option<ApiError> {
    let partition = header(h, "x-account-partition")?;
    let targets = targets(header(h, "x-account-host"), header(h, "x-account-device"))?;
    let mut headers = vec![
        ("X-Put-Timestamp".to_string(), info.put_timestamp.clone()),
        (
            "X-Delete-Timestamp".to_string(),
            info.delete_timestamp.clone(),
        ),
        ("X-Object-Count".to_string(), info.object_count.to_string()),
        ("X-Bytes-Used".to_string(), info.bytes_used.to_string()),
        (
            "X-Trans-Id".to_string(),
            header(h, "x-trans-id").unwrap_or("-").to_string(),
        ),
        (
            "X-Backend-Storage-Policy-Index".to_string(),
            info.storage_policy_index.to_string(),
        ),
        (
            "User-Agent".to_string(),
            format!("container-server {}", std::process::id()),
        ),
    ];
    // The account reaper deletes containers of an account marked deleted.
    if header(h, "x-account-override-deleted").is_some_and(|v| v.eq_ignore_ascii_case("yes")) {
        headers.push(("X-Account-Override-Deleted".to_string(), "yes".to_string()));
    }
    let path = format!("/{}/{}", p[2], p[3]);
    let mut missing = 0;
    for t in &targets {
        match s.updates.send(t, partition, "PUT", &path, &headers).await {
            Ok(404) => missing += 1,
            Ok(c) if (200..300).contains(&c) => {}
            other => tracing::error!(
                "account update to {}/{} failed: {other:?}",
                t.host,
                t.device
            ),
        }
    }
    (!targets.is_empty() && missing == targets.len())
        .then(|| ApiError::new(StatusCode::NOT_FOUND, ""))
}
