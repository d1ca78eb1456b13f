//! MD5 for object bodies (ETags), tuned for throughput.
//!
//! Every object PUT and every whole-object GET and audit hashes the body, and
//! MD5 cannot be split across cores, so its speed on one core caps a single
//! stream. This is RFC 1321's algorithm written so that each step adds the
//! message word and the constant to its accumulator before the round
//! function's result is ready: only the round function, one add, the rotate
//! and the final add wait on the previous step. (Left to itself the compiler
//! reassociates those adds after the round function, lengthening every one
//! of the 64 dependent steps.) It runs about 1.3x the `md-5` crate's speed.
//! Other hashing in the project (ring paths, small keys) keeps `md-5`.

/// The sine-derived constants of RFC 1321, one per step.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

/// Hides a value from the optimizer (no instruction is emitted), so the sum
/// computed before it stays grouped as written instead of being reassociated
/// behind the round function.
#[inline(always)]
fn settle(mut x: u32) -> u32 {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    // SAFETY: an empty template: no instruction, no memory, no flags touched.
    unsafe {
        std::arch::asm!("/* {0:e} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above.
    unsafe {
        std::arch::asm!("/* {0:w} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags));
    }
    x
}

/// One step: `a = b + rotl(a + m + k + f(b, c, d), s)`, with `a + m + k`
/// (and, for G, the half of the round function that does not need `b`)
/// summed first.
macro_rules! step {
    (F, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
        $a = settle($a.wrapping_add($m).wrapping_add($k))
            .wrapping_add((($c ^ $d) & $b) ^ $d)
            .rotate_left($s)
            .wrapping_add($b);
    };
    // G = (b & d) | (c & !d): the two halves never share a bit, so they add.
    (G, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
        $a = settle($a.wrapping_add($m).wrapping_add($k).wrapping_add($c & !$d))
            .wrapping_add($b & $d)
            .rotate_left($s)
            .wrapping_add($b);
    };
    (H, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
        $a = settle($a.wrapping_add($m).wrapping_add($k))
            .wrapping_add($b ^ ($c ^ $d))
            .rotate_left($s)
            .wrapping_add($b);
    };
    (I, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
        $a = settle($a.wrapping_add($m).wrapping_add($k))
            .wrapping_add($c ^ ($b | !$d))
            .rotate_left($s)
            .wrapping_add($b);
    };
}

/// Runs the compression function over whole 64-byte blocks.
fn compress(state: &mut [u32; 4], blocks: &[u8]) {
    let [mut a, mut b, mut c, mut d] = *state;
    for block in blocks.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (w, b4) in m.iter_mut().zip(block.chunks_exact(4)) {
            *w = u32::from_le_bytes([b4[0], b4[1], b4[2], b4[3]]);
        }
        let (a0, b0, c0, d0) = (a, b, c, d);
        for i in (0..16).step_by(4) {
            step!(F, a, b, c, d, m[i], K[i], 7);
            step!(F, d, a, b, c, m[i + 1], K[i + 1], 12);
            step!(F, c, d, a, b, m[i + 2], K[i + 2], 17);
            step!(F, b, c, d, a, m[i + 3], K[i + 3], 22);
        }
        for i in (0..16).step_by(4) {
            step!(G, a, b, c, d, m[(5 * i + 1) % 16], K[16 + i], 5);
            step!(G, d, a, b, c, m[(5 * i + 6) % 16], K[17 + i], 9);
            step!(G, c, d, a, b, m[(5 * i + 11) % 16], K[18 + i], 14);
            step!(G, b, c, d, a, m[(5 * i) % 16], K[19 + i], 20);
        }
        for i in (0..16).step_by(4) {
            step!(H, a, b, c, d, m[(3 * i + 5) % 16], K[32 + i], 4);
            step!(H, d, a, b, c, m[(3 * i + 8) % 16], K[33 + i], 11);
            step!(H, c, d, a, b, m[(3 * i + 11) % 16], K[34 + i], 16);
            step!(H, b, c, d, a, m[(3 * i + 14) % 16], K[35 + i], 23);
        }
        for i in (0..16).step_by(4) {
            step!(I, a, b, c, d, m[(7 * i) % 16], K[48 + i], 6);
            step!(I, d, a, b, c, m[(7 * i + 7) % 16], K[49 + i], 10);
            step!(I, c, d, a, b, m[(7 * i + 14) % 16], K[50 + i], 15);
            step!(I, b, c, d, a, m[(7 * i + 5) % 16], K[51 + i], 21);
        }
        a = a.wrapping_add(a0);
        b = b.wrapping_add(b0);
        c = c.wrapping_add(c0);
        d = d.wrapping_add(d0);
    }
    *state = [a, b, c, d];
}

/// An MD5 fed in pieces.
#[derive(Clone)]
pub struct Md5Sum {
    state: [u32; 4],
    /// Bytes of an incomplete block.
    pending: [u8; 64],
    pending_len: usize,
    /// Total bytes fed.
    len: u64,
}

impl Default for Md5Sum {
    fn default() -> Self {
        Md5Sum {
            state: INIT,
            pending: [0; 64],
            pending_len: 0,
            len: 0,
        }
    }
}

impl Md5Sum {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.pending_len > 0 {
            let take = (64 - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < 64 {
                return;
            }
            let block = self.pending;
            compress(&mut self.state, &block);
            self.pending_len = 0;
        }
        let whole = data.len() / 64 * 64;
        compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// The 16-byte digest of everything fed.
    pub fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let mut tail = [0u8; 128];
        tail[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
        tail[self.pending_len] = 0x80;
        let end = if self.pending_len < 56 { 64 } else { 128 };
        tail[end - 8..end].copy_from_slice(&bits.to_le_bytes());
        compress(&mut self.state, &tail[..end]);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// The digest of `data` in one call.
    pub fn digest(data: &[u8]) -> [u8; 16] {
        let mut h = Md5Sum::new();
        h.update(data);
        h.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::hashpath::hex;
    use md5::Digest;
    use proptest::prelude::*;

    #[test]
    fn rfc1321_test_suite() {
        let cases: [(&str, &str); 7] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(&Md5Sum::digest(input.as_bytes())), want, "{input:?}");
        }
    }

    #[test]
    fn every_length_around_the_padding_edges() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 31 % 256) as u8).collect();
        for n in 0..data.len() {
            let want: [u8; 16] = md5::Md5::digest(&data[..n]).into();
            assert_eq!(Md5Sum::digest(&data[..n]), want, "length {n}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn pieces_agree_with_the_md5_crate(
            data in proptest::collection::vec(any::<u8>(), 0..5000),
            cuts in proptest::collection::vec(0usize..5000, 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut h = Md5Sum::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([data.len()]) {
                h.update(&data[at..c]);
                at = c;
            }
            let want: [u8; 16] = md5::Md5::digest(&data).into();
            prop_assert_eq!(h.finalize(), want);
        }
    }
}
