//! Our swift-dispersion-populate and swift-dispersion-report against a
//! cluster made only of Swift's own servers (proxy with tempauth, object,
//! container and account servers from the Swift virtualenv), laid out and
//! ringed by `swift-all-in-one --setup-only` with a small part power:
//! every copy found when healthy, and exactly the copy whose `.data` file
//! was deleted by hand missing afterwards, as Swift's own report says too.

mod aio_util;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use aio_util::{
    bin, check, healthy, raw_http, swift_python, token, use_memcached, wait_for, Aio, Memcached,
    SWIFT_DISPERSION_TOOL,
};
use serde_json::{json, Value};

/// 2^5 = 32 partitions: full coverage stays quick.
const PART_POWER: &str = "5";
const NODES: u16 = 4;
const REPLICAS: u64 = 3;

/// Swift's servers, killed on drop.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// A config of the layout made runnable by Swift's server: it runs as the
/// current user (not `swift`), in one process, logging warnings only.
fn swift_conf(aio: &Aio, conf: &Path, name: &str) -> PathBuf {
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let text = std::fs::read_to_string(conf).unwrap();
    assert!(text.starts_with("[DEFAULT]\n"), "{text}");
    let text = text.replacen(
        "[DEFAULT]\n",
        &format!("[DEFAULT]\nuser = {}\nlog_level = WARNING\n", user.trim()),
        1,
    );
    let text = regex::Regex::new(r"(?m)^workers = \d+$")
        .unwrap()
        .replace(&text, "workers = 0")
        .into_owned();
    let path = aio.dir.join(format!("etc/{name}.conf"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts Swift's `swift-<kind>-server` (from the virtualenv) on `conf`.
fn start_swift(kind: &str, conf: &Path, log: &Path) -> Child {
    let python = swift_python();
    let server = python
        .parent()
        .unwrap()
        .join(format!("swift-{kind}-server"));
    assert!(server.exists(), "{} missing", server.display());
    let log = std::fs::File::create(log).unwrap();
    Command::new(&python)
        .arg(server)
        .arg(conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("start Swift's {kind} server: {e}"))
}

fn run(mut cmd: Command) -> (Value, i32, String) {
    let out: Output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout:?}\nstderr: {stderr}"));
    (value, out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn our_dispersion_tools_on_a_cluster_of_swift_servers() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::setup_with(&tmp.path().join("aio"), &["--part-power", PART_POWER]);
    let etc = aio.dir.canonicalize().unwrap().join("etc");
    let log = aio.dir.join("log");
    std::fs::create_dir_all(&log).unwrap();

    // Swift's proxy keeps tempauth tokens in memcached.
    let mc = Memcached::start();
    use_memcached(&aio, &mc);
    let mut children = Vec::new();
    let mut ports = vec![aio.port];
    let proxy = swift_conf(&aio, &etc.join("proxy-server.conf"), "swift-proxy");
    children.push(start_swift("proxy", &proxy, &log.join("swift-proxy.log")));
    for (kind, off) in [("object", 0), ("container", 1), ("account", 2)] {
        for node in 1..=NODES {
            let name = format!("swift-{kind}-{node}");
            let conf = swift_conf(&aio, &etc.join(format!("{kind}-server/{node}.conf")), &name);
            children.push(start_swift(kind, &conf, &log.join(format!("{name}.log"))));
            ports.push(aio.base_port + 10 * node + off);
        }
    }
    let servers = Servers(children);
    for port in &ports {
        wait_for(|| healthy(*port), &format!("Swift's server on port {port}"));
    }

    let conf = tmp.path().join("dispersion.conf");
    aio.write_dispersion_conf(&conf, "100", 25);
    let ours = |args: &[&str]| {
        let mut c = Command::new(bin("swift-dispersion-report"));
        c.args(args).arg(&conf);
        run(c)
    };
    let swifts = |args: &[&str]| {
        let mut c = Command::new(swift_python());
        c.arg("-c")
            .arg(SWIFT_DISPERSION_TOOL)
            .arg(&etc)
            .arg("report")
            .args(args)
            .arg(&conf);
        run(c)
    };

    // The admin account made first: Swift's proxy can answer 404 to some
    // of many concurrent container PUTs that each autocreate the account
    // (one's cached "no account" outlives another's creation).
    let token = token(aio.port, "admin:admin", "admin");
    for method in ["PUT", "DELETE"] {
        let (status, ..) = raw_http(
            aio.port,
            method,
            "/v1/AUTH_admin/make-account",
            &[("X-Auth-Token", &token)],
            b"",
        );
        assert!((200..300).contains(&status), "{method}: {status}");
    }

    // Populate at 100%: one container and one object per partition.
    check(Command::new(bin("swift-dispersion-populate")).arg(&conf));
    let parts = 1u64 << PART_POWER.parse::<u32>().unwrap();

    // Healthy: every copy of every partition found, exit 0.
    let (healthy_report, code, err) = ours(&["--json"]);
    assert_eq!(code, 0, "{err}\n{healthy_report}");
    for kind in ["object", "container"] {
        let k = &healthy_report[kind];
        assert_eq!(k["partitions_sampled"], parts, "{healthy_report}");
        assert_eq!(k["copies_expected"], parts * REPLICAS, "{healthy_report}");
        assert_eq!(k["copies_found"], parts * REPLICAS, "{healthy_report}");
        assert_eq!(k["pct_found"], 100.0, "{healthy_report}");
        assert_eq!(k["missing_partitions"], json!([]), "{healthy_report}");
    }
    assert_eq!(healthy_report["exit_code"], 0);

    // One object replica's file deleted by hand.
    let files = aio.data_files();
    assert_eq!(files.len() as u64, parts * REPLICAS, "{files:?}");
    let (node, part, victim) = files[files.len() / 2].clone();
    std::fs::remove_file(&victim).unwrap();
    let (report, code, err) = ours(&["--json", "--object-only"]);
    assert_eq!(code, 1, "{err}\n{report}");
    assert_eq!(report["exit_code"], 1);
    let missing = &report["object"]["missing_partitions"];
    let object_port = aio.base_port + 10 * node;
    assert_eq!(
        missing,
        &json!([{"partition": part, "name": missing[0]["name"], "missing": 1, "copies": 3,
            "nodes": [format!("127.0.0.1:{object_port}/sd{node}")]}]),
        "{report}"
    );
    assert_eq!(report["object"]["copies_found"], parts * REPLICAS - 1);

    // Swift's own report on the same cluster says the same.
    let (a, code_a, err_a) = ours(&["-j"]);
    let (b, code_b, err_b) = swifts(&["-j"]);
    assert_eq!(a, b, "ours: {err_a}\nSwift's: {err_b}");
    assert_eq!(code_a, 1, "{err_a}");
    // Swift's tool exits 0 whatever it finds; ours says 1 (see its man page).
    assert_eq!(code_b, 0, "{err_b}");
    assert_eq!(a["object"]["missing_1"], 1, "{a}");
    assert_eq!(a["container"]["copies_found"], parts * REPLICAS, "{a}");
    drop(servers);
}
