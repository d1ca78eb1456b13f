//! Account ACLs (`X-Account-Access-Control`) as tempauth keeps them: the
//! version-2 JSON format, the checks an ACL must pass before it is stored
//! as account sysmeta, the normalised form owners read back, and what each
//! of the `admin`, `read-write` and `read-only` lists grants.
//!
//! This module only reads and writes text: fetching the account's sysmeta
//! and answering the client is the pipeline's business.

use axum::http::Method;
use serde_json::Value;

use crate::recon::pyfmt::str_repr;
use crate::ring::codec::pyjson::push_str;

/// The header clients send and owners read.
pub const HEADER: &str = "x-account-access-control";
/// Where the account server keeps it.
pub const SYSMETA: &str = "x-account-sysmeta-core-access-control";

/// The lists tempauth knows; any other key is refused.
const KEYS: [&str; 3] = ["admin", "read-write", "read-only"];

/// A version-2 ACL: `None` unless the text is a JSON object (the empty
/// string counts as an empty one).
fn parse_v2(data: &str) -> Option<serde_json::Map<String, Value>> {
    if data.is_empty() {
        return Some(serde_json::Map::new());
    }
    match serde_json::from_str(data) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Checks an incoming `X-Account-Access-Control` value; `Err` is the body
/// of the 400 to send.
pub fn validate(data: &str) -> Result<(), String> {
    let error = |why: String| {
        Err(format!(
            "X-Account-Access-Control invalid: {why}\n\nInput: {data}\n"
        ))
    };
    let Some(acl) = parse_v2(data) else {
        return error(format!("Syntax error in input ({})", str_repr(data)));
    };
    if let Some(key) = acl.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return error(format!(
            "Key {} not recognized",
            json_text(&key.as_str().into())
        ));
    }
    for key in KEYS {
        let Some(value) = acl.get(key) else {
            continue;
        };
        let Value::Array(items) = value else {
            return error(format!("Value for key \"{key}\" must be a list"));
        };
        if items.iter().any(|g| !g.is_string()) {
            return error(format!("Elements of \"{key}\" list must be strings"));
        }
    }
    Ok(())
}

/// The stored ACL as owners read it back: compact JSON with sorted keys
/// and only ASCII, or `None` when it is empty or unreadable.
pub fn external(stored: &str) -> Option<String> {
    let acl = parse_v2(stored)?;
    (!acl.is_empty()).then(|| json_text(&Value::Object(acl)))
}

/// The grants of an account's ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountAcls {
    pub admin: Vec<String>,
    pub read_write: Vec<String>,
    pub read_only: Vec<String>,
}

impl AccountAcls {
    /// The ACL stored in sysmeta; `None` when there is none, it is not
    /// readable, or every list is empty.
    pub fn from_sysmeta(stored: Option<&str>) -> Option<AccountAcls> {
        let acl = parse_v2(stored?)?;
        let list = |k: &str| -> Vec<String> {
            match acl.get(k) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let acls = AccountAcls {
            admin: list("admin"),
            read_write: list("read-write"),
            read_only: list("read-only"),
        };
        let empty =
            acls.admin.is_empty() && acls.read_write.is_empty() && acls.read_only.is_empty();
        (!empty).then_some(acls)
    }

    /// What the ACL grants a user with `groups`: `Some(true)` for an admin
    /// (an owner of the account), `Some(false)` for access without
    /// ownership, `None` for no access. Read-write allows everything in
    /// containers but only reading the account; read-only allows reading.
    pub fn grant(&self, groups: &[String], method: &Method, container: bool) -> Option<bool> {
        let member = |list: &[String]| groups.iter().any(|g| list.contains(g));
        let reading = matches!(*method, Method::GET | Method::HEAD);
        let read_write = member(&self.read_write) && (container || reading);
        let read_only = member(&self.read_only) && reading;
        if member(&self.admin) {
            Some(true)
        } else if read_write || read_only {
            Some(false)
        } else {
            None
        }
    }
}

/// JSON as Swift writes ACLs: no spaces, keys sorted, every character
/// outside printable ASCII escaped as `\uXXXX`.
fn json_text(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str(out, k);
                out.push(':');
                write_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => push_str(out, s),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_objects_of_string_lists_under_known_keys_pass() {
        assert!(validate("").is_ok());
        assert!(validate("{}").is_ok());
        assert!(validate(r#"{"admin":["a"],"read-only":[]}"#).is_ok());
        let e = validate("yuck").unwrap_err();
        assert!(e.starts_with("X-Account-Access-Control invalid: Syntax error in input ('yuck')"));
        assert!(e.ends_with("\n\nInput: yuck\n"), "{e}");
        assert!(validate("[]").unwrap_err().contains("Syntax error"));
        assert!(validate(r#"{"admin":["a"],"bad":1}"#)
            .unwrap_err()
            .contains(r#"Key "bad" not recognized"#));
        assert!(validate(r#"{"admin":"a"}"#)
            .unwrap_err()
            .contains(r#"Value for key "admin" must be a list"#));
        assert!(validate(r#"{"read-write":[1]}"#)
            .unwrap_err()
            .contains(r#"Elements of "read-write" list must be strings"#));
    }

    #[test]
    fn owners_read_compact_sorted_ascii_json() {
        assert_eq!(external("{}"), None);
        assert_eq!(external(""), None);
        assert_eq!(external("nonsense"), None);
        assert_eq!(
            external(r#"{ "read-only" : ["b"], "admin": ["a"] }"#).unwrap(),
            r#"{"admin":["a"],"read-only":["b"]}"#
        );
        assert_eq!(
            external("{\"admin\":[\"caf\u{e9}\u{1f600}\\\"\"]}").unwrap(),
            r#"{"admin":["caf\u00e9\ud83d\ude00\""]}"#
        );
    }

    #[test]
    fn grants_follow_the_list() {
        assert_eq!(AccountAcls::from_sysmeta(None), None);
        assert_eq!(AccountAcls::from_sysmeta(Some(r#"{"admin":[]}"#)), None);
        let acls = AccountAcls::from_sysmeta(Some(
            r#"{"admin":["boss"],"read-write":["rw"],"read-only":["ro"]}"#,
        ))
        .unwrap();
        let g = |who: &str, m: Method, c: bool| acls.grant(&groups(&["x", who]), &m, c);
        assert_eq!(g("boss", Method::DELETE, false), Some(true));
        assert_eq!(g("rw", Method::PUT, true), Some(false));
        assert_eq!(g("rw", Method::HEAD, false), Some(false));
        assert_eq!(g("rw", Method::POST, false), None);
        assert_eq!(g("ro", Method::GET, true), Some(false));
        assert_eq!(g("ro", Method::PUT, true), None);
        assert_eq!(g("nobody", Method::GET, true), None);
    }

    #[test]
    fn repr_like_python() {
        assert_eq!(str_repr("a'b"), "\"a'b\"");
        assert_eq!(str_repr("a\"b'"), "'a\"b\\''");
        assert_eq!(str_repr("x\ny"), "'x\\ny'");
    }
}
