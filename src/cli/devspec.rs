//! Swift's device grammars for `swift-ring-builder`: search values
//! (`d74r4z1-1.2.3.4:5678R5.6.7.8:9/sdb1_meta`), add values
//! (`r1z2-10.1.2.3:6200[R…]/sdb_meta`), set_info change values, and the
//! Python-compatible number parsing and quoting the messages need.
//! Errors are the messages Swift prints.

use crate::ring::builder::edit::{normalize_ip, DevFilter};

/// A parsed add value; `region`, `replication_*` are `None` when not given.
#[derive(Debug, Clone, PartialEq)]
pub struct AddValue {
    pub region: Option<u32>,
    pub zone: u32,
    pub ip: String,
    pub port: u16,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: String,
    pub meta: String,
}

/// What a set_info change value asks to change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeValue {
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: Option<String>,
    pub meta: Option<String>,
}

impl ChangeValue {
    pub fn is_empty(&self) -> bool {
        *self == ChangeValue::default()
    }
}

/// A cursor over the value being parsed.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, prefix: char) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    /// The longest prefix whose characters satisfy `keep` (the first one
    /// is always taken, as Swift's loops start at index 1).
    fn take_run(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let mut end = self.rest.chars().next().map_or(0, char::len_utf8);
        for c in self.rest[end..].chars() {
            if !keep(c) {
                break;
            }
            end += c.len_utf8();
        }
        let (head, tail) = self.rest.split_at(end);
        self.rest = tail;
        head
    }

    /// After a one-letter prefix: the digits that follow, as Python's `int()`.
    fn number_after(&mut self) -> Result<i64, String> {
        let run = self.take_run(|c| c.is_ascii_digit());
        py_int(&run[run.chars().next().map_or(0, char::len_utf8)..])
    }

    /// An ip: digits and dots, or `[...]`. `None` if neither starts here.
    fn ip(&mut self) -> Option<&'a str> {
        if self.rest.starts_with(|c: char| c.is_ascii_digit()) {
            Some(self.take_run(|c| c.is_ascii_digit() || c == '.'))
        } else if self.rest.starts_with('[') {
            let end = self.rest.find(']').map_or(self.rest.len(), |i| i + 1);
            let (head, tail) = self.rest.split_at(end);
            self.rest = tail;
            Some(head.trim_start_matches('[').trim_end_matches(']'))
        } else {
            None
        }
    }
}

fn small<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T, String> {
    T::try_from(v).map_err(|_| format!("Invalid {what} {v}"))
}

/// Parses a `<search-value>` (see the module docs).
pub fn parse_search_value(value: &str) -> Result<DevFilter, String> {
    let mut f = DevFilter::default();
    let mut c = Cursor { rest: value };
    if c.rest.starts_with('d') {
        f.id = Some(small(c.number_after()?, "device id")?);
    }
    if c.rest.starts_with('r') {
        f.region = Some(small(c.number_after()?, "region")?);
    }
    if c.rest.starts_with('z') {
        f.zone = Some(small(c.number_after()?, "zone")?);
    }
    c.eat('-');
    if let Some(ip) = c.ip() {
        f.ip = Some(normalize_ip(ip)?);
    }
    if c.rest.starts_with(':') {
        f.port = Some(small(c.number_after()?, "port")?);
    }
    if c.eat('R') {
        if let Some(ip) = c.ip() {
            f.replication_ip = Some(normalize_ip(ip)?);
        }
        if c.rest.starts_with(':') {
            f.replication_port = Some(small(c.number_after()?, "port")?);
        }
    }
    if c.rest.starts_with('/') {
        let run = c.take_run(|ch| ch != '_');
        f.device = Some(run[1..].to_string());
    }
    if c.eat('_') {
        f.meta = Some(c.rest.to_string());
        c.rest = "";
    }
    if !c.rest.is_empty() {
        return Err(format!("Invalid <search-value>: {}", py_repr(value)));
    }
    Ok(f)
}

/// Parses an add value `[r<region>]z<zone>-<ip>:<port>[R<ip>:<port>]/<device>[_<meta>]`.
pub fn parse_add_value(value: &str) -> Result<AddValue, String> {
    let invalid = || format!("Invalid add value: {value}");
    let mut c = Cursor { rest: value };
    let region = if c.rest.starts_with('r') {
        Some(small(c.number_after()?, "region")?)
    } else {
        None
    };
    if !c.rest.starts_with('z') {
        return Err(invalid());
    }
    let zone = small(c.number_after()?, "zone")?;
    if !c.eat('-') {
        return Err(invalid());
    }
    let (ip, port, after) = parse_address(c.rest)?;
    let (mut replication_ip, mut replication_port) = (None, None);
    let after = match after.strip_prefix('R') {
        Some(r) => {
            let (rip, rport, rest) = parse_address(r)?;
            replication_ip = Some(rip);
            replication_port = Some(rport);
            rest
        }
        None => after,
    };
    let mut c = Cursor { rest: &after };
    if !c.rest.starts_with('/') {
        return Err(invalid());
    }
    let run = c.take_run(|ch| ch != '_');
    let device = run[1..].to_string();
    if !valid_device_name(&device) {
        return Err("Invalid device name".into());
    }
    let meta = c.rest.strip_prefix('_').unwrap_or("").to_string();
    Ok(AddValue {
        region,
        zone,
        ip,
        port,
        replication_ip,
        replication_port,
        device,
        meta,
    })
}

/// `<ip>:<port>` up to the next `R` or `/` (the first `[` `]` pair is
/// dropped); returns the ip, the port and what follows.
fn parse_address(rest: &str) -> Result<(String, u16, String), String> {
    let rest = if rest.starts_with('[') {
        rest.replacen('[', "", 1).replacen(']', "", 1)
    } else {
        rest.to_string()
    };
    let end = rest.find(['R', '/']).unwrap_or(rest.len());
    let address = &rest[..end];
    let colon = address.rfind(':').ok_or("Invalid port in add value")?;
    let port_text = &address[colon..];
    let port = py_int(&address[colon + 1..])
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| format!("Invalid port {port_text} in add value"))?;
    let ip = normalize_ip(&address[..colon])?;
    Ok((ip, port, rest[end..].to_string()))
}

/// Parses a set_info change value `[<ip>][:<port>][R[<ip>][:<port>]][/<device>][_<meta>]`.
pub fn parse_change_value(value: &str) -> Result<ChangeValue, String> {
    let mut ch = ChangeValue::default();
    let mut c = Cursor { rest: value };
    change_address(&mut c, &mut ch.ip, &mut ch.port)?;
    if c.eat('R') {
        change_address(&mut c, &mut ch.replication_ip, &mut ch.replication_port)?;
    }
    if c.rest.starts_with('/') {
        let run = c.take_run(|x| x != '_');
        ch.device = Some(run[1..].to_string());
    }
    if c.eat('_') {
        ch.meta = Some(c.rest.to_string());
        c.rest = "";
    }
    if !c.rest.is_empty() || ch.is_empty() {
        return Err(format!("Invalid set info change value: {}", py_repr(value)));
    }
    Ok(ch)
}

fn change_address(
    c: &mut Cursor,
    ip: &mut Option<String>,
    port: &mut Option<u16>,
) -> Result<(), String> {
    if let Some(found) = c.ip() {
        if !found.is_empty() {
            *ip = Some(normalize_ip(found)?);
        }
    }
    if c.rest.starts_with(':') {
        *port = Some(small(c.number_after()?, "port")?);
    }
    Ok(())
}

/// Swift's device-name rule: not empty, no leading or trailing space.
pub fn valid_device_name(name: &str) -> bool {
    !(name.is_empty() || name.starts_with(' ') || name.ends_with(' '))
}

/// Python's `int(text)` for the decimal strings the CLI sees.
pub fn py_int(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    let ok = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let parsed = ok.then(|| t.replace('_', "").parse::<i64>().ok()).flatten();
    parsed.ok_or_else(|| format!("invalid literal for int() with base 10: {}", py_repr(text)))
}

/// Python's `float(text)`.
pub fn py_float(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    let special = matches!(body, "inf" | "infinity" | "nan");
    let plain = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-' | b'_'))
        && body.bytes().any(|b| b.is_ascii_digit());
    if special || plain {
        if let Ok(v) = t.replace('_', "").parse::<f64>() {
            return Ok(v);
        }
    }
    Err(format!(
        "could not convert string to float: {}",
        py_repr(text)
    ))
}

/// Python's `repr()` of a str, as Swift's messages quote user input.
pub use crate::recon::pyfmt::str_repr as py_repr;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_values() {
        let f = parse_search_value("d74r4z1-1.2.3.4:5678R5.6.7.8:9/sdb1_snet: x").unwrap();
        assert_eq!(f.id, Some(74));
        assert_eq!(f.region, Some(4));
        assert_eq!(f.zone, Some(1));
        assert_eq!(f.ip.as_deref(), Some("1.2.3.4"));
        assert_eq!(f.port, Some(5678));
        assert_eq!(f.replication_ip.as_deref(), Some("5.6.7.8"));
        assert_eq!(f.replication_port, Some(9));
        assert_eq!(f.device.as_deref(), Some("sdb1"));
        assert_eq!(f.meta.as_deref(), Some("snet: x"));
        let f = parse_search_value("z1-[::1]:5678").unwrap();
        assert_eq!(f.ip.as_deref(), Some("::1"));
        let f = parse_search_value("[FE80::0:1]").unwrap();
        assert_eq!(f.ip.as_deref(), Some("fe80::1"));
        assert_eq!(
            parse_search_value("R:5678").unwrap().replication_port,
            Some(5678)
        );
        assert_eq!(
            parse_search_value("_shiny").unwrap().meta.as_deref(),
            Some("shiny")
        );
        assert_eq!(
            parse_search_value("q1").unwrap_err(),
            "Invalid <search-value>: 'q1'"
        );
        assert_eq!(
            parse_search_value("d").unwrap_err(),
            "invalid literal for int() with base 10: ''"
        );
        assert_eq!(parse_search_value("1.2.3").unwrap_err(), "Invalid ip 1.2.3");
    }

    #[test]
    fn add_values() {
        let a = parse_add_value("r1z2-10.1.2.3:6200/sdb1_some meta").unwrap();
        assert_eq!(
            a,
            AddValue {
                region: Some(1),
                zone: 2,
                ip: "10.1.2.3".into(),
                port: 6200,
                replication_ip: None,
                replication_port: None,
                device: "sdb1".into(),
                meta: "some meta".into(),
            }
        );
        let a = parse_add_value("z1-[2001:DB8::1]:6200R[2001:db8::2]:6300/d").unwrap();
        assert_eq!(a.region, None);
        assert_eq!(a.ip, "2001:db8::1");
        assert_eq!(a.replication_ip.as_deref(), Some("2001:db8::2"));
        assert_eq!(a.replication_port, Some(6300));
        assert_eq!(
            parse_add_value("r1-1.2.3.4:1/d").unwrap_err(),
            "Invalid add value: r1-1.2.3.4:1/d"
        );
        assert_eq!(
            parse_add_value("z1-1.2.3.4/d").unwrap_err(),
            "Invalid port in add value"
        );
        assert_eq!(
            parse_add_value("z1-1.2.3.4:x/d").unwrap_err(),
            "Invalid port :x in add value"
        );
        assert_eq!(
            parse_add_value("z1-1.2.3.4:1/").unwrap_err(),
            "Invalid device name"
        );
        assert_eq!(
            parse_add_value("z1-host:1/d").unwrap_err(),
            "Invalid ip host"
        );
    }

    #[test]
    fn change_values() {
        let c = parse_change_value("10.0.1.10:6201R10.9.1.10:6301/sdx_new meta").unwrap();
        assert_eq!(c.ip.as_deref(), Some("10.0.1.10"));
        assert_eq!(c.port, Some(6201));
        assert_eq!(c.replication_ip.as_deref(), Some("10.9.1.10"));
        assert_eq!(c.replication_port, Some(6301));
        assert_eq!(c.device.as_deref(), Some("sdx"));
        assert_eq!(c.meta.as_deref(), Some("new meta"));
        assert_eq!(parse_change_value("_m").unwrap().meta.as_deref(), Some("m"));
        assert!(parse_change_value("").is_err());
        assert!(parse_change_value("x").is_err());
    }

    #[test]
    fn python_numbers() {
        assert_eq!(py_int(" 12 "), Ok(12));
        assert_eq!(py_int("-3"), Ok(-3));
        assert!(py_int("1.5").is_err());
        assert_eq!(py_float("1e2"), Ok(100.0));
        assert_eq!(py_float(" 2.5"), Ok(2.5));
        assert_eq!(
            py_float("abc").unwrap_err(),
            "could not convert string to float: 'abc'"
        );
        assert!(py_float("0x10").is_err());
        assert_eq!(py_repr("it's"), "\"it's\"");
    }
}
