//! Helpers shared by the commands: Swift's device formatting, Python's
//! float and timedelta text, the y/N confirmation, composite-file sniffing.

use std::io;

use super::Ctx;
use crate::cli::EXIT_ERROR;
use crate::ring::Device;

/// Swift's `format_device`: `d<id>r<region>z<zone>-<ip>:<port>R<rip>:<rport>/<dev>_"<meta>"`,
/// IPv6 addresses in brackets.
pub fn format_device(d: &Device) -> String {
    format!(
        "d{}r{}z{}-{}:{}R{}:{}/{}_\"{}\"",
        d.id,
        d.region,
        d.zone,
        bracket(&d.ip),
        d.port,
        bracket(&d.replication_ip),
        d.replication_port,
        d.device,
        d.meta
    )
}

/// `[ip]` if the address contains a colon.
pub fn bracket(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// Python's `repr(float)` (`100.0`, `0.5`, `1e-05`).
pub fn py_float(x: f64) -> String {
    crate::recon::pyfmt::float_repr(x)
}

/// Python's `str(timedelta(seconds=s))`: `H:MM:SS` or `N day(s), H:MM:SS`.
pub fn timedelta(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let s = seconds.rem_euclid(86_400);
    let hms = format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60);
    match days {
        0 => hms,
        1 | -1 => format!("{days} day, {hms}"),
        _ => format!("{days} days, {hms}"),
    }
}

/// Swift's `check_devs`: no match is an error; several need a `y` unless
/// `--yes`. Returns `Some(exit code)` to stop with.
pub fn check_devs(
    ctx: &mut Ctx,
    ids: &[u32],
    question: &str,
    abort: &str,
    yes: bool,
) -> io::Result<Option<u8>> {
    if ids.is_empty() {
        writeln!(ctx.out, "Search value matched 0 devices.")?;
        writeln!(ctx.out, "The on-disk ring builder is unchanged.")?;
        return Ok(Some(EXIT_ERROR));
    }
    if ids.len() > 1 {
        writeln!(ctx.out, "Matched more than one device:")?;
        for &id in ids {
            if let Some(d) = ctx.b().dev(id) {
                writeln!(ctx.out, "    {}", format_device(&d.dev))?;
            }
        }
        if !yes {
            write!(ctx.out, "{question}")?;
            ctx.out.flush()?;
            let mut answer = String::new();
            let n = ctx.input.read_line(&mut answer)?;
            let answer = answer.trim_end_matches(['\n', '\r']);
            if n == 0 || answer != "y" {
                writeln!(ctx.out, "{abort}")?;
                return Ok(Some(EXIT_ERROR));
            }
        }
    }
    Ok(None)
}

/// Whether a file that is not a builder pickle looks like the JSON state of
/// a composite ring builder.
pub fn looks_like_composite(path: &str) -> bool {
    let Ok(text) = std::fs::read(path) else {
        return false;
    };
    matches!(
        serde_json::from_slice::<serde_json::Value>(&text),
        Ok(serde_json::Value::Object(m)) if m.contains_key("components")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_texts() {
        assert_eq!(timedelta(0), "0:00:00");
        assert_eq!(timedelta(3597), "0:59:57");
        assert_eq!(timedelta(86_400 + 61), "1 day, 0:01:01");
        assert_eq!(timedelta(3 * 86_400), "3 days, 0:00:00");
        assert_eq!(py_float(100.0), "100.0");
        assert_eq!(py_float(1e-5), "1e-05");
    }
}
