//! The object graph a builder pickle decodes to, before it becomes a `RingBuilder`.
//!
//! Containers live in an arena and are referred to by index, so pickle memo
//! references (`BINGET`) share one container exactly as Python's unpickler
//! shares one object, without copying. Lists of plain ints (the bulk of a
//! builder: `array.array` payloads) are stored compactly as `Vec<i64>`.

use std::rc::Rc;

/// One value on the unpickler's stack.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits; only its sign is kept.
    BigInt(bool),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    /// Index into `Arena::nodes`.
    Node(usize),
}

impl Value {
    /// A short type name for error messages (never recursive).
    pub(crate) fn kind(&self, arena: &Arena) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Node(i) => match arena.nodes.get(*i) {
                Some(Node::List(_)) => "list",
                Some(Node::Tuple(_)) => "tuple",
                Some(Node::Dict(_)) => "dict",
                Some(Node::Array { .. }) => "array",
                Some(Node::Global { .. }) => "global",
                Some(Node::Object { .. }) => "object",
                None => "?",
            },
        }
    }
}

/// A list's items: compact while every item is an int.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Items {
    Ints(Vec<i64>),
    Values(Vec<Value>),
}

impl Items {
    pub(crate) fn push(&mut self, value: Value) {
        match (&mut *self, value) {
            (Items::Ints(ints), Value::Int(i)) => ints.push(i),
            (Items::Ints(ints), other) => {
                let mut values: Vec<Value> = ints.drain(..).map(Value::Int).collect();
                values.push(other);
                *self = Items::Values(values);
            }
            (Items::Values(values), v) => values.push(v),
        }
    }
}

/// A container or object built by the unpickler.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    List(Items),
    Tuple(Vec<Value>),
    /// Insertion-ordered; later duplicates of a key win on lookup.
    Dict(Vec<(Value, Value)>),
    /// An `array.array`: its typecode and values.
    Array {
        typecode: char,
        items: Vec<i64>,
    },
    /// A reference to a Python class or function (`GLOBAL`).
    Global {
        module: Rc<str>,
        name: Rc<str>,
    },
    /// An instance built by `NEWOBJ`/`REDUCE` of a class we do not model,
    /// with the state `BUILD` gave it.
    Object {
        class: Value,
        state: Option<Value>,
    },
}

/// All containers of one decoded pickle.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    pub(crate) nodes: Vec<Node>,
}

impl Arena {
    pub(crate) fn alloc(&mut self, node: Node) -> Value {
        self.nodes.push(node);
        Value::Node(self.nodes.len() - 1)
    }

    pub(crate) fn node(&self, value: &Value) -> Option<&Node> {
        match value {
            Value::Node(i) => self.nodes.get(*i),
            _ => None,
        }
    }

    /// `dict[key]` for a string key (bytes keys from Python 2 pickles match too).
    pub(crate) fn dict_get(&self, dict: &[(Value, Value)], key: &str) -> Option<Value> {
        dict.iter()
            .rev()
            .find(|(k, _)| match k {
                Value::Str(s) => &**s == key,
                Value::Bytes(b) => &**b == key.as_bytes(),
                _ => false,
            })
            .map(|(_, v)| v.clone())
    }
}
