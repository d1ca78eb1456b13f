//! `swift.conf`: the `[swift-hash]` prefix/suffix and the storage policies.
//!
//! The file is read as latin-1 (every byte is one character), as Swift does,
//! so the hash prefix and suffix come back as the exact bytes of the file.
//! Keys are case-insensitive, section names are not, values may continue on
//! indented lines and use `%%` / `%(key)s` interpolation, as with Python's
//! `ConfigParser`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use configparser::ini::Ini;
use thiserror::Error;

use super::server_conf::config_true;
use crate::ring::hash::HashPathConf;

/// Name Swift gives policy 0 when `swift.conf` declares no policy.
pub const LEGACY_POLICY_NAME: &str = "Policy-0";

/// Problems reading `swift.conf`.
#[derive(Debug, Error)]
pub enum SwiftConfError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse {}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// Swift's `InvalidHashPathConfigError`.
    #[error("[swift-hash]: both swift_hash_path_suffix and swift_hash_path_prefix are missing from {}", path.display())]
    MissingHashPath { path: PathBuf },
    #[error("bad value for {key} in {}: {message}", path.display())]
    Interpolation {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("ERROR: Invalid Storage Policy Configuration in {} ({source})", path.display())]
    Policy { path: PathBuf, source: PolicyError },
}

/// An invalid `[storage-policy:N]` configuration (Swift's `PolicyError`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// Sections of a parsed file: section → lower-cased key → raw value.
type Sections = HashMap<String, HashMap<String, Option<String>>>;

/// A parsed `swift.conf`.
#[derive(Debug, Clone)]
pub struct SwiftConf {
    path: PathBuf,
    sections: Sections,
    /// Section names in file order.
    order: Vec<String>,
}

impl SwiftConf {
    /// Reads and parses `path` (latin-1).
    pub fn load(path: &Path) -> Result<SwiftConf, SwiftConfError> {
        let bytes = std::fs::read(path).map_err(|source| SwiftConfError::Io {
            path: path.to_owned(),
            source,
        })?;
        SwiftConf::parse(path, &bytes)
    }

    /// Parses the bytes of a `swift.conf`; `path` is used in messages.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<SwiftConf, SwiftConfError> {
        let text: String = bytes.iter().map(|&b| char::from(b)).collect();
        let mut ini = Ini::new_cs();
        ini.set_multiline(true);
        ini.set_comment_symbols(&['#', ';']);
        let mut defaults = ini.defaults();
        defaults.enable_inline_comments = false;
        defaults.default_section = "DEFAULT".to_owned();
        ini.load_defaults(defaults);
        let map = ini
            .read(text.clone())
            .map_err(|message| SwiftConfError::Syntax {
                path: path.to_owned(),
                message,
            })?;
        let mut sections: Sections = HashMap::new();
        for (name, keys) in map {
            let entry = sections.entry(name).or_default();
            for (key, value) in keys {
                entry.insert(key.to_lowercase(), value);
            }
        }
        let order = section_order(&text);
        Ok(SwiftConf {
            path: path.to_owned(),
            sections,
            order,
        })
    }

    /// A value after `%` interpolation; `None` if the section or key is absent.
    pub fn get(&self, section: &str, key: &str) -> Result<Option<String>, SwiftConfError> {
        let Some(keys) = self.sections.get(section) else {
            return Ok(None);
        };
        match keys.get(&key.to_lowercase()) {
            None => Ok(None),
            Some(raw) => {
                let raw = raw.clone().unwrap_or_default();
                interpolate(keys, &raw, 0).map(Some).map_err(|message| {
                    SwiftConfError::Interpolation {
                        path: self.path.clone(),
                        key: key.to_owned(),
                        message,
                    }
                })
            }
        }
    }

    /// `[swift-hash]` prefix and suffix as bytes; an error if both are empty.
    pub fn hash_path_conf(&self) -> Result<HashPathConf, SwiftConfError> {
        let latin1 = |s: Option<String>| -> Vec<u8> {
            s.unwrap_or_default()
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect()
        };
        let suffix = latin1(self.get("swift-hash", "swift_hash_path_suffix")?);
        let prefix = latin1(self.get("swift-hash", "swift_hash_path_prefix")?);
        if suffix.is_empty() && prefix.is_empty() {
            return Err(SwiftConfError::MissingHashPath {
                path: self.path.clone(),
            });
        }
        Ok(HashPathConf::new(prefix, suffix))
    }

    /// The storage policies, validated as Swift does.
    pub fn policies(&self) -> Result<StoragePolicies, SwiftConfError> {
        let wrap = |source| SwiftConfError::Policy {
            path: self.path.clone(),
            source,
        };
        let mut policies = Vec::new();
        for section in &self.order {
            let Some(index) = section.strip_prefix("storage-policy:") else {
                continue;
            };
            let mut options = Vec::new();
            let keys = &self.sections[section];
            let mut names: Vec<&String> = keys.keys().collect();
            names.sort();
            for key in names {
                let value = self.get(section, key)?.unwrap_or_default();
                options.push((key.clone(), value));
            }
            policies.push(StoragePolicy::from_config(index, &options).map_err(wrap)?);
        }
        StoragePolicies::new(policies).map_err(wrap)
    }
}

/// Section names in the order they first appear.
fn section_order(text: &str) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let (Some(rest), true) = (line.strip_prefix('['), line.contains(']')) {
            let end = rest.rfind(']').unwrap_or(rest.len());
            let name = rest[..end].trim().to_owned();
            if !order.contains(&name) {
                order.push(name);
            }
        }
    }
    order
}

/// `ConfigParser`'s basic interpolation: `%%` and `%(key)s`.
fn interpolate(
    keys: &HashMap<String, Option<String>>,
    raw: &str,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err("interpolation too deeply nested".to_owned());
    }
    let mut out = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        if let Some(after) = tail.strip_prefix('%') {
            out.push('%');
            rest = after;
        } else if let Some(body) = tail.strip_prefix('(') {
            let close = body
                .find(")s")
                .ok_or_else(|| format!("bad interpolation variable reference {raw:?}"))?;
            let name = body[..close].to_lowercase();
            let value = keys
                .get(&name)
                .ok_or_else(|| format!("no option {name:?} to interpolate"))?
                .clone()
                .unwrap_or_default();
            out.push_str(&interpolate(keys, &value, depth + 1)?);
            rest = &body[close + 2..];
        } else {
            return Err(format!(
                "'%' must be followed by '%' or '(', found: {raw:?}"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Characters allowed in policy names.
fn valid_name_char(c: char) -> bool {
    c == '-' || c.is_ascii_alphanumeric()
}

/// One `[storage-policy:N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoragePolicy {
    pub index: u32,
    /// The name first, then the aliases.
    pub names: Vec<String>,
    pub is_default: bool,
    pub is_deprecated: bool,
    pub policy_type: String,
}

impl StoragePolicy {
    /// The primary name.
    pub fn name(&self) -> &str {
        &self.names[0]
    }

    /// Ring file stem: `object` for policy 0, `object-N` otherwise.
    pub fn ring_name(&self) -> String {
        if self.index == 0 {
            "object".to_owned()
        } else {
            format!("object-{}", self.index)
        }
    }

    fn legacy() -> StoragePolicy {
        StoragePolicy {
            index: 0,
            names: vec![LEGACY_POLICY_NAME.to_owned()],
            is_default: false,
            is_deprecated: false,
            policy_type: "replication".to_owned(),
        }
    }

    /// A policy from its section index and options (lower-cased keys).
    pub fn from_config(
        index: &str,
        options: &[(String, String)],
    ) -> Result<StoragePolicy, PolicyError> {
        let idx = parse_index(index)
            .ok_or_else(|| PolicyError(format!("Invalid index, for index {index:?}")))?;
        let get = |k: &str| {
            options
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let policy_type = get("policy_type").unwrap_or("replication").to_owned();
        let ec = policy_type == "erasure_coding";
        if policy_type != "replication" && !ec {
            return Err(PolicyError(format!(
                "Invalid type {policy_type:?}, for index {idx}"
            )));
        }
        for (key, _) in options {
            let known = matches!(
                key.as_str(),
                "name" | "aliases" | "policy_type" | "default" | "deprecated" | "diskfile_module"
            ) || (ec && key.starts_with("ec_"));
            if !known {
                return Err(PolicyError(format!(
                    "Invalid option {key:?} in storage-policy section, for index {index:?}"
                )));
            }
        }
        let mut policy = StoragePolicy {
            index: idx,
            names: Vec::new(),
            is_default: config_true(get("default").unwrap_or("")),
            is_deprecated: config_true(get("deprecated").unwrap_or("")),
            policy_type,
        };
        let name = get("name").unwrap_or("");
        policy.add_name(name)?;
        for alias in get("aliases").unwrap_or("").split(',') {
            let alias = alias.trim();
            if !alias.is_empty() && alias != name {
                policy.add_name(alias)?;
            }
        }
        if policy.is_default && policy.is_deprecated {
            return Err(PolicyError(format!(
                "Deprecated policy can not be default.  Invalid config, for index {idx}"
            )));
        }
        Ok(policy)
    }

    fn add_name(&mut self, name: &str) -> Result<(), PolicyError> {
        let idx = self.index;
        if name.is_empty() {
            return Err(PolicyError(format!(
                "Invalid name {name:?}, for index {idx}"
            )));
        }
        if !name.chars().all(valid_name_char) {
            return Err(PolicyError(format!(
                "Names are used as HTTP headers, and can not reliably contain any characters \
                 not in '-' + letters + digits. Invalid name {name:?}, for index {idx}"
            )));
        }
        let upper = name.to_uppercase();
        if upper == LEGACY_POLICY_NAME.to_uppercase() && idx != 0 {
            return Err(PolicyError(format!(
                "The name {LEGACY_POLICY_NAME} is reserved for policy index 0. Invalid name {name:?}, for index {idx}"
            )));
        }
        if self.names.iter().any(|n| n.to_uppercase() == upper) {
            return Err(PolicyError(format!(
                "The name {name} is already assigned to this policy., for index {idx}"
            )));
        }
        self.names.push(name.to_owned());
        Ok(())
    }
}

/// Python's `int()` on a section suffix: optional sign, digits, `_` between
/// digits, surrounding whitespace. Negative indexes are invalid.
fn parse_index(text: &str) -> Option<u32> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let digits: String = t.chars().filter(|&c| c != '_').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// All storage policies of a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct StoragePolicies {
    policies: Vec<StoragePolicy>,
}

impl Default for StoragePolicies {
    /// What Swift uses without any `[storage-policy:N]`: `Policy-0`, default.
    fn default() -> Self {
        let mut legacy = StoragePolicy::legacy();
        legacy.is_default = true;
        StoragePolicies {
            policies: vec![legacy],
        }
    }
}

impl StoragePolicies {
    /// Validates a set of policies like Swift's `StoragePolicyCollection`.
    pub fn new(mut policies: Vec<StoragePolicy>) -> Result<StoragePolicies, PolicyError> {
        let mut seen_names: Vec<String> = Vec::new();
        let mut default: Option<u32> = None;
        for (i, p) in policies.iter().enumerate() {
            if policies[..i].iter().any(|q| q.index == p.index) {
                return Err(PolicyError(format!(
                    "Duplicate index {} conflicts",
                    p.index
                )));
            }
            for name in &p.names {
                let upper = name.to_uppercase();
                if seen_names.contains(&upper) {
                    return Err(PolicyError(format!("Duplicate name {name} conflicts")));
                }
                seen_names.push(upper);
            }
            if p.is_default {
                if default.is_some() {
                    return Err(PolicyError(format!(
                        "Duplicate default {} conflicts",
                        p.index
                    )));
                }
                default = Some(p.index);
            }
        }
        if !policies.iter().any(|p| p.index == 0) {
            if !policies.is_empty() {
                return Err(PolicyError(
                    "You must specify a storage policy section for policy index 0 in order \
                     to define multiple policies"
                        .to_owned(),
                ));
            }
            policies.push(StoragePolicy::legacy());
        }
        if policies.iter().all(|p| p.is_deprecated) {
            return Err(PolicyError(
                "Unable to find policy that's not deprecated!".to_owned(),
            ));
        }
        if default.is_none() {
            if policies.len() > 1 {
                return Err(PolicyError("Unable to find default policy".to_owned()));
            }
            policies[0].is_default = true;
        }
        Ok(StoragePolicies { policies })
    }

    /// Case-insensitive lookup by name or alias.
    pub fn get_by_name(&self, name: &str) -> Option<&StoragePolicy> {
        let upper = name.to_uppercase();
        self.policies
            .iter()
            .find(|p| p.names.iter().any(|n| n.to_uppercase() == upper))
    }

    pub fn get_by_index(&self, index: u32) -> Option<&StoragePolicy> {
        self.policies.iter().find(|p| p.index == index)
    }

    pub fn default_policy(&self) -> Option<&StoragePolicy> {
        self.policies.iter().find(|p| p.is_default)
    }

    pub fn iter(&self) -> impl Iterator<Item = &StoragePolicy> {
        self.policies.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> SwiftConf {
        SwiftConf::parse(Path::new("swift.conf"), text.as_bytes()).unwrap()
    }

    #[test]
    fn hash_prefix_and_suffix_are_latin1_bytes() {
        let c = SwiftConf::parse(
            Path::new("x"),
            b"[swift-hash]\nswift_hash_path_prefix = \xe9t\xe9\nSWIFT_HASH_PATH_SUFFIX = s%%x\n",
        )
        .unwrap();
        let h = c.hash_path_conf().unwrap();
        assert_eq!(h.prefix, b"\xe9t\xe9");
        assert_eq!(h.suffix, b"s%x");
    }

    #[test]
    fn missing_hash_path_is_an_error_like_swift() {
        let err = conf("[swift-hash]\nswift_hash_path_prefix =\n")
            .hash_path_conf()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "[swift-hash]: both swift_hash_path_suffix and swift_hash_path_prefix are missing from swift.conf"
        );
    }

    #[test]
    fn policies_by_name_and_alias_case_insensitive() {
        let c = conf(
            "[storage-policy:0]\nname = gold\ndefault = yes\n[storage-policy:1]\nname = silver\naliases = cheap, Bronze\n",
        );
        let p = c.policies().unwrap();
        assert_eq!(p.get_by_name("GOLD").unwrap().index, 0);
        assert_eq!(p.get_by_name("bronze").unwrap().ring_name(), "object-1");
        assert_eq!(p.default_policy().unwrap().name(), "gold");
        assert!(p.get_by_name("Policy-0").is_none());
    }

    #[test]
    fn no_policies_gives_legacy_policy_0() {
        let p = conf("[swift-hash]\nswift_hash_path_suffix = x\n")
            .policies()
            .unwrap();
        assert_eq!(p.get_by_name("policy-0").unwrap().ring_name(), "object");
    }

    #[test]
    fn bad_policies_are_rejected() {
        for text in [
            "[storage-policy:1]\nname = one\n",
            "[storage-policy:0]\nname = a b\n",
            "[storage-policy:0]\nname = a\nbogus = 1\n",
            "[storage-policy:0]\nname = a\n[storage-policy:1]\nname = A\ndefault = yes\n",
            "[storage-policy:0]\nname = a\n[storage-policy:1]\nname = b\n",
            "[storage-policy:x]\nname = a\n",
        ] {
            assert!(conf(text).policies().is_err(), "{text}");
        }
    }
}
