//! `swift-dispersion-report [options] [conf_file]`.
//!
//! Exit codes (for cron and scripts): 0 every copy found; 1 some copies
//! missing; 2 an error (bad options or configuration, the cluster could not
//! be asked, nothing to query) or a sampled partition with no copy found.

use std::cell::RefCell;
use std::ffi::OsString;
use std::io::Write;
use std::time::Instant;

use clap::Parser;
use serde_json::{json, Map, Value};

use super::progress::Progress;
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS, EXIT_WARNING};
use crate::ops::dispersion::direct::DirectClient;
use crate::ops::dispersion::plan;
use crate::ops::dispersion::render::{self, partition_line, CLEAR};
use crate::ops::dispersion::report::{Query, Seen};
use crate::ops::dispersion::setup::login;
use crate::ops::dispersion::{Events, Kind, SectionReport};
use crate::recon::pyfmt::json_dumps;

/// Report how many copies of the sampled containers and objects are where
/// the rings say they should be.
#[derive(Debug, Parser)]
#[command(
    name = "swift-dispersion-report",
    version,
    infer_long_args = true,
    after_help = "[conf_file] defaults to /etc/swift/dispersion.conf"
)]
pub struct Args {
    /// Dump the dispersion report in Swift's JSON format.
    #[arg(short = 'j', long)]
    pub dump_json: bool,
    /// Print JSON with everything the report knows: Swift's fields plus
    /// coverage, policy, elapsed time, unmounted devices and the partitions
    /// missing copies.
    #[arg(long)]
    pub json: bool,
    /// Print 404s (and other error answers) to standard error, once per device.
    #[arg(short = 'd', long)]
    pub debug: bool,
    /// Print missing partitions to standard error.
    #[arg(short = 'p', long)]
    pub partitions: bool,
    /// Only run the container report.
    #[arg(long)]
    pub container_only: bool,
    /// Only run the object report.
    #[arg(long)]
    pub object_only: bool,
    /// Accepted for compatibility (only plain-HTTP auth URLs are supported).
    #[arg(long)]
    pub insecure: bool,
    #[command(flatten)]
    pub common: super::Common,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Text,
    SwiftJson,
    FullJson,
}

struct ReportEvents<'a, 'e, 'o> {
    progress: &'a Progress<'e>,
    out: &'a RefCell<&'o mut dyn Write>,
    partitions: bool,
    output: Output,
}

impl Events for ReportEvents<'_, '_, '_> {
    fn message(&self, line: &str) {
        self.progress.message(line);
    }

    fn progress(&self, kind: Kind, done: usize, total: usize) {
        self.progress.update(kind, done, total);
    }

    fn missing_partition(&self, kind: Kind, part: u32, missing: usize) {
        if !self.partitions {
            return;
        }
        if self.output == Output::Text {
            let mut out = self.out.borrow_mut();
            let _ = write!(out, "{CLEAR}");
            let _ = out.flush();
        }
        self.progress.message(&partition_line(kind, part, missing));
    }
}

/// Results of the whole run.
struct Run {
    container: Option<Option<SectionReport>>,
    object: Option<Option<SectionReport>>,
    unmounted: Vec<String>,
}

impl Run {
    fn exit_code(&self) -> u8 {
        let sections: Vec<&Option<SectionReport>> = [&self.container, &self.object]
            .into_iter()
            .flatten()
            .collect();
        if sections.iter().any(|s| s.is_none()) {
            return EXIT_ERROR;
        }
        let reports = sections.iter().filter_map(|s| s.as_ref());
        let mut code = EXIT_SUCCESS;
        for r in reports {
            if r.partitions_without_copies() > 0 {
                return EXIT_ERROR;
            }
            if r.copies_found < r.copies_expected {
                code = EXIT_WARNING;
            }
        }
        code
    }
}

/// The whole tool.
pub fn main(
    argv: Vec<OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    stderr_is_terminal: bool,
) -> u8 {
    let pick: super::StartOptions<Args> = |a| (&a.common, a.container_only, a.object_only);
    let (args, started) = match super::begin(super::Tool::Report, argv, out, err, pick) {
        Ok(begun) => begun,
        Err(code) => return code,
    };
    let output = if args.json {
        Output::FullJson
    } else if args.dump_json || started.conf.dump_json {
        Output::SwiftJson
    } else {
        Output::Text
    };
    if output == Output::Text {
        started.announce(out);
    }
    let (conf, info) = (&started.conf, &started.info);
    let begun = Instant::now();
    let progress = Progress::new(stderr_is_terminal, "Querying", err);
    let out = RefCell::new(out);
    let events = ReportEvents {
        progress: &progress,
        out: &out,
        partitions: args.partitions,
        output,
    };
    let seen = Seen::default();
    let run = started.rt.block_on(async {
        let client = login(conf).await.map_err(|e| e.to_string())?;
        let direct = DirectClient::new(
            conf.conn_timeout,
            conf.node_timeout,
            conf.retries,
            conf.concurrency,
        )?;
        let account = client.account().to_string();
        let idx = info.policy.index;
        let mut run = Run {
            container: None,
            object: None,
            unmounted: Vec::new(),
        };
        let print = |r: &SectionReport| {
            if output == Output::Text {
                let mut out = out.borrow_mut();
                let _ = write!(out, "{}", render::section_text(r));
                let _ = out.flush();
            }
        };
        for (kind, wanted) in [
            (Kind::Container, started.containers),
            (Kind::Object, started.objects),
        ] {
            if !wanted {
                continue;
            }
            // Containers live in the account; objects in one container.
            let (list_in, prefix, noun) = match kind {
                Kind::Container => (None, plan::container_prefix(idx), "containers"),
                Kind::Object => (
                    Some(plan::objects_container(idx)),
                    plan::OBJECT_PREFIX.to_string(),
                    "objects",
                ),
            };
            let ring = info
                .open_ring(&conf.swift_dir, kind)
                .map_err(|e| e.to_string())?;
            let names = client
                .list(list_in.as_deref(), &prefix)
                .await
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            let section = if names.is_empty() {
                events.message(&format!(
                    "No {noun} to query. Has swift-dispersion-populate been run?"
                ));
                None
            } else {
                let q = Query {
                    direct: &direct,
                    ring: &ring,
                    hash: &info.hash,
                    account: &account,
                    policy_index: idx,
                    concurrency: conf.concurrency,
                    debug: args.debug,
                    seen: &seen,
                    events: &events,
                };
                let r = q.run(kind, list_in.as_deref(), &names).await;
                progress.finish();
                print(&r);
                Some(r)
            };
            match kind {
                Kind::Container => run.container = Some(section),
                Kind::Object => run.object = Some(section),
            }
        }
        run.unmounted = seen.unmounted.borrow().clone();
        Ok::<Run, String>(run)
    });
    progress.finish();
    let run = match run {
        Ok(r) => r,
        Err(e) => return super::fail(&mut **progress.err(), &format!("ERROR: {e}"), EXIT_ERROR),
    };
    let out = out.into_inner();
    match output {
        Output::Text => {}
        Output::SwiftJson => {
            let mut m = Map::new();
            for (key, section) in [("container", &run.container), ("object", &run.object)] {
                if let Some(s) = section {
                    m.insert(
                        key.into(),
                        s.as_ref().map_or(Value::Null, render::swift_json),
                    );
                }
            }
            let _ = writeln!(out, "{}", json_dumps(&Value::Object(m), false));
        }
        Output::FullJson => {
            let mut m = Map::new();
            m.insert(
                "policy".into(),
                json!({"index": info.policy.index, "name": info.policy.name()}),
            );
            for (key, section) in [("container", &run.container), ("object", &run.object)] {
                if let Some(s) = section {
                    m.insert(
                        key.into(),
                        s.as_ref().map_or(Value::Null, render::full_json),
                    );
                }
            }
            m.insert("unmounted".into(), json!(run.unmounted));
            m.insert("elapsed".into(), json!(begun.elapsed().as_secs_f64()));
            m.insert("exit_code".into(), json!(run.exit_code()));
            let _ = writeln!(out, "{}", json_dumps(&Value::Object(m), false));
        }
    }
    let _ = out.flush();
    run.exit_code()
}
