//! The partition-power increase: `prepare_`, `increase_`, `cancel_` and
//! `finish_increase_partition_power`.

use std::io;

use super::settings::is_object_ring;
use super::Ctx;
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS};

const TAKES_EFFECT: &str = "The change will take effect after the next write_ring.";

pub fn prepare(ctx: &mut Ctx) -> io::Result<u8> {
    if !is_object_ring(&ctx.builder_file) {
        return refuse(
            ctx,
            "Partition power increase is only supported for object rings.",
        );
    }
    if !ctx.b_mut().prepare_increase_partition_power() {
        return refuse(
            ctx,
            "Ring is already prepared for partition power increase.",
        );
    }
    save_next_power(
        ctx,
        concat!(
            "Ensure your proxy-servers, object-replicators and \n",
            "reconstructors are using the changed rings and relink \n",
            "(using swift-object-relinker) your existing data\n",
            "before the partition power increase",
        ),
    )
}

pub fn increase(ctx: &mut Ctx) -> io::Result<u8> {
    match ctx.b_mut().increase_partition_power() {
        Ok(true) => {
            let power = ctx.b().part_power;
            writeln!(ctx.out, "The partition power is now {power}.")?;
            writeln!(ctx.out, "{TAKES_EFFECT}")?;
            let now = ctx.env.now;
            ctx.b_mut().update_last_part_moves(now);
            ctx.save_then(EXIT_SUCCESS)
        }
        Ok(false) => refuse(
            ctx,
            concat!(
                "Ring partition power cannot be increased. Either the ring\n",
                "was not prepared yet, or this operation has already run.",
            ),
        ),
        Err(e) => refuse(ctx, &e.to_string()),
    }
}

pub fn cancel(ctx: &mut Ctx) -> io::Result<u8> {
    if !ctx.b_mut().cancel_increase_partition_power() {
        return refuse(ctx, "Ring partition power increase cannot be canceled.");
    }
    save_next_power(
        ctx,
        concat!(
            "Ensure your object-servers are using the changed rings and\n",
            "cleanup (using swift-object-relinker) the hard links",
        ),
    )
}

pub fn finish(ctx: &mut Ctx) -> io::Result<u8> {
    if !ctx.b_mut().finish_increase_partition_power() {
        return refuse(ctx, "Ring partition power increase cannot be finished.");
    }
    writeln!(ctx.out, "{TAKES_EFFECT}")?;
    ctx.save_then(EXIT_SUCCESS)
}

/// Saves the builder, then says what the next partition power now is and
/// what operators must do before it counts.
fn save_next_power(ctx: &mut Ctx, advice: &str) -> io::Result<u8> {
    if let Some(code) = ctx.save()? {
        return Ok(code);
    }
    let next = ctx.b().next_part_power.unwrap_or_default();
    writeln!(ctx.out, "The next partition power is now {next}.")?;
    writeln!(ctx.out, "{TAKES_EFFECT}")?;
    writeln!(ctx.out, "{advice}")?;
    Ok(EXIT_SUCCESS)
}

/// The builder is left as it was: `msg` and an error exit.
fn refuse(ctx: &mut Ctx, msg: &str) -> io::Result<u8> {
    writeln!(ctx.out, "{msg}")?;
    Ok(EXIT_ERROR)
}
