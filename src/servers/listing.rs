//! Shared pieces of the account and container servers: the database
//! location, query parameters, listing formats (plain, JSON, XML) and
//! metadata headers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use percent_encoding::percent_decode_str;

use super::http::{header, header_text, set_header, title_case, ApiError};
use super::update::UpdateClient;
use crate::ring::hash::HashPathConf;
use crate::storage::broker::{db_path, extract_swift_bytes, Broker, DbKind, ListParams, ListRow};
use crate::storage::device::{valid_component, Devices};
use crate::storage::timestamp::decode_timestamps;
use crate::storage::Timestamp;

/// Largest `limit` a listing accepts.
pub const MAX_LISTING: usize = 10_000;

/// State shared by the account and container servers.
pub struct DbServer {
    pub devices: Devices,
    pub salt: HashPathConf,
    pub policies: Vec<u32>,
    pub policy_names: BTreeMap<u32, String>,
    pub updates: UpdateClient,
    /// Accounts starting with this are created on first container PUT.
    pub auto_create_account_prefix: String,
}

impl DbServer {
    /// Locates a database: validates device/partition and checks the device.
    pub fn locate(
        &self,
        kind: DbKind,
        dev: &str,
        part: &str,
        account: &str,
        container: Option<&str>,
    ) -> Result<PathBuf, ApiError> {
        if !valid_component(dev)
            || part.is_empty()
            || part.len() > 10
            || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ApiError::bad_request("Invalid device or partition"));
        }
        let dev_path = self.devices.path(dev)?;
        let hash = self
            .salt
            .hash_path_hex(account, container, None)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(db_path(&dev_path, kind, part, &hash))
    }

    /// Errors with 507 if the device is below its reserve. With no reserve
    /// there is nothing to look at: the request's `locate` has already
    /// found the device usable (this spares every row update a second
    /// `stat` of it).
    pub fn check_space(&self, dev: &str) -> Result<(), ApiError> {
        if !self.devices.keeps_reserve() {
            return Ok(());
        }
        let p = self.devices.path(dev)?;
        Ok(self.devices.check_space(dev, &p)?)
    }
}

/// The parameters a container GET reads, in the order Swift's container
/// server reads them; a value that is not UTF-8 is a 400 naming the first.
pub const CONTAINER_GET_PARAMS: &[&str] = &[
    "marker",
    "end_marker",
    "prefix",
    "delimiter",
    "path",
    "format",
    "reverse",
    "states",
    "includes",
    "limit",
];
/// The same for an account GET (Swift's account server).
pub const ACCOUNT_GET_PARAMS: &[&str] = &[
    "prefix",
    "delimiter",
    "reverse",
    "limit",
    "marker",
    "end_marker",
    "format",
];
/// A HEAD reads only `format`.
pub const HEAD_PARAMS: &[&str] = &["format"];

/// A query string decoded (`+` is a space, as in Python's `parse_qs`; the
/// last of repeated names wins): the values, with any that are not UTF-8
/// made lossy, and the names of those.
pub fn decode_query(query: Option<&str>) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let dec = |s: &str| percent_decode_str(&s.replace('+', " ")).collect::<Vec<u8>>();
    let mut out = BTreeMap::new();
    let mut invalid = BTreeSet::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = String::from_utf8_lossy(&dec(k)).into_owned();
        let v = match String::from_utf8(dec(v)) {
            Ok(v) => {
                invalid.remove(&k);
                v
            }
            Err(e) => {
                invalid.insert(k.clone());
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        out.insert(k, v);
    }
    (out, invalid)
}

/// The first of `names` whose value is not UTF-8.
pub fn first_not_utf8(invalid: &BTreeSet<String>, names: &[&'static str]) -> Option<&'static str> {
    names.iter().copied().find(|n| invalid.contains(*n))
}

/// Decoded query parameters. A value that is not UTF-8 is a 400 when the
/// request reads it (`read`, in the order Swift reads them), as Swift
/// answers; others are ignored, and NUL is allowed (markers use it to
/// make inclusive bounds).
pub fn query_params(
    query: Option<&str>,
    read: &[&'static str],
) -> Result<BTreeMap<String, String>, ApiError> {
    let (params, invalid) = decode_query(query);
    match first_not_utf8(&invalid, read) {
        Some(name) => Err(
            ApiError::bad_request(format!("\"{name}\" parameter not valid UTF-8"))
                .with_header("content-type", "text/plain"),
        ),
        None => Ok(params),
    }
}

/// The parameters a request of `method` reads, `get` being a GET's.
pub fn params_read(method: &str, get: &'static [&'static str]) -> &'static [&'static str] {
    match method {
        "GET" => get,
        "HEAD" => HEAD_PARAMS,
        _ => &[],
    }
}

/// Listing parameters from the query string. A `limit` that is not all
/// digits is ignored (the maximum applies), as in Swift; `path` only means
/// something to a container (`with_path`).
pub fn list_params(q: &BTreeMap<String, String>, with_path: bool) -> Result<ListParams, ApiError> {
    let limit = match q.get("limit") {
        Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            let n = l.parse::<usize>().unwrap_or(usize::MAX);
            if n > MAX_LISTING {
                return Err(ApiError::new(
                    StatusCode::PRECONDITION_FAILED,
                    format!("Maximum limit is {MAX_LISTING}"),
                ));
            }
            n
        }
        _ => MAX_LISTING,
    };
    let reverse = q
        .get("reverse")
        .is_some_and(|v| crate::conf::server_conf::config_true(v));
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    Ok(ListParams {
        prefix: get("prefix"),
        delimiter: q.get("delimiter").filter(|d| !d.is_empty()).cloned(),
        marker: get("marker"),
        end_marker: get("end_marker"),
        limit,
        reverse,
        path: q.get("path").filter(|_| with_path).cloned(),
    })
}

/// Output format of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
    Xml,
}

impl Format {
    /// From `?format=` or the `Accept` header.
    pub fn choose(q: &BTreeMap<String, String>, h: &HeaderMap) -> Format {
        let f = q.get("format").map(|s| s.to_ascii_lowercase());
        match f.as_deref() {
            Some("json") => Format::Json,
            Some("xml") => Format::Xml,
            Some(_) => Format::Plain,
            None => {
                let accept = header(h, "accept").unwrap_or("").to_ascii_lowercase();
                if accept.contains("application/json") {
                    Format::Json
                } else if accept.contains("application/xml") || accept.contains("text/xml") {
                    Format::Xml
                } else {
                    Format::Plain
                }
            }
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Plain => "text/plain; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// Escapes text for XML as Python's ElementTree writes it (Swift's
/// listings are made with it): `&`, `<` and `>` everywhere, and in an
/// attribute (`attr`) also `"` and newlines.
pub fn xml_escape(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\n' if attr => out.push_str("&#10;"),
            c => out.push(c),
        }
    }
    out
}

/// A row's `last_modified`: its newest time, which for an object row is
/// the metadata time encoded in `created_at` (as Swift lists it).
fn iso(ts: &str) -> String {
    decode_timestamps(ts)
        .map(|(_, _, meta)| meta)
        .unwrap_or_default()
        .isoformat()
}

/// Finishes a listing GET or HEAD on `resp` (a 204 already carrying the
/// database's headers and the content type): HEAD and an empty plain
/// listing stay 204; otherwise the rendered rows become a 200 body.
pub fn listing_response(
    broker: &Broker,
    params: &ListParams,
    format: Format,
    (root, name): (&str, &str),
    policies: &BTreeMap<u32, String>,
    is_head: bool,
    mut resp: Response<Body>,
) -> Result<Response<Body>, ApiError> {
    if is_head {
        return Ok(resp);
    }
    let rows = broker.list(params)?;
    if rows.is_empty() && format == Format::Plain {
        return Ok(resp);
    }
    let body = render(&rows, format, root, name, policies);
    *resp.status_mut() = StatusCode::OK;
    set_header(
        resp.headers_mut(),
        "content-length",
        &body.len().to_string(),
    );
    let (parts, _) = resp.into_parts();
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// An object row's content type and size as listed: a `swift_bytes`
/// parameter (large-object middlewares store a manifest's total size in
/// it) leaves the type and, when it is a number, stands for the size, as
/// Swift's container server lists rows.
fn listed_type_and_size(content_type: &str, size: i64) -> (String, i64) {
    let (content_type, swift_bytes) = extract_swift_bytes(content_type);
    let size = swift_bytes.and_then(|b| b.parse().ok()).unwrap_or(size);
    (content_type, size)
}

/// Renders a listing; `root` is `container`/`account` and `name` its name (XML only).
/// `policies` names the storage policies (accounts list each container's).
pub fn render(
    rows: &[ListRow],
    format: Format,
    root: &str,
    name: &str,
    policies: &BTreeMap<u32, String>,
) -> String {
    match format {
        Format::Plain => rows.iter().map(|r| format!("{}\n", r.name())).collect(),
        Format::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| match r {
                    ListRow::Object { name, created_at, size, content_type, etag } => {
                        let (content_type, size) = listed_type_and_size(content_type, *size);
                        serde_json::json!({
                            "name": name, "hash": etag, "bytes": size, "content_type": content_type, "last_modified": iso(created_at)
                        })
                    }
                    ListRow::Container { name, object_count, bytes_used, put_timestamp, storage_policy_index } => {
                        let mut v = serde_json::json!({
                            "name": name, "count": object_count, "bytes": bytes_used, "last_modified": iso(put_timestamp)
                        });
                        let policy = u32::try_from(*storage_policy_index).ok().and_then(|i| policies.get(&i));
                        if let Some(p) = policy {
                            v["storage_policy"] = serde_json::Value::String(p.clone());
                        }
                        v
                    }
                    ListRow::Subdir(s) => serde_json::json!({ "subdir": s }),
                })
                .collect();
            serde_json::Value::Array(items).to_string()
        }
        Format::Xml => {
            let mut s = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} name=\"{}\">",
                xml_escape(name, true)
            );
            for r in rows {
                match r {
                    ListRow::Object { name, created_at, size, content_type, etag } => {
                        let (content_type, size) = listed_type_and_size(content_type, *size);
                        s.push_str(&format!(
                            "<object><name>{}</name><hash>{}</hash><bytes>{size}</bytes><content_type>{}</content_type><last_modified>{}</last_modified></object>",
                            xml_escape(name, false),
                            xml_escape(etag, false),
                            xml_escape(&content_type, false),
                            iso(created_at)
                        ))
                    }
                    ListRow::Container { name, object_count, bytes_used, put_timestamp, .. } => s.push_str(&format!(
                        "<container><name>{}</name><count>{object_count}</count><bytes>{bytes_used}</bytes><last_modified>{}</last_modified></container>",
                        xml_escape(name, false),
                        iso(put_timestamp)
                    )),
                    ListRow::Subdir(d) => s.push_str(&format!(
                        "<subdir name=\"{}\"><name>{}</name></subdir>",
                        xml_escape(d, true),
                        xml_escape(d, false)
                    )),
                }
            }
            s.push_str(&format!("</{root}>"));
            s
        }
    }
}

/// Metadata headers to store from a request (`x-<kind>-meta-*`, sysmeta and
/// the listed extra headers), each with the request timestamp.
pub fn metadata_updates(
    h: &HeaderMap,
    kind: &str,
    extra: &[&str],
    ts: Timestamp,
) -> BTreeMap<String, (String, String)> {
    let meta = format!("x-{kind}-meta-");
    let sys = format!("x-{kind}-sysmeta-");
    let remove = format!("x-remove-{kind}-meta-");
    let mut out = BTreeMap::new();
    for (k, v) in h {
        let n = k.as_str();
        if n.starts_with(&meta) || n.starts_with(&sys) || extra.contains(&n) {
            out.insert(title_case(n), (header_text(v), ts.internal()));
        } else if let Some(rest) = n.strip_prefix(&remove) {
            out.insert(
                title_case(&format!("{meta}{rest}")),
                (String::new(), ts.internal()),
            );
        }
    }
    out
}
