//! HEAD requests straight to the storage nodes, as Swift's direct client
//! makes them for the dispersion report: `/<device>/<part>/<path>`, a
//! connect and a response timeout, and its retry rule (transport errors,
//! timeouts and 5xx other than 507 are retried after 1, 2, 4 … s; 404 and
//! 507 are final). Connections are pooled and kept alive.

use std::time::Duration;

use reqwest::StatusCode;

use super::proxy::describe;
use crate::ring::Device;
use crate::servers::http::quote;

/// `ip:port/device`, IPv6 bracketed (Swift's `node_to_string`).
pub fn node_string(d: &Device) -> String {
    if d.ip.contains(':') {
        format!("[{}]:{}/{}", d.ip, d.port, d.device)
    } else {
        format!("{}:{}/{}", d.ip, d.port, d.device)
    }
}

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeadError {
    /// The node answered with a non-2xx status; the text is Swift's
    /// `DirectClientException` message.
    #[error("{text}")]
    Status { code: u16, text: String },
    #[error("{0}")]
    Transport(String),
    /// No connection or no answer in time (eventlet's "N seconds").
    #[error("{0} seconds")]
    Timeout(String),
}

impl HeadError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HeadError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Worth another attempt: transport trouble or a 5xx other than 507.
    fn retriable(&self) -> bool {
        match self {
            HeadError::Status { code, .. } => *code >= 500 && *code != 507,
            _ => true,
        }
    }
}

/// A seconds value as Python's `%s` prints it (`5`, `0.5`).
fn secs_text(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        crate::recon::pyfmt::float_repr(s)
    }
}

/// A pooled HEAD client for storage nodes.
#[derive(Debug, Clone)]
pub struct DirectClient {
    http: reqwest::Client,
    conn_timeout: Duration,
    node_timeout: Duration,
    pub retries: u32,
    user_agent: String,
}

/// What one HEAD (with its retries) came to.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadOutcome {
    /// Attempts made.
    pub attempts: u32,
    /// `Ok` if the item was found; else the last attempt's error.
    pub result: Result<(), HeadError>,
}

impl DirectClient {
    pub fn new(
        conn_timeout: Duration,
        node_timeout: Duration,
        retries: u32,
        pool_per_host: usize,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(conn_timeout)
            .tcp_nodelay(true)
            .pool_max_idle_per_host(pool_per_host)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(DirectClient {
            http,
            conn_timeout,
            node_timeout,
            retries,
            user_agent: format!("direct-client {}", std::process::id()),
        })
    }

    async fn attempt(
        &self,
        node: &Device,
        part: u32,
        path: &str,
        policy_index: Option<u32>,
        stype: &str,
    ) -> Result<(), HeadError> {
        let host = if node.ip.contains(':') {
            format!("[{}]:{}", node.ip, node.port)
        } else {
            format!("{}:{}", node.ip, node.port)
        };
        let full_path = format!("/{}/{part}{}", quote(&node.device), quote(path));
        let url = format!("http://{host}{full_path}");
        let mut req = self
            .http
            .head(&url)
            .timeout(self.conn_timeout + self.node_timeout)
            .header("User-Agent", &self.user_agent)
            .header("X-Backend-Allow-Reserved-Names", "true");
        if let Some(i) = policy_index {
            req = req.header("X-Backend-Storage-Policy-Index", i.to_string());
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => {
                let status: StatusCode = resp.status();
                let reason = status.canonical_reason().unwrap_or("");
                Err(HeadError::Status {
                    code: status.as_u16(),
                    text: format!(
                        "{stype} server {}:{} direct HEAD '{full_path}' gave status {} \
                         {}:{} {} {reason}: device {}",
                        node.ip,
                        node.port,
                        status.as_u16(),
                        node.ip,
                        node.port,
                        status.as_u16(),
                        node.device
                    ),
                })
            }
            Err(e) if e.is_timeout() => {
                let which = if e.is_connect() {
                    self.conn_timeout
                } else {
                    self.node_timeout
                };
                Err(HeadError::Timeout(secs_text(which)))
            }
            Err(e) => Err(HeadError::Transport(describe(&e))),
        }
    }

    /// HEADs `path` (`/account/container[/object]`) on one node, retrying
    /// as Swift does. `on_error` sees every failed attempt. A backoff sleep
    /// releases `slots` so other requests proceed meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn head(
        &self,
        node: &Device,
        part: u32,
        path: &str,
        policy_index: Option<u32>,
        stype: &str,
        slots: &tokio::sync::Semaphore,
        on_error: &dyn Fn(&HeadError),
    ) -> HeadOutcome {
        let mut attempts = 0;
        let mut backoff = Duration::from_secs(1);
        loop {
            attempts += 1;
            let result = {
                let _slot = slots.acquire().await;
                self.attempt(node, part, path, policy_index, stype).await
            };
            let err = match result {
                Ok(()) => {
                    return HeadOutcome {
                        attempts,
                        result: Ok(()),
                    }
                }
                Err(e) => e,
            };
            on_error(&err);
            if attempts > self.retries || !err.retriable() {
                return HeadOutcome {
                    attempts,
                    result: Err(err),
                };
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
}
