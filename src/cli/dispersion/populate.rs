//! `swift-dispersion-populate [options] [conf_file]`.
//!
//! Exit codes as Swift's: 0 done; 1 configuration, policy or cluster
//! errors (`Gave up due to error(s).`); 2 bad options.

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use super::progress::Progress;
use crate::cli::{EXIT_SUCCESS, EXIT_WARNING};
use crate::ops::dispersion::populate::{PopulateOptions, Populator};
use crate::ops::dispersion::render::populated_text;
use crate::ops::dispersion::setup::login;
use crate::ops::dispersion::Kind;

/// Create containers and objects spread over the partition space, for
/// swift-dispersion-report to check.
#[derive(Debug, Parser)]
#[command(
    name = "swift-dispersion-populate",
    version,
    infer_long_args = true,
    after_help = "[conf_file] defaults to /etc/swift/dispersion.conf"
)]
pub struct Args {
    /// Only run container population.
    #[arg(long)]
    pub container_only: bool,
    /// Only run object population.
    #[arg(long)]
    pub object_only: bool,
    /// Container suffix start value (lower suffixes are counted, not written).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub container_suffix_start: u64,
    /// Object suffix start value (lower suffixes are counted, not written).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub object_suffix_start: u64,
    /// Accepted for compatibility (only plain-HTTP auth URLs are supported).
    #[arg(long)]
    pub insecure: bool,
    /// Skip partitions that already hold a sample, so a second run adds
    /// dispersion_coverage percent more coverage.
    #[arg(long)]
    pub no_overlap: bool,
    #[command(flatten)]
    pub common: super::Common,
}

/// The whole tool.
pub fn main(
    argv: Vec<OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    stderr_is_terminal: bool,
) -> u8 {
    let pick: super::StartOptions<Args> = |a| (&a.common, a.container_only, a.object_only);
    let (args, started) = match super::begin(super::Tool::Populate, argv, out, err, pick) {
        Ok(begun) => begun,
        Err(code) => return code,
    };
    started.announce(out);
    let (conf, info) = (&started.conf, &started.info);
    let progress = Progress::new(stderr_is_terminal, "Creating", err);
    let result: Result<(), String> = started.rt.block_on(async {
        let client = login(conf).await.map_err(|e| e.to_string())?;
        let report = |k, done, total| progress.update(k, done, total);
        let populator = Populator {
            client: &client,
            hash: &info.hash,
            policy: &info.policy,
            progress: &report,
        };
        let opts = |suffix_start| PopulateOptions {
            suffix_start,
            no_overlap: args.no_overlap,
            coverage: conf.dispersion_coverage,
            concurrency: conf.concurrency,
        };
        for (kind, wanted, suffix_start) in [
            (
                Kind::Container,
                started.containers,
                args.container_suffix_start,
            ),
            (Kind::Object, started.objects, args.object_suffix_start),
        ] {
            if !wanted {
                continue;
            }
            let ring = info
                .open_ring(&conf.swift_dir, kind)
                .map_err(|e| e.to_string())?;
            let done = match kind {
                Kind::Container => populator.containers(&ring, opts(suffix_start)).await,
                Kind::Object => populator.objects(&ring, opts(suffix_start)).await,
            }
            .map_err(|e| e.to_string())?;
            progress.finish();
            let _ = write!(out, "{}", populated_text(&done, args.no_overlap));
            let _ = out.flush();
        }
        Ok(())
    });
    progress.finish();
    match result {
        Ok(()) => EXIT_SUCCESS,
        Err(e) => {
            let mut err = progress.err();
            let _ = writeln!(err, "ERROR: {e}");
            super::fail(&mut **err, "Gave up due to error(s).", EXIT_WARNING)
        }
    }
}
