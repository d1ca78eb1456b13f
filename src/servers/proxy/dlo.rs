//! Dynamic large objects: a manifest with `X-Object-Manifest: c/prefix` is
//! served as the concatenation, in name order, of the objects in `c` whose
//! names start with `prefix`. Its ETag is the MD5 of the segments' ETags.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::headers;
use super::listing::query_string;
use super::pipeline::{check_access, ApiPath, Ctx};
use super::rings::RingKind;
use super::server::Proxy;
use crate::servers::http::{check_conditions, parse_http_date, parse_range, Ranges};

struct Segment {
    name: String,
    bytes: u64,
}

/// Lists the segments (all pages); `Err` is the response to send.
async fn segments(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    a: &str,
    c: &str,
    prefix: &str,
) -> Result<(Vec<Segment>, String), Response<Body>> {
    let mut out = Vec::new();
    let mut md5 = Md5::new();
    let mut marker = String::new();
    let mut h = HeaderMap::new();
    headers::set(&mut h, "x-trans-id", &ctx.trans_id);
    loop {
        let q = query_string(&[
            ("format".into(), "json".into()),
            ("prefix".into(), prefix.into()),
            ("marker".into(), marker.clone()),
        ]);
        let resp = proxy
            .read_first(
                RingKind::Container,
                a,
                Some(c),
                None,
                &Method::GET,
                Some(&q),
                &h,
            )
            .await;
        let page: Vec<Value> = match resp {
            Ok((r, ..)) if r.status().is_success() => {
                let b = r
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                serde_json::from_slice(&b).unwrap_or_default()
            }
            Ok(_) | Err((StatusCode::NOT_FOUND, _)) => Vec::new(),
            Err((s, _)) => return Err(headers::error(s, None)),
        };
        if page.is_empty() {
            break;
        }
        for it in &page {
            let (Some(name), Some(bytes)) = (
                it.get("name").and_then(Value::as_str),
                it.get("bytes").and_then(Value::as_u64),
            ) else {
                continue;
            };
            md5.update(
                it.get("hash")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .as_bytes(),
            );
            marker = name.to_string();
            out.push(Segment {
                name: name.to_string(),
                bytes,
            });
        }
        if out.len() > 10_000 {
            break;
        }
    }
    let etag: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((out, etag))
}

/// Whether a request's query asks for a manifest itself
/// (`multipart-manifest=get`) rather than its contents.
pub fn manifest_get(query: Option<&str>) -> bool {
    super::listing::query_pairs(query)
        .iter()
        .any(|(k, v)| k == "multipart-manifest" && v == "get")
}

/// Serves a manifest's GET/HEAD response as its concatenated segments.
pub async fn serve(
    proxy: &Arc<Proxy>,
    ctx: &Ctx,
    method: &Method,
    client: &HeaderMap,
    a: &str,
    manifest: Response<Body>,
) -> Response<Body> {
    let value = headers::get(manifest.headers(), "x-object-manifest").unwrap_or("");
    let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
    let Some((c, prefix)) = value.split_once('/') else {
        return headers::text(
            StatusCode::BAD_REQUEST,
            "X-Object-Manifest must be in the format container/prefix",
        );
    };
    let (c, prefix) = (c.to_string(), prefix.to_string());
    let listing = ApiPath {
        account: a.into(),
        container: Some(c.clone()),
        object: None,
    };
    if let Err(r) = check_access(proxy, ctx, &Method::GET, client, &listing).await {
        return r;
    }
    let (segs, etag) = match segments(proxy, ctx, a, &c, &prefix).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let total: u64 = segs.iter().map(|s| s.bytes).sum();
    let (parts, _) = manifest.into_parts();
    let mut h = parts.headers;
    headers::set(&mut h, "etag", &format!("\"{etag}\""));
    let last_modified = headers::get(&h, "last-modified")
        .and_then(parse_http_date)
        .unwrap_or(0);
    let mut cond = client.clone();
    cond.remove("range");
    if let Some(s) = check_conditions(&cond, &etag, last_modified, true) {
        let mut r = headers::empty_like(s);
        headers::set(r.headers_mut(), "etag", &format!("\"{etag}\""));
        return r;
    }
    let (status, start, end) = match parse_range(headers::get(client, "range"), total) {
        Ranges::Some(r) if r.len() == 1 => (StatusCode::PARTIAL_CONTENT, r[0].0, r[0].1 + 1),
        Ranges::Unsatisfiable if total > 0 => {
            let mut r = headers::empty_like(StatusCode::RANGE_NOT_SATISFIABLE);
            headers::set(
                r.headers_mut(),
                "content-range",
                &format!("bytes */{total}"),
            );
            return r;
        }
        _ => (StatusCode::OK, 0, total),
    };
    headers::set(&mut h, "content-length", &(end - start).to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        headers::set(
            &mut h,
            "content-range",
            &format!("bytes {start}-{}/{total}", end - 1),
        );
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    if *method == Method::GET {
        let mut plan = Vec::new();
        let mut off = 0u64;
        for s in segs {
            let (s0, s1) = (off, off + s.bytes);
            off = s1;
            if s1 <= start || s0 >= end || s.bytes == 0 {
                continue;
            }
            let from = start.saturating_sub(s0);
            let to = end.min(s1) - s0;
            plan.push((s.name, from, to, s.bytes));
        }
        *r.body_mut() = stream_segments(proxy.clone(), ctx.trans_id.clone(), a.into(), c, plan);
    }
    *r.headers_mut() = h;
    r
}

fn stream_segments(
    proxy: Arc<Proxy>,
    trans_id: String,
    a: String,
    c: String,
    plan: Vec<(String, u64, u64, u64)>,
) -> Body {
    let ctx = Ctx {
        trans_id,
        who: None,
        owner: true,
    };
    let ctx = Arc::new(ctx);
    let stream = futures::stream::unfold(
        (plan.into_iter(), None::<Body>),
        move |(mut plan, mut cur)| {
            let (proxy, ctx, a, c) = (proxy.clone(), ctx.clone(), a.clone(), c.clone());
            async move {
                loop {
                    if let Some(b) = cur.as_mut() {
                        match b.frame().await {
                            Some(Ok(f)) => {
                                if let Ok(d) = f.into_data() {
                                    return Some((Ok::<Bytes, std::io::Error>(d), (plan, cur)));
                                }
                                continue;
                            }
                            Some(Err(e)) => {
                                return Some((
                                    Err(std::io::Error::other(e.to_string())),
                                    (plan, None),
                                ))
                            }
                            None => {}
                        }
                    }
                    let (name, from, to, size) = plan.next()?;
                    let mut h = HeaderMap::new();
                    if from > 0 || to < size {
                        headers::set(&mut h, "range", &format!("bytes={from}-{}", to - 1));
                    }
                    let r = super::object::get(&proxy, &ctx, &Method::GET, &h, &a, &c, &name).await;
                    if !r.status().is_success() {
                        let e =
                            std::io::Error::other(format!("segment {c}/{name}: {}", r.status()));
                        return Some((Err(e), (plan, None)));
                    }
                    cur = Some(r.into_body());
                }
            }
        },
    );
    Body::from_stream(stream)
}
