//! Fetching `/recon/<check>` (and `OPTIONS /`) from many storage nodes at
//! once: bounded concurrency, one timeout per request, answers returned in
//! host order whatever order they arrive in.

use futures::stream::{self, StreamExt};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A storage node's recon address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host {
    pub ip: String,
    pub port: u16,
}

impl Host {
    /// `ip:port`, with IPv6 addresses bracketed.
    pub fn netloc(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.port)
        } else {
            format!("{}:{}", self.ip, self.port)
        }
    }
}

/// Why a host gave no usable answer; `Display` spells it as Swift's
/// urllib-based client does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP Error {code}: {reason}")]
    Status { code: u16, reason: String },
    #[error("<urlopen error [Errno 111] ECONNREFUSED>")]
    Refused,
    #[error("<urlopen error timed out>")]
    Timeout,
    #[error("<urlopen error {0}>")]
    Other(String),
    #[error("invalid JSON in the response: {0}")]
    BadJson(String),
}

/// One host's answer to one recon request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub host: Host,
    pub url: String,
    pub result: Result<Value, FetchError>,
    /// Unix times just before sending and just after the answer.
    pub started: f64,
    pub ended: f64,
}

/// One host's answer to `OPTIONS /`: the `Server` header's name part.
#[derive(Debug, Clone)]
pub struct ServerAnswer {
    pub host: Host,
    pub url: String,
    pub result: Result<String, FetchError>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn classify(e: &reqwest::Error) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout;
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return FetchError::Refused;
            }
            if io.kind() == std::io::ErrorKind::TimedOut {
                return FetchError::Timeout;
            }
        }
        text = s.to_string();
        source = s.source();
    }
    FetchError::Other(text)
}

/// A recon client: timeout per request and how many requests run at once.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    concurrency: usize,
}

impl Client {
    pub fn new(timeout: Duration, concurrency: usize) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| FetchError::Other(e.to_string()))?;
        Ok(Client {
            http,
            concurrency: concurrency.max(1),
        })
    }

    async fn get_one(&self, host: &Host, check: &str) -> Answer {
        let url = format!("http://{}/recon/{check}", host.netloc());
        let started = unix_now();
        let result = async {
            let resp = self.http.get(&url).send().await.map_err(|e| classify(&e))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(FetchError::Status {
                    code: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or("").to_string(),
                });
            }
            let body = resp.bytes().await.map_err(|e| classify(&e))?;
            serde_json::from_slice(&body).map_err(|e| FetchError::BadJson(e.to_string()))
        }
        .await;
        Answer {
            host: host.clone(),
            url,
            result,
            started,
            ended: unix_now(),
        }
    }

    /// `GET /recon/<check>` on every host; answers in `hosts` order.
    pub async fn get_all(&self, hosts: &[Host], check: &str) -> Vec<Answer> {
        let mut answers: Vec<(usize, Answer)> = stream::iter(hosts.iter().enumerate())
            .map(|(i, h)| async move { (i, self.get_one(h, check).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        answers.sort_by_key(|(i, _)| *i);
        answers.into_iter().map(|(_, a)| a).collect()
    }

    async fn server_one(&self, host: &Host) -> ServerAnswer {
        let url = format!("http://{}/", host.netloc());
        let result = async {
            let resp = self
                .http
                .request(reqwest::Method::OPTIONS, &url)
                .send()
                .await
                .map_err(|e| classify(&e))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(FetchError::Status {
                    code: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or("").to_string(),
                });
            }
            let server = resp
                .headers()
                .get("server")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("None");
            Ok(server.split('/').next().unwrap_or("").to_string())
        }
        .await;
        ServerAnswer {
            host: host.clone(),
            url,
            result,
        }
    }

    /// `OPTIONS /` on every host; answers in `hosts` order.
    pub async fn server_types(&self, hosts: &[Host]) -> Vec<ServerAnswer> {
        let mut answers: Vec<(usize, ServerAnswer)> = stream::iter(hosts.iter().enumerate())
            .map(|(i, h)| async move { (i, self.server_one(h).await) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        answers.sort_by_key(|(i, _)| *i);
        answers.into_iter().map(|(_, a)| a).collect()
    }
}
