//! The read-only views: the default describe view, `search` and `list_parts`.

use std::io::{self, Write};

use serde_json::json;

use super::common::{bracket, timedelta};
use super::{json as js, opts, Ctx};
use crate::cli::devspec::parse_search_value;
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS};
use crate::conf::ring_file::load_ring;
use crate::ring::builder::edit::is_ipv6;
use crate::ring::builder::{DevFilter, RingBuilder};
use crate::ring::RingData;

/// How the ring file on disk compares with the builder.
pub enum RingStatus {
    UpToDate,
    Obsolete,
    NotFound,
    Invalid(String),
}

/// Swift's comparison of the builder's ring with the ring file: devices,
/// table, part shift, next part power and version (not the id width).
pub fn ring_status(b: &RingBuilder, ring_path: &std::path::Path) -> RingStatus {
    if !ring_path.exists() {
        return RingStatus::NotFound;
    }
    match load_ring(ring_path) {
        Err(e) => RingStatus::Invalid(e.error.to_string()),
        Ok(ring) if same_ring(&b.get_ring(), &ring) => RingStatus::UpToDate,
        Ok(_) => RingStatus::Obsolete,
    }
}

fn same_ring(a: &RingData, b: &RingData) -> bool {
    a.devs == b.devs
        && a.replica2part2dev == b.replica2part2dev
        && a.part_shift == b.part_shift
        && a.next_part_power == b.next_part_power
        && a.version == b.version
}

/// `swift-ring-builder <builder>`: the builder summary and device table.
pub fn default(ctx: &mut Ctx) -> io::Result<u8> {
    if ctx.json {
        return js::describe(ctx);
    }
    let now = ctx.env.now;
    let b = ctx.b();
    let mut text = Vec::new();
    let w = &mut text;
    let id = b.id.as_deref().unwrap_or("(not assigned)");
    writeln!(
        w,
        "{}, build version {}, id {id}",
        ctx.builder_file, b.version
    )?;
    let empty = b.weight_of_one_part().is_err();
    let balance = if empty { 0.0 } else { b.get_balance() };
    let dispersion = b
        .dispersion
        .map_or(String::new(), |d| format!(", {d:.2} dispersion"));
    writeln!(
        w,
        "{} partitions, {:.6} replicas, {} regions, {} zones, {} devices, {}-byte IDs, \
         {balance:.2} balance{dispersion}",
        b.parts(),
        b.replicas,
        count_regions(b),
        count_zones(b),
        b.iter_devs().count(),
        b.dev_id_bytes,
    )?;
    writeln!(
        w,
        "The minimum number of hours before a partition can be reassigned is {} ({} remaining)",
        b.min_part_hours,
        timedelta(b.min_part_seconds_left(now))
    )?;
    writeln!(
        w,
        "The overload factor is {:.2}% ({:.6})",
        b.overload * 100.0,
        b.overload
    )?;
    let status = ring_status(b, &ctx.ring_path());
    let ring = &ctx.ring_file;
    match &status {
        RingStatus::NotFound => writeln!(
            w,
            "Ring file {ring} not found, probably it hasn't been written yet"
        )?,
        RingStatus::Invalid(e) => writeln!(w, "Ring file {ring} is invalid: {e}")?,
        RingStatus::UpToDate => writeln!(w, "Ring file {ring} is up-to-date")?,
        RingStatus::Obsolete => writeln!(w, "Ring file {ring} is obsolete")?,
    }
    write_device_table(w, b)?;
    if let Some(next) = b.next_part_power.filter(|&n| n != 0) {
        if next == b.part_power + 1 {
            writeln!(
                w,
                "\nPreparing increase of partition power ({} -> {next})",
                b.part_power
            )?;
            writeln!(
                w,
                "Run \"swift-object-relinker relink\" on all nodes before moving on to \
                 increase_partition_power."
            )?;
        }
        if next == b.part_power {
            writeln!(
                w,
                "\nIncreased partition power ({} -> {next})",
                b.part_power
            )?;
            if !matches!(status, RingStatus::UpToDate) {
                writeln!(
                    w,
                    "First run \"swift-ring-builder <builderfile> write_ring\" now and copy the \
                     updated .ring.gz file to all nodes."
                )?;
            }
            writeln!(
                w,
                "Run \"swift-object-relinker cleanup\" on all nodes before moving on to \
                 finish_increase_partition_power."
            )?;
        }
    }
    if empty {
        writeln!(
            w,
            "There are no devices in this ring, or all devices have been deleted"
        )?;
    }
    ctx.out.write_all(&text)?;
    Ok(EXIT_SUCCESS)
}

pub fn count_regions(b: &RingBuilder) -> usize {
    let mut r: Vec<u32> = b.iter_devs().map(|d| d.dev.region).collect();
    r.sort_unstable();
    r.dedup();
    r.len()
}

pub fn count_zones(b: &RingBuilder) -> usize {
    let mut z: Vec<(u32, u32)> = b.iter_devs().map(|d| (d.dev.region, d.dev.zone)).collect();
    z.sort_unstable();
    z.dedup();
    z.len()
}

/// The `Devices:` header and one row per device, sorted by region, zone,
/// ip and device name (as strings).
fn write_device_table(w: &mut dyn Write, b: &RingBuilder) -> io::Result<()> {
    let (mut ipw, mut pw, mut ripw, mut rpw, mut ww) = (10, 4, 14, 4, 6);
    let (mut v6, mut rv6) = (false, false);
    for d in b.iter_devs() {
        let d = &d.dev;
        v6 |= is_ipv6(&d.ip);
        rv6 |= is_ipv6(&d.replication_ip);
        ipw = ipw.max(d.ip.chars().count());
        ripw = ripw.max(d.replication_ip.chars().count());
        pw = pw.max(d.port.to_string().len());
        rpw = rpw.max(d.replication_port.to_string().len());
        ww = ww.max(format!("{:6.2}", d.weight).len());
    }
    ipw += if v6 { 2 } else { 0 };
    ripw += if rv6 { 2 } else { 0 };
    writeln!(
        w,
        "Devices:{:>5} {:>6} {:>4} {:>ipw$}:{:<pw$} {:>ripw$}:{:<rpw$} {:>5} {:>ww$} {:>10} {:>7} {:>5} meta",
        "id", "region", "zone", "ip address", "port", "replication ip", "port", "name", "weight",
        "partitions", "balance", "flags"
    )?;
    let balances = b.balance_per_dev();
    let mut devs: Vec<_> = b.iter_devs().collect();
    devs.sort_by(|x, y| {
        let k = |d: &crate::ring::builder::BuilderDevice| {
            (
                d.dev.region,
                d.dev.zone,
                d.dev.ip.clone(),
                d.dev.device.clone(),
            )
        };
        k(x).cmp(&k(y))
    });
    for bd in devs {
        let d = &bd.dev;
        let balance = balances
            .iter()
            .find(|(i, _)| *i == d.id)
            .map_or(0.0, |(_, v)| *v);
        let flags = if b.is_marked_for_removal(d.id) {
            "DEL"
        } else {
            ""
        };
        writeln!(
            w,
            "{:>13} {:>6} {:>4} {:>ipw$}:{:<pw$} {:>ripw$}:{:<rpw$} {:>5} {:>ww$.2} {:>10} {:>7.2} {:>5} {}",
            d.id,
            d.region,
            d.zone,
            bracket(&d.ip),
            d.port,
            bracket(&d.replication_ip),
            d.replication_port,
            d.device,
            d.weight,
            bd.parts,
            balance,
            flags,
            d.meta
        )?;
    }
    Ok(())
}

/// Devices matching a search given as one search value or as options.
/// `Err(code)` when the arguments are unusable (message already printed).
pub fn parse_filter(ctx: &mut Ctx, command: &str) -> io::Result<Result<DevFilter, u8>> {
    let parsed = match ctx.parse_rest(opts::DEVICE_OPTS, None)? {
        Ok(p) => p,
        Err(code) => return Ok(Err(code)),
    };
    let new_format = is_new_format(&parsed);
    if !parsed.args.is_empty() {
        if new_format || parsed.args.len() != 1 {
            writeln!(ctx.out, "{}", super::help::usage(command))?;
            return Ok(Err(EXIT_ERROR));
        }
        return Ok(match parse_search_value(&parsed.args[0]) {
            Ok(f) => Ok(f),
            Err(m) => {
                writeln!(ctx.out, "{m}")?;
                Err(EXIT_ERROR)
            }
        });
    }
    Ok(match filter_from_opts(&parsed) {
        Ok(f) => Ok(f),
        Err(m) => {
            writeln!(ctx.out, "{m}")?;
            Err(EXIT_ERROR)
        }
    })
}

/// The devices matched by any number of search values or, when there are
/// none, by the search options. `Err(code)` when the arguments are unusable
/// (usage or message already printed).
pub fn matched_devs(
    ctx: &mut Ctx,
    command: &str,
    parsed: &opts::Parsed,
) -> io::Result<Result<Vec<u32>, u8>> {
    let filters = if parsed.args.is_empty() {
        vec![filter_from_opts(parsed)]
    } else if is_new_format(parsed) {
        return Ok(Err(ctx.usage(command)?));
    } else {
        parsed.args.iter().map(|a| parse_search_value(a)).collect()
    };
    let mut ids = Vec::new();
    for filter in filters {
        match filter {
            Ok(f) => ids.extend(ctx.b().search_devs(&f)),
            Err(m) => {
                writeln!(ctx.out, "{m}")?;
                return Ok(Err(EXIT_ERROR));
            }
        }
    }
    Ok(Ok(ids))
}

/// Swift's `validate_args`: were any device options given?
pub fn is_new_format(p: &opts::Parsed) -> bool {
    p.int("id").is_some()
        || p.int("region").is_some()
        || p.int("zone").is_some()
        || p.str("ip").is_some_and(|s| !s.is_empty())
        || p.int("port").is_some_and(|v| v != 0)
        || p.str("replication_ip").is_some_and(|s| !s.is_empty())
        || p.int("replication_port").is_some_and(|v| v != 0)
        || p.str("device").is_some_and(|s| !s.is_empty())
        || p.float("weight").is_some()
        || p.str("meta").is_some_and(|s| !s.is_empty())
}

/// Swift's `parse_search_values_from_opts`.
pub fn filter_from_opts(p: &opts::Parsed) -> Result<DevFilter, String> {
    use crate::ring::builder::edit::normalize_address;
    let num = |key: &str, what: &str| -> Result<Option<u32>, String> {
        p.int(key)
            .map(|v| u32::try_from(v).map_err(|_| format!("Invalid {what} {v}")))
            .transpose()
    };
    let port = |key: &str| -> Result<Option<u16>, String> {
        p.int(key)
            .map(|v| u16::try_from(v).map_err(|_| format!("Invalid port {v}")))
            .transpose()
    };
    let addr = |key: &str| -> Result<Option<String>, String> {
        p.str(key)
            .map(|s| {
                if s.is_empty() {
                    Ok(String::new())
                } else {
                    normalize_address(s)
                }
            })
            .transpose()
    };
    Ok(DevFilter {
        id: num("id", "device id")?,
        region: num("region", "region")?,
        zone: num("zone", "zone")?,
        ip: addr("ip")?,
        port: port("port")?,
        replication_ip: addr("replication_ip")?,
        replication_port: port("replication_port")?,
        device: p.str("device").map(String::from),
        weight: p.float("weight"),
        meta: p.str("meta").map(String::from),
    })
}

/// `search`: the matching devices in a fixed-width table.
pub fn search(ctx: &mut Ctx) -> io::Result<u8> {
    if ctx.rest().is_empty() {
        return ctx.usage_with_search("search");
    }
    let filter = match parse_filter(ctx, "search")? {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let ids = ctx.b().search_devs(&filter);
    if ctx.json {
        return js::devices(ctx, &ids);
    }
    if ids.is_empty() {
        writeln!(ctx.out, "No matching devices found")?;
        return Ok(EXIT_ERROR);
    }
    let b = ctx.b();
    let total: f64 = b.iter_devs().map(|d| d.dev.weight).sum();
    if total == 0.0 {
        writeln!(
            ctx.out,
            "There are no devices in this ring, or all devices have been deleted"
        )?;
        return Ok(EXIT_ERROR);
    }
    let weighted_parts = b.parts() as f64 * b.replicas / total;
    let mut text = Vec::new();
    writeln!(
        text,
        "Devices:    id  region  zone      ip address  port  replication ip  replication port      \
         name weight partitions balance meta"
    )?;
    for &id in &ids {
        let Some(bd) = b.dev(id) else { continue };
        let d = &bd.dev;
        let balance = if d.weight == 0.0 {
            if bd.parts > 0 {
                crate::ring::builder::stats::MAX_BALANCE
            } else {
                0.0
            }
        } else {
            100.0 * bd.parts as f64 / (d.weight * weighted_parts) - 100.0
        };
        writeln!(
            text,
            "         {:>5} {:>7} {:>5} {:>15} {:>5} {:>15} {:>17} {:>9} {:>6.2} {:>10} {:>7.2} {}",
            d.id,
            d.region,
            d.zone,
            d.ip,
            d.port,
            d.replication_ip,
            d.replication_port,
            d.device,
            d.weight,
            bd.parts,
            balance,
            d.meta
        )?;
    }
    ctx.out.write_all(&text)?;
    Ok(EXIT_SUCCESS)
}

/// `list_parts`: partitions holding any matched device, most matches first.
pub fn list_parts(ctx: &mut Ctx) -> io::Result<u8> {
    if ctx.rest().is_empty() {
        return ctx.usage_with_search("list_parts");
    }
    if let Some(code) = ctx.require_rebalanced()? {
        return Ok(code);
    }
    let parsed = match ctx.parse_rest(opts::DEVICE_OPTS, None)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let ids = match matched_devs(ctx, "list_parts", &parsed)? {
        Ok(ids) => ids,
        Err(code) => return Ok(code),
    };
    let counts = find_parts(ctx.b(), &ids);
    if ctx.json {
        return js::list_parts(ctx, &ids, &counts);
    }
    if counts.is_empty() {
        writeln!(ctx.out, "No matching devices found")?;
        return Ok(EXIT_ERROR);
    }
    let mut text = Vec::with_capacity(counts.len() * 22);
    writeln!(text, "Partition   Matches")?;
    for (part, count) in counts {
        writeln!(text, "{part:>9}   {count:>7}")?;
    }
    ctx.out.write_all(&text)?;
    Ok(EXIT_SUCCESS)
}

/// `(partition, matching replicas)`, most matches first; ties keep the order
/// partitions were first seen (row by row, ascending), as Swift's stable sort does.
pub fn find_parts(b: &RingBuilder, ids: &[u32]) -> Vec<(usize, u32)> {
    let Some(rows) = b.replica2part2dev.as_ref() else {
        return Vec::new();
    };
    if ids.is_empty() {
        return Vec::new();
    }
    let mut wanted = vec![false; b.devs.len()];
    for &id in ids {
        if let Some(w) = wanted.get_mut(id as usize) {
            *w = true;
        }
    }
    let mut count = vec![0u32; b.parts()];
    let mut order = Vec::new();
    for row in rows {
        for (part, &dev) in row.iter().enumerate() {
            if wanted.get(dev as usize).copied().unwrap_or(false) {
                if count[part] == 0 {
                    order.push(part);
                }
                count[part] += 1;
            }
        }
    }
    let mut out: Vec<(usize, u32)> = order.into_iter().map(|p| (p, count[p])).collect();
    out.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
    out
}

/// A device's JSON form, shared by the JSON views.
pub fn device_json(b: &RingBuilder, id: u32) -> serde_json::Value {
    let Some(bd) = b.dev(id) else {
        return serde_json::Value::Null;
    };
    let d = &bd.dev;
    let balance = b
        .balance_per_dev()
        .into_iter()
        .find(|(i, _)| *i == id)
        .map(|(_, v)| v);
    json!({
        "id": d.id, "region": d.region, "zone": d.zone, "ip": d.ip, "port": d.port,
        "replication_ip": d.replication_ip, "replication_port": d.replication_port,
        "device": d.device, "meta": d.meta, "weight": d.weight, "parts": bd.parts,
        "parts_wanted": bd.parts_wanted, "balance": balance,
        "marked_for_removal": b.is_marked_for_removal(id),
    })
}
