//! Swift's backend HTTP conventions: paths, headers, timestamps, dates and
//! the one place where errors become statuses.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::storage::{StorageError, Timestamp};

/// Longest names accepted (Swift's default constraints).
pub const MAX_ACCOUNT_NAME: usize = 256;
pub const MAX_CONTAINER_NAME: usize = 256;
pub const MAX_OBJECT_NAME: usize = 1024;

/// An error response: status, short text body and optional headers.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: String,
    pub headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, body: impl Into<String>) -> Self {
        ApiError {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }
    pub fn bad_request(body: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, body)
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers
            .push((HeaderName::from_static(name), value.into()));
        self
    }
}

/// Storage errors mapped to Swift's statuses.
impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::DeviceUnavailable(d) | StorageError::InsufficientSpace(d) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("<html><h1>Insufficient Storage</h1><p>There was not enough space to save the resource. Drive: {d}</p></html>"),
            ),
            StorageError::InvalidName(n) => ApiError::bad_request(format!("Invalid path: {n}")),
            StorageError::MetadataLimit(m) => ApiError::bad_request(m),
            StorageError::NotFound | StorageError::Quarantined(_) => ApiError::new(StatusCode::NOT_FOUND, ""),
            other => {
                tracing::error!("storage error: {other}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "An error occurred")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response<Body> {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/html; charset=UTF-8"),
        );
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }
}

/// Result of a handler.
pub type ApiResult = Result<Response<Body>, ApiError>;

/// Answers 412 to a request whose path is not UTF-8 once percent-decoded,
/// before the app sees it, as Swift's storage servers do (they allow NUL:
/// reserved names start with one). `body` is the server's text: `Invalid
/// UTF8 or contains NULL` (object, container) or `Invalid UTF8` (account).
pub fn require_utf8_path(app: axum::Router, body: &'static str) -> axum::Router {
    app.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            if percent_decode_str(req.uri().path()).decode_utf8().is_err() {
                return ApiError::new(StatusCode::PRECONDITION_FAILED, body).into_response();
            }
            next.run(req).await
        },
    ))
}

/// Decodes a request path and splits it into between `min` and `max`
/// segments; the last segment keeps any further slashes. Rejects invalid
/// UTF-8, NUL, empty required segments and `.`/`..` segments with 400.
pub fn split_path(raw: &str, min: usize, max: usize) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad_request(format!("Invalid path: {raw}"));
    let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| bad())?;
    if decoded.contains('\0') || !decoded.starts_with('/') {
        return Err(bad());
    }
    let segs: Vec<String> = decoded[1..].splitn(max, '/').map(str::to_string).collect();
    if segs.len() < min || segs.iter().take(min).any(String::is_empty) {
        return Err(bad());
    }
    if segs.len() > min && segs.last().is_some_and(String::is_empty) && segs.len() == max {
        return Err(bad());
    }
    if segs
        .iter()
        .any(|s| s.split('/').any(|c| c == "." || c == ".."))
    {
        return Err(bad());
    }
    let limits = [
        usize::MAX,
        usize::MAX,
        MAX_ACCOUNT_NAME,
        MAX_CONTAINER_NAME,
        MAX_OBJECT_NAME,
    ];
    if segs.iter().zip(limits).any(|(s, l)| s.len() > l) {
        return Err(bad());
    }
    Ok(segs)
}

const PATH_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a path, keeping `/`.
pub fn quote(path: &str) -> String {
    utf8_percent_encode(path, PATH_SAFE).to_string()
}

/// A header as text, if present and valid.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A header's value as text, decoding non-ASCII bytes as UTF-8 when possible.
pub fn header_text(v: &HeaderValue) -> String {
    match std::str::from_utf8(v.as_bytes()) {
        Ok(s) => s.to_string(),
        Err(_) => v.as_bytes().iter().map(|&b| char::from(b)).collect(),
    }
}

/// A header's value as object metadata holds it: one char per byte.
pub fn header_meta(v: &HeaderValue) -> String {
    crate::storage::metadata::from_header_bytes(v.as_bytes())
}

/// Inserts an object metadata value as a header, byte for byte.
pub fn set_meta_header(h: &mut HeaderMap, name: &str, value: &str) {
    let bytes = crate::storage::metadata::to_header_bytes(value);
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(&bytes),
    ) {
        h.insert(n, v);
    }
}

/// `X-Timestamp`, required for writes.
pub fn req_timestamp(h: &HeaderMap) -> Result<Timestamp, ApiError> {
    let v = header(h, "x-timestamp").ok_or_else(|| ApiError::bad_request("Missing timestamp"))?;
    Timestamp::parse(v).ok_or_else(|| {
        ApiError::bad_request(format!(
            "X-Timestamp should be a UNIX timestamp float value; was {v:?}"
        ))
    })
}

/// `X-Backend-Storage-Policy-Index` (default 0), checked against the known policies.
pub fn policy_index(h: &HeaderMap, policies: &[u32]) -> Result<u32, ApiError> {
    let Some(v) = header(h, "x-backend-storage-policy-index") else {
        return Ok(0);
    };
    let idx: u32 = v.trim().parse().map_err(|_| {
        ApiError::bad_request(format!("Invalid X-Backend-Storage-Policy-Index {v:?}"))
    })?;
    if policies.contains(&idx) {
        Ok(idx)
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("No policy with index {idx}"),
        ))
    }
}

/// Python's `str.title()` for header names: `x-object-meta-foo` → `X-Object-Meta-Foo`.
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut prev_alpha = false;
    for c in name.chars() {
        if c.is_alphabetic() {
            if prev_alpha {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_alpha = true;
        } else {
            out.push(c);
            prev_alpha = false;
        }
    }
    out
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 7231 date: `Tue, 14 Nov 2023 22:13:20 GMT`.
pub fn http_date(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = crate::storage::timestamp::civil(secs);
    format!(
        "{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT",
        DAYS[(secs / 86_400 % 7) as usize],
        MONTHS[mo as usize - 1]
    )
}

/// Parses an HTTP date in any of the three forms RFC 7231 accepts (as
/// Swift's `email.utils.parsedate` does): IMF-fixdate
/// `Tue, 14 Nov 2023 22:13:20 GMT`, RFC 850 `Tuesday, 14-Nov-23 22:13:20 GMT`
/// and asctime `Tue Nov 14 22:13:20 2023`; seconds since the epoch.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (d, mo, y, hms) = match parts.as_slice() {
        [_, d, mo, y, hms, "GMT"] => (*d, *mo, *y, *hms),
        [_, dmy, hms, "GMT"] => {
            let mut it = dmy.split('-');
            let (d, mo, y) = (it.next()?, it.next()?, it.next()?);
            (d, mo, y, *hms)
        }
        [_, mo, d, hms, y] => (*d, *mo, *y, *hms),
        _ => return None,
    };
    let d: u32 = d.parse().ok()?;
    let mo = MONTHS.iter().position(|m| *m == mo)? as u32 + 1;
    let mut y: i64 = y.parse().ok()?;
    if y < 100 {
        // Two-digit years as Python reads them: 69-99 are 19xx.
        y += if y > 68 { 1900 } else { 2000 };
    }
    let mut t = hms.split(':').map(|x| x.parse::<u64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let days = crate::storage::timestamp::days_from_civil(y, mo, d);
    (days >= 0).then(|| days as u64 * 86_400 + h * 3600 + mi * 60 + sec)
}

/// What a `Range` header asks for, given the body length.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranges {
    /// No header, or one we ignore (bad syntax): send the whole body.
    Whole,
    Unsatisfiable,
    /// Inclusive byte ranges, at least one.
    Some(Vec<(u64, u64)>),
}

/// Parses `bytes=a-b,c-,-n`. Invalid syntax means "whole body", as Swift
/// does; like Swift, spaces anywhere and the unit's case do not matter.
pub fn parse_range(h: Option<&str>, len: u64) -> Ranges {
    let Some(v) = h else { return Ranges::Whole };
    let v = v.replace(' ', "");
    let Some((unit, spec)) = v.split_once('=') else {
        return Ranges::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return Ranges::Whole;
    }
    let mut out = Vec::new();
    let mut any = false;
    for part in spec.split(',') {
        let part = part.trim();
        let Some((a, b)) = part.split_once('-') else {
            return Ranges::Whole;
        };
        let (a, b) = (a.trim(), b.trim());
        let num = |s: &str| s.parse::<u64>().ok();
        any = true;
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ranges::Whole,
            (true, false) => {
                let Some(n) = num(b) else {
                    return Ranges::Whole;
                };
                if n > 0 && len > 0 {
                    out.push((len.saturating_sub(n), len - 1));
                }
            }
            (false, _) => {
                let Some(start) = num(a) else {
                    return Ranges::Whole;
                };
                let end = if b.is_empty() {
                    u64::MAX
                } else {
                    match num(b) {
                        Some(e) => e,
                        None => return Ranges::Whole,
                    }
                };
                if end < start {
                    return Ranges::Whole;
                }
                if start < len {
                    out.push((start, end.min(len - 1)));
                }
            }
        }
    }
    if !any {
        Ranges::Whole
    } else if out.is_empty() {
        Ranges::Unsatisfiable
    } else {
        Ranges::Some(out)
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

/// Evaluates `If-Match`, `If-None-Match`, `If-Modified-Since` and
/// `If-Unmodified-Since` for a present object; `Some(status)` short-circuits.
pub fn check_conditions(
    h: &HeaderMap,
    etag: &str,
    last_modified: u64,
    is_get_or_head: bool,
) -> Option<StatusCode> {
    if let Some(m) = header(h, "if-match") {
        if !etag_matches(m, etag) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    }
    if let Some(m) = header(h, "if-none-match") {
        if etag_matches(m, etag) {
            return Some(if is_get_or_head {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::PRECONDITION_FAILED
            });
        }
    }
    if let Some(since) = header(h, "if-unmodified-since").and_then(parse_http_date) {
        if last_modified > since {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    }
    if is_get_or_head && header(h, "if-none-match").is_none() {
        if let Some(since) = header(h, "if-modified-since").and_then(parse_http_date) {
            if last_modified <= since {
                return Some(StatusCode::NOT_MODIFIED);
            }
        }
    }
    None
}

/// An empty response with a status.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// Inserts a header, skipping values HTTP cannot carry.
pub fn set_header(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        h.insert(n, v);
    } else if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_bytes()),
    ) {
        h.insert(n, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            split_path("/d/1/a/c/o/x", 5, 5).unwrap(),
            ["d", "1", "a", "c", "o/x"]
        );
        assert_eq!(split_path("/d/1/a", 3, 5).unwrap(), ["d", "1", "a"]);
        assert!(split_path("/d/1/a/c/..", 5, 5).is_err());
        assert!(split_path("/d/1/a/c/%2e%2e", 5, 5).is_err());
        assert!(split_path("/d/1/a/c/x%00y", 5, 5).is_err());
        assert!(split_path("/d/1/a/c/%ff", 5, 5).is_err());
        assert!(split_path("/d/1//c/o", 5, 5).is_err());
        assert!(split_path(&format!("/d/1/a/c/{}", "x".repeat(1025)), 5, 5).is_err());
        assert_eq!(quote("/a b/ü"), "/a%20b/%C3%BC");
    }

    #[test]
    fn dates_and_ranges() {
        assert_eq!(http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(
            parse_http_date("Tue, 14 Nov 2023 22:13:20 GMT"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_range(Some("bytes=0-1,-2,8-"), 10),
            Ranges::Some(vec![(0, 1), (8, 9), (8, 9)])
        );
        assert_eq!(parse_range(Some("bytes=20-"), 10), Ranges::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Ranges::Whole);
        assert_eq!(parse_range(Some("junk"), 10), Ranges::Whole);
        for spaced in ["BYTES=0-4", "bytes = 0 - 4", "bytes=0-4 ", "Bytes= 0-4"] {
            assert_eq!(parse_range(Some(spaced), 10), Ranges::Some(vec![(0, 4)]));
        }
        assert_eq!(parse_range(Some("bits=0-4"), 10), Ranges::Whole);
        // The three date forms HTTP allows, as Python's parsedate reads them.
        for form in [
            "Tue, 14 Nov 2023 22:13:20 GMT",
            "Tuesday, 14-Nov-23 22:13:20 GMT",
            "Tue Nov 14 22:13:20 2023",
        ] {
            assert_eq!(parse_http_date(form), Some(1_700_000_000), "{form}");
        }
        assert_eq!(
            parse_http_date("Thursday, 01-Jan-70 00:00:10 GMT"),
            Some(10)
        );
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(title_case("x-object-meta-foo_bar"), "X-Object-Meta-Foo_Bar");
    }
}
