//! `drive-audit.conf`: the `[drive-audit]` section, read as Python's
//! `ConfigParser` reads it (lower-cased keys, `=` or `:`, comment lines,
//! indented continuation lines, `[DEFAULT]` values inherited), key order kept.

use regex::Regex;
use std::path::{Path, PathBuf};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("Unable to read config file {0}")]
    Unreadable(PathBuf),
    #[error("{path}: no [{section}] section")]
    NoSection { path: PathBuf, section: String },
    #[error("{path}:{line}: cannot parse {text:?}")]
    Syntax {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("invalid value for {key}: {value:?}")]
    BadValue { key: String, value: String },
    #[error("unable to compile regex pattern \"{pattern}\": {reason}")]
    BadRegex { pattern: String, reason: String },
}

/// Ordered `(key, value)` pairs of one section.
pub type Section = Vec<(String, String)>;

/// Parses INI text and returns `section` (with `[DEFAULT]` entries merged in
/// after its own, as ConfigParser's `items()` lists them).
pub fn parse_section(text: &str, path: &Path, section: &str) -> Result<Section, ConfError> {
    let mut current: Option<String> = None;
    let mut defaults: Section = Vec::new();
    let mut wanted: Option<Section> = None;
    let mut last_key: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            last_key = None;
            continue;
        }
        let target = match current.as_deref() {
            Some("DEFAULT") => Some(&mut defaults),
            Some(s) if s == section => wanted.as_mut(),
            _ => None,
        };
        if raw.starts_with([' ', '\t']) {
            if let (Some(entries), Some(key)) = (target, &last_key) {
                if let Some(e) = entries.iter_mut().find(|(k, _)| k == key) {
                    e.1.push('\n');
                    e.1.push_str(trimmed);
                }
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = Some(name.to_string());
            if name == section && wanted.is_none() {
                wanted = Some(Vec::new());
            }
            last_key = None;
            continue;
        }
        let split = trimmed.find(['=', ':']);
        let (Some(i), Some(entries)) = (split, target) else {
            if current.is_none() || split.is_none() {
                return Err(ConfError::Syntax {
                    path: path.into(),
                    line: n + 1,
                    text: raw.into(),
                });
            }
            continue;
        };
        let key = trimmed[..i].trim().to_lowercase();
        let value = trimmed[i + 1..].trim().to_string();
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 = value,
            None => entries.push((key.clone(), value)),
        }
        last_key = Some(key);
    }
    let mut out = wanted.ok_or_else(|| ConfError::NoSection {
        path: path.into(),
        section: section.into(),
    })?;
    for (k, v) in defaults {
        if !out.iter().any(|(key, _)| *key == k) {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// Swift's `config_true_value`.
pub fn true_value(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "t" | "y"
    )
}

/// Swift's stock error patterns (SCSI/SATA `sdX` names).
pub const SWIFT_PATTERNS: [&str; 2] = [
    r"\berror\b.*\b(sd[a-z]{1,2}\d?)\b",
    r"\b(sd[a-z]{1,2}\d?)\b.*\berror\b",
];

/// Our defaults add NVMe, device-mapper and virtio names to Swift's.
pub const DEFAULT_PATTERNS: [&str; 4] = [
    SWIFT_PATTERNS[0],
    SWIFT_PATTERNS[1],
    r"\berror\b.*\b(nvme\d+n\d+(?:p\d+)?|dm-\d+|vd[a-z]{1,2}\d?)\b",
    r"\b(nvme\d+n\d+(?:p\d+)?|dm-\d+|vd[a-z]{1,2}\d?)\b.*\berror\b",
];

/// The settings drive-audit uses.
#[derive(Debug, Clone)]
pub struct DriveAuditConf {
    pub device_dir: String,
    pub minutes: i64,
    pub error_limit: u64,
    pub recon_cache_path: String,
    pub log_file_pattern: String,
    pub log_file_encoding: String,
    pub log_to_console: bool,
    pub log_level_debug: bool,
    pub log_name: String,
    pub unmount_failed_device: bool,
    pub user: String,
    pub patterns: Vec<Regex>,
}

fn int_value<T: std::str::FromStr>(s: &Section, key: &str, default: T) -> Result<T, ConfError> {
    match s.iter().find(|(k, _)| k == key) {
        None => Ok(default),
        Some((_, v)) => v.trim().parse().map_err(|_| ConfError::BadValue {
            key: key.into(),
            value: v.clone(),
        }),
    }
}

impl DriveAuditConf {
    /// Reads and validates `[drive-audit]` from a file.
    pub fn load(path: &Path) -> Result<Self, ConfError> {
        let text = std::fs::read_to_string(path).map_err(|_| ConfError::Unreadable(path.into()))?;
        Self::from_section(&parse_section(&text, path, "drive-audit")?)
    }

    /// Builds the settings from parsed `[drive-audit]` entries.
    pub fn from_section(s: &Section) -> Result<Self, ConfError> {
        let get = |key: &str, default: &str| {
            s.iter()
                .find(|(k, _)| k == key)
                .map_or(default.to_string(), |(_, v)| v.clone())
        };
        let mut patterns = Vec::new();
        for (k, v) in s {
            if k.starts_with("regex_pattern_") {
                let re = Regex::new(v).map_err(|e| ConfError::BadRegex {
                    pattern: v.clone(),
                    reason: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                })?;
                patterns.push(re);
            }
        }
        if patterns.is_empty() {
            patterns = DEFAULT_PATTERNS
                .iter()
                .filter_map(|p| Regex::new(p).ok())
                .collect();
        }
        Ok(DriveAuditConf {
            device_dir: get("device_dir", "/srv/node"),
            minutes: int_value(s, "minutes", 60)?,
            error_limit: int_value(s, "error_limit", 1)?,
            recon_cache_path: get(
                "recon_cache_path",
                crate::recon::cache::DEFAULT_RECON_CACHE_PATH,
            ),
            log_file_pattern: get("log_file_pattern", "/var/log/kern.*[!.][!g][!z]"),
            log_file_encoding: get("log_file_encoding", "auto"),
            log_to_console: true_value(&get("log_to_console", "false")),
            log_level_debug: get("log_level", "INFO").eq_ignore_ascii_case("debug"),
            log_name: get("log_name", "drive-audit"),
            unmount_failed_device: true_value(&get("unmount_failed_device", "true")),
            user: get("user", "swift"),
            patterns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_configparser() {
        let text = "[DEFAULT]\nuser = d\nminutes = 5\n[drive-audit]\n# c\nMinutes: 30\n\
                    regex_pattern_1 = \\b(loop\\d+)\\b.*\\berror\\b\nlog_name = a\n  b\n[other]\nx=1\n";
        let s = parse_section(text, Path::new("t"), "drive-audit").unwrap();
        let c = DriveAuditConf::from_section(&s).unwrap();
        assert_eq!(c.minutes, 30);
        assert_eq!(c.user, "d");
        assert_eq!(c.log_name, "a\nb");
        assert_eq!(c.patterns.len(), 1);
        assert!(DriveAuditConf::from_section(&vec![("minutes".into(), "x".into())]).is_err());
        assert!(parse_section("[x]\n", Path::new("t"), "drive-audit").is_err());
    }
}
