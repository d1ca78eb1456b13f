//! What every daemon binary shares: Swift's command line
//! (`CONFIG [-o|--once] [-v|--verbose]` plus per-daemon options), logging,
//! the `interval` loop of daemon mode, and mapping errors to exit codes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::conf::DaemonConf;
use super::DaemonError;

/// Parsed arguments common to every daemon.
#[derive(Debug, Clone, Default)]
pub struct DaemonArgs {
    pub conf: PathBuf,
    pub once: bool,
    pub verbose: bool,
    /// `-d/--devices D1,D2`: only these devices.
    pub devices: Option<Vec<String>>,
    /// `-z/--zero_byte_fps N` (object auditor).
    pub zero_byte_fps: Option<f64>,
    /// `-p/--partitions P1,P2` (replicators).
    pub partitions: Option<Vec<String>>,
    /// `-i/--policies I1,I2` (replicators).
    pub policies: Option<Vec<String>>,
}

fn comma_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Parses `argv[1..]`; `Err` holds the usage or error line.
pub fn parse_args(name: &str, args: &[String]) -> Result<DaemonArgs, String> {
    let usage = format!("Usage: {name} CONFIG [options]");
    let mut out = DaemonArgs::default();
    let mut conf = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name}: error: {what} option requires an argument"))
        };
        match flag {
            "-o" | "--once" => out.once = true,
            "-v" | "--verbose" => out.verbose = true,
            "-d" | "--devices" => {
                let v = value("-d")?;
                out.devices = Some(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                );
            }
            "-p" | "--partitions" => out.partitions = Some(comma_list(&value("-p")?)),
            "-i" | "--policies" => out.policies = Some(comma_list(&value("-i")?)),
            "-z" | "--zero_byte_fps" => {
                let v = value("-z")?;
                let n = v
                    .parse()
                    .map_err(|_| format!("{name}: error: bad value {v:?} for -z"))?;
                out.zero_byte_fps = Some(n);
            }
            "-h" | "--help" => return Err(usage),
            f if f.starts_with('-') => return Err(format!("{name}: error: no such option: {f}")),
            _ if conf.is_none() => conf = Some(PathBuf::from(a)),
            _ => {}
        }
    }
    out.conf = conf.ok_or_else(|| format!("{usage}\n{name}: error: missing config file"))?;
    Ok(out)
}

/// Sends logs to stderr at the section's `log_level` (`-v` forces INFO on
/// the console even when the level is higher).
pub fn init_logging(conf: &DaemonConf, verbose: bool) {
    let level = match conf
        .str_or("log_level", "INFO")
        .to_ascii_uppercase()
        .as_str()
    {
        "DEBUG" => "debug",
        "WARNING" | "WARN" if !verbose => "warn",
        "ERROR" | "CRITICAL" if !verbose => "error",
        _ => "info",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs `pass` once, or forever with at least `interval` between starts.
pub fn run(
    once: bool,
    interval: Duration,
    mut pass: impl FnMut() -> Result<(), DaemonError>,
) -> Result<(), DaemonError> {
    if once {
        return pass();
    }
    loop {
        let begin = Instant::now();
        if let Err(e) = pass() {
            tracing::error!("pass failed: {e}");
        }
        std::thread::sleep(interval.saturating_sub(begin.elapsed()));
    }
}

/// The whole of a daemon binary: parse, load `section`, run `body`.
/// Exit 0 done, 1 a pass failed, 2 usage or configuration errors.
pub fn main(
    name: &str,
    section: &str,
    body: impl FnOnce(&DaemonArgs, &DaemonConf) -> Result<(), DaemonError>,
) -> u8 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    main_with(name, section, &args, body)
}

/// `main` over explicit arguments (the all-in-one cluster runs daemons in
/// its own executable).
pub fn main_with(
    name: &str,
    section: &str,
    args: &[String],
    body: impl FnOnce(&DaemonArgs, &DaemonConf) -> Result<(), DaemonError>,
) -> u8 {
    let parsed = match parse_args(name, args) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return 2;
        }
    };
    let conf = match DaemonConf::load(&parsed.conf, section) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return 2;
        }
    };
    init_logging(&conf, parsed.verbose);
    super::priority::apply(&conf);
    match body(&parsed, &conf) {
        Ok(()) => 0,
        Err(e @ (DaemonError::BadValue { .. } | DaemonError::Conf(_))) => {
            eprintln!("{name}: {e}");
            2
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            1
        }
    }
}

/// Sleeps so that `count` events take at least `count / rate` seconds since
/// `start` (no limit when `rate <= 0`).
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    start: Instant,
    count: f64,
}

impl RateLimiter {
    pub fn new(rate: f64) -> Self {
        RateLimiter {
            rate,
            start: Instant::now(),
            count: 0.0,
        }
    }

    /// Records `n` events, sleeping first if they come too fast.
    pub fn wait(&mut self, n: f64) {
        if self.rate <= 0.0 {
            return;
        }
        self.count += n;
        let due = Duration::from_secs_f64(self.count / self.rate);
        let spent = self.start.elapsed();
        if due > spent {
            std::thread::sleep(due - spent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        let a: Vec<String> = ["c.conf", "-o", "-z", "5", "--devices=sda1,sdb1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = parse_args("x", &a).unwrap();
        assert!(p.once && p.zero_byte_fps == Some(5.0));
        assert_eq!(p.devices.unwrap(), ["sda1", "sdb1"]);
        assert!(parse_args("x", &["-o".into()]).is_err());
        assert!(parse_args("x", &["c".into(), "--bogus".into()]).is_err());
    }

    #[test]
    fn rate_limit_paces() {
        let mut r = RateLimiter::new(100.0);
        let t = Instant::now();
        for _ in 0..5 {
            r.wait(1.0);
        }
        assert!(t.elapsed() >= Duration::from_millis(45));
    }
}
