//! `swift-recon`: query every storage node in the rings for its recon data
//! and print Swift's report, or with `--json` one JSON document.
//!
//! Exit codes: 0 success (as Swift, even when hosts fail to answer);
//! 1 invalid server type (as Swift); 2 bad options, or rings / swift.conf
//! that cannot be read.

mod cluster_checks;
mod context;
mod hosts;
mod stats_checks;

use crate::cli::{EXIT_ERROR, EXIT_SUCCESS, EXIT_WARNING};
use crate::recon::client::Client;
use clap::{CommandFactory, Parser};
use context::Ctx;
use serde_json::{json, Map, Value};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub use hosts::{policy_ring_names, ring_hosts, HostsError};

const SERVER_TYPES: [&str; 3] = ["account", "container", "object"];

/// Retrieve and report cluster information from hosts running recon.
#[derive(Debug, Parser)]
#[command(name = "swift-recon", disable_version_flag = true)]
#[command(
    override_usage = "swift-recon <server_type> [<server_type> [<server_type>]] [options]\n\n\
    <server_type>  account|container|object (default object)"
)]
pub struct Args {
    /// Server types to query: account, container, object.
    pub server_types: Vec<String>,
    /// Print verbose info
    #[arg(short, long)]
    pub verbose: bool,
    /// Suppress most connection related errors
    #[arg(long)]
    pub suppress: bool,
    /// Get async stats
    #[arg(short = 'a', long = "async")]
    pub async_check: bool,
    /// Get replication stats
    #[arg(short, long)]
    pub replication: bool,
    /// Get reconstruction stats
    #[arg(short = 'R', long)]
    pub reconstruction: bool,
    /// Get auditor stats
    #[arg(long)]
    pub auditor: bool,
    /// Get updater stats
    #[arg(long)]
    pub updater: bool,
    /// Get expirer stats
    #[arg(long)]
    pub expirer: bool,
    /// Get sharding stats
    #[arg(long)]
    pub sharding: bool,
    /// Check cluster for unmounted devices
    #[arg(short, long)]
    pub unmounted: bool,
    /// Get disk usage stats
    #[arg(short, long)]
    pub diskusage: bool,
    /// Use human readable suffix for disk usage stats
    #[arg(long)]
    pub human_readable: bool,
    /// Get cluster load average stats
    #[arg(short, long)]
    pub loadstats: bool,
    /// Get cluster quarantine stats
    #[arg(short, long)]
    pub quarantined: bool,
    /// Validate servers on the ring
    #[arg(long)]
    pub validate_servers: bool,
    /// Get md5sum of servers ring and compare to local copy
    #[arg(long)]
    pub md5: bool,
    /// Get cluster socket usage stats
    #[arg(long)]
    pub sockstat: bool,
    /// Get drive audit error stats
    #[arg(long)]
    pub driveaudit: bool,
    /// Check time synchronization
    #[arg(short = 'T', long)]
    pub time: bool,
    /// Maximal allowed time jitter
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub jitter: f64,
    /// Check swift versions
    #[arg(long)]
    pub swift_versions: bool,
    /// Also show the top COUNT entries in rank order.
    #[arg(long, value_name = "COUNT", default_value_t = 0)]
    pub top: usize,
    /// Also show the lowest COUNT entries in rank order.
    #[arg(long, value_name = "COUNT", default_value_t = 0)]
    pub lowest: usize,
    /// Perform all checks. Equal to -arRudlqT --md5 --sockstat --auditor
    /// --updater --expirer --driveaudit --validate-servers --swift-versions
    #[arg(long)]
    pub all: bool,
    /// Only query servers in specified region
    #[arg(long)]
    pub region: Option<u32>,
    /// Only query servers in specified zone
    #[arg(short, long)]
    pub zone: Option<u32>,
    /// Time to wait for a response from a server
    #[arg(short, long, value_name = "SECONDS", default_value_t = 5)]
    pub timeout: u64,
    /// Default = /etc/swift
    #[arg(long, default_value = "/etc/swift")]
    pub swiftdir: PathBuf,
    /// Only query object servers in specified storage policy (specified as
    /// name or index).
    #[arg(short = 'p', long, visible_short_alias = 'P')]
    pub policy: Option<String>,
    /// Print each host's memory usage (/recon/mem). Not in Swift.
    #[arg(long)]
    pub mem: bool,
    /// Print each host's mounted file systems (/recon/mounted). Not in Swift.
    #[arg(long)]
    pub mounted: bool,
    /// Print each host's device directory listing (/recon/devices). Not in Swift.
    #[arg(long)]
    pub devices: bool,
    /// Print one JSON document (per-host answers and aggregates) instead of
    /// text. Not in Swift.
    #[arg(long)]
    pub json: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 30, hide = true)]
    pub concurrency: usize,
}

fn print_help(out: &mut dyn Write) {
    let _ = writeln!(out, "{}", Args::command().render_help());
}

/// Runs swift-recon with `argv`; returns the exit code.
pub fn main(argv: Vec<OsString>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let json_mode = argv.iter().any(|a| a == "--json");
    if !json_mode {
        let _ = writeln!(out, "{}", "=".repeat(79));
    }
    if argv.len() <= 1 {
        print_help(out);
        return EXIT_SUCCESS;
    }
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let (code, _) = if e.use_stderr() {
                (EXIT_ERROR, ())
            } else {
                (EXIT_SUCCESS, ())
            };
            let _ = if e.use_stderr() {
                write!(err, "{e}")
            } else {
                write!(out, "{e}")
            };
            return code;
        }
    };
    if args.server_types.len() > SERVER_TYPES.len() {
        print_help(out);
        return EXIT_SUCCESS;
    }
    let mut types: Vec<String> = Vec::new();
    for t in &args.server_types {
        if !SERVER_TYPES.contains(&t.as_str()) {
            let _ = writeln!(out, "Invalid Server Type");
            print_help(out);
            return EXIT_WARNING;
        }
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    if types.is_empty() {
        types.push("object".into());
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "swift-recon: {e}");
            return EXIT_ERROR;
        }
    };
    let client = match Client::new(Duration::from_secs(args.timeout), args.concurrency) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "swift-recon: {e}");
            return EXIT_ERROR;
        }
    };
    let mut doc = Map::new();
    let mut ctx = Ctx {
        client,
        rt: &rt,
        verbose: args.verbose,
        suppress: args.suppress,
        server_type: String::new(),
        swift_dir: args.swiftdir.clone(),
        json: args.json,
        out,
    };
    for t in types {
        ctx.server_type = t.clone();
        let rings = match policy_ring_names(&args.swiftdir, &t, args.policy.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(err, "swift-recon: {e}");
                return EXIT_ERROR;
            }
        };
        if rings.is_empty() {
            ctx.line(format!(
                "Invalid Storage Policy: {}",
                args.policy.as_deref().unwrap_or("")
            ));
            if !args.json {
                print_help(ctx.out);
            }
            return EXIT_SUCCESS;
        }
        let hosts = match ring_hosts(&args.swiftdir, &rings, args.region, args.zone) {
            Ok(h) => h,
            Err(e) => {
                let _ = writeln!(err, "swift-recon: {e}");
                return EXIT_ERROR;
            }
        };
        ctx.line(format!(
            "--> Starting reconnaissance on {} hosts ({t})",
            hosts.len()
        ));
        ctx.sep();
        let checks = run_checks(&mut ctx, &args, &hosts);
        let host_list: Vec<String> = hosts.iter().map(|h| h.netloc()).collect();
        doc.insert(t, json!({"hosts": host_list, "checks": checks}));
    }
    if args.json {
        let text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
        let _ = writeln!(ctx.out, "{text}");
    }
    EXIT_SUCCESS
}

fn refuse(ctx: &mut Ctx, what: &str) -> Value {
    ctx.line(format!("Error: Can't check {what}"));
    ctx.sep();
    json!({"error": format!("can't check {what}")})
}

fn run_checks(ctx: &mut Ctx, a: &Args, hosts: &[crate::recon::client::Host]) -> Map<String, Value> {
    let mut keys = if a.all {
        all_checks(&ctx.server_type)
    } else {
        chosen_checks(a)
    };
    keys.extend(
        [
            (a.mem, "mem"),
            (a.mounted, "mounted"),
            (a.devices, "devices"),
        ]
        .into_iter()
        .filter_map(|(on, key)| on.then_some(key)),
    );
    let mut r = Map::new();
    for key in keys {
        if let Some(v) = check(ctx, a, hosts, key) {
            r.insert(key.to_string(), v);
        }
    }
    r
}

/// `--all`: the checks that apply to the server type, in Swift's order.
fn all_checks(server_type: &str) -> Vec<&'static str> {
    let own: &[&str] = match server_type {
        "object" => &["async", "auditor", "updater", "expirer", "reconstruction"],
        "container" => &["auditor", "updater", "sharding"],
        _ => &["auditor"],
    };
    let common = [
        "replication",
        "unmounted",
        "load",
        "diskusage",
        "ringmd5",
        "swiftconfmd5",
        "quarantined",
        "sockstat",
        "validate_servers",
        "driveaudit",
        "time",
        "version",
    ];
    own.iter().copied().chain(common).collect()
}

/// The checks asked for one by one, in Swift's order (which differs from
/// `--all`'s).
fn chosen_checks(a: &Args) -> Vec<&'static str> {
    [
        (a.async_check, "async"),
        (a.unmounted, "unmounted"),
        (a.replication, "replication"),
        (a.auditor, "auditor"),
        (a.updater, "updater"),
        (a.expirer, "expirer"),
        (a.sharding, "sharding"),
        (a.reconstruction, "reconstruction"),
        (a.validate_servers, "validate_servers"),
        (a.loadstats, "load"),
        (a.diskusage, "diskusage"),
        (a.md5, "ringmd5"),
        (a.md5, "swiftconfmd5"),
        (a.quarantined, "quarantined"),
        (a.sockstat, "sockstat"),
        (a.driveaudit, "driveaudit"),
        (a.time, "time"),
        (a.swift_versions, "version"),
    ]
    .into_iter()
    .filter_map(|(on, key)| on.then_some(key))
    .collect()
}

/// Runs the check reported under JSON key `key` (a refusal where it does not
/// apply to the server type); `None` when it has nothing to report.
fn check(
    ctx: &mut Ctx,
    a: &Args,
    hosts: &[crate::recon::client::Host],
    key: &str,
) -> Option<Value> {
    use cluster_checks as c;
    use stats_checks as s;
    let t = ctx.server_type.clone();
    Some(match key {
        "async" if t == "object" => s::single(
            ctx,
            hosts,
            "async",
            "Checking async pendings",
            "async_pending",
        ),
        "async" => refuse(ctx, "asyncs on non object servers."),
        "unmounted" => c::unmounted(ctx, hosts),
        "replication" => s::replication(ctx, hosts),
        "auditor" if t == "object" => s::object_auditor(ctx, hosts),
        "auditor" => return s::auditor(ctx, hosts),
        "updater" if t == "account" => refuse(ctx, "updaters on account servers."),
        "updater" => s::updater(ctx, hosts),
        "expirer" if t == "object" => s::expirer(ctx, hosts),
        "expirer" => refuse(ctx, "expirer on non object servers."),
        "sharding" if t == "container" => s::sharding(ctx, hosts),
        "sharding" => refuse(ctx, "sharding on non container servers."),
        "reconstruction" if t == "object" => s::reconstruction(ctx, hosts),
        "reconstruction" => refuse(ctx, "reconstruction stats on non object servers."),
        "validate_servers" => c::validate_servers(ctx, hosts),
        "load" => s::load(ctx, hosts),
        "diskusage" => c::disk_usage(ctx, hosts, a.top, a.lowest, a.human_readable),
        "ringmd5" => c::ring_md5(ctx, hosts),
        "swiftconfmd5" => c::swiftconf_md5(ctx, hosts),
        "quarantined" => s::quarantine(ctx, hosts),
        "sockstat" => s::sockstat(ctx, hosts),
        "driveaudit" => s::single(
            ctx,
            hosts,
            "driveaudit",
            "Checking drive-audit errors",
            "drive_audit_errors",
        ),
        "time" => c::time_sync(ctx, hosts, a.jitter),
        "version" => c::versions(ctx, hosts),
        "mem" => c::raw(ctx, hosts, "mem", "Checking memory usage"),
        "mounted" => c::raw(ctx, hosts, "mounted", "Checking mounted file systems"),
        "devices" => c::raw(ctx, hosts, "devices", "Checking device directories"),
        other => unreachable!("no recon check {other}"),
    })
}
