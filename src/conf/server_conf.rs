//! Paste-style server configuration (`object-server.conf` and friends) and
//! the few `swift.conf` settings the storage servers need (read with
//! `conf::swift_conf`).
//!
//! A server reads `[DEFAULT]`, the `[pipeline:main]` pipeline, and its own
//! `[app:<name>]` section (whose keys override `[DEFAULT]`; `set key = value`
//! is accepted too). Unknown keys are kept for later users such as recon.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::swift_conf::{self, SwiftConfError};
use crate::ring::hash::HashPathConf;

/// Errors reading a server's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error(transparent)]
    Swift(#[from] SwiftConfError),
}

/// Sections of an INI file, keys in order of appearance (last wins).
pub type Sections = BTreeMap<String, HashMap<String, String>>;

/// Parses INI text: `[section]`, `key = value` / `key: value`, `#`/`;` comments,
/// indented continuation lines.
pub fn parse_ini(text: &str) -> Sections {
    let mut out = Sections::new();
    let mut section = String::from("DEFAULT");
    let mut last_key: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(k) = &last_key {
                if let Some(v) = out.get_mut(&section).and_then(|s| s.get_mut(k)) {
                    v.push('\n');
                    v.push_str(trimmed);
                }
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = name.trim().to_string();
            out.entry(section.clone()).or_default();
            last_key = None;
            continue;
        }
        let split = trimmed
            .find(['=', ':'])
            .map(|i| (&trimmed[..i], &trimmed[i + 1..]));
        if let Some((k, v)) = split {
            let k = k.trim();
            let k = k
                .strip_prefix("set ")
                .map(str::trim)
                .unwrap_or(k)
                .to_string();
            out.entry(section.clone())
                .or_default()
                .insert(k.clone(), v.trim().to_string());
            last_key = Some(k);
        }
    }
    out
}

/// Swift's truthy strings.
pub fn config_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

/// A configuration file's text.
pub fn read_conf(path: &Path) -> Result<String, ConfError> {
    std::fs::read_to_string(path).map_err(|source| ConfError::Read {
        path: path.into(),
        source,
    })
}

/// A server's `bind_port` (`default_port` when unset) and `workers`
/// (`auto` or unset: the CPU count; 0 counts as 1) from its app options.
pub fn listen_options(
    app: &HashMap<String, String>,
    default_port: u16,
    path: &Path,
) -> Result<(u16, usize), ConfError> {
    let invalid = |msg: String| ConfError::Invalid {
        path: path.into(),
        msg,
    };
    let bind_port = match app.get("bind_port") {
        Some(p) => p
            .parse()
            .map_err(|_| invalid(format!("bad bind_port {p:?}")))?,
        None => default_port,
    };
    let workers = match app.get("workers").map(String::as_str) {
        None | Some("auto") => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(w) => w
            .parse::<usize>()
            .map_err(|_| invalid(format!("bad workers {w:?}")))?
            .max(1),
    };
    Ok((bind_port, workers))
}

/// One storage server's settings.
#[derive(Debug, Clone)]
pub struct ServerConf {
    pub path: PathBuf,
    pub bind_ip: String,
    pub bind_port: u16,
    pub devices: PathBuf,
    pub mount_check: bool,
    /// Runtime worker threads (`workers`; `auto` = CPU count; 0 = 1).
    pub workers: usize,
    pub swift_dir: PathBuf,
    pub recon_cache_path: PathBuf,
    pub log_name: String,
    pub log_level: String,
    /// Filters and app of `[pipeline:main]`, in order.
    pub pipeline: Vec<String>,
    /// `[DEFAULT]` merged with the app section.
    pub app: HashMap<String, String>,
}

impl ServerConf {
    /// Loads a config file for the app section named `app_name` (e.g. `object-server`).
    pub fn load(path: &Path, app_name: &str, default_port: u16) -> Result<Self, ConfError> {
        Self::from_text(&read_conf(path)?, path, app_name, default_port)
    }

    /// Builds the settings from config text.
    pub fn from_text(
        text: &str,
        path: &Path,
        app_name: &str,
        default_port: u16,
    ) -> Result<Self, ConfError> {
        let ini = parse_ini(text);
        let invalid = |msg: String| ConfError::Invalid {
            path: path.into(),
            msg,
        };
        let mut app = ini.get("DEFAULT").cloned().unwrap_or_default();
        let pipeline: Vec<String> = match ini.get("pipeline:main").and_then(|s| s.get("pipeline")) {
            Some(p) => p.split_whitespace().map(str::to_string).collect(),
            None => vec![app_name.to_string()],
        };
        let app_section = format!(
            "app:{}",
            pipeline.last().map(String::as_str).unwrap_or(app_name)
        );
        if let Some(s) = ini.get(&app_section) {
            app.extend(s.clone());
        }
        for f in &pipeline[..pipeline.len().saturating_sub(1)] {
            if !matches!(
                f.as_str(),
                "healthcheck"
                    | "recon"
                    | "catch_errors"
                    | "proxy-logging"
                    | "xprofile"
                    | "backend_ratelimit"
            ) {
                return Err(invalid(format!(
                    "unsupported filter {f:?} in [pipeline:main]"
                )));
            }
        }
        let (bind_port, workers) = listen_options(&app, default_port, path)?;
        let get = |k: &str| app.get(k).map(String::as_str);
        Ok(ServerConf {
            path: path.into(),
            bind_ip: get("bind_ip").unwrap_or("0.0.0.0").to_string(),
            bind_port,
            devices: PathBuf::from(get("devices").unwrap_or("/srv/node")),
            mount_check: get("mount_check").is_none_or(config_true),
            workers,
            swift_dir: PathBuf::from(get("swift_dir").unwrap_or("/etc/swift")),
            recon_cache_path: PathBuf::from(get("recon_cache_path").unwrap_or("/var/cache/swift")),
            log_name: get("log_name").unwrap_or(app_name).to_string(),
            log_level: get("log_level").unwrap_or("INFO").to_string(),
            pipeline,
            app,
        })
    }

    /// An app option.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.app.get(key).map(String::as_str)
    }

    /// An app option parsed as a float (seconds etc.).
    pub fn get_f64(&self, key: &str, default: f64) -> f64 {
        self.get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

/// What the storage servers need from `swift.conf`.
#[derive(Debug, Clone, Default)]
pub struct SwiftConf {
    pub salt: HashPathConf,
    /// Storage policy indexes (always includes 0).
    pub policies: Vec<u32>,
    /// Policy index → name (`Policy-0` when unnamed).
    pub policy_names: BTreeMap<u32, String>,
}

/// Reads `<swift_dir>/swift.conf` with `conf::swift_conf`: the hash prefix
/// and suffix (at least one must be set) and the validated storage policies.
pub fn load_swift_conf(swift_dir: &Path) -> Result<SwiftConf, ConfError> {
    let path = swift_dir.join("swift.conf");
    let conf = swift_conf::SwiftConf::load(&path).map_err(|e| match e {
        SwiftConfError::Io { path, source } => ConfError::Read { path, source },
        other => ConfError::Swift(other),
    })?;
    // The same bytes the rings hash names with, so disk paths and
    // partitions always agree.
    let salt = conf.hash_path_conf()?;
    let mut policy_names = BTreeMap::new();
    for policy in conf.policies()?.iter() {
        policy_names.insert(policy.index, policy.name().to_owned());
    }
    Ok(SwiftConf {
        salt,
        policies: policy_names.keys().copied().collect(),
        policy_names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paste_config() {
        let text = "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = 6200\nworkers = 2\nmount_check = false\n\
                    [pipeline:main]\npipeline = healthcheck recon object-server\n\
                    [app:object-server]\nuse = egg:swift#object\nset log_level = DEBUG\nfallocate_reserve = 1%\n\
                    [filter:healthcheck]\nuse = egg:swift#healthcheck\n";
        let c = ServerConf::from_text(text, Path::new("x.conf"), "object-server", 6200).unwrap();
        assert_eq!(
            (c.bind_ip.as_str(), c.bind_port, c.workers, c.mount_check),
            ("127.0.0.1", 6200, 2, false)
        );
        assert_eq!(c.pipeline, ["healthcheck", "recon", "object-server"]);
        assert_eq!(c.log_level, "DEBUG");
        assert_eq!(c.get("fallocate_reserve"), Some("1%"));
        assert!(ServerConf::from_text(
            "[pipeline:main]\npipeline = bogus object-server\n",
            Path::new("x"),
            "object-server",
            1
        )
        .is_err());
    }

    #[test]
    fn swift_conf_salt_and_policies() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("swift.conf"), text).unwrap();
        write(
            "[swift-hash]\nswift_hash_path_suffix = s\n[storage-policy:2]\nname = b\n\
               [storage-policy:0]\nname = a\ndefault = yes\n",
        );
        let c = load_swift_conf(dir.path()).unwrap();
        assert_eq!(c.salt, HashPathConf::new("", "s"));
        assert_eq!(c.policies, [0, 2]);
        assert_eq!(c.policy_names[&2], "b");
        write("[swift-hash]\nswift_hash_path_suffix = s\n");
        assert_eq!(
            load_swift_conf(dir.path()).unwrap().policy_names[&0],
            "Policy-0"
        );
        write("[swift-hash]\nswift_hash_path_suffix = s\n[storage-policy:1]\nname = b\n");
        assert!(load_swift_conf(dir.path()).is_err());
        write("[storage-policy:0]\nname = a\n");
        assert!(load_swift_conf(dir.path()).is_err());
    }
}
