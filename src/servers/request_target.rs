//! Finds the request-targets in the bytes a client sends on an HTTP/1
//! connection, so that raw bytes of 0x80 and above in them (and control
//! bytes, such as a NUL) can be sent on percent-encoded (`\xff` → `%FF`)
//! before hyper parses the request line.
//!
//! Swift's servers decode a path's raw bytes and its `%XX` escapes alike
//! (eventlet reads the request line as latin-1 and unquotes it as latin-1;
//! Swift then re-encodes the text to bytes), so both spellings name the
//! same thing there. hyper refuses a request line whose target is not valid
//! UTF-8 with a bare 400 before any handler runs; encoding those bytes
//! first lets the servers answer as Swift's do (412 for invalid UTF-8).
//!
//! [`TargetScanner`] follows the message framing as hyper reads it: the
//! request line and headers byte by byte, then the body by count
//! (`Content-Length`) or by chunk sizes (`Transfer-Encoding: chunked`), then
//! the next request of a keep-alive or pipelined connection. Whenever it
//! meets something it does not follow exactly as hyper does (an upgrade,
//! an invalid length, a malformed chunk), it stops looking for good and
//! passes the rest of the connection through untouched: the only bytes it
//! ever changes are such bytes inside a request-target.

/// Where the scanner is in the client's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between messages: empty lines before a request line are skipped.
    Idle,
    Method,
    Target,
    Version,
    /// The start of a header line (or of the empty line ending the head).
    LineStart,
    /// A CR at the start of a line: the head ends at the LF.
    HeadEndLf,
    Name,
    Value,
    /// A `Content-Length` body: bytes left.
    Body(u64),
    ChunkStart,
    ChunkSize(u64),
    ChunkLws(u64),
    ChunkExt(u64),
    ChunkSizeLf(u64),
    ChunkData(u64),
    ChunkDataCr,
    ChunkDataLf,
    /// After the last chunk: a CR ends the message, anything else starts a trailer.
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
    /// Not following any more: every further byte passes unchanged.
    Passthrough,
}

/// The header being read, as far as framing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ContentLength,
    TransferEncoding,
    Upgrade,
    Other,
}

/// Longest header name kept for matching (`transfer-encoding`).
const NAME_MAX: usize = 17;
/// Longest `Content-Length` / `Transfer-Encoding` value followed.
const VALUE_MAX: usize = 256;
/// Longest request version kept (`HTTP/1.1\r`).
const VERSION_MAX: usize = 9;

/// What the head read so far says about framing.
#[derive(Debug, Default, Clone)]
struct Head {
    method_connect: bool,
    method_len: usize,
    version: Vec<u8>,
    name: [u8; NAME_MAX],
    name_len: usize,
    name_long: bool,
    value: Vec<u8>,
    field: Option<Field>,
    content_length: Option<u64>,
    bad_length: bool,
    transfer_encoding: bool,
    chunked_last: bool,
    upgrade: bool,
}

/// Follows an HTTP/1 client's byte stream (see the module docs).
#[derive(Debug, Clone)]
pub struct TargetScanner {
    state: State,
    head: Head,
}

impl Default for TargetScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl TargetScanner {
    pub fn new() -> TargetScanner {
        TargetScanner {
            state: State::Idle,
            head: Head::default(),
        }
    }

    /// True once the scanner has stopped following the stream.
    pub fn is_passthrough(&self) -> bool {
        self.state == State::Passthrough
    }

    /// Advances over `data` and returns how many of its bytes go on
    /// unchanged. When that is less than `data.len()`, the next byte is a
    /// byte to encode inside a request-target: the caller sends it on encoded
    /// (`encode`) and scans on from the byte after it.
    pub fn scan(&mut self, data: &[u8]) -> usize {
        let mut i = 0;
        while i < data.len() {
            match self.state {
                State::Passthrough => return data.len(),
                State::Body(left) => {
                    let n = left.min((data.len() - i) as u64);
                    i += n as usize;
                    self.state = if left == n {
                        State::Idle
                    } else {
                        State::Body(left - n)
                    };
                }
                State::ChunkData(left) => {
                    let n = left.min((data.len() - i) as u64);
                    i += n as usize;
                    self.state = if left == n {
                        State::ChunkDataCr
                    } else {
                        State::ChunkData(left - n)
                    };
                }
                State::Target => {
                    // The hot loop of a request line: stop at the space,
                    // the end of the line, or a byte to encode.
                    let rest = &data[i..];
                    match rest
                        .iter()
                        .position(|&b| b == b' ' || b == b'\n' || b == b'\r' || encoded(b))
                    {
                        None => return data.len(),
                        Some(p) if encoded(rest[p]) => return i + p,
                        Some(p) => {
                            i += p;
                            self.byte(data[i]);
                            i += 1;
                        }
                    }
                }
                // Most of a head: values of headers framing does not need,
                // skipped to the end of the line.
                State::Value if self.head.field == Some(Field::Other) => {
                    match data[i..].iter().position(|&b| b == b'\n') {
                        None => return data.len(),
                        Some(p) => {
                            i += p;
                            self.byte(b'\n');
                            i += 1;
                        }
                    }
                }
                _ => {
                    self.byte(data[i]);
                    i += 1;
                }
            }
        }
        data.len()
    }

    /// Scans `input` and appends it to `out` with the high and control bytes of its
    /// request-targets percent-encoded.
    pub fn transform(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        loop {
            let n = self.scan(input);
            out.extend_from_slice(&input[..n]);
            match input.get(n) {
                Some(&b) => {
                    out.extend_from_slice(&encode(b));
                    input = &input[n + 1..];
                }
                None => return,
            }
        }
    }

    fn pass(&mut self) {
        self.state = State::Passthrough;
        self.head = Head::default();
    }

    /// One byte of anything but a body or a request-target's run of bytes.
    fn byte(&mut self, b: u8) {
        use State::*;
        self.state = match self.state {
            Idle => match b {
                b'\r' | b'\n' => Idle,
                _ => {
                    self.head = Head::default();
                    self.method_byte(b)
                }
            },
            Method => match b {
                b' ' => {
                    self.head.method_connect &= self.head.method_len == b"CONNECT".len();
                    Target
                }
                b'\r' | b'\n' => return self.pass(),
                _ => self.method_byte(b),
            },
            Target => match b {
                b' ' => Version,
                _ => return self.pass(),
            },
            Version => match b {
                b'\n' => {
                    let v = self
                        .head
                        .version
                        .strip_suffix(b"\r")
                        .unwrap_or(&self.head.version);
                    if v != b"HTTP/1.1" && v != b"HTTP/1.0" {
                        return self.pass();
                    }
                    LineStart
                }
                _ if self.head.version.len() >= VERSION_MAX => return self.pass(),
                _ => {
                    self.head.version.push(b);
                    Version
                }
            },
            LineStart => match b {
                b'\r' => HeadEndLf,
                b'\n' => return self.end_of_head(),
                // Folded lines and names with spaces: hyper refuses them.
                b' ' | b'\t' | b':' => return self.pass(),
                _ => {
                    self.head.name_len = 0;
                    self.head.name_long = false;
                    self.name_byte(b);
                    Name
                }
            },
            HeadEndLf => match b {
                b'\n' => return self.end_of_head(),
                _ => return self.pass(),
            },
            Name => match b {
                b':' => {
                    self.head.field = Some(self.field());
                    self.head.value.clear();
                    Value
                }
                b'\r' | b'\n' | b' ' | b'\t' => return self.pass(),
                _ => {
                    self.name_byte(b);
                    Name
                }
            },
            Value => match b {
                b'\n' => {
                    self.end_of_field();
                    LineStart
                }
                _ => {
                    if matches!(
                        self.head.field,
                        Some(Field::ContentLength | Field::TransferEncoding)
                    ) {
                        if self.head.value.len() >= VALUE_MAX {
                            return self.pass();
                        }
                        self.head.value.push(b);
                    }
                    Value
                }
            },
            ChunkStart => match hex(b) {
                Some(d) => ChunkSize(d),
                None => return self.pass(),
            },
            ChunkSize(size) => match (b, hex(b)) {
                (_, Some(d)) => match size.checked_mul(16).and_then(|s| s.checked_add(d)) {
                    Some(s) => ChunkSize(s),
                    None => return self.pass(),
                },
                (b' ' | b'\t', _) => ChunkLws(size),
                (b';', _) => ChunkExt(size),
                (b'\r', _) => ChunkSizeLf(size),
                _ => return self.pass(),
            },
            ChunkLws(size) => match b {
                b' ' | b'\t' => ChunkLws(size),
                b';' => ChunkExt(size),
                b'\r' => ChunkSizeLf(size),
                _ => return self.pass(),
            },
            ChunkExt(size) => match b {
                b'\r' => ChunkSizeLf(size),
                b'\n' => return self.pass(),
                _ => ChunkExt(size),
            },
            ChunkSizeLf(size) => match b {
                b'\n' if size == 0 => EndCr,
                b'\n' => ChunkData(size),
                _ => return self.pass(),
            },
            ChunkDataCr => match b {
                b'\r' => ChunkDataLf,
                _ => return self.pass(),
            },
            ChunkDataLf => match b {
                b'\n' => ChunkStart,
                _ => return self.pass(),
            },
            EndCr => match b {
                b'\r' => EndLf,
                _ => Trailer,
            },
            Trailer => match b {
                b'\r' => TrailerLf,
                _ => Trailer,
            },
            TrailerLf => match b {
                b'\n' => EndCr,
                _ => return self.pass(),
            },
            EndLf => match b {
                b'\n' => Idle,
                _ => return self.pass(),
            },
            Body(_) | ChunkData(_) | Passthrough => unreachable!("scanned by count"),
        };
    }

    fn method_byte(&mut self, b: u8) -> State {
        let h = &mut self.head;
        h.method_connect =
            (h.method_len == 0 || h.method_connect) && b"CONNECT".get(h.method_len) == Some(&b);
        h.method_len += 1;
        State::Method
    }

    fn name_byte(&mut self, b: u8) {
        let h = &mut self.head;
        if h.name_len < NAME_MAX {
            h.name[h.name_len] = b.to_ascii_lowercase();
            h.name_len += 1;
        } else {
            h.name_long = true;
        }
    }

    fn field(&self) -> Field {
        if self.head.name_long {
            return Field::Other;
        }
        match &self.head.name[..self.head.name_len] {
            b"content-length" => Field::ContentLength,
            b"transfer-encoding" => Field::TransferEncoding,
            b"upgrade" => Field::Upgrade,
            _ => Field::Other,
        }
    }

    /// A header line ended: note what it says about framing (as hyper reads it).
    fn end_of_field(&mut self) {
        let h = &mut self.head;
        let value = trim(&h.value);
        match h.field {
            Some(Field::ContentLength) => match digits(value) {
                Some(n) if h.content_length.is_none_or(|m| m == n) => h.content_length = Some(n),
                _ => h.bad_length = true,
            },
            Some(Field::TransferEncoding) => {
                h.transfer_encoding = true;
                h.chunked_last = value
                    .iter()
                    .all(|b| (0x20..0x7f).contains(b) || *b == b'\t')
                    && value
                        .rsplit(|&b| b == b',')
                        .next()
                        .is_some_and(|t| trim(t).eq_ignore_ascii_case(b"chunked"));
            }
            Some(Field::Upgrade) => h.upgrade = true,
            _ => {}
        }
        h.field = None;
    }

    /// The empty line after the headers: what comes next is the body.
    fn end_of_head(&mut self) {
        let h = std::mem::take(&mut self.head);
        let http10 = h.version.starts_with(b"HTTP/1.0");
        self.state = if h.upgrade || h.method_connect {
            State::Passthrough
        } else if h.transfer_encoding {
            if h.chunked_last && !http10 {
                State::ChunkStart
            } else {
                State::Passthrough
            }
        } else if h.bad_length {
            State::Passthrough
        } else {
            match h.content_length {
                None | Some(0) => State::Idle,
                Some(n) => State::Body(n),
            }
        };
    }
}

/// Whether a byte of a request-target goes on as `%XX`: the high bytes,
/// and the control bytes other than the CR and LF that end the line
/// (Swift's servers take them as part of the path, where a NUL is then
/// refused with a 412; hyper would refuse the whole line with a 400).
fn encoded(b: u8) -> bool {
    b >= 0x7f || (b < 0x20 && b != b'\r' && b != b'\n')
}

/// `%XX` for a byte.
pub fn encode(b: u8) -> [u8; 3] {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    [b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]
}

fn hex(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

fn trim(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// A `Content-Length` as hyper takes it: digits only, below its largest length.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n = 0u64;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (n < u64::MAX - 1).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Vec<u8>, TargetScanner) {
        let mut s = TargetScanner::new();
        let mut out = Vec::new();
        s.transform(input, &mut out);
        (out, s)
    }

    #[test]
    fn high_bytes_in_the_target_are_encoded() {
        let (out, s) = run(b"GET /v1/a/\xff\xc3\xa9?q=\x80 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            out,
            b"GET /v1/a/%FF%C3%A9?q=%80 HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        assert_eq!(s.state, State::Idle);
    }

    #[test]
    fn control_bytes_in_the_target_are_encoded() {
        let (out, s) = run(b"GET /v1/a/c/o\x00\x01\t\x7f HTTP/1.1\r\nX-Meta: \t\r\n\r\n");
        assert_eq!(
            out,
            b"GET /v1/a/c/o%00%01%09%7F HTTP/1.1\r\nX-Meta: \t\r\n\r\n"
        );
        assert_eq!(s.state, State::Idle);
    }

    #[test]
    fn header_values_and_bodies_are_left_alone() {
        let req = b"PUT /\xff HTTP/1.1\r\nX-Meta: \xff\r\nContent-Length: 15\r\n\r\nGET /\xff HTTP/1.1GET /\xfe HTTP/1.1\r\n\r\n";
        let (out, _) = run(req);
        assert_eq!(
            out,
            b"PUT /%FF HTTP/1.1\r\nX-Meta: \xff\r\nContent-Length: 15\r\n\r\nGET /\xff HTTP/1.1GET /%FE HTTP/1.1\r\n\r\n"
        );
    }

    #[test]
    fn chunked_bodies_are_followed_to_their_end() {
        let req = b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n\
            6;ext=1\r\nGET /\xff\r\n0\r\nX-Trailer: \xff\r\n\r\nGET /\xff HTTP/1.1\r\n\r\n";
        let (out, s) = run(req);
        assert!(out.ends_with(b"\r\n\r\nGET /%FF HTTP/1.1\r\n\r\n"));
        assert_eq!(out.len(), req.len() + 2);
        assert_eq!(s.state, State::Idle);
    }

    #[test]
    fn unsure_framing_passes_the_rest_through() {
        for head in [
            &b"PUT /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            b"PUT /a HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            b"PUT /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"PUT /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /a HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"CONNECT host:1 HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\n",
            b"GET /a HTTP/1.1\r\n folded\r\n\r\n",
        ] {
            let mut req = head.to_vec();
            req.extend_from_slice(b"GET /\xff HTTP/1.1\r\n\r\n");
            let (out, s) = run(&req);
            assert_eq!(out, req, "{}", String::from_utf8_lossy(head));
            assert!(s.is_passthrough());
        }
    }

    #[test]
    fn content_length_with_transfer_encoding_follows_the_chunks() {
        let req = b"PUT /a HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /\xff HTTP/1.1\r\n\r\n";
        let (out, _) = run(req);
        assert!(out.ends_with(b"GET /%FF HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn connect_is_told_from_other_methods() {
        let (_, s) = run(b"CONNEC /a HTTP/1.1\r\n\r\n");
        assert_eq!(s.state, State::Idle);
        let (_, s) = run(b"CONNECTX /a HTTP/1.1\r\n\r\n");
        assert_eq!(s.state, State::Idle);
        let (_, s) = run(b"XONNECT /a HTTP/1.1\r\n\r\n");
        assert_eq!(s.state, State::Idle);
    }

    #[test]
    fn content_length_digits_as_hyper_reads_them() {
        assert_eq!(digits(b"0"), Some(0));
        assert_eq!(digits(b"007"), Some(7));
        assert_eq!(digits(b""), None);
        assert_eq!(digits(b"5, 5"), None);
        assert_eq!(digits(b"-1"), None);
        assert_eq!(digits(b"99999999999999999999"), None);
        assert_eq!(trim(b" \t 12 \r"), b"12");
    }
}
