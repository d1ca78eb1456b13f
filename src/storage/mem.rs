//! An in-memory `ObjectStore` for tests: same rules as the disk, no files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;
use std::sync::{Arc, Mutex, MutexGuard};

use md5::{Digest, Md5};

use super::hashpath::hex;
use super::metadata::Metadata;
use super::objstore::{
    info_from, merge_meta, select, AsyncUpdate, FileKind, ObjectInfo, ObjectKey, ObjectReader,
    ObjectState, ObjectStore, ObjectWriter,
};
use super::{Result, StorageError, Timestamp};

type Files = BTreeMap<(Timestamp, FileKind), (Metadata, Arc<Vec<u8>>)>;

#[derive(Default)]
struct Inner {
    objects: HashMap<ObjectKey, Files>,
    unavailable: HashSet<String>,
    known: Option<HashSet<String>>,
    full: HashSet<String>,
    asyncs: Vec<(ObjectKey, AsyncUpdate)>,
}

/// In-memory object store. Devices exist unless marked unavailable or unknown.
#[derive(Clone, Default)]
pub struct MemStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose only devices are `devices` (others answer 507).
    pub fn with_devices(devices: &[&str]) -> Self {
        let s = Self::default();
        s.lock().known = Some(devices.iter().map(|d| d.to_string()).collect());
        s
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a device unmounted (507s).
    pub fn set_unavailable(&self, device: &str, down: bool) {
        let mut g = self.lock();
        if down {
            g.unavailable.insert(device.into());
        } else {
            g.unavailable.remove(device);
        }
    }

    /// Marks a device below its reserve.
    pub fn set_full(&self, device: &str, full: bool) {
        let mut g = self.lock();
        if full {
            g.full.insert(device.into());
        } else {
            g.full.remove(device);
        }
    }

    /// Async pendings saved so far.
    pub fn async_updates(&self) -> Vec<(ObjectKey, AsyncUpdate)> {
        self.lock().asyncs.clone()
    }

    fn put_file(
        &self,
        key: &ObjectKey,
        ts: Timestamp,
        kind: FileKind,
        meta: Metadata,
        data: Vec<u8>,
    ) {
        let mut g = self.lock();
        let files = g.objects.entry(key.clone()).or_default();
        files.insert((ts, kind), (meta, Arc::new(data)));
        let listing: Vec<_> = files.keys().copied().collect();
        for k in select(&listing).obsolete {
            files.remove(&k);
        }
    }
}

struct MemWriter {
    store: MemStore,
    key: ObjectKey,
    buf: Vec<u8>,
    md5: Md5,
}

impl ObjectWriter for MemWriter {
    fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        self.md5.update(data);
        self.buf.extend_from_slice(data);
        Ok(())
    }
    fn bytes_written(&self) -> u64 {
        self.buf.len() as u64
    }
    fn etag(&mut self) -> String {
        hex(&self.md5.clone().finalize())
    }
    fn commit(self: Box<Self>, meta: Metadata, timestamp: Timestamp) -> Result<()> {
        let this = *self;
        this.store
            .put_file(&this.key, timestamp, FileKind::Data, meta, this.buf);
        Ok(())
    }
}

impl ObjectStore for MemStore {
    fn check_device(&self, device: &str, for_write: bool) -> Result<()> {
        let g = self.lock();
        if g.unavailable.contains(device) || g.known.as_ref().is_some_and(|k| !k.contains(device)) {
            return Err(StorageError::DeviceUnavailable(device.into()));
        }
        if for_write && g.full.contains(device) {
            return Err(StorageError::InsufficientSpace(device.into()));
        }
        Ok(())
    }

    fn state(&self, key: &ObjectKey) -> Result<ObjectState> {
        Ok(match self.open(key)? {
            Some((info, _)) => ObjectState::Present(info),
            None => {
                let g = self.lock();
                let listing: Vec<_> = g
                    .objects
                    .get(key)
                    .map(|f| f.keys().copied().collect())
                    .unwrap_or_default();
                match select(&listing).tombstone {
                    Some(t) => ObjectState::Deleted(t),
                    None => ObjectState::Missing,
                }
            }
        })
    }

    fn open(&self, key: &ObjectKey) -> Result<Option<(ObjectInfo, Box<dyn ObjectReader>)>> {
        let g = self.lock();
        let Some(files) = g.objects.get(key) else {
            return Ok(None);
        };
        let listing: Vec<_> = files.keys().copied().collect();
        let sel = select(&listing);
        let Some(dt) = sel.data else { return Ok(None) };
        let (dmeta, body) = &files[&(dt, FileKind::Data)];
        let mmeta = sel.meta.map(|mt| &files[&(mt, FileKind::Meta)].0);
        let info = info_from(merge_meta(dmeta, mmeta), dt, sel.meta, body.len() as u64);
        let reader: Box<dyn ObjectReader> = Box::new(Cursor::new(ArcBytes(body.clone())));
        Ok(Some((info, reader)))
    }

    fn create(&self, key: &ObjectKey, _size_hint: Option<u64>) -> Result<Box<dyn ObjectWriter>> {
        Ok(Box::new(MemWriter {
            store: self.clone(),
            key: key.clone(),
            buf: Vec::new(),
            md5: Md5::new(),
        }))
    }

    fn post(&self, key: &ObjectKey, timestamp: Timestamp, meta: Metadata) -> Result<()> {
        self.put_file(key, timestamp, FileKind::Meta, meta, Vec::new());
        Ok(())
    }

    fn delete(&self, key: &ObjectKey, timestamp: Timestamp) -> Result<()> {
        let mut meta = Metadata::new();
        meta.insert("name".into(), key.name());
        meta.insert("X-Timestamp".into(), timestamp.internal());
        self.put_file(key, timestamp, FileKind::Tombstone, meta, Vec::new());
        Ok(())
    }

    fn suffix_hashes(
        &self,
        device: &str,
        partition: &str,
        policy: u32,
    ) -> Result<BTreeMap<String, String>> {
        // Names stand in for hashes: group by the last three hex digits of md5(name).
        let g = self.lock();
        let mut dirs: BTreeMap<String, BTreeMap<String, Vec<(Timestamp, FileKind)>>> =
            BTreeMap::new();
        for (k, files) in &g.objects {
            if k.device == device && k.partition == partition && k.policy == policy {
                let h = hex(&Md5::digest(k.name().as_bytes()));
                dirs.entry(h[29..].to_string())
                    .or_default()
                    .insert(h, files.keys().copied().collect());
            }
        }
        let mut out = BTreeMap::new();
        for (sfx, objs) in dirs {
            let mut md5 = Md5::new();
            for listing in objs.values() {
                let sel = select(listing);
                for (t, ext) in [
                    (sel.meta, ".meta"),
                    (sel.tombstone, ".ts"),
                    (sel.data, ".data"),
                ] {
                    if let Some(t) = t {
                        md5.update(t.internal().as_bytes());
                        md5.update(ext.as_bytes());
                    }
                }
            }
            out.insert(sfx, hex(&md5.finalize()));
        }
        Ok(out)
    }

    fn save_async_update(&self, key: &ObjectKey, update: &AsyncUpdate) -> Result<()> {
        self.lock().asyncs.push((key.clone(), update.clone()));
        Ok(())
    }
}

/// Shared bytes usable by `Cursor`.
struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
