//! `proxy-server.conf`: the `[pipeline:main]` middlewares, each filter's
//! options, and the proxy app's own settings.
//!
//! Filters are identified by their `use = egg:swift#<name>` entry (or, when a
//! filter section is missing, by the pipeline name itself); a name this proxy
//! does not implement is a start-up error rather than a silent pass-through.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::server_conf::{config_true, listen_options, parse_ini, read_conf, ConfError};

/// A middleware this proxy implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    CatchErrors,
    Gatekeeper,
    Healthcheck,
    ProxyLogging,
    Cache,
    ListingFormats,
    TempAuth,
    Copy,
    Dlo,
}

impl Filter {
    fn from_egg(name: &str) -> Option<Filter> {
        Some(match name.replace('-', "_").as_str() {
            "catch_errors" => Filter::CatchErrors,
            "gatekeeper" => Filter::Gatekeeper,
            "healthcheck" => Filter::Healthcheck,
            "proxy_logging" => Filter::ProxyLogging,
            "memcache" | "cache" => Filter::Cache,
            "listing_formats" => Filter::ListingFormats,
            "tempauth" => Filter::TempAuth,
            "copy" => Filter::Copy,
            "dlo" => Filter::Dlo,
            _ => return None,
        })
    }
}

/// A tempauth user: `user_<account>_<user> = <key> [groups…] [storage url]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TempAuthUser {
    pub account: String,
    pub user: String,
    pub key: String,
    pub groups: Vec<String>,
    /// Explicit storage URL, if the line ends with one.
    pub url: Option<String>,
}

/// Everything the proxy reads from its config file.
#[derive(Debug, Clone)]
pub struct ProxyConf {
    pub path: PathBuf,
    pub bind_ip: String,
    pub bind_port: u16,
    pub workers: usize,
    pub swift_dir: PathBuf,
    pub log_level: String,
    /// The filters of `[pipeline:main]`, in order (the app is not included).
    pub pipeline: Vec<Filter>,
    /// The proxy app's options (`[DEFAULT]` merged with `[app:proxy-server]`).
    pub app: HashMap<String, String>,
    /// Options per filter kind (`[DEFAULT]` merged with its section).
    pub filters: HashMap<String, HashMap<String, String>>,
}

impl ProxyConf {
    /// Loads and validates a proxy config file.
    pub fn load(path: &Path) -> Result<ProxyConf, ConfError> {
        ProxyConf::from_text(&read_conf(path)?, path)
    }

    /// Parses config text.
    pub fn from_text(text: &str, path: &Path) -> Result<ProxyConf, ConfError> {
        let invalid = |msg: String| ConfError::Invalid {
            path: path.into(),
            msg,
        };
        let ini = parse_ini(text);
        let defaults = ini.get("DEFAULT").cloned().unwrap_or_default();
        let names: Vec<String> = ini
            .get("pipeline:main")
            .and_then(|s| s.get("pipeline"))
            .map(|p| p.split_whitespace().map(str::to_string).collect())
            .ok_or_else(|| invalid("no [pipeline:main] pipeline".into()))?;
        let (app_name, filter_names) = names
            .split_last()
            .ok_or_else(|| invalid("empty [pipeline:main] pipeline".into()))?;
        let mut app = defaults.clone();
        let app_section = ini
            .get(&format!("app:{app_name}"))
            .ok_or_else(|| invalid(format!("no [app:{app_name}] section")))?;
        if let Some(u) = app_section.get("use") {
            if !u.ends_with("#proxy") {
                return Err(invalid(format!("app {app_name:?} is not the proxy ({u})")));
            }
        }
        app.extend(app_section.clone());
        let mut pipeline = Vec::new();
        let mut filters = HashMap::new();
        for name in filter_names {
            let section = ini.get(&format!("filter:{name}"));
            let egg = section
                .and_then(|s| s.get("use"))
                .map(|u| u.rsplit('#').next().unwrap_or(u).to_string())
                .unwrap_or_else(|| name.clone());
            let filter = Filter::from_egg(&egg).ok_or_else(|| {
                invalid(format!(
                    "unknown middleware {name:?} (egg:swift#{egg}) in [pipeline:main]"
                ))
            })?;
            let mut opts = defaults.clone();
            if let Some(s) = section {
                opts.extend(s.clone());
            }
            filters.insert(format!("{filter:?}"), opts);
            pipeline.push(filter);
        }
        let (bind_port, workers) = listen_options(&app, 8080, path)?;
        let get = |k: &str| app.get(k).map(String::as_str);
        Ok(ProxyConf {
            path: path.into(),
            bind_ip: get("bind_ip").unwrap_or("0.0.0.0").to_string(),
            bind_port,
            workers,
            swift_dir: PathBuf::from(get("swift_dir").unwrap_or("/etc/swift")),
            log_level: get("log_level").unwrap_or("INFO").to_string(),
            pipeline,
            app,
            filters,
        })
    }

    /// Whether a filter is in the pipeline.
    pub fn has(&self, f: Filter) -> bool {
        self.pipeline.contains(&f)
    }

    /// A filter's options (empty if the filter is not configured).
    pub fn filter(&self, f: Filter) -> HashMap<String, String> {
        self.filters
            .get(&format!("{f:?}"))
            .cloned()
            .unwrap_or_default()
    }

    /// An app option.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.app.get(key).map(String::as_str)
    }

    /// An app option as a number.
    pub fn get_f64(&self, key: &str, default: f64) -> f64 {
        self.get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    /// An app option as a boolean.
    pub fn get_bool(&self, key: &str, default: bool) -> bool {
        self.get(key).map_or(default, config_true)
    }

    /// The tempauth users configured in the `tempauth` filter section.
    pub fn tempauth_users(&self) -> Vec<TempAuthUser> {
        let opts = self.filter(Filter::TempAuth);
        let mut users: Vec<TempAuthUser> = opts
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix("user_")?;
                let (account, user) = rest.split_once('_')?;
                let mut words = v.split_whitespace();
                let key = words.next()?.to_string();
                let mut groups = Vec::new();
                let mut url = None;
                for w in words {
                    if w.contains("://") {
                        url = Some(w.to_string());
                    } else {
                        groups.push(w.to_string());
                    }
                }
                Some(TempAuthUser {
                    account: account.to_string(),
                    user: user.to_string(),
                    key,
                    groups,
                    url,
                })
            })
            .collect();
        users.sort_by(|a, b| (&a.account, &a.user).cmp(&(&b.account, &b.user)));
        users
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "[DEFAULT]\nbind_port = 8081\n\
        [pipeline:main]\npipeline = catch_errors healthcheck cache tempauth proxy-server\n\
        [app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n\
        [filter:catch_errors]\nuse = egg:swift#catch_errors\n\
        [filter:healthcheck]\nuse = egg:swift#healthcheck\n\
        [filter:cache]\nuse = egg:swift#memcache\n\
        [filter:tempauth]\nuse = egg:swift#tempauth\nuser_admin_admin = admin .admin .reseller_admin\n\
        user_test_tester = testing .admin\n";

    #[test]
    fn pipeline_and_users() {
        let c = ProxyConf::from_text(CONF, Path::new("p.conf")).unwrap();
        assert_eq!(c.bind_port, 8081);
        assert_eq!(
            c.pipeline,
            [
                Filter::CatchErrors,
                Filter::Healthcheck,
                Filter::Cache,
                Filter::TempAuth
            ]
        );
        assert!(c.get_bool("account_autocreate", false));
        let users = c.tempauth_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].groups, [".admin", ".reseller_admin"]);
        assert_eq!(
            (users[1].account.as_str(), users[1].key.as_str()),
            ("test", "testing")
        );
    }

    #[test]
    fn unknown_middleware_is_an_error() {
        let text = CONF.replace("catch_errors healthcheck", "catch_errors bogus healthcheck");
        let err = ProxyConf::from_text(&text, Path::new("p.conf")).unwrap_err();
        assert!(
            err.to_string().contains("unknown middleware \"bogus\""),
            "{err}"
        );
    }
}
