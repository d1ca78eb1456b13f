//! `swift-object-expirer`: deletes objects whose `X-Delete-At` has passed
//! and empties the queue that named them, as Swift 2.38's expirer.
//!
//! The queue is the hidden account `.expiring_objects` (see
//! `crate::storage::expiring`): one row per object, in task containers
//! named by time. A pass lists the task containers up to now through an
//! internal client (our proxy app run in-process from the internal client
//! config, as Swift's `InternalClient`), and for each due row: deletes the
//! object with `X-If-Delete-At` (so an object rewritten meanwhile stays),
//! then removes the row from the task container's servers directly (Swift's
//! `direct_delete_container_entry`). Rows whose object is already gone are
//! kept for retry until `reclaim_age` has passed. Empty past task containers
//! are deleted. Each pass writes `object_expiration_pass` (seconds) and
//! `expired_last_pass` (objects) to `object.recon`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use super::cluster::{host, now, Direct, NamedRing};
use super::conf::DaemonConf;
use super::runner;
use super::DaemonError;
use crate::conf::proxy_conf::ProxyConf;
use crate::recon::cache;
use crate::storage::expiring::{self, parse_task_object};
use crate::storage::Timestamp;

/// The expirer's settings (`[object-expirer]` over `[DEFAULT]`).
#[derive(Debug, Clone)]
pub struct ExpirerConf {
    pub interval: Duration,
    pub reclaim_age: f64,
    pub tasks_per_second: f64,
    pub swift_dir: PathBuf,
    pub internal_client_conf: PathBuf,
    pub recon_file: PathBuf,
}

impl ExpirerConf {
    pub fn from_conf(c: &DaemonConf) -> Result<Self, DaemonError> {
        // object-expirer.conf is its own internal client config, as in Swift.
        let legacy = c.path.to_string_lossy().contains("expirer");
        let ic_default = if legacy {
            c.path.to_string_lossy().into_owned()
        } else {
            "/etc/swift/internal-client.conf".to_string()
        };
        Ok(ExpirerConf {
            interval: c.secs_or("interval", 300.0)?,
            reclaim_age: c.parse_or("reclaim_age", 604800.0)?,
            tasks_per_second: c.parse_or("tasks_per_second", 50.0)?,
            swift_dir: c.path_or("swift_dir", "/etc/swift"),
            internal_client_conf: c.path_or("internal_client_conf_path", &ic_default),
            recon_file: c.recon_cache_path().join(cache::OBJECT_FILE),
        })
    }
}

fn q(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// An in-process proxy, as Swift's `InternalClient`.
pub struct InternalClient {
    app: Router,
}

impl InternalClient {
    /// Builds the proxy app from a proxy-style config file.
    pub fn load(path: &Path) -> Result<InternalClient, DaemonError> {
        let conf = ProxyConf::load(path).map_err(|e| DaemonError::Conf(e.to_string()))?;
        let proxy = crate::servers::proxy::Proxy::new(conf).map_err(DaemonError::Conf)?;
        Ok(InternalClient {
            app: crate::servers::proxy::app(Arc::new(proxy)),
        })
    }

    /// One request; returns the status, headers and body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<(StatusCode, axum::http::HeaderMap, bytes::Bytes), String> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", "Swift Object Expirer");
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req.body(Body::empty()).map_err(|e| e.to_string())?;
        let resp = self
            .app
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// Every name of a JSON listing at `path` (account or container), paged.
    pub async fn list(&self, path: &str) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let url = format!("{path}?format=json&marker={}", q(&marker));
            let (st, _, body) = self.request("GET", &url, &[]).await?;
            if st == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            if !st.is_success() {
                return Err(format!("GET {path}: {st}"));
            }
            let page: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
            let Some(last) = page.last().and_then(|v| v["name"].as_str()) else {
                return Ok(out);
            };
            marker = last.to_string();
            out.extend(page);
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub expired: u64,
    pub errors: u64,
}

/// Removes a queue row from every server of its task container.
async fn pop_queue(
    ring: &NamedRing,
    direct: &Direct,
    container: &str,
    task: &str,
) -> Result<(), String> {
    let (part, nodes) = ring
        .nodes(expiring::ACCOUNT, Some(container), None)
        .ok_or("no container ring nodes")?;
    let path = format!("/{}/{container}/{task}", expiring::ACCOUNT);
    let mut ok = false;
    for n in nodes {
        let r = direct
            .request(
                &host(&n),
                &n.device,
                &part.to_string(),
                "DELETE",
                &path,
                "",
                &[("X-Timestamp", Timestamp::now().internal())],
                reqwest::Body::from(Vec::new()),
                None,
            )
            .await;
        ok |= r.is_ok_and(|a| a.ok() || a.status == 404);
    }
    ok.then_some(())
        .ok_or_else(|| format!("could not remove {task}"))
}

/// One expiration pass over the queue.
pub async fn run_pass(conf: &ExpirerConf) -> Result<PassReport, DaemonError> {
    let start = now();
    let ic = InternalClient::load(&conf.internal_client_conf)?;
    let ring = NamedRing::load(&conf.swift_dir, "container")?;
    let direct = Direct::new(Duration::from_millis(500), Duration::from_secs(10));
    let account_path = format!("/v1/{}", expiring::ACCOUNT);
    let (st, h, _) = ic
        .request("HEAD", &account_path, &[])
        .await
        .map_err(DaemonError::Other)?;
    let count = |k: &str| {
        h.get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0")
            .to_string()
    };
    if st.is_success() {
        tracing::info!(
            "Pass beginning for task account {}; {} possible containers; {} possible objects",
            expiring::ACCOUNT,
            count("x-account-container-count"),
            count("x-account-object-count")
        );
    }
    let containers = ic.list(&account_path).await.map_err(DaemonError::Other)?;
    let t = now();
    let mut report = PassReport::default();
    let pace =
        (conf.tasks_per_second > 0.0).then(|| Duration::from_secs_f64(1.0 / conf.tasks_per_second));
    for c in containers {
        let Some(name) = c["name"].as_str() else {
            continue;
        };
        let Ok(c_time) = name.parse::<u64>() else {
            continue;
        };
        if c_time as f64 > t {
            break;
        }
        let cpath = format!("{account_path}/{}", q(name));
        let rows = ic.list(&cpath).await.map_err(DaemonError::Other)?;
        let mut left = rows.len();
        for row in rows {
            let Some(task) = row["name"].as_str() else {
                continue;
            };
            let Some((at, a, cn, o)) = parse_task_object(task) else {
                tracing::error!("Unexpected task object name {task:?} in {name}");
                report.errors += 1;
                continue;
            };
            if at as f64 > t {
                continue;
            }
            if let Some(p) = pace {
                tokio::time::sleep(p).await;
            }
            let stamp = Timestamp::from_secs(at).normal();
            let target = format!("/v1/{}/{}/{}", q(&a), q(&cn), q(&o));
            let answer = ic
                .request(
                    "DELETE",
                    &target,
                    &[
                        ("X-Timestamp", stamp.clone()),
                        ("X-If-Delete-At", stamp),
                        ("X-Backend-Clean-Expiring-Object-Queue", "no".into()),
                    ],
                )
                .await;
            let done = match &answer {
                Ok((s, _, _)) if s.is_success() || *s == StatusCode::CONFLICT => true,
                Ok((s, _, _))
                    if (*s == StatusCode::NOT_FOUND || *s == StatusCode::PRECONDITION_FAILED)
                        && (at as f64) <= t - conf.reclaim_age =>
                {
                    true
                }
                _ => false,
            };
            if !done {
                report.errors += 1;
                tracing::error!(
                    "Unexpected response while deleting object {} {name} {task}: {:?}",
                    expiring::ACCOUNT,
                    answer.map(|a| a.0.as_u16())
                );
                continue;
            }
            match pop_queue(&ring, &direct, name, task).await {
                Ok(()) => {
                    report.expired += 1;
                    left -= 1;
                }
                Err(e) => {
                    report.errors += 1;
                    tracing::error!("Exception while deleting object {task}: {e}");
                }
            }
        }
        if left == 0 {
            let r = ic.request("DELETE", &cpath, &[]).await;
            if !matches!(&r, Ok((s, _, _)) if s.is_success() || *s == StatusCode::NOT_FOUND || *s == StatusCode::CONFLICT)
            {
                tracing::error!(
                    "could not delete task container {name}: {:?}",
                    r.map(|a| a.0)
                );
            }
        }
    }
    let elapsed = now() - start;
    tracing::info!(
        "Pass completed in {}s; {} objects expired",
        elapsed as u64,
        report.expired
    );
    let mut m = Map::new();
    m.insert("object_expiration_pass".into(), json!(elapsed));
    m.insert("expired_last_pass".into(), json!(report.expired));
    cache::dump(&conf.recon_file, &m, cache::DEFAULT_LOCK_TIMEOUT, None)?;
    Ok(report)
}

/// `swift-object-expirer CONFIG [-o] [-v]`.
pub fn run(argv: &[String]) -> u8 {
    runner::main_with("swift-object-expirer", "object-expirer", argv, |args, c| {
        let conf = ExpirerConf::from_conf(c)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runner::run(args.once, conf.interval, || {
            rt.block_on(run_pass(&conf)).map(|_| ())
        })
    })
}
