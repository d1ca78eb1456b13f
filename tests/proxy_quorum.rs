//! Writes answered on a quorum, compared with Swift's own proxy over the
//! same all-in-one cluster: with one container server frozen (SIGSTOP), an
//! object PUT (one object server then waits for its container update) and a
//! container POST (one replica never answers) are answered after about
//! `post_quorum_timeout`, not after the slow node or `node_timeout`; once
//! the server resumes, the slow replicas still hold the writes, through
//! either proxy.

mod aio_util;

use std::time::{Duration, Instant};

use aio_util::{add_to_section, header, raw_http, swift_proxy, token, Aio, MemcachedCluster};
use ferroswift::ring::Ring;

/// The proxies' `node_timeout`: far above any answer the test accepts.
const NODE_TIMEOUT: u64 = 8;
/// How long an object server waits for its container update (and for the
/// update's answer): the time the slow replica takes.
const UPDATE_WAIT: u64 = 4;

/// Partition and node numbers (from `sd<N>`) of a name's primaries.
fn primaries(aio: &Aio, ring: &str, c: &str, o: Option<&str>) -> (u32, Vec<u16>) {
    let data = ferroswift::conf::ring_file::load_ring(aio.dir.join(format!("etc/{ring}.ring.gz")))
        .unwrap();
    let ring = Ring::new(data).unwrap();
    let hash = aio_util::salt(aio);
    let part = ring.get_part(&hash, "AUTH_test", Some(c), o).unwrap();
    let nodes = ring
        .get_part_nodes(part)
        .iter()
        .map(|n| n.device.device.trim_start_matches("sd").parse().unwrap())
        .collect();
    (part, nodes)
}

/// The port of node `n`'s server of `kind`, from its config.
fn server_port(aio: &Aio, kind: &str, n: u16) -> u16 {
    let conf =
        std::fs::read_to_string(aio.dir.join(format!("etc/{kind}-server/{n}.conf"))).unwrap();
    conf.lines()
        .find_map(|l| l.strip_prefix("bind_port = "))
        .and_then(|p| p.trim().parse().ok())
        .expect("bind_port")
}

/// A request through a proxy: (status, seconds taken).
fn timed(port: u16, method: &str, path: &str, tok: &str, extra: &[(&str, &str)]) -> (u16, f64) {
    let mut h = vec![("X-Auth-Token", tok)];
    h.extend_from_slice(extra);
    let body: &[u8] = if method == "PUT" { b"some bytes" } else { b"" };
    let started = Instant::now();
    let (status, _, _) = raw_http(port, method, path, &h, body);
    (status, started.elapsed().as_secs_f64())
}

/// Resumes a stopped process when dropped, so a failing test still lets
/// the cluster shut down.
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a child server of our cluster; no memory is involved.
        unsafe {
            libc::kill(self.0, libc::SIGCONT);
        }
    }
}

/// Polls `done` for up to 20 s.
fn eventually(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn writes_answer_on_a_quorum_and_slow_replicas_still_get_them() {
    let cluster = MemcachedCluster::start_adjusted(|aio| {
        add_to_section(
            &aio.dir.join("etc/proxy-server.conf"),
            "[app:proxy-server]",
            &format!("node_timeout = {NODE_TIMEOUT}"),
        );
        for n in 1..=4 {
            add_to_section(
                &aio.dir.join(format!("etc/object-server/{n}.conf")),
                "[app:object-server]",
                &format!("container_update_timeout = {UPDATE_WAIT}\nnode_timeout = {UPDATE_WAIT}"),
            );
        }
    });
    let aio = &cluster.aio;
    let swift = swift_proxy(aio, &cluster.conf);
    let proxies = [("ours", aio.port), ("swift", swift.port)];
    let tok = token(aio.port, "test:tester", "testing");
    assert_eq!(token(swift.port, "test:tester", "testing"), tok);

    // All nodes up: the container, and an object through each proxy so
    // that both know the container (its info is cached).
    let (s, _) = timed(aio.port, "PUT", "/v1/AUTH_test/q", &tok, &[]);
    assert_eq!(s, 201);
    for (name, port) in proxies {
        let (s, _) = timed(
            port,
            "PUT",
            &format!("/v1/AUTH_test/q/warm-{name}"),
            &tok,
            &[],
        );
        assert_eq!(s, 201, "{name}: PUT with every node up");
    }

    let (cpart, cnodes) = primaries(aio, "container", "q", None);
    let slow = cnodes[0];
    let pid = aio
        .server_pid("container", slow)
        .expect("container server pid");
    // SAFETY: kill(2) on a child server of our cluster; no memory is involved.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let resume = Resume(pid);

    // Object PUTs first (a container POST makes the proxies forget the
    // container's info): one object server waits UPDATE_WAIT seconds for
    // the frozen container server, the proxy does not.
    for (name, port) in proxies {
        let (s, took) = timed(port, "PUT", &format!("/v1/AUTH_test/q/o-{name}"), &tok, &[]);
        assert_eq!(s, 201, "{name}: object PUT");
        assert!(
            (0.4..2.5).contains(&took),
            "{name}: object PUT took {took:.2} s: a quorum answers after about \
             post_quorum_timeout (0.5 s), not after the slow replica ({UPDATE_WAIT} s)"
        );
    }
    // Container POSTs: one replica never answers while frozen.
    for (name, port) in proxies {
        let meta = format!("X-Container-Meta-{name}");
        let (s, took) = timed(port, "POST", "/v1/AUTH_test/q", &tok, &[(&meta, "yes")]);
        assert_eq!(s, 204, "{name}: container POST");
        assert!(
            (0.4..2.5).contains(&took),
            "{name}: container POST took {took:.2} s: a quorum answers after about \
             post_quorum_timeout (0.5 s), not node_timeout ({NODE_TIMEOUT} s)"
        );
    }
    drop(resume);

    // The frozen replica gets both POSTs when it resumes, and every object
    // primary holds both objects (the slow one finished after the answer).
    let cport = server_port(aio, "container", slow);
    let cpath = format!("/sd{slow}/{cpart}/AUTH_test/q");
    eventually(
        || {
            let (s, h, _) = raw_http(cport, "HEAD", &cpath, &[], b"");
            s == 204
                && header(&h, "x-container-meta-ours") == Some("yes")
                && header(&h, "x-container-meta-swift") == Some("yes")
        },
        "the resumed container server lacks a POST",
    );
    for (name, _) in proxies {
        let o = format!("o-{name}");
        let (opart, onodes) = primaries(aio, "object", "q", Some(&o));
        for n in onodes {
            let port = server_port(aio, "object", n);
            let path = format!("/sd{n}/{opart}/AUTH_test/q/{o}");
            eventually(
                || raw_http(port, "HEAD", &path, &[], b"").0 == 200,
                &format!("object node {n} lacks {o}"),
            );
        }
    }
}
