//! Tokens shared through a real memcached: two of our proxies in front of
//! one all-in-one cluster accept each other's tokens, and Swift's own proxy
//! and memcache client read what ours stored (and the other way round).

mod aio_util;

use aio_util::{
    another_proxy, bin, one_cluster_at_a_time, raw_http, run_swift_python, swift_proxy, token,
    Memcached, MemcachedCluster,
};

#[test]
fn proxies_share_tokens_through_memcached() {
    let _turn = one_cluster_at_a_time();
    let cluster = MemcachedCluster::start();
    let (aio, mc) = (&cluster.aio, &cluster.mc);
    let second = another_proxy(
        aio,
        &cluster.conf,
        "",
        &bin("swift-proxy-server"),
        "proxy-2",
    );

    // A token from the first proxy works on the second, and the other way round.
    let tok = token(aio.port, "test:tester", "testing");
    let (s, _, _) = with_token(second.port, "PUT", "/v1/AUTH_test/shared", &tok, b"");
    assert_eq!(s, 201);
    let (s, _, _) = with_token(second.port, "PUT", "/v1/AUTH_test/shared/o", &tok, b"hello");
    assert_eq!(s, 201);
    let (s, _, body) = with_token(aio.port, "GET", "/v1/AUTH_test/shared/o", &tok, b"");
    assert_eq!((s, body.as_slice()), (200, &b"hello"[..]));
    // Asking the second proxy for a token returns the one already shared.
    assert_eq!(token(second.port, "test:tester", "testing"), tok);
    let tok2 = token(second.port, "test2:tester2", "testing2");
    let (s, _, _) = with_token(aio.port, "HEAD", "/v1/AUTH_test2", &tok2, b"");
    assert_eq!(s / 100, 2, "token of the second proxy on the first");
    // Tokens that memcached does not hold are refused by both.
    let forged = format!("AUTH_tk{}", "0".repeat(32));
    for port in [aio.port, second.port] {
        let (s, _, _) = with_token(port, "HEAD", "/v1/AUTH_test", &forged, b"");
        assert_eq!(s, 401);
    }
    // A token memcached loses is refused by both within a second: ours
    // trusts a token it has checked for at most that long.
    for port in [aio.port, second.port] {
        let (s, _, _) = with_token(port, "HEAD", "/v1/AUTH_test", &tok, b"");
        assert_eq!(s / 100, 2, "the token before memcached loses it");
    }
    forget(mc, &format!("AUTH_/token/{tok}"));
    std::thread::sleep(std::time::Duration::from_millis(1200));
    for port in [aio.port, second.port] {
        let (s, _, _) = with_token(port, "HEAD", "/v1/AUTH_test", &tok, b"");
        assert_eq!(s, 401, "a token memcached no longer holds, on port {port}");
    }
}

/// A request to the proxy on `port` with `X-Auth-Token: token`.
fn with_token(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    raw_http(port, method, path, &[("X-Auth-Token", token)], body)
}

/// Deletes a cache key from memcached (stored under its hex MD5, as
/// Swift's memcache client stores it).
fn forget(mc: &Memcached, key: &str) {
    use md5::{Digest, Md5};
    use std::io::{Read, Write};
    let hashed: String = Md5::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut s = std::net::TcpStream::connect(mc.addr()).unwrap();
    s.write_all(format!("delete {hashed}\r\n").as_bytes())
        .unwrap();
    let mut answer = [0u8; 64];
    let n = s.read(&mut answer).unwrap();
    assert_eq!(&answer[..n], b"DELETED\r\n", "memcached delete {key}");
}

#[test]
fn swift_proxy_and_memcache_client_read_our_tokens() {
    let _turn = one_cluster_at_a_time();
    let cluster = MemcachedCluster::start();
    let (aio, mc) = (&cluster.aio, &cluster.mc);
    let swift = swift_proxy(aio, &cluster.conf);

    // Ours issues a token; Swift's memcache client finds it under tempauth's
    // keys, in tempauth's format, and Swift's proxy accepts it and hands out
    // the same token for the same user.
    let ours = token(aio.port, "test:tester", "testing");
    let read = r#"
import json, sys, time
from swift.common.memcached import MemcacheRing
from swift.common.utils import get_logger
mc = MemcacheRing([sys.argv[1]], logger=get_logger({}, log_route='check'))
out = {}
for user in sys.argv[2:]:
    tok = mc.get('AUTH_/user/' + user)
    expires, groups = mc.get('AUTH_/token/' + tok)
    out[user] = {'token': tok, 'ttl': expires - time.time(), 'groups': groups}
print(json.dumps(out))
"#;
    let theirs = token(swift.port, "test2:tester2", "testing2");
    let out = run_swift_python(read, &[&mc.addr(), "test:tester", "test2:tester2"]);
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(seen["test:tester"]["token"], ours.as_str());
    assert_eq!(seen["test2:tester2"]["token"], theirs.as_str());
    // Groups as Swift's tempauth writes them (its own entry is the reference).
    assert_eq!(
        seen["test2:tester2"]["groups"],
        "test2,test2:tester2,AUTH_test2"
    );
    assert_eq!(seen["test:tester"]["groups"], "test,test:tester,AUTH_test");
    for user in ["test:tester", "test2:tester2"] {
        let ttl = seen[user]["ttl"].as_f64().expect("expiry is a number");
        assert!((86_000.0..=86_400.0).contains(&ttl), "{user} ttl {ttl}");
    }
    assert_eq!(token(swift.port, "test:tester", "testing"), ours);

    let (s, _, _) = with_token(aio.port, "PUT", "/v1/AUTH_test/interop", &ours, b"");
    assert_eq!(s, 201);
    let (s, _, _) = with_token(
        swift.port,
        "PUT",
        "/v1/AUTH_test/interop/o",
        &ours,
        b"from swift",
    );
    assert_eq!(s, 201, "Swift's proxy accepts our token");
    let (s, _, body) = with_token(aio.port, "GET", "/v1/AUTH_test/interop/o", &ours, b"");
    assert_eq!((s, body.as_slice()), (200, &b"from swift"[..]));
    // And ours accepts Swift's.
    let (s, _, _) = with_token(aio.port, "PUT", "/v1/AUTH_test2/c", &theirs, b"");
    assert_eq!(s, 201, "our proxy accepts Swift's token");
}
