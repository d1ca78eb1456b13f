//! `swift-get-nodes` argument parsing, with the behaviour of Python's
//! `optparse` that Swift's tool has: options anywhere among the positional
//! arguments, `--` to end them, clustered short flags (`-aQ`), attached
//! values (`-p5`, `--partition=5`), unambiguous long-option prefixes
//! (`--part`), the last occurrence winning, and optparse's error texts.

use std::ffi::OsString;

/// Parsed command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    pub all: bool,
    /// `-p` exactly as given (Swift keeps the string; `""` means "not given").
    pub partition: Option<String>,
    pub policy_name: Option<String>,
    pub swift_dir: Option<String>,
    pub quoted: bool,
    /// Ours: machine-readable output.
    pub json: bool,
    pub positional: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Args),
    /// `-h` / `--help`.
    Help,
    /// An optparse error: usage on stderr, `prog: error: msg`, exit 2.
    Error(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Opt {
    Help,
    All,
    Partition,
    PolicyName,
    SwiftDir,
    Quoted,
    Json,
}

impl Opt {
    fn takes_value(self) -> bool {
        matches!(self, Opt::Partition | Opt::PolicyName | Opt::SwiftDir)
    }
}

const LONG: &[(&str, Opt)] = &[
    ("--help", Opt::Help),
    ("--all", Opt::All),
    ("--partition", Opt::Partition),
    ("--policy-name", Opt::PolicyName),
    ("--swift-dir", Opt::SwiftDir),
    ("--quoted", Opt::Quoted),
    ("--json", Opt::Json),
];

fn short(c: char) -> Option<Opt> {
    Some(match c {
        'h' => Opt::Help,
        'a' => Opt::All,
        'p' => Opt::Partition,
        'P' => Opt::PolicyName,
        'd' => Opt::SwiftDir,
        'Q' => Opt::Quoted,
        _ => return None,
    })
}

fn long(given: &str) -> Result<(&'static str, Opt), String> {
    if let Some(&(name, opt)) = LONG.iter().find(|(n, _)| *n == given) {
        return Ok((name, opt));
    }
    let matches: Vec<&(&str, Opt)> = LONG.iter().filter(|(n, _)| n.starts_with(given)).collect();
    match matches.as_slice() {
        [] => Err(format!("no such option: {given}")),
        [(name, opt)] => Ok((name, *opt)),
        many => {
            let mut names: Vec<&str> = many.iter().map(|(n, _)| *n).collect();
            names.sort();
            Err(format!("ambiguous option: {given} ({}?)", names.join(", ")))
        }
    }
}

fn set(args: &mut Args, opt: Opt, value: Option<String>) {
    match opt {
        Opt::Help => {}
        Opt::All => args.all = true,
        Opt::Quoted => args.quoted = true,
        Opt::Json => args.json = true,
        Opt::Partition => args.partition = value,
        Opt::PolicyName => args.policy_name = value,
        Opt::SwiftDir => args.swift_dir = value,
    }
}

/// Parses `argv` (without the program name). Arguments must be UTF-8.
pub fn parse(argv: Vec<OsString>) -> Result<Parsed, String> {
    let mut words = Vec::with_capacity(argv.len());
    for arg in argv {
        match arg.into_string() {
            Ok(s) => words.push(s),
            Err(bad) => {
                return Err(format!(
                    "argument is not valid UTF-8: {}",
                    bad.to_string_lossy()
                ))
            }
        }
    }
    Ok(parse_words(words))
}

fn parse_words(words: Vec<String>) -> Parsed {
    let mut args = Args::default();
    let mut rest = words.into_iter();
    while let Some(word) = rest.next() {
        if word == "--" {
            args.positional.extend(rest.by_ref());
            break;
        }
        if let Some(body) = word.strip_prefix("--") {
            let (given, attached) = match body.split_once('=') {
                Some((name, value)) => (format!("--{name}"), Some(value.to_owned())),
                None => (word.clone(), None),
            };
            let (name, opt) = match long(&given) {
                Ok(found) => found,
                Err(msg) => return Parsed::Error(msg),
            };
            if opt == Opt::Help {
                return Parsed::Help;
            }
            if opt.takes_value() {
                let value = match attached.or_else(|| rest.next()) {
                    Some(v) => v,
                    None => return Parsed::Error(format!("{name} option requires 1 argument")),
                };
                set(&mut args, opt, Some(value));
            } else if attached.is_some() {
                return Parsed::Error(format!("{name} option does not take a value"));
            } else {
                set(&mut args, opt, None);
            }
        } else if word.len() > 1 && word.starts_with('-') {
            let chars: Vec<char> = word.chars().skip(1).collect();
            let mut i = 0;
            while i < chars.len() {
                let c = chars[i];
                let Some(opt) = short(c) else {
                    return Parsed::Error(format!("no such option: -{c}"));
                };
                if opt == Opt::Help {
                    return Parsed::Help;
                }
                if opt.takes_value() {
                    let attached: String = chars[i + 1..].iter().collect();
                    let value = if !attached.is_empty() {
                        Some(attached)
                    } else {
                        rest.next()
                    };
                    match value {
                        Some(v) => set(&mut args, opt, Some(v)),
                        None => return Parsed::Error(format!("-{c} option requires 1 argument")),
                    }
                    break;
                }
                set(&mut args, opt, None);
                i += 1;
            }
        } else {
            args.positional.push(word);
        }
    }
    Parsed::Run(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Parsed {
        parse_words(words.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn optparse_spellings() {
        let Parsed::Run(a) = p(&[
            "r.ring.gz",
            "-ap5",
            "acct",
            "--sw=/x",
            "--pol",
            "gold",
            "-Q",
        ]) else {
            panic!()
        };
        assert!(a.all && a.quoted);
        assert_eq!(a.partition.as_deref(), Some("5"));
        assert_eq!(a.swift_dir.as_deref(), Some("/x"));
        assert_eq!(a.policy_name.as_deref(), Some("gold"));
        assert_eq!(a.positional, ["r.ring.gz", "acct"]);
        let Parsed::Run(a) = p(&["-p", "-1", "--", "-a"]) else {
            panic!()
        };
        assert_eq!(a.partition.as_deref(), Some("-1"));
        assert_eq!(a.positional, ["-a"]);
    }

    #[test]
    fn optparse_errors() {
        assert_eq!(p(&["-x"]), Parsed::Error("no such option: -x".into()));
        assert_eq!(
            p(&["-p"]),
            Parsed::Error("-p option requires 1 argument".into())
        );
        assert_eq!(
            p(&["--p"]),
            Parsed::Error("ambiguous option: --p (--partition, --policy-name?)".into())
        );
        assert_eq!(
            p(&["--all=3"]),
            Parsed::Error("--all option does not take a value".into())
        );
        assert_eq!(p(&["-a", "--he"]), Parsed::Help);
    }
}
