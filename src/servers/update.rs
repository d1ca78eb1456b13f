//! Outgoing backend updates: object → container and container → account.
//!
//! Updates go to every `host:port` listed in the request's `X-*-Host`
//! header with the matching device. Failures are reported to the caller,
//! which decides whether to keep an async pending.

use std::time::Duration;

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

/// A small HTTP client for backend updates with Swift-like timeouts.
#[derive(Debug, Clone)]
pub struct UpdateClient {
    client: reqwest::Client,
}

impl UpdateClient {
    /// `conn_timeout` and `node_timeout` in seconds.
    pub fn new(conn_timeout: f64, node_timeout: f64) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs_f64(conn_timeout.max(0.01)))
            .timeout(Duration::from_secs_f64(node_timeout.max(0.01)))
            .pool_max_idle_per_host(8)
            .build()
            .unwrap_or_default();
        UpdateClient { client }
    }

    /// Sends `method /<device>/<partition><path>`; Ok(status) for any HTTP answer.
    pub async fn send(
        &self,
        target: &Target,
        partition: &str,
        method: &str,
        path: &str,
        headers: &[(String, String)],
    ) -> Result<u16, String> {
        let url = format!(
            "http://{}/{}/{}{}",
            target.host,
            quote(&target.device),
            partition,
            quote(path)
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        // Updates carry their own timestamps, so sending one twice is
        // harmless; a pooled connection the peer has just closed fails
        // without reaching it, so a transport error gets one retry.
        let mut last_err = String::new();
        for _ in 0..2 {
            let mut req = self.client.request(method.clone(), &url);
            for (k, v) in headers {
                // Values are sent byte for byte as object metadata holds them.
                let v = crate::storage::metadata::to_header_bytes(v);
                match reqwest::header::HeaderValue::from_bytes(&v) {
                    Ok(v) => req = req.header(k.as_str(), v),
                    Err(e) => return Err(format!("bad header {k}: {e}")),
                }
            }
            match req.send().await {
                Ok(resp) => return Ok(resp.status().as_u16()),
                Err(e) if e.is_timeout() => return Err(e.to_string()),
                Err(e) => last_err = e.to_string(),
            }
        }
        Err(last_err)
    }
}
