//! `rebalance`: run the builder's rebalance, decide like Swift whether the
//! result is worth saving, then write backups, the ring and the builder.
//! `--dry-run` reports what would move and saves nothing; `--json` reports
//! for scripts. A progress bar appears on a terminal's stderr when the
//! rebalance runs longer than a second.

use std::io;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::common::timedelta;
use super::opts::{Kind, Opt};
use super::ringfile::{format_from, save_ring_with_backup, FORMAT_OPT};
use super::{json as js, Ctx};
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS, EXIT_WARNING};
use crate::conf::builder_file::{backup_path, save_builder};
use crate::ring::builder::stats::MAX_BALANCE;
use crate::ring::builder::{BuilderError, RebalanceOutcome};

const RULE: &str =
    "-------------------------------------------------------------------------------";

/// What the command decided, for the text and JSON reports.
pub struct Verdict {
    pub outcome: Option<RebalanceOutcome>,
    pub code: u8,
    pub saved: bool,
    pub dry_run: bool,
    /// The lines Swift prints (notices, warnings), without the rules.
    pub messages: Vec<String>,
}

/// The RNG for a rebalance: seeded from the `--seed` text (any string, as
/// Swift accepts), or from the OS when no seed is given.
pub fn rng_for(seed: Option<&str>) -> ChaCha8Rng {
    match seed {
        Some(s) => ChaCha8Rng::from_seed(Sha256::digest(s.as_bytes()).into()),
        None => ChaCha8Rng::from_entropy(),
    }
}

pub fn rebalance(ctx: &mut Ctx) -> io::Result<u8> {
    const SPEC: &[Opt] = &[
        Opt {
            short: Some('f'),
            long: "force",
            kind: Kind::Flag,
            dest: "force",
        },
        Opt {
            short: Some('s'),
            long: "seed",
            kind: Kind::Str,
            dest: "seed",
        },
        Opt {
            short: Some('d'),
            long: "debug",
            kind: Kind::Flag,
            dest: "debug",
        },
        Opt {
            short: Some('v'),
            long: "verbose",
            kind: Kind::Flag,
            dest: "debug",
        },
        FORMAT_OPT,
        Opt {
            short: None,
            long: "dry-run",
            kind: Kind::Flag,
            dest: "dry_run",
        },
    ];
    let parsed = match ctx.parse_rest(SPEC, Some("rebalance"))? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let format = if ctx.json {
        match parsed.str("format_version") {
            Some("2") => crate::ring::codec::RingFormat::V2,
            _ => crate::ring::codec::RingFormat::V1,
        }
    } else {
        format_from(ctx, &parsed)?
    };
    let seed = parsed
        .str("seed")
        .filter(|s| !s.is_empty())
        .or_else(|| parsed.args.first().map(String::as_str))
        .map(String::from);
    let dry_run = parsed.flag("dry_run");
    let verdict = decide(
        ctx,
        seed.as_deref(),
        parsed.flag("force"),
        dry_run,
        parsed.flag("debug"),
        format,
    )?;
    if ctx.json {
        js::rebalance(ctx, &verdict)?;
    }
    Ok(verdict.code)
}

fn decide(
    ctx: &mut Ctx,
    seed: Option<&str>,
    force: bool,
    dry_run: bool,
    debug: bool,
    format: crate::ring::codec::RingFormat,
) -> io::Result<Verdict> {
    let mut v = Verdict {
        outcome: None,
        code: EXIT_SUCCESS,
        saved: false,
        dry_run,
        messages: Vec::new(),
    };
    let json = ctx.json;
    let say = |ctx: &mut Ctx, v: &mut Verdict, line: String| -> io::Result<()> {
        if !json {
            writeln!(ctx.out, "{line}")?;
        }
        v.messages.push(line);
        Ok(())
    };
    if ctx.b().next_part_power.is_some_and(|n| n != 0) {
        say(ctx, &mut v, "Partition power increase in progress.".into())?;
        say(
            ctx,
            &mut v,
            "You need to finish the increase first before rebalancing.".into(),
        )?;
        v.code = EXIT_ERROR;
        return Ok(v);
    }
    let now = ctx.env.now;
    let devs_changed = ctx.b().devs_changed;
    let last_balance = ctx.b().get_balance();
    let last_dispersion = ctx.b().dispersion;
    let mut work = ctx.b().clone();
    let mut rng = rng_for(seed);
    let outcome = {
        let mut progress = Progress::new(ctx.env.stderr_is_terminal && !json);
        let result = work.rebalance_with_progress(now, &mut rng, &mut |done, total| {
            progress.update(done, total)
        });
        progress.finish();
        result
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            validation_block(ctx, &mut v, &e, json)?;
            return Ok(v);
        }
    };
    if debug && !json {
        for m in &outcome.moves {
            let name = crate::ring::builder::tiers::tier_name(&m.tier, &work);
            writeln!(ctx.out, "DEBUG: {name} gained {} lost {}", m.gained, m.lost)?;
        }
    }
    let (parts, balance) = (outcome.changed_parts, outcome.balance);
    v.outcome = Some(outcome.clone());
    if parts == 0 && !force && outcome.removed_devices == 0 {
        say(ctx, &mut v, "No partitions could be reassigned.".into())?;
        let line = if outcome.min_part_hours_blocked {
            format!(
                "The time between rebalances must be at least min_part_hours: {} hours ({} remaining)",
                work.min_part_hours,
                timedelta(work.min_part_seconds_left(now))
            )
        } else {
            "There is no need to do so at this time".into()
        };
        say(ctx, &mut v, line)?;
        v.code = EXIT_WARNING;
        return Ok(v);
    }
    let dispersion = work.dispersion.unwrap_or(0.0);
    let cowardly = !force && !devs_changed && {
        let balance_changed = (last_balance - balance).abs() >= 1.0
            || (last_balance == MAX_BALANCE && balance == MAX_BALANCE);
        let dispersion_changed = last_dispersion.is_none_or(|d| (d - dispersion).abs() >= 1.0);
        !(balance_changed || dispersion_changed)
    };
    if cowardly {
        say(
            ctx,
            &mut v,
            "Cowardly refusing to save rebalance as it did not change at least 1%.".into(),
        )?;
        v.code = EXIT_WARNING;
        return Ok(v);
    }
    if let Err(e) = work.validate() {
        validation_block(ctx, &mut v, &e, json)?;
        return Ok(v);
    }
    let pct = 100.0 * parts as f64 / work.parts() as f64;
    let verb = if dry_run {
        "Would reassign"
    } else {
        "Reassigned"
    };
    say(
        ctx,
        &mut v,
        format!("{verb} {parts} ({pct:.2}%) partitions. Balance is now {balance:.2}.  Dispersion is now {dispersion:.2}"),
    )?;
    if dispersion > 0.0 {
        rule(ctx, json)?;
        say(ctx, &mut v, format!("NOTE: Dispersion of {dispersion:.6} indicates some parts are not\n      optimally dispersed.\n\n      You may want to adjust some device weights, increase\n      the overload or review the dispersion report."))?;
        rule(ctx, json)?;
        v.code = EXIT_WARNING;
    } else if balance > 5.0 && balance / 100.0 > work.overload {
        rule(ctx, json)?;
        say(
            ctx,
            &mut v,
            format!("NOTE: Balance of {balance:.2} indicates you should push this "),
        )?;
        say(
            ctx,
            &mut v,
            format!(
                "      ring, wait at least {} hours, and rebalance/repush.",
                work.min_part_hours
            ),
        )?;
        rule(ctx, json)?;
        v.code = EXIT_WARNING;
    }
    if dry_run {
        if !json {
            js::write_moves_text(ctx, &work, &outcome)?;
        }
        return Ok(v);
    }
    ctx.builder = Some(work);
    if let Err(m) = save_ring_with_backup(ctx, format)? {
        writeln!(ctx.out, "{m}")?;
        v.code = EXIT_ERROR;
        return Ok(v);
    }
    let path = ctx.builder_path();
    let backup = backup_path(&path, &path, now);
    let b = ctx.b_mut();
    if let Err(e) = save_builder(b, &backup).and_then(|_| save_builder(b, &path)) {
        writeln!(
            ctx.out,
            "Unable to save builder file {}: {e}",
            ctx.builder_file
        )?;
        v.code = EXIT_ERROR;
        return Ok(v);
    }
    v.saved = true;
    Ok(v)
}

fn rule(ctx: &mut Ctx, json: bool) -> io::Result<()> {
    if !json {
        writeln!(ctx.out, "{RULE}")?;
    }
    Ok(())
}

/// Swift's block for a `RingBuilderError`; exit 2.
fn validation_block(
    ctx: &mut Ctx,
    v: &mut Verdict,
    e: &BuilderError,
    json: bool,
) -> io::Result<()> {
    let msg = format!(
        "An error has occurred during ring validation. Common\ncauses of failure are rings that \
         are empty or do not\nhave enough devices to accommodate the replica count.\nOriginal \
         exception message:\n {e}"
    );
    if !json {
        writeln!(ctx.out, "{RULE}\n{msg}\n{RULE}")?;
    }
    v.messages.push(msg);
    v.code = EXIT_ERROR;
    Ok(())
}

/// A progress bar on stderr, shown only on a terminal and only once the
/// rebalance has run for more than a second.
struct Progress {
    enabled: bool,
    started: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            started: Instant::now(),
            bar: None,
        }
    }

    fn update(&mut self, done: u64, total: u64) {
        if !self.enabled || self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(total),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "rebalancing {bar:40} {percent:>3}% ({elapsed})",
            ) {
                bar.set_style(style);
            }
            bar
        });
        bar.set_length(total);
        bar.set_position(done);
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
