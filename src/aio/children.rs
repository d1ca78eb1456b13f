//! Running the cluster: one child process per storage server, per node
//! daemon (`layout::DAEMONS`, e.g. the object replicator) and one for the
//! proxy (or only some storage nodes, joining a running cluster), each logging to `log/<name>.log`. Ctrl-C or SIGTERM stops them
//! all (SIGTERM, then SIGKILL after a grace period). A child that is killed,
//! or dies after running a while, is restarted, as an operator would bring
//! a failed node back; one that exits right after starting stops the cluster.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::layout::{Layout, DAEMONS, NODES, SERVERS};

struct Proc {
    name: String,
    bin: String,
    conf: std::path::PathBuf,
    started: std::time::Instant,
    child: Child,
}

/// How servers are started: our own executable in server mode (one binary
/// is all a user needs), or the `swift-*-server` binaries of a directory.
#[derive(Debug, Clone)]
pub enum Launcher {
    SelfExe(PathBuf),
    BinDir(PathBuf),
}

impl Launcher {
    fn command(&self, bin: &str, conf: &Path) -> Command {
        match self {
            Launcher::SelfExe(exe) => {
                let mut c = Command::new(exe);
                match bin.strip_suffix("-server") {
                    Some(server) => {
                        let kind = server.trim_start_matches("swift-");
                        c.arg("--run-server").arg(kind).arg(conf);
                    }
                    None => {
                        c.arg("--run-daemon").arg(bin).arg(conf);
                    }
                }
                c
            }
            Launcher::BinDir(dir) => {
                let mut c = Command::new(dir.join(bin));
                c.arg(conf);
                c
            }
        }
    }
}

fn spawn(
    launch: &Launcher,
    bin: &str,
    conf: &Path,
    log: &Path,
    name: &str,
) -> Result<Proc, String> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log.join(format!("{name}.log")))
        .map_err(|e| format!("log for {name}: {e}"))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = launch
        .command(bin, conf)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {bin}: {e}"))?;
    Ok(Proc {
        name: name.to_string(),
        bin: bin.to_string(),
        conf: conf.to_path_buf(),
        started: std::time::Instant::now(),
        child,
    })
}

async fn wait_port(port: u16) -> bool {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Asks a child to stop (SIGTERM), so servers drain and exit cleanly.
fn terminate(p: &Proc) {
    if let Some(pid) = p.child.id() {
        // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }
}

async fn stop_all(procs: &mut [Proc]) {
    for p in procs.iter() {
        terminate(p);
    }
    for p in procs.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(5), p.child.wait())
            .await
            .is_err()
        {
            let _ = p.child.kill().await;
        }
    }
}

/// Whether a config file has `[section]`.
fn has_section(conf: &Path, section: &str) -> bool {
    std::fs::read_to_string(conf)
        .map(|t| crate::conf::server_conf::parse_ini(&t).contains_key(section))
        .unwrap_or(false)
}

/// Starts every server and daemon, prints the banner, and runs until signalled.
pub async fn run_cluster(layout: &Layout, launch: &Launcher) -> Result<(), String> {
    let nodes: Vec<u16> = (1..=NODES).collect();
    run(layout, launch, &nodes, true).await
}

/// Starts only storage nodes `nodes` (servers and daemons, no proxy): new
/// nodes joining a running cluster, as new machines would.
pub async fn run_nodes(layout: &Layout, launch: &Launcher, nodes: &[u16]) -> Result<(), String> {
    run(layout, launch, nodes, false).await
}

async fn run(layout: &Layout, launch: &Launcher, nodes: &[u16], whole: bool) -> Result<(), String> {
    let mut procs = Vec::new();
    let mut ports = Vec::new();
    for &node in nodes {
        for (kind, off) in SERVERS {
            let bin = format!("swift-{kind}-server");
            let name = format!("{kind}-server-{node}");
            match spawn(
                launch,
                &bin,
                &layout.server_conf(kind, node),
                &layout.log(),
                &name,
            ) {
                Ok(p) => procs.push(p),
                Err(e) => {
                    stop_all(&mut procs).await;
                    return Err(e);
                }
            }
            ports.push((name, layout.port(node, *off)));
        }
    }
    if whole {
        match spawn(
            launch,
            "swift-proxy-server",
            &layout.proxy_conf(),
            &layout.log(),
            "proxy-server",
        ) {
            Ok(p) => procs.push(p),
            Err(e) => {
                stop_all(&mut procs).await;
                return Err(e);
            }
        }
        ports.push(("proxy-server".into(), layout.proxy_port));
    }
    for &node in nodes {
        for (kind, bin, section) in DAEMONS {
            let conf = layout.server_conf(kind, node);
            if !has_section(&conf, section) {
                continue;
            }
            let name = format!("{section}-{node}");
            match spawn(launch, bin, &conf, &layout.log(), &name) {
                Ok(p) => procs.push(p),
                Err(e) => {
                    stop_all(&mut procs).await;
                    return Err(e);
                }
            }
        }
    }
    let cluster_daemons = if whole {
        layout.cluster_daemons()
    } else {
        Vec::new()
    };
    for (bin, conf, name) in cluster_daemons {
        match spawn(launch, &bin, &conf, &layout.log(), &name) {
            Ok(p) => procs.push(p),
            Err(e) => {
                stop_all(&mut procs).await;
                return Err(e);
            }
        }
    }
    for (name, port) in &ports {
        if !wait_port(*port).await {
            stop_all(&mut procs).await;
            return Err(format!(
                "{name} did not start listening on port {port}; see {}",
                layout.log().join(format!("{name}.log")).display()
            ));
        }
    }
    if whole {
        println!("{}", layout.banner());
        println!("Ctrl-C stops the cluster.");
    } else {
        println!("{}", layout.nodes_banner(nodes));
        println!("Ctrl-C stops these nodes.");
    }
    let log = layout.log();
    let died = async {
        loop {
            for p in procs.iter_mut() {
                let Ok(Some(status)) = p.child.try_wait() else {
                    continue;
                };
                // Killed by a signal: restart. Exited on its own right after
                // starting: a configuration or port problem, so give up.
                if status.code().is_some() && p.started.elapsed() < Duration::from_secs(3) {
                    return format!(
                        "{} exited ({status}); see {}",
                        p.name,
                        log.join(format!("{}.log", p.name)).display()
                    );
                }
                eprintln!("{} exited ({status}); restarting it", p.name);
                match spawn(launch, &p.bin, &p.conf, &log, &p.name) {
                    Ok(new) => *p = new,
                    Err(e) => return e,
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let result = tokio::select! {
        _ = crate::servers::harness::shutdown_signal() => Ok(()),
        why = died => Err(why),
    };
    eprintln!("stopping the cluster...");
    stop_all(&mut procs).await;
    result
}
