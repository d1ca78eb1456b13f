//! The partition-power increase: `prepare_`, `increase_`, `cancel_` and
//! `finish_increase_partition_power`.

use std::io;

use super::settings::is_object_ring;
use super::Ctx;
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS};

pub fn prepare(ctx: &mut Ctx) -> io::Result<u8> {
    if !is_object_ring(&ctx.builder_file) {
        writeln!(
            ctx.out,
            "Partition power increase is only supported for object rings."
        )?;
        return Ok(EXIT_ERROR);
    }
    if !ctx.b_mut().prepare_increase_partition_power() {
        writeln!(
            ctx.out,
            "Ring is already prepared for partition power increase."
        )?;
        return Ok(EXIT_ERROR);
    }
    if let Some(code) = ctx.save()? {
        return Ok(code);
    }
    let next = ctx.b().next_part_power.unwrap_or_default();
    writeln!(ctx.out, "The next partition power is now {next}.")?;
    writeln!(
        ctx.out,
        "The change will take effect after the next write_ring."
    )?;
    writeln!(
        ctx.out,
        "Ensure your proxy-servers, object-replicators and "
    )?;
    writeln!(
        ctx.out,
        "reconstructors are using the changed rings and relink "
    )?;
    writeln!(ctx.out, "(using swift-object-relinker) your existing data")?;
    writeln!(ctx.out, "before the partition power increase")?;
    Ok(EXIT_SUCCESS)
}

pub fn increase(ctx: &mut Ctx) -> io::Result<u8> {
    match ctx.b_mut().increase_partition_power() {
        Ok(true) => {
            let power = ctx.b().part_power;
            writeln!(ctx.out, "The partition power is now {power}.")?;
            writeln!(
                ctx.out,
                "The change will take effect after the next write_ring."
            )?;
            let now = ctx.env.now;
            ctx.b_mut().update_last_part_moves(now);
            ctx.save_then(EXIT_SUCCESS)
        }
        Ok(false) => {
            writeln!(
                ctx.out,
                "Ring partition power cannot be increased. Either the ring"
            )?;
            writeln!(
                ctx.out,
                "was not prepared yet, or this operation has already run."
            )?;
            Ok(EXIT_ERROR)
        }
        Err(e) => {
            writeln!(ctx.out, "{e}")?;
            Ok(EXIT_ERROR)
        }
    }
}

pub fn cancel(ctx: &mut Ctx) -> io::Result<u8> {
    if !ctx.b_mut().cancel_increase_partition_power() {
        writeln!(ctx.out, "Ring partition power increase cannot be canceled.")?;
        return Ok(EXIT_ERROR);
    }
    if let Some(code) = ctx.save()? {
        return Ok(code);
    }
    let next = ctx.b().next_part_power.unwrap_or_default();
    writeln!(ctx.out, "The next partition power is now {next}.")?;
    writeln!(
        ctx.out,
        "The change will take effect after the next write_ring."
    )?;
    writeln!(
        ctx.out,
        "Ensure your object-servers are using the changed rings and"
    )?;
    writeln!(
        ctx.out,
        "cleanup (using swift-object-relinker) the hard links"
    )?;
    Ok(EXIT_SUCCESS)
}

pub fn finish(ctx: &mut Ctx) -> io::Result<u8> {
    if !ctx.b_mut().finish_increase_partition_power() {
        writeln!(ctx.out, "Ring partition power increase cannot be finished.")?;
        return Ok(EXIT_ERROR);
    }
    writeln!(
        ctx.out,
        "The change will take effect after the next write_ring."
    )?;
    ctx.save_then(EXIT_SUCCESS)
}
