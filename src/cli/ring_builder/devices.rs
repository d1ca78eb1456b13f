//! Device edits: `add`, `set_weight`, `set_region`, `set_zone`, `set_info`, `remove`.
//!
//! Every command parses all of its arguments first and saves only if every
//! change succeeded, so a bad argument leaves the builder file untouched.

use std::io;

use super::common::{check_devs, format_device, py_float};
use super::describe::{filter_from_opts, is_new_format, matched_devs};
use super::{opts, Ctx};
use crate::cli::devspec::{self, parse_add_value, parse_change_value, parse_search_value};
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS};
use crate::ring::builder::edit::normalize_address;
use crate::ring::builder::{DeviceInfo, NewDevice};

const UNCHANGED: &str = "The on-disk ring builder is unchanged.";

/// `add`: positional `<add value> <weight>` pairs, or the option form.
pub fn add(ctx: &mut Ctx) -> io::Result<u8> {
    if ctx.rest().len() < 2 {
        return ctx.usage("add");
    }
    if let Some(code) = refuse_during_part_power_increase(ctx, "adding")? {
        return Ok(code);
    }
    let parsed = match ctx.parse_rest(opts::DEVICE_OPTS, None)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let new_devs = if !parsed.args.is_empty() {
        if is_new_format(&parsed) || parsed.args.len() % 2 != 0 {
            return ctx.usage("add");
        }
        let mut devs = Vec::new();
        for pair in parsed.args.chunks(2) {
            match parse_pair(ctx, &pair[0], &pair[1])? {
                Ok(d) => devs.push(d),
                Err(m) => return failed(ctx, &m),
            }
        }
        devs
    } else {
        match dev_from_opts(&parsed) {
            Ok(d) => vec![d],
            Err(m) => return failed(ctx, &m),
        }
    };
    for new in new_devs {
        let clash = ctx
            .b()
            .iter_devs()
            .find(|d| d.dev.ip == new.ip && d.dev.port == new.port && d.dev.device == new.device);
        if let Some(d) = clash.map(|d| d.dev.clone()) {
            writeln!(
                ctx.out,
                "Device {} already uses {}:{}/{}.",
                d.id, d.ip, d.port, d.device
            )?;
            writeln!(ctx.out, "{UNCHANGED}\n")?;
            return Ok(EXIT_ERROR);
        }
        let weight = new.weight;
        let id = match ctx.b_mut().add_dev(new) {
            Ok(id) => id,
            Err(e) => return failed(ctx, &e.to_string()),
        };
        let shown = format_device(&ctx.b().dev(id).expect("just added").dev);
        writeln!(
            ctx.out,
            "Device {shown} with {} weight got id {id}",
            py_float(weight)
        )?;
    }
    ctx.save_then(EXIT_SUCCESS)
}

/// Devices are neither added nor removed while the partition power is being
/// increased; `Some(code)` when that refusal was printed.
fn refuse_during_part_power_increase(ctx: &mut Ctx, doing: &str) -> io::Result<Option<u8>> {
    if ctx.b().next_part_power.is_none_or(|n| n == 0) {
        return Ok(None);
    }
    writeln!(ctx.out, "Partition power increase in progress. You need ")?;
    writeln!(
        ctx.out,
        "to finish the increase first before {doing} devices."
    )?;
    Ok(Some(EXIT_ERROR))
}

fn failed(ctx: &mut Ctx, msg: &str) -> io::Result<u8> {
    writeln!(ctx.out, "{msg}")?;
    writeln!(ctx.out, "{UNCHANGED}")?;
    Ok(EXIT_ERROR)
}

/// One positional `<add value> <weight>` pair (warns when the region is missing).
fn parse_pair(ctx: &mut Ctx, value: &str, weight: &str) -> io::Result<Result<NewDevice, String>> {
    let a = match parse_add_value(value) {
        Ok(a) => a,
        Err(m) => return Ok(Err(m)),
    };
    let region = match a.region {
        Some(r) => r,
        None => {
            writeln!(
                ctx.err,
                "WARNING: No region specified for {value}. Defaulting to region 1.\n"
            )?;
            1
        }
    };
    let weight = match devspec::py_float(weight) {
        Ok(w) => w,
        Err(m) => return Ok(Err(m)),
    };
    if weight < 0.0 || !weight.is_finite() {
        return Ok(Err(format!("Invalid weight value: {value}")));
    }
    Ok(Ok(NewDevice {
        id: None,
        region,
        zone: a.zone,
        replication_ip: a.replication_ip.unwrap_or_else(|| a.ip.clone()),
        replication_port: a.replication_port.unwrap_or(a.port),
        ip: a.ip,
        port: a.port,
        device: a.device,
        meta: a.meta,
        weight,
    }))
}

/// Swift's `build_dev_from_opts`.
fn dev_from_opts(p: &opts::Parsed) -> Result<NewDevice, String> {
    for (key, short, long) in [
        ("region", "-r", "--region"),
        ("zone", "-z", "--zone"),
        ("ip", "-i", "--ip"),
        ("port", "-p", "--port"),
        ("device", "-d", "--device"),
        ("weight", "-w", "--weight"),
    ] {
        if !p.values.contains_key(key) {
            return Err(format!("Required argument {short}/{long} not specified."));
        }
    }
    let ip_text = p.str("ip").unwrap_or_default();
    let ip = normalize_address(ip_text)?;
    let rip_text = p
        .str("replication_ip")
        .filter(|s| !s.is_empty())
        .unwrap_or(ip_text);
    let replication_ip = normalize_address(rip_text)?;
    let port = to_port(p.int("port").unwrap_or_default())?;
    let replication_port = match p.int("replication_port").filter(|&v| v != 0) {
        Some(v) => to_port(v)?,
        None => port,
    };
    let device = p.str("device").unwrap_or_default().to_string();
    if !devspec::valid_device_name(&device) {
        return Err("Invalid device name".into());
    }
    let weight = p.float("weight").unwrap_or_default();
    if weight < 0.0 || !weight.is_finite() {
        return Err(format!("Invalid weight value: {weight}"));
    }
    Ok(NewDevice {
        id: None,
        region: to_u32(p.int("region").unwrap_or_default(), "region")?,
        zone: to_u32(p.int("zone").unwrap_or_default(), "zone")?,
        ip,
        port,
        replication_ip,
        replication_port,
        device,
        meta: p.str("meta").unwrap_or_default().to_string(),
        weight,
    })
}

fn to_port(v: i64) -> Result<u16, String> {
    u16::try_from(v).map_err(|_| format!("Invalid port {v}"))
}

fn to_u32(v: i64, what: &str) -> Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("Invalid {what} {v}"))
}

/// Which property a `set_*` command changes.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    Weight,
    Region,
    Zone,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Weight => "weight",
            Field::Region => "region",
            Field::Zone => "zone",
        }
    }

    fn command(self) -> &'static str {
        match self {
            Field::Weight => "set_weight",
            Field::Region => "set_region",
            Field::Zone => "set_zone",
        }
    }
}

pub fn set_weight(ctx: &mut Ctx) -> io::Result<u8> {
    set_field(ctx, Field::Weight)
}

pub fn set_region(ctx: &mut Ctx) -> io::Result<u8> {
    set_field(ctx, Field::Region)
}

pub fn set_zone(ctx: &mut Ctx) -> io::Result<u8> {
    set_field(ctx, Field::Zone)
}

/// `set_weight` / `set_region` / `set_zone`: `<search> <value>` pairs or options + value.
fn set_field(ctx: &mut Ctx, field: Field) -> io::Result<u8> {
    if ctx.rest().len() < 2 {
        return ctx.usage_with_search(field.command());
    }
    let parsed = match ctx.parse_rest(opts::DEVICE_OPTS, None)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let yes = parsed.flag("yes");
    let mut steps: Vec<(Vec<u32>, String)> = Vec::new();
    if !is_new_format(&parsed) {
        if parsed.args.len() % 2 != 0 {
            return ctx.usage(field.command());
        }
        for pair in parsed.args.chunks(2) {
            let filter = match parse_search_value(&pair[0]) {
                Ok(f) => f,
                Err(m) => return message(ctx, &m),
            };
            steps.push((ctx.b().search_devs(&filter), pair[1].clone()));
        }
    } else {
        if parsed.args.len() != 1 {
            return ctx.usage(field.command());
        }
        let filter = match filter_from_opts(&parsed) {
            Ok(f) => f,
            Err(m) => return message(ctx, &m),
        };
        steps.push((ctx.b().search_devs(&filter), parsed.args[0].clone()));
    }
    for (ids, value) in steps {
        if let Some(code) = apply_field(ctx, field, &ids, &value, yes)? {
            return Ok(code);
        }
    }
    ctx.save_then(EXIT_SUCCESS)
}

fn message(ctx: &mut Ctx, msg: &str) -> io::Result<u8> {
    writeln!(ctx.out, "{msg}")?;
    Ok(EXIT_ERROR)
}

/// Confirms and applies one value to the matched devices.
fn apply_field(
    ctx: &mut Ctx,
    field: Field,
    ids: &[u32],
    value: &str,
    yes: bool,
) -> io::Result<Option<u8>> {
    enum Parsed {
        Weight(f64),
        Int(u32),
    }
    let parsed = match field {
        Field::Weight => match devspec::py_float(value) {
            Ok(w) if w.is_finite() && w >= 0.0 => Parsed::Weight(w),
            Ok(w) => return message(ctx, &format!("Invalid weight {}", py_float(w))).map(Some),
            Err(m) => return message(ctx, &m).map(Some),
        },
        Field::Region | Field::Zone => {
            match devspec::py_int(value).and_then(|v| to_u32(v, field.name())) {
                Ok(v) => Parsed::Int(v),
                Err(m) => return message(ctx, &m).map(Some),
            }
        }
    };
    let question = format!(
        "Are you sure you want to update the {} for these {} devices? (y/N) ",
        field.name(),
        ids.len()
    );
    if let Some(code) = check_devs(ctx, ids, &question, "Aborting device modifications", yes)? {
        return Ok(Some(code));
    }
    for &id in ids {
        let b = ctx.b_mut();
        let result = match parsed {
            Parsed::Weight(w) => b.set_dev_weight(id, w),
            Parsed::Int(v) if field == Field::Region => b.set_dev_region(id, v),
            Parsed::Int(v) => b.set_dev_zone(id, v),
        };
        if let Err(e) = result {
            return message(ctx, &e.to_string()).map(Some);
        }
        let d = &ctx.b().dev(id).expect("matched device").dev;
        let shown = match field {
            Field::Weight => py_float(d.weight),
            Field::Region => d.region.to_string(),
            Field::Zone => d.zone.to_string(),
        };
        let line = format!("{} {} set to {shown}", format_device(d), field.name());
        writeln!(ctx.out, "{line}")?;
    }
    Ok(None)
}

/// `set_info`: change address, port, name or meta of matched devices.
pub fn set_info(ctx: &mut Ctx) -> io::Result<u8> {
    if ctx.rest().len() < 2 {
        return ctx.usage_with_search("set_info");
    }
    let parsed = match ctx.parse_rest(opts::DEVICE_OPTS, None)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let yes = parsed.flag("yes");
    let mut steps = Vec::new();
    if !is_new_format(&parsed) {
        if parsed.args.len() % 2 != 0 {
            // Swift prints the search usage here.
            return ctx.usage("search");
        }
        for pair in parsed.args.chunks(2) {
            let filter = match parse_search_value(&pair[0]) {
                Ok(f) => f,
                Err(m) => return message(ctx, &m),
            };
            let change = match parse_change_value(&pair[1]) {
                Ok(c) => c,
                Err(m) => return message(ctx, &m),
            };
            steps.push((ctx.b().search_devs(&filter), change));
        }
    } else {
        let filter = match filter_from_opts(&parsed) {
            Ok(f) => f,
            Err(m) => return message(ctx, &m),
        };
        let change = match change_from_opts(&parsed) {
            Ok(c) => c,
            Err(m) => return message(ctx, &m),
        };
        steps.push((ctx.b().search_devs(&filter), change));
    }
    for (ids, change) in steps {
        let question = format!(
            "Are you sure you want to update the info for these {} devices? (y/N) ",
            ids.len()
        );
        if let Some(code) = check_devs(ctx, &ids, &question, "Aborting device modifications", yes)?
        {
            return Ok(code);
        }
        for id in ids {
            let old = ctx.b().dev(id).expect("matched device").dev.clone();
            let info = DeviceInfo {
                ip: change.ip.clone().unwrap_or_else(|| old.ip.clone()),
                port: change.port.unwrap_or(old.port),
                replication_ip: change
                    .replication_ip
                    .clone()
                    .unwrap_or_else(|| old.replication_ip.clone()),
                replication_port: change.replication_port.unwrap_or(old.replication_port),
                device: change.device.clone().unwrap_or_else(|| old.device.clone()),
                meta: change.meta.clone().unwrap_or_else(|| old.meta.clone()),
            };
            let clash = ctx.b().iter_devs().find(|d| {
                d.dev.id != id
                    && d.dev.ip == info.ip
                    && d.dev.port == info.port
                    && d.dev.device == info.device
            });
            if let Some(d) = clash.map(|d| d.dev.clone()) {
                writeln!(
                    ctx.out,
                    "Device {} already uses {}:{}/{}.",
                    d.id, d.ip, d.port, d.device
                )?;
                return Ok(EXIT_ERROR);
            }
            if let Err(e) = ctx.b_mut().set_dev_info(id, info) {
                return message(ctx, &e.to_string());
            }
            let new = format_device(&ctx.b().dev(id).expect("matched device").dev);
            writeln!(ctx.out, "Device {} is now {new}", format_device(&old))?;
        }
    }
    ctx.save_then(EXIT_SUCCESS)
}

/// Swift's `parse_change_values_from_opts` (empty values change nothing).
fn change_from_opts(p: &opts::Parsed) -> Result<devspec::ChangeValue, String> {
    let text = |k: &str| p.str(k).filter(|s| !s.is_empty());
    let addr = |k: &str| text(k).map(normalize_address).transpose();
    let port = |k: &str| p.int(k).filter(|&v| v != 0).map(to_port).transpose();
    Ok(devspec::ChangeValue {
        ip: addr("change_ip")?,
        port: port("change_port")?,
        replication_ip: addr("change_replication_ip")?,
        replication_port: port("change_replication_port")?,
        device: text("change_device").map(String::from),
        meta: text("change_meta").map(String::from),
    })
}

/// `remove`: mark matched devices for removal at the next rebalance.
pub fn remove(ctx: &mut Ctx) -> io::Result<u8> {
    if ctx.rest().is_empty() {
        return ctx.usage_with_search("remove");
    }
    if let Some(code) = refuse_during_part_power_increase(ctx, "removing")? {
        return Ok(code);
    }
    let parsed = match ctx.parse_rest(opts::DEVICE_OPTS, None)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let ids = match matched_devs(ctx, "remove", &parsed)? {
        Ok(ids) => ids,
        Err(code) => return Ok(code),
    };
    let question = format!(
        "Are you sure you want to remove these {} devices? (y/N) ",
        ids.len()
    );
    if let Some(code) = check_devs(
        ctx,
        &ids,
        &question,
        "Aborting device removals",
        parsed.flag("yes"),
    )? {
        return Ok(code);
    }
    for id in ids {
        if let Err(e) = ctx.b_mut().remove_dev(id) {
            return message(ctx, &e.to_string());
        }
        let shown = format_device(&ctx.b().dev(id).expect("matched device").dev);
        writeln!(
            ctx.out,
            "{shown} marked for removal and will be removed next rebalance."
        )?;
    }
    ctx.save_then(EXIT_SUCCESS)
}
