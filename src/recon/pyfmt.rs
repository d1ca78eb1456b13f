//! Python-compatible text forms of JSON values: `repr()` and `json.dumps()`.
//!
//! Swift's tools print parsed JSON with Python's `repr` (verbose recon lines,
//! drive-audit debug logs) and write recon caches with
//! `json.dumps(sort_keys=True)`. Matching them byte for byte keeps our output
//! diffable against Swift's.

use serde_json::Value;
use std::fmt::Write;

use crate::ring::codec::pyjson::{push_float, push_str as push_json_str};

/// Python's `repr(float)`: shortest round-trip digits, exponent form outside
/// `1e-4 <= |x| < 1e16`, `inf`/`nan` spelled as Python does.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let mut out = String::new();
    push_float(&mut out, x);
    out
}

/// Python's `repr(str)`.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn number_repr(n: &serde_json::Number) -> String {
    if n.is_f64() {
        float_repr(n.as_f64().unwrap_or(0.0))
    } else {
        n.to_string()
    }
}

/// Python's `repr()` of the object `json.loads` would build from `v`.
pub fn value_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => out.push_str(&str_repr(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&str_repr(k));
                out.push_str(": ");
                write_repr(out, item);
            }
            out.push('}');
        }
    }
}

/// Python's `json.dumps(v, sort_keys=sort_keys)` (ASCII-only output, `", "`
/// and `": "` separators).
pub fn json_dumps(v: &Value, sort_keys: bool) -> String {
    let mut out = String::new();
    write_json(&mut out, v, sort_keys);
    out
}

fn write_json(out: &mut String, v: &Value, sort_keys: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let text = number_repr(n);
            // json.dumps spells non-finite floats as JavaScript does.
            out.push_str(match text.as_str() {
                "inf" => "Infinity",
                "-inf" => "-Infinity",
                "nan" => "NaN",
                _ => &text,
            });
        }
        Value::String(s) => push_json_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, item, sort_keys);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_json_str(out, k);
                out.push_str(": ");
                write_json(out, item, sort_keys);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_like_python() {
        assert_eq!(float_repr(2.2449883889025593), "2.2449883889025593");
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1795318459.3795784), "1795318459.3795784");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1.5e-5), "1.5e-05");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(-12345.5), "-12345.5");
        assert_eq!(float_repr(123456789012345.0), "123456789012345.0");
    }

    #[test]
    fn reprs_like_python() {
        let v = json!({"a": [1, 2.5, null, true], "b'": "it's", "c": {}});
        assert_eq!(
            value_repr(&v),
            r#"{'a': [1, 2.5, None, True], "b'": "it's", 'c': {}}"#
        );
        assert_eq!(str_repr("a'b\"c"), r#"'a\'b"c'"#);
    }

    #[test]
    fn dumps_like_python() {
        let v = json!({"z": 1, "a": "é\n", "m": [1.0, false]});
        assert_eq!(
            json_dumps(&v, true),
            r#"{"a": "\u00e9\n", "m": [1.0, false], "z": 1}"#
        );
    }
}
