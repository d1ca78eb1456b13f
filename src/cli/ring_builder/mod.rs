//! `swift-ring-builder`: Swift's ring builder tool, command for command.
//!
//! `run` takes the arguments after the program name, the current time and
//! the three standard streams, and returns the exit code (0 success, 1
//! warning, 2 error). The clock is read only by the binary; everything
//! below takes `now` as an argument. Each command group lives in its own
//! file and writes to the given streams only.

mod common;
mod describe;
mod devices;
mod dispersion;
pub mod help;
mod json;
pub mod opts;
mod partpower;
mod rebalance;
mod ringfile;
mod settings;

use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use crate::cli::{EXIT_ERROR, EXIT_SUCCESS};
use crate::conf::builder_file::{self, LoadBuilderError};
use crate::ring::builder::RingBuilder;

/// The tool's version line.
pub const VERSION_LINE: &str = "swift-ring-builder 1.3";

/// What the binary knows about its surroundings.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    /// Unix seconds, read once by the binary.
    pub now: i64,
    /// Whether stderr is a terminal (progress bars go there only then).
    pub stderr_is_terminal: bool,
}

/// Runs the tool; `argv` excludes the program name.
pub fn run(
    argv: Vec<OsString>,
    env: Env,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let args: Vec<String> = argv
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let result = dispatch(args, env, input, out, err);
    let _ = out.flush();
    match result {
        Ok(code) => code,
        // A closed pipe (e.g. `| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "swift-ring-builder: {e}");
            EXIT_ERROR
        }
    }
}

/// State shared by the commands of one invocation.
pub(crate) struct Ctx<'a> {
    /// Arguments after the program name: `[file, command, rest...]`.
    pub args: Vec<String>,
    /// The builder file as the user would see it (argv-derived).
    pub builder_file: String,
    pub ring_file: String,
    /// `None` only for commands that may run without a builder.
    pub builder: Option<RingBuilder>,
    pub env: Env,
    pub input: &'a mut dyn BufRead,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// `--json` was given (our extension for scripts).
    pub json: bool,
}

impl Ctx<'_> {
    /// Arguments after the command.
    pub fn rest(&self) -> &[String] {
        self.args.get(2..).unwrap_or(&[])
    }

    /// The loaded builder (commands that need one are only reached with one).
    pub fn b(&self) -> &RingBuilder {
        self.builder
            .as_ref()
            .expect("builder loaded before dispatch")
    }

    pub fn b_mut(&mut self) -> &mut RingBuilder {
        self.builder
            .as_mut()
            .expect("builder loaded before dispatch")
    }

    pub fn builder_path(&self) -> PathBuf {
        PathBuf::from(&self.builder_file)
    }

    pub fn ring_path(&self) -> PathBuf {
        PathBuf::from(&self.ring_file)
    }

    /// Saves the builder to its file; a failure is reported, exit 2.
    pub fn save(&mut self) -> io::Result<Option<u8>> {
        self.save_to(&self.builder_path())
    }

    /// Saves the builder to `path` (its file or a backup copy); a failure
    /// is reported under the builder file's name, exit 2.
    pub fn save_to(&mut self, path: &std::path::Path) -> io::Result<Option<u8>> {
        let b = self
            .builder
            .as_mut()
            .expect("builder loaded before dispatch");
        match builder_file::save_builder(b, path) {
            Ok(()) => Ok(None),
            Err(e) => {
                writeln!(
                    self.out,
                    "Unable to save builder file {}: {e}",
                    self.builder_file
                )?;
                Ok(Some(EXIT_ERROR))
            }
        }
    }

    /// Saves and returns `code`, or 2 if the save failed.
    pub fn save_then(&mut self, code: u8) -> io::Result<u8> {
        Ok(self.save()?.unwrap_or(code))
    }

    /// Commands that read the partition assignment refuse a builder that
    /// was never rebalanced; `Some(code)` when that refusal was printed.
    pub fn require_rebalanced(&mut self) -> io::Result<Option<u8>> {
        if self
            .b()
            .replica2part2dev
            .as_ref()
            .is_some_and(|r| !r.is_empty())
        {
            return Ok(None);
        }
        writeln!(
            self.out,
            "Specified builder file \"{}\" is not rebalanced yet. Please rebalance first.",
            self.builder_file
        )?;
        Ok(Some(EXIT_ERROR))
    }

    /// Prints a command's usage text.
    pub fn usage(&mut self, command: &str) -> io::Result<u8> {
        writeln!(self.out, "{}", help::usage(command))?;
        Ok(EXIT_ERROR)
    }

    /// Prints a command's usage text and the search-value grammar.
    pub fn usage_with_search(&mut self, command: &str) -> io::Result<u8> {
        writeln!(
            self.out,
            "{}\n\n{}",
            help::usage(command),
            help::SEARCH_VALUE
        )?;
        Ok(EXIT_ERROR)
    }

    /// optparse's failure: usage and message on stderr, exit 2.
    pub fn opt_error(&mut self, msg: &str) -> io::Result<u8> {
        self.opt_error_with_usage("swift-ring-builder [options]", msg)
    }

    /// optparse's failure for a command whose parser has its own usage text.
    pub fn opt_error_with_usage(&mut self, usage: &str, msg: &str) -> io::Result<u8> {
        writeln!(self.err, "Usage: {usage}\n")?;
        writeln!(self.err, "swift-ring-builder: error: {msg}")?;
        Ok(EXIT_ERROR)
    }

    /// The arguments after the command parsed with `spec`. `Err(code)` once
    /// optparse's error is printed, under the usage of `own_usage` (a command
    /// whose parser has its own usage text) or else the tool's.
    pub fn parse_rest(
        &mut self,
        spec: &[opts::Opt],
        own_usage: Option<&str>,
    ) -> io::Result<Result<opts::Parsed, u8>> {
        let parsed = opts::parse(spec, self.rest());
        Ok(match parsed {
            Ok(p) => Ok(p),
            Err(m) => Err(match own_usage {
                Some(command) => self.opt_error_with_usage(help::usage(command), &m)?,
                None => self.opt_error(&m)?,
            }),
        })
    }
}

/// `(builder file, ring file)` from the first argument, as Swift derives them.
pub fn builder_and_ring_names(first: &str) -> (String, String) {
    if let Some(stem) = first.strip_suffix(".ring.gz") {
        (format!("{stem}.builder"), first.to_string())
    } else if let Some(stem) = first.strip_suffix(".builder") {
        (first.to_string(), format!("{stem}.ring.gz"))
    } else {
        (first.to_string(), format!("{first}.ring.gz"))
    }
}

fn dispatch(
    mut args: Vec<String>,
    env: Env,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<u8> {
    if args.is_empty() {
        help::print_full(out)?;
        return Ok(EXIT_SUCCESS);
    }
    // `--json` anywhere after the file name asks for JSON output.
    let json = args.len() > 1 && args[1..].iter().any(|a| a == "--json");
    if json {
        let first = args.remove(0);
        args.retain(|a| a != "--json");
        args.insert(0, first);
    }
    let (builder_file, ring_file) = builder_and_ring_names(&args[0]);
    let command = args.get(1).cloned().unwrap_or_else(|| "default".into());
    let no_builder_ok = matches!(command.as_str(), "create" | "write_builder" | "version");
    if builder_file != args[0] && !matches!(command.as_str(), "write_builder" | "version") {
        writeln!(
            out,
            "Note: using {builder_file} instead of {} as builder file",
            args[0]
        )?;
    }
    let builder = match builder_file::load_builder(std::path::Path::new(&builder_file)) {
        Ok(b) => Some(b),
        Err(e @ (LoadBuilderError::NotFound(_) | LoadBuilderError::PermissionDenied(_))) => {
            if !no_builder_ok {
                writeln!(out, "{e}")?;
                return Ok(EXIT_ERROR);
            }
            None
        }
        Err(LoadBuilderError::Invalid { path, source }) => {
            let hint = if common::looks_like_composite(&builder_file) {
                " (it appears to be a composite ring builder file?)"
            } else {
                ""
            };
            // One line, as Swift prints it; `source` says what is wrong.
            let _ = source;
            writeln!(out, "Ring Builder file is invalid: {path}{hint}")?;
            return Ok(EXIT_ERROR);
        }
        Err(e) => {
            writeln!(
                out,
                "Problem occurred while reading builder file: {builder_file}. {e}"
            )?;
            return Ok(EXIT_ERROR);
        }
    };
    if let Err(e) = builder_file::ensure_backup_dir(std::path::Path::new(&builder_file)) {
        writeln!(
            err,
            "swift-ring-builder: cannot create the backups directory: {e}"
        )?;
        return Ok(EXIT_ERROR);
    }
    let mut ctx = Ctx {
        args,
        builder_file,
        ring_file,
        builder,
        env,
        input,
        out,
        err,
        json,
    };
    match command.as_str() {
        "default" => describe::default(&mut ctx),
        "create" => settings::create(&mut ctx),
        "search" => describe::search(&mut ctx),
        "list_parts" => describe::list_parts(&mut ctx),
        "add" => devices::add(&mut ctx),
        "set_weight" => devices::set_weight(&mut ctx),
        "set_region" => devices::set_region(&mut ctx),
        "set_zone" => devices::set_zone(&mut ctx),
        "set_info" => devices::set_info(&mut ctx),
        "remove" => devices::remove(&mut ctx),
        "rebalance" => rebalance::rebalance(&mut ctx),
        "dispersion" => dispersion::dispersion(&mut ctx),
        "validate" => dispersion::validate(&mut ctx),
        "write_ring" => ringfile::write_ring(&mut ctx),
        "write_builder" => ringfile::write_builder(&mut ctx),
        "version" => ringfile::version(&mut ctx),
        "pretend_min_part_hours_passed" => settings::pretend_min_part_hours_passed(&mut ctx),
        "set_min_part_hours" => settings::set_min_part_hours(&mut ctx),
        "set_replicas" => settings::set_replicas(&mut ctx),
        "set_overload" => settings::set_overload(&mut ctx),
        "prepare_increase_partition_power" => partpower::prepare(&mut ctx),
        "increase_partition_power" => partpower::increase(&mut ctx),
        "cancel_increase_partition_power" => partpower::cancel(&mut ctx),
        "finish_increase_partition_power" => partpower::finish(&mut ctx),
        other => {
            writeln!(ctx.out, "Unknown command: {other}")?;
            Ok(EXIT_ERROR)
        }
    }
}
