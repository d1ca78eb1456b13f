//! A small unpickler for the subset of pickle that builder files use.
//!
//! Handles protocols 0–2 as CPython writes dicts, lists, tuples, ints,
//! floats, strings, `None`/bools, memo references, `GLOBAL`+`REDUCE` of
//! `array.array`, and `NEWOBJ`+`BUILD` of instances (very old builders).
//! A few protocol-4 opcodes are accepted too. Nothing is executed: globals
//! are only recorded as names. Every length field is checked against the
//! bytes actually present, so a hostile or truncated file gives an error,
//! never a panic or a huge allocation.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;

use super::value::{Arena, Items, Node, Value};
use super::BuilderFileError;

/// Longest text line accepted by the protocol-0 opcodes (`GLOBAL`, `INT`, …).
const MAX_LINE: usize = 4096;

/// Decodes one pickle from `input`, returning the arena and the top value.
pub(crate) fn unpickle(input: impl Read) -> Result<(Arena, Value), BuilderFileError> {
    let mut p = Unpickler {
        input: BufReader::with_capacity(1 << 16, input),
        pos: 0,
        arena: Arena::default(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    let top = p.run()?;
    Ok((p.arena, top))
}

struct Unpickler<R> {
    input: BufReader<R>,
    pos: u64,
    arena: Arena,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl<R: Read> Unpickler<R> {
    fn run(&mut self) -> Result<Value, BuilderFileError> {
        loop {
            let at = self.pos;
            let op = self.byte()?;
            match op {
                b'.' => return self.pop(at),
                0x80 => {
                    let proto = self.byte()?;
                    if proto > 5 {
                        return Err(malformed(at, format!("unknown pickle protocol {proto}")));
                    }
                }
                0x95 => {
                    self.bytes(8)?;
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop(at)?;
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let top = self.top(at)?.clone();
                    self.stack.push(top);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let n = self.byte()?;
                    self.stack.push(Value::Int(n.into()));
                }
                b'M' => {
                    let b = self.fixed::<2>()?;
                    self.stack.push(Value::Int(u16::from_le_bytes(b).into()));
                }
                b'J' => {
                    let b = self.fixed::<4>()?;
                    self.stack.push(Value::Int(i32::from_le_bytes(b).into()));
                }
                0x8a => {
                    let n = self.byte()?;
                    let raw = self.bytes(n.into())?;
                    self.stack.push(long_from_le(&raw));
                }
                0x8b => {
                    let n = self.len32(at)?;
                    let raw = self.bytes(n)?;
                    self.stack.push(long_from_le(&raw));
                }
                b'I' | b'L' => {
                    let line = self.line()?;
                    self.stack.push(parse_text_int(&line, at)?);
                }
                b'G' => {
                    let b = self.fixed::<8>()?;
                    self.stack.push(Value::Float(f64::from_be_bytes(b)));
                }
                b'F' => {
                    let line = self.line()?;
                    let f = line
                        .trim()
                        .parse()
                        .map_err(|_| malformed(at, "bad FLOAT literal"))?;
                    self.stack.push(Value::Float(f));
                }
                b'X' => {
                    let n = self.len32(at)?;
                    self.push_str(n, at)?;
                }
                0x8c => {
                    let n = self.byte()?;
                    self.push_str(n.into(), at)?;
                }
                0x8d => {
                    let n = self.len64(at)?;
                    self.push_str(n, at)?;
                }
                b'T' | b'B' => {
                    let n = self.len32(at)?;
                    let raw = self.bytes(n)?;
                    self.stack.push(Value::Bytes(raw.into()));
                }
                b'U' | b'C' => {
                    let n = self.byte()?;
                    let raw = self.bytes(n.into())?;
                    self.stack.push(Value::Bytes(raw.into()));
                }
                0x8e => {
                    let n = self.len64(at)?;
                    let raw = self.bytes(n)?;
                    self.stack.push(Value::Bytes(raw.into()));
                }
                b']' => {
                    let v = self.arena.alloc(Node::List(Items::Ints(Vec::new())));
                    self.stack.push(v);
                }
                b'l' => {
                    let items = self.pop_mark(at)?;
                    let mut list = Items::Ints(Vec::new());
                    items.into_iter().for_each(|v| list.push(v));
                    let v = self.arena.alloc(Node::List(list));
                    self.stack.push(v);
                }
                b'a' => {
                    let item = self.pop(at)?;
                    self.append(vec![item], at)?;
                }
                b'e' => {
                    let items = self.pop_mark(at)?;
                    self.append(items, at)?;
                }
                b')' => {
                    let v = self.arena.alloc(Node::Tuple(Vec::new()));
                    self.stack.push(v);
                }
                b't' => {
                    let items = self.pop_mark(at)?;
                    let v = self.arena.alloc(Node::Tuple(items));
                    self.stack.push(v);
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n + self.floor() {
                        return Err(malformed(at, "stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let v = self.arena.alloc(Node::Tuple(items));
                    self.stack.push(v);
                }
                b'}' => {
                    let v = self.arena.alloc(Node::Dict(Vec::new()));
                    self.stack.push(v);
                }
                b'd' => {
                    let items = self.pop_mark(at)?;
                    let v = self.arena.alloc(Node::Dict(Vec::new()));
                    self.stack.push(v);
                    self.set_items(items, at)?;
                }
                b's' => {
                    let value = self.pop(at)?;
                    let key = self.pop(at)?;
                    self.set_items(vec![key, value], at)?;
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    self.set_items(items, at)?;
                }
                b'q' => {
                    let id = self.byte()?;
                    self.put(id.into(), at)?;
                }
                b'r' => {
                    let id = u32::from_le_bytes(self.fixed::<4>()?);
                    self.put(id, at)?;
                }
                0x94 => {
                    let id = u32::try_from(self.memo.len())
                        .map_err(|_| malformed(at, "memo too large"))?;
                    self.put(id, at)?;
                }
                b'p' => {
                    let id = self.text_memo_id(at)?;
                    self.put(id, at)?;
                }
                b'h' => {
                    let id = self.byte()?;
                    self.get(id.into(), at)?;
                }
                b'j' => {
                    let id = u32::from_le_bytes(self.fixed::<4>()?);
                    self.get(id, at)?;
                }
                b'g' => {
                    let id = self.text_memo_id(at)?;
                    self.get(id, at)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let v = self.arena.alloc(Node::Global {
                        module: module.into(),
                        name: name.into(),
                    });
                    self.stack.push(v);
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(malformed(at, "STACK_GLOBAL needs two strings"));
                    };
                    let v = self.arena.alloc(Node::Global { module, name });
                    self.stack.push(v);
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let callable = self.pop(at)?;
                    let v = self.reduce(callable, args, at)?;
                    self.stack.push(v);
                }
                0x81 => {
                    let _args = self.pop(at)?;
                    let class = self.pop(at)?;
                    let v = self.arena.alloc(Node::Object { class, state: None });
                    self.stack.push(v);
                }
                b'b' => {
                    let state = self.pop(at)?;
                    let top = self.top(at)?.clone();
                    match &top {
                        Value::Node(i) => match self.arena.nodes.get_mut(*i) {
                            Some(Node::Object { state: s, .. }) => *s = Some(state),
                            _ => return Err(malformed(at, "BUILD on a non-object")),
                        },
                        _ => return Err(malformed(at, "BUILD on a non-object")),
                    }
                }
                other => {
                    return Err(BuilderFileError::Opcode {
                        op: other,
                        offset: at,
                    });
                }
            }
        }
    }

    /// Index of the stack bottom visible above the innermost mark.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self, at: u64) -> Result<Value, BuilderFileError> {
        if self.stack.len() <= self.floor() {
            return Err(malformed(at, "stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| malformed(at, "stack underflow"))
    }

    fn top(&self, at: u64) -> Result<&Value, BuilderFileError> {
        if self.stack.len() <= self.floor() {
            return Err(malformed(at, "stack underflow"));
        }
        self.stack
            .last()
            .ok_or_else(|| malformed(at, "stack underflow"))
    }

    fn pop_mark(&mut self, at: u64) -> Result<Vec<Value>, BuilderFileError> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| malformed(at, "missing MARK"))?;
        if mark > self.stack.len() {
            return Err(malformed(at, "stack underflow"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn append(&mut self, items: Vec<Value>, at: u64) -> Result<(), BuilderFileError> {
        let target = self.top(at)?.clone();
        match target {
            Value::Node(i) => match self.arena.nodes.get_mut(i) {
                Some(Node::List(list)) => {
                    items.into_iter().for_each(|v| list.push(v));
                    Ok(())
                }
                _ => Err(malformed(at, "APPEND to a non-list")),
            },
            _ => Err(malformed(at, "APPEND to a non-list")),
        }
    }

    fn set_items(&mut self, items: Vec<Value>, at: u64) -> Result<(), BuilderFileError> {
        if items.len() % 2 != 0 {
            return Err(malformed(at, "odd number of dict items"));
        }
        let target = self.top(at)?.clone();
        let Value::Node(i) = target else {
            return Err(malformed(at, "SETITEM on a non-dict"));
        };
        let Some(Node::Dict(dict)) = self.arena.nodes.get_mut(i) else {
            return Err(malformed(at, "SETITEM on a non-dict"));
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            dict.push((k, v));
        }
        Ok(())
    }

    fn put(&mut self, id: u32, at: u64) -> Result<(), BuilderFileError> {
        let top = self.top(at)?.clone();
        self.memo.insert(id, top);
        Ok(())
    }

    fn get(&mut self, id: u32, at: u64) -> Result<(), BuilderFileError> {
        let v = self
            .memo
            .get(&id)
            .cloned()
            .ok_or_else(|| malformed(at, format!("memo key {id} is not defined")))?;
        self.stack.push(v);
        Ok(())
    }

    /// `REDUCE`: only `array.array(typecode, list-or-bytes)` and
    /// `copy_reg._reconstructor(cls, base, state)` are understood.
    fn reduce(&mut self, callable: Value, args: Value, at: u64) -> Result<Value, BuilderFileError> {
        let (module, name) = match self.arena.node(&callable) {
            Some(Node::Global { module, name }) => (module.clone(), name.clone()),
            _ => return Err(malformed(at, "REDUCE of a non-global")),
        };
        let Some(Node::Tuple(args)) = self.arena.node(&args) else {
            return Err(malformed(at, "REDUCE arguments are not a tuple"));
        };
        let args = args.clone();
        match (&*module, &*name) {
            ("array", "array") => self.make_array(&args, at),
            ("copy_reg" | "copyreg", "_reconstructor") => {
                let class = args.first().cloned().unwrap_or(Value::None);
                Ok(self.arena.alloc(Node::Object { class, state: None }))
            }
            _ => Err(malformed(
                at,
                format!("unsupported callable {module}.{name}"),
            )),
        }
    }

    fn make_array(&mut self, args: &[Value], at: u64) -> Result<Value, BuilderFileError> {
        let (Some(code), payload) = (args.first(), args.get(1)) else {
            return Err(malformed(at, "array() without a typecode"));
        };
        let typecode = match code {
            Value::Str(s) if s.chars().count() == 1 => s.chars().next(),
            Value::Bytes(b) if b.len() == 1 => Some(char::from(b[0])),
            _ => None,
        };
        let typecode = typecode.ok_or_else(|| malformed(at, "bad array typecode"))?;
        let width = match typecode {
            'B' | 'b' => 1,
            'H' | 'h' => 2,
            'I' | 'i' => 4,
            'L' | 'l' | 'Q' | 'q' => 8,
            _ => {
                return Err(malformed(
                    at,
                    format!("unsupported array typecode {typecode:?}"),
                ))
            }
        };
        let items = match payload {
            None => Vec::new(),
            Some(Value::Bytes(raw)) => {
                // Python 2 pickles an array's machine bytes (little-endian here).
                if raw.len() % width != 0 {
                    return Err(malformed(at, "array bytes are not a whole number of items"));
                }
                raw.chunks(width)
                    .map(|c| {
                        let mut b = [0u8; 8];
                        b[..width].copy_from_slice(c);
                        i64::from_le_bytes(b)
                    })
                    .collect()
            }
            Some(list @ Value::Node(i)) => {
                let i = *i;
                match self.arena.nodes.get_mut(i) {
                    Some(Node::List(Items::Ints(ints))) => std::mem::take(ints),
                    Some(Node::List(Items::Values(_))) => {
                        return Err(malformed(at, "array items are not all ints"))
                    }
                    _ => {
                        let kind = list.kind(&self.arena);
                        return Err(malformed(at, format!("array() of a {kind}")));
                    }
                }
            }
            Some(_) => return Err(malformed(at, "bad array payload")),
        };
        Ok(self.arena.alloc(Node::Array { typecode, items }))
    }

    fn push_str(&mut self, n: usize, at: u64) -> Result<(), BuilderFileError> {
        let raw = self.bytes(n)?;
        let s = String::from_utf8(raw).map_err(|_| malformed(at, "string is not UTF-8"))?;
        self.stack.push(Value::Str(Rc::from(s)));
        Ok(())
    }

    fn text_memo_id(&mut self, at: u64) -> Result<u32, BuilderFileError> {
        let line = self.line()?;
        line.trim()
            .parse()
            .map_err(|_| malformed(at, "bad memo key"))
    }

    fn byte(&mut self) -> Result<u8, BuilderFileError> {
        Ok(self.fixed::<1>()?[0])
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], BuilderFileError> {
        let mut buf = [0u8; N];
        match self.input.read_exact(&mut buf) {
            Ok(()) => {
                self.pos += N as u64;
                Ok(buf)
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(BuilderFileError::Truncated(self.pos))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads `n` bytes; memory grows only as bytes really arrive.
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, BuilderFileError> {
        let mut buf = Vec::new();
        let got = self.input.by_ref().take(n as u64).read_to_end(&mut buf)?;
        self.pos += got as u64;
        if got != n {
            return Err(BuilderFileError::Truncated(self.pos));
        }
        Ok(buf)
    }

    fn len32(&mut self, at: u64) -> Result<usize, BuilderFileError> {
        let n = i64::from(u32::from_le_bytes(self.fixed::<4>()?));
        usize::try_from(n).map_err(|_| malformed(at, "length out of range"))
    }

    fn len64(&mut self, at: u64) -> Result<usize, BuilderFileError> {
        let n = u64::from_le_bytes(self.fixed::<8>()?);
        usize::try_from(n).map_err(|_| malformed(at, "length out of range"))
    }

    /// One `\n`-terminated line (protocol-0 arguments), without the newline.
    fn line(&mut self) -> Result<String, BuilderFileError> {
        let mut buf = Vec::new();
        let got = (&mut self.input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        self.pos += got as u64;
        if buf.last() != Some(&b'\n') {
            if got > MAX_LINE {
                return Err(malformed(self.pos, "text line too long"));
            }
            return Err(BuilderFileError::Truncated(self.pos));
        }
        buf.pop();
        String::from_utf8(buf).map_err(|_| malformed(self.pos, "text line is not UTF-8"))
    }
}

fn malformed(offset: u64, msg: impl Into<String>) -> BuilderFileError {
    BuilderFileError::Malformed {
        offset,
        msg: msg.into(),
    }
}

/// A little-endian two's-complement integer (`LONG1`/`LONG4`).
fn long_from_le(raw: &[u8]) -> Value {
    let negative = raw.last().is_some_and(|b| b & 0x80 != 0);
    if raw.len() > 8 {
        let fill = if negative { 0xff } else { 0 };
        if raw[8..].iter().all(|&b| b == fill) && ((raw[7] & 0x80 != 0) == negative) {
            return long_from_le(&raw[..8]);
        }
        return Value::BigInt(negative);
    }
    let mut b = [if negative { 0xff } else { 0 }; 8];
    b[..raw.len()].copy_from_slice(raw);
    Value::Int(i64::from_le_bytes(b))
}

fn parse_text_int(line: &str, at: u64) -> Result<Value, BuilderFileError> {
    let t = line.trim().trim_end_matches('L');
    match t {
        "01" => return Ok(Value::Bool(true)),
        "00" => return Ok(Value::Bool(false)),
        _ => {}
    }
    t.parse::<i64>().map(Value::Int).or_else(|_| {
        if !t.is_empty()
            && t.trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            Ok(Value::BigInt(t.starts_with('-')))
        } else {
            Err(malformed(at, "bad INT literal"))
        }
    })
}
