//! `dispersion` (the per-tier replica report) and `validate`.

use std::io::{self, Write};

use super::opts::{Kind, Opt};
use super::{json as js, Ctx};
use crate::cli::{EXIT_ERROR, EXIT_SUCCESS, EXIT_WARNING};
use crate::ring::builder::{worst_tier, DispersionRow};

/// The report rows after the optional tier-name filter (a regex matched at
/// the start of the name, like Python's `re.match`).
pub struct Report {
    pub rows: Vec<DispersionRow>,
    pub required_overload: f64,
}

/// `dispersion [filter] [-v] [--recalculate]`.
pub fn dispersion(ctx: &mut Ctx) -> io::Result<u8> {
    if let Some(code) = ctx.require_rebalanced()? {
        return Ok(code);
    }
    const SPEC: &[Opt] = &[
        Opt {
            short: None,
            long: "recalculate",
            kind: Kind::Flag,
            dest: "recalculate",
        },
        Opt {
            short: Some('v'),
            long: "verbose",
            kind: Kind::Flag,
            dest: "verbose",
        },
    ];
    let parsed = match ctx.parse_rest(SPEC, Some("dispersion"))? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let filter = match parsed.args.first() {
        None => None,
        Some(f) => match regex::Regex::new(&format!("^(?:{f})")) {
            Ok(r) => Some(r),
            Err(e) => {
                writeln!(ctx.out, "Invalid search filter {f:?}: {e}")?;
                return Ok(EXIT_ERROR);
            }
        },
    };
    if parsed.flag("recalculate") || ctx.b().dispersion_graph.is_empty() {
        ctx.b_mut().build_dispersion_graph();
        if let Some(code) = ctx.save()? {
            return Ok(code);
        }
    }
    let b = ctx.b();
    let rows: Vec<DispersionRow> = b
        .dispersion_report()
        .into_iter()
        .filter(|r| filter.as_ref().is_none_or(|f| f.is_match(&r.name)))
        .collect();
    let required_overload = b.get_required_overload().unwrap_or(0.0);
    let report = Report {
        rows,
        required_overload,
    };
    let worst = worst_tier(&report.rows).cloned();
    let status = if worst.is_some() {
        EXIT_WARNING
    } else {
        EXIT_SUCCESS
    };
    if ctx.json {
        js::dispersion(ctx, &report, parsed.flag("verbose"))?;
        return Ok(status);
    }
    let mut t = Vec::new();
    writeln!(
        t,
        "Dispersion is {:.6}, Balance is {:.6}, Overload is {:.2}%",
        b.dispersion.unwrap_or(0.0),
        b.get_balance(),
        b.overload * 100.0
    )?;
    writeln!(t, "Required overload is {:.6}%", required_overload * 100.0)?;
    if let Some(w) = &worst {
        writeln!(t, "Worst tier is {:.6} ({})", w.percent, w.name)?;
    }
    if parsed.flag("verbose") && !report.rows.is_empty() {
        let columns = (b.replicas + 1.0).ceil() as usize;
        let cw = b.parts().to_string().len().max(5);
        let tw = report
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(30);
        let mut header = format!("{:<tw$} {:>cw$} {:>6} {:>6} ", "Tier", "Parts", "%", "Max");
        let counts: Vec<String> = (0..columns).map(|i| format!("{i:>cw$}")).collect();
        header.push_str(&counts.join(" "));
        let rule = "-".repeat(header.chars().count());
        writeln!(t, "{rule}\n{header}\n{rule}")?;
        for r in &report.rows {
            let counts: Vec<String> = r.replicas.iter().map(|c| format!("{c:>cw$}")).collect();
            writeln!(
                t,
                "{:<tw$} {:>cw$} {:>6.2} {:>6} {}",
                r.name,
                r.parts,
                r.percent,
                r.max,
                counts.join(" ")
            )?;
        }
    }
    ctx.out.write_all(&t)?;
    Ok(status)
}

/// `validate`: silent on success; a failure prints Swift's error and exits 2.
pub fn validate(ctx: &mut Ctx) -> io::Result<u8> {
    let result = ctx.b().validate();
    if ctx.json {
        js::validate(ctx, &result)?;
    } else if let Err(e) = &result {
        writeln!(ctx.err, "RingValidationError: {e}")?;
    }
    Ok(if result.is_ok() {
        EXIT_SUCCESS
    } else {
        EXIT_ERROR
    })
}
