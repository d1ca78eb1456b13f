//! Runs `swift-all-in-one` for integration tests: a private directory,
//! free ports, the real binary as a child process, stopped on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../common/mod.rs"]
mod common;
pub use common::*;

/// A running all-in-one cluster.
pub struct Aio {
    pub dir: PathBuf,
    pub port: u16,
    pub base_port: u16,
    child: Option<Child>,
}

fn ports_free(base: u16, proxy: u16) -> bool {
    let mut ports = vec![proxy];
    // Room for two nodes beyond the first four, which tests add.
    for n in 1..=6u16 {
        ports.extend([base + 10 * n, base + 10 * n + 1, base + 10 * n + 2]);
    }
    ports
        .iter()
        .all(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
}

/// Picks a proxy port and a storage base port whose ports are all free.
pub fn pick_ports() -> (u16, u16) {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
    for i in 0..200u64 {
        // Below the kernel's ephemeral range (32768 and up by default):
        // nodes started late (region-split tests) must not find their port
        // taken by an outgoing connection of the running cluster.
        let slot = ((seed.wrapping_mul(2654435761).wrapping_add(i * 7919)) % 120) as u16;
        let base = 20000 + slot * 100;
        let proxy = base + 99;
        if ports_free(base, proxy) {
            return (proxy, base);
        }
    }
    panic!("no free ports for an all-in-one cluster");
}

impl Aio {
    /// Writes the layout in `dir` (so tests can adjust configs) without starting.
    pub fn setup(dir: &Path) -> Aio {
        Aio::setup_with(dir, &[])
    }

    /// [`Aio::setup`] with more `swift-all-in-one` options (e.g. `--part-power`).
    pub fn setup_with(dir: &Path, extra: &[&str]) -> Aio {
        let (port, base_port) = pick_ports();
        let st = bin_command("swift-all-in-one")
            .args(["--dir", &dir.to_string_lossy(), "--setup-only"])
            .args(extra)
            .args([
                "--port",
                &port.to_string(),
                "--base-port",
                &base_port.to_string(),
            ])
            .output()
            .expect("run swift-all-in-one --setup-only");
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        Aio {
            dir: dir.to_path_buf(),
            port,
            base_port,
            child: None,
        }
    }

    /// Starts the cluster and waits for its banner.
    pub fn start(mut self) -> Aio {
        self.child = Some(self.launch(&[], "Ctrl-C stops the cluster"));
        self
    }

    /// Writes the configs of extra storage nodes (`--nodes ... --setup-only`),
    /// so tests can adjust them before [`Aio::start_nodes`].
    pub fn setup_nodes(&self, nodes: &[u16]) -> String {
        check(
            self.aio_command(&[])
                .args(["--nodes", &join(nodes), "--setup-only"]),
        )
    }

    /// Starts extra storage nodes next to this cluster (a second
    /// `swift-all-in-one --nodes`), stopped when the returned value drops.
    pub fn start_nodes(&self, nodes: &[u16]) -> Aio {
        let child = self.launch(&["--nodes", &join(nodes)], "Ctrl-C stops these nodes");
        Aio {
            dir: self.dir.clone(),
            port: self.port,
            base_port: self.base_port,
            child: Some(child),
        }
    }

    fn aio_command(&self, extra: &[&str]) -> Command {
        let mut c = bin_command("swift-all-in-one");
        c.args(["--dir", &self.dir.to_string_lossy()])
            .args([
                "--port",
                &self.port.to_string(),
                "--base-port",
                &self.base_port.to_string(),
            ])
            .args(extra);
        c
    }

    /// Runs `swift-all-in-one` and waits for the line holding `ready`.
    fn launch(&self, extra: &[&str], ready: &str) -> Child {
        let mut child = self
            .aio_command(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start swift-all-in-one");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = String::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    seen.push_str(&l);
                    seen.push('\n');
                    if l.contains(ready) {
                        break;
                    }
                }
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!("cluster did not start:\n{seen}\n{}", self.logs());
                }
                Err(_) => {
                    if let Ok(Some(s)) = child.try_wait() {
                        panic!("swift-all-in-one exited ({s}):\n{seen}\n{}", self.logs());
                    }
                }
            }
        }
        if extra.is_empty() {
            assert!(
                seen.contains(&format!("http://127.0.0.1:{}/auth/v1.0", self.port)),
                "{seen}"
            );
        }
        child
    }

    /// Starts a fresh cluster in `dir`.
    pub fn run(dir: &Path) -> Aio {
        Aio::setup(dir).start()
    }

    /// Pid of the running `swift-all-in-one` supervisor.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn auth_url(&self) -> String {
        format!("http://127.0.0.1:{}/auth/v1.0", self.port)
    }

    /// The tail of every server log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.join("log")) {
            for e in rd.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                s.push_str(&format!("== {}\n", e.path().display()));
                for l in tail.into_iter().rev() {
                    s.push_str(l);
                    s.push('\n');
                }
            }
        }
        s
    }

    /// Pid of a child server, found by its unique config path.
    pub fn server_pid(&self, kind: &str, node: u16) -> Option<i32> {
        let conf = self
            .dir
            .canonicalize()
            .ok()?
            .join(format!("etc/{kind}-server/{node}.conf"));
        let want = conf.to_string_lossy().into_owned();
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if cmd.split(|b| *b == 0).any(|a| a == want.as_bytes()) {
                return Some(pid);
            }
        }
        None
    }

    /// Logs in through tempauth: (storage URL, token).
    pub fn auth_token(&self, user: &str, key: &str) -> (String, String) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let r = reqwest::Client::new()
                .get(self.auth_url())
                .header("x-auth-user", user)
                .header("x-auth-key", key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let h = r.headers();
            (
                h["x-storage-url"].to_str().unwrap().to_string(),
                h["x-auth-token"].to_str().unwrap().to_string(),
            )
        })
    }

    /// (storage URL path from `/v1/` on, token) for `user`: the path as
    /// raw HTTP requests to the proxy name it.
    pub fn login_path(&self, user: &str, key: &str) -> (String, String) {
        let (url, token) = self.auth_token(user, key);
        let path = url[url.find("/v1/").expect("a /v1/ storage URL")..].to_string();
        (path, token)
    }

    /// The `swift` client of the Swift virtualenv, logged in as `user`.
    pub fn swift(&self, user: &str, key: &str) -> Command {
        let mut c = Command::new(swift_script("swift"));
        c.args(["-A", &self.auth_url(), "-U", user, "-K", key]);
        c
    }
}

impl Drop for Aio {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn join(nodes: &[u16]) -> String {
    nodes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The cluster's hash salt, from its swift.conf.
pub fn salt(aio: &Aio) -> ferroswift::ring::hash::HashPathConf {
    let text = std::fs::read_to_string(aio.dir.join("etc/swift.conf")).unwrap();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(k)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .unwrap()
    };
    ferroswift::ring::hash::HashPathConf::new(
        get("swift_hash_path_prefix"),
        get("swift_hash_path_suffix"),
    )
}

/// A plain HTTP/1.0 exchange: (status, lower-cased headers, body).
/// The path goes out as given, byte for byte (it may be invalid UTF-8).
pub fn raw_http(
    port: u16,
    method: &str,
    path: impl AsRef<[u8]>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut start = format!("{method} ").into_bytes();
    start.extend_from_slice(path.as_ref());
    start.extend_from_slice(format!(" HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n").as_bytes());
    s.write_all(&common::request_head(&start, body.len(), headers))
        .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let split = common::head_end(&raw).expect("response head");
    let (status, hdrs) = common::parse_head(&raw[..split]);
    (
        status.expect("status line"),
        hdrs,
        raw[split + 4..].to_vec(),
    )
}

/// Storage nodes 1 to `nodes` of the all-in-one cluster in `dir` whose
/// device holds a `.data` file of the object hashed `hash` in partition
/// `part` (node N's device is `sdN`).
pub fn nodes_with_data(dir: &Path, nodes: u16, part: u32, hash: &str) -> Vec<u16> {
    (1..=nodes)
        .filter(|node| {
            let objdir = dir.join(format!(
                "srv/{node}/sd{node}/objects/{part}/{}/{hash}",
                &hash[29..]
            ));
            std::fs::read_dir(objdir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".data"))
        })
        .collect()
}

/// A header of an `http` answer by lower-case name.
pub fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A tempauth token for `user` from the proxy on `port`.
pub fn token(port: u16, user: &str, key: &str) -> String {
    let (status, h, _) = raw_http(
        port,
        "GET",
        "/auth/v1.0",
        &[("X-Auth-User", user), ("X-Auth-Key", key)],
        b"",
    );
    assert_eq!(status, 200, "auth as {user} on port {port}");
    header(&h, "x-auth-token")
        .expect("x-auth-token")
        .to_string()
}

/// One proxy's side of a scenario run against two proxies (Swift's and
/// ours): its port, the users' tokens on it, and a line per answer that
/// the scenario chose to record.
pub struct Recorded {
    pub port: u16,
    pub tokens: std::collections::HashMap<&'static str, String>,
    pub lines: Vec<String>,
}

impl Recorded {
    /// Logs `users` (name, key) in on the proxy on `port`.
    pub fn new(port: u16, users: &[(&'static str, &str)]) -> Recorded {
        let tokens = users.iter().map(|(u, k)| (*u, token(port, u, k))).collect();
        Recorded {
            port,
            tokens,
            lines: Vec::new(),
        }
    }

    /// A [`raw_http`] request as `who` (`None`: anonymous, no token).
    pub fn send(
        &self,
        who: Option<&str>,
        method: &str,
        path: impl AsRef<[u8]>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut h = headers.to_vec();
        if let Some(u) = who {
            h.push(("X-Auth-Token", &self.tokens[u]));
        }
        raw_http(self.port, method, path, &h, body)
    }
}

/// Runs `scenario` on Swift's proxy, then on ours, each with `users`
/// logged in, and asserts that they recorded the same lines; returns
/// Swift's.
pub fn compare_runs(
    users: &[(&'static str, &str)],
    swift_port: u16,
    our_port: u16,
    scenario: fn(&mut Recorded),
) -> Vec<String> {
    let mut theirs = Recorded::new(swift_port, users);
    scenario(&mut theirs);
    let mut ours = Recorded::new(our_port, users);
    scenario(&mut ours);
    assert_eq!(theirs.lines.len(), ours.lines.len());
    let diffs: Vec<String> = theirs
        .lines
        .iter()
        .zip(&ours.lines)
        .filter(|(t, o)| t != o)
        .map(|(t, o)| format!("swift: {t}\nours:  {o}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{} answers differ:\n{}",
        diffs.len(),
        diffs.join("\n\n")
    );
    theirs.lines
}

pub use common::free_port;

/// A memcached server on a free port, stopped on drop.
pub struct Memcached {
    child: Child,
    pub port: u16,
}

impl Memcached {
    pub fn start() -> Memcached {
        let port = free_port();
        let mut cmd = Command::new("memcached");
        cmd.args([
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-m",
            "16",
        ]);
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["-u", "root"]); // memcached refuses to run as root without it
        }
        let child = cmd.stdout(Stdio::null()).spawn().unwrap_or_else(|e| {
            panic!("cannot start memcached ({e}): install it (apt-get install -y memcached)")
        });
        let m = Memcached { child, port };
        wait_for(
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
            "memcached",
        );
        m
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `ready` every 50 ms; panics after 30 s naming `what`.
pub fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `/healthcheck` on 127.0.0.1:`port` answers 200.
pub fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut out = String::new();
    s.write_all(b"GET /healthcheck HTTP/1.0\r\n\r\n").is_ok()
        && s.read_to_string(&mut out).is_ok()
        && out.split_whitespace().nth(1) == Some("200")
}

/// A started all-in-one cluster in a directory of its own whose proxy
/// keeps tempauth tokens in a memcached of its own, so that more proxies
/// started from `conf` (Swift's included) share them. Fields drop in
/// order: the cluster stops, then memcached, then the directory goes.
pub struct MemcachedCluster {
    pub aio: Aio,
    /// The cluster's proxy config, memcached included.
    pub conf: String,
    pub mc: Memcached,
    _dir: tempfile::TempDir,
}

impl MemcachedCluster {
    pub fn start() -> MemcachedCluster {
        MemcachedCluster::start_adjusted(|_| {})
    }

    /// [`MemcachedCluster::start`] with `adjust` editing the configs (in
    /// `aio.dir`) before the cluster starts.
    pub fn start_adjusted(adjust: impl FnOnce(&Aio)) -> MemcachedCluster {
        let mc = Memcached::start();
        let dir = tempfile::tempdir().unwrap();
        let aio = Aio::setup(&dir.path().join("aio"));
        adjust(&aio);
        let conf = use_memcached(&aio, &mc);
        MemcachedCluster {
            aio: aio.start(),
            conf,
            mc,
            _dir: dir,
        }
    }
}

/// Adds `line` at the top of `section` (e.g. `[app:proxy-server]`) of the
/// config file `file`, which must have that section.
pub fn add_to_section(file: &Path, section: &str, line: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(section), "{section} missing in {text}");
    std::fs::write(
        file,
        text.replacen(section, &format!("{section}\n{line}"), 1),
    )
    .unwrap();
}

/// Waits for this test's turn to run a whole cluster (13 processes):
/// running two at once on a small CI machine starves them past Swift's 1 s
/// container-update timeout, so the tests of a file take turns.
pub fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cluster's proxy config with memcached added to its `cache` filter.
pub fn use_memcached(aio: &Aio, mc: &Memcached) -> String {
    let path = aio.dir.join("etc/proxy-server.conf");
    let text = std::fs::read_to_string(&path).unwrap();
    let marker = "use = egg:swift#memcache\n";
    assert!(text.contains(marker), "cache filter in {text}");
    let text = text.replace(
        marker,
        &format!("{marker}memcache_servers = {}\n", mc.addr()),
    );
    std::fs::write(&path, &text).unwrap();
    text
}

/// A script running Swift's dispersion tools (`python -c` it with the swift
/// directory, `report` or `populate`, then the tool's arguments) with the cluster's `swift.conf` (they
/// otherwise read `/etc/swift/swift.conf` for the policies and hash secrets).
pub const SWIFT_DISPERSION_TOOL: &str = r#"
import sys
from swift.common import utils, storage_policy
utils.set_swift_dir(sys.argv.pop(1))
storage_policy.reload_storage_policies()
tool = sys.argv.pop(1)
if tool == 'report':
    from swift.cli import dispersion_report as m
else:
    from swift.cli import dispersion_populate as m
sys.argv[0] = 'swift-dispersion-' + tool
sys.exit(m.main())
"#;

/// A proxy process (ours or Swift's), killed on drop.
pub struct Proxy {
    child: Child,
    pub port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Another proxy over the cluster's rings: the config with a new port (and
/// `extra` lines for `[DEFAULT]`), started from `program`.
pub fn another_proxy(aio: &Aio, conf: &str, extra: &str, program: &Path, name: &str) -> Proxy {
    let port = free_port();
    let text = conf.replacen(
        &format!("bind_port = {}\n", aio.port),
        &format!("bind_port = {port}\n{extra}"),
        1,
    );
    let path = aio.dir.join(format!("etc/{name}.conf"));
    std::fs::write(&path, text).unwrap();
    let log = std::fs::File::create(aio.dir.join(format!("log/{name}.log"))).unwrap();
    let child = Command::new(program)
        .arg(&path)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let p = Proxy { child, port };
    wait_for(|| healthy(port), name);
    p
}

/// Swift's own proxy over the cluster's rings with config `conf`, on a new
/// port: one process (workers = 0), so that stopping it stops it all,
/// running as this user (it would switch to `swift` when started as root).
pub fn swift_proxy(aio: &Aio, conf: &str) -> Proxy {
    let program = swift_script("swift-proxy-server");
    let user = check(Command::new("id").arg("-un"));
    let conf = conf.replace("\nworkers = 2\n", "\nworkers = 0\n");
    assert!(conf.contains("workers = 0"), "{conf}");
    another_proxy(
        aio,
        &conf,
        &format!("user = {}\nlog_level = WARNING\n", user.trim()),
        &program,
        "swift-proxy",
    )
}

impl Aio {
    /// Where the object ring puts an object: its partition, the node
    /// numbers (from the `sd<N>` device names) of its primaries, and that
    /// of its first handoff.
    pub fn object_placement(&self, a: &str, c: &str, o: &str) -> (u32, Vec<u16>, u16) {
        let path = self.dir.join("etc/object.ring.gz");
        let data = ferroswift::conf::ring_file::load_ring(path).unwrap();
        let ring = ferroswift::ring::Ring::new(data).unwrap();
        let swift = ferroswift::conf::server_conf::load_swift_conf(&self.dir.join("etc")).unwrap();
        let part = ring.get_part(&swift.salt, a, Some(c), Some(o)).unwrap();
        let node = |dev: &str| dev.trim_start_matches("sd").parse::<u16>().unwrap();
        let primaries = ring
            .get_part_nodes(part)
            .iter()
            .map(|n| node(&n.device.device))
            .collect();
        let handoff = ring
            .get_more_nodes(part)
            .map(|n| node(&n.device.device))
            .next()
            .expect("a handoff");
        (part, primaries, handoff)
    }

    /// Port of node `node`'s object server.
    pub fn object_port(&self, node: u16) -> u16 {
        self.base_port + 10 * node
    }

    /// Every object `.data` file on the cluster's storage nodes:
    /// `(node, partition, path)`, sorted.
    pub fn data_files(&self) -> Vec<(u16, u32, PathBuf)> {
        let mut found = Vec::new();
        let srv = self.dir.join("srv");
        for node_dir in std::fs::read_dir(&srv).into_iter().flatten().flatten() {
            let Ok(node) = node_dir.file_name().to_string_lossy().parse::<u16>() else {
                continue;
            };
            let objects = node_dir.path().join(format!("sd{node}/objects"));
            for p in files_under(&objects) {
                if p.extension().is_some_and(|x| x == "data") {
                    let rel = p.strip_prefix(&objects).unwrap();
                    let part = rel.iter().next().unwrap().to_str().unwrap();
                    found.push((node, part.parse().unwrap(), p));
                }
            }
        }
        found.sort();
        found
    }

    /// Writes a dispersion.conf for this cluster at `path`: the admin
    /// account, `coverage` percent of the partitions, one retry,
    /// `concurrency` requests at a time.
    pub fn write_dispersion_conf(&self, path: &Path, coverage: &str, concurrency: usize) {
        let etc = self.dir.canonicalize().unwrap().join("etc");
        std::fs::write(
            path,
            format!(
                "[dispersion]\nauth_url = {}\nauth_user = admin:admin\nauth_key = admin\n\
                 swift_dir = {}\ndispersion_coverage = {coverage}\nretries = 1\n\
                 concurrency = {concurrency}\n",
                self.auth_url(),
                etc.display()
            ),
        )
        .unwrap();
    }
}

/// Sends `sig` to `pid`, a process of the test's cluster.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process of the test's cluster; no memory is involved.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Resumes a stopped process (SIGCONT) when dropped, so a failing test
/// still lets the cluster shut down.
pub struct Resume(pub i32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}
