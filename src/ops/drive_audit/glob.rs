//! Shell-style globbing for `log_file_pattern` (`*`, `?`, `[...]`, `[!...]`),
//! following Python's `glob`: hidden names only match patterns that start
//! with a dot, and a pattern without wildcards names a file if it exists.

use std::path::{Path, PathBuf};

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Matches a bracket expression at the start of `p`; returns (matched, rest).
fn bracket(p: &[char], c: char) -> Option<(bool, &[char])> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut found = false;
    while i < p.len() {
        if p[i] == ']' && i > start {
            return Some((found != negate, &p[i + 1..]));
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                found = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                found = true;
            }
            i += 1;
        }
    }
    None // unterminated: '[' is literal
}

/// `fnmatch` on one path component (case-sensitive).
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

fn matches(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| matches(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && matches(&p[1..], &n[1..]),
        Some('[') => match (n.first(), bracket(p, *n.first().unwrap_or(&'\0'))) {
            (Some(_), Some((true, rest))) => matches(rest, &n[1..]),
            (Some(_), Some((false, _))) => false,
            (Some(c), None) => *c == '[' && matches(&p[1..], &n[1..]),
            (None, _) => false,
        },
        Some(c) => n.first() == Some(c) && matches(&p[1..], &n[1..]),
    }
}

/// Expands `pattern` into the existing paths it names.
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    let absolute = pattern.starts_with('/');
    let mut current: Vec<PathBuf> = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for base in &current {
            if !has_magic(part) {
                let p = base.join(part);
                if (last && p.symlink_metadata().is_ok()) || (!last && p.is_dir()) {
                    next.push(p);
                }
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                .filter(|n| fnmatch(part, n))
                .collect();
            names.sort();
            for name in names {
                let p = base.join(name);
                if last || p.is_dir() {
                    next.push(p);
                }
            }
        }
        current = next;
    }
    if parts.is_empty() {
        return Vec::new();
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swift_default_pattern() {
        let pat = "kern.*[!.][!g][!z]";
        assert!(fnmatch(pat, "kern.log"));
        assert!(fnmatch(pat, "kern.log.1"));
        assert!(!fnmatch(pat, "kern.log.2.gz"));
        assert!(fnmatch("a[a-c]?", "abz"));
        assert!(!fnmatch("a[!a-c]", "ab"));
        assert!(fnmatch("x[", "x["));
    }

    #[test]
    fn expands_in_a_directory() {
        let d = tempfile::tempdir().unwrap();
        for n in ["kern.log", "kern.log.1", "kern.log.2.gz", ".kern.log"] {
            std::fs::write(d.path().join(n), "").unwrap();
        }
        let pat = format!("{}/kern.*[!.][!g][!z]", d.path().display());
        let got: Vec<String> = glob(&pat)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, ["kern.log", "kern.log.1"]);
    }
}
