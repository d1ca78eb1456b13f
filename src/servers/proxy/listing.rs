//! listing_formats: account and container listings are always fetched from
//! the backends as JSON and rendered here as plain text, JSON or XML.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Response, StatusCode};
use serde_json::Value;

use super::headers;
use crate::servers::listing::xml_escape;

/// A listing's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
    Xml(&'static str),
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Plain => "text/plain",
            Format::Json => "application/json",
            Format::Xml(t) => t,
        }
    }
}

/// `limit` above the listing limit is a 412, as in Swift; a `limit` that
/// is not all digits is ignored (the backend lists up to the maximum).
pub fn check_limit(pairs: &[(String, String)]) -> Option<Response<Body>> {
    let (_, l) = pairs.iter().find(|(k, _)| k == "limit")?;
    if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match l.parse::<u64>() {
        Ok(n) if n <= headers::LISTING_LIMIT as u64 => None,
        _ => Some(headers::text(
            StatusCode::PRECONDITION_FAILED,
            &format!("Maximum limit is {}", headers::LISTING_LIMIT),
        )),
    }
}

/// A listing GET/HEAD as the backends take it.
pub struct BackendListing {
    /// What the client asked to get back.
    pub format: Format,
    pub head: bool,
    /// The client's query with `format=json` (backends always list JSON).
    pub query: String,
    pub hdrs: HeaderMap,
}

/// Checks a listing request (format, `limit`) and builds its backend
/// query and headers; `Err` is the response to send.
pub fn backend_request(
    req: &Request<Body>,
    trans_id: &str,
) -> Result<BackendListing, Response<Body>> {
    if let Some(name) = param_not_utf8(req) {
        let mut r = headers::text(
            StatusCode::BAD_REQUEST,
            &format!("\"{name}\" parameter not valid UTF-8"),
        );
        headers::set(r.headers_mut(), "content-type", "text/plain");
        return Err(r);
    }
    let mut pairs = query_pairs(req.uri().query());
    let format = wanted_format(&pairs, req.headers()).map_err(|s| headers::error(s, None))?;
    if let Some(r) = check_limit(&pairs) {
        return Err(r);
    }
    pairs.retain(|(k, _)| k != "format");
    pairs.push(("format".into(), "json".into()));
    let mut hdrs = headers::to_backend(req.headers());
    hdrs.remove("accept");
    headers::set(&mut hdrs, "x-trans-id", trans_id);
    Ok(BackendListing {
        format,
        head: req.method() == axum::http::Method::HEAD,
        query: query_string(&pairs),
        hdrs,
    })
}

/// The first listing parameter Swift reads whose value is not UTF-8 once
/// decoded (Swift answers 400 naming it): `format` first (listing_formats),
/// then those the backend (or, for a container GET, the proxy) reads.
fn param_not_utf8(req: &Request) -> Option<&'static str> {
    use crate::servers::listing::{
        decode_query, first_not_utf8, params_read, ACCOUNT_GET_PARAMS, CONTAINER_GET_PARAMS,
    };
    let (_, invalid) = decode_query(Some(req.uri().query()?));
    if invalid.is_empty() {
        return None;
    }
    let container =
        super::pipeline::parse_path(req.uri().path()).is_ok_and(|p| p.container.is_some());
    let get = if container {
        CONTAINER_GET_PARAMS
    } else {
        ACCOUNT_GET_PARAMS
    };
    first_not_utf8(&invalid, &["format"])
        .or_else(|| first_not_utf8(&invalid, params_read(req.method().as_str(), get)))
}

/// Splits a query string into decoded pairs.
pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// Encodes pairs back into a query string.
pub fn query_string(pairs: &[(String, String)]) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The wanted format from `?format=` or `Accept`; `Err` is a 406.
pub fn wanted_format(pairs: &[(String, String)], h: &HeaderMap) -> Result<Format, StatusCode> {
    if let Some((_, f)) = pairs.iter().find(|(k, _)| k == "format") {
        return Ok(match f.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "xml" => Format::Xml("application/xml"),
            _ => Format::Plain,
        });
    }
    let Some(accept) = headers::get(h, "accept") else {
        return Ok(Format::Plain);
    };
    let mut best: Option<(f32, usize, Format)> = None;
    for (order, item) in accept.split(',').enumerate() {
        let mut parts = item.split(';').map(str::trim);
        let mt = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let f = match mt.as_str() {
            "text/plain" | "text/*" | "*/*" | "*" => Format::Plain,
            "application/json" => Format::Json,
            "application/xml" | "application/*" => Format::Xml("application/xml"),
            "text/xml" => Format::Xml("text/xml"),
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((bq, _, _)) => q > bq,
        };
        if better {
            best = Some((q, order, f));
        }
    }
    best.map(|(_, _, f)| f).ok_or(StatusCode::NOT_ACCEPTABLE)
}

fn field(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "None".into(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.into(),
        Some(other) => other.to_string(),
    }
}

/// Renders a JSON listing; `container` selects the container XML shape.
pub fn render(items: &[Value], format: Format, name: &str, container: bool) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec(items).unwrap_or_default(),
        Format::Plain => {
            let mut out = String::new();
            for it in items {
                let n = it.get("name").or_else(|| it.get("subdir"));
                if let Some(Value::String(s)) = n {
                    out.push_str(s);
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
        Format::Xml(_) => {
            let root = if container { "container" } else { "account" };
            let mut out = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} name=\"{}\">",
                xml_escape(name, true)
            );
            if !container {
                out.push('\n');
            }
            let fields: &[&str] = if container {
                &["name", "hash", "bytes", "content_type", "last_modified"]
            } else {
                &["name", "count", "bytes", "last_modified"]
            };
            for it in items {
                if let Some(Value::String(sd)) = it.get("subdir") {
                    let n = xml_escape(sd, false);
                    if container {
                        out.push_str(&format!(
                            "<subdir name=\"{}\"><name>{n}</name></subdir>",
                            xml_escape(sd, true)
                        ));
                    } else {
                        out.push_str(&format!("<subdir name=\"{}\" />", xml_escape(sd, true)));
                    }
                } else {
                    let tag = if container { "object" } else { "container" };
                    out.push_str(&format!("<{tag}>"));
                    for f in fields {
                        out.push_str(&format!("<{f}>{}</{f}>", xml_escape(&field(it, f), false)));
                    }
                    if !container && it.get("storage_policy").is_some() {
                        out.push_str(&format!(
                            "<storage_policy>{}</storage_policy>",
                            xml_escape(&field(it, "storage_policy"), false)
                        ));
                    }
                    out.push_str(&format!("</{tag}>"));
                }
                if !container {
                    out.push('\n');
                }
            }
            out.push_str(&format!("</{root}>"));
            out.into_bytes()
        }
    }
}

/// Builds the client response for a listing (status 204 for an empty plain listing).
pub fn respond(
    status: StatusCode,
    mut hdrs: HeaderMap,
    body: &[u8],
    format: Format,
    name: &str,
    container: bool,
    head: bool,
) -> Response<Body> {
    let ct = format!("{}; charset=utf-8", format.content_type());
    headers::set(&mut hdrs, "content-type", &ct);
    headers::set(&mut hdrs, "vary", "Accept");
    hdrs.remove("content-length");
    if head {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = status;
        headers::set(&mut hdrs, "content-length", "0");
        *r.headers_mut() = hdrs;
        return r;
    }
    let items: Vec<Value> = if body.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(body).unwrap_or_default()
    };
    let out = render(&items, format, name, container);
    let status = if out.is_empty() {
        StatusCode::NO_CONTENT
    } else if status == StatusCode::NO_CONTENT {
        StatusCode::OK
    } else {
        status
    };
    headers::set(&mut hdrs, "content-length", &out.len().to_string());
    let mut r = Response::new(Body::from(out));
    *r.status_mut() = status;
    *r.headers_mut() = hdrs;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listing_params_must_be_utf8_in_swifts_order() {
        let req = |m: &str, uri: &str| {
            Request::builder()
                .method(m)
                .uri(uri)
                .body(Body::empty())
                .unwrap()
        };
        let bad = |m: &str, uri: &str| param_not_utf8(&req(m, uri));
        assert_eq!(bad("GET", "/v1/a?prefix=%FF"), Some("prefix"));
        assert_eq!(bad("GET", "/v1/a?marker=%FF&prefix=%FE"), Some("prefix"));
        assert_eq!(bad("GET", "/v1/a/c?prefix=%FF&marker=%FE"), Some("marker"));
        assert_eq!(bad("GET", "/v1/a/c?pre%66ix=%FF"), Some("prefix"));
        assert_eq!(bad("GET", "/v1/a/c?prefix=%FF&prefix=ok"), None);
        assert_eq!(bad("GET", "/v1/a/c?other=%FF&prefix=%C3%A9"), None);
        assert_eq!(bad("HEAD", "/v1/a/c?prefix=%FF"), None);
        assert_eq!(bad("HEAD", "/v1/a/c?format=%FF"), Some("format"));
    }

    #[test]
    fn formats() {
        let items = vec![
            json!({"name": "a&b", "hash": "h", "bytes": 1, "content_type": "t", "last_modified": "2024"}),
            json!({"subdir": "d/"}),
        ];
        assert_eq!(render(&items, Format::Plain, "c", true), b"a&b\nd/\n");
        let xml =
            String::from_utf8(render(&items, Format::Xml("application/xml"), "c", true)).unwrap();
        assert!(xml.contains("<object><name>a&amp;b</name><hash>h</hash><bytes>1</bytes>"));
        assert!(xml.contains("<subdir name=\"d/\"><name>d/</name></subdir></container>"));
        let mut h = HeaderMap::new();
        headers::set(&mut h, "accept", "application/json;q=0.9, text/xml");
        assert_eq!(wanted_format(&[], &h), Ok(Format::Xml("text/xml")));
        headers::set(&mut h, "accept", "image/png");
        assert_eq!(wanted_format(&[], &h), Err(StatusCode::NOT_ACCEPTABLE));
        let q = query_pairs(Some("prefix=a%20b&format=xml&x"));
        assert_eq!(q[0], ("prefix".into(), "a b".into()));
    }
}
