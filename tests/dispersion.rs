//! swift-dispersion-populate and swift-dispersion-report on the all-in-one
//! cluster, with Swift's own tools run against the same cluster as the
//! oracle: both populates pick the same names; both reports give the same
//! JSON and text when healthy, with one replica file deleted by hand, and
//! with a storage node stopped (which swift-recon shows too).

mod aio_util;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use aio_util::{bin, swift_python, Aio, Resume, SWIFT_DISPERSION_TOOL};
use ferroswift::ops::dispersion::proxy::ProxyClient;
use regex::Regex;
use serde_json::Value;

/// Sampled share of the 1024 partitions: 20 names of each kind.
const COVERAGE: &str = "2";

struct Run {
    out: String,
    err: String,
    code: i32,
}

struct Fixture {
    aio: Aio,
    etc: PathBuf,
    conf: PathBuf,
}

impl Fixture {
    fn ours(&self, tool: &str, args: &[&str]) -> Run {
        let out = Command::new(bin(&format!("swift-dispersion-{tool}")))
            .args(args)
            .arg(&self.conf)
            .output()
            .unwrap();
        run_of(out)
    }

    fn swift(&self, tool: &str, args: &[&str]) -> Run {
        let out = Command::new(swift_python())
            .arg("-c")
            .arg(SWIFT_DISPERSION_TOOL)
            .arg(&self.etc)
            .arg(tool)
            .args(args)
            .arg(&self.conf)
            .output()
            .unwrap();
        run_of(out)
    }

    /// Container names in the admin account, or object names in a container.
    fn listing(&self, container: Option<&str>) -> BTreeSet<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let auth = self.aio.auth_url();
            let client = ProxyClient::login(
                &auth,
                "admin:admin",
                "admin",
                "1.0",
                0,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
            let names = client
                .list(container, "")
                .await
                .unwrap()
                .unwrap_or_default();
            names.into_iter().collect()
        })
    }

    /// Ours and Swift's report with the same arguments.
    fn both(&self, args: &[&str]) -> (Run, Run) {
        (self.ours("report", args), self.swift("report", args))
    }

    /// Our `-j` and Swift's agree, and so do the text reports (run with
    /// `text_args`); returns our JSON, our `-j` run and Swift's.
    fn reports_agree(&self, json_args: &[&str], text_args: &[&str]) -> (Value, Run, Run, Run, Run) {
        let (ours, theirs) = self.both(json_args);
        let (a, b) = (json(&ours.out), json(&theirs.out));
        assert_eq!(a, b, "ours:\n{}\nSwift's:\n{}", ours.err, theirs.err);
        // Times masked, Swift's timed progress lines dropped.
        let (ours_text, theirs_text) = self.both(text_args);
        assert_eq!(
            text_lines(&ours_text.out),
            text_lines(&theirs_text.out),
            "text reports differ:\n{}\n---\n{}",
            ours_text.out,
            theirs_text.out
        );
        (a, ours, theirs, ours_text, theirs_text)
    }
}

fn run_of(out: std::process::Output) -> Run {
    Run {
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

/// Output lines with elapsed times masked and Swift's timed progress
/// updates removed, sorted (Swift orders the "missing" lines by which
/// partition answered first).
fn text_lines(text: &str) -> Vec<String> {
    let progress = Regex::new(r"\r\x1b\[K(Querying|Creating) [^\r\n]*").unwrap();
    let elapsed = Regex::new(r", \d+[smh], ").unwrap();
    let text = progress.replace_all(text, "");
    let text = elapsed.replace_all(&text, ", T, ");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn setup() -> (tempfile::TempDir, Fixture) {
    let tmp = tempfile::tempdir().unwrap();
    let aio = Aio::setup(&tmp.path().join("aio")).start();
    let etc = aio.dir.canonicalize().unwrap().join("etc");
    let conf = tmp.path().join("dispersion.conf");
    aio.write_dispersion_conf(&conf, COVERAGE, 25);
    (tmp, Fixture { aio, etc, conf })
}

#[test]
fn populate_then_report_healthy_deleted_replica_and_node_down() {
    let (_tmp, f) = setup();

    // Populate: 20 containers and 20 objects, then Swift's populate picks
    // exactly the same names (the listings do not grow).
    let pop = f.ours("populate", &[]);
    assert_eq!(pop.code, 0, "{}", pop.err);
    assert_eq!(
        text_lines(&pop.out),
        text_lines(
            "Using storage policy: Policy-0 \n\
             \r\x1b[KCreated 20 containers for dispersion reporting, 0s, 0 retries\n\
             \r\x1b[KCreated 20 objects for dispersion reporting, 0s, 0 retries\n"
        )
    );
    let containers = f.listing(None);
    let objects = f.listing(Some("dispersion_objects_0"));
    assert_eq!(containers.len(), 21, "{containers:?}");
    assert_eq!(objects.len(), 20, "{objects:?}");
    let theirs = f.swift("populate", &[]);
    assert_eq!(theirs.code, 0, "{}", theirs.err);
    assert_eq!(text_lines(&theirs.out), text_lines(&pop.out));
    assert_eq!(f.listing(None), containers);
    assert_eq!(f.listing(Some("dispersion_objects_0")), objects);

    // Healthy: every copy found, exit code 0.
    let (healthy, run, ..) = f.reports_agree(&["-j"], &[]);
    assert_eq!(run.code, 0, "{}", run.err);
    for kind in ["container", "object"] {
        assert_eq!(healthy[kind]["copies_found"], 60, "{healthy}");
        assert_eq!(healthy[kind]["copies_expected"], 60, "{healthy}");
    }
    assert_eq!(healthy["object"]["missing_0"], 20);

    // One replica file deleted by hand: exactly that copy is missing.
    let files = f.aio.data_files();
    assert_eq!(files.len(), 60, "{files:?}");
    let (node, part, victim) = files[files.len() / 2].clone();
    std::fs::remove_file(&victim).unwrap();
    let (deleted, run, _, p, p_swift) =
        f.reports_agree(&["-j", "--object-only"], &["--object-only", "-p"]);
    assert_eq!(run.code, 1, "{}", run.err);
    assert_eq!(deleted["object"]["copies_found"], 59, "{deleted}");
    assert_eq!(deleted["object"]["missing_1"], 1, "{deleted}");
    assert_eq!(deleted["object"]["missing_0"], 19, "{deleted}");
    assert!(deleted.get("container").is_none(), "{deleted}");
    let line = format!("# Object partition {part} missing 1 copy");
    assert_eq!(p.err.trim(), line);
    assert_eq!(p_swift.err.trim(), line);
    let full = json(&f.ours("report", &["--json", "--object-only"]).out);
    let object_port = f.aio.base_port + 10 * node;
    assert_eq!(
        full["object"]["missing_partitions"],
        serde_json::json!([{"partition": part, "name": full["object"]["missing_partitions"][0]["name"],
            "missing": 1, "copies": 3, "nodes": [format!("127.0.0.1:{object_port}/sd{node}")]}]),
        "{full}"
    );
    assert_eq!(full["exit_code"], 1);
    assert_eq!(full["policy"]["name"], "Policy-0");
    assert_eq!(full["object"]["partitions_sampled"], 20);

    // Node 3's device gone (its servers answer 507): reported unmounted.
    let dev3 = f.aio.dir.join("srv/3/sd3");
    let dev3_off = f.aio.dir.join("srv/3/sd3.off");
    std::fs::rename(&dev3, &dev3_off).unwrap();
    let (run, swift_run) = f.both(&["-j", "--container-only"]);
    let full = json(&f.ours("report", &["--json", "--container-only"]).out);
    std::fs::rename(&dev3_off, &dev3).unwrap();
    let dev3_name = format!("127.0.0.1:{}/sd3", f.aio.base_port + 31);
    assert_eq!(full["unmounted"], serde_json::json!([dev3_name]), "{full}");
    assert_eq!(json(&run.out), json(&swift_run.out), "{}", swift_run.err);
    let unmounted = format!(
        "ERROR: 127.0.0.1:{}/sd3 is unmounted -- This will cause replicas designated \
         for that device to be considered missing until resolved or the ring is updated.",
        f.aio.base_port + 31
    );
    assert_eq!(run.err.trim(), unmounted);
    assert_eq!(swift_run.err.trim(), unmounted);
    assert_eq!(run.code, 1);

    // Node 4 stopped (the supervisor paused so it does not restart it):
    // every copy it holds is missing, and the errors read as Swift's.
    let supervisor = f.aio.pid().expect("cluster pid");
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe {
        libc::kill(supervisor, libc::SIGSTOP);
    }
    let _resume = Resume(supervisor);
    for kind in ["object", "container", "account"] {
        let pid = f.aio.server_pid(kind, 4).expect("node 4 server");
        // SAFETY: as above, on a server of our cluster.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let down_port = f.aio.base_port + 40;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", down_port)).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (run, swift_run) = f.both(&["-j", "--container-only"]);
    let down = json(&run.out);
    assert_eq!(down, json(&swift_run.out), "{}", swift_run.err);
    assert_eq!(run.code, 1, "{}", run.err);
    let found = down["container"]["copies_found"].as_u64().unwrap();
    let missing_1 = down["container"]["missing_1"].as_u64().unwrap();
    assert_eq!(found + missing_1, 60, "{down}");
    assert!(
        missing_1 >= 5,
        "node 4 should hold some sampled containers: {down}"
    );
    let sorted = |s: &str| {
        let mut l: Vec<&str> = s.lines().collect();
        l.sort();
        l.join("\n")
    };
    assert_eq!(sorted(&run.err), sorted(&swift_run.err));
    let refused = format!(
        "ERROR: 127.0.0.1:{}/sd4: [Errno 111] ECONNREFUSED",
        down_port + 1
    );
    assert!(run.err.contains(&refused), "{}", run.err);
    assert!(run.err.contains("Giving up on /"), "{}", run.err);

    // swift-recon sees the same node down.
    let recon = Command::new(bin("swift-recon"))
        .args(["container", "-l", "-t", "2", "--swiftdir"])
        .arg(&f.etc)
        .output()
        .unwrap();
    let recon_out = String::from_utf8_lossy(&recon.stdout);
    let down_url = format!("-> http://127.0.0.1:{}/recon/load: ", down_port + 1);
    assert!(
        recon_out
            .lines()
            .any(|l| l.starts_with(&down_url) && l.contains("ECONNREFUSED")),
        "{recon_out}"
    );
    assert!(recon_out.contains("reported: 3"), "{recon_out}");
}
