//! `create` and the builder-wide settings: `set_min_part_hours`,
//! `set_replicas`, `set_overload`, `pretend_min_part_hours_passed`.

use std::io;
use std::path::Path;

use super::Ctx;
use crate::cli::devspec::{py_float, py_int, py_repr};
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS, EXIT_WARNING};
use crate::conf::builder_file::{backup_path, ensure_backup_dir};
use crate::ring::builder::RingBuilder;

/// `create <part_power> <replicas> <min_part_hours>`: a new builder, saved
/// with a backup copy.
pub fn create(ctx: &mut Ctx) -> io::Result<u8> {
    let rest = ctx.rest().to_vec();
    if rest.len() < 3 {
        return ctx.usage("create");
    }
    let parsed = py_int(&rest[0]).and_then(|pp| {
        let replicas = py_float(&rest[1])?;
        let mph = py_int(&rest[2])?;
        RingBuilder::new(pp, replicas, mph).map_err(|e| e.to_string())
    });
    let builder = match parsed {
        Ok(b) => b,
        Err(m) => {
            writeln!(ctx.out, "{m}")?;
            return Ok(EXIT_ERROR);
        }
    };
    let path = ctx.builder_path();
    ensure_backup_dir(&path)?;
    ctx.builder = Some(builder);
    if let Some(code) = ctx.save_to(&backup_path(&path, &path, ctx.env.now))? {
        return Ok(code);
    }
    ctx.save_then(EXIT_SUCCESS)
}

/// `pretend_min_part_hours_passed`: let every partition move at the next rebalance.
pub fn pretend_min_part_hours_passed(ctx: &mut Ctx) -> io::Result<u8> {
    ctx.b_mut().pretend_min_part_hours_passed();
    ctx.save_then(EXIT_SUCCESS)
}

/// `set_min_part_hours <hours>`.
pub fn set_min_part_hours(ctx: &mut Ctx) -> io::Result<u8> {
    let Some(text) = ctx.rest().first().cloned() else {
        return ctx.usage("set_min_part_hours");
    };
    let hours = match py_int(&text).and_then(|h| {
        u32::try_from(h).map_err(|_| format!("min_part_hours must be non-negative (was {h})"))
    }) {
        Ok(h) => h,
        Err(m) => {
            writeln!(ctx.out, "{m}")?;
            return Ok(EXIT_ERROR);
        }
    };
    ctx.b_mut().change_min_part_hours(hours);
    writeln!(
        ctx.out,
        "The minimum number of hours before a partition can be reassigned is now set to {text}"
    )?;
    ctx.save_then(EXIT_SUCCESS)
}

/// `set_replicas <count>` (fractional counts allowed).
pub fn set_replicas(ctx: &mut Ctx) -> io::Result<u8> {
    let Some(text) = ctx.rest().first().cloned() else {
        return ctx.usage("set_replicas");
    };
    let replicas = match py_float(&text) {
        Ok(r) if r.is_finite() => r,
        _ => {
            writeln!(ctx.out, "{}", super::help::usage("set_replicas"))?;
            writeln!(ctx.out, "\"{text}\" is not a valid number.")?;
            return Ok(EXIT_ERROR);
        }
    };
    if ctx.b_mut().set_replicas(replicas).is_err() {
        writeln!(ctx.out, "Replica count must be at least 1.")?;
        return Ok(EXIT_ERROR);
    }
    let replicas = ctx.b().replicas;
    writeln!(ctx.out, "The replica count is now {replicas:.6}.")?;
    writeln!(
        ctx.out,
        "The change will take effect after the next rebalance."
    )?;
    ctx.save_then(EXIT_SUCCESS)
}

/// `set_overload <x>[%]`: a fraction, or a percentage with `%`.
pub fn set_overload(ctx: &mut Ctx) -> io::Result<u8> {
    let Some(text) = ctx.rest().first().cloned() else {
        return ctx.usage("set_overload");
    };
    let percent = text.ends_with('%');
    let number = text.trim_end_matches('%');
    let mut overload = match py_float(number) {
        Ok(v) if v.is_finite() => v,
        _ => {
            writeln!(ctx.out, "{}", super::help::usage("set_overload"))?;
            writeln!(ctx.out, "{} is not a valid number.", py_repr(number))?;
            return Ok(EXIT_ERROR);
        }
    };
    if percent {
        overload *= 0.01;
    }
    if overload < 0.0 {
        writeln!(ctx.out, "Overload must be non-negative.")?;
        return Ok(EXIT_ERROR);
    }
    let status = if overload > 1.0 && !percent {
        writeln!(ctx.out, "!?! Warning overload is greater than 100% !?!")?;
        EXIT_WARNING
    } else {
        EXIT_SUCCESS
    };
    let b = ctx.b_mut();
    b.set_overload(overload).map_err(io::Error::other)?;
    let (o, pct) = (b.overload, b.overload * 100.0);
    writeln!(ctx.out, "The overload factor is now {pct:.2}% ({o:.6})")?;
    writeln!(
        ctx.out,
        "The change will take effect after the next rebalance."
    )?;
    ctx.save_then(status)
}

/// Whether `path`'s file name names an object ring (`object` in it).
pub fn is_object_ring(path: &str) -> bool {
    Path::new(path)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("object"))
}
