//! The small subset of Python pickles Swift keeps on disk.
//!
//! Writing emits protocol 2 exactly as Python 3 does (`super::pickler`),
//! with `bytes` as `_codecs.encode(<latin-1 str>, 'latin1')` so Swift
//! recognises metadata as written by Python 3. Reading accepts anything
//! `serde-pickle` understands.

use std::collections::BTreeMap;

use super::pickler::Pickler;
use super::{Result, StorageError};

/// A pickled value: the types Swift's metadata, async pendings and hashes use.
#[derive(Debug, Clone, PartialEq)]
pub enum Pickle {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    /// A list (or tuple, when read).
    List(Vec<Pickle>),
    /// A tuple, written as Python writes one (read back as a `List`).
    Tuple(Vec<Pickle>),
    /// Insertion-ordered key/value pairs.
    Dict(Vec<(Pickle, Pickle)>),
}

impl Pickle {
    /// Text of a `Str` or (UTF-8, lossily) `Bytes` value.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Pickle::Str(s) => Some(s.clone()),
            Pickle::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Pickle::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// Looks a key up in a dict whose keys are str or bytes.
    pub fn get(&self, key: &str) -> Option<&Pickle> {
        match self {
            Pickle::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_text().as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Serialises with protocol 2, as CPython does (see [`Pickler`]).
    pub fn dumps(&self) -> Vec<u8> {
        Pickler::dumps(self)
    }

    /// Parses a pickle (any protocol) into the subset above. Dict
    /// subclasses (Swift's `HeaderKeyDict`) read as dicts whether pickled
    /// with protocol 0 (`copy_reg._reconstructor`, whose state is the dict)
    /// or protocol 2 (`NEWOBJ` then `SETITEMS`).
    pub fn loads(data: &[u8]) -> Result<Pickle> {
        let opts = || serde_pickle::DeOptions::new().replace_unresolved_globals();
        let v = serde_pickle::value_from_slice(data, opts().keep_restore_state())
            .or_else(|_| serde_pickle::value_from_slice(data, opts()))
            .map_err(|e| StorageError::Pickle(e.to_string()))?;
        from_value(v)
    }

    /// A dict of str/bytes keys to text values; other entries are skipped.
    pub fn to_string_map(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        if let Pickle::Dict(items) = self {
            for (k, v) in items {
                if let (Some(k), Some(v)) = (k.as_text(), v.as_text()) {
                    map.insert(k, v);
                }
            }
        }
        map
    }
}

fn from_value(v: serde_pickle::Value) -> Result<Pickle> {
    use serde_pickle::{HashableValue as H, Value as V};
    fn from_key(k: H) -> Pickle {
        match k {
            H::None => Pickle::None,
            H::Bool(b) => Pickle::Bool(b),
            H::I64(i) => Pickle::Int(i),
            H::F64(f) => Pickle::Float(f),
            H::String(s) => Pickle::Str(s),
            H::Bytes(b) => Pickle::Bytes(b),
            other => Pickle::Str(format!("{other:?}")),
        }
    }
    Ok(match v {
        V::None => Pickle::None,
        V::Bool(b) => Pickle::Bool(b),
        V::I64(i) => Pickle::Int(i),
        V::Int(i) => Pickle::Str(i.to_string()),
        V::F64(f) => Pickle::Float(f),
        V::String(s) => Pickle::Str(s),
        V::Bytes(b) => Pickle::Bytes(b),
        V::List(l) | V::Tuple(l) => {
            Pickle::List(l.into_iter().map(from_value).collect::<Result<_>>()?)
        }
        V::Dict(d) => Pickle::Dict(
            d.into_iter()
                .map(|(k, v)| Ok((from_key(k), from_value(v)?)))
                .collect::<Result<_>>()?,
        ),
        other => {
            return Err(StorageError::Pickle(format!(
                "unsupported pickle value {other:?}"
            )))
        }
    })
}

/// A dict with str keys and str values, Python-3 style `bytes` for both.
pub fn bytes_dict<'a>(items: impl IntoIterator<Item = (&'a String, &'a String)>) -> Pickle {
    Pickle::Dict(
        items
            .into_iter()
            .map(|(k, v)| {
                (
                    Pickle::Bytes(k.as_bytes().to_vec()),
                    Pickle::Bytes(v.as_bytes().to_vec()),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = Pickle::Dict(vec![
            (
                Pickle::Bytes(b"name".to_vec()),
                Pickle::Bytes("/a/c/\u{e9}".as_bytes().to_vec()),
            ),
            (Pickle::Str("big".into()), Pickle::Int(1 << 40)),
            (Pickle::Str("empty".into()), Pickle::List(vec![])),
            (Pickle::Str("f".into()), Pickle::Float(1.5)),
            (Pickle::Str("n".into()), Pickle::Int(-5)),
            (Pickle::Str("none".into()), Pickle::None),
            (
                Pickle::Str("successes".into()),
                Pickle::List(vec![Pickle::Int(0), Pickle::Int(3)]),
            ),
        ]);
        let bytes = p.dumps();
        assert!(bytes[..32].windows(14).any(|w| w == b"_codecs\nencode"));
        assert_eq!(Pickle::loads(&bytes).unwrap(), p);
    }

    /// Swift's `HeaderKeyDict` as Python pickles it with protocols 0 and 2.
    #[test]
    fn dict_subclasses() {
        let p0 =
            b"(dp0\nVheaders\np1\nccopy_reg\n_reconstructor\np2\n(cswift.common.header_key_dict\n\
HeaderKeyDict\np3\nc__builtin__\ndict\np4\n(dp5\nVX-Size\np6\nV3\np7\nstp8\nRp9\ns.";
        let mut p2 = b"\x80\x02}q\x00X\x07\x00\x00\x00headersq\x01cswift.common.header_key_dict\n\
HeaderKeyDict\nq\x02)\x81q\x03X\x06\x00\x00\x00X-Sizeq\x04X\x01\x00\x00\x00"
            .to_vec();
        p2.extend_from_slice(b"3q\x05ss.");
        for bytes in [&p0[..], &p2[..]] {
            let v = Pickle::loads(bytes).unwrap();
            let h = v.get("headers").unwrap().to_string_map();
            assert_eq!(h.get("X-Size").map(String::as_str), Some("3"), "{v:?}");
        }
    }
}
