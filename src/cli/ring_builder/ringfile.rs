//! Ring files: `write_ring`, `write_builder` (recover a builder from a
//! ring) and `version`.

use std::io;
use std::path::Path;

use super::opts::{self, Kind, Opt};
use super::Ctx;
use crate::cli::devspec::py_int;
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS};
use crate::conf::builder_file::backup_path;
use crate::conf::ring_file::{load_ring, load_ring_with_format, save_ring};
use crate::ring::builder::RingBuilder;
use crate::ring::codec::RingFormat;

/// The notice printed when no `--format-version` is given.
pub const DEFAULT_FORMAT_NOTICE: &str = "Defaulting to --format-version=1. This ensures the ring\n\
     written will be readable by older versions of Swift.\n\
     In a future release, the default will change to\n\
     --format-version=2\n";

pub const FORMAT_OPT: Opt = Opt {
    short: None,
    long: "format-version",
    kind: Kind::Choice(&["1", "2"]),
    dest: "format_version",
};

/// The requested ring format; prints the v1 notice when none was given.
pub fn format_from(ctx: &mut Ctx, p: &opts::Parsed) -> io::Result<RingFormat> {
    Ok(match p.str("format_version") {
        Some("2") => RingFormat::V2,
        Some(_) => RingFormat::V1,
        None => {
            writeln!(ctx.out, "{DEFAULT_FORMAT_NOTICE}")?;
            RingFormat::V1
        }
    })
}

/// Writes the builder's ring to `backups/<now>.<ring>` and to the ring file.
pub fn save_ring_with_backup(ctx: &mut Ctx, format: RingFormat) -> io::Result<Result<(), String>> {
    let ring = ctx.b().get_ring();
    let backup = backup_path(&ctx.builder_path(), &ctx.ring_path(), ctx.env.now);
    let result =
        save_ring(&backup, &ring, format).and_then(|_| save_ring(ctx.ring_path(), &ring, format));
    Ok(result.map_err(|e| e.error.to_string()))
}

/// `write_ring [--format-version {1,2}] [--dev-id-bytes {2,4}]`.
pub fn write_ring(ctx: &mut Ctx) -> io::Result<u8> {
    const SPEC: &[Opt] = &[
        FORMAT_OPT,
        Opt {
            short: None,
            long: "dev-id-bytes",
            kind: Kind::Choice(&["2", "4"]),
            dest: "dev_id_bytes",
        },
    ];
    let parsed = match ctx.parse_rest(SPEC, Some("write_ring"))? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let format = format_from(ctx, &parsed)?;
    if ctx.b().devs.is_empty() {
        writeln!(ctx.out, "Unable to write empty ring.")?;
        return Ok(EXIT_ERROR);
    }
    if let Some(bytes) = parsed.str("dev_id_bytes") {
        let bytes = if bytes == "4" { 4 } else { 2 };
        let b = ctx.b_mut();
        let widest = b.devs.len().saturating_sub(1) as u64;
        if bytes == 2 && widest >= 0xFFFF {
            writeln!(ctx.out, "Device ids do not fit in 2 bytes")?;
            return Ok(EXIT_ERROR);
        }
        b.set_dev_id_bytes(bytes);
        if b.replica2part2dev.is_none() {
            b.dev_id_bytes = bytes;
        }
    }
    if ctx.b().replica2part2dev.as_ref().is_none_or(Vec::is_empty) {
        writeln!(
            ctx.err,
            "WARNING: Writing a ring with no partition assignments but with devices; did you \
             forget to run \"rebalance\"?"
        )?;
    }
    match save_ring_with_backup(ctx, format)? {
        Ok(()) => Ok(EXIT_SUCCESS),
        Err(m) => {
            writeln!(ctx.out, "{m}")?;
            Ok(EXIT_ERROR)
        }
    }
}

/// `write_builder [min_part_hours]`: rebuild a lost builder from its ring.
pub fn write_builder(ctx: &mut Ctx) -> io::Result<u8> {
    let builder_path = ctx.builder_path();
    if builder_path.exists() {
        writeln!(
            ctx.out,
            "Cowardly refusing to overwrite existing Ring Builder file: {}",
            ctx.builder_file
        )?;
        return Ok(EXIT_ERROR);
    }
    let min_part_hours = match ctx.rest().first() {
        Some(text) => match py_int(text).and_then(|h| {
            u32::try_from(h).map_err(|_| format!("min_part_hours must be non-negative (was {h})"))
        }) {
            Ok(h) => h,
            Err(m) => {
                writeln!(ctx.out, "{m}")?;
                return Ok(EXIT_ERROR);
            }
        },
        None => {
            writeln!(
                ctx.err,
                "WARNING: default min_part_hours may not match the value in the lost builder.\n"
            )?;
            24
        }
    };
    let ring = match load_ring(ctx.ring_path()) {
        Ok(r) => r,
        Err(e) => {
            writeln!(ctx.out, "{e}")?;
            return Ok(EXIT_ERROR);
        }
    };
    if ring.replica2part2dev.is_empty() {
        writeln!(
            ctx.out,
            "Ring file {} has no partition assignments",
            ctx.ring_file
        )?;
        return Ok(EXIT_ERROR);
    }
    match RingBuilder::from_ring(&ring, ring.replica_count(), min_part_hours) {
        Ok(b) => ctx.builder = Some(b),
        Err(e) => {
            writeln!(ctx.out, "{e}")?;
            return Ok(EXIT_ERROR);
        }
    }
    ctx.save_then(EXIT_SUCCESS)
}

/// `<ring> version`: the ring file's format, id width and build version.
pub fn version(ctx: &mut Ctx) -> io::Result<u8> {
    let path = ctx.ring_path();
    match load_ring_with_format(Path::new(&path)) {
        Ok((ring, format)) => {
            writeln!(
                ctx.out,
                "{}: Serialization version: {} ({}-byte IDs), build version: {}",
                ctx.ring_file,
                format.number(),
                ring.dev_id_bytes,
                ring.version.unwrap_or(0)
            )?;
            Ok(EXIT_SUCCESS)
        }
        Err(e) => {
            writeln!(ctx.out, "{e}")?;
            Ok(EXIT_ERROR)
        }
    }
}
