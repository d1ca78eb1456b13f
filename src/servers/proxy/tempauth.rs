//! tempauth: users from the config, `GET /auth/v1.0` token issue, token
//! checks, and authorization by account ownership, container ACLs and
//! account ACLs (`account_acl`).
//!
//! Tokens live in the `cache` store under Swift's keys
//! (`<prefix>/token/<token>` → `[expires, "groups"]`, `<prefix>/user/<a:u>`
//! → token), so proxies sharing a memcached share tokens. A token found
//! valid is trusted for up to a second without asking the store again
//! (tempauth never revokes a token before it expires), which spares a
//! memcached round trip on nearly every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};

use super::account_acl::AccountAcls;
use super::cache::Cache;
use super::headers;
use crate::conf::proxy_conf::{Filter, ProxyConf, TempAuthUser};

/// Who made a request, as far as tempauth knows.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// Groups of a valid token: `account`, `account:user`, then extra
    /// groups; the storage account id (`AUTH_account`) when `.admin`.
    pub groups: Vec<String>,
}

/// The configured users and token settings.
pub struct TempAuth {
    /// The first reseller prefix (`AUTH_`, ending in `_` unless empty):
    /// tokens and storage URLs use it.
    pub prefix: String,
    /// Every reseller prefix tempauth answers for (`reseller_prefix =
    /// AUTH, SERVICE`), in the configured order.
    prefixes: Vec<String>,
    users: HashMap<String, TempAuthUser>,
    token_life: u64,
    /// The group an account's admins must also be in to own it, per
    /// prefix (Swift's `require_group`, or `<PREFIX>_require_group`).
    require_groups: HashMap<String, String>,
    /// Tokens recently found valid in the store: when, expiry, groups.
    recent: Mutex<HashMap<String, (Instant, f64, String)>>,
}

/// How long a token found in the store is trusted before it is looked up
/// again: a token the store lost (evicted, memcached restarted) is still
/// accepted for at most this long.
const RECHECK: Duration = Duration::from_secs(1);

/// Bound on the tokens remembered; past it the memory starts afresh.
const MAX_RECENT: usize = 10_000;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A container ACL split into referrer rules and groups.
pub fn parse_acl(acl: &str) -> (Vec<String>, Vec<String>) {
    let (mut referrers, mut groups) = (Vec::new(), Vec::new());
    for item in acl.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(r) = item.strip_prefix(".r:").or_else(|| {
            item.strip_prefix(".ref:")
                .or_else(|| item.strip_prefix(".referer:"))
                .or_else(|| item.strip_prefix(".referrer:"))
        }) {
            referrers.push(r.to_string());
        } else {
            groups.push(item.to_string());
        }
    }
    (referrers, groups)
}

/// Normalizes a container ACL header as Swift's tempauth does before it is
/// stored: items trimmed, empty ones dropped, every referrer designator
/// written `.r:` and a leading `*` of a domain dropped (`.ref:*.example.com`
/// is `.r:.example.com`). `Err` is the message of the 400 to send.
pub fn clean_acl(name: &str, value: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for raw in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((first, second)) = raw.split_once(':') else {
            out.push(raw.to_string());
            continue;
        };
        let (first, mut second) = (first.trim(), second.trim());
        if !first.starts_with('.') {
            out.push(raw.to_string());
        } else if matches!(first, ".r" | ".ref" | ".referer" | ".referrer") {
            if name.to_ascii_lowercase().contains("write") {
                return Err(format!("Referrers not allowed in write ACL: '{raw}'"));
            }
            let negate = second.starts_with('-');
            if negate {
                second = second[1..].trim();
            }
            if second != "*" && second.starts_with('*') {
                second = second[1..].trim();
            }
            if second.is_empty() || second == "." {
                return Err(format!(
                    "No host/domain value after referrer designation in ACL: '{raw}'"
                ));
            }
            out.push(format!(".r:{}{second}", if negate { "-" } else { "" }));
        } else {
            return Err(format!("Unknown designator '{first}' in ACL: '{raw}'"));
        }
    }
    Ok(out.join(","))
}

/// Whether a `Referer` is allowed by the referrer rules (last match wins).
pub fn referrer_allowed(referer: Option<&str>, rules: &[String]) -> bool {
    let host = referer.map(|r| {
        let r = r.split_once("//").map_or(r, |(_, rest)| rest);
        let r = r.split(['/', '?']).next().unwrap_or("");
        r.rsplit_once('@')
            .map_or(r, |(_, h)| h)
            .split(':')
            .next()
            .unwrap_or("")
            .to_string()
    });
    let mut allowed = false;
    for rule in rules {
        let (neg, pat) = match rule.strip_prefix('-') {
            Some(p) => (true, p),
            None => (false, rule.as_str()),
        };
        let hit = pat == "*"
            || host.as_deref().is_some_and(|h| {
                if let Some(suffix) = pat.strip_prefix('.') {
                    h.ends_with(&format!(".{suffix}")) || h == suffix
                } else {
                    h == pat
                }
            });
        if hit {
            allowed = !neg;
        }
    }
    allowed
}

/// The prefixes of a `reseller_prefix` value, as Swift reads them:
/// comma-separated, `''` for the empty prefix, each ending in `_` unless
/// empty, no repeats; none at all means the empty prefix.
fn reseller_prefixes(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut p = if p == "''" {
            String::new()
        } else {
            p.to_string()
        };
        if !p.is_empty() && !p.ends_with('_') {
            p.push('_');
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

impl TempAuth {
    pub fn new(conf: &ProxyConf) -> Result<TempAuth, String> {
        let opts = conf.filter(Filter::TempAuth);
        let prefixes = reseller_prefixes(opts.get("reseller_prefix").map_or("AUTH", |v| v));
        let token_life = opts
            .get("token_life")
            .map(|v| v.parse().map_err(|_| format!("bad token_life {v:?}")))
            .transpose()?
            .unwrap_or(86_400);
        // The prefixed option wins over the plain one, as Swift reads them.
        let set = |key: &str| opts.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let require_groups = prefixes
            .iter()
            .map(|prefix| {
                let name = if prefix.is_empty() { "''" } else { prefix };
                let group = set(&format!("{name}require_group"))
                    .or_else(|| set("require_group"))
                    .unwrap_or_default();
                (prefix.clone(), group.to_string())
            })
            .collect();
        let users = conf
            .tempauth_users()
            .into_iter()
            .map(|u| (format!("{}:{}", u.account, u.user), u))
            .collect();
        Ok(TempAuth {
            prefix: prefixes[0].clone(),
            prefixes,
            users,
            token_life,
            require_groups,
            recent: Mutex::new(HashMap::new()),
        })
    }

    /// The groups a user's tokens carry: `account`, `account:user`, the
    /// configured groups, and for `.admin` the account under every
    /// reseller prefix.
    fn groups_of(&self, u: &TempAuthUser) -> String {
        let account_id = format!("{}{}", self.prefix, u.account);
        let mut groups = vec![u.account.clone(), format!("{}:{}", u.account, u.user)];
        groups.extend(u.groups.iter().cloned());
        if let Some(i) = groups.iter().position(|g| g == ".admin") {
            groups.remove(i);
            for p in self.prefixes.iter().filter(|p| !p.is_empty()) {
                groups.push(format!("{p}{}", u.account));
            }
            if !groups.contains(&account_id) {
                groups.push(account_id);
            }
        }
        groups.join(",")
    }

    /// Handles `GET /auth/v1.0` (and `/auth/v1/...`, `/v1.0`).
    pub async fn get_token(&self, cache: &Cache, h: &HeaderMap, host: &str) -> Response<Body> {
        let user = headers::get(h, "x-auth-user").or_else(|| headers::get(h, "x-storage-user"));
        let key = headers::get(h, "x-auth-key").or_else(|| headers::get(h, "x-storage-pass"));
        let (Some(user), Some(key)) = (user, key) else {
            return headers::error(StatusCode::UNAUTHORIZED, None);
        };
        let Some(u) = self.users.get(user).filter(|u| u.key == key) else {
            return headers::error(StatusCode::UNAUTHORIZED, None);
        };
        let groups = self.groups_of(u);
        let user_key = format!("{}/user/{user}", self.prefix);
        let mut token_and_expiry = None;
        if let Some(tok) = cache.get(&user_key).await {
            if let Ok(tok) = serde_json::from_str::<String>(&tok) {
                if let Some((exp, g)) = self.lookup(cache, &tok).await {
                    if g == groups && exp > now() {
                        token_and_expiry = Some((tok, exp));
                    }
                }
            }
        }
        let (token, expires) = match token_and_expiry {
            Some(t) => t,
            None => {
                let token = format!("{}tk{}", self.prefix, uuid::Uuid::new_v4().simple());
                let expires = now() + self.token_life as f64;
                let value = serde_json::json!([expires, groups]).to_string();
                cache
                    .set(
                        &format!("{}/token/{token}", self.prefix),
                        &value,
                        self.token_life,
                    )
                    .await;
                cache
                    .set(
                        &user_key,
                        &serde_json::json!(token).to_string(),
                        self.token_life,
                    )
                    .await;
                (token, expires)
            }
        };
        let url = u
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{host}/v1/{}{}", self.prefix, u.account));
        let body = serde_json::json!({"storage": {"default": "local", "local": url}}).to_string();
        let mut r = Response::new(Body::from(body));
        let hd = r.headers_mut();
        headers::set(hd, "content-type", "application/json; charset=UTF-8");
        headers::set(hd, "x-storage-url", &url);
        headers::set(hd, "x-auth-token", &token);
        headers::set(hd, "x-storage-token", &token);
        headers::set(
            hd,
            "x-auth-token-expires",
            &format!("{}", (expires - now()).max(0.0) as u64),
        );
        r
    }

    async fn lookup(&self, cache: &Cache, token: &str) -> Option<(f64, String)> {
        let v = cache.get(&format!("{}/token/{token}", self.prefix)).await?;
        let (exp, groups): (f64, String) = serde_json::from_str(&v).ok()?;
        Some((exp, groups))
    }

    /// A token's expiry and groups: from the recent ones, else the store.
    async fn checked(&self, cache: &Cache, token: &str) -> Option<(f64, String)> {
        if let Ok(recent) = self.recent.lock() {
            if let Some((at, exp, groups)) = recent.get(token) {
                if at.elapsed() < RECHECK {
                    return Some((*exp, groups.clone()));
                }
            }
        }
        let (exp, groups) = self.lookup(cache, token).await?;
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= MAX_RECENT {
                recent.clear();
            }
            recent.insert(token.to_string(), (Instant::now(), exp, groups.clone()));
        }
        Some((exp, groups))
    }

    /// Whether a request carries a token this tempauth issues (valid or not).
    pub fn claims_token(&self, h: &HeaderMap) -> bool {
        headers::get(h, "x-auth-token")
            .or_else(|| headers::get(h, "x-storage-token"))
            .is_some_and(|t| t.starts_with(&self.prefix))
    }

    /// The identity behind a request's token, if it carries a valid one.
    pub async fn identify(&self, cache: &Cache, h: &HeaderMap) -> Option<Identity> {
        let token =
            headers::get(h, "x-auth-token").or_else(|| headers::get(h, "x-storage-token"))?;
        if !token.starts_with(&format!("{}tk", self.prefix)) {
            return None;
        }
        let (exp, groups) = self.checked(cache, token).await?;
        if exp < now() {
            return None;
        }
        Some(Identity {
            groups: groups.split(',').map(str::to_string).collect(),
        })
    }

    /// The reseller prefix of `account`, if tempauth answers for it: the
    /// first non-empty prefix it starts with, else the empty prefix when
    /// one is configured.
    fn account_prefix(&self, account: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .find(|p| !p.is_empty() && account.starts_with(p.as_str()))
            .or_else(|| self.prefixes.iter().find(|p| p.is_empty()))
            .map(String::as_str)
    }

    /// Whether `account` is one this tempauth answers for.
    pub fn owns_prefix(&self, account: &str) -> bool {
        self.account_prefix(account).is_some()
    }

    /// Authorizes a request as tempauth does, up to the account ACLs:
    /// reseller admins and readers, the account's own admins, OPTIONS,
    /// then the container ACL `acl` that applies (read ACL for reads,
    /// write ACL for object writes; `None` for account requests and
    /// container writes). What is left for the account's ACL to decide
    /// comes back as [`Verdict::AskAccount`].
    #[allow(clippy::too_many_arguments)]
    pub fn authorize(
        &self,
        who: Option<&Identity>,
        method: &Method,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
        acl: Option<&str>,
        referer: Option<&str>,
    ) -> Verdict {
        let denied = if who.is_some() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        let Some(prefix) = self.account_prefix(account) else {
            return Verdict::Deny(denied);
        };
        let groups = who.map_or(&[][..], |w| w.groups.as_slice());
        let member = |g: &str| groups.iter().any(|x| x == g);
        // Reseller admins own every account of the prefix except the bare
        // prefix and `.`-accounts (kept for the cluster's own use).
        let reseller_account = !self.prefixes.iter().any(|p| p == account)
            && !account[prefix.len()..].starts_with('.');
        if member(".reseller_admin") && reseller_account {
            return Verdict::Allow { owner: true };
        }
        let reading = matches!(*method, Method::GET | Method::HEAD);
        if member(".reseller_reader") && reseller_account && reading {
            return Verdict::Allow { owner: false };
        }
        // Owning an account is not enough to create or delete it, and with
        // `require_group` an admin must be in that group too (else only
        // the ACLs below may let them in).
        let account_op = container.is_none() && matches!(*method, Method::PUT | Method::DELETE);
        let required = self
            .require_groups
            .get(prefix)
            .is_none_or(|g| g.is_empty() || member(g));
        if member(account) && !account_op && required {
            return Verdict::Allow { owner: true };
        }
        if method == Method::OPTIONS {
            return Verdict::Allow { owner: false };
        }
        let (referrers, acl_groups) = parse_acl(acl.unwrap_or(""));
        if referrer_allowed(referer, &referrers)
            && (object.is_some() || acl_groups.iter().any(|g| g == ".rlistings"))
        {
            return Verdict::Allow { owner: false };
        }
        if groups.iter().any(|g| acl_groups.contains(g)) {
            return Verdict::Allow { owner: false };
        }
        Verdict::AskAccount(denied)
    }

    /// The last step of [`TempAuth::authorize`]: the account's ACL (from
    /// its sysmeta). `Ok(owner)` when it grants access.
    pub fn authorize_by_account(
        &self,
        who: Option<&Identity>,
        method: &Method,
        container: Option<&str>,
        stored: Option<&str>,
        denied: StatusCode,
    ) -> Result<bool, StatusCode> {
        // An anonymous request has one empty group, as in tempauth.
        let anonymous = [String::new()];
        let groups = who.map_or(&anonymous[..], |w| w.groups.as_slice());
        AccountAcls::from_sysmeta(stored)
            .and_then(|acls| acls.grant(groups, method, container.is_some()))
            .ok_or(denied)
    }
}

/// What [`TempAuth::authorize`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed; `owner` when the user may see and change the account's
    /// privileged headers (ACLs, sync keys, temp URL keys).
    Allow { owner: bool },
    /// Refused with this status whatever the account's ACL says.
    Deny(StatusCode),
    /// Refused with this status unless the account's ACL grants access.
    AskAccount(StatusCode),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of Swift's `clean_acl` documentation.
    #[test]
    fn container_acls_are_cleaned_as_swift_cleans_them() {
        let read = |v: &str| clean_acl("X-Container-Read", v);
        assert_eq!(read("bob, sue").unwrap(), "bob,sue");
        assert_eq!(read("bob,,,sue").unwrap(), "bob,sue");
        assert_eq!(read(".referrer : *").unwrap(), ".r:*");
        assert_eq!(read(".ref:*.example.com").unwrap(), ".r:.example.com");
        assert_eq!(read(".r:*, .rlistings").unwrap(), ".r:*,.rlistings");
        assert_eq!(read(".r:-*.bad.com").unwrap(), ".r:-.bad.com");
        assert!(read(".r:").unwrap_err().contains("No host/domain"));
        assert!(read(".x:y").unwrap_err().contains("Unknown designator"));
        let write = clean_acl("X-Container-Write", ".r:*").unwrap_err();
        assert!(
            write.contains("Referrers not allowed in write ACL"),
            "{write}"
        );
    }

    #[test]
    fn acls() {
        let (r, g) = parse_acl(".r:*,.rlistings, test:tester3");
        assert_eq!(r, ["*"]);
        assert_eq!(g, [".rlistings", "test:tester3"]);
        assert!(referrer_allowed(None, &r));
        assert!(referrer_allowed(
            Some("http://www.example.com/x"),
            &[".example.com".into()]
        ));
        assert!(!referrer_allowed(
            Some("http://evil.com/"),
            &[".example.com".into()]
        ));
        assert!(!referrer_allowed(
            Some("http://a.example.com/"),
            &["*".into(), "-a.example.com".into()]
        ));
    }
}
