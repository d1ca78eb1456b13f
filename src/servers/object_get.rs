//! Object GET and HEAD: conditionals, ranges (single and multipart) and
//! streaming bodies from a blocking reader thread. Objects are opened on
//! the server's disk read threads (`disk_reads`).

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Response, StatusCode};
use bytes::Bytes;

use super::http::{
    check_conditions, empty, header, http_date, parse_range, set_header, set_meta_header, ApiError,
    ApiResult, Ranges,
};
use super::object::{is_public_meta, object_key, ObjectServer};
use crate::storage::{ObjectInfo, ObjectReader, ObjectState, Timestamp};

/// Read size for streamed bodies.
const READ_CHUNK: usize = 256 * 1024;
/// Bodies up to this size are read in one go with the open.
const SMALL_BODY: u64 = 64 * 1024;

/// A piece of a response body: literal bytes or a byte range of the object.
enum Piece {
    Bytes(Bytes),
    File { start: u64, len: u64 },
}

fn object_headers(info: &ObjectInfo, h: &mut HeaderMap) {
    for (k, v) in &info.metadata {
        if is_public_meta(k) {
            set_meta_header(h, k, v);
        }
    }
    set_meta_header(
        h,
        "content-type",
        info.metadata
            .get("Content-Type")
            .map_or("application/octet-stream", String::as_str),
    );
    set_header(h, "etag", &info.etag);
    set_header(h, "last-modified", &http_date(info.timestamp.ceil_secs()));
    set_header(h, "x-timestamp", &info.timestamp.normal());
    set_header(h, "x-backend-timestamp", &info.timestamp.internal());
    set_header(
        h,
        "x-backend-data-timestamp",
        &info.data_timestamp.internal(),
    );
    set_header(
        h,
        "x-backend-durable-timestamp",
        &info.data_timestamp.internal(),
    );
    set_header(h, "accept-ranges", "bytes");
}

/// Whether the object is past its `X-Delete-At` (replication sees it still).
pub(super) fn expired(info: &ObjectInfo, req_h: &HeaderMap) -> bool {
    let replication =
        header(req_h, "x-backend-replication").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    !replication
        && info
            .metadata
            .get("X-Delete-At")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|at| at <= Timestamp::now().secs())
}

pub(super) async fn get(s: Arc<ObjectServer>, req: Request) -> ApiResult {
    let key = object_key(&s, &req)?;
    let is_head = req.method() == "HEAD";
    let h = req.headers().clone();
    let st = s.store.clone();
    let device = key.device.clone();
    let opened = s
        .reads
        .run(&device, move || {
            st.check_device(&key.device, false)?;
            match st.open(&key)? {
                Some((info, mut reader)) => {
                    // Small whole-body GETs read everything now: one blocking hop.
                    let plain = !is_head
                        && info.content_length <= SMALL_BODY
                        && header(&h, "range").is_none();
                    let body = if plain {
                        let mut buf = Vec::with_capacity(info.content_length as usize);
                        reader.read_to_end(&mut buf).map_err(|e| {
                            tracing::warn!("read of {} failed: {e}", key.name());
                            ApiError::new(StatusCode::NOT_FOUND, "")
                        })?;
                        Some(buf)
                    } else {
                        None
                    };
                    Ok(Ok((info, reader, body, h)))
                }
                None => Ok(Err(st.state(&key)?)),
            }
        })
        .await?;
    let (info, reader, small, h) = match opened {
        Ok(x) => x,
        Err(ObjectState::Deleted(t)) => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "")
                .with_header("x-backend-timestamp", t.internal()));
        }
        Err(_) => return Err(ApiError::new(StatusCode::NOT_FOUND, "")),
    };
    if expired(&info, &h) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, ""));
    }
    let mut resp = empty(StatusCode::OK);
    object_headers(&info, resp.headers_mut());
    if let Some(status) = check_conditions(&h, &info.etag, info.timestamp.ceil_secs(), true) {
        *resp.status_mut() = status;
        resp.headers_mut().remove("content-type");
        return Ok(resp);
    }
    let len = info.content_length;
    let ranges = parse_range(header(&h, "range"), len);
    let (status, pieces, body_len) = match ranges {
        Ranges::Whole => (StatusCode::OK, vec![Piece::File { start: 0, len }], len),
        Ranges::Unsatisfiable => {
            // The object's headers (ETag, Last-Modified, metadata) stay, as
            // on Swift's 416; the body is the standard explanation.
            let text: &'static str = "<html><h1>Requested Range Not Satisfiable</h1>\
                <p>The Range requested is not available.</p></html>";
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = resp.headers_mut();
            set_header(h, "content-range", &format!("bytes */{len}"));
            set_header(h, "content-length", &text.len().to_string());
            let (parts, _) = resp.into_parts();
            let body = if is_head {
                Body::empty()
            } else {
                Body::from(text)
            };
            return Ok(Response::from_parts(parts, body));
        }
        Ranges::Some(list) if list.len() == 1 => {
            let (a, b) = list[0];
            set_header(
                resp.headers_mut(),
                "content-range",
                &format!("bytes {a}-{b}/{len}"),
            );
            (
                StatusCode::PARTIAL_CONTENT,
                vec![Piece::File {
                    start: a,
                    len: b - a + 1,
                }],
                b - a + 1,
            )
        }
        Ranges::Some(list) => {
            let boundary = uuid::Uuid::new_v4().simple().to_string();
            let ctype = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let mut pieces = Vec::new();
            let mut total = 0u64;
            for (i, (a, b)) in list.iter().enumerate() {
                let lead = if i == 0 { "" } else { "\r\n" };
                let head = format!("{lead}--{boundary}\r\nContent-Type: {ctype}\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n");
                total += head.len() as u64 + (b - a + 1);
                pieces.push(Piece::Bytes(Bytes::from(head)));
                pieces.push(Piece::File {
                    start: *a,
                    len: b - a + 1,
                });
            }
            let tail = format!("\r\n--{boundary}--");
            total += tail.len() as u64;
            pieces.push(Piece::Bytes(Bytes::from(tail)));
            set_header(
                resp.headers_mut(),
                "content-type",
                &format!("multipart/byteranges;boundary={boundary}"),
            );
            (StatusCode::PARTIAL_CONTENT, pieces, total)
        }
    };
    *resp.status_mut() = status;
    set_header(resp.headers_mut(), "content-length", &body_len.to_string());
    if is_head {
        return Ok(resp);
    }
    let (parts, _) = resp.into_parts();
    let body = match small {
        Some(buf) => Body::from(buf),
        None => stream_body(reader, pieces),
    };
    Ok(Response::from_parts(parts, body))
}

/// Streams pieces from a blocking thread through a small channel.
fn stream_body(mut reader: Box<dyn ObjectReader>, pieces: Vec<Piece>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        for piece in pieces {
            match piece {
                Piece::Bytes(b) => {
                    if tx.blocking_send(Ok(b)).is_err() {
                        return;
                    }
                }
                Piece::File { start, len } => {
                    if let Err(e) = reader.seek(SeekFrom::Start(start)) {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                    let mut left = len;
                    while left > 0 {
                        let mut buf = vec![0u8; READ_CHUNK.min(left as usize)];
                        match reader.read(&mut buf) {
                            Ok(0) => {
                                let _ = tx.blocking_send(Err(std::io::Error::other(
                                    "object file truncated",
                                )));
                                return;
                            }
                            Ok(n) => {
                                buf.truncate(n);
                                left -= n as u64;
                                if left == 0 && start == 0 {
                                    // Let the reader see EOF so a full read is verified.
                                    if let Err(e) = reader.read(&mut [0u8; 1]) {
                                        let _ = tx.blocking_send(Err(e));
                                        return;
                                    }
                                }
                                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = tx.blocking_send(Err(e));
                                return;
                            }
                        }
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}
