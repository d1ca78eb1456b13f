//! The receiving side of database replication on the account and container
//! servers: Swift's `REPLICATE` verb plus `PUSHDB`, this project's HTTP
//! stand-in for rsync.
//!
//! `REPLICATE /<dev>/<part>/<hash>` carries a JSON list `[op, args...]`, as
//! Swift's `ReplicatorRpc`: `sync` (compare replication info, merge the
//! stat timestamps and metadata, answer ours with the sync `point`),
//! `merge_items`, `merge_syncs`, `complete_rsync` (a whole database copied
//! into `<dev>/tmp/<id>` becomes the replica) and `rsync_then_merge` (the
//! copy absorbs the rows of the existing replica, then replaces it).
//! Container servers also answer `get_shard_ranges` (none: sharding is not
//! implemented) and accept an empty `merge_shard_ranges`.
//!
//! `PUSHDB /<dev>/tmp/<id>` stores the request body as `<dev>/tmp/<id>`
//! (written to a temporary name, fsynced, renamed; the body's MD5 is checked
//! against `ETag` when given): where Swift's replicator rsyncs a database
//! file into the peer's `tmp` directory, ours sends it with `PUSHDB`, then
//! asks for `complete_rsync` or `rsync_then_merge` exactly as Swift does.
//! A Swift server answers `PUSHDB` with 405, so creating a missing replica
//! on a Swift node still needs Swift's own replicator and rsync.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Response, StatusCode};
use http_body_util::BodyExt;
use md5::{Digest, Md5};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::http::{header, split_path, ApiError, ApiResult};
use super::listing::DbServer;
use super::object::blocking;
use crate::storage::atomic::{fsync_dir, mkdirs};
use crate::storage::broker::{db_path, Broker, DbKind, Row};
use crate::storage::hashpath::hex;

/// Whether a request is for this module (`REPLICATE` or `PUSHDB`).
pub fn handles(method: &str) -> bool {
    method == "REPLICATE" || method == "PUSHDB"
}

/// Answers `REPLICATE` or `PUSHDB` for `kind` databases.
pub async fn handle(s: Arc<DbServer>, kind: DbKind, req: Request) -> ApiResult {
    if req.method().as_str() == "PUSHDB" {
        return push_db(s, req).await;
    }
    let p = split_path(req.uri().path(), 3, 3)?;
    let (drive, part, hash) = (p[0].clone(), p[1].clone(), p[2].clone());
    if !crate::storage::device::valid_component(&drive)
        || part.is_empty()
        || !part.bytes().all(|b| b.is_ascii_digit())
        || hash.len() != 32
        || !hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(ApiError::bad_request("Invalid device, partition or hash"));
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|_| ApiError::bad_request("Unreadable body"))?
        .to_bytes();
    let mut args: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(Value::Array(a)) if !a.is_empty() => a,
        _ => return Err(ApiError::bad_request("Invalid object type")),
    };
    let op = match args.remove(0) {
        Value::String(op) => op,
        _ => return Err(ApiError::bad_request("Invalid object type")),
    };
    let dev = s.devices.path(&drive).map_err(|_| {
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("{drive} is not mounted"),
        )
    })?;
    let db_file = db_path(&dev, kind, &part, &hash);
    blocking(move || match op.as_str() {
        "complete_rsync" => complete_rsync(kind, &dev, &drive, &db_file, &args),
        "rsync_then_merge" => rsync_then_merge(kind, &dev, &drive, &db_file, &args),
        _ => {
            mkdirs(&dev.join("tmp"))?;
            let broker =
                Broker::open(&db_file, kind)?.ok_or(ApiError::new(StatusCode::NOT_FOUND, ""))?;
            rpc(&broker, kind, &op, &args)
        }
    })
    .await
}

fn status(code: StatusCode) -> Response<Body> {
    super::http::empty(code)
}

fn rows(v: Option<&Value>) -> Result<Vec<Row>, ApiError> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Object(m) => Ok(m.clone()),
                _ => Err(ApiError::bad_request("Invalid item")),
            })
            .collect(),
        _ => Err(ApiError::bad_request("Invalid object type")),
    }
}

fn arg_str(args: &[Value], i: usize) -> String {
    match args.get(i) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn rpc(b: &Broker, kind: DbKind, op: &str, args: &[Value]) -> ApiResult {
    match op {
        "sync" => sync(b, args),
        "merge_items" => {
            let items = rows(args.first())?;
            let source = args.get(1).and_then(Value::as_str);
            b.merge_items(&items, source)?;
            Ok(status(StatusCode::ACCEPTED))
        }
        "merge_syncs" => {
            b.merge_syncs(&rows(args.first())?, true)?;
            Ok(status(StatusCode::ACCEPTED))
        }
        "get_shard_ranges" if kind == DbKind::Container => {
            let mut r = Response::new(Body::from("[]"));
            r.headers_mut()
                .insert("content-type", "application/json".parse().expect("static"));
            Ok(r)
        }
        "merge_shard_ranges" if kind == DbKind::Container => {
            if rows(args.first())?.is_empty() {
                Ok(status(StatusCode::ACCEPTED))
            } else {
                Err(ApiError::bad_request("Shard ranges are not supported"))
            }
        }
        _ => Err(ApiError::bad_request(format!("Invalid op {op:?}"))),
    }
}

/// Swift's `_handle_sync_request`: the peer's `[max_row, hash, id,
/// created_at, put_timestamp, delete_timestamp, metadata, ...]`.
fn sync(b: &Broker, args: &[Value]) -> ApiResult {
    if args.len() < 7 {
        return Err(ApiError::bad_request("Invalid sync arguments"));
    }
    let remote_point = args[0].as_i64().unwrap_or(-1);
    let (remote_hash, remote_id) = (arg_str(args, 1), arg_str(args, 2));
    let remote_ts = [arg_str(args, 3), arg_str(args, 4), arg_str(args, 5)];
    let remote_meta = arg_str(args, 6);
    let mut info = b.replication_info()?;
    if !remote_meta.is_empty() {
        b.merge_raw_metadata(&remote_meta)?;
    }
    let local_ts: Vec<String> = ["created_at", "put_timestamp", "delete_timestamp"]
        .iter()
        .map(|k| {
            info.get(*k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    if local_ts != remote_ts {
        b.merge_timestamps(&remote_ts[0], &remote_ts[1], &remote_ts[2])?;
    }
    let mut point = b.get_sync(&remote_id, true)?;
    if info.get("hash").and_then(Value::as_str) == Some(remote_hash.as_str())
        && point < remote_point
    {
        let mut m = Row::new();
        m.insert("remote_id".into(), Value::String(remote_id));
        m.insert("sync_point".into(), remote_point.into());
        b.merge_syncs(&[m], true)?;
        point = remote_point;
    }
    info.insert("point".into(), point.into());
    let mut r = Response::new(Body::from(Value::Object(info).to_string()));
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    Ok(r)
}

/// A temp-directory entry name: one plain path component.
fn tmp_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\0')
}

fn tmp_file(dev: &Path, args: &[Value]) -> Result<PathBuf, ApiError> {
    let name = arg_str(args, 0);
    if !tmp_name_ok(&name) {
        return Err(ApiError::bad_request("Invalid temporary name"));
    }
    Ok(dev.join("tmp").join(name))
}

fn target(db_file: &Path, args: &[Value]) -> Result<PathBuf, ApiError> {
    let name = arg_str(args, 1);
    if name.is_empty() {
        return Ok(db_file.to_path_buf());
    }
    if !tmp_name_ok(&name) {
        return Err(ApiError::bad_request("Invalid database name"));
    }
    Ok(db_file.with_file_name(name))
}

fn install(tmp: &Path, db_file: &Path) -> Result<(), ApiError> {
    let dir = db_file.parent().unwrap_or(Path::new("."));
    mkdirs(dir)?;
    std::fs::rename(tmp, db_file).map_err(|e| crate::storage::StorageError::io(db_file, e))?;
    fsync_dir(dir)?;
    Ok(())
}

fn complete_rsync(
    kind: DbKind,
    dev: &Path,
    drive: &str,
    db_file: &Path,
    args: &[Value],
) -> ApiResult {
    let tmp = tmp_file(dev, args)?;
    let db_file = target(db_file, args)?;
    if db_file.exists() || !tmp.is_file() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ""));
    }
    {
        let b = Broker::open(&tmp, kind)?.ok_or(ApiError::new(StatusCode::NOT_FOUND, ""))?;
        b.newid(&arg_str(args, 0), drive)?;
    }
    install(&tmp, &db_file)?;
    Ok(status(StatusCode::NO_CONTENT))
}

fn rsync_then_merge(
    kind: DbKind,
    dev: &Path,
    drive: &str,
    db_file: &Path,
    args: &[Value],
) -> ApiResult {
    let tmp = tmp_file(dev, args)?;
    if !db_file.is_file() || !tmp.is_file() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ""));
    }
    {
        let new = Broker::open(&tmp, kind)?.ok_or(ApiError::new(StatusCode::NOT_FOUND, ""))?;
        let existing =
            Broker::open(db_file, kind)?.ok_or(ApiError::new(StatusCode::NOT_FOUND, ""))?;
        let mut point = -1;
        loop {
            let items = existing.items_since(point, 1000)?;
            let Some(last) = items.last() else { break };
            point = last.get("ROWID").and_then(Value::as_i64).unwrap_or(point);
            new.merge_items(&items, None)?;
        }
        new.merge_syncs(&existing.get_syncs(true)?, true)?;
        new.newid(&arg_str(args, 0), drive)?;
        new.merge_raw_metadata(&existing.raw_metadata()?)?;
    }
    if !db_file.is_file() || !tmp.is_file() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ""));
    }
    install(&tmp, db_file)?;
    Ok(status(StatusCode::NO_CONTENT))
}

/// `PUSHDB /<dev>/tmp/<name>`: stores the body as `<dev>/tmp/<name>`.
async fn push_db(s: Arc<DbServer>, req: Request) -> ApiResult {
    let p = split_path(req.uri().path(), 3, 3)?;
    if p[1] != "tmp" || !tmp_name_ok(&p[2]) || !crate::storage::device::valid_component(&p[0]) {
        return Err(ApiError::bad_request("Invalid path"));
    }
    let dev = s.devices.path(&p[0]).map_err(ApiError::from)?;
    s.check_space(&p[0])?;
    let expect_md5 = header(req.headers(), "etag").map(|e| e.trim_matches('"').to_lowercase());
    let length: Option<u64> =
        header(req.headers(), "content-length").and_then(|v| v.trim().parse().ok());
    let dir = dev.join("tmp");
    blocking({
        let dir = dir.clone();
        move || Ok(mkdirs(&dir)?)
    })
    .await?;
    let part = dir.join(format!(".{}.{}", p[2], uuid::Uuid::new_v4().simple()));
    let io = |e: std::io::Error| ApiError::from(crate::storage::StorageError::io(&part, e));
    let mut file = tokio::fs::File::create(&part).await.map_err(io)?;
    let mut md5 = Md5::new();
    let mut written = 0u64;
    let mut body = req.into_body();
    let result: Result<(), ApiError> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ApiError::bad_request("Body read failed"))?;
            if let Ok(data) = frame.into_data() {
                md5.update(&data);
                written += data.len() as u64;
                file.write_all(&data).await.map_err(io)?;
            }
        }
        if length.is_some_and(|l| l != written) {
            return Err(ApiError::bad_request("Body shorter than Content-Length"));
        }
        if expect_md5.is_some_and(|e| e != hex(&md5.finalize_reset())) {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ""));
        }
        file.sync_all().await.map_err(io)?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(e);
    }
    let dest = dir.join(&p[2]);
    tokio::fs::rename(&part, &dest).await.map_err(io)?;
    blocking(move || Ok(fsync_dir(&dir)?)).await?;
    Ok(status(StatusCode::CREATED))
}
