//! Outgoing backend updates: object → container and container → account.
//!
//! Updates go to every `host:port` listed in the request's `X-*-Host`
//! header with the matching device. Failures are reported to the caller,
//! which decides whether to keep an async pending.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::http::quote;

/// One update target from `X-Container-Host`/`-Device` (or the account equivalents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub device: String,
}

/// Pairs comma-separated hosts and devices; `None` if their counts differ.
pub fn targets(hosts: Option<&str>, devices: Option<&str>) -> Option<Vec<Target>> {
    let split = |s: Option<&str>| -> Vec<String> {
        s.map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
    };
    let (h, d) = (split(hosts), split(devices));
    (h.len() == d.len()).then(|| {
        h.into_iter()
            .zip(d)
            .map(|(host, device)| Target { host, device })
            .collect()
    })
}

/// A small HTTP client for backend updates with Swift-like timeouts: a
/// pool of kept-alive connections per target (hyper's client, as the
/// proxy's backend uses), one request each.
#[derive(Debug, Clone)]
pub struct UpdateClient {
    client: Client<HttpConnector, Empty<Bytes>>,
    node_timeout: Duration,
}

impl UpdateClient {
    /// `conn_timeout` and `node_timeout` in seconds.
    pub fn new(conn_timeout: f64, node_timeout: f64) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs_f64(conn_timeout.max(0.01))));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .build(connector);
        UpdateClient {
            client,
            node_timeout: Duration::from_secs_f64(node_timeout.max(0.01)),
        }
    }

    /// Sends `method /<device>/<partition><path>`; Ok(status) for any HTTP
    /// answer. The whole exchange (connecting included) gets `node_timeout`.
    pub async fn send(
        &self,
        target: &Target,
        partition: &str,
        method: &str,
        path: &str,
        headers: &[(String, String)],
    ) -> Result<u16, String> {
        let uri: hyper::Uri = format!(
            "http://{}/{}/{}{}",
            target.host,
            quote(&target.device),
            partition,
            quote(path)
        )
        .parse()
        .map_err(|e| format!("bad update uri: {e}"))?;
        let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut header_map = HeaderMap::with_capacity(headers.len());
        for (k, v) in headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("bad header {k}: {e}"))?;
            // Values are sent byte for byte as object metadata holds them.
            let value = HeaderValue::from_bytes(&crate::storage::metadata::to_header_bytes(v))
                .map_err(|e| format!("bad header {k}: {e}"))?;
            header_map.append(name, value);
        }
        let exchange = async {
            // Updates carry their own timestamps, so sending one twice is
            // harmless; a pooled connection the peer has just closed fails
            // without reaching it, so an error on one gets a retry (a
            // failed connect does not).
            let mut last_err = String::new();
            for _ in 0..2 {
                let mut req = Request::new(Empty::<Bytes>::new());
                *req.method_mut() = method.clone();
                *req.uri_mut() = uri.clone();
                *req.headers_mut() = header_map.clone();
                match self.client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        // Read the (short) answer so the connection can be reused.
                        let _ = resp.into_body().collect().await;
                        return Ok(status);
                    }
                    Err(e) if e.is_connect() => return Err(describe(&e)),
                    Err(e) => last_err = describe(&e),
                }
            }
            Err(last_err)
        };
        tokio::time::timeout(self.node_timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("{method} {uri}: timeout")))
    }
}

/// A client error with its causes (hyper's own message is only its kind).
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}
