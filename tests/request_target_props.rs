//! Property tests of `servers::target_io`: a client's byte stream (keep-alive
//! and pipelined requests with `Content-Length` and chunked bodies of any
//! bytes, trailers, `Expect: 100-continue`, empty lines between requests)
//! read through `EncodedTargets` in random pieces into buffers of random
//! sizes comes out unchanged, except that each high byte of a request-target
//! becomes `%XX`. The expected stream is written alongside the input, not
//! computed by the scanner.

use std::pin::Pin;

use ferroswift::servers::target_io::EncodedTargets;
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};

/// A reader handing out `data` in the given piece sizes, one per read.
struct Pieces {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl AsyncRead for Pieces {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let size = this.sizes[this.turn % this.sizes.len()];
        this.turn += 1;
        let n = size.min(buf.remaining()).min(this.data.len() - this.at);
        buf.put_slice(&this.data[this.at..this.at + n]);
        this.at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

/// Everything `EncodedTargets` yields over `input`, read `reads` bytes at most at a time.
fn read_all(input: &[u8], pieces: &[usize], reads: &[usize]) -> Vec<u8> {
    let src = Pieces {
        data: input.to_vec(),
        at: 0,
        sizes: pieces.to_vec(),
        turn: 0,
    };
    let mut io = EncodedTargets::new(src);
    let mut out = Vec::new();
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    for turn in 0.. {
        let mut mem = vec![0u8; reads[turn % reads.len()]];
        let mut buf = ReadBuf::new(&mut mem);
        match Pin::new(&mut io).poll_read(&mut cx, &mut buf) {
            std::task::Poll::Ready(Ok(())) => {}
            other => panic!("read: {other:?}"),
        }
        if buf.filled().is_empty() {
            break;
        }
        out.extend_from_slice(buf.filled());
    }
    out
}

#[derive(Debug, Clone)]
enum Framing {
    None,
    Length(Vec<u8>),
    /// Chunks (never empty), extensions, trailers.
    Chunked(Vec<(Vec<u8>, bool)>, Vec<String>),
}

#[derive(Debug, Clone)]
struct Req {
    blank_lines: usize,
    method: &'static str,
    /// The target as raw bytes (may hold high bytes).
    target: Vec<u8>,
    http10: bool,
    headers: Vec<(String, String)>,
    upper_names: bool,
    expect: bool,
    framing: Framing,
}

impl Req {
    /// The request as sent, and as it should come out.
    fn write(&self, raw: &mut Vec<u8>, want: &mut Vec<u8>) {
        let mut both = |b: &[u8]| {
            raw.extend_from_slice(b);
            want.extend_from_slice(b);
        };
        for _ in 0..self.blank_lines {
            both(b"\r\n");
        }
        both(format!("{} ", self.method).as_bytes());
        raw.extend_from_slice(&self.target);
        for &b in &self.target {
            if b >= 0x80 {
                want.extend_from_slice(format!("%{b:02X}").as_bytes());
            } else {
                want.push(b);
            }
        }
        let mut both = |b: &[u8]| {
            raw.extend_from_slice(b);
            want.extend_from_slice(b);
        };
        let version = if self.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
        both(format!(" {version}\r\nHost: 127.0.0.1\r\n").as_bytes());
        let name = |n: &str| {
            if self.upper_names {
                n.to_ascii_uppercase()
            } else {
                n.to_string()
            }
        };
        for (k, v) in &self.headers {
            both(format!("{k}: {v}\r\n").as_bytes());
        }
        if self.expect {
            both(format!("{}: 100-continue\r\n", name("Expect")).as_bytes());
        }
        match &self.framing {
            Framing::None => both(b"\r\n"),
            Framing::Length(body) => {
                both(format!("{}:  {} \r\n\r\n", name("Content-Length"), body.len()).as_bytes());
                both(body);
            }
            Framing::Chunked(chunks, trailers) => {
                both(format!("{}: chunked\r\n\r\n", name("Transfer-Encoding")).as_bytes());
                for (chunk, ext) in chunks {
                    let ext = if *ext { " ;name=\"v\"" } else { "" };
                    both(format!("{:x}{ext}\r\n", chunk.len()).as_bytes());
                    both(chunk);
                    both(b"\r\n");
                }
                both(b"0\r\n");
                for t in trailers {
                    both(format!("{t}\r\n").as_bytes());
                }
                both(b"\r\n");
            }
        }
    }
}

/// Bodies of any bytes, often shaped like request lines with high bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        Just(b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec()),
        Just(b"\r\n0\r\n\r\nPUT /\xc3\xa9 HTTP/1.1\r\nContent-Length: 1\r\n\r\n".to_vec()),
    ]
}

fn target(high: bool) -> impl Strategy<Value = Vec<u8>> {
    let ascii = prop::sample::select(b"abcXYZ019/-_.~%?=&+;:@!$'()*,".to_vec());
    let byte = if high {
        prop_oneof![3 => ascii, 1 => 0x80u8..=0xff].boxed()
    } else {
        ascii.boxed()
    };
    proptest::collection::vec(byte, 0..40).prop_map(|mut t| {
        t.insert(0, b'/');
        t
    })
}

fn request(high: bool) -> impl Strategy<Value = Req> {
    let header = ("[A-Za-z][A-Za-z0-9-]{0,20}", "[ -~]{0,30}")
        .prop_filter("not a framing header", |(k, _)| {
            let k = k.to_ascii_lowercase();
            !["content-length", "transfer-encoding", "upgrade", "expect"].contains(&k.as_str())
        })
        .prop_map(|(k, v)| (k, v.trim().to_string()));
    let framing = prop_oneof![
        Just(Framing::None),
        body().prop_map(Framing::Length),
        (
            proptest::collection::vec(
                (
                    body().prop_filter("chunk", |c| !c.is_empty()),
                    any::<bool>()
                ),
                0..4
            ),
            proptest::collection::vec("X-[A-Za-z]{1,8}: [ -~]{0,12}", 0..3),
        )
            .prop_map(|(c, t)| Framing::Chunked(c, t)),
    ];
    (
        0usize..3,
        prop::sample::select(vec![
            "GET", "PUT", "POST", "HEAD", "DELETE", "COPY", "OPTIONS",
        ]),
        target(high),
        any::<bool>(),
        proptest::collection::vec(header, 0..4),
        any::<bool>(),
        any::<bool>(),
        framing,
    )
        .prop_map(
            |(blank_lines, method, target, http10, headers, upper_names, expect, framing)| {
                // HTTP/1.0 has no chunked bodies (hyper refuses them).
                let http10 = http10 && !matches!(framing, Framing::Chunked(..));
                Req {
                    blank_lines,
                    method,
                    target,
                    http10,
                    headers,
                    upper_names,
                    expect,
                    framing,
                }
            },
        )
}

fn stream(high: bool) -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    proptest::collection::vec(request(high), 1..6).prop_map(|reqs| {
        let (mut raw, mut want) = (Vec::new(), Vec::new());
        for r in &reqs {
            r.write(&mut raw, &mut want);
        }
        (raw, want)
    })
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(prop_oneof![1usize..4, 1usize..64, 1usize..5000], 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn ascii_requests_pass_unchanged((raw, want) in stream(false), pieces in sizes(), reads in sizes()) {
        prop_assert_eq!(&raw, &want);
        prop_assert_eq!(read_all(&raw, &pieces, &reads), want);
    }

    #[test]
    fn only_high_bytes_of_targets_change((raw, want) in stream(true), pieces in sizes(), reads in sizes()) {
        prop_assert_eq!(read_all(&raw, &pieces, &reads), want);
    }

    /// A stream the scanner stops following (an invalid length) passes
    /// through whole from there on, whatever follows.
    #[test]
    fn after_unsure_framing_everything_passes(tail in proptest::collection::vec(any::<u8>(), 0..400), pieces in sizes(), reads in sizes()) {
        let mut raw = b"GET /\xff HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n".to_vec();
        raw.extend_from_slice(b"GET /\xff HTTP/1.1\r\n\r\n");
        raw.extend_from_slice(&tail);
        let mut want = b"GET /%FF HTTP/1.1\r\n".to_vec();
        want.extend_from_slice(&raw[b"GET /\xff HTTP/1.1\r\n".len()..]);
        prop_assert_eq!(read_all(&raw, &pieces, &reads), want);
    }
}
