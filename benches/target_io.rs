//! What reading a connection through `servers::target_io` costs per
//! request: a stream of pipelined requests (a small GET as `wrk` sends
//! it, a 4 KiB PUT, a GET whose path holds raw UTF-8) read in 8 KiB
//! reads, through `EncodedTargets` and straight from memory.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferroswift::servers::target_io::EncodedTargets;
use tokio::io::{AsyncRead, ReadBuf};

const REQUESTS: usize = 1000;

fn stream(one: &[u8]) -> Vec<u8> {
    one.repeat(REQUESTS)
}

/// Reads `io` to its end in 8 KiB reads; returns the bytes read.
fn drain(mut io: impl AsyncRead + Unpin) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut mem = vec![0u8; 8192];
    let mut total = 0;
    loop {
        let mut buf = ReadBuf::new(&mut mem);
        match Pin::new(&mut io).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return total,
            Poll::Ready(Ok(())) => {
                total += std::hint::black_box(buf.filled()).len();
            }
            other => panic!("{other:?}"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let get = b"GET /v1/AUTH_test/bench/obj-000123 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
        X-Auth-Token: AUTH_tk0123456789abcdef0123456789abcdef\r\n\r\n";
    let mut put = b"PUT /v1/AUTH_test/bench/obj-000123 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
        X-Auth-Token: AUTH_tk0123456789abcdef0123456789abcdef\r\nContent-Length: 4096\r\n\r\n"
        .to_vec();
    put.extend(std::iter::repeat_n(b'x', 4096));
    let utf8 = "GET /v1/AUTH_test/bench/\u{e9}t\u{e9}-000123 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
        X-Auth-Token: AUTH_tk0123456789abcdef0123456789abcdef\r\n\r\n";
    let mut g = c.benchmark_group("1000 pipelined requests");
    g.throughput(Throughput::Elements(REQUESTS as u64));
    for (name, one) in [
        ("small GET", &get[..]),
        ("4 KiB PUT", &put[..]),
        ("GET, raw UTF-8 path", utf8.as_bytes()),
    ] {
        let data = stream(one);
        g.bench_function(format!("{name}: plain read"), |b| {
            b.iter(|| drain(std::hint::black_box(&data[..])))
        });
        g.bench_function(format!("{name}: through EncodedTargets"), |b| {
            b.iter(|| drain(EncodedTargets::new(std::hint::black_box(&data[..]))))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
