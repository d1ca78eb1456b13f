//! JSON exactly as Python's `json.dumps(sort_keys=True, ensure_ascii=True)`
//! writes it (separators, escapes, float `repr`), for the ring headers.

use std::fmt::Write as _;

use serde_json::Value;

use crate::ring::Device;

/// Appends `s` as a JSON string with every non-ASCII character escaped.
///
/// Python's `ensure_ascii` escapes everything outside `' '..='~'` (so DEL too),
/// uses the short escapes for `\b \f \n \r \t`, lowercase hex otherwise, and
/// surrogate pairs above the BMP.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Appends `x` as Python's `float.__repr__` (and `json.dumps`) prints it:
/// shortest round-trip digits, `100.0`, `0.0001`, `1e-05`, `1e+16`.
pub fn push_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    // Rust's `{:e}` gives a shortest round-trip digit string, but when several
    // exist it may not pick the one closest to `x`, as Python does. So take
    // only the digit count from it, then round `x` exactly to that many digits.
    let shortest = format!("{x:e}");
    let count = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.bytes().filter(u8::is_ascii_digit).count());
    let sci = format!("{x:.*e}", count.saturating_sub(1));
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    out.push_str(sign);
    if !(-4..16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        return;
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

/// Appends any JSON value as Python's `json.dumps(sort_keys=True)` would
/// (integers as integers, floats in `repr` form, object keys sorted).
pub fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => {
                let _ = write!(out, "{i}");
            }
            (_, Some(u), _) => {
                let _ = write!(out, "{u}");
            }
            (_, _, Some(f)) => push_float(out, f),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(text) => push_str(out, text),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_str(out, key);
                out.push_str(": ");
                push_value(out, &map[key]);
            }
            out.push('}');
        }
    }
}

/// Appends one device object with sorted keys, its extra keys among them.
pub fn push_device(out: &mut String, dev: &Device) {
    let mut extra = dev.extra.iter().peekable();
    let mut key = |out: &mut String, name: &str| {
        while let Some((k, v)) = extra.next_if(|(k, _)| k.as_str() < name) {
            push_str(out, k);
            out.push_str(": ");
            push_value(out, v);
            out.push_str(", ");
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\": ");
    };
    out.push('{');
    key(out, "device");
    push_str(out, &dev.device);
    out.push_str(", ");
    key(out, "id");
    let _ = write!(out, "{}, ", dev.id);
    key(out, "ip");
    push_str(out, &dev.ip);
    out.push_str(", ");
    key(out, "meta");
    push_str(out, &dev.meta);
    out.push_str(", ");
    key(out, "port");
    let _ = write!(out, "{}, ", dev.port);
    key(out, "region");
    let _ = write!(out, "{}, ", dev.region);
    key(out, "replication_ip");
    push_str(out, &dev.replication_ip);
    out.push_str(", ");
    key(out, "replication_port");
    let _ = write!(out, "{}, ", dev.replication_port);
    key(out, "weight");
    push_float(out, dev.weight);
    out.push_str(", ");
    key(out, "zone");
    let _ = write!(out, "{}", dev.zone);
    for (k, v) in extra {
        out.push_str(", ");
        push_str(out, k);
        out.push_str(": ");
        push_value(out, v);
    }
    out.push('}');
}

/// Appends the device list, `null` for holes.
pub fn push_devices(out: &mut String, devs: &[Option<Device>]) {
    out.push('[');
    for (i, dev) in devs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match dev {
            Some(dev) => push_device(out, dev),
            None => out.push_str("null"),
        }
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(x: f64) -> String {
        let mut s = String::new();
        push_float(&mut s, x);
        s
    }

    #[test]
    fn floats_match_python_repr() {
        let cases = [
            (100.0, "100.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.1, "0.1"),
            (3.25, "3.25"),
            (1.5e300, "1.5e+300"),
            (-2.5e-7, "-2.5e-07"),
            (123.456, "123.456"),
            (5e-324, "5e-324"),
            (165793407361858.12, "165793407361858.12"),
            (f64::INFINITY, "Infinity"),
        ];
        for (x, want) in cases {
            assert_eq!(float(x), want, "{x:e}");
        }
    }

    #[test]
    fn strings_are_ascii_escaped_like_python() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\n\u{7f}\u{1}é€😀");
        assert_eq!(s, r#""a\"b\\c\n\u007f\u0001\u00e9\u20ac\ud83d\ude00""#);
    }
}
