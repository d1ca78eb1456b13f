//! The object server: Swift's backend object protocol over an `ObjectStore`.
//!
//! `/<dev>/<part>/<a>/<c>/<o>` for PUT, GET, HEAD, POST and DELETE, and
//! `/<dev>/<part>[/<suffixes>]` for REPLICATE. Writes are streamed to the
//! store, committed durably, then announced to the container servers named in
//! `X-Container-Host`/`-Device`/`-Partition` (kept as async pendings if they fail).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;

use super::http::{
    empty, header, header_meta, policy_index, req_timestamp, set_header, split_path, title_case,
    ApiError, ApiResult,
};
use super::object_expiring::{conditional_update, parse_delete_at};
use super::update::{targets, UpdateClient};
use crate::conf::server_conf::{ServerConf, SwiftConf};
use crate::storage::device::{Devices, Reserve};
use crate::storage::diskfile::DiskStore;
use crate::storage::metadata::Metadata;
use crate::storage::objstore::AsyncUpdate;
use crate::storage::pickle::Pickle;
use crate::storage::{ObjectKey, ObjectState, ObjectStore, ObjectWriter, Timestamp};

/// Bytes buffered from a PUT body before they are handed to the store.
const WRITE_CHUNK: usize = 1 << 20;
/// Chunks of a large PUT queued for the disk before reading the network waits.
const QUEUED_CHUNKS: usize = 4;

/// Object server state.
pub struct ObjectServer {
    pub store: Arc<dyn ObjectStore>,
    pub policies: Vec<u32>,
    pub updates: UpdateClient,
    /// How long a PUT/DELETE waits for its container updates before answering.
    pub container_update_timeout: Duration,
    /// The cluster's hash salt (names the expiring-objects queue rows).
    pub salt: crate::ring::hash::HashPathConf,
    /// Where GET and HEAD open objects.
    pub reads: super::disk_reads::DiskReads,
    /// How long an incoming SSYNC waits for the partition's replication lock.
    pub replication_lock_timeout: Duration,
}

/// Read queues (and so threads, started when first used) per server.
const READ_QUEUES: usize = 4;

impl ObjectServer {
    /// A server over `store` with default timeouts.
    pub fn new(store: Arc<dyn ObjectStore>, policies: Vec<u32>) -> Self {
        ObjectServer {
            store,
            policies,
            updates: UpdateClient::new(0.5, 3.0),
            container_update_timeout: Duration::from_secs(1),
            salt: Default::default(),
            reads: super::disk_reads::DiskReads::new(READ_QUEUES),
            replication_lock_timeout: Duration::from_secs(15),
        }
    }
}

/// Builds the app from configuration (disk store).
pub fn app_from_conf(conf: &ServerConf, swift: &SwiftConf) -> Result<Router, String> {
    let mut devices = Devices::new(&conf.devices);
    devices.mount_check = conf.mount_check;
    if let Some(r) = conf.get("fallocate_reserve") {
        devices.reserve =
            Reserve::parse(r).ok_or_else(|| format!("bad fallocate_reserve {r:?}"))?;
    }
    let mut store = DiskStore::new(devices, swift.salt.clone());
    // As Swift's servers: no preallocation with `disable_fallocate`.
    store.fallocate = !conf
        .get("disable_fallocate")
        .is_some_and(crate::conf::server_conf::config_true);
    let mut server = ObjectServer::new(Arc::new(store), swift.policies.clone());
    server.salt = swift.salt.clone();
    server.updates = UpdateClient::new(
        conf.get_f64("conn_timeout", 0.5),
        conf.get_f64("node_timeout", 3.0),
    );
    server.container_update_timeout =
        Duration::from_secs_f64(conf.get_f64("container_update_timeout", 1.0).max(0.0));
    server.replication_lock_timeout =
        Duration::from_secs_f64(conf.get_f64("replication_lock_timeout", 15.0).max(0.0));
    Ok(app(Arc::new(server)))
}

/// The object server as a router (no pipeline filters).
pub fn app(server: Arc<ObjectServer>) -> Router {
    Router::new().fallback(handle).with_state(server)
}

async fn handle(State(s): State<Arc<ObjectServer>>, req: Request) -> Response<Body> {
    let res = match req.method().as_str() {
        "PUT" | "POST" | "DELETE" => {
            // The write (container update and async pending included) goes
            // on to its end if the client goes away.
            return super::harness::run_to_completion(write_subrequest(s, req)).await;
        }
        "GET" | "HEAD" => super::object_get::get(s, req).await,
        "REPLICATE" => replicate(s, req).await,
        "SSYNC" => super::ssync::receiver::ssync(s, req).await,
        _ => Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "")),
    };
    res.unwrap_or_else(IntoResponse::into_response)
}

/// Runs storage work on a blocking thread.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// Parses the object path and policy into a key.
pub(super) fn object_key(s: &ObjectServer, req: &Request) -> Result<ObjectKey, ApiError> {
    let p = split_path(req.uri().path(), 5, 5)?;
    let policy = policy_index(req.headers(), &s.policies)?;
    Ok(ObjectKey::new(&p[0], &p[1], &p[2], &p[3], &p[4], policy)?)
}

/// Headers stored with an object besides the user metadata.
const STORED_HEADERS: [&str; 9] = [
    "content-disposition",
    "content-encoding",
    "x-delete-at",
    "x-object-manifest",
    "x-static-large-object",
    "cache-control",
    "content-language",
    "expires",
    "x-robots-tag",
];

/// Whether a metadata key is returned to clients as a header.
pub(super) fn is_public_meta(key: &str) -> bool {
    let l = key.to_ascii_lowercase();
    l.starts_with("x-object-meta-")
        || l.starts_with("x-object-sysmeta-")
        || l.starts_with("x-object-transient-sysmeta-")
        || STORED_HEADERS.contains(&l.as_str())
}

fn user_metadata(h: &HeaderMap, meta: &mut Metadata, with_system: bool) {
    for (k, v) in h {
        let name = k.as_str();
        let user =
            name.starts_with("x-object-meta-") || name.starts_with("x-object-transient-sysmeta-");
        let sys = with_system && name.starts_with("x-object-sysmeta-");
        if user || sys || STORED_HEADERS.contains(&name) {
            meta.insert(title_case(name), header_meta(v));
        }
    }
}

/// A write from the replicator (`X-Backend-Replication: True`): metadata is
/// kept as sent and no container update goes out.
fn is_replication(h: &HeaderMap) -> bool {
    header(h, "x-backend-replication").is_some_and(crate::conf::server_conf::config_true)
}

/// Copies the headers named in `X-Backend-Replication-Headers` verbatim.
fn replication_metadata(h: &HeaderMap, meta: &mut Metadata) {
    if !is_replication(h) {
        return;
    }
    let names = header(h, "x-backend-replication-headers").unwrap_or("");
    for name in names.split_whitespace() {
        if let Some(v) = h.get(name) {
            meta.insert(title_case(name), header_meta(v));
        }
    }
}

fn delete_at(h: &HeaderMap) -> Result<(), ApiError> {
    if is_replication(h) {
        return Ok(());
    }
    if let Some(v) = header(h, "x-delete-at") {
        let at: u64 = v
            .trim()
            .parse()
            .map_err(|_| ApiError::bad_request("Non-integer X-Delete-At"))?;
        if at < Timestamp::now().secs() {
            return Err(ApiError::bad_request("X-Delete-At in past"));
        }
    }
    Ok(())
}

fn conflict(existing: Timestamp) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "").with_header("x-backend-timestamp", existing.internal())
}

/// Runs one of ssync's PUT/POST/DELETE subrequests.
pub(super) async fn write_subrequest(s: Arc<ObjectServer>, req: Request) -> Response<Body> {
    let res = match req.method().as_str() {
        "PUT" => put(s, req).await,
        "POST" => post(s, req).await,
        "DELETE" => delete(s, req).await,
        _ => Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "")),
    };
    res.unwrap_or_else(IntoResponse::into_response)
}

async fn put(s: Arc<ObjectServer>, req: Request) -> ApiResult {
    let key = object_key(&s, &req)?;
    let ts = req_timestamp(req.headers())?;
    let h = req.headers().clone();
    let content_type = h
        .get("content-type")
        .map(header_meta)
        .ok_or_else(|| ApiError::bad_request("No content type"))?;
    let chunked =
        header(&h, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length: Option<u64> = match header(&h, "content-length") {
        Some(v) => Some(
            v.trim()
                .parse()
                .map_err(|_| ApiError::bad_request("Invalid Content-Length"))?,
        ),
        None if chunked => None,
        None => return Err(ApiError::new(StatusCode::LENGTH_REQUIRED, "")),
    };
    delete_at(&h)?;
    let check = PutCheck {
        key: key.clone(),
        ts,
        length,
        if_none_match_any: header(&h, "if-none-match").is_some_and(|v| v.trim() == "*"),
    };
    let mut meta = Metadata::new();
    user_metadata(&h, &mut meta, true);
    meta.insert("name".into(), key.name());
    meta.insert("X-Timestamp".into(), ts.internal());
    meta.insert("Content-Type".into(), content_type);
    // Headers a replicator sends verbatim override everything, ETag included.
    let mut replicated = Metadata::new();
    replication_metadata(&h, &mut replicated);
    meta.extend(replicated);
    let expected_etag = header(&h, "etag").map(|e| e.trim_matches('"').to_ascii_lowercase());
    let st = s.store.clone();
    // A small body the client sends without waiting for `100 Continue` is
    // already on its way: take it first, then check, write and commit in one
    // blocking hop. Otherwise the checks come first, so a 409 or 412 answers
    // an `Expect: 100-continue` before any body is sent.
    let small = length.is_some_and(|l| l <= WRITE_CHUNK as u64) && !expects_continue(&h);
    let (etag, meta, orig_delete_at) = if small {
        let body = read_small_body(req.into_body(), length).await?;
        blocking(move || {
            let (writer, orig) = open_writer(st.as_ref(), &check)?;
            let (etag, meta) = finish_put(writer, body, length, expected_etag, meta, ts)?;
            Ok((etag, meta, orig))
        })
        .await?
    } else {
        let (writer, orig) = blocking(move || open_writer(st.as_ref(), &check)).await?;
        let (writer, rest) = receive_body(req.into_body(), writer, length).await?;
        let (etag, meta) =
            blocking(move || finish_put(writer, rest, length, expected_etag, meta, ts)).await?;
        (etag, meta, orig)
    };
    let update_headers = vec![
        ("X-Size".to_string(), meta["Content-Length"].clone()),
        ("X-Content-Type".to_string(), meta["Content-Type"].clone()),
        ("X-Timestamp".to_string(), ts.internal()),
        ("X-Etag".to_string(), etag.clone()),
    ];
    if !is_replication(&h) {
        container_update(&s, "PUT", &key, &h, update_headers, ts).await;
    }
    let size = meta["Content-Length"].parse().unwrap_or(0);
    let new_delete_at = parse_delete_at(header(&h, "x-delete-at"));
    conditional_update(&s, &key, &h, ts, orig_delete_at, new_delete_at, size).await;
    let mut resp = empty(StatusCode::CREATED);
    set_header(resp.headers_mut(), "etag", &etag);
    Ok(resp)
}

/// Whether the client waits for `100 Continue` before sending the body.
fn expects_continue(h: &HeaderMap) -> bool {
    header(h, "expect").is_some_and(|v| v.to_ascii_lowercase().contains("100-continue"))
}

/// What a PUT must pass before its body is written.
struct PutCheck {
    key: ObjectKey,
    ts: Timestamp,
    length: Option<u64>,
    if_none_match_any: bool,
}

/// Checks the device and the object's current state (older PUTs are 409,
/// `If-None-Match: *` on an existing object 412), then opens the writer:
/// one call into the store. Also returns the replaced object's `X-Delete-At`.
fn open_writer(
    st: &dyn ObjectStore,
    c: &PutCheck,
) -> Result<(Box<dyn ObjectWriter>, Option<u64>), ApiError> {
    let (mut refusal, mut orig) = (None, None);
    let writer = st.create_if(&c.key, c.length, &mut |state| match judge_put(c, state) {
        Ok(o) => {
            orig = o;
            true
        }
        Err(e) => {
            refusal = Some(e);
            false
        }
    })?;
    match (writer, refusal) {
        (Some(w), _) => Ok((w, orig)),
        (None, Some(e)) => Err(e),
        (None, None) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "")),
    }
}

/// Whether a PUT may replace `state`; if so, the replaced object's `X-Delete-At`.
fn judge_put(c: &PutCheck, state: &ObjectState) -> Result<Option<u64>, ApiError> {
    let orig = match state {
        ObjectState::Present(i) => {
            parse_delete_at(i.metadata.get("X-Delete-At").map(String::as_str))
        }
        _ => None,
    };
    if let Some(existing) = state.timestamp() {
        if existing >= c.ts {
            return Err(conflict(existing));
        }
    }
    if c.if_none_match_any && matches!(state, ObjectState::Present(_)) {
        return Err(ApiError::new(StatusCode::PRECONDITION_FAILED, ""));
    }
    Ok(orig)
}

/// Writes the last chunks, checks the length and the client's ETag, and
/// commits with `meta` plus the body's ETag and length.
fn finish_put(
    mut writer: Box<dyn ObjectWriter>,
    rest: Vec<Bytes>,
    length: Option<u64>,
    expected_etag: Option<String>,
    mut meta: Metadata,
    ts: Timestamp,
) -> Result<(String, Metadata), ApiError> {
    for chunk in rest {
        writer.write_bytes(chunk)?;
    }
    let written = writer.bytes_written();
    if length.is_some_and(|l| l != written) {
        return Err(client_disconnect());
    }
    let etag = writer.etag();
    if expected_etag.as_ref().is_some_and(|e| *e != etag) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ""));
    }
    meta.entry("ETag".into()).or_insert_with(|| etag.clone());
    meta.entry("Content-Length".into())
        .or_insert_with(|| written.to_string());
    writer.commit(meta.clone(), ts)?;
    Ok((etag, meta))
}

/// Reads a whole body of at most `length` bytes into memory.
async fn read_small_body(mut body: Body, length: Option<u64>) -> Result<Vec<Bytes>, ApiError> {
    let (mut chunks, mut received) = (Vec::new(), 0u64);
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| client_disconnect())?.into_data() else {
            continue;
        };
        received += data.len() as u64;
        if length.is_some_and(|len| received > len) {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ""));
        }
        chunks.push(data);
    }
    Ok(chunks)
}

fn client_disconnect() -> ApiError {
    ApiError::new(
        StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        "",
    )
}

type WriterTask = tokio::task::JoinHandle<Result<Box<dyn ObjectWriter>, ApiError>>;

/// Reads a PUT body into `writer`. Bodies up to `WRITE_CHUNK` come back
/// unwritten (one blocking hop does them with the commit); larger ones are
/// written by a blocking task fed through a short queue, so the network, the
/// hashing and the disk all work at once. Returns the writer and the bytes
/// not yet written.
async fn receive_body(
    mut body: Body,
    writer: Box<dyn ObjectWriter>,
    length: Option<u64>,
) -> Result<(Box<dyn ObjectWriter>, Vec<Bytes>), ApiError> {
    let mut idle = Some(writer);
    let mut task: Option<(tokio::sync::mpsc::Sender<Vec<Bytes>>, WriterTask)> = None;
    let mut batch: Vec<Bytes> = Vec::new();
    let (mut batch_len, mut received) = (0usize, 0u64);
    loop {
        let data = match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(_)) => return Err(client_disconnect()),
            None => break,
        };
        received += data.len() as u64;
        if length.is_some_and(|len| received > len) {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ""));
        }
        batch_len += data.len();
        batch.push(data);
        if batch_len < WRITE_CHUNK {
            continue;
        }
        batch_len = 0;
        let (tx, _) = task.get_or_insert_with(|| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(QUEUED_CHUNKS);
            let mut w = idle.take().expect("writer is idle until the task starts");
            let handle = tokio::task::spawn_blocking(move || {
                while let Some(chunks) = rx.blocking_recv() {
                    for c in chunks {
                        w.write_bytes(c)?;
                    }
                }
                Ok(w)
            });
            (tx, handle)
        });
        if tx.send(std::mem::take(&mut batch)).await.is_err() {
            break; // the writer failed: its task says why
        }
    }
    let writer = match (task, idle) {
        (Some((tx, handle)), _) => {
            drop(tx);
            handle
                .await
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??
        }
        (None, Some(w)) => w,
        (None, None) => unreachable!("the writer is either idle or in its task"),
    };
    Ok((writer, batch))
}

async fn post(s: Arc<ObjectServer>, req: Request) -> ApiResult {
    let key = object_key(&s, &req)?;
    let ts = req_timestamp(req.headers())?;
    let h = req.headers().clone();
    delete_at(&h)?;
    let st = s.store.clone();
    let (k2, h2) = (key.clone(), h.clone());
    let content_type = h
        .get("content-type")
        .map(header_meta)
        .filter(|t| !t.is_empty());
    let ctype = content_type.clone();
    // With a new Content-Type the container listing must show it too: the
    // update carries the object's size and ETag with the new type.
    let (orig, size, etag) = blocking(move || {
        st.check_device(&k2.device, true)?;
        match st.state(&k2)? {
            // An expired object is gone for a POST as for a GET.
            ObjectState::Present(info) if super::object_get::expired(&info, &h2) => {
                Err(ApiError::new(StatusCode::NOT_FOUND, ""))
            }
            ObjectState::Present(info) => {
                if info.timestamp >= ts {
                    return Err(conflict(info.timestamp));
                }
                let mut meta = Metadata::new();
                user_metadata(&h2, &mut meta, false);
                meta.insert("name".into(), k2.name());
                meta.insert("X-Timestamp".into(), ts.internal());
                replication_metadata(&h2, &mut meta);
                if let Some(t) = &ctype {
                    meta.insert("Content-Type".into(), t.clone());
                    meta.entry("Content-Type-Timestamp".into())
                        .or_insert_with(|| ts.internal());
                }
                st.post(&k2, ts, meta)?;
                let orig = parse_delete_at(info.metadata.get("X-Delete-At").map(String::as_str));
                Ok((orig, info.content_length, info.etag))
            }
            ObjectState::Deleted(t) => Err(ApiError::new(StatusCode::NOT_FOUND, "")
                .with_header("x-backend-timestamp", t.internal())),
            ObjectState::Missing => Err(ApiError::new(StatusCode::NOT_FOUND, "")),
        }
    })
    .await?;
    if let Some(t) = content_type {
        let update = vec![
            ("X-Size".to_string(), size.to_string()),
            ("X-Content-Type".to_string(), t),
            ("X-Timestamp".to_string(), ts.internal()),
            ("X-Etag".to_string(), etag),
        ];
        container_update(&s, "PUT", &key, &h, update, ts).await;
    }
    let new = parse_delete_at(header(&h, "x-delete-at"));
    conditional_update(&s, &key, &h, ts, orig, new, size).await;
    Ok(empty(StatusCode::ACCEPTED))
}

async fn delete(s: Arc<ObjectServer>, req: Request) -> ApiResult {
    let key = object_key(&s, &req)?;
    let ts = req_timestamp(req.headers())?;
    let h = req.headers().clone();
    let (st, k2) = (s.store.clone(), key.clone());
    let if_delete_at = header(&h, "x-if-delete-at").map(str::to_string);
    let (status, orig, orig_delete_at) = blocking(move || {
        st.check_device(&k2.device, false)?;
        let state = st.state(&k2)?;
        let orig_delete_at = match &state {
            ObjectState::Present(i) => {
                parse_delete_at(i.metadata.get("X-Delete-At").map(String::as_str))
            }
            _ => None,
        };
        if let Some(want) = if_delete_at {
            // Compared as timestamps: the expirer sends `1795313762.00000`.
            let want = Timestamp::parse(want.trim())
                .ok_or_else(|| ApiError::bad_request("Bad X-If-Delete-At header value"))?;
            if orig_delete_at.map(Timestamp::from_secs) != Some(want) {
                return Err(
                    ApiError::new(StatusCode::PRECONDITION_FAILED, "").with_header(
                        "x-backend-timestamp",
                        state.timestamp().unwrap_or_default().internal(),
                    ),
                );
            }
        }
        let orig = state.timestamp();
        let status = match (&state, orig) {
            (_, Some(o)) if o >= ts && matches!(state, ObjectState::Present(_)) => {
                return Err(conflict(o))
            }
            (ObjectState::Present(_), _) => StatusCode::NO_CONTENT,
            _ => StatusCode::NOT_FOUND,
        };
        if orig.is_none_or(|o| o < ts) {
            st.delete(&k2, ts)?;
        }
        Ok((status, orig, orig_delete_at))
    })
    .await?;
    if orig.is_none_or(|o| o < ts) {
        conditional_update(&s, &key, &h, ts, orig_delete_at, None, 0).await;
    }
    if orig.is_none_or(|o| o < ts) && !is_replication(&h) {
        container_update(
            &s,
            "DELETE",
            &key,
            &h,
            vec![("X-Timestamp".into(), ts.internal())],
            ts,
        )
        .await;
    }
    let mut resp = empty(status);
    set_header(
        resp.headers_mut(),
        "x-backend-timestamp",
        &orig.unwrap_or(ts).max(ts).internal(),
    );
    Ok(resp)
}

async fn replicate(s: Arc<ObjectServer>, req: Request) -> ApiResult {
    let p = split_path(req.uri().path(), 2, 3)?;
    let policy = policy_index(req.headers(), &s.policies)?;
    let key = ObjectKey::new(&p[0], &p[1], "", "", "", policy)?;
    let suffixes: Vec<String> = p
        .get(2)
        .map(|s| s.split('-').map(str::to_string).collect())
        .unwrap_or_default();
    let st = s.store.clone();
    // With suffixes, only mark them for rehashing and answer None, as Swift does.
    let hashes = blocking(move || {
        st.check_device(&key.device, false)?;
        if suffixes.is_empty() {
            Ok(Some(st.suffix_hashes(
                &key.device,
                &key.partition,
                policy,
            )?))
        } else {
            st.invalidate_suffixes(&key.device, &key.partition, policy, &suffixes)?;
            Ok(None)
        }
    })
    .await?;
    let body = match hashes {
        Some(h) => Pickle::Dict(
            h.into_iter()
                .map(|(k, v)| (Pickle::Str(k), Pickle::Str(v)))
                .collect(),
        ),
        None => Pickle::None,
    };
    Ok(Response::new(Body::from(Bytes::from(body.dumps()))))
}

/// Sends the container update for a write and waits briefly; failures become async pendings.
async fn container_update(
    s: &Arc<ObjectServer>,
    op: &str,
    key: &ObjectKey,
    h: &HeaderMap,
    headers: Vec<(String, String)>,
    ts: Timestamp,
) {
    let Some(partition) = header(h, "x-container-partition").map(str::to_string) else {
        return;
    };
    let Some(targets) = targets(
        header(h, "x-container-host"),
        header(h, "x-container-device"),
    ) else {
        tracing::error!("container update failed: different numbers of hosts and devices");
        return;
    };
    let row = (
        key.account.clone(),
        key.container.clone(),
        key.object.clone(),
    );
    let mut headers = headers;
    headers.push((
        "X-Backend-Storage-Policy-Index".into(),
        key.policy.to_string(),
    ));
    send_update(s, op, key, row, Some(partition), targets, h, headers, ts).await;
}

/// Sends one row update (`op` of `row` = account, container, object) to
/// each target's `partition`, waiting at most `container_update_timeout`;
/// a failed one, or one with no partition to go to, is saved as an async
/// pending on the object's device for the updater.
#[allow(clippy::too_many_arguments)] // the parts of Swift's async_update
pub(super) async fn send_update(
    s: &Arc<ObjectServer>,
    op: &str,
    key: &ObjectKey,
    row: (String, String, String),
    partition: Option<String>,
    targets: Vec<super::update::Target>,
    h: &HeaderMap,
    mut headers: Vec<(String, String)>,
    ts: Timestamp,
) {
    headers.push((
        "X-Trans-Id".into(),
        header(h, "x-trans-id").unwrap_or("-").to_string(),
    ));
    headers.push(("Referer".into(), format!("{op} {}", key.name())));
    headers.push((
        "User-Agent".into(),
        format!("object-server {}", std::process::id()),
    ));
    let save =
        |s: Arc<ObjectServer>, key: ObjectKey, headers: Vec<(String, String)>, op: String| {
            let update = AsyncUpdate {
                op,
                account: row.0.clone(),
                container: row.1.clone(),
                obj: row.2.clone(),
                headers,
                timestamp: ts,
            };
            async move {
                let st = s.store.clone();
                let saved =
                    tokio::task::spawn_blocking(move || st.save_async_update(&key, &update)).await;
                if let Ok(Err(e)) = saved {
                    tracing::error!("could not save async pending: {e}");
                }
            }
        };
    let Some(partition) = partition.filter(|_| !targets.is_empty()) else {
        save(s.clone(), key.clone(), headers, op.to_string()).await;
        return;
    };
    let mut tasks = Vec::new();
    for target in targets {
        let (s2, key, headers, partition, op) = (
            s.clone(),
            key.clone(),
            headers.clone(),
            partition.clone(),
            op.to_string(),
        );
        let path = format!("/{}/{}/{}", row.0, row.1, row.2);
        let pending = save(s.clone(), key.clone(), headers.clone(), op.clone());
        tasks.push(tokio::spawn(async move {
            let res = s2
                .updates
                .send(&target, &partition, &op, &path, &headers)
                .await;
            if matches!(res, Ok(c) if (200..300).contains(&c)) {
                return;
            }
            tracing::error!(
                "container update to {}/{} failed ({res:?}); saving async pending",
                target.host,
                target.device
            );
            pending.await;
        }));
    }
    let _ =
        tokio::time::timeout(s.container_update_timeout, futures::future::join_all(tasks)).await;
}
