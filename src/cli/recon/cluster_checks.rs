//! swift-recon checks that compare or list rather than average: unmounted
//! devices, disk usage, ring and swift.conf md5s, time sync, versions,
//! server types, and our raw `mem` / `mounted` / `devices` views.

use super::context::{answers_json, netloc, ptime, Ctx};
use crate::recon::client::Host;
use crate::recon::pyfmt::float_repr;
use crate::recon::report::{self, size_suffix};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::Path;

pub(super) fn unmounted(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    let t = ptime(None);
    ctx.line(format!(
        "[{t}] Getting unmounted drives from {} hosts...",
        hosts.len()
    ));
    let answers = ctx.fetch(hosts, "unmounted");
    let (mut not_mounted, mut errors) = (Vec::new(), Vec::new());
    for a in &answers {
        let Ok(Value::Array(items)) = &a.result else {
            continue;
        };
        for i in items {
            let dev = i
                .get("device")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if i.get("mounted").is_some_and(Value::is_boolean) {
                not_mounted.push((dev, netloc(a)));
            } else {
                errors.push((dev, netloc(a)));
            }
        }
    }
    for (d, h) in &not_mounted {
        ctx.line(format!("Not mounted: {d} on {h}"));
    }
    for (d, h) in &errors {
        ctx.line(format!("Device errors: {d} on {h}"));
    }
    ctx.sep();
    let list = |v: &[(String, String)]| -> Vec<Value> {
        v.iter()
            .map(|(d, h)| json!({"device": d, "host": h}))
            .collect()
    };
    json!({"hosts": answers_json(&answers), "unmounted": list(&not_mounted), "errors": list(&errors)})
}

pub(super) fn disk_usage(
    ctx: &mut Ctx,
    hosts: &[Host],
    top: usize,
    lowest: usize,
    human: bool,
) -> Value {
    // One port per host address is enough: disk usage is per machine.
    let mut seen = BTreeSet::new();
    let hosts: Vec<Host> = hosts
        .iter()
        .filter(|h| seen.insert(h.ip.clone()))
        .cloned()
        .collect();
    ctx.header("Checking disk usage now");
    let answers = ctx.fetch(&hosts, "diskusage");
    let mut per_host = Vec::new();
    let mut no_info = Vec::new();
    for a in &answers {
        let Ok(Value::Array(entries)) = &a.result else {
            continue;
        };
        let mut devs = Vec::new();
        for e in entries {
            let device = e.get("device").and_then(Value::as_str).unwrap_or("");
            match e.get("mounted") {
                Some(Value::Bool(true)) => {
                    let f = |k: &str| e.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                    devs.push((
                        a.url.clone(),
                        device.to_string(),
                        f("used"),
                        f("avail"),
                        f("size"),
                    ));
                }
                Some(Value::Bool(false)) => {}
                other => {
                    let shown = match other {
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => crate::recon::pyfmt::value_repr(v),
                        None => "None".into(),
                    };
                    ctx.line(format!("-> {}/{device}: Error: {shown}", a.url));
                }
            }
        }
        if devs.is_empty() {
            no_info.push(a.url.clone());
        }
        per_host.push(devs);
    }
    for url in no_info {
        ctx.line(format!("-> {url}: Error. No drive info available."));
    }
    let usage = report::disk_usage(&per_host, top, lowest);
    match &usage {
        Some(u) => {
            ctx.line("Distribution Graph:");
            let max = u.histogram.iter().map(|(_, n)| *n).max().unwrap_or(1) as f64;
            let mul = 69.0 / max;
            for (pct, n) in &u.histogram {
                let stars = "*".repeat((*n as f64 * mul) as usize);
                ctx.line(format!("{:>3}%{n:>5} {stars}", format!(" {pct}")));
            }
            let total = u.used + u.avail;
            let show = |x: i128| if human { size_suffix(x) } else { x.to_string() };
            ctx.line(format!(
                "Disk usage: space used: {} of {}",
                show(u.used),
                show(total)
            ));
            ctx.line(format!(
                "Disk usage: space free: {} of {}",
                show(u.avail),
                show(total)
            ));
            ctx.line(format!(
                "Disk usage: lowest: {}%, highest: {}%, avg: {}%",
                float_repr(u.lowest),
                float_repr(u.highest),
                float_repr(u.average)
            ));
        }
        None => ctx.line("No hosts returned valid data."),
    }
    ctx.sep();
    if let Some(u) = &usage {
        for (title, count, list) in [("TOP", top, &u.top), ("LOWEST", lowest, &u.bottom)] {
            if count == 0 {
                continue;
            }
            ctx.line(format!("{title} {count}"));
            for (url, dev, pct) in list {
                let host = url
                    .split("//")
                    .nth(1)
                    .and_then(|r| r.split([':', '/']).next());
                ctx.line(format!("{pct:.2}%  {:<15} {dev}", host.unwrap_or("")));
            }
        }
    }
    json!({"hosts": answers_json(&answers), "usage": usage})
}

fn md5_file(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(format!("{:x}", Md5::digest(&bytes)))
}

pub(super) fn ring_md5(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    let t = ctx.server_type.clone();
    let mut names: Vec<String> = if t == "object" {
        std::fs::read_dir(&ctx.swift_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("object") && n.ends_with(".ring.gz"))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![format!("{t}.ring.gz")]
    };
    names.sort();
    let local: Vec<(String, Option<String>)> = names
        .iter()
        .map(|n| (n.clone(), md5_file(&ctx.swift_dir.join(n))))
        .collect();
    let check = Md5Check {
        what: "ring md5sums",
        endpoint: "ringmd5",
        local: &local,
        difference_is_error: true,
    };
    let local_json: Map<String, Value> = local.iter().map(|(n, s)| (n.clone(), json!(s))).collect();
    md5_agreement(ctx, hosts, check, local_json.into(), |remote| {
        let mut differences = Vec::new();
        for (path, sum) in remote {
            let name = path.rsplit('/').next().unwrap_or(path);
            if !name.starts_with(t.as_str()) {
                continue;
            }
            let mine = local
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, s)| s.as_deref());
            if sum.as_str() != mine {
                let shown = sum.as_str().unwrap_or("None");
                let fields =
                    Map::from_iter([("ring".into(), json!(name)), ("md5".into(), sum.clone())]);
                differences.push((format!("{name} => {shown}"), fields));
            }
        }
        differences
    })
}

pub(super) fn swiftconf_md5(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    let conf_sum = md5_file(&ctx.swift_dir.join("swift.conf"));
    let check = Md5Check {
        what: "swift.conf md5sum",
        endpoint: "swiftconfmd5",
        local: &[("swift.conf".to_string(), conf_sum.clone())],
        difference_is_error: false,
    };
    md5_agreement(ctx, hosts, check, json!(conf_sum), |remote| {
        // Servers key the sum by their own swift.conf path.
        let remote_sum = remote
            .get("/etc/swift/swift.conf")
            .or_else(|| remote.values().next())
            .unwrap_or(&Value::Null);
        if remote_sum.as_str() == conf_sum.as_deref() {
            return Vec::new();
        }
        let shown = remote_sum.as_str().unwrap_or("None");
        let fields = Map::from_iter([("md5".into(), remote_sum.clone())]);
        vec![(shown.to_string(), fields)]
    })
}

/// What an md5 agreement check compares.
struct Md5Check<'a> {
    /// Shown after "Checking ".
    what: &'a str,
    /// The recon endpoint asked.
    endpoint: &'a str,
    /// `(name, md5)` of the files on disk.
    local: &'a [(String, Option<String>)],
    /// Whether a host that differs also counts as an error (Swift counts it
    /// for rings, not for swift.conf).
    difference_is_error: bool,
}

/// Swift's md5 check of files on disk against every host's: prints the local
/// sums (verbose), then each host's `differences` (the text after the url and
/// the JSON fields of each), and counts the hosts that agree; a host that
/// does not answer is an error. `local_json` is the local sums' JSON form.
fn md5_agreement(
    ctx: &mut Ctx,
    hosts: &[Host],
    check: Md5Check,
    local_json: Value,
    differences: impl Fn(&Map<String, Value>) -> Vec<(String, Map<String, Value>)>,
) -> Value {
    ctx.header(&format!("Checking {}", check.what));
    if ctx.verbose {
        for (name, sum) in check.local {
            ctx.line(format!(
                "-> On disk {name} md5sum: {}",
                sum.as_deref().unwrap_or("None")
            ));
        }
    }
    let answers = ctx.fetch(hosts, check.endpoint);
    let (mut matches, mut errors) = (0, 0);
    let mut mismatched = Vec::new();
    for a in &answers {
        let Ok(Value::Object(remote)) = &a.result else {
            errors += 1;
            continue;
        };
        let found = differences(remote);
        if found.is_empty() {
            matches += 1;
            if ctx.verbose {
                ctx.line(format!("-> {} matches.", a.url));
            }
            continue;
        }
        if check.difference_is_error {
            errors += 1;
        }
        for (shown, fields) in found {
            ctx.line(format!(
                "!! {} ({shown}) doesn't match on disk md5sum",
                a.url
            ));
            let mut record = Map::from_iter([("host".to_string(), json!(netloc(a)))]);
            record.extend(fields);
            mismatched.push(Value::Object(record));
        }
    }
    ctx.line(format!(
        "{matches}/{} hosts matched, {errors} error[s] while checking hosts.",
        hosts.len()
    ));
    ctx.sep();
    json!({"hosts": answers_json(&answers), "local": local_json, "matched": matches,
           "errors": errors, "mismatched": mismatched})
}

pub(super) fn time_sync(ctx: &mut Ctx, hosts: &[Host], jitter: f64) -> Value {
    let jitter = jitter.abs();
    ctx.header("Checking time-sync");
    let answers = ctx.fetch(hosts, "time");
    let (mut matches, mut errors) = (0, 0);
    let mut skewed = Vec::new();
    for a in &answers {
        let Some(remote) = a.result.as_ref().ok().and_then(Value::as_f64) else {
            errors += 1;
            continue;
        };
        if remote + jitter < a.started || remote - jitter > a.ended {
            let diff = (a.ended - remote).abs();
            ctx.line(format!(
                "!! {} current time is {}, but remote is {}, differs by {diff:.4} sec",
                a.url,
                ptime(Some(a.ended)),
                ptime(Some(remote))
            ));
            skewed
                .push(json!({"host": netloc(a), "local": a.ended, "remote": remote, "diff": diff}));
            continue;
        }
        matches += 1;
        if ctx.verbose {
            ctx.line(format!("-> {} matches.", a.url));
        }
    }
    ctx.line(format!(
        "{matches}/{} hosts matched, {errors} error[s] while checking hosts.",
        hosts.len()
    ));
    ctx.sep();
    json!({"hosts": answers_json(&answers), "matched": matches, "errors": errors, "skewed": skewed})
}

pub(super) fn versions(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    ctx.header("Checking versions");
    let answers = ctx.fetch(hosts, "version");
    let mut versions = BTreeSet::new();
    let mut errors = 0;
    for a in &answers {
        let version = a
            .result
            .as_ref()
            .ok()
            .and_then(|v| v.get("version"))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let Some(version) = version else {
            errors += 1;
            continue;
        };
        if ctx.verbose {
            ctx.line(format!("-> {} installed version {version}", a.url));
        }
        versions.insert(version);
    }
    let list: Vec<String> = versions.iter().cloned().collect();
    match list.len() {
        0 => ctx.line("No hosts returned valid data."),
        1 => ctx.line(format!(
            "Versions matched ({}), {errors} error[s] while checking hosts.",
            list[0]
        )),
        _ => ctx.line(format!(
            "Versions not matched ({}), {errors} error[s] while checking hosts.",
            list.join(", ")
        )),
    }
    ctx.sep();
    json!({"hosts": answers_json(&answers), "versions": list, "errors": errors})
}

pub(super) fn validate_servers(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    let t = ptime(None);
    let st = ctx.server_type.clone();
    ctx.line(format!(
        "[{t}] Validating server type '{st}' on {} hosts...",
        hosts.len()
    ));
    let answers = ctx.fetch_server_types(hosts);
    let want = format!("{st}-server");
    let invalid: Vec<(String, String)> = answers
        .iter()
        .filter_map(|a| match &a.result {
            Ok(s) if *s != want => Some((a.url.clone(), s.clone())),
            _ => None,
        })
        .collect();
    ctx.line(format!(
        "{}/{} hosts ok, {} error[s] while checking hosts.",
        hosts.len() - invalid.len(),
        hosts.len(),
        invalid.len()
    ));
    for (url, s) in &invalid {
        ctx.line(format!("Invalid: {url} is {s}"));
    }
    ctx.sep();
    let servers: Map<String, Value> = answers
        .iter()
        .map(|a| {
            let v = match &a.result {
                Ok(s) => json!(s),
                Err(e) => json!({"error": e.to_string()}),
            };
            (a.host.netloc(), v)
        })
        .collect();
    json!({"hosts": servers, "invalid": invalid.iter().map(|(u, s)| json!({"url": u, "server": s})).collect::<Vec<_>>()})
}

/// Our `--mem`, `--mounted`, `--devices`: each host's raw answer.
pub(super) fn raw(ctx: &mut Ctx, hosts: &[Host], check: &str, title: &str) -> Value {
    ctx.header(title);
    let answers = ctx.fetch(hosts, check);
    for a in &answers {
        if let Ok(v) = &a.result {
            if !ctx.verbose {
                ctx.line(format!("{}: {}", netloc(a), v));
            }
        }
    }
    ctx.sep();
    json!({"hosts": answers_json(&answers)})
}
