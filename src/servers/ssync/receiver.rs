//! The object server's side of `SSYNC`: answers the missing_check step from
//! the local files and runs each update as a PUT/POST/DELETE subrequest
//! through the object server itself (marked `X-Backend-Replication`, so the
//! sender's metadata is kept verbatim and no container update is sent).
//!
//! The exchange runs under the partition's replication lock (`.lock-replication`,
//! waiting up to `replication_lock_timeout`), as Swift's receiver does.
//!
//! The response starts at once (status 200, then `\r\n`) and is written
//! while the request body is still arriving; errors after that become an
//! `:ERROR: <status> '<message>'` line, as Swift's receiver writes them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, Response, StatusCode};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{decode_missing, encode_wanted, local_object};
use crate::servers::http::{policy_index, split_path, ApiError, ApiResult};
use crate::servers::object::ObjectServer;
use crate::storage::hashes::{lock_dir_named, partition_dir, DirLock, REPLICATION_LOCK};
use crate::storage::ObjectKey;

/// Longest line accepted from the sender.
const MAX_LINE: usize = 65_536;
/// Swift's `replication_failure_threshold` and `replication_failure_ratio`.
const FAILURE_THRESHOLD: usize = 100;
const FAILURE_RATIO: f64 = 1.0;

type Frames = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// The request body as lines and counted byte runs.
struct Input {
    body: axum::body::BodyDataStream,
    buf: BytesMut,
}

impl Input {
    async fn fill(&mut self) -> Result<bool, String> {
        match self.body.next().await {
            Some(Ok(b)) => {
                self.buf.extend_from_slice(&b);
                Ok(true)
            }
            Some(Err(e)) => Err(format!("read failed: {e}")),
            None => Ok(false),
        }
    }

    /// The next line with its newline; empty at the end of the body.
    async fn line(&mut self) -> Result<String, String> {
        Ok(String::from_utf8_lossy(&self.line_bytes().await?).into_owned())
    }

    /// `line` as the bytes sent (header values are not always UTF-8).
    async fn line_bytes(&mut self) -> Result<BytesMut, String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                return Ok(self.buf.split_to(i + 1));
            }
            if self.buf.len() > MAX_LINE {
                return Err("line too long".into());
            }
            if !self.fill().await? {
                if self.buf.is_empty() {
                    return Ok(BytesMut::new());
                }
                return Err("missing newline".into());
            }
        }
    }

    /// Up to `max` bytes of the body (at least one unless it ended).
    async fn chunk(&mut self, max: usize) -> Result<Bytes, String> {
        if self.buf.is_empty() && !self.fill().await? {
            return Err("Early termination".into());
        }
        let n = max.min(self.buf.len());
        Ok(self.buf.split_to(n).freeze())
    }
}

/// `SSYNC /<dev>/<part>`.
pub async fn ssync(s: Arc<ObjectServer>, req: Request) -> ApiResult {
    let p = split_path(req.uri().path(), 2, 2)?;
    let policy = policy_index(req.headers(), &s.policies)?;
    let key = ObjectKey::new(&p[0], &p[1], "", "", "", policy)?;
    let (st, dev) = (s.store.clone(), key.device.clone());
    super::super::object::blocking(move || Ok(st.check_device(&dev, false)?)).await?;
    let dev_path = s
        .store
        .device_path(&key.device)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "no disk store"))?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let input = Input {
        body: req.into_body().into_data_stream(),
        buf: BytesMut::new(),
    };
    tokio::spawn(async move {
        let _ = tx.send(Ok(Bytes::from_static(b"\r\n"))).await;
        let part_dir = partition_dir(&dev_path, key.policy, &key.partition);
        let res = match replication_lock(&part_dir, s.replication_lock_timeout).await {
            Ok(_lock) => run(&s, &key, part_dir, input, &tx).await,
            Err(e) => Err(e),
        };
        if let Err(msg) = res {
            tracing::error!(
                "ssync receiver ({}/{}) {}",
                key.device,
                key.partition,
                msg.1
            );
            let line = format!(":ERROR: {} {}\n", msg.0, py_repr(&msg.1));
            let _ = tx.send(Ok(Bytes::from(line))).await;
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        "x-backend-accept-no-commit",
        HeaderValue::from_static("True"),
    );
    Ok(resp)
}

/// The partition's replication lock, which a replicator reverting the same
/// partition also takes (so it never deletes what arrives meanwhile).
async fn replication_lock(part_dir: &Path, timeout: Duration) -> Result<DirLock, Failure> {
    let dir = part_dir.to_path_buf();
    let got = tokio::task::spawn_blocking(move || lock_dir_named(&dir, REPLICATION_LOCK, timeout))
        .await
        .map_err(|e| (0, e.to_string()))?;
    match got {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err((
            0,
            format!(
                "{} seconds: {}",
                timeout.as_secs_f64(),
                part_dir.join(format!(".lock-{REPLICATION_LOCK}")).display()
            ),
        )),
        Err(e) => Err((0, e.to_string())),
    }
}

/// Python's `repr` of a str, enough for error lines.
fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

type Failure = (u16, String);

async fn send(tx: &Frames, data: String) -> Result<(), Failure> {
    tx.send(Ok(Bytes::from(data)))
        .await
        .map_err(|_| (0, "client disconnected".to_string()))
}

async fn run(
    s: &Arc<ObjectServer>,
    key: &ObjectKey,
    part_dir: std::path::PathBuf,
    mut input: Input,
    tx: &Frames,
) -> Result<(), Failure> {
    let err0 = |e: String| (0u16, e);
    // missing_check
    let line = input.line().await.map_err(err0)?;
    if line.is_empty() {
        return Ok(());
    }
    if line.trim() != ":MISSING_CHECK: START" {
        return Err((0, format!("Looking for :MISSING_CHECK: START got {line:?}")));
    }
    let mut wanted = Vec::new();
    loop {
        let line = input.line().await.map_err(err0)?;
        if line.is_empty() || line.trim() == ":MISSING_CHECK: END" {
            break;
        }
        let Some(remote) = decode_missing(line.trim()) else {
            return Err((0, format!("bad missing_check line {line:?}")));
        };
        if remote.hash.len() < 3 || !remote.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err((0, format!("bad object hash {:?}", remote.hash)));
        }
        let dir = part_dir
            .join(&remote.hash[remote.hash.len() - 3..])
            .join(&remote.hash);
        let local = tokio::task::spawn_blocking(move || local_object(&dir))
            .await
            .map_err(|e| (0, e.to_string()))?;
        if let Some(w) = encode_wanted(&remote, local.as_ref()) {
            wanted.push(w);
        }
    }
    let mut out = String::from(":MISSING_CHECK: START\r\n");
    if !wanted.is_empty() {
        out.push_str(&wanted.join("\r\n"));
    }
    out.push_str("\r\n:MISSING_CHECK: END\r\n");
    send(tx, out).await?;

    // updates
    let line = input.line().await.map_err(err0)?;
    if line.is_empty() {
        return Ok(());
    }
    if line.trim() != ":UPDATES: START" {
        return Err((0, format!("Looking for :UPDATES: START got {line:?}")));
    }
    let (mut successes, mut failures) = (0usize, 0usize);
    loop {
        let line = input.line().await.map_err(err0)?;
        if line.is_empty() || line.trim() == ":UPDATES: END" {
            break;
        }
        let context = line.trim().to_string();
        let status = subrequest(s, key, &context, &mut input).await?;
        if (200..300).contains(&status) || status == 404 {
            successes += 1;
        } else {
            tracing::warn!("ssync subrequest failed with {status}: {context}");
            failures += 1;
        }
        if failures >= FAILURE_THRESHOLD
            && (successes == 0 || failures as f64 / successes as f64 > FAILURE_RATIO)
        {
            return Err((
                0,
                format!("Too many {failures} failures to {successes} successes"),
            ));
        }
    }
    if failures > 0 {
        return Err((
            500,
            format!("ERROR: With :UPDATES: {failures} failures to {successes} successes"),
        ));
    }
    send(tx, ":UPDATES: START\r\n:UPDATES: END\r\n".into()).await
}

/// Reads one subrequest's headers (and body) and runs it; returns its status.
async fn subrequest(
    s: &Arc<ObjectServer>,
    key: &ObjectKey,
    context: &str,
    input: &mut Input,
) -> Result<u16, Failure> {
    let (method, path) = context
        .split_once(' ')
        .ok_or_else(|| (0, format!("bad subrequest line {context:?}")))?;
    let mut builder = Request::builder().uri(format!("/{}/{}{path}", key.device, key.partition));
    let mut content_length: Option<u64> = None;
    let mut replication_headers = Vec::new();
    loop {
        let line = input.line_bytes().await.map_err(|e| (0, e))?;
        if line.is_empty() {
            return Err((0, format!("Got no headers for {context}")));
        }
        let line = line.trim_ascii();
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|b| *b == b':').ok_or_else(|| {
            let line = String::from_utf8_lossy(line);
            (0, format!("bad header line {line:?}"))
        })?;
        let name = String::from_utf8_lossy(line[..colon].trim_ascii()).to_ascii_lowercase();
        let raw_value = line[colon + 1..].trim_ascii();
        let value = String::from_utf8_lossy(raw_value);
        let hn = HeaderName::from_bytes(name.as_bytes()).map_err(|e| (0, e.to_string()))?;
        let hv = HeaderValue::from_bytes(raw_value).map_err(|e| (0, e.to_string()))?;
        builder = builder.header(hn, hv);
        if name != "etag" && name != "x-backend-no-commit" {
            replication_headers.push(name.clone());
        }
        if name == "content-length" {
            content_length = Some(
                value
                    .parse()
                    .map_err(|_| (0, format!("bad length {value}")))?,
            );
        }
    }
    let method = match method {
        "PUT" => Method::PUT,
        "POST" => Method::POST,
        "DELETE" => Method::DELETE,
        m => return Err((0, format!("Invalid subrequest method {m}"))),
    };
    if method != Method::PUT && content_length.is_some_and(|l| l != 0) {
        return Err((0, format!("{method} subrequest with content-length {path}")));
    }
    if method == Method::PUT && content_length.is_none() {
        return Err((0, format!("No content-length sent for {context}")));
    }
    builder = builder
        .method(method.clone())
        .header("x-backend-storage-policy-index", key.policy.to_string())
        .header("x-backend-replication", "True");
    if !replication_headers.is_empty() {
        builder = builder.header(
            "x-backend-replication-headers",
            replication_headers.join(" "),
        );
    }
    let length = content_length.unwrap_or(0);
    let (btx, brx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body_stream = futures::stream::unfold(brx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let req = builder
        .body(Body::from_stream(body_stream))
        .map_err(|e| (0, e.to_string()))?;
    // Feed the body while the subrequest runs; what it does not read is drained.
    let feed = async move {
        let mut left = length;
        while left > 0 {
            let chunk = input
                .chunk(left.min(65_536) as usize)
                .await
                .map_err(|e| (0u16, format!("{e} for {context}")))?;
            left -= chunk.len() as u64;
            let _ = btx.send(Ok(chunk)).await;
        }
        Ok::<(), Failure>(())
    };
    let (resp, fed) = tokio::join!(
        crate::servers::object::write_subrequest(s.clone(), req),
        feed
    );
    fed?;
    Ok(resp.status().as_u16())
}
