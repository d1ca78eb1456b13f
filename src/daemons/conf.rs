//! A daemon's settings: `[DEFAULT]` overridden by its own section of a
//! paste-style config file, read as Swift's `readconf(path, section)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::DaemonError;
use crate::conf::server_conf::{config_true, parse_ini};

/// One section's keys with `[DEFAULT]` underneath.
#[derive(Debug, Clone)]
pub struct DaemonConf {
    pub path: PathBuf,
    pub section: String,
    values: HashMap<String, String>,
}

impl DaemonConf {
    /// Reads `section` of the file at `path`; a missing section is an error.
    pub fn load(path: &Path, section: &str) -> Result<Self, DaemonError> {
        let text = std::fs::read_to_string(path).map_err(|source| DaemonError::ReadConf {
            path: path.into(),
            source,
        })?;
        Self::from_text(&text, path, section)
    }

    /// Builds the settings from config text.
    pub fn from_text(text: &str, path: &Path, section: &str) -> Result<Self, DaemonError> {
        let ini = parse_ini(text);
        let Some(own) = ini.get(section) else {
            return Err(DaemonError::MissingSection {
                section: section.into(),
                path: path.into(),
            });
        };
        let mut values = ini.get("DEFAULT").cloned().unwrap_or_default();
        values.extend(own.clone());
        Ok(DaemonConf {
            path: path.into(),
            section: section.into(),
            values,
        })
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A string value with a default.
    pub fn str_or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    /// A path value with a default.
    pub fn path_or(&self, key: &str, default: &str) -> PathBuf {
        PathBuf::from(self.get(key).unwrap_or(default))
    }

    /// A parsed value; a value that does not parse is an error.
    pub fn parse_or<T: FromStr>(&self, key: &str, default: T) -> Result<T, DaemonError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| DaemonError::BadValue {
                path: self.path.clone(),
                key: key.into(),
                value: v.into(),
            }),
        }
    }

    /// A boolean in Swift's spelling (`true`, `yes`, `1`, `on`, ...).
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        self.get(key).map_or(default, config_true)
    }

    /// Seconds as a duration; negative or unparsable values are errors.
    pub fn secs_or(&self, key: &str, default: f64) -> Result<Duration, DaemonError> {
        let v: f64 = self.parse_or(key, default)?;
        Duration::try_from_secs_f64(v).map_err(|_| DaemonError::BadValue {
            path: self.path.clone(),
            key: key.into(),
            value: v.to_string(),
        })
    }

    /// The default of an updater's rate setting `key` (`objects_per_second`,
    /// `containers_per_second`): 50, or with the deprecated `slowdown` set,
    /// 1 / (slowdown + 0.01) and Swift's warning naming `key`.
    pub fn updater_default_rate(&self, key: &str) -> Result<f64, DaemonError> {
        if self.get("slowdown").is_none() {
            return Ok(50.0);
        }
        tracing::warn!(
            "The slowdown option is deprecated in favor of {key}. \
             This option may be ignored in a future release."
        );
        Ok(1.0 / (self.parse_or("slowdown", 0.01)? + 0.01))
    }

    /// `recon_cache_path`, Swift's default when unset.
    pub fn recon_cache_path(&self) -> PathBuf {
        self.path_or(
            "recon_cache_path",
            crate::recon::cache::DEFAULT_RECON_CACHE_PATH,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_over_default() {
        let text = "[DEFAULT]\ndevices = /d\ninterval = 5\n[object-auditor]\ninterval = 7\n";
        let c = DaemonConf::from_text(text, Path::new("x"), "object-auditor").unwrap();
        assert_eq!(c.get("devices"), Some("/d"));
        assert_eq!(c.parse_or("interval", 1u64).unwrap(), 7);
        assert!(c.parse_or::<u64>("devices", 1).is_err());
        let e = DaemonConf::from_text(text, Path::new("x"), "object-updater").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unable to find object-updater config section in x"
        );
    }

    #[test]
    fn updater_default_rate_follows_slowdown() {
        let rate = |text: &str| {
            DaemonConf::from_text(text, Path::new("x"), "object-updater")
                .unwrap()
                .updater_default_rate("objects_per_second")
        };
        assert_eq!(rate("[object-updater]\n").unwrap(), 50.0);
        let r = rate("[object-updater]\nslowdown = 0.24\n").unwrap();
        assert!((r - 4.0).abs() < 1e-9, "{r}");
        assert!(rate("[object-updater]\nslowdown = soon\n").is_err());
    }
}
