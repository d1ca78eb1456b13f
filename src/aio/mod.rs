//! swift-all-in-one: a complete cluster on 127.0.0.1 from one command.
//!
//! `layout` writes the directory (configs, device directories, rings, built
//! once and reused on restart); `children` runs the storage servers, the
//! proxy and each node's background daemons (updaters, auditors) as child
//! processes (this same executable in server or daemon mode) and stops
//! them on Ctrl-C; `backlog` reads what those daemons have left to do.

pub mod backlog;
pub mod children;
pub mod layout;
pub mod rings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Command-line options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "swift-all-in-one",
    about = "Run a complete Swift cluster (proxy with tempauth, 4 storage nodes, 3 replicas) on 127.0.0.1"
)]
pub struct Options {
    /// Directory holding configs, rings and data (created if missing; reused on restart).
    #[arg(long, default_value = "aio-data")]
    pub dir: PathBuf,
    /// Proxy port.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// First storage port: node N uses base+10N (object), +1 (container), +2 (account).
    #[arg(long, default_value_t = 6200)]
    pub base_port: u16,
    /// Partition power of the rings made on first start (2^N partitions;
    /// an existing directory keeps its rings).
    #[arg(long, default_value_t = rings::PART_POWER, value_parser = clap::value_parser!(u32).range(1..=24))]
    pub part_power: u32,
    /// Run the servers from the swift-*-server binaries in this directory
    /// (default: this program runs each server itself, in a child process).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Internal: run one server (`object`, `container`, `account` or `proxy`) with a config.
    #[arg(long, hide = true, num_args = 2, value_names = ["KIND", "CONF"])]
    pub run_server: Option<Vec<PathBuf>>,
    /// Internal: run one daemon (e.g. `swift-object-updater`) with a config.
    #[arg(long, hide = true, num_args = 2, value_names = ["NAME", "CONF"])]
    pub run_daemon: Option<Vec<String>>,
    /// Run only these storage nodes (e.g. `5,6`), no proxy: new nodes
    /// joining the running cluster in DIR (same --base-port), their configs
    /// written if missing. Add their devices to the rings to put them to use.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=99))]
    pub nodes: Vec<u16>,
    /// Write the layout and rings (or with --nodes, those nodes' configs),
    /// print what they are, and exit.
    #[arg(long)]
    pub setup_only: bool,
}

/// The whole binary.
pub fn main() -> ExitCode {
    let opts = Options::parse();
    if let Some([name, conf]) = opts.run_daemon.as_deref() {
        let Some(entry) = crate::daemons::entry(name) else {
            eprintln!("swift-all-in-one: unknown daemon {name:?}");
            return ExitCode::from(2);
        };
        return ExitCode::from(entry(std::slice::from_ref(conf)));
    }
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swift-all-in-one: {e}");
            ExitCode::from(1)
        }
    }
}

/// Sets up the directory, then runs the cluster until Ctrl-C / SIGTERM.
pub fn run(opts: &Options) -> Result<(), String> {
    if let Some([kind, conf]) = opts.run_server.as_deref() {
        return run_server(&kind.to_string_lossy(), conf);
    }
    let mut layout = layout::Layout::new(&opts.dir, opts.port, opts.base_port)?;
    layout.part_power = opts.part_power;
    if opts.nodes.is_empty() {
        layout.write()?;
    } else {
        if !layout.etc().join("swift.conf").exists() {
            return Err(format!(
                "no cluster in {}: start it once without --nodes first",
                layout.root.display()
            ));
        }
        for &node in &opts.nodes {
            layout.write_node(node)?;
        }
    }
    let launch = match &opts.bin_dir {
        Some(d) => children::Launcher::BinDir(d.clone()),
        None => children::Launcher::SelfExe(std::env::current_exe().map_err(|e| e.to_string())?),
    };
    if opts.setup_only {
        if opts.nodes.is_empty() {
            println!("{}", layout.banner());
        } else {
            println!("{}", layout.nodes_banner(&opts.nodes));
        }
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    if opts.nodes.is_empty() {
        rt.block_on(children::run_cluster(&layout, &launch))
    } else {
        rt.block_on(children::run_nodes(&layout, &launch, &opts.nodes))
    }
}

/// One server of the cluster, in this process (the children's entry point).
fn run_server(kind: &str, conf: &std::path::Path) -> Result<(), String> {
    use crate::servers::ServerKind;
    let kind = match kind {
        "proxy" => return crate::servers::proxy::run(conf.to_path_buf()),
        "object" => ServerKind::Object,
        "container" => ServerKind::Container,
        "account" => ServerKind::Account,
        "object-replicator" => {
            let args = [conf.to_string_lossy().into_owned()];
            return match crate::daemons::object_replicator::main_with(&args) {
                0 => Ok(()),
                rc => Err(format!("object-replicator exited with status {rc}")),
            };
        }
        other => return Err(format!("unknown server kind {other:?}")),
    };
    crate::servers::harness::run(kind, conf.to_path_buf())
}
