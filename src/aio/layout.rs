//! The all-in-one directory: `etc/` (swift.conf, server configs, rings),
//! `srv/<node>/<device>` (data) and `log/`. Everything is written once;
//! a restart finds it in place and reuses it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::conf::ring_file::save_ring;
use crate::ring::codec::RingFormat;
use crate::ring::Device;

/// Storage nodes (one device each).
pub const NODES: u16 = 4;

/// The tempauth users every all-in-one cluster has: (account, user, key, groups).
pub const USERS: &[(&str, &str, &str, &str)] = &[
    ("admin", "admin", "admin", ".admin .reseller_admin"),
    ("test", "tester", "testing", ".admin"),
    ("test2", "tester2", "testing2", ".admin"),
    ("test", "tester3", "testing3", ""),
];

/// Server kinds with their port offset from a node's base port.
pub const SERVERS: &[(&str, u16)] = &[("object", 0), ("container", 1), ("account", 2)];

/// Background daemons each node runs: (server kind whose config holds the
/// section, binary, config section). A daemon runs only when its section is
/// in the config (configs written by older versions lack some).
pub const DAEMONS: &[(&str, &str, &str)] = &[
    ("object", "swift-object-replicator", "object-replicator"),
    ("object", "swift-object-updater", "object-updater"),
    ("object", "swift-object-auditor", "object-auditor"),
    ("container", "swift-container-updater", "container-updater"),
    ("container", "swift-container-auditor", "container-auditor"),
    ("account", "swift-account-auditor", "account-auditor"),
    (
        "container",
        "swift-container-replicator",
        "container-replicator",
    ),
    ("account", "swift-account-replicator", "account-replicator"),
    ("account", "swift-account-reaper", "account-reaper"),
];

/// Paths and ports of one all-in-one cluster.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub proxy_port: u16,
    pub base_port: u16,
    /// Partition power of rings created by [`Layout::write`] (existing
    /// rings are kept as they are).
    pub part_power: u32,
}

fn write_new(path: &Path, text: &str) -> Result<(), String> {
    if path.exists() {
        return Ok(());
    }
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

impl Layout {
    /// Creates the directory if needed and resolves it to an absolute path.
    pub fn new(dir: &Path, proxy_port: u16, base_port: u16) -> Result<Layout, String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let root = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Layout {
            root,
            proxy_port,
            base_port,
            part_power: super::rings::PART_POWER,
        })
    }

    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("log")
    }
    pub fn port(&self, node: u16, kind_offset: u16) -> u16 {
        self.base_port + 10 * node + kind_offset
    }
    pub fn server_conf(&self, kind: &str, node: u16) -> PathBuf {
        self.etc()
            .join(format!("{kind}-server"))
            .join(format!("{node}.conf"))
    }
    pub fn proxy_conf(&self) -> PathBuf {
        self.etc().join("proxy-server.conf")
    }
    pub fn auth_url(&self) -> String {
        format!("http://127.0.0.1:{}/auth/v1.0", self.proxy_port)
    }

    /// Writes whatever is missing: directories, configs and rings.
    pub fn write(&self) -> Result<(), String> {
        let mkdir = |p: &Path| fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()));
        mkdir(&self.etc())?;
        mkdir(&self.log())?;
        let secret = uuid::Uuid::new_v4().simple().to_string();
        write_new(
            &self.etc().join("swift.conf"),
            &format!(
                "[swift-hash]\nswift_hash_path_prefix = aio-{}\nswift_hash_path_suffix = aio-{}\n\n\
                 [storage-policy:0]\nname = Policy-0\ndefault = yes\n",
                &secret[..16],
                &secret[16..]
            ),
        )?;
        for node in 1..=NODES {
            self.write_node(node)?;
        }
        write_new(&self.proxy_conf(), &self.proxy_text())?;
        mkdir(&self.root.join("cache/expirer"))?;
        write_new(&self.expirer_conf(), &self.expirer_text())?;
        for (kind, off) in SERVERS {
            let name = format!("{kind}.ring.gz");
            let path = self.etc().join(&name);
            if path.exists() {
                continue;
            }
            let devs = (1..=NODES)
                .map(|n| Device {
                    id: u32::from(n - 1),
                    region: 1,
                    zone: u32::from(n),
                    ip: "127.0.0.1".into(),
                    port: self.port(n, *off),
                    replication_ip: "127.0.0.1".into(),
                    replication_port: self.port(n, *off),
                    device: format!("sd{n}"),
                    meta: String::new(),
                    weight: 1.0,
                    extra: Default::default(),
                })
                .collect();
            let builder_path = self.etc().join(format!("{kind}.builder"));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let ring = super::rings::build(devs, self.part_power, &builder_path, now)?;
            save_ring(&path, &ring, RingFormat::V1).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Writes whatever is missing of storage node `node`: its device
    /// directory `srv/<node>/sd<node>`, recon cache and server configs
    /// (ports from [`Layout::port`]). Nodes past [`NODES`] are extra nodes
    /// an operator adds to the rings.
    pub fn write_node(&self, node: u16) -> Result<(), String> {
        let mkdir = |p: &Path| fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()));
        mkdir(&self.root.join(format!("srv/{node}/sd{node}")))?;
        mkdir(&self.recon_cache(node))?;
        for (kind, off) in SERVERS {
            let conf = self.server_conf(kind, node);
            mkdir(conf.parent().unwrap_or(&self.etc()))?;
            write_new(&conf, &self.storage_conf(kind, node, *off))?;
        }
        Ok(())
    }

    /// A node's device, as `swift-ring-builder ... add` takes it, for each
    /// server kind: e.g. `("object", "127.0.0.1:6250/sd5")`.
    pub fn node_devices(&self, node: u16) -> Vec<(&'static str, String)> {
        SERVERS
            .iter()
            .map(|(kind, off)| {
                (
                    *kind,
                    format!("127.0.0.1:{}/sd{node}", self.port(node, *off)),
                )
            })
            .collect()
    }

    /// A node's recon cache directory (`cache/<node>`).
    pub fn recon_cache(&self, node: u16) -> PathBuf {
        self.root.join(format!("cache/{node}"))
    }

    fn storage_conf(&self, kind: &str, node: u16, off: u16) -> String {
        format!(
            "[DEFAULT]\ndevices = {srv}\nmount_check = false\ndisable_fallocate = true\n\
             bind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 1\nswift_dir = {etc}\n\
             log_name = {kind}-server-{node}\nrecon_cache_path = {cache}\n\n\
             [pipeline:main]\npipeline = healthcheck recon {kind}-server\n\n\
             [app:{kind}-server]\nuse = egg:swift#{kind}\n\n\
             [filter:healthcheck]\nuse = egg:swift#healthcheck\n\n\
             [filter:recon]\nuse = egg:swift#recon\n{daemons}",
            daemons = daemon_sections(kind),
            srv = self.root.join(format!("srv/{node}")).display(),
            port = self.port(node, off),
            etc = self.etc().display(),
            cache = self.recon_cache(node).display(),
        )
    }

    /// Daemons that serve the whole cluster rather than one node:
    /// (binary, config, log name).
    pub fn cluster_daemons(&self) -> Vec<(String, PathBuf, String)> {
        vec![(
            "swift-object-expirer".into(),
            self.expirer_conf(),
            "object-expirer".into(),
        )]
    }

    /// `etc/object-expirer.conf`: the expirer and its internal client.
    pub fn expirer_conf(&self) -> PathBuf {
        self.etc().join("object-expirer.conf")
    }

    fn expirer_text(&self) -> String {
        format!(
            "[DEFAULT]\nswift_dir = {etc}\nrecon_cache_path = {cache}\n\n\
             [object-expirer]\ninterval = 10\n\n\
             [pipeline:main]\npipeline = catch_errors proxy-logging cache proxy-server\n\n\
             [app:proxy-server]\nuse = egg:swift#proxy\n\n\
             [filter:catch_errors]\nuse = egg:swift#catch_errors\n\n\
             [filter:proxy-logging]\nuse = egg:swift#proxy_logging\n\n\
             [filter:cache]\nuse = egg:swift#memcache\n",
            etc = self.etc().display(),
            cache = self.root.join("cache/expirer").display(),
        )
    }

    fn proxy_text(&self) -> String {
        let mut users = String::new();
        for (a, u, k, g) in USERS {
            users.push_str(&format!("user_{a}_{u} = {k} {g}\n"));
        }
        format!(
            "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 2\nswift_dir = {etc}\n\n\
             [pipeline:main]\npipeline = catch_errors gatekeeper healthcheck proxy-logging cache \
             listing_formats tempauth copy dlo proxy-server\n\n\
             [app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n\
             allow_account_management = true\n\n\
             [filter:catch_errors]\nuse = egg:swift#catch_errors\n\n\
             [filter:gatekeeper]\nuse = egg:swift#gatekeeper\n\n\
             [filter:healthcheck]\nuse = egg:swift#healthcheck\n\n\
             [filter:proxy-logging]\nuse = egg:swift#proxy_logging\n\n\
             [filter:cache]\nuse = egg:swift#memcache\n\n\
             [filter:listing_formats]\nuse = egg:swift#listing_formats\n\n\
             [filter:tempauth]\nuse = egg:swift#tempauth\n{users}\n\
             [filter:copy]\nuse = egg:swift#copy\n\n\
             [filter:dlo]\nuse = egg:swift#dlo\n",
            port = self.proxy_port,
            etc = self.etc().display(),
        )
    }

    /// What an operator needs to add storage nodes to the rings: each
    /// node's devices, as `swift-ring-builder <ring>.builder add` takes them.
    pub fn nodes_banner(&self, nodes: &[u16]) -> String {
        let mut s = format!(
            "Storage nodes of the cluster in {}
",
            self.root.display()
        );
        for &node in nodes {
            s.push_str(&format!("  node {node}:"));
            for (kind, dev) in self.node_devices(node) {
                s.push_str(&format!("  {kind} {dev}"));
            }
            s.push('\n');
        }
        s
    }

    /// What the user needs to know to use the cluster.
    pub fn banner(&self) -> String {
        let mut s = format!(
            "Swift all-in-one cluster in {}\n  proxy:    http://127.0.0.1:{}\n  auth URL: {}\n  users (user / key):\n",
            self.root.display(),
            self.proxy_port,
            self.auth_url()
        );
        for (a, u, k, g) in USERS {
            s.push_str(&format!("    {a}:{u} / {k}  {g}\n"));
        }
        s.push_str(&format!(
            "  try:      swift -A {} -U test:tester -K testing stat\n",
            self.auth_url()
        ));
        s
    }
}

/// The daemon sections of a storage server's config: short intervals, so
/// a development cluster heals within seconds, and a lower CPU priority, so
/// requests go first on a busy machine.
fn daemon_sections(kind: &str) -> &'static str {
    match kind {
        "object" => {
            "\n[object-replicator]\nnice_priority = 10\nconcurrency = 2\ninterval = 30\n\n\
             [object-updater]\nnice_priority = 10\ninterval = 5\n\n\
             [object-auditor]\nnice_priority = 10\ninterval = 30\n"
        }
        "container" => {
            "\n[container-replicator]\nnice_priority = 10\ninterval = 10\n\n\
             [container-updater]\nnice_priority = 10\ninterval = 5\n\n\
             [container-auditor]\nnice_priority = 10\ninterval = 60\n"
        }
        "account" => {
            "\n[account-replicator]\nnice_priority = 10\ninterval = 10\n\n\
             [account-auditor]\nnice_priority = 10\ninterval = 60\n\n\
             [account-reaper]\nnice_priority = 10\ninterval = 10\ndelay_reaping = 0\n"
        }
        _ => "",
    }
}
