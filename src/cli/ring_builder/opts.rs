//! A small option parser with Python `optparse`'s behaviour, which
//! `swift-ring-builder` scripts rely on: options anywhere among the
//! positional arguments, `--long=value` or `--long value`, unique prefixes
//! of long names, clustered short flags, `--` ending options, and optparse's
//! error messages.

use std::collections::HashMap;

/// What an option takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Flag,
    Int,
    Float,
    Str,
    Choice(&'static [&'static str]),
}

/// One option: `-s`, `--long`, its kind, and the key its value is stored under.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub short: Option<char>,
    pub long: &'static str,
    pub kind: Kind,
    pub dest: &'static str,
}

/// A parsed option value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Flag,
    Int(i64),
    Float(f64),
    Str(String),
}

/// Parsed options (last occurrence wins) and the positional arguments.
#[derive(Debug, Default)]
pub struct Parsed {
    pub values: HashMap<&'static str, Value>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn flag(&self, dest: &str) -> bool {
        self.values.contains_key(dest)
    }

    pub fn int(&self, dest: &str) -> Option<i64> {
        match self.values.get(dest) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn float(&self, dest: &str) -> Option<f64> {
        match self.values.get(dest) {
            Some(Value::Float(f)) => Some(*f),
            _ => None,
        }
    }

    pub fn str(&self, dest: &str) -> Option<&str> {
        match self.values.get(dest) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// Parses `argv` against `spec`; `Err` is optparse's message (without the
/// `prog: error: ` prefix).
pub fn parse(spec: &[Opt], argv: &[String]) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        if arg == "--" {
            out.args.extend(argv[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let opt = match_long(spec, name)?;
            let shown = format!("--{}", opt.long);
            let value = match (opt.kind, inline) {
                (Kind::Flag, Some(_)) => {
                    return Err(format!("{shown} option does not take a value"))
                }
                (Kind::Flag, None) => None,
                (_, Some(v)) => Some(v),
                (_, None) => {
                    let v = argv
                        .get(i)
                        .ok_or_else(|| format!("{shown} option requires 1 argument"))?;
                    i += 1;
                    Some(v.clone())
                }
            };
            store(&mut out, opt, &shown, value)?;
        } else if arg.len() > 1 && arg.starts_with('-') {
            for (pos, c) in arg[1..].char_indices() {
                let opt = spec
                    .iter()
                    .find(|o| o.short == Some(c))
                    .ok_or_else(|| format!("no such option: -{c}"))?;
                let shown = format!("-{c}");
                if opt.kind == Kind::Flag {
                    store(&mut out, opt, &shown, None)?;
                    continue;
                }
                let rest = &arg[1 + pos + c.len_utf8()..];
                let value = if !rest.is_empty() {
                    rest.to_string()
                } else {
                    let v = argv
                        .get(i)
                        .ok_or_else(|| format!("{shown} option requires 1 argument"))?;
                    i += 1;
                    v.clone()
                };
                store(&mut out, opt, &shown, Some(value))?;
                break;
            }
        } else {
            out.args.push(arg.clone());
        }
    }
    Ok(out)
}

fn match_long<'a>(spec: &'a [Opt], name: &str) -> Result<&'a Opt, String> {
    if let Some(o) = spec.iter().find(|o| o.long == name) {
        return Ok(o);
    }
    let hits: Vec<&Opt> = spec.iter().filter(|o| o.long.starts_with(name)).collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("no such option: --{name}")),
        many => {
            let names: Vec<String> = many.iter().map(|o| format!("--{}", o.long)).collect();
            Err(format!(
                "ambiguous option: --{name} ({}?)",
                names.join(", ")
            ))
        }
    }
}

fn store(out: &mut Parsed, opt: &Opt, shown: &str, value: Option<String>) -> Result<(), String> {
    let v = match (opt.kind, value) {
        (Kind::Flag, _) => Value::Flag,
        (_, None) => return Err(format!("{shown} option requires 1 argument")),
        (Kind::Int, Some(v)) => Value::Int(
            parse_int(&v).ok_or_else(|| format!("option {shown}: invalid integer value: '{v}'"))?,
        ),
        (Kind::Float, Some(v)) => Value::Float(
            crate::cli::devspec::py_float(&v)
                .map_err(|_| format!("option {shown}: invalid floating-point value: '{v}'"))?,
        ),
        (Kind::Str, Some(v)) => Value::Str(v),
        (Kind::Choice(choices), Some(v)) => {
            if !choices.contains(&v.as_str()) {
                let list: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
                return Err(format!(
                    "option {shown}: invalid choice: '{v}' (choose from {})",
                    list.join(", ")
                ));
            }
            Value::Str(v)
        }
    };
    out.values.insert(opt.dest, v);
    Ok(())
}

/// optparse's integers: decimal, `0x`/`0b`/`0o` prefixes, a leading `0` for octal.
fn parse_int(v: &str) -> Option<i64> {
    let (neg, body) = match v.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// The device options shared by add, search, set_* and remove (Swift's
/// `parse_args`).
pub const DEVICE_OPTS: &[Opt] = &[
    Opt {
        short: Some('u'),
        long: "id",
        kind: Kind::Int,
        dest: "id",
    },
    Opt {
        short: Some('r'),
        long: "region",
        kind: Kind::Int,
        dest: "region",
    },
    Opt {
        short: Some('z'),
        long: "zone",
        kind: Kind::Int,
        dest: "zone",
    },
    Opt {
        short: Some('i'),
        long: "ip",
        kind: Kind::Str,
        dest: "ip",
    },
    Opt {
        short: Some('p'),
        long: "port",
        kind: Kind::Int,
        dest: "port",
    },
    Opt {
        short: Some('j'),
        long: "replication-ip",
        kind: Kind::Str,
        dest: "replication_ip",
    },
    Opt {
        short: Some('q'),
        long: "replication-port",
        kind: Kind::Int,
        dest: "replication_port",
    },
    Opt {
        short: Some('d'),
        long: "device",
        kind: Kind::Str,
        dest: "device",
    },
    Opt {
        short: Some('w'),
        long: "weight",
        kind: Kind::Float,
        dest: "weight",
    },
    Opt {
        short: Some('m'),
        long: "meta",
        kind: Kind::Str,
        dest: "meta",
    },
    Opt {
        short: Some('I'),
        long: "change-ip",
        kind: Kind::Str,
        dest: "change_ip",
    },
    Opt {
        short: Some('P'),
        long: "change-port",
        kind: Kind::Int,
        dest: "change_port",
    },
    Opt {
        short: Some('J'),
        long: "change-replication-ip",
        kind: Kind::Str,
        dest: "change_replication_ip",
    },
    Opt {
        short: Some('Q'),
        long: "change-replication-port",
        kind: Kind::Int,
        dest: "change_replication_port",
    },
    Opt {
        short: Some('D'),
        long: "change-device",
        kind: Kind::Str,
        dest: "change_device",
    },
    Opt {
        short: Some('M'),
        long: "change-meta",
        kind: Kind::Str,
        dest: "change_meta",
    },
    Opt {
        short: Some('y'),
        long: "yes",
        kind: Kind::Flag,
        dest: "yes",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn optparse_behaviour() {
        let p = parse(
            DEVICE_OPTS,
            &argv("z1 --reg 2 -z3 --ip=1.2.3.4 -yw 5 -- -x"),
        )
        .unwrap();
        assert_eq!(p.int("region"), Some(2));
        assert_eq!(p.int("zone"), Some(3));
        assert_eq!(p.str("ip"), Some("1.2.3.4"));
        assert!(p.flag("yes"));
        assert_eq!(p.float("weight"), Some(5.0));
        assert_eq!(p.args, vec!["z1", "-x"]);
        assert_eq!(
            parse(DEVICE_OPTS, &argv("--zone 010")).unwrap().int("zone"),
            Some(8)
        );
        assert_eq!(
            parse(DEVICE_OPTS, &argv("--zone x")).unwrap_err(),
            "option --zone: invalid integer value: 'x'"
        );
        assert_eq!(
            parse(DEVICE_OPTS, &argv("--zone")).unwrap_err(),
            "--zone option requires 1 argument"
        );
        assert_eq!(
            parse(DEVICE_OPTS, &argv("-x")).unwrap_err(),
            "no such option: -x"
        );
        assert!(parse(DEVICE_OPTS, &argv("--re 1"))
            .unwrap_err()
            .starts_with("ambiguous option: --re"));
    }
}
