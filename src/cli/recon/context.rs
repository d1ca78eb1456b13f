//! What every swift-recon check shares: the client, the output, verbosity,
//! and the helpers that print Swift's headers, separators and fetch lines.

use crate::recon::client::{Answer, Client, Host, ServerAnswer};
use crate::recon::pyfmt::value_repr;
use crate::recon::report::{self, Stats};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::PathBuf;

pub(super) struct Ctx<'a> {
    pub client: Client,
    pub rt: &'a tokio::runtime::Runtime,
    pub verbose: bool,
    pub suppress: bool,
    pub server_type: String,
    pub swift_dir: PathBuf,
    /// With `--json` nothing is printed; checks only return data.
    pub json: bool,
    pub out: &'a mut dyn Write,
}

pub(super) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Swift's `_ptime`: UTC time of `t`, or of now when `t` is 0 / missing.
pub(super) fn ptime(t: Option<f64>) -> String {
    match t {
        Some(t) if t != 0.0 => report::utc_string(t),
        _ => report::utc_string(now()),
    }
}

impl Ctx<'_> {
    pub fn line(&mut self, text: impl AsRef<str>) {
        if !self.json {
            let _ = writeln!(self.out, "{}", text.as_ref());
        }
    }

    pub fn header(&mut self, title: &str) {
        let t = ptime(None);
        self.line(format!("[{t}] {title}"));
    }

    pub fn sep(&mut self) {
        self.line("=".repeat(79));
    }

    fn report_answer(&mut self, url: &str, shown: Result<String, String>) {
        match shown {
            Ok(repr) if self.verbose => self.line(format!("-> {url}: {repr}")),
            Err(e) if !self.suppress || self.verbose => self.line(format!("-> {url}: {e}")),
            _ => {}
        }
    }

    /// Fetches `check` from every host, printing Swift's per-host lines.
    pub fn fetch(&mut self, hosts: &[Host], check: &str) -> Vec<Answer> {
        let answers = self.rt.block_on(self.client.get_all(hosts, check));
        for a in &answers {
            let shown = a.result.as_ref().map(value_repr).map_err(|e| e.to_string());
            self.report_answer(&a.url, shown);
        }
        answers
    }

    /// `OPTIONS /` on every host, printing errors as Swift does.
    pub fn fetch_server_types(&mut self, hosts: &[Host]) -> Vec<ServerAnswer> {
        let answers = self.rt.block_on(self.client.server_types(hosts));
        for a in &answers {
            if let Err(e) = &a.result {
                self.report_answer(&a.url, Err(e.to_string()));
            }
        }
        answers
    }

    /// Prints the stats line for `name`, or Swift's "no valid data" line
    /// (with `missing_name` in it); returns the stats as JSON.
    pub fn stats(&mut self, name: &str, missing_name: &str, values: &[Option<f64>]) -> Value {
        match report::gen_stats(values) {
            Some(s) => {
                self.line(report::stats_line(name, &s));
                stats_json(&s)
            }
            None => {
                self.line(format!("[{missing_name}] - No hosts returned valid data."));
                Value::Null
            }
        }
    }

    /// Prints Swift's oldest / most recent completion lines.
    pub fn completions(&mut self, data: &[(String, Option<f64>)]) -> Value {
        let c = report::completions(data);
        let now = now();
        if let Some((host, t)) = &c.oldest {
            if *t == 0.0 {
                self.line(format!("Oldest completion was NEVER by {host}."));
            } else {
                let (v, unit) = report::seconds_to_unit(now - t);
                let when = ptime(Some(*t));
                self.line(format!(
                    "Oldest completion was {when} ({} {unit} ago) by {host}.",
                    report::py_int(v)
                ));
            }
        }
        if let Some((host, t)) = &c.newest {
            let (v, unit) = report::seconds_to_unit(now - t);
            let when = ptime(Some(*t));
            self.line(format!(
                "Most recent completion was {when} ({} {unit} ago) by {host}.",
                report::py_int(v)
            ));
        }
        json!({
            "oldest": c.oldest.map(|(h, t)| json!({"host": h, "time": t})),
            "newest": c.newest.map(|(h, t)| json!({"host": h, "time": t})),
        })
    }
}

pub(super) fn stats_json(s: &Stats) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// Per-host raw answers for `--json`: `{"ip:port": value | {"error": text}}`.
pub(super) fn answers_json(answers: &[Answer]) -> Value {
    let mut m = Map::new();
    for a in answers {
        let v = match &a.result {
            Ok(v) => v.clone(),
            Err(e) => json!({"error": e.to_string()}),
        };
        m.insert(a.host.netloc(), v);
    }
    Value::Object(m)
}

/// `url -> netloc`, as `urlparse(url).netloc`.
pub(super) fn netloc(a: &Answer) -> String {
    a.host.netloc()
}
