//! Writes a [`Pickle`] as CPython 3's pickler writes the same value with
//! protocol 2, byte for byte: the smallest integer opcodes, one memo entry
//! per string, bytes, tuple, list, dict and global (`BINPUT`, or
//! `LONG_BINPUT` past 255), and memo hits where CPython reuses one object:
//! the `_codecs.encode` and `__builtin__.bytes` globals, the `'latin1'`
//! argument, and its cached empty and one-byte `bytes` and one-char
//! Latin-1 `str` objects. Sizes matter: Swift keeps the metadata pickle in
//! one xattr, and ext4 keeps every xattr of an inode in one block.

use super::pickle::Pickle;

/// Items per `SETITEMS`/`APPENDS` batch, as CPython.
const BATCH: usize = 1000;

/// Memo slots of the objects CPython shares between occurrences.
#[derive(Default)]
struct Shared {
    codecs_encode: Option<u32>,
    bytes_type: Option<u32>,
    latin1: Option<u32>,
    empty_bytes: Option<u32>,
    /// By byte value.
    one_byte: Vec<Option<u32>>,
    empty_str: Option<u32>,
    /// By Latin-1 code point.
    one_char: Vec<Option<u32>>,
}

/// A protocol-2 pickler with CPython's memo.
pub struct Pickler {
    out: Vec<u8>,
    next: u32,
    shared: Shared,
}

impl Pickler {
    /// Pickles `value` with protocol 2.
    pub fn dumps(value: &Pickle) -> Vec<u8> {
        let mut p = Pickler {
            out: vec![0x80, 2],
            next: 0,
            shared: Shared {
                one_byte: vec![None; 256],
                one_char: vec![None; 256],
                ..Shared::default()
            },
        };
        p.save(value);
        p.out.push(b'.');
        p.out
    }

    /// Writes `BINPUT`/`LONG_BINPUT` for a new memo entry; returns its index.
    fn memoize(&mut self) -> u32 {
        let i = self.next;
        self.next += 1;
        if let Ok(small) = u8::try_from(i) {
            self.out.extend_from_slice(&[b'q', small]);
        } else {
            self.out.push(b'r');
            self.out.extend_from_slice(&i.to_le_bytes());
        }
        i
    }

    fn get(&mut self, i: u32) {
        if let Ok(small) = u8::try_from(i) {
            self.out.extend_from_slice(&[b'h', small]);
        } else {
            self.out.push(b'j');
            self.out.extend_from_slice(&i.to_le_bytes());
        }
    }

    fn save(&mut self, value: &Pickle) {
        match value {
            Pickle::None => self.out.push(b'N'),
            Pickle::Bool(true) => self.out.push(0x88),
            Pickle::Bool(false) => self.out.push(0x89),
            Pickle::Int(i) => self.save_int(*i),
            Pickle::Float(f) => {
                self.out.push(b'G');
                self.out.extend_from_slice(&f.to_be_bytes());
            }
            Pickle::Str(s) => self.save_str(s, false),
            Pickle::Bytes(b) => self.save_bytes(b),
            Pickle::List(items) => {
                self.out.push(b']');
                self.memoize();
                self.batch(items.len(), b'a', b'e', |p, i| p.save(&items[i]));
            }
            Pickle::Tuple(items) if items.is_empty() => self.out.push(b')'),
            Pickle::Tuple(items) => {
                // TUPLE1-3 after the items, a MARK ... TUPLE past three.
                let short = items.len() <= 3;
                if !short {
                    self.out.push(b'(');
                }
                for v in items {
                    self.save(v);
                }
                self.out.push(if short {
                    0x84 + items.len() as u8
                } else {
                    b't'
                });
                self.memoize();
            }
            Pickle::Dict(items) => {
                self.out.push(b'}');
                self.memoize();
                self.batch(items.len(), b's', b'u', |p, i| {
                    p.save(&items[i].0);
                    p.save(&items[i].1);
                });
            }
        }
    }

    /// One item goes alone (`APPEND`/`SETITEM`), more in marked batches.
    fn batch(&mut self, n: usize, one: u8, many: u8, mut item: impl FnMut(&mut Self, usize)) {
        if n == 1 {
            item(self, 0);
            self.out.push(one);
            return;
        }
        for start in (0..n).step_by(BATCH) {
            self.out.push(b'(');
            for i in start..n.min(start + BATCH) {
                item(self, i);
            }
            self.out.push(many);
        }
    }

    fn save_int(&mut self, i: i64) {
        if let Ok(b) = u8::try_from(i) {
            self.out.extend_from_slice(&[b'K', b]);
        } else if let Ok(w) = u16::try_from(i) {
            self.out.push(b'M');
            self.out.extend_from_slice(&w.to_le_bytes());
        } else if let Ok(d) = i32::try_from(i) {
            self.out.push(b'J');
            self.out.extend_from_slice(&d.to_le_bytes());
        } else {
            // LONG1: the shortest little-endian two's complement.
            let mut bytes = i.to_le_bytes().to_vec();
            while bytes.len() > 1 {
                let last = bytes[bytes.len() - 1];
                let sign = bytes[bytes.len() - 2] & 0x80;
                if (last == 0 && sign == 0) || (last == 0xff && sign != 0) {
                    bytes.pop();
                } else {
                    break;
                }
            }
            self.out.extend_from_slice(&[0x8a, bytes.len() as u8]);
            self.out.extend_from_slice(&bytes);
        }
    }

    /// The memo slot CPython would find for this string, if any.
    /// (`codec_name`: the interned `'latin1'` of a bytes reduction, which
    /// no other `'latin1'` string is.)
    fn shared_str(&mut self, s: &str, codec_name: bool) -> Option<&mut Option<u32>> {
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            _ if codec_name => Some(&mut self.shared.latin1),
            (None, _) => Some(&mut self.shared.empty_str),
            (Some(c), None) if u32::from(c) < 256 => {
                Some(&mut self.shared.one_char[u32::from(c) as usize])
            }
            _ => None,
        }
    }

    fn save_str(&mut self, s: &str, codec_name: bool) {
        if let Some(&mut Some(i)) = self.shared_str(s, codec_name) {
            return self.get(i);
        }
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
        let i = self.memoize();
        if let Some(shared) = self.shared_str(s, codec_name) {
            *shared = Some(i);
        }
    }

    /// A global (`GLOBAL module\nname\n`), memoized once.
    fn save_global(&mut self, which: fn(&mut Shared) -> &mut Option<u32>, name: &[u8]) {
        if let Some(i) = *which(&mut self.shared) {
            return self.get(i);
        }
        self.out.push(b'c');
        self.out.extend_from_slice(name);
        let i = self.memoize();
        *which(&mut self.shared) = Some(i);
    }

    /// Protocol 2 has no bytes opcode: CPython reduces `bytes` to
    /// `_codecs.encode(<Latin-1 str>, 'latin1')`, or `bytes()` when empty.
    fn save_bytes(&mut self, b: &[u8]) {
        let shared = match b {
            [] => self.shared.empty_bytes,
            [one] => self.shared.one_byte[usize::from(*one)],
            _ => None,
        };
        if let Some(i) = shared {
            return self.get(i);
        }
        if b.is_empty() {
            self.save_global(|s| &mut s.bytes_type, b"__builtin__\nbytes\n");
            self.out.push(b')');
        } else {
            self.save_global(|s| &mut s.codecs_encode, b"_codecs\nencode\n");
            let latin1: String = b.iter().map(|&c| char::from(c)).collect();
            self.save_str(&latin1, false);
            self.save_str("latin1", true);
            self.out.push(0x86); // TUPLE2
            self.memoize();
        }
        self.out.push(b'R');
        let i = self.memoize();
        match b {
            [] => self.shared.empty_bytes = Some(i),
            [one] => self.shared.one_byte[usize::from(*one)] = Some(i),
            _ => {}
        }
    }
}
