//! Talking to the cluster through the proxy, as Swift's `SimpleClient` does
//! for the dispersion tools: tempauth (v1.0) login, container and object
//! PUTs, full JSON listings, each request retried with a capped backoff on
//! transport errors and 5xx answers (a 4xx fails at once).

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::servers::http::quote;

/// Why a proxy request failed for good.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProxyError {
    #[error("{method} {url}: {status}")]
    Status {
        method: String,
        url: String,
        status: StatusCode,
    },
    #[error("{method} {url}: {reason}")]
    Transport {
        method: String,
        url: String,
        reason: String,
    },
    #[error("Auth GET failed: {url} {status}")]
    Auth { url: String, status: StatusCode },
    #[error("auth response from {0} lacks X-Storage-Url or X-Auth-Token")]
    AuthHeaders(String),
    #[error("auth_version {0} is not supported (only tempauth-style 1.0)")]
    AuthVersion(String),
    #[error("{0}: only http:// URLs are supported")]
    Scheme(String),
    #[error("invalid listing from {url}: {reason}")]
    Listing { url: String, reason: String },
}

impl ProxyError {
    /// The HTTP status, when the failure was an answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ProxyError::Status { status, .. } | ProxyError::Auth { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Transport-level detail of a reqwest error, innermost cause last.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return "[Errno 111] ECONNREFUSED".into();
            }
        }
        text = s.to_string();
        source = s.source();
    }
    text
}

fn http_only(url: &str) -> Result<(), ProxyError> {
    if url.starts_with("http://") {
        Ok(())
    } else {
        Err(ProxyError::Scheme(url.to_string()))
    }
}

/// A logged-in client for one account.
#[derive(Debug, Clone)]
pub struct ProxyClient {
    http: reqwest::Client,
    /// The storage URL, e.g. `http://127.0.0.1:8080/v1/AUTH_admin`.
    pub url: String,
    token: String,
    retries: u32,
}

/// Swift's SimpleClient backoff: 1 s, doubling, at most 5 s.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl ProxyClient {
    /// Logs in with tempauth (`X-Auth-User` / `X-Auth-Key`).
    pub async fn login(
        auth_url: &str,
        user: &str,
        key: &str,
        auth_version: &str,
        retries: u32,
        timeout: Duration,
    ) -> Result<ProxyClient, ProxyError> {
        if !matches!(auth_version, "1" | "1.0") {
            return Err(ProxyError::AuthVersion(auth_version.to_string()));
        }
        http_only(auth_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout * 4)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ProxyError::Transport {
                method: "GET".into(),
                url: auth_url.into(),
                reason: describe(&e),
            })?;
        let resp = http
            .get(auth_url)
            .header("X-Auth-User", user)
            .header("X-Auth-Key", key)
            .send()
            .await
            .map_err(|e| ProxyError::Transport {
                method: "GET".into(),
                url: auth_url.into(),
                reason: describe(&e),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(ProxyError::Auth {
                url: auth_url.into(),
                status,
            });
        }
        let h = resp.headers();
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (Some(url), Some(token)) = (header("x-storage-url"), header("x-auth-token")) else {
            return Err(ProxyError::AuthHeaders(auth_url.into()));
        };
        http_only(&url)?;
        Ok(ProxyClient {
            http,
            url,
            token,
            retries,
        })
    }

    /// The account name: the storage URL's last path segment.
    pub fn account(&self) -> &str {
        self.url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
    }

    fn url_for(&self, container: Option<&str>, object: Option<&str>) -> String {
        let mut url = self.url.trim_end_matches('/').to_string();
        for part in [container, object].into_iter().flatten() {
            url.push('/');
            url.push_str(&quote(part));
        }
        url
    }

    /// One request with Swift's retry rules; returns the attempts made,
    /// the status and the body.
    async fn retry(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<(u32, StatusCode, bytes::Bytes), ProxyError> {
        let mut attempts = 0;
        let mut backoff = Duration::from_secs(1);
        loop {
            attempts += 1;
            let mut req = self
                .http
                .request(method.clone(), url)
                .header("X-Auth-Token", &self.token);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.body(b.to_vec());
            } else if method == Method::PUT {
                req = req.header("Content-Length", "0");
            }
            let err = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let failed = ProxyError::Status {
                        method: method.to_string(),
                        url: url.to_string(),
                        status,
                    };
                    if status.is_success() {
                        match resp.bytes().await {
                            Ok(b) => return Ok((attempts, status, b)),
                            Err(e) => ProxyError::Transport {
                                method: method.to_string(),
                                url: url.to_string(),
                                reason: describe(&e),
                            },
                        }
                    } else if status.is_client_error() {
                        return Err(failed);
                    } else {
                        failed
                    }
                }
                Err(e) => ProxyError::Transport {
                    method: method.to_string(),
                    url: url.to_string(),
                    reason: describe(&e),
                },
            };
            if attempts > self.retries {
                return Err(err);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// PUT a container (in a storage policy); returns the attempts made.
    pub async fn put_container(&self, container: &str, policy: &str) -> Result<u32, ProxyError> {
        let url = self.url_for(Some(container), None);
        let headers = [("X-Storage-Policy", policy)];
        Ok(self.retry(Method::PUT, &url, &headers, None).await?.0)
    }

    /// PUT a sample object: its body is its name, and so is its
    /// `X-Object-Meta-Dispersion`.
    pub async fn put_object(&self, container: &str, name: &str) -> Result<u32, ProxyError> {
        let url = self.url_for(Some(container), Some(name));
        let headers = [("X-Object-Meta-Dispersion", name)];
        Ok(self
            .retry(Method::PUT, &url, &headers, Some(name.as_bytes()))
            .await?
            .0)
    }

    /// Every name in the account (no container) or a container starting
    /// with `prefix`, page after page. A missing container is `None`.
    pub async fn list(
        &self,
        container: Option<&str>,
        prefix: &str,
    ) -> Result<Option<Vec<String>>, ProxyError> {
        let base = self.url_for(container, None);
        let mut names: Vec<String> = Vec::new();
        loop {
            let mut url = format!("{base}?format=json&prefix={}", quote(prefix));
            if let Some(last) = names.last() {
                url.push_str("&marker=");
                url.push_str(&quote(last));
            }
            let body = match self.retry(Method::GET, &url, &[], None).await {
                Ok((_, status, _)) if status == StatusCode::NO_CONTENT => break,
                Ok((_, _, body)) => body,
                Err(e) if e.status() == Some(StatusCode::NOT_FOUND) && container.is_some() => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            };
            #[derive(serde::Deserialize)]
            struct Entry {
                name: String,
            }
            let page: Vec<Entry> =
                serde_json::from_slice(&body).map_err(|e| ProxyError::Listing {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            if page.is_empty() {
                break;
            }
            names.extend(page.into_iter().map(|e| e.name));
        }
        Ok(Some(names))
    }
}
