//! `GET /recon/<check>[/<type>]` on the storage servers, with Swift's
//! checks, field names, status codes and JSON spelling.
//!
//! Values come from the machine (through [`Host`]), the devices directory,
//! the ring files and the recon cache files the daemons write. This module
//! owns the answers only; mounting it in a server's pipeline is [`layer`].
//! One deliberate difference: `swiftconfmd5` keys the sum by the server's
//! own `<swift_dir>/swift.conf` (Swift always says `/etc/swift/swift.conf`),
//! so `swift-recon --swiftdir` finds it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use md5::{Digest, Md5};
use serde_json::{Map, Value};

use super::cache::{self, ACCOUNT_FILE, CONTAINER_FILE, DRIVE_FILE, OBJECT_FILE, RELINKER_FILE};
use super::host::{self, Host, LiveHost};
use super::pyfmt::json_dumps;
use crate::conf::server_conf::{parse_ini, ServerConf, SwiftConf};

/// The version recon reports: the Swift release we answer for.
pub const SWIFT_VERSION: &str = "2.38.3";

/// What a recon check answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200 with this JSON body.
    Json(Value),
    /// 404 `Invalid path: <path>`.
    NotFound,
    /// 500 `Internal server error.`
    Error,
}

/// The recon filter of one server: where to look, and how to probe the host.
#[derive(Clone)]
pub struct Recon {
    pub devices: PathBuf,
    pub swift_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// Ring files reported by `ringmd5`: account, container, each policy's.
    pub rings: Vec<PathBuf>,
    pub host: Arc<dyn Host>,
}

impl std::fmt::Debug for Recon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recon")
            .field("devices", &self.devices)
            .field("cache_dir", &self.cache_dir)
            .finish_non_exhaustive()
    }
}

impl Recon {
    /// Settings as Swift's filter sees them: `[DEFAULT]` overridden by
    /// `[filter:recon]` of the server's config file.
    pub fn from_conf(conf: &ServerConf, swift: &SwiftConf) -> Recon {
        let ini = std::fs::read_to_string(&conf.path)
            .map(|t| parse_ini(&t))
            .unwrap_or_default();
        let mut opts = ini.get("DEFAULT").cloned().unwrap_or_default();
        if let Some(s) = ini.get("filter:recon") {
            opts.extend(s.clone());
        }
        let get = |k: &str, d: &str| PathBuf::from(opts.get(k).map(String::as_str).unwrap_or(d));
        let swift_dir = get("swift_dir", "/etc/swift");
        let policies = if swift.policies.is_empty() {
            vec![0]
        } else {
            swift.policies.clone()
        };
        Recon {
            devices: get("devices", "/srv/node"),
            cache_dir: get("recon_cache_path", cache::DEFAULT_RECON_CACHE_PATH),
            rings: ring_paths(&swift_dir, &policies),
            swift_dir,
            host: Arc::new(LiveHost),
        }
    }

    /// Answers `path` (which starts with `/recon/`).
    pub fn answer(&self, path: &str) -> Answer {
        let rest = path.strip_prefix("/recon/").unwrap_or("");
        let (check, rtype) = match rest.split_once('/') {
            Some((c, t)) => (c, Some(t)),
            None => (rest, None),
        };
        match self.check(check, rtype) {
            Some(Ok(v)) => Answer::Json(v),
            Some(Err(e)) => {
                tracing::error!("recon {path}: {e}");
                Answer::Error
            }
            None => Answer::NotFound,
        }
    }

    fn cache(&self, file: &str, keys: &[&str]) -> io::Result<Value> {
        Ok(Value::Object(cache::read_keys(
            &self.cache_dir.join(file),
            keys,
        )))
    }

    /// `None` for a path Swift does not know.
    fn check(&self, check: &str, rtype: Option<&str>) -> Option<io::Result<Value>> {
        const TYPES: [&str; 3] = ["account", "container", "object"];
        let typed = |allowed: &[&str]| rtype.filter(|t| allowed.contains(t));
        Some(match check {
            "mem" => self
                .host
                .read_proc("meminfo")
                .map(|t| Value::Object(host::parse_meminfo(&t))),
            "load" => self
                .host
                .read_proc("loadavg")
                .and_then(|t| host::parse_loadavg(&t))
                .map(Value::Object),
            "async" => self.cache(OBJECT_FILE, &["async_pending", "async_pending_last"]),
            "replication" if rtype.is_none() => self.replication("object"),
            "replication" => self.replication(typed(&TYPES)?),
            "devices" => Ok(self.devices_listing()),
            "updater" => match typed(&["container", "object"])? {
                "container" => self.cache(CONTAINER_FILE, &["container_updater_sweep"]),
                _ => self.cache(
                    OBJECT_FILE,
                    &[
                        "object_updater_sweep",
                        "object_updater_stats",
                        "object_updater_last",
                    ],
                ),
            },
            "auditor" => self.auditor(typed(&TYPES)?),
            "expirer" => {
                typed(&["object"])?;
                self.cache(
                    OBJECT_FILE,
                    &["object_expiration_pass", "expired_last_pass"],
                )
            }
            "reconstruction" => {
                typed(&["object"])?;
                self.cache(
                    OBJECT_FILE,
                    &["object_reconstruction_last", "object_reconstruction_time"],
                )
            }
            "mounted" => self
                .host
                .read_proc("mounts")
                .map(|t| Value::Array(host::parse_mounts(&t))),
            "unmounted" => self.unmounted(),
            "diskusage" => self.diskusage(),
            "ringmd5" => Ok(self.ring_md5()),
            "swiftconfmd5" => {
                let p = self.swift_dir.join("swift.conf");
                let mut m = Map::new();
                m.insert(p.display().to_string(), md5_file(&p).into());
                Ok(Value::Object(m))
            }
            "quarantined" => self.quarantined(),
            "sockstat" => self.sockstat(),
            "version" => Ok(serde_json::json!({ "version": SWIFT_VERSION })),
            "driveaudit" => self.cache(DRIVE_FILE, &["drive_audit_errors"]),
            "time" => Ok(Value::from(self.host.now())),
            "sharding" => self.cache(
                CONTAINER_FILE,
                &["sharding_stats", "sharding_time", "sharding_last"],
            ),
            "relinker" => self.cache(RELINKER_FILE, &["devices", "workers"]),
            _ => return None,
        })
    }

    fn replication(&self, rtype: &str) -> io::Result<Value> {
        let mut keys = vec!["replication_time", "replication_stats", "replication_last"];
        let file = match rtype {
            "account" => ACCOUNT_FILE,
            "container" => CONTAINER_FILE,
            _ => {
                keys.extend(["object_replication_time", "object_replication_last"]);
                OBJECT_FILE
            }
        };
        self.cache(file, &keys)
    }

    fn auditor(&self, rtype: &str) -> io::Result<Value> {
        if rtype == "object" {
            return self.cache(
                OBJECT_FILE,
                &["object_auditor_stats_ALL", "object_auditor_stats_ZBF"],
            );
        }
        let keys: Vec<String> = [
            "audits_passed",
            "auditor_pass_completed",
            "audits_since",
            "audits_failed",
        ]
        .iter()
        .map(|k| format!("{rtype}_{k}"))
        .collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let file = if rtype == "account" {
            ACCOUNT_FILE
        } else {
            CONTAINER_FILE
        };
        self.cache(file, &refs)
    }

    fn devices_listing(&self) -> Value {
        let list = list_dir(&self.devices)
            .map(Value::from)
            .unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert(self.devices.display().to_string(), list);
        Value::Object(m)
    }

    /// Device directories and whether each passes Swift's mount check.
    fn device_mounts(&self) -> io::Result<Vec<(String, bool)>> {
        Ok(list_dir(&self.devices)?
            .into_iter()
            .filter(|d| self.devices.join(d).is_dir())
            .map(|d| {
                let ok = valid_drive(&d) && self.host.is_mount(&self.devices.join(&d));
                (d, ok)
            })
            .collect())
    }

    fn unmounted(&self) -> io::Result<Value> {
        let list = self
            .device_mounts()?
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(d, _)| serde_json::json!({"device": d, "mounted": false}))
            .collect();
        Ok(Value::Array(list))
    }

    fn diskusage(&self) -> io::Result<Value> {
        let mut out = Vec::new();
        for (d, ok) in self.device_mounts()? {
            if !ok {
                out.push(serde_json::json!({"device": d, "mounted": false,
                    "size": "", "used": "", "avail": ""}));
                continue;
            }
            let st = self.host.statvfs(&self.devices.join(&d))?;
            let size = st.bsize * st.blocks;
            let avail = st.bsize * st.bavail;
            let used = st.bsize * st.blocks.saturating_sub(st.bavail);
            out.push(serde_json::json!({"device": d, "mounted": true,
                "size": size, "used": used, "avail": avail}));
        }
        Ok(Value::Array(out))
    }

    fn ring_md5(&self) -> Value {
        self.rings
            .iter()
            .filter(|p| p.exists())
            .map(|p| (p.display().to_string(), md5_file(p).into()))
            .collect::<Map<String, Value>>()
            .into()
    }

    fn quarantined(&self) -> io::Result<Value> {
        let mut counts = serde_json::json!({"objects": 0, "containers": 0, "accounts": 0,
                                            "policies": {}});
        for dev in list_dir(&self.devices)? {
            let qpath = self.devices.join(dev).join("quarantined");
            if !qpath.exists() {
                continue;
            }
            for qtype in list_dir(&qpath)? {
                let links = std::os::unix::fs::MetadataExt::nlink(&std::fs::symlink_metadata(
                    qpath.join(&qtype),
                )?);
                if links <= 2 {
                    continue;
                }
                let n = links - 2;
                let bump = |v: &mut Value| *v = Value::from(v.as_u64().unwrap_or(0) + n);
                if qtype.starts_with("objects") {
                    let pkey = qtype.split_once('-').map(|(_, p)| p).unwrap_or("0");
                    let policies = &mut counts["policies"];
                    if policies.get(pkey).is_none() {
                        policies[pkey] = serde_json::json!({"objects": 0});
                    }
                    bump(&mut policies[pkey]["objects"]);
                    bump(&mut counts["objects"]);
                } else {
                    bump(&mut counts[qtype.as_str()]);
                }
            }
        }
        Ok(counts)
    }

    fn sockstat(&self) -> io::Result<Value> {
        let optional = |name: &str| match self.host.read_proc(name) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        let v4 = optional("net/sockstat")?;
        let v6 = optional("net/sockstat6")?;
        Ok(Value::Object(host::parse_sockstat(
            v4.as_deref(),
            v6.as_deref(),
            self.host.page_size(),
        )))
    }
}

/// `<swift_dir>/account.ring.gz`, `container.ring.gz`, then `object[-N].ring.gz`.
pub fn ring_paths(swift_dir: &Path, policies: &[u32]) -> Vec<PathBuf> {
    let mut v = vec![
        swift_dir.join("account.ring.gz"),
        swift_dir.join("container.ring.gz"),
    ];
    v.extend(policies.iter().map(|&p| {
        swift_dir.join(match p {
            0 => "object.ring.gz".to_string(),
            n => format!("object-{n}.ring.gz"),
        })
    }));
    v
}

/// Names in a directory, in the order the filesystem lists them.
fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect()
}

/// Swift's drive-name rule: the name must survive URL quoting unchanged.
fn valid_drive(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-~".contains(&b))
}

/// Hex md5 of a file's bytes, `None` when it cannot be read.
pub fn md5_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!("{:x}", Md5::digest(&bytes)))
}

/// Turns an answer into the HTTP response Swift sends.
pub fn response(answer: Answer, path: &str) -> Response {
    let (status, ctype, body) = match answer {
        Answer::Json(v) => (StatusCode::OK, "application/json", json_dumps(&v, false)),
        Answer::NotFound => (
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("Invalid path: {path}"),
        ),
        Answer::Error => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "Internal server error.".to_string(),
        ),
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(ctype),
    );
    r
}

/// Puts the recon filter in front of `app` when `recon` is in the pipeline.
pub fn layer(app: Router, conf: &ServerConf, swift: &SwiftConf) -> Router {
    if !conf.pipeline.iter().any(|f| f == "recon") {
        return app;
    }
    let recon = Arc::new(Recon::from_conf(conf, swift));
    app.layer(middleware::from_fn(move |req: Request, next: Next| {
        let recon = recon.clone();
        async move {
            let path = req.uri().path().to_string();
            if !path.starts_with("/recon/") {
                return next.run(req).await;
            }
            let p = path.clone();
            let answer = tokio::task::spawn_blocking(move || recon.answer(&p))
                .await
                .unwrap_or(Answer::Error);
            response(answer, &path)
        }
    }))
}
