//! Header plumbing shared by the controllers: what is copied to backends and
//! back to clients, Swift's error bodies, metadata limits and transaction ids.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

/// Swift's published limits (`/info` and request checks).
pub const MAX_FILE_SIZE: u64 = 5_368_709_122;
pub const MAX_META_NAME_LENGTH: usize = 128;
pub const MAX_META_VALUE_LENGTH: usize = 256;
pub const MAX_META_COUNT: usize = 90;
pub const MAX_META_OVERALL_SIZE: usize = 4096;
pub const MAX_HEADER_SIZE: usize = 8192;
pub const MAX_OBJECT_NAME_LENGTH: usize = 1024;
pub const MAX_ACCOUNT_NAME_LENGTH: usize = 256;
pub const MAX_CONTAINER_NAME_LENGTH: usize = 256;
pub const LISTING_LIMIT: usize = 10_000;

/// Headers never forwarded between hops.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "expect",
];

/// The client's headers as a backend should see them (no hop-by-hop, no length).
pub fn to_backend(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(h.len() + 6);
    for (k, v) in h {
        let n = k.as_str();
        if HOP_BY_HOP.contains(&n) || n == "content-length" || n == "x-auth-token" {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    out
}

/// Whether a backend response header may reach the client.
pub fn client_visible(name: &str) -> bool {
    !(name.starts_with("x-backend-")
        || name.starts_with("x-object-sysmeta-")
        || name.starts_with("x-container-sysmeta-")
        || name.starts_with("x-account-sysmeta-")
        || name.starts_with("x-object-transient-sysmeta-")
        || HOP_BY_HOP.contains(&name)
        || name == "server"
        || name == "date")
}

/// Copies the client-visible headers of a backend response.
pub fn from_backend(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(h.len());
    for (k, v) in h {
        if client_visible(k.as_str()) {
            out.append(k.clone(), v.clone());
        }
    }
    out
}

/// A response with Swift's short HTML body for the status (empty for HEAD).
pub fn error(status: StatusCode, detail: Option<&str>) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let text = match (status.as_u16(), detail) {
        (_, Some(d)) => d.to_string(),
        (401, None) => "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>".into(),
        (403, None) => "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>".into(),
        (404, None) => "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>".into(),
        (202, None) => "<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>".into(),
        (503, None) => "<html><h1>Service Unavailable</h1><p>The server is currently unavailable. Please try again at a later time.</p></html>".into(),
        (_, None) => format!("<html><h1>{reason}</h1></html>"),
    };
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

/// A 404 as Swift's proxy relays it from storage nodes that found
/// nothing: their empty body, typed as Swift's responses are by default.
pub fn relayed_not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "")
}

/// A plain-text error, as Swift's constraint checks answer.
pub fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

/// A plain-text error (`text/plain`), as Swift's constraint checks (object
/// creation, metadata, expiry times, `If-None-Match`) answer.
pub fn plain(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = text(status, body);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

/// `If-None-Match` as Swift's proxy reads it: `None` without the header,
/// else whether one of its comma-separated tags is `*` (quoted or not).
pub fn if_none_match_star(h: &HeaderMap) -> Option<bool> {
    let v = h.get("if-none-match")?;
    let star = v.as_bytes().split(|b| *b == b',').any(|tag| {
        let start = tag.iter().position(|b| !python_space(b));
        let end = tag.iter().rposition(|b| !python_space(b));
        let tag = match (start, end) {
            (Some(s), Some(e)) => &tag[s..=e],
            _ => return false,
        };
        tag == b"*" || tag == b"\"*\""
    });
    Some(star)
}

/// A header as UTF-8 text. Clients send non-ASCII values (metadata, DLO
/// manifests, copy sources) as raw UTF-8 bytes, so those count as text too.
pub fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// Sets a header from text (values HTTP cannot carry are skipped).
pub fn set(h: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_bytes()),
    ) {
        h.insert(n, v);
    }
}

/// Checks `X-<kind>-Meta-*` headers against Swift's limits; the 400 message on violation.
pub fn check_metadata(h: &HeaderMap, kind: &str) -> Result<(), String> {
    let prefix = format!("x-{kind}-meta-");
    let (mut count, mut size) = (0usize, 0usize);
    for (k, v) in h {
        if !k.as_str().starts_with(&prefix) {
            continue;
        }
        // Swift names the header as its WSGI layer spells it.
        let name = &crate::servers::http::title_case(k.as_str())[prefix.len()..];
        let value = v.as_bytes();
        if name.is_empty() {
            return Err("Metadata name cannot be empty".into());
        }
        count += 1;
        size += name.len() + value.len();
        if name.len() > MAX_META_NAME_LENGTH {
            return Err(format!("Metadata name too long: {prefix}{name}"));
        }
        if value.len() > MAX_META_VALUE_LENGTH {
            return Err(format!(
                "Metadata value longer than {MAX_META_VALUE_LENGTH}: {prefix}{name}"
            ));
        }
        if count > MAX_META_COUNT {
            return Err(format!("Too many metadata items; max {MAX_META_COUNT}"));
        }
        if size > MAX_META_OVERALL_SIZE {
            return Err(format!(
                "Total metadata too large; max {MAX_META_OVERALL_SIZE}"
            ));
        }
    }
    Ok(())
}

/// Whether a byte is whitespace to Python's `str.lstrip` on a header
/// value (which Swift's WSGI server decodes as latin-1).
fn python_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | 0x0b | 0x0c | 0x1c..=0x1f | 0x85 | 0xa0)
}

/// The 400 body Swift's proxy answers an object PUT (a copy's write
/// included) whose `Content-Type` has a parameter starting with `swift_`:
/// those are the cluster's own (`swift_bytes`), never a client's.
pub fn check_content_type(h: &HeaderMap) -> Result<(), &'static str> {
    let Some(v) = h.get("content-type") else {
        return Ok(());
    };
    let reserved = v.as_bytes().split(|b| *b == b';').skip(1).any(|param| {
        let start = param.iter().position(|b| !python_space(b));
        start.is_some_and(|i| param[i..].starts_with(b"swift_"))
    });
    if reserved {
        return Err("Invalid Content-Type, swift_* is not a valid parameter name.");
    }
    Ok(())
}

/// An object's content type as Swift's proxy answers a GET or HEAD: a
/// `swift_bytes` parameter is dropped when it is the last one (the text
/// before its `;` is kept as it is), and anything else is left alone.
/// This is not the container listing's rule (`extract_swift_bytes`, which
/// finds the parameter anywhere and rewrites the others).
pub fn clean_content_type(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|b| *b == b';') {
        Some(i) => {
            let last = &value[i + 1..];
            let start = last
                .iter()
                .position(|b| !python_space(b))
                .unwrap_or(last.len());
            if last[start..].starts_with(b"swift_bytes=") {
                &value[..i]
            } else {
                value
            }
        }
        None => value,
    }
}

/// A new transaction id: `tx` + 21 hex digits + `-` + 10 hex digits of time.
pub fn new_trans_id(suffix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("tx{}-{secs:010x}{suffix}", &id[..21])
}

/// Content type guessed from an object name's extension as Swift's proxy
/// guesses it, `application/octet-stream` when nothing matches.
pub fn guess_type(name: &str) -> &'static str {
    super::mime_types::guess(name).unwrap_or("application/octet-stream")
}

/// An empty body that still announces its length: HTTP lets a server leave
/// `Content-Length` out of a 204, and hyper does for an empty body, but
/// Swift sends `Content-Length: 0` and clients check for it. A body that
/// knows its length is 0 (but has not said it is over) keeps the header.
struct AnnouncedEmpty;

impl hyper::body::Body for AnnouncedEmpty {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(0)
    }
}

/// Makes a 204 carry `Content-Length: 0` on the wire, as Swift's do.
pub fn announce_empty(r: &mut Response<Body>) {
    set(r.headers_mut(), "content-length", "0");
    *r.body_mut() = Body::new(AnnouncedEmpty);
}

/// An empty response with a status.
pub fn empty_like(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_limits() {
        let mut h = HeaderMap::new();
        h.insert("x-object-meta-a", HeaderValue::from_static("b"));
        assert!(check_metadata(&h, "object").is_ok());
        h.insert("x-object-meta-", HeaderValue::from_static("b"));
        assert!(check_metadata(&h, "object").is_err());
        let mut h = HeaderMap::new();
        set(
            &mut h,
            &format!("x-container-meta-{}", "n".repeat(129)),
            "v",
        );
        assert!(check_metadata(&h, "container")
            .unwrap_err()
            .contains("too long"));
        let mut h = HeaderMap::new();
        set(&mut h, "x-object-meta-a1b-c", &"v".repeat(257));
        assert_eq!(
            check_metadata(&h, "object").unwrap_err(),
            "Metadata value longer than 256: x-object-meta-A1B-C"
        );
        assert!(new_trans_id("").starts_with("tx"));
        assert_eq!(new_trans_id("").len(), 2 + 21 + 1 + 10);
    }

    #[test]
    fn if_none_match_is_read_as_swifts_proxy_reads_it() {
        let inm = |v: &str| {
            let mut h = HeaderMap::new();
            set(&mut h, "if-none-match", v);
            if_none_match_star(&h)
        };
        assert_eq!(if_none_match_star(&HeaderMap::new()), None);
        assert_eq!(inm("*"), Some(true));
        assert_eq!(inm("\"*\""), Some(true));
        assert_eq!(inm("\"a\", *"), Some(true));
        assert_eq!(inm(""), Some(false));
        assert_eq!(inm("W/*"), Some(false));
        assert_eq!(inm("abc"), Some(false));
    }

    #[test]
    fn swift_parameters_of_a_content_type_are_refused() {
        let ct = |v: &[u8]| {
            let mut h = HeaderMap::new();
            h.insert("content-type", HeaderValue::from_bytes(v).unwrap());
            check_content_type(&h).is_ok()
        };
        assert!(ct(b"text/plain"));
        assert!(ct(b"text/plain; charset=utf-8"));
        assert!(ct(b"text/swift_x"));
        assert!(ct(b"text/plain; x=swift_y"));
        assert!(!ct(b"text/plain;swift_bytes=5"));
        assert!(!ct(b"text/plain; a=1;  \tswift_x"));
        assert!(!ct(b"text/plain;\xa0swift_x=1"));
        assert!(check_content_type(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn a_last_swift_bytes_parameter_is_cleaned_away() {
        let clean = |v: &str| String::from_utf8(clean_content_type(v.as_bytes()).to_vec()).unwrap();
        assert_eq!(clean("text/plain;swift_bytes=5"), "text/plain");
        assert_eq!(
            clean("a/b; charset=UTF-8; swift_bytes=12"),
            "a/b; charset=UTF-8"
        );
        assert_eq!(clean("a/b ; swift_bytes=1"), "a/b ");
        assert_eq!(clean("a/b;swift_bytes=4; z=1"), "a/b;swift_bytes=4; z=1");
        assert_eq!(clean("a/b; swift_bytes"), "a/b; swift_bytes");
        assert_eq!(clean("a/b"), "a/b");
    }
}
