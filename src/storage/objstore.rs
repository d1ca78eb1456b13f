//! The object-store interface shared by the disk backend and the in-memory double.
//!
//! Calls are synchronous (servers run them on blocking threads). The pure
//! rules that decide which of an object's files count — newest `.data` or
//! `.ts` wins, a `.meta` newer than the data applies on top — live here so
//! both backends follow them.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use super::device::valid_component;
use super::metadata::Metadata;
use super::{Result, StorageError, Timestamp};

/// Where an object lives: device, partition, name and storage policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub device: String,
    pub partition: String,
    pub account: String,
    pub container: String,
    pub object: String,
    pub policy: u32,
}

impl ObjectKey {
    /// Validates the device and partition as safe single path components.
    pub fn new(
        device: &str,
        partition: &str,
        account: &str,
        container: &str,
        object: &str,
        policy: u32,
    ) -> Result<Self> {
        if !valid_component(device) {
            return Err(StorageError::InvalidName(format!("device {device:?}")));
        }
        if partition.is_empty()
            || partition.len() > 10
            || !partition.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(StorageError::InvalidName(format!(
                "partition {partition:?}"
            )));
        }
        Ok(ObjectKey {
            device: device.into(),
            partition: partition.into(),
            account: account.into(),
            container: container.into(),
            object: object.into(),
            policy,
        })
    }

    /// `/account/container/object`, the `name` kept in metadata.
    pub fn name(&self) -> String {
        format!("/{}/{}/{}", self.account, self.container, self.object)
    }
}

/// The current state of an object as its newest files describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    /// Data-file system metadata merged with the newest `.meta`'s metadata.
    pub metadata: Metadata,
    /// Timestamp of the `.data` file.
    pub data_timestamp: Timestamp,
    /// `X-Timestamp`: the newer of the data and `.meta` timestamps.
    pub timestamp: Timestamp,
    pub content_length: u64,
    pub etag: String,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectState {
    Missing,
    Deleted(Timestamp),
    Present(ObjectInfo),
}

impl ObjectState {
    /// Timestamp of the newest data or tombstone, if any.
    pub fn timestamp(&self) -> Option<Timestamp> {
        match self {
            ObjectState::Missing => None,
            ObjectState::Deleted(t) => Some(*t),
            ObjectState::Present(i) => Some(i.data_timestamp),
        }
    }
}

/// A readable object body. Reading the whole body from the start checks it
/// against the ETag; on mismatch the object is quarantined and the final read fails.
pub trait ObjectReader: Read + Seek + Send {}
impl<T: Read + Seek + Send> ObjectReader for T {}

/// A body being written; nothing is visible until `commit`.
pub trait ObjectWriter: Send {
    fn write_chunk(&mut self, data: &[u8]) -> Result<()>;
    /// Writes an owned chunk; backends that hash on another thread avoid a copy.
    fn write_bytes(&mut self, data: bytes::Bytes) -> Result<()> {
        self.write_chunk(&data)
    }
    fn bytes_written(&self) -> u64;
    /// Hex MD5 of the bytes written so far.
    fn etag(&mut self) -> String;
    /// Stores `metadata` and makes the body the object's data at `timestamp`, durably.
    fn commit(self: Box<Self>, metadata: Metadata, timestamp: Timestamp) -> Result<()>;
}

/// A container update to retry later (`async_pending/<sfx>/<hash>-<ts>`).
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncUpdate {
    pub op: String,
    pub account: String,
    pub container: String,
    pub obj: String,
    pub headers: Vec<(String, String)>,
    pub timestamp: Timestamp,
}

/// Object storage as the object server (and later the replicator) sees it.
pub trait ObjectStore: Send + Sync + 'static {
    /// Errors if the device is unusable, or (for writes) below its reserve.
    fn check_device(&self, device: &str, for_write: bool) -> Result<()>;
    fn state(&self, key: &ObjectKey) -> Result<ObjectState>;
    /// Opens the current data for reading; `None` if missing or deleted.
    fn open(&self, key: &ObjectKey) -> Result<Option<(ObjectInfo, Box<dyn ObjectReader>)>>;
    fn create(&self, key: &ObjectKey, size_hint: Option<u64>) -> Result<Box<dyn ObjectWriter>>;
    /// What a PUT does before its body: checks the device for a write,
    /// reads the object's state and, if `accept` approves of it, opens a
    /// writer (`None` when it does not). One call, so a store can share the
    /// disk work of the three steps.
    fn create_if(
        &self,
        key: &ObjectKey,
        size_hint: Option<u64>,
        accept: &mut dyn FnMut(&ObjectState) -> bool,
    ) -> Result<Option<Box<dyn ObjectWriter>>> {
        self.check_device(&key.device, true)?;
        if !accept(&self.state(key)?) {
            return Ok(None);
        }
        self.create(key, size_hint).map(Some)
    }
    /// Writes a `.meta` carrying `metadata` (user metadata replaces the old).
    fn post(&self, key: &ObjectKey, timestamp: Timestamp, metadata: Metadata) -> Result<()>;
    /// Writes a `.ts` tombstone.
    fn delete(&self, key: &ObjectKey, timestamp: Timestamp) -> Result<()>;
    /// Suffix → hash for a partition (`REPLICATE`).
    fn suffix_hashes(
        &self,
        device: &str,
        partition: &str,
        policy: u32,
    ) -> Result<BTreeMap<String, String>>;
    /// Marks suffixes for rehashing (`REPLICATE /<dev>/<part>/<sfx>-<sfx>`);
    /// backends that always hash afresh need do nothing.
    fn invalidate_suffixes(
        &self,
        _device: &str,
        _partition: &str,
        _policy: u32,
        _suffixes: &[String],
    ) -> Result<()> {
        Ok(())
    }
    fn save_async_update(&self, key: &ObjectKey, update: &AsyncUpdate) -> Result<()>;
    /// Where a device's files live, for code that works on Swift's layout
    /// directly (ssync); `None` for stores without one.
    fn device_path(&self, _device: &str) -> Result<Option<std::path::PathBuf>> {
        Ok(None)
    }
}

/// Kinds of object files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    Data,
    Meta,
    Tombstone,
}

impl FileKind {
    pub fn ext(self) -> &'static str {
        match self {
            FileKind::Data => ".data",
            FileKind::Meta => ".meta",
            FileKind::Tombstone => ".ts",
        }
    }

    /// Parses `<timestamp>.<ext>`.
    pub fn parse_name(name: &str) -> Option<(Timestamp, FileKind)> {
        let (ts, ext) = name.rsplit_once('.')?;
        let kind = match ext {
            "data" => FileKind::Data,
            "meta" => FileKind::Meta,
            "ts" => FileKind::Tombstone,
            _ => return None,
        };
        // The timestamp part must be in Swift's canonical form.
        let t = Timestamp::parse(ts)?;
        (t.internal() == ts).then_some((t, kind))
    }
}

/// Which files of an object matter and which are obsolete.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Selection {
    pub data: Option<Timestamp>,
    pub tombstone: Option<Timestamp>,
    pub meta: Option<Timestamp>,
    pub obsolete: Vec<(Timestamp, FileKind)>,
}

/// Applies Swift's rules to a set of files: the newest `.data`/`.ts` wins
/// (a tombstone wins a tie), and the newest `.meta` newer than the data applies.
pub fn select(files: &[(Timestamp, FileKind)]) -> Selection {
    let mut sel = Selection::default();
    let newest = files
        .iter()
        .filter(|(_, k)| *k != FileKind::Meta)
        .max_by_key(|(t, k)| (*t, *k == FileKind::Tombstone))
        .copied();
    match newest {
        Some((t, FileKind::Tombstone)) => sel.tombstone = Some(t),
        Some((t, _)) => sel.data = Some(t),
        None => {}
    }
    if let Some(d) = sel.data {
        sel.meta = files
            .iter()
            .filter(|(t, k)| *k == FileKind::Meta && *t > d)
            .map(|(t, _)| *t)
            .max();
    }
    for &(t, k) in files {
        let keep = match k {
            FileKind::Data => sel.data == Some(t),
            FileKind::Tombstone => sel.tombstone == Some(t),
            FileKind::Meta => sel.meta == Some(t),
        };
        if !keep {
            sel.obsolete.push((t, k));
        }
    }
    sel
}

/// Data-file keys kept when a `.meta` replaces the user metadata.
fn is_data_system_key(k: &str) -> bool {
    let l = k.to_ascii_lowercase();
    matches!(
        l.as_str(),
        "name" | "content-length" | "content-type" | "etag" | "deleted" | "x-static-large-object"
    ) || l.starts_with("x-object-sysmeta-")
        || l.starts_with("content-type-")
}

/// Combines data-file metadata with a `.meta`'s, as a GET sees them.
pub fn merge_meta(data_meta: &Metadata, meta_meta: Option<&Metadata>) -> Metadata {
    match meta_meta {
        None => data_meta.clone(),
        Some(m) => {
            let mut out: Metadata = data_meta
                .iter()
                .filter(|(k, _)| is_data_system_key(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (k, v) in m {
                out.insert(k.clone(), v.clone());
            }
            out
        }
    }
}

/// Builds `ObjectInfo` from merged metadata.
pub fn info_from(
    metadata: Metadata,
    data_timestamp: Timestamp,
    meta_ts: Option<Timestamp>,
    size: u64,
) -> ObjectInfo {
    let etag = metadata.get("ETag").cloned().unwrap_or_default();
    ObjectInfo {
        metadata,
        data_timestamp,
        timestamp: meta_ts.unwrap_or(data_timestamp),
        content_length: size,
        etag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn selection_rules() {
        let s = select(&[
            (t(1), FileKind::Data),
            (t(2), FileKind::Meta),
            (t(3), FileKind::Data),
            (t(4), FileKind::Meta),
        ]);
        assert_eq!(s.data, Some(t(3)));
        assert_eq!(s.meta, Some(t(4)));
        assert_eq!(
            s.obsolete,
            vec![(t(1), FileKind::Data), (t(2), FileKind::Meta)]
        );
        let s = select(&[
            (t(1), FileKind::Data),
            (t(2), FileKind::Tombstone),
            (t(3), FileKind::Meta),
        ]);
        assert_eq!((s.data, s.tombstone, s.meta), (None, Some(t(2)), None));
        assert_eq!(
            FileKind::parse_name("0000000001.00000.data"),
            Some((t(1), FileKind::Data))
        );
        assert_eq!(FileKind::parse_name("1.data"), None);
        assert_eq!(FileKind::parse_name("0000000001.00000.tmp"), None);
    }
}
