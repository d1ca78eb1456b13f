//! `swift-get-nodes`: where an account, container, object or partition lives.
//!
//! A drop-in for Swift's tool: same options, argument forms, output bytes,
//! warnings, error texts and exit codes; plus `--json`. All output goes to
//! the writers passed in; the binary only hands over argv and stdio.
//! Argument parsing is in `get_nodes/args.rs`, text helpers in
//! `get_nodes/text.rs`.

mod args;
mod text;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::conf::ring_file::load_lookup_ring;
use crate::conf::swift_conf::{StoragePolicies, SwiftConf};
use crate::ring::hash::{hex_digest, HashPathConf};
use crate::ring::{Device, Node, Ring};

pub use args::{Args, Parsed};
use text::{decimal, is_ipv6, py_quote, py_repr, py_unquote};

/// `--help` text, byte for byte as Swift's.
pub const HELP: &str = include_str!("get_nodes/help.txt");

const DEFAULT_SWIFT_DIR: &str = "/etc/swift";

/// Why a run stopped early.
enum Stop {
    /// Help on stdout, `ERROR: msg` on stderr, exit 1 (Swift's argument errors).
    Usage(String),
    /// A message on stdout, exit 1 (Swift's semantic errors).
    Stdout(String),
    /// A one-line message on stderr, exit 1.
    Fatal(String),
    /// Writing the output failed.
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Io(e)
    }
}

/// Runs the tool; returns the exit code. A closed stdout (broken pipe) is
/// not an error.
pub fn run(argv: Vec<OsString>, out: &mut impl Write, err: &mut impl Write) -> u8 {
    let args = match args::parse(argv) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help) => return finish(out.write_all(HELP.as_bytes()).map(|_| 0)),
        Ok(Parsed::Error(msg)) => {
            let usage = HELP.split("\nOptions:").next().unwrap_or(HELP);
            let _ = write!(err, "{usage}\nswift-get-nodes: error: {msg}\n");
            return 2;
        }
        Err(msg) => {
            let _ = writeln!(err, "ERROR: {msg}");
            return 1;
        }
    };
    let result = GetNodes::new(args).and_then(|mut g| g.run(out, err));
    let code = match result {
        Ok(()) => 0,
        Err(Stop::Usage(msg)) => {
            let _ = out.write_all(HELP.as_bytes());
            let _ = out.flush();
            let _ = writeln!(err, "ERROR: {msg}");
            1
        }
        Err(Stop::Stdout(msg)) => {
            let _ = writeln!(out, "{msg}");
            1
        }
        Err(Stop::Fatal(msg)) => {
            let _ = out.flush();
            let _ = writeln!(err, "{msg}");
            1
        }
        Err(Stop::Io(e)) => return finish(Err(e)),
    };
    finish(out.flush().map(|_| code))
}

fn finish(result: io::Result<u8>) -> u8 {
    match result {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(_) => 1,
    }
}

/// The state of one invocation.
struct GetNodes {
    args: Args,
    swift_dir: String,
    conf_path: PathBuf,
    hash: Option<HashPathConf>,
    policies: StoragePolicies,
}

impl GetNodes {
    /// Swift's `set_swift_dir` + `reload_storage_policies`: a non-default
    /// swift dir has its hash settings checked at once.
    fn new(args: Args) -> Result<GetNodes, Stop> {
        let swift_dir = args
            .swift_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_SWIFT_DIR.to_owned());
        let conf_path = Path::new(&swift_dir).join("swift.conf");
        let mut g = GetNodes {
            args,
            swift_dir,
            conf_path,
            hash: None,
            policies: StoragePolicies::default(),
        };
        if g.swift_dir != DEFAULT_SWIFT_DIR {
            g.hash_conf()?;
        }
        g.policies = match SwiftConf::load(&g.conf_path) {
            Ok(conf) => conf.policies().map_err(|e| Stop::Fatal(e.to_string()))?,
            Err(_) => StoragePolicies::default(),
        };
        Ok(g)
    }

    /// The hash prefix/suffix, read once (Swift's `validate_configuration`).
    fn hash_conf(&mut self) -> Result<HashPathConf, Stop> {
        if let Some(h) = &self.hash {
            return Ok(h.clone());
        }
        let conf =
            SwiftConf::load(&self.conf_path).map_err(|e| Stop::Fatal(format!("ERROR: {e}")))?;
        let h = conf
            .hash_path_conf()
            .map_err(|e| Stop::Fatal(format!("Error: {e}")))?;
        self.hash = Some(h.clone());
        Ok(h)
    }

    /// Swift's `Ring(path)`: checks the hash settings, then loads the ring.
    fn open_ring(&mut self, path: &Path) -> Result<Ring, Stop> {
        self.hash_conf()?;
        load_lookup_ring(path).map_err(|e| Stop::Fatal(format!("ERROR: cannot load ring {e}")))
    }

    fn run(&mut self, out: &mut impl Write, err: &mut impl Write) -> Result<(), Stop> {
        let (ring_path, targets) = self.parse_targets()?;
        let mut ring = None;
        let mut ring_name: Option<String> = None;
        if let Some(path) = &ring_path {
            let base = Path::new(path)
                .file_name()
                .map_or(String::new(), |b| b.to_string_lossy().into_owned());
            ring_name = Some(base[..base.len().saturating_sub(".ring.gz".len())].to_owned());
            ring = Some(self.open_ring(Path::new(path))?);
        }
        let mut it = targets.into_iter();
        let account = it.next();
        let container = it.next();
        let obj = it.next();
        self.print_item_locations(out, err, ring, ring_name, account, container, obj)
    }

    /// Swift's `parse_get_node_args`: the ring file, then the target words.
    fn parse_targets(&self) -> Result<(Option<String>, Vec<String>), Stop> {
        let mut words = self.args.positional.clone();
        let mut ring_path = None;
        if let Some(name) = &self.args.policy_name {
            if self.policies.get_by_name(name).is_none() {
                return Err(Stop::Usage(format!("No policy named {}", py_repr(name))));
            }
        } else if words.first().is_some_and(|w| w.ends_with(".ring.gz")) {
            if Path::new(&words[0]).exists() {
                ring_path = Some(words.remove(0));
            } else {
                return Err(Stop::Usage("Ring file does not exist".into()));
            }
        }
        if self.args.quoted {
            words = words.iter().map(|w| py_unquote(w)).collect();
        }
        if words.len() == 1 {
            let single = words[0].trim_matches('/');
            words = single.splitn(3, '/').map(str::to_owned).collect();
        }
        if ring_path.is_none() && self.args.policy_name.is_none() {
            return Err(Stop::Usage(
                "Need to specify policy_name or <ring.gz>".into(),
            ));
        }
        if words.is_empty() && !self.partition_given() {
            return Err(Stop::Usage("No target specified".into()));
        }
        if words.len() > 3 {
            return Err(Stop::Usage("Invalid arguments".into()));
        }
        Ok((ring_path, words))
    }

    /// `-p` counts only when non-empty, like Swift's truthiness test.
    fn partition_given(&self) -> bool {
        self.args
            .partition
            .as_deref()
            .is_some_and(|p| !p.is_empty())
    }

    /// Swift's `print_item_locations`: picks the ring, datadir and policy.
    #[allow(clippy::too_many_arguments)]
    fn print_item_locations(
        &mut self,
        out: &mut impl Write,
        err: &mut impl Write,
        mut ring: Option<Ring>,
        mut ring_name: Option<String>,
        account: Option<String>,
        container: Option<String>,
        obj: Option<String>,
    ) -> Result<(), Stop> {
        let truthy = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        let (has_a, has_c, has_o) = (truthy(&account), truthy(&container), truthy(&obj));
        let has_part = self.partition_given();
        let mut policy_index: Option<u32> = None;
        if ring.is_none() && (has_o || has_part) {
            let Some(name) = self.args.policy_name.clone() else {
                return Err(Stop::Stdout("Need a ring or policy".into()));
            };
            let Some(policy) = self.policies.get_by_name(&name).cloned() else {
                return Err(Stop::Stdout(format!("No policy named {}", py_repr(&name))));
            };
            policy_index = Some(policy.index);
            let path = Path::new(&self.swift_dir).join(format!("{}.ring.gz", policy.ring_name()));
            ring = Some(self.open_ring(&path)?);
            ring_name = Some(policy.ring_name());
        }
        if (has_c || has_o) && !has_a {
            return Err(Stop::Stdout("No account specified".into()));
        }
        if has_o && !has_c {
            return Err(Stop::Stdout("No container specified".into()));
        }
        if !has_a && !has_part {
            return Err(Stop::Stdout("No target specified".into()));
        }
        let name = ring_name.clone().unwrap_or_default();
        let policy_ring = name.contains('-') && name.starts_with("object");
        let mut datadir = "<type>".to_owned();
        if has_part && ring_name.is_some() {
            datadir = match name.split_once('-') {
                Some((_, n)) if policy_ring => format!("objects-{n}"),
                _ => format!("{name}s"),
            };
        }
        let mut warnings = Vec::new();
        if has_a && has_c && has_o {
            datadir = "objects".into();
            if policy_ring {
                let suffix = name.rsplit('-').next().unwrap_or("");
                let index = text::py_int(suffix)
                    .and_then(|i| u32::try_from(i).ok())
                    .ok_or_else(|| {
                        Stop::Fatal(format!(
                            "ERROR: no policy index in ring name {}",
                            py_repr(&name)
                        ))
                    })?;
                policy_index = Some(index);
                datadir = format!("objects-{index}");
            }
        }
        for (kind, wanted, warning) in [
            (
                "containers",
                has_a && has_c && !has_o,
                "WARNING: account/container specified but ring not named \"container\"",
            ),
            (
                "accounts",
                has_a && !has_c && !has_o,
                "WARNING: account specified but ring not named \"account\"",
            ),
        ] {
            if !wanted {
                continue;
            }
            datadir = kind.into();
            let server = &kind[..kind.len() - 1];
            if ring.is_none() && ring_name.is_none() {
                let path = Path::new(&self.swift_dir).join(format!("{server}.ring.gz"));
                ring = Some(self.open_ring(&path)?);
            } else if ring_name.as_deref() != Some(server) {
                warnings.push(warning);
            }
        }
        let Some(ring) = ring else {
            return Err(Stop::Fatal("ERROR: No ring specified".into()));
        };
        let target = if has_o {
            format!(
                "{}/{}/{}",
                account.as_deref().unwrap_or(""),
                container.as_deref().unwrap_or(""),
                obj.as_deref().unwrap_or("")
            )
        } else if has_c {
            format!(
                "{}/{}",
                account.as_deref().unwrap_or(""),
                container.as_deref().unwrap_or("")
            )
        } else {
            account.clone().unwrap_or_else(|| "None".to_owned())
        };
        let container = container.filter(|_| has_c);
        let obj = obj.filter(|_| has_o);
        let (part, hash) = match self.args.partition.as_deref().filter(|_| has_part) {
            Some(given) => (self.parse_partition(&ring, given)?, None),
            None => {
                let hash = self.hash_conf()?;
                let account = account.as_deref().unwrap_or("");
                let digest = hash
                    .hash_path(account, container.as_deref(), obj.as_deref())
                    .map_err(|e| Stop::Fatal(format!("ERROR: {e}")))?;
                (ring.part_for_digest(&digest), Some(hex_digest(&digest)))
            }
        };
        let primaries = ring.get_part_nodes(part);
        let handoffs: Vec<Node<'_>> = if self.args.all {
            ring.get_more_nodes(part).collect()
        } else {
            ring.get_more_nodes(part).take(primaries.len()).collect()
        };
        let located = Located {
            part,
            hash,
            primaries,
            handoffs,
            datadir,
            policy_index,
            target,
        };
        if self.args.json {
            for w in &warnings {
                writeln!(err, "{w}")?;
            }
            render_json(out, &located)?;
        } else {
            for w in &warnings {
                writeln!(out, "{w}")?;
            }
            let header = [
                ("Account  ", account.filter(|_| has_a)),
                ("Container", container),
                ("Object   ", obj),
            ];
            render_text(out, &header, &located)?;
        }
        Ok(())
    }

    /// `-p N` as Python's `int()` reads it; a partition outside the ring is
    /// refused (Swift would print an empty node list).
    fn parse_partition(&self, ring: &Ring, given: &str) -> Result<u32, Stop> {
        let value = text::py_int(given).ok_or_else(|| {
            Stop::Fatal(format!(
                "ERROR: invalid partition number {}",
                py_repr(given)
            ))
        })?;
        match u32::try_from(value) {
            Ok(part) if (part as usize) < ring.partition_count() => Ok(part),
            _ => Err(Stop::Fatal(format!(
                "ERROR: partition {value} is out of range (the ring has {} partitions)",
                ring.partition_count()
            ))),
        }
    }
}

/// The answer of one lookup, ready to print.
struct Located<'r> {
    part: u32,
    hash: Option<String>,
    primaries: Vec<Node<'r>>,
    handoffs: Vec<Node<'r>>,
    datadir: String,
    policy_index: Option<u32>,
    /// `a`, `a/c`, `a/c/o`, or `None` in partition mode.
    target: String,
}

/// Swift's `print_ring_locations`, preceded by the name header. The node
/// lines (thousands with `-a` on a large ring) are written piece by piece,
/// without the formatting machinery.
fn render_text(
    out: &mut impl Write,
    header: &[(&str, Option<String>); 3],
    l: &Located<'_>,
) -> io::Result<()> {
    let [(_, account), (_, container), (_, obj)] = header;
    if let Some(a) = account {
        write!(out, "\nAccount  \t{}\n", py_quote(a))?;
    }
    if let Some(c) = container {
        writeln!(out, "Container\t{}", py_quote(c))?;
    }
    if let Some(o) = obj {
        write!(out, "Object   \t{}\n\n\n", py_quote(o))?;
    }
    writeln!(out, "Partition\t{}", l.part)?;
    writeln!(out, "Hash     \t{}\n", l.hash.as_deref().unwrap_or("None"))?;
    let part = l.part.to_string();
    let part = part.as_bytes();
    let mut digits = [0u8; 10];
    for (n, tag) in tagged(l, "", "\t [Handoff]") {
        let d = n.device;
        let port = decimal(&mut digits, d.port.into());
        put(out, &[b"Server:Port Device\t", d.ip.as_bytes(), b":", port])?;
        put(out, &[b" ", d.device.as_bytes(), tag, b"\n"])?;
    }
    out.write_all(b"\n\n")?;
    let target = py_quote(&l.target);
    let policy = l
        .policy_index
        .map(|index| format!(" -H \"X-Backend-Storage-Policy-Index: {index}\""))
        .unwrap_or_default();
    for (n, tag) in tagged(l, "", " # [Handoff]") {
        let d = n.device;
        let (open, close): (&[u8], &[u8]) = if is_ipv6(&d.ip) {
            (b"[", b"]")
        } else {
            (b"", b"")
        };
        let port = decimal(&mut digits, d.port.into());
        put(
            out,
            &[b"curl -g -I -XHEAD \"http://", open, d.ip.as_bytes(), close],
        )?;
        put(
            out,
            &[b":", port, b"/", d.device.as_bytes(), b"/", part, b"/"],
        )?;
        put(out, &[target.as_bytes(), b"\"", policy.as_bytes()])?;
        put(out, &[b" --path-as-is", tag, b"\n"])?;
    }
    out.write_all(
        b"\n\nUse your own device location of servers:\nsuch as \"export DEVICE=/srv/node\"\n",
    )?;
    for (n, tag) in tagged(l, "", " # [Handoff]") {
        let d = n.device;
        put(
            out,
            &[
                b"ssh ",
                d.ip.as_bytes(),
                b" \"ls -lah ${DEVICE:-/srv/node*}/",
            ],
        )?;
        put(
            out,
            &[d.device.as_bytes(), b"/", l.datadir.as_bytes(), b"/", part],
        )?;
        if let Some(hash) = &l.hash {
            let suffix = &hash[hash.len().saturating_sub(3)..];
            put(out, &[b"/", suffix.as_bytes(), b"/", hash.as_bytes()])?;
        }
        put(out, &[b"\"", tag, b"\n"])?;
    }
    out.write_all(
        b"\nnote: `/srv/node*` is used as default value of `devices`, the real value is set in the config file on each storage node.\n",
    )
}

/// The primaries tagged `primary`, then the handoffs tagged `handoff`.
fn tagged<'a>(
    l: &'a Located<'_>,
    primary: &'static str,
    handoff: &'static str,
) -> impl Iterator<Item = (&'a Node<'a>, &'static [u8])> {
    let primaries = l.primaries.iter().map(move |n| (n, primary.as_bytes()));
    primaries.chain(l.handoffs.iter().map(move |n| (n, handoff.as_bytes())))
}

/// Writes `parts` one after the other.
fn put(out: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    parts.iter().try_for_each(|part| out.write_all(part))
}

fn device_json(index_key: &str, n: &Node<'_>) -> Value {
    let d: &Device = n.device;
    json!({
        index_key: n.index,
        "id": d.id,
        "region": d.region,
        "zone": d.zone,
        "ip": d.ip,
        "port": d.port,
        "replication_ip": d.replication_ip,
        "replication_port": d.replication_port,
        "device": d.device,
        "meta": d.meta,
        "weight": d.weight,
    })
}

/// `--json`: partition, hash and the nodes with every device field.
fn render_json(out: &mut impl Write, l: &Located<'_>) -> io::Result<()> {
    let doc = json!({
        "partition": l.part,
        "hash": l.hash,
        "primaries": l.primaries.iter().map(|n| device_json("index", n)).collect::<Vec<_>>(),
        "handoffs": l.handoffs.iter().map(|n| device_json("handoff_index", n)).collect::<Vec<_>>(),
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}
