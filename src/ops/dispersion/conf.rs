//! `dispersion.conf`: the `[dispersion]` section both dispersion tools read,
//! with Swift's defaults (and two timeouts of our own for the direct
//! HEADs; Swift's direct client fixes them at 5 s and 15 s).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ops::drive_audit::{parse_section, true_value, ConfError as IniError};

/// Ordered `(key, value)` pairs of the section.
type Section = Vec<(String, String)>;

/// Default location of the configuration file.
pub const DEFAULT_CONF: &str = "/etc/swift/dispersion.conf";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("Unable to read config file: {0}")]
    Unreadable(PathBuf),
    #[error("{path}: no [dispersion] section")]
    NoSection { path: PathBuf },
    #[error("{0}")]
    Syntax(String),
    #[error("{path}: {key} is required in [dispersion]")]
    Missing { path: PathBuf, key: &'static str },
    #[error("{path}: invalid value for {key}: {value:?}")]
    BadValue {
        path: PathBuf,
        key: String,
        value: String,
    },
}

/// The `[dispersion]` settings the tools use.
#[derive(Debug, Clone)]
pub struct DispersionConf {
    pub path: PathBuf,
    pub auth_url: String,
    pub auth_user: String,
    pub auth_key: String,
    pub auth_version: String,
    pub swift_dir: PathBuf,
    /// Percentage of the partition space populate covers.
    pub dispersion_coverage: f64,
    pub retries: u32,
    pub concurrency: usize,
    pub container_populate: bool,
    pub object_populate: bool,
    pub container_report: bool,
    pub object_report: bool,
    pub dump_json: bool,
    /// Time allowed to connect to a storage node (not a Swift setting; its
    /// direct client uses 5 s).
    pub conn_timeout: Duration,
    /// Time allowed for a storage node's answer (Swift's direct client: 15 s).
    pub node_timeout: Duration,
}

fn get<'a>(s: &'a Section, key: &str) -> Option<&'a str> {
    s.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl DispersionConf {
    /// Reads `[dispersion]` from `path`.
    pub fn load(path: &Path) -> Result<Self, ConfError> {
        let text =
            std::fs::read_to_string(path).map_err(|_| ConfError::Unreadable(path.to_owned()))?;
        Self::from_text(&text, path)
    }

    /// Parses configuration text (`path` is used in messages).
    pub fn from_text(text: &str, path: &Path) -> Result<Self, ConfError> {
        let s = parse_section(text, path, "dispersion").map_err(|e| match e {
            IniError::NoSection { .. } => ConfError::NoSection {
                path: path.to_owned(),
            },
            other => ConfError::Syntax(other.to_string()),
        })?;
        let required = |key: &'static str| {
            get(&s, key)
                .map(str::to_string)
                .ok_or_else(|| ConfError::Missing {
                    path: path.to_owned(),
                    key,
                })
        };
        let bad = |key: &str, value: &str| ConfError::BadValue {
            path: path.to_owned(),
            key: key.to_string(),
            value: value.to_string(),
        };
        let number = |key: &str, default: f64| -> Result<f64, ConfError> {
            match get(&s, key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| bad(key, v)),
            }
        };
        let int = |key: &str, default: u64| -> Result<u64, ConfError> {
            match get(&s, key) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u64>().map_err(|_| bad(key, v)),
            }
        };
        let flag = |key: &str, default: bool| get(&s, key).map_or(default, true_value);
        let concurrency = int("concurrency", 25)?;
        if concurrency == 0 {
            return Err(bad("concurrency", "0"));
        }
        Ok(DispersionConf {
            path: path.to_owned(),
            auth_url: required("auth_url")?,
            auth_user: required("auth_user")?,
            auth_key: required("auth_key")?,
            auth_version: get(&s, "auth_version").unwrap_or("1.0").to_string(),
            swift_dir: PathBuf::from(get(&s, "swift_dir").unwrap_or("/etc/swift")),
            dispersion_coverage: number("dispersion_coverage", 1.0)?,
            retries: u32::try_from(int("retries", 5)?).map_err(|_| bad("retries", "too big"))?,
            concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
            container_populate: flag("container_populate", true),
            object_populate: flag("object_populate", true),
            container_report: flag("container_report", true),
            object_report: flag("object_report", true),
            dump_json: flag("dump_json", false),
            conn_timeout: Duration::from_secs_f64(number("conn_timeout", 5.0)?),
            node_timeout: Duration::from_secs_f64(number("node_timeout", 15.0)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let p = Path::new("d.conf");
        let c = DispersionConf::from_text(
            "[dispersion]\nauth_url = http://h/auth/v1.0\nauth_user = a:b\nauth_key = k\n",
            p,
        )
        .unwrap();
        assert_eq!(c.retries, 5);
        assert_eq!(c.concurrency, 25);
        assert_eq!(c.dispersion_coverage, 1.0);
        assert_eq!(c.swift_dir, PathBuf::from("/etc/swift"));
        assert!(c.container_report && c.object_report && !c.dump_json);
        let c = DispersionConf::from_text(
            "[DEFAULT]\nretries = 2\n[dispersion]\nauth_url = u\nauth_user = a\nauth_key = k\n\
             dispersion_coverage = 12.5\nDump_Json = yes\nobject_report = no\n",
            p,
        )
        .unwrap();
        assert_eq!(c.retries, 2);
        assert_eq!(c.dispersion_coverage, 12.5);
        assert!(c.dump_json && !c.object_report);
        assert!(matches!(
            DispersionConf::from_text("[dispersion]\nauth_url = u\n", p),
            Err(ConfError::Missing {
                key: "auth_user",
                ..
            })
        ));
        assert!(matches!(
            DispersionConf::from_text("[other]\n", p),
            Err(ConfError::NoSection { .. })
        ));
        let e = DispersionConf::from_text(
            "[dispersion]\nauth_url = u\nauth_user = a\nauth_key = k\nretries = many\n",
            p,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "d.conf: invalid value for retries: \"many\"");
    }
}
