//! swift-dispersion-populate and swift-dispersion-report: options as
//! Swift's (long options may be abbreviated, as optparse allows), the
//! configuration file as the optional last argument, output as Swift's.

pub mod populate;
mod progress;
pub mod report;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{EXIT_ERROR, EXIT_WARNING};
use crate::ops::dispersion::setup::ClusterInfo;
use crate::ops::dispersion::{DispersionConf, DEFAULT_CONF};

/// The options both tools end with: the storage policy and the
/// configuration file.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Storage policy name (or alias); the default policy otherwise.
    #[arg(short = 'P', long = "policy-name", value_name = "NAME")]
    pub policy_name: Option<String>,
    /// Configuration file.
    #[arg(default_value = DEFAULT_CONF)]
    pub conf_file: PathBuf,
    /// Ignored, as Swift ignores arguments after the configuration file.
    #[arg(hide = true)]
    pub rest: Vec<OsString>,
}

/// A tool's `main`: argv, standard output and error, and whether standard
/// error is a terminal (for progress bars); returns the exit code.
pub type ToolMain = fn(Vec<OsString>, &mut dyn Write, &mut dyn Write, bool) -> u8;

/// What a binary does: runs `tool` on this process's arguments and
/// standard streams and exits with its code.
pub fn run_process(tool: ToolMain) -> ExitCode {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let tty = err.is_terminal();
    let code = tool(std::env::args_os().collect(), &mut out, &mut err, tty);
    let _ = out.flush();
    ExitCode::from(code)
}

/// Parses argv with clap; on `--help` prints it and returns `Err(0)`, on a
/// bad option prints the error and returns `Err(code)`.
fn parse<T: clap::Parser>(
    argv: Vec<OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    error_code: u8,
) -> Result<T, u8> {
    match T::try_parse_from(argv) {
        Ok(a) => Ok(a),
        Err(e) if !e.use_stderr() => {
            let _ = write!(out, "{e}");
            Err(0)
        }
        Err(e) => {
            let _ = write!(err, "{e}");
            Err(error_code)
        }
    }
}

/// Prints `msg` on `err` and returns `code`, the tool's exit code.
fn fail(err: &mut dyn Write, msg: &str, code: u8) -> u8 {
    let _ = writeln!(err, "{msg}");
    code
}

/// Which of the two tools is starting.
#[derive(Clone, Copy)]
enum Tool {
    Populate,
    Report,
}

impl Tool {
    /// The exit code when the tool cannot start (Swift's populate exits 1
    /// there, our report 2).
    fn start_failure_code(self) -> u8 {
        match self {
            Tool::Populate => EXIT_WARNING,
            Tool::Report => EXIT_ERROR,
        }
    }
}

/// The options of a tool that [`start`] needs: the shared ones,
/// `--container-only` and `--object-only`.
type StartOptions<A> = fn(&A) -> (&Common, bool, bool);

/// Both tools' first steps: argv parsed as `A`, then [`start`] with the
/// options `pick` takes from it. `Err` is the exit code once `--help`, a bad
/// option or the failure to start has been printed.
fn begin<A: clap::Parser>(
    tool: Tool,
    argv: Vec<OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    pick: StartOptions<A>,
) -> Result<(A, Started), u8> {
    let args: A = parse(argv, out, err, EXIT_ERROR)?;
    let (common, container_only, object_only) = pick(&args);
    match start(tool, common, container_only, object_only) {
        Ok(started) => Ok((args, started)),
        Err(m) => Err(fail(err, &m, tool.start_failure_code())),
    }
}

/// What both tools have once started.
struct Started {
    conf: DispersionConf,
    info: ClusterInfo,
    containers: bool,
    objects: bool,
    rt: tokio::runtime::Runtime,
}

/// The start-up both tools share: the configuration, the sections it turns
/// on for `tool` less those `--container-only` / `--object-only` leave out,
/// the storage policy and a runtime. `Err` is the message the tool prints
/// before failing with its own code.
fn start(
    tool: Tool,
    common: &Common,
    container_only: bool,
    object_only: bool,
) -> Result<Started, String> {
    let conf = DispersionConf::load(&common.conf_file).map_err(|e| e.to_string())?;
    let (verb, containers, objects) = match tool {
        Tool::Populate => ("populate", conf.container_populate, conf.object_populate),
        Tool::Report => ("report", conf.container_report, conf.object_report),
    };
    let containers = containers && !object_only;
    let objects = objects && !container_only;
    if !(containers || objects) {
        return Err(format!("Neither container or object {verb} is set to run"));
    }
    let info = ClusterInfo::load(&conf.swift_dir, common.policy_name.as_deref())
        .map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Started {
        conf,
        info,
        containers,
        objects,
        rt,
    })
}

impl Started {
    /// Swift's first line: the storage policy in use.
    fn announce(&self, out: &mut dyn Write) {
        let _ = writeln!(out, "Using storage policy: {} ", self.info.policy.name());
        let _ = out.flush();
    }
}
