//! swift-recon checks that print stats lines: async, drive-audit, load,
//! sockstat, quarantine, replication, reconstruction, updater, expirer,
//! sharding and the auditors.

use super::context::{answers_json, netloc, ptime, Ctx};
use crate::recon::client::Host;
use crate::recon::report::num;
use serde_json::{json, Map, Value};

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// A single-metric check (`async`, `driveaudit`): one stats line.
pub(super) fn single(ctx: &mut Ctx, hosts: &[Host], check: &str, title: &str, key: &str) -> Value {
    ctx.header(title);
    let answers = ctx.fetch(hosts, check);
    let values: Vec<Option<f64>> = answers
        .iter()
        .filter_map(|a| a.result.as_ref().ok())
        .map(|v| num(v.get(key)))
        .collect();
    let stats = ctx.stats(key, key, &values);
    ctx.sep();
    json!({"hosts": answers_json(&answers), "stats": {key: stats}})
}

/// Several metrics, each printed as `[<prefix><name><suffix>]`; hosts that
/// did not answer are left out, hosts that answered without a key count as
/// "no result" unless `default` gives a value.
fn multi(
    ctx: &mut Ctx,
    hosts: &[Host],
    check: &str,
    title: &str,
    keys: &[(&str, &str, Option<f64>)],
    missing_generic: bool,
) -> Value {
    ctx.header(title);
    let answers = ctx.fetch(hosts, check);
    let ok: Vec<&Value> = answers
        .iter()
        .filter_map(|a| a.result.as_ref().ok())
        .collect();
    let mut stats = Map::new();
    for (key, name, default) in keys {
        let values: Vec<Option<f64>> = ok
            .iter()
            .map(|v| match v.get(*key) {
                None => *default,
                Some(x) => x.as_f64(),
            })
            .collect();
        if values.is_empty() && missing_generic {
            ctx.line("No hosts returned valid data.");
            continue;
        }
        stats.insert(name.to_string(), ctx.stats(name, name, &values));
    }
    ctx.sep();
    json!({"hosts": answers_json(&answers), "stats": stats})
}

pub(super) fn load(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    let keys = [
        ("1m", "1m_load_avg", None),
        ("5m", "5m_load_avg", None),
        ("15m", "15m_load_avg", None),
    ];
    multi(ctx, hosts, "load", "Checking load averages", &keys, false)
}

pub(super) fn sockstat(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    let keys = [
        ("tcp_in_use", "tcp_in_use", None),
        ("tcp_mem_allocated_bytes", "tcp_mem_allocated_bytes", None),
        ("tcp6_in_use", "tcp6_in_use", Some(0.0)),
        ("time_wait", "time_wait", None),
        ("orphan", "orphan", None),
    ];
    multi(ctx, hosts, "sockstat", "Checking socket usage", &keys, true)
}

pub(super) fn expirer(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    let keys = [
        ("object_expiration_pass", "object_expiration_pass", None),
        ("expired_last_pass", "expired_last_pass", None),
    ];
    let check = format!("expirer/{}", ctx.server_type);
    multi(ctx, hosts, &check, "Checking on expirers", &keys, false)
}

pub(super) fn quarantine(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    ctx.header("Checking quarantine");
    let answers = ctx.fetch(hosts, "quarantined");
    // Per-policy keys first, in the order they are first seen.
    let mut series: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let mut base: [Vec<Option<f64>>; 3] = Default::default();
    for v in answers.iter().filter_map(|a| a.result.as_ref().ok()) {
        if let Some(Value::Object(policies)) = v.get("policies") {
            for (idx, p) in policies {
                let key = format!("objects_{idx}");
                let val = num(p.get("objects"));
                match series.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, vals)) => vals.push(val),
                    None => series.push((key, vec![val])),
                }
            }
        }
        for (i, k) in ["objects", "containers", "accounts"].iter().enumerate() {
            base[i].push(num(v.get(*k)));
        }
    }
    for (i, k) in ["objects", "containers", "accounts"].iter().enumerate() {
        series.push((k.to_string(), std::mem::take(&mut base[i])));
    }
    let mut stats = Map::new();
    for (key, values) in series {
        if values.is_empty() {
            ctx.line("No hosts returned valid data.");
            continue;
        }
        let name = format!("quarantined_{key}");
        stats.insert(name.clone(), ctx.stats(&name, &name, &values));
    }
    ctx.sep();
    json!({"hosts": answers_json(&answers), "stats": stats})
}

/// Replication (`-r`) and sharding (`--sharding`) share a shape: a time,
/// three counters from a stats dict, and a last-completion time.
#[allow(clippy::too_many_arguments)]
fn replication_like(
    ctx: &mut Ctx,
    hosts: &[Host],
    check: &str,
    title: &str,
    time_keys: [&str; 2],
    stats_key: &str,
    last_keys: [&str; 2],
    sharding: bool,
) -> Value {
    ctx.header(title);
    let answers = ctx.fetch(hosts, check);
    let counters = if sharding {
        ["attempted", "failure", "success"]
    } else {
        ["failure", "success", "attempted"]
    };
    let mut time = Vec::new();
    let mut counts: [Vec<Option<f64>>; 3] = Default::default();
    let mut lasts = Vec::new();
    for a in &answers {
        let Ok(v) = &a.result else { continue };
        let pick = |keys: [&str; 2]| match (v.get(keys[0]), v.get(keys[1])) {
            (Some(x), _) => x.as_f64(),
            (None, Some(y)) => y.as_f64(),
            (None, None) => Some(0.0),
        };
        time.push(pick(time_keys));
        if let Some(s) = get(v, stats_key).filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
        {
            for (i, k) in counters.iter().enumerate() {
                counts[i].push(num(s.get(*k)));
            }
        }
        lasts.push((netloc(a), pick(last_keys)));
    }
    let mut stats = Map::new();
    let mut series = vec![(time_keys[0].trim_start_matches("object_").to_string(), time)];
    if sharding {
        series[0].0 = "sharding_time".into();
    }
    for (i, k) in counters.iter().enumerate() {
        series.push((k.to_string(), std::mem::take(&mut counts[i])));
    }
    for (i, (key, values)) in series.into_iter().enumerate() {
        let name = if i == 0 || sharding {
            key.clone()
        } else {
            format!("replication_{key}")
        };
        if values.is_empty() {
            ctx.line(format!("[{key}] - No hosts returned valid data."));
            continue;
        }
        stats.insert(name.clone(), ctx.stats(&name, &key, &values));
    }
    let completions = ctx.completions(&lasts);
    ctx.sep();
    json!({"hosts": answers_json(&answers), "stats": stats, "completions": completions})
}

pub(super) fn replication(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    let check = format!("replication/{}", ctx.server_type);
    replication_like(
        ctx,
        hosts,
        &check,
        "Checking on replication",
        ["replication_time", "object_replication_time"],
        "replication_stats",
        ["replication_last", "object_replication_last"],
        false,
    )
}

pub(super) fn sharding(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    replication_like(
        ctx,
        hosts,
        "sharding",
        "Checking on sharders",
        ["sharding_time", "sharding_time"],
        "sharding_stats",
        ["sharding_last", "sharding_last"],
        true,
    )
}

pub(super) fn reconstruction(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    ctx.header("Checking on reconstructors");
    let check = format!("reconstruction/{}", ctx.server_type);
    let answers = ctx.fetch(hosts, &check);
    let mut values = Vec::new();
    let mut lasts = Vec::new();
    for a in &answers {
        let Ok(v) = &a.result else { continue };
        values.push(num(v.get("object_reconstruction_time")));
        let last = v
            .get("object_reconstruction_last")
            .map_or(Some(0.0), Value::as_f64);
        lasts.push((netloc(a), last));
    }
    let name = "object_reconstruction_time";
    let stats = ctx.stats(name, name, &values);
    let completions = ctx.completions(&lasts);
    ctx.sep();
    json!({"hosts": answers_json(&answers), "stats": {name: stats}, "completions": completions})
}

pub(super) fn updater(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    ctx.header("Checking updater times");
    let check = format!("updater/{}", ctx.server_type);
    let key = format!("{}_updater_sweep", ctx.server_type);
    let answers = ctx.fetch(hosts, &check);
    // Swift keeps only truthy sweeps: zero and null are both dropped.
    let values: Vec<Option<f64>> = answers
        .iter()
        .filter_map(|a| a.result.as_ref().ok())
        .filter_map(|v| num(v.get(&key)))
        .filter(|x| *x != 0.0)
        .map(Some)
        .collect();
    let name = "updater_last_sweep";
    let stats = ctx.stats(name, name, &values);
    ctx.sep();
    json!({"hosts": answers_json(&answers), "stats": {name: stats}})
}

/// `--auditor` for account and container servers.
pub(super) fn auditor(ctx: &mut Ctx, hosts: &[Host]) -> Option<Value> {
    ctx.header("Checking auditor stats");
    let t = ctx.server_type.clone();
    let check = format!("auditor/{t}");
    let answers = ctx.fetch(hosts, &check);
    let ok: Vec<&Value> = answers
        .iter()
        .filter_map(|a| a.result.as_ref().ok())
        .collect();
    if ok.is_empty() {
        ctx.line("Error: No hosts available");
        return None;
    }
    let keys = [
        format!("{t}_auditor_pass_completed"),
        format!("{t}_audits_failed"),
        format!("{t}_audits_passed"),
        format!("{t}_audits_since"),
    ];
    let mut stats = Map::new();
    let mut since = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let values: Vec<f64> = ok.iter().filter_map(|v| num(v.get(k))).collect();
        if values.is_empty() {
            ctx.line(format!("[{k}] - No hosts returned valid data."));
        } else if i < 3 {
            let opt: Vec<Option<f64>> = values.iter().copied().map(Some).collect();
            stats.insert(k.clone(), ctx.stats(k, k, &opt));
        } else {
            since = values;
        }
    }
    let mut last_pass = Value::Null;
    if !since.is_empty() {
        let low = since.iter().copied().fold(f64::INFINITY, f64::min);
        let high = since.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = since.iter().sum::<f64>() / since.len() as f64;
        ctx.line(format!(
            "[last_pass] oldest: {}, newest: {}, avg: {}",
            ptime(Some(low)),
            ptime(Some(high)),
            ptime(Some(avg))
        ));
        last_pass = json!({"oldest": low, "newest": high, "average": avg});
    }
    ctx.sep();
    Some(json!({"hosts": answers_json(&answers), "stats": stats, "last_pass": last_pass}))
}

/// Sums every value stored under `key` at any depth (parallel auditors nest
/// their stats per device).
fn nested_sum(v: &Value, key: &str) -> f64 {
    let Value::Object(m) = v else { return 0.0 };
    let mut total = 0.0;
    for (k, x) in m {
        if x.is_object() {
            total += nested_sum(x, key);
        }
        if k == key {
            total += x.as_f64().unwrap_or(0.0);
        }
    }
    total
}

fn truthy(v: Option<&Value>) -> Option<&Value> {
    v.filter(|x| match x {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
    })
}

/// `--auditor` for object servers (ALL and ZBF auditor passes).
pub(super) fn object_auditor(ctx: &mut Ctx, hosts: &[Host]) -> Value {
    ctx.header("Checking auditor stats ");
    let answers = ctx.fetch(hosts, "auditor/object");
    let mut stats = Map::new();
    for (kind, field, keys) in [
        (
            "ALL",
            "object_auditor_stats_ALL",
            &[
                "audit_time",
                "bytes_processed",
                "passes",
                "errors",
                "quarantined",
            ][..],
        ),
        (
            "ZBF",
            "object_auditor_stats_ZBF",
            &["audit_time", "bytes_processed", "errors", "quarantined"][..],
        ),
    ] {
        let scans: Vec<&Value> = answers
            .iter()
            .filter_map(|a| a.result.as_ref().ok())
            .filter_map(|v| truthy(v.get(field)))
            .collect();
        if scans.is_empty() {
            ctx.line(format!("[{kind}_auditor] - No hosts returned valid data."));
            continue;
        }
        for k in keys {
            let values: Vec<Option<f64>> = scans.iter().map(|s| Some(nested_sum(s, k))).collect();
            let name = format!("{kind}_{k}_last_path");
            stats.insert(name.clone(), ctx.stats(&name, &name, &values));
        }
    }
    ctx.sep();
    json!({"hosts": answers_json(&answers), "stats": stats})
}
