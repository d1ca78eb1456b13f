//! Turns an unpickled builder (Swift's `to_dict()`, or a very old pickled
//! `RingBuilder` instance) into a `RingBuilder`, with the defaults Swift's
//! `RingBuilder.load` applies and checks that keep later code panic-free.

use std::collections::BTreeMap;

use super::value::{Arena, Items, Node, Value};
use super::BuilderFileError;
use crate::ring::builder::{BuilderDevice, RingBuilder, Tier};
use crate::ring::{calc_dev_id_bytes, Device, NONE_DEV_2, NONE_DEV_4};

fn bad(msg: impl Into<String>) -> BuilderFileError {
    BuilderFileError::NotABuilder(msg.into())
}

/// Reads `RingBuilder` state from the decoded top-level value. Unknown
/// device keys are kept (`Device::extra`); unknown top-level keys are not,
/// as Swift's own `copy_from` and `to_dict` drop them.
pub(crate) fn builder_from_value(
    arena: &Arena,
    top: &Value,
) -> Result<RingBuilder, BuilderFileError> {
    let (dict, instance) = match arena.node(top) {
        Some(Node::Dict(d)) => (d, false),
        Some(Node::Object { class, state }) => {
            let is_builder = matches!(arena.node(class),
                Some(Node::Global { name, .. }) if &**name == "RingBuilder");
            if !is_builder {
                return Err(bad("the pickled object is not a RingBuilder"));
            }
            match state.as_ref().and_then(|s| arena.node(s)) {
                Some(Node::Dict(d)) => (d, true),
                _ => return Err(bad("the pickled RingBuilder has no state")),
            }
        }
        _ => return Err(bad(format!("top-level object is a {}", top.kind(arena)))),
    };
    let d = Fields { arena, dict };

    let part_power = d.uint("part_power")?;
    if part_power > 32 {
        return Err(bad(format!("part_power {part_power} is out of range")));
    }
    let part_power = part_power as u32;
    let parts = d.uint("parts")?;
    if parts != 1u64 << part_power {
        return Err(bad(format!(
            "parts {parts} does not match part_power {part_power}"
        )));
    }
    let parts = parts as usize;
    let next_part_power = match d.opt("next_part_power") {
        None | Some(Value::None) => None,
        Some(v) => Some(
            u32::try_from(d.as_uint(&v, "next_part_power")?)
                .map_err(|_| bad("next_part_power out of range"))?,
        ),
    };
    let replicas = d.float("replicas")?;
    if !(replicas.is_finite() && (1.0..=65536.0).contains(&replicas)) {
        return Err(bad(format!("replicas {replicas} is out of range")));
    }
    let min_part_hours =
        u32::try_from(d.uint("min_part_hours")?).map_err(|_| bad("min_part_hours out of range"))?;
    let devs = decode_devs(&d)?;
    let devs_changed = d.boolean("devs_changed")?;
    let version = d.uint("version")?;
    let overload = match d.opt("overload") {
        None => 0.0,
        Some(v) => d.as_float(&v, "overload")?,
    };

    let (replica2part2dev, row_bytes) = decode_rows(&d, parts, devs.len())?;
    let dev_id_bytes = row_bytes.unwrap_or_else(|| {
        calc_dev_id_bytes(devs.len().saturating_sub(1).min(u32::MAX as usize) as u32)
    });
    let last_part_moves_epoch = match d.opt("_last_part_moves_epoch") {
        None | Some(Value::None) => 0,
        Some(Value::Float(f)) if f.is_finite() => f as i64,
        Some(v) => d.as_int(&v, "_last_part_moves_epoch")?,
    };
    let last_part_moves = match d.opt("_last_part_moves") {
        // Swift always saves this array; only a tiny builder may omit it
        // (a hostile file must not make us allocate 2^32 bytes).
        None | Some(Value::None) if parts > 1 << 24 => {
            return Err(bad("_last_part_moves is missing"));
        }
        None | Some(Value::None) => vec![0; parts],
        Some(v) => {
            let moves = d.array(&v, "_last_part_moves")?;
            if moves.len() != parts {
                return Err(bad(format!(
                    "_last_part_moves has {} entries for {parts} partitions",
                    moves.len()
                )));
            }
            moves
                .iter()
                .map(|&m| u8::try_from(m).map_err(|_| bad("_last_part_moves entry out of range")))
                .collect::<Result<_, _>>()?
        }
    };
    let last_part_gather_start = d.uint("_last_part_gather_start")?;
    let dispersion_graph = decode_graph(&d)?;
    let dispersion = match d.opt("dispersion") {
        None | Some(Value::None) => None,
        Some(v) => Some(d.as_float(&v, "dispersion")?),
    };
    let remove_devs = decode_remove_devs(&d)?;
    if let Some(id) = remove_devs.iter().find(|&&id| id as usize >= devs.len()) {
        return Err(bad(format!("_remove_devs names unknown device {id}")));
    }
    let id = match d.opt(if instance { "_id" } else { "id" }) {
        None | Some(Value::None) => None,
        Some(Value::Str(s)) => Some(s.to_string()),
        Some(_) => return Err(bad("id is not a string")),
    };
    Ok(RingBuilder {
        part_power,
        next_part_power,
        replicas,
        min_part_hours,
        devs,
        devs_changed,
        version,
        overload,
        replica2part2dev,
        dev_id_bytes,
        last_part_moves_epoch,
        last_part_moves,
        last_part_gather_start,
        dispersion_graph,
        dispersion,
        remove_devs,
        id,
    })
}

/// Typed access to one pickled dict.
struct Fields<'a> {
    arena: &'a Arena,
    dict: &'a [(Value, Value)],
}

impl Fields<'_> {
    fn opt(&self, key: &str) -> Option<Value> {
        self.arena.dict_get(self.dict, key)
    }

    fn req(&self, key: &str) -> Result<Value, BuilderFileError> {
        self.opt(key)
            .ok_or_else(|| bad(format!("missing key {key:?}")))
    }

    fn uint(&self, key: &str) -> Result<u64, BuilderFileError> {
        let v = self.req(key)?;
        self.as_uint(&v, key)
    }

    fn float(&self, key: &str) -> Result<f64, BuilderFileError> {
        let v = self.req(key)?;
        self.as_float(&v, key)
    }

    fn boolean(&self, key: &str) -> Result<bool, BuilderFileError> {
        match self.req(key)? {
            Value::Bool(b) => Ok(b),
            Value::Int(i) => Ok(i != 0),
            v => Err(bad(format!(
                "{key} is a {}, not a bool",
                v.kind(self.arena)
            ))),
        }
    }

    fn as_int(&self, v: &Value, key: &str) -> Result<i64, BuilderFileError> {
        match v {
            Value::Int(i) => Ok(*i),
            Value::Bool(b) => Ok(i64::from(*b)),
            _ => Err(bad(format!(
                "{key} is a {}, not an int",
                v.kind(self.arena)
            ))),
        }
    }

    fn as_uint(&self, v: &Value, key: &str) -> Result<u64, BuilderFileError> {
        u64::try_from(self.as_int(v, key)?).map_err(|_| bad(format!("{key} is negative")))
    }

    fn as_float(&self, v: &Value, key: &str) -> Result<f64, BuilderFileError> {
        match v {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            Value::Bool(b) => Ok(f64::from(u8::from(*b))),
            _ => Err(bad(format!(
                "{key} is a {}, not a number",
                v.kind(self.arena)
            ))),
        }
    }

    fn as_str(&self, v: &Value, key: &str) -> Result<String, BuilderFileError> {
        match v {
            Value::Str(s) => Ok(s.to_string()),
            Value::Bytes(b) => Ok(b.iter().map(|&c| char::from(c)).collect()),
            _ => Err(bad(format!(
                "{key} is a {}, not a string",
                v.kind(self.arena)
            ))),
        }
    }

    /// The items of a list or tuple.
    fn seq(&self, v: &Value, key: &str) -> Result<Vec<Value>, BuilderFileError> {
        match self.arena.node(v) {
            Some(Node::List(Items::Values(items))) | Some(Node::Tuple(items)) => Ok(items.clone()),
            Some(Node::List(Items::Ints(items))) => {
                Ok(items.iter().map(|&i| Value::Int(i)).collect())
            }
            _ => Err(bad(format!(
                "{key} is a {}, not a list",
                v.kind(self.arena)
            ))),
        }
    }

    /// Values of an `array.array` (or a plain list of ints).
    fn array(&self, v: &Value, key: &str) -> Result<&[i64], BuilderFileError> {
        match self.arena.node(v) {
            Some(Node::Array { items, .. }) | Some(Node::List(Items::Ints(items))) => Ok(items),
            _ => Err(bad(format!(
                "{key} is a {}, not an array",
                v.kind(self.arena)
            ))),
        }
    }

    fn sub<'b>(&'b self, v: &Value, key: &str) -> Result<Fields<'b>, BuilderFileError> {
        match self.arena.node(v) {
            Some(Node::Dict(dict)) => Ok(Fields {
                arena: self.arena,
                dict,
            }),
            _ => Err(bad(format!(
                "{key} is a {}, not a dict",
                v.kind(self.arena)
            ))),
        }
    }
}

fn decode_devs(d: &Fields) -> Result<Vec<Option<BuilderDevice>>, BuilderFileError> {
    let list = d.req("devs")?;
    let items = d.seq(&list, "devs")?;
    let mut devs = Vec::new();
    for (index, item) in items.iter().enumerate() {
        if *item == Value::None {
            devs.push(None);
            continue;
        }
        let f = d.sub(item, "device")?;
        let id = f.uint("id")?;
        if id != index as u64 {
            return Err(bad(format!("device at index {index} has id {id}")));
        }
        let ip = f.as_str(&f.req("ip")?, "ip")?;
        let port = port(&f, "port")?;
        let replication_ip = match f.opt("replication_ip") {
            None => ip.clone(),
            Some(v) => f.as_str(&v, "replication_ip")?,
        };
        let replication_port = match f.opt("replication_port") {
            None => port,
            Some(_) => self::port(&f, "replication_port")?,
        };
        let small = |key: &str| -> Result<u32, BuilderFileError> {
            u32::try_from(f.uint(key)?).map_err(|_| bad(format!("device {key} out of range")))
        };
        let region = match f.opt("region") {
            None => 1,
            Some(_) => small("region")?,
        };
        let weight = f.float("weight")?;
        if !weight.is_finite() || weight < 0.0 {
            return Err(bad(format!("device {id} has weight {weight}")));
        }
        let parts_wanted = match f.opt("parts_wanted") {
            None | Some(Value::None) => None,
            // Swift stores `-parts * replicas` (a float) for zero-weight
            // devices; it is recomputed before every use, so truncate.
            Some(Value::Float(w)) if w.is_finite() => Some(w as i64),
            Some(v) => Some(f.as_int(&v, "parts_wanted")?),
        };
        devs.push(Some(BuilderDevice {
            dev: Device {
                id: id as u32,
                region,
                zone: small("zone")?,
                ip,
                port,
                replication_ip,
                replication_port,
                device: f.as_str(&f.req("device")?, "device")?,
                meta: match f.opt("meta") {
                    None => String::new(),
                    Some(v) => f.as_str(&v, "meta")?,
                },
                weight,
                extra: extra_keys(&f)?,
            },
            parts: match f.opt("parts") {
                None => 0,
                Some(v) => f.as_uint(&v, "parts")?,
            },
            parts_wanted,
        }));
        if devs.len() > u32::MAX as usize {
            return Err(bad("too many devices"));
        }
    }
    Ok(devs)
}

/// Device keys this module models; any other key is kept in `Device::extra`.
const DEVICE_KEYS: [&str; 12] = [
    "id",
    "region",
    "zone",
    "ip",
    "port",
    "replication_ip",
    "replication_port",
    "device",
    "meta",
    "weight",
    "parts",
    "parts_wanted",
];

/// Nesting deeper than this in an unknown device value is refused (it also
/// stops a self-referencing pickle).
const MAX_EXTRA_DEPTH: usize = 32;

/// The device's keys that Swift keeps but we do not model (an operator's or
/// a newer Swift's), so that rewriting the builder keeps them, and rings
/// built from it carry them as Swift's `get_ring()` does.
fn extra_keys(f: &Fields) -> Result<BTreeMap<String, serde_json::Value>, BuilderFileError> {
    let mut extra = BTreeMap::new();
    for (key, value) in f.dict {
        let key = match key {
            Value::Str(s) => s.to_string(),
            Value::Bytes(b) => b.iter().map(|&c| char::from(c)).collect(),
            other => return Err(bad(format!("device has a {} key", other.kind(f.arena)))),
        };
        if DEVICE_KEYS.contains(&key.as_str()) {
            continue;
        }
        let value = to_json(f.arena, value, 0).ok_or_else(|| {
            bad(format!(
                "device key {key:?} has a value that cannot be kept"
            ))
        })?;
        // A repeated key: the later one wins, as in Python.
        extra.insert(key, value);
    }
    Ok(extra)
}

/// A pickled value as JSON (what `Device::extra` holds); `None` for what
/// JSON cannot hold (big ints, NaN, classes, objects, non-string keys).
fn to_json(arena: &Arena, value: &Value, depth: usize) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    if depth > MAX_EXTRA_DEPTH {
        return None;
    }
    let seq = |items: &[Value]| -> Option<J> {
        items
            .iter()
            .map(|v| to_json(arena, v, depth + 1))
            .collect::<Option<Vec<_>>>()
            .map(J::Array)
    };
    Some(match value {
        Value::None => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::BigInt(_) => return None,
        Value::Float(x) => J::Number(serde_json::Number::from_f64(*x)?),
        Value::Str(s) => J::String(s.to_string()),
        Value::Bytes(b) => J::String(b.iter().map(|&c| char::from(c)).collect()),
        Value::Node(_) => match arena.node(value)? {
            Node::List(Items::Values(items)) | Node::Tuple(items) => seq(items)?,
            Node::List(Items::Ints(items)) | Node::Array { items, .. } => {
                J::Array(items.iter().map(|&i| J::from(i)).collect())
            }
            Node::Dict(entries) => {
                let mut map = serde_json::Map::new();
                for (k, v) in entries {
                    let Value::Str(k) = k else { return None };
                    map.insert(k.to_string(), to_json(arena, v, depth + 1)?);
                }
                J::Object(map)
            }
            Node::Global { .. } | Node::Object { .. } => return None,
        },
    })
}

fn port(f: &Fields, key: &str) -> Result<u16, BuilderFileError> {
    u16::try_from(f.uint(key)?).map_err(|_| bad(format!("device {key} out of range")))
}

/// `_replica2part2dev` and the id width its arrays use.
#[allow(clippy::type_complexity)]
fn decode_rows(
    d: &Fields,
    parts: usize,
    ndevs: usize,
) -> Result<(Option<Vec<Vec<u32>>>, Option<u8>), BuilderFileError> {
    let v = match d.opt("_replica2part2dev") {
        None | Some(Value::None) => return Ok((None, None)),
        Some(v) => v,
    };
    let mut rows = Vec::new();
    let mut width = None;
    for (r, row) in d.seq(&v, "_replica2part2dev")?.iter().enumerate() {
        let (typecode, items) = match d.arena.node(row) {
            Some(Node::Array { typecode, items }) => (*typecode, items),
            _ => return Err(bad(format!("_replica2part2dev[{r}] is not an array"))),
        };
        let bytes = match typecode {
            'H' => 2,
            'I' | 'L' => 4,
            _ => return Err(bad(format!("_replica2part2dev has typecode {typecode:?}"))),
        };
        width.get_or_insert(bytes);
        if items.len() > parts || (r == 0 && items.len() != parts) {
            return Err(bad(format!(
                "_replica2part2dev[{r}] has {} entries",
                items.len()
            )));
        }
        let none = if bytes == 2 { NONE_DEV_2 } else { NONE_DEV_4 };
        let row = items
            .iter()
            .map(|&id| {
                let ok = u32::try_from(id)
                    .ok()
                    .filter(|&i| (i as usize) < ndevs || i == none);
                ok.ok_or_else(|| bad(format!("_replica2part2dev[{r}] names unknown device {id}")))
            })
            .collect::<Result<Vec<u32>, _>>()?;
        rows.push(row);
    }
    Ok((Some(rows), width))
}

fn decode_graph(d: &Fields) -> Result<BTreeMap<Tier, Vec<u64>>, BuilderFileError> {
    let mut graph = BTreeMap::new();
    let Some(v) = d.opt("_dispersion_graph") else {
        return Ok(graph);
    };
    let entries = match d.arena.node(&v) {
        Some(Node::Dict(entries)) => entries,
        _ if v == Value::None => return Ok(graph),
        _ => return Err(bad("_dispersion_graph is not a dict")),
    };
    for (key, counts) in entries {
        let parts = d.seq(key, "dispersion tier")?;
        let num = |i: usize| -> Result<u32, BuilderFileError> {
            let v = parts.get(i).ok_or_else(|| bad("short dispersion tier"))?;
            u32::try_from(d.as_uint(v, "dispersion tier")?).map_err(|_| bad("tier out of range"))
        };
        let ip = || {
            parts
                .get(2)
                .map_or(Err(bad("short tier")), |v| d.as_str(v, "tier ip"))
        };
        let tier = match parts.len() {
            1 => Tier::Region(num(0)?),
            2 => Tier::Zone(num(0)?, num(1)?),
            3 => Tier::Server(num(0)?, num(1)?, ip()?),
            4 => Tier::Device(num(0)?, num(1)?, ip()?, num(3)?),
            n => return Err(bad(format!("dispersion tier of length {n}"))),
        };
        let counts = d
            .seq(counts, "dispersion counts")?
            .iter()
            .map(|c| d.as_uint(c, "dispersion count"))
            .collect::<Result<Vec<_>, _>>()?;
        graph.insert(tier, counts);
    }
    Ok(graph)
}

fn decode_remove_devs(d: &Fields) -> Result<Vec<u32>, BuilderFileError> {
    let v = d.req("_remove_devs")?;
    d.seq(&v, "_remove_devs")?
        .iter()
        .map(|dev| {
            let f = d.sub(dev, "_remove_devs entry")?;
            u32::try_from(f.uint("id")?).map_err(|_| bad("removed device id out of range"))
        })
        .collect()
}
