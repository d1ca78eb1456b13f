//! Writes a `RingBuilder` as Swift saves one: `pickle.dump(to_dict(), f,
//! protocol=2)`, with Swift's key order, `array.array` tables pickled as
//! `GLOBAL 'array array'` + `(typecode, [ints])` + `REDUCE`, and the
//! `_remove_devs` entries as memo references to the device dicts.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::ring::builder::{BuilderDevice, RingBuilder, Tier};

/// CPython's pickler batches `APPENDS`/`SETITEMS` in groups of this size.
const BATCH: usize = 1000;

pub(crate) struct Pickler<W: Write> {
    out: W,
    memo_len: u32,
    strings: HashMap<String, u32>,
    array_global: Option<u32>,
}

impl<W: Write> Pickler<W> {
    pub(crate) fn new(out: W) -> Self {
        Pickler {
            out,
            memo_len: 0,
            strings: HashMap::new(),
            array_global: None,
        }
    }

    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// The whole builder dict, in `RingBuilder.to_dict()` order.
    pub(crate) fn builder(&mut self, b: &RingBuilder) -> io::Result<()> {
        self.out.write_all(&[0x80, 2])?;
        self.open_dict()?;
        self.out.write_all(b"(")?;
        self.key("part_power")?;
        self.int(b.part_power.into())?;
        self.key("next_part_power")?;
        match b.next_part_power {
            Some(n) => self.int(n.into())?,
            None => self.none()?,
        }
        self.key("replicas")?;
        self.float(b.replicas)?;
        self.key("min_part_hours")?;
        self.int(b.min_part_hours.into())?;
        self.key("parts")?;
        self.int(1i64 << b.part_power)?;
        self.key("devs")?;
        let dev_memo = self.devs(&b.devs)?;
        self.key("devs_changed")?;
        self.boolean(b.devs_changed)?;
        self.key("dev_id_bytes")?;
        self.int(b.dev_id_bytes.into())?;
        self.key("version")?;
        self.uint(b.version)?;
        self.key("overload")?;
        self.float(b.overload)?;
        self.key("_replica2part2dev")?;
        match &b.replica2part2dev {
            None => self.none()?,
            Some(rows) => {
                let code = if b.dev_id_bytes == 2 { "H" } else { "I" };
                self.open_list()?;
                self.out.write_all(b"(")?;
                for row in rows {
                    self.array(code, row.iter().map(|&d| i64::from(d)), row.len())?;
                }
                self.out.write_all(b"e")?;
            }
        }
        self.key("_last_part_moves_epoch")?;
        self.int(b.last_part_moves_epoch)?;
        self.key("_last_part_moves")?;
        let moves = &b.last_part_moves;
        self.array("B", moves.iter().map(|&m| i64::from(m)), moves.len())?;
        self.key("_last_part_gather_start")?;
        self.uint(b.last_part_gather_start)?;
        self.key("_dispersion_graph")?;
        self.graph(b)?;
        self.key("dispersion")?;
        match b.dispersion {
            Some(d) => self.float(d)?,
            None => self.none()?,
        }
        self.key("_remove_devs")?;
        self.open_list()?;
        if !b.remove_devs.is_empty() {
            self.out.write_all(b"(")?;
            for id in &b.remove_devs {
                match dev_memo.get(id) {
                    Some(&m) => self.get(m)?,
                    // A removal queued for a device that is gone: keep its id.
                    None => {
                        self.open_dict()?;
                        self.key("id")?;
                        self.int((*id).into())?;
                        self.out.write_all(b"s")?;
                    }
                }
            }
            self.out.write_all(b"e")?;
        }
        self.key("id")?;
        match &b.id {
            Some(id) => self.string(id)?,
            None => self.none()?,
        }
        self.out.write_all(b"u.")
    }

    /// The `devs` list; returns each device dict's memo slot by id.
    fn devs(&mut self, devs: &[Option<BuilderDevice>]) -> io::Result<HashMap<u32, u32>> {
        let mut memo = HashMap::new();
        self.open_list()?;
        for chunk in devs.chunks(BATCH) {
            self.out.write_all(b"(")?;
            for dev in chunk {
                match dev {
                    None => self.none()?,
                    Some(d) => {
                        memo.insert(d.dev.id, self.memo_len);
                        self.device(d)?;
                    }
                }
            }
            self.out.write_all(b"e")?;
        }
        Ok(memo)
    }

    fn device(&mut self, d: &BuilderDevice) -> io::Result<()> {
        let dev = &d.dev;
        self.open_dict()?;
        self.out.write_all(b"(")?;
        self.key("region")?;
        self.int(dev.region.into())?;
        self.key("zone")?;
        self.int(dev.zone.into())?;
        self.key("ip")?;
        self.string(&dev.ip)?;
        self.key("port")?;
        self.int(dev.port.into())?;
        self.key("device")?;
        self.string(&dev.device)?;
        self.key("replication_ip")?;
        self.string(&dev.replication_ip)?;
        self.key("replication_port")?;
        self.int(dev.replication_port.into())?;
        self.key("meta")?;
        self.string(&dev.meta)?;
        self.key("weight")?;
        self.float(dev.weight)?;
        self.key("id")?;
        self.int(dev.id.into())?;
        self.key("parts")?;
        self.uint(d.parts)?;
        if let Some(w) = d.parts_wanted {
            self.key("parts_wanted")?;
            self.int(w)?;
        }
        for (key, value) in &dev.extra {
            self.key(key)?;
            self.json(value)?;
        }
        self.out.write_all(b"u")
    }

    /// A device's unknown key's value, as the Python value it came from.
    fn json(&mut self, value: &serde_json::Value) -> io::Result<()> {
        use serde_json::Value as J;
        match value {
            J::Null => self.none(),
            J::Bool(b) => self.boolean(*b),
            J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => self.int(i),
                (None, Some(u), _) => self.uint(u),
                (_, _, Some(f)) => self.float(f),
                _ => Err(io::Error::other("number out of range")),
            },
            J::String(s) => self.string(s),
            J::Array(items) => {
                self.open_list()?;
                for chunk in items.chunks(BATCH) {
                    self.out.write_all(b"(")?;
                    for item in chunk {
                        self.json(item)?;
                    }
                    self.out.write_all(b"e")?;
                }
                Ok(())
            }
            J::Object(map) => {
                self.open_dict()?;
                let entries: Vec<_> = map.iter().collect();
                for chunk in entries.chunks(BATCH) {
                    self.out.write_all(b"(")?;
                    for (k, v) in chunk {
                        self.string(k)?;
                        self.json(v)?;
                    }
                    self.out.write_all(b"u")?;
                }
                Ok(())
            }
        }
    }

    fn graph(&mut self, b: &RingBuilder) -> io::Result<()> {
        self.open_dict()?;
        let entries: Vec<_> = b.dispersion_graph.iter().collect();
        for chunk in entries.chunks(BATCH) {
            self.out.write_all(b"(")?;
            for (tier, counts) in chunk {
                self.tier(tier)?;
                self.open_list()?;
                if !counts.is_empty() {
                    self.out.write_all(b"(")?;
                    for &c in counts.iter() {
                        self.uint(c)?;
                    }
                    self.out.write_all(b"e")?;
                }
            }
            self.out.write_all(b"u")?;
        }
        Ok(())
    }

    fn tier(&mut self, tier: &Tier) -> io::Result<()> {
        match tier {
            Tier::Region(r) => {
                self.int((*r).into())?;
                self.out.write_all(&[0x85])?;
            }
            Tier::Zone(r, z) => {
                self.int((*r).into())?;
                self.int((*z).into())?;
                self.out.write_all(&[0x86])?;
            }
            Tier::Server(r, z, ip) => {
                self.int((*r).into())?;
                self.int((*z).into())?;
                self.string(ip)?;
                self.out.write_all(&[0x87])?;
            }
            Tier::Device(r, z, ip, d) => {
                self.out.write_all(b"(")?;
                self.int((*r).into())?;
                self.int((*z).into())?;
                self.string(ip)?;
                self.int((*d).into())?;
                self.out.write_all(b"t")?;
            }
        }
        self.put()
    }

    /// `array.array(code, [values])` as protocol 2 pickles it.
    fn array(
        &mut self,
        code: &str,
        values: impl Iterator<Item = i64>,
        len: usize,
    ) -> io::Result<()> {
        self.global_array()?;
        self.string(code)?;
        self.open_list()?;
        let mut values = values.peekable();
        let mut left = len;
        while values.peek().is_some() {
            self.out.write_all(b"(")?;
            for v in values.by_ref().take(BATCH.min(left)) {
                self.int(v)?;
            }
            left = left.saturating_sub(BATCH);
            self.out.write_all(b"e")?;
        }
        // (code, list) then REDUCE.
        self.out.write_all(&[0x86])?;
        self.put()?;
        self.out.write_all(b"R")?;
        self.put()
    }

    fn global_array(&mut self) -> io::Result<()> {
        if let Some(m) = self.array_global {
            return self.get(m);
        }
        self.out.write_all(b"carray\narray\n")?;
        self.array_global = Some(self.memo_len);
        self.put()
    }

    fn key(&mut self, k: &str) -> io::Result<()> {
        self.string(k)
    }

    /// A `str`, memoized by value so repeated keys cost two bytes.
    fn string(&mut self, s: &str) -> io::Result<()> {
        if let Some(&m) = self.strings.get(s) {
            return self.get(m);
        }
        self.out.write_all(b"X")?;
        let len = u32::try_from(s.len()).map_err(|_| io::Error::other("string too long"))?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(s.as_bytes())?;
        self.strings.insert(s.to_owned(), self.memo_len);
        self.put()
    }

    fn int(&mut self, v: i64) -> io::Result<()> {
        if (0..=0xff).contains(&v) {
            self.out.write_all(&[b'K', v as u8])
        } else if (0..=0xffff).contains(&v) {
            self.out.write_all(b"M")?;
            self.out.write_all(&(v as u16).to_le_bytes())
        } else if let Ok(small) = i32::try_from(v) {
            self.out.write_all(b"J")?;
            self.out.write_all(&small.to_le_bytes())
        } else {
            // LONG1 with the shortest two's-complement encoding.
            let bytes = v.to_le_bytes();
            let mut n = 8;
            while n > 1 {
                let top = bytes[n - 1];
                let next_sign = bytes[n - 2] & 0x80 != 0;
                if (top == 0 && !next_sign) || (top == 0xff && next_sign) {
                    n -= 1;
                } else {
                    break;
                }
            }
            self.out.write_all(&[0x8a, n as u8])?;
            self.out.write_all(&bytes[..n])
        }
    }

    fn uint(&mut self, v: u64) -> io::Result<()> {
        let v = i64::try_from(v).map_err(|_| io::Error::other("integer too large"))?;
        self.int(v)
    }

    fn float(&mut self, v: f64) -> io::Result<()> {
        self.out.write_all(b"G")?;
        self.out.write_all(&v.to_be_bytes())
    }

    fn boolean(&mut self, v: bool) -> io::Result<()> {
        self.out.write_all(&[if v { 0x88 } else { 0x89 }])
    }

    fn none(&mut self) -> io::Result<()> {
        self.out.write_all(b"N")
    }

    fn open_dict(&mut self) -> io::Result<()> {
        self.out.write_all(b"}")?;
        self.put()
    }

    fn open_list(&mut self) -> io::Result<()> {
        self.out.write_all(b"]")?;
        self.put()
    }

    fn put(&mut self) -> io::Result<()> {
        let id = self.memo_len;
        self.memo_len += 1;
        if id <= 0xff {
            self.out.write_all(&[b'q', id as u8])
        } else {
            self.out.write_all(b"r")?;
            self.out.write_all(&id.to_le_bytes())
        }
    }

    fn get(&mut self, id: u32) -> io::Result<()> {
        if id <= 0xff {
            self.out.write_all(&[b'h', id as u8])
        } else {
            self.out.write_all(b"j")?;
            self.out.write_all(&id.to_le_bytes())
        }
    }
}
