//! The backlog a PUT phase leaves to the all-in-one cluster's daemons, and
//! how long they take to work through it once the load stops
//! (`scripts/bench-proxy` runs it after each proxy's PUT phase).
//!
//! Usage: `aio_backlog AIO_DIR ACCOUNT CONTAINER MAX_WAIT_SECS [ACKED]`
//! with the names the phase PUT on stdin, one a line (`ACKED`: how many of
//! them the proxy acknowledged); `aio_backlog --watch AIO_DIR SECS` samples
//! the queues during the phase and prints the largest;
//! `aio_backlog --primaries AIO_DIR ACCOUNT CONTAINER` prints the devices
//! of the container's primary replicas. Prints the backlog at once, then polls
//! every second until nothing is left: no async pending, no unmerged
//! `.pending` row, every primary holding its copy and no copy on a
//! handoff, every container replica listing every stored object and every
//! account replica counting them. Stops early when rows are still missing
//! but nothing has been queued or changed for [`STUCK`] (longer than every
//! daemon interval of the cluster): those updates are lost, not late.
//! Exits 1 when the backlog is not drained within `MAX_WAIT_SECS`, rows are
//! lost, or an acknowledged object is not stored; 2 on bad usage.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ferroswift::aio::backlog::{Cluster, Copies, Queues, ReplicaRows};

/// How long nothing may change, with nothing queued, before missing rows
/// count as lost: past the all-in-one daemons' longest interval (30 s).
const STUCK: f64 = 45.0;

/// One look at the cluster.
struct State {
    queues: Queues,
    copies: Copies,
    rows: Vec<ReplicaRows>,
    accounts: Vec<(String, Option<i64>)>,
}

impl State {
    fn take(c: &Cluster, account: &str, container: &str, names: &[String]) -> State {
        // Queues first: the other looks read files the daemons change.
        let queues = c.queues();
        let copies = c.copies(account, container, names);
        let rows = c.container_rows(account, container, &copies.stored);
        let accounts = c.account_counts(account, container);
        State {
            queues,
            copies,
            rows,
            accounts,
        }
    }

    fn replication_done(&self) -> bool {
        self.copies.missing_on_primaries == 0 && self.copies.on_handoffs == 0
    }
    fn rows_done(&self) -> bool {
        !self.rows.is_empty() && self.rows.iter().all(|r| r.missing.is_empty())
    }
    /// Everything but the listings and account rows is done.
    fn queues_done(&self) -> bool {
        self.queues == Queues::default() && self.replication_done()
    }
    /// The numbers that change while the daemons work.
    fn progress(&self) -> (Queues, usize, usize, Vec<usize>, Vec<Option<i64>>) {
        (
            self.queues,
            self.copies.missing_on_primaries,
            self.copies.on_handoffs,
            self.rows.iter().map(|r| r.listed).collect(),
            self.accounts.iter().map(|a| a.1).collect(),
        )
    }
    /// Stored objects no container replica lists.
    fn unlisted(&self) -> Vec<&str> {
        let Some(first) = self.rows.first() else {
            return Vec::new();
        };
        first
            .missing
            .iter()
            .filter(|n| self.rows.iter().all(|r| r.missing.contains(n)))
            .map(String::as_str)
            .collect()
    }
    fn accounts_done(&self) -> bool {
        let want = self.copies.stored.len() as i64;
        !self.accounts.is_empty() && self.accounts.iter().all(|(_, n)| *n == Some(want))
    }

    fn describe(&self) -> String {
        let q = &self.queues;
        let listed: Vec<String> = self.rows.iter().map(|r| r.listed.to_string()).collect();
        let missing: usize = self.rows.iter().map(|r| r.missing.len()).sum();
        let counted: Vec<String> = self
            .accounts
            .iter()
            .map(|(_, n)| n.map_or("-".into(), |n| n.to_string()))
            .collect();
        format!(
            "{} async pendings, {:.1} KiB of .pending in {} files; {} objects stored, \
             listed by the container replicas {} ({missing} rows missing), counted by the \
             account replicas {}; replication: {} copies missing from primaries, {} on handoffs",
            q.async_pendings,
            q.pending_bytes as f64 / 1024.0,
            q.pending_files,
            self.copies.stored.len(),
            listed.join("/"),
            counted.join("/"),
            self.copies.missing_on_primaries,
            self.copies.on_handoffs,
        )
    }
}

/// `--watch AIO_DIR SECS`: the largest queues seen, sampled every second
/// for `SECS` seconds (while a load runs).
fn watch(dir: &str, secs: &str) -> ExitCode {
    let (Ok(cluster), Ok(secs)) = (Cluster::open(Path::new(dir)), secs.parse::<f64>()) else {
        eprintln!("aio_backlog: bad --watch arguments {dir:?} {secs:?}");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let mut most = Queues::default();
    let mut samples = 0;
    while start.elapsed().as_secs_f64() < secs {
        let q = cluster.queues();
        most.async_pendings = most.async_pendings.max(q.async_pendings);
        most.pending_files = most.pending_files.max(q.pending_files);
        most.pending_bytes = most.pending_bytes.max(q.pending_bytes);
        samples += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    println!(
        "during PUT: at most {} async pendings, {:.1} KiB of .pending, {} .pending files \
         ({samples} samples, one a second)",
        most.async_pendings,
        most.pending_bytes as f64 / 1024.0,
        most.pending_files
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let (Some("--watch"), Some(dir), Some(secs)) =
        (args.first().map(String::as_str), args.get(1), args.get(2))
    {
        return watch(dir, secs);
    }
    if let (Some("--primaries"), Some(dir), Some(account), Some(container)) = (
        args.first().map(String::as_str),
        args.get(1),
        args.get(2),
        args.get(3),
    ) {
        let Ok(cluster) = Cluster::open(Path::new(dir)) else {
            eprintln!("aio_backlog: cannot read the cluster in {dir}");
            return ExitCode::from(2);
        };
        for r in cluster.container_rows(account, container, &[]) {
            println!("{}", r.device);
        }
        return ExitCode::SUCCESS;
    }
    let (Some(dir), Some(account), Some(container), Some(wait)) =
        (args.first(), args.get(1), args.get(2), args.get(3))
    else {
        eprintln!("usage: aio_backlog AIO_DIR ACCOUNT CONTAINER MAX_WAIT_SECS [ACKED] < names");
        return ExitCode::from(2);
    };
    let Ok(wait) = wait.parse::<f64>() else {
        eprintln!("aio_backlog: bad MAX_WAIT_SECS {wait:?}");
        return ExitCode::from(2);
    };
    let acked: Option<usize> = match args.get(4).map(|a| a.parse()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            eprintln!("aio_backlog: bad ACKED {:?}", args[4]);
            return ExitCode::from(2);
        }
    };
    let cluster = match Cluster::open(Path::new(dir)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("aio_backlog: {dir}: {e}");
            return ExitCode::from(2);
        }
    };
    let names: Vec<String> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.is_empty())
        .collect();

    let start = Instant::now();
    let first = State::take(&cluster, account, container, &names);
    println!("backlog after PUT: {}", first.describe());
    let stored = first.copies.stored.len();
    let lost = acked.is_some_and(|a| a > stored);
    if let Some(a) = acked {
        if lost {
            println!("ERROR: {a} PUTs acknowledged but only {stored} objects stored");
        }
    }
    // When each part of the backlog was first seen gone (seconds).
    let mut gone: [Option<f64>; 5] = [None; 5];
    let labels = [
        "async pendings",
        ".pending",
        "replication",
        "listings",
        "account counts",
    ];
    let mut state = first;
    let mut changed = (state.progress(), 0.0);
    // When the state in hand was taken.
    let mut t = 0.0;
    loop {
        let done = [
            state.queues.async_pendings == 0,
            state.queues.pending_bytes == 0,
            state.replication_done(),
            state.rows_done(),
            state.accounts_done(),
        ];
        for (g, d) in gone.iter_mut().zip(done) {
            *g = if d { g.or(Some(t)) } else { None };
        }
        if done.iter().all(|d| *d) {
            let parts: Vec<String> = labels
                .iter()
                .zip(gone)
                .map(|(l, g)| format!("{l} {:.1} s", g.unwrap_or(t)))
                .collect();
            println!(
                "drained in {t:.1} s ({}); every container replica lists all {} objects",
                parts.join(", "),
                state.copies.stored.len()
            );
            return if lost {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
        if state.progress() != changed.0 {
            changed = (state.progress(), t);
        }
        let stuck = state.queues_done() && t - changed.1 >= STUCK;
        if t >= wait || stuck {
            println!("NOT drained after {t:.0} s: {}", state.describe());
            let parts: Vec<String> = labels
                .iter()
                .zip(gone)
                .filter_map(|(l, g)| g.map(|g| format!("{l} {g:.1} s")))
                .collect();
            if !parts.is_empty() {
                println!("gone by then: {}", parts.join(", "));
            }
            let unlisted = state.unlisted();
            if stuck && !unlisted.is_empty() {
                println!(
                    "LOST: {} stored objects are listed by no container replica and no \
                     async pending will bring them (nothing changed for {:.0} s), e.g. {}",
                    unlisted.len(),
                    t - changed.1,
                    unlisted[..unlisted.len().min(5)].join(" ")
                );
            }
            return ExitCode::from(1);
        }
        std::thread::sleep(Duration::from_secs(1));
        t = start.elapsed().as_secs_f64();
        state = State::take(&cluster, account, container, &names);
    }
}
