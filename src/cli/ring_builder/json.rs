//! Machine-readable reports (`--json`, our extension) and the per-tier move
//! report of `rebalance --dry-run`.

use std::io;

use serde_json::{json, Value};

use super::describe::{count_regions, count_zones, device_json, ring_status, RingStatus};
use super::dispersion::Report;
use super::rebalance::Verdict;
use super::Ctx;
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS};
use crate::ring::builder::tiers::tier_name;
use crate::ring::builder::{BuilderError, RingBuilder};

fn emit(ctx: &mut Ctx, v: &Value) -> io::Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
    writeln!(ctx.out, "{text}")
}

/// The describe view as JSON.
pub fn describe(ctx: &mut Ctx) -> io::Result<u8> {
    let b = ctx.b();
    let empty = b.weight_of_one_part().is_err();
    let (status, error) = match ring_status(b, &ctx.ring_path()) {
        RingStatus::UpToDate => ("up-to-date", None),
        RingStatus::Obsolete => ("obsolete", None),
        RingStatus::NotFound => ("not found", None),
        RingStatus::Invalid(e) => ("invalid", Some(e)),
    };
    let devices: Vec<Value> = b.iter_devs().map(|d| device_json(b, d.dev.id)).collect();
    let v = json!({
        "builder_file": ctx.builder_file,
        "id": b.id,
        "version": b.version,
        "part_power": b.part_power,
        "next_part_power": b.next_part_power,
        "partitions": b.parts(),
        "replicas": b.replicas,
        "regions": count_regions(b),
        "zones": count_zones(b),
        "devices_count": b.iter_devs().count(),
        "dev_id_bytes": b.dev_id_bytes,
        "balance": if empty { 0.0 } else { b.get_balance() },
        "dispersion": b.dispersion,
        "min_part_hours": b.min_part_hours,
        "min_part_seconds_left": b.min_part_seconds_left(ctx.env.now),
        "overload": b.overload,
        "rebalanced": b.replica2part2dev.is_some(),
        "ring_file": { "path": ctx.ring_file, "status": status, "error": error },
        "devices": devices,
    });
    emit(ctx, &v)?;
    Ok(EXIT_SUCCESS)
}

/// `search --json`: the matching devices (an empty list exits 2).
pub fn devices(ctx: &mut Ctx, ids: &[u32]) -> io::Result<u8> {
    let b = ctx.b();
    let list: Vec<Value> = ids.iter().map(|&id| device_json(b, id)).collect();
    emit(ctx, &json!({ "devices": list }))?;
    Ok(if ids.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_SUCCESS
    })
}

/// `list_parts --json`.
pub fn list_parts(ctx: &mut Ctx, ids: &[u32], counts: &[(usize, u32)]) -> io::Result<u8> {
    let parts: Vec<Value> = counts
        .iter()
        .map(|&(p, c)| json!({ "partition": p, "matches": c }))
        .collect();
    emit(ctx, &json!({ "devices": ids, "partitions": parts }))?;
    Ok(if counts.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_SUCCESS
    })
}

/// `dispersion --json` (rows only with `-v`).
pub fn dispersion(ctx: &mut Ctx, report: &Report, verbose: bool) -> io::Result<()> {
    let b = ctx.b();
    let worst = crate::ring::builder::worst_tier(&report.rows);
    let rows: Vec<Value> = if verbose {
        report
            .rows
            .iter()
            .map(|r| {
                json!({ "tier": r.name, "parts": r.parts, "percent": r.percent,
                        "max": r.max, "replicas": r.replicas })
            })
            .collect()
    } else {
        Vec::new()
    };
    let v = json!({
        "dispersion": b.dispersion,
        "balance": b.get_balance(),
        "overload": b.overload,
        "required_overload": report.required_overload,
        "worst_tier": worst.map(|w| json!({ "tier": w.name, "percent": w.percent })),
        "tiers": rows,
    });
    emit(ctx, &v)
}

/// `validate --json`.
pub fn validate(ctx: &mut Ctx, result: &Result<(), BuilderError>) -> io::Result<()> {
    let v = match result {
        Ok(()) => json!({ "valid": true }),
        Err(e) => json!({ "valid": false, "error": e.to_string() }),
    };
    emit(ctx, &v)
}

/// Per-tier moves of a rebalance: `(name, depth, gained, lost)`.
fn moves(b: &RingBuilder, outcome: &crate::ring::builder::RebalanceOutcome) -> Vec<Value> {
    outcome
        .moves
        .iter()
        .map(|m| {
            let level = match m.tier {
                crate::ring::builder::Tier::Region(..) => "region",
                crate::ring::builder::Tier::Zone(..) => "zone",
                crate::ring::builder::Tier::Server(..) => "server",
                crate::ring::builder::Tier::Device(..) => "device",
            };
            json!({ "tier": tier_name(&m.tier, b), "level": level,
                    "gained": m.gained, "lost": m.lost })
        })
        .collect()
}

/// `rebalance --json`: what moved, balance, dispersion, messages, and
/// whether anything was saved.
pub fn rebalance(ctx: &mut Ctx, v: &Verdict) -> io::Result<()> {
    let b = ctx.b();
    let body = match &v.outcome {
        Some(o) => json!({
            "changed_parts": o.changed_parts,
            "changed_percent": 100.0 * o.changed_parts as f64 / b.parts() as f64,
            "moved_part_replicas": o.moved_replicas,
            "balance": o.balance,
            "dispersion": o.dispersion,
            "removed_devices": o.removed_devices,
            "min_part_hours_blocked": o.min_part_hours_blocked,
            "moves": moves(b, o),
        }),
        None => json!({}),
    };
    let mut out = json!({
        "dry_run": v.dry_run,
        "saved": v.saved,
        "exit_code": v.code,
        "messages": v.messages,
    });
    if let (Value::Object(o), Value::Object(extra)) = (&mut out, body) {
        o.extend(extra);
    }
    emit(ctx, &out)
}

/// The `--dry-run` text report: part-replicas gained and lost per region,
/// zone, server and device (tiers that did not change are left out).
pub fn write_moves_text(
    ctx: &mut Ctx,
    work: &RingBuilder,
    outcome: &crate::ring::builder::RebalanceOutcome,
) -> io::Result<()> {
    let rows: Vec<(String, u64, u64)> = outcome
        .moves
        .iter()
        .filter(|m| m.gained > 0 || m.lost > 0)
        .map(|m| (tier_name(&m.tier, work), m.gained, m.lost))
        .collect();
    let tw = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(30);
    writeln!(
        ctx.out,
        "Dry run: nothing was saved. Part-replicas that would move:"
    )?;
    writeln!(ctx.out, "{:<tw$} {:>10} {:>10}", "Tier", "Gained", "Lost")?;
    for (name, gained, lost) in rows {
        writeln!(ctx.out, "{name:<tw$} {gained:>10} {lost:>10}")?;
    }
    Ok(())
}
