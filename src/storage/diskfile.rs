//! Objects on disk in Swift's layout.
//!
//! `<devices>/<dev>/objects[-N]/<part>/<hash[-3:]>/<hash>/<timestamp>.data|.meta|.ts`,
//! metadata in xattrs (`metadata`). A file is written unnamed in its object
//! directory and linked into place after an fsync, or staged in
//! `<dev>/tmp[-N]` and renamed where the filesystem has no `O_TMPFILE`
//! (`tmpfile`). A body that fails its ETag on a full read is moved to
//! `<dev>/quarantined/objects[-N]/<hash>`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::ring::hash::HashPathConf;

use super::atomic::{mkdirs, mkdirs_count, mkdirs_count_new};
use super::device::Devices;
use super::hasher::BodyHasher;
use super::hashpath::policy_dir;
use super::metadata::{self, Metadata};
use super::objstore::{
    info_from, merge_meta, select, AsyncUpdate, FileKind, ObjectInfo, ObjectKey, ObjectReader,
    ObjectState, ObjectStore, ObjectWriter, Selection,
};
use super::tmpfile::{self, Staged};
use super::{hashes, replication, Result, StorageError, Timestamp};

/// The disk backend of `ObjectStore`.
#[derive(Debug, Clone)]
pub struct DiskStore {
    pub devices: Devices,
    pub salt: HashPathConf,
    /// Whether files are written unnamed (`O_TMPFILE`) and linked into
    /// place; cleared, for every clone, by the first filesystem that
    /// cannot (Swift's `use_linkat`).
    linkat: Arc<AtomicBool>,
    /// Whether a write with a known length reserves its blocks first
    /// (`fallocate`, keeping the size); off with Swift's `disable_fallocate`.
    pub fallocate: bool,
}

/// The files of one object directory.
struct OnDisk {
    dir: PathBuf,
    sel: Selection,
}

impl DiskStore {
    pub fn new(devices: Devices, salt: HashPathConf) -> Self {
        DiskStore {
            devices,
            salt,
            linkat: Arc::new(AtomicBool::new(true)),
            fallocate: true,
        }
    }

    /// Whether new files are written with `O_TMPFILE` and `linkat`.
    pub fn uses_linkat(&self) -> bool {
        self.linkat.load(Ordering::Relaxed)
    }

    /// Chooses `O_TMPFILE` + `linkat` (as long as the filesystem allows it)
    /// or named temp files in `<dev>/tmp[-N]` + `rename`.
    pub fn set_linkat(&self, on: bool) {
        self.linkat.store(on, Ordering::Relaxed);
    }

    /// Opens the file a write goes to: unnamed in object directory `dir`
    /// (`dir_file` if already open), or named in the device's tmp directory.
    fn stage(
        &self,
        dev: &Path,
        dir: &Path,
        dir_file: Option<File>,
        policy: u32,
    ) -> Result<(File, Staged)> {
        if self.uses_linkat() {
            let d = match dir_file {
                Some(d) => d,
                None => tmpfile::open_dir(dir).map_err(|e| StorageError::io(dir, e))?,
            };
            match tmpfile::open_unnamed(&d) {
                Ok(f) => return Ok((f, Staged::Unnamed(d))),
                Err(e) if tmpfile::tmpfile_unsupported(&e) => {
                    tracing::debug!(
                        "open({}, O_TMPFILE) failed: {e}; using temp files in tmp/",
                        dir.display()
                    );
                    self.set_linkat(false);
                }
                Err(e) => return Err(StorageError::io(dir, e)),
            }
        }
        let (file, tmp) = tmpfile::open_named(&dev.join(policy_dir("tmp", policy)))?;
        Ok((file, Staged::Named(tmp)))
    }

    /// A writer for a new `.data` in object directory `dir`, which the
    /// caller made (`created` directories) and may have opened and listed.
    #[allow(clippy::too_many_arguments)] // the parts create_if has already found
    fn writer(
        &self,
        key: &ObjectKey,
        dev: &Path,
        dir: PathBuf,
        dir_file: Option<File>,
        created: usize,
        before: Option<Vec<(Timestamp, FileKind)>>,
        size_hint: Option<u64>,
    ) -> Result<DiskWriter> {
        let (file, staged) = self.stage(dev, &dir, dir_file, key.policy)?;
        let staging = Staging {
            staged,
            done: false,
        };
        if let Some(n) = size_hint.filter(|n| *n > 0 && self.fallocate) {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open file descriptor; failure only loses the preallocation.
            let rc = unsafe {
                libc::fallocate(
                    file.as_raw_fd(),
                    libc::FALLOC_FL_KEEP_SIZE,
                    0,
                    n as libc::off_t,
                )
            };
            if rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSPC) {
                return Err(StorageError::InsufficientSpace(key.device.clone()));
            }
        }
        // A small body is written in one call at the commit.
        let buffer = size_hint.map_or(WRITE_BUFFER, |n| n.clamp(1, WRITE_BUFFER as u64) as usize);
        Ok(DiskWriter {
            file: io::BufWriter::with_capacity(buffer, file),
            staging,
            dirs_created: created,
            before,
            md5: BodyHasher::new(size_hint),
            written: 0,
            kicked: 0,
            dir,
        })
    }

    /// `<dev>/objects[-N]/<part>/<sfx>/<hash>` for an object (device must be usable).
    pub fn object_dir(&self, key: &ObjectKey) -> Result<PathBuf> {
        self.object_dir_in(&self.devices.path(&key.device)?, key)
    }

    /// An object's directory under device path `dev`.
    fn object_dir_in(&self, dev: &Path, key: &ObjectKey) -> Result<PathBuf> {
        let hash = self
            .salt
            .hash_path_hex(&key.account, Some(&key.container), Some(&key.object))
            .map_err(|e| StorageError::InvalidName(e.to_string()))?;
        Ok(dev
            .join(policy_dir("objects", key.policy))
            .join(&key.partition)
            .join(&hash[29..])
            .join(&hash))
    }

    /// Removes files in object directory `dir` that no longer count (older
    /// data, tombstones and metas) once `new` is in place. `before` is the
    /// directory's listing taken before the write, if there is one: whatever
    /// is obsolete among those files and `new` is obsolete whatever else
    /// appeared meanwhile, so it spares a second listing (and a new
    /// object's directory needs no cleanup at all).
    fn cleanup(
        dir: &Path,
        before: Option<Vec<(Timestamp, FileKind)>>,
        new: (Timestamp, FileKind),
    ) -> Result<()> {
        let mut files = match before {
            Some(files) => files,
            None => list_files(dir)?,
        };
        if !files.contains(&new) {
            files.push(new);
        }
        for (t, k) in &select(&files).obsolete {
            let _ = fs::remove_file(dir.join(format!("{}{}", t.internal(), k.ext())));
        }
        Ok(())
    }

    fn read_file_meta(path: &Path) -> Result<(File, Metadata)> {
        let f = File::open(path).map_err(|e| StorageError::io(path, e))?;
        let m = metadata::read(&f, path)?;
        Ok((f, m))
    }

    /// Moves an object's directory to `quarantined/objects[-N]/<hash>`.
    pub fn quarantine(&self, key: &ObjectKey) -> Result<PathBuf> {
        let dir = self.object_dir(key)?;
        quarantine_dir(&self.devices.path(&key.device)?, &dir, key.policy)
    }

    /// Writes a file of `kind` with metadata only (`.meta`, `.ts`).
    fn write_marker(
        &self,
        key: &ObjectKey,
        timestamp: Timestamp,
        kind: FileKind,
        meta: &Metadata,
    ) -> Result<()> {
        let dev = self.devices.path(&key.device)?;
        let dir = self.object_dir_in(&dev, key)?;
        let created = mkdirs_count(&dir)?;
        let (file, staged) = self.stage(&dev, &dir, None, key.policy)?;
        let mut w = Staging {
            staged,
            done: false,
        };
        metadata::write(&file, &dir, meta)?;
        file.sync_all().map_err(|e| StorageError::io(&dir, e))?;
        invalidate_parent(&dir)?;
        let name = format!("{}{}", timestamp.internal(), kind.ext());
        tmpfile::place(&mut w.staged, &file, &dir, &name, created)?;
        w.done = true;
        Self::cleanup(&dir, None, (timestamp, kind))
    }

    fn load(&self, key: &ObjectKey) -> Result<(ObjectState, Option<File>)> {
        let dir = self.object_dir(key)?;
        let files = list_files(&dir)?;
        self.load_listed(key, dir, &files)
    }

    /// The object's state from a listing of its directory `dir`.
    fn load_listed(
        &self,
        key: &ObjectKey,
        dir: PathBuf,
        files: &[(Timestamp, FileKind)],
    ) -> Result<(ObjectState, Option<File>)> {
        let on = OnDisk {
            sel: select(files),
            dir,
        };
        if let Some(t) = on.sel.tombstone {
            return Ok((ObjectState::Deleted(t), None));
        }
        let Some(dt) = on.sel.data else {
            return Ok((ObjectState::Missing, None));
        };
        let data_path = on.dir.join(format!("{}.data", dt.internal()));
        let (file, data_meta) = match Self::read_file_meta(&data_path) {
            Ok(x) => x,
            Err(StorageError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok((ObjectState::Missing, None));
            }
            Err(e @ StorageError::BadMetadata { .. }) => {
                tracing::warn!("quarantining {}: {e}", on.dir.display());
                let q = self.quarantine(key)?;
                return Err(StorageError::Quarantined(q));
            }
            Err(e) => return Err(e),
        };
        let size = file
            .metadata()
            .map_err(|e| StorageError::io(&data_path, e))?
            .len();
        let declared = data_meta
            .get("Content-Length")
            .and_then(|v| v.parse::<u64>().ok());
        if declared != Some(size) {
            tracing::warn!(
                "quarantining {}: size {size} != Content-Length {declared:?}",
                on.dir.display()
            );
            let q = self.quarantine(key)?;
            return Err(StorageError::Quarantined(q));
        }
        let meta_meta = match on.sel.meta {
            Some(mt) => {
                Some(Self::read_file_meta(&on.dir.join(format!("{}.meta", mt.internal())))?.1)
            }
            None => None,
        };
        let merged = merge_meta(&data_meta, meta_meta.as_ref());
        Ok((
            ObjectState::Present(info_from(merged, dt, on.sel.meta, size)),
            Some(file),
        ))
    }
}

/// Lists `<timestamp>.<ext>` files in an object directory (none if it doesn't exist).
pub fn list_files(dir: &Path) -> Result<Vec<(Timestamp, FileKind)>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        if let Some(parsed) = entry.file_name().to_str().and_then(FileKind::parse_name) {
            out.push(parsed);
        }
    }
    Ok(out)
}

/// Marks the suffix holding object directory `dir` for rehashing (before
/// a new file there gets its name, as Swift does, so a crash between the
/// two leaves the suffix to be rehashed rather than a stale hash).
fn invalidate_parent(dir: &Path) -> Result<()> {
    match dir.parent() {
        Some(sfx) => hashes::invalidate_hash(sfx),
        None => Ok(()),
    }
}

/// Parses the names of an object directory's files.
fn parse_names(names: Vec<std::ffi::OsString>) -> Vec<(Timestamp, FileKind)> {
    names
        .iter()
        .filter_map(|n| n.to_str().and_then(FileKind::parse_name))
        .collect()
}

/// A staged file, removed if its write never completes (an unnamed one
/// vanishes by itself when closed).
struct Staging {
    staged: Staged,
    done: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let (Staged::Named(tmp), false) = (&self.staged, self.done) {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Moves `dir` (an object directory, or a whole suffix) under
/// `<dev>/quarantined/objects[-N]/`, adding a suffix if taken, and marks
/// its suffix for rehashing so replication restores a good copy.
pub fn quarantine_dir(dev: &Path, dir: &Path, policy: u32) -> Result<PathBuf> {
    let is_suffix = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() == 3);
    if is_suffix {
        hashes::invalidate_hash(dir)?;
    } else if let Some(sfx) = dir.parent() {
        hashes::invalidate_hash(sfx)?;
    }
    let qdir = dev.join("quarantined").join(policy_dir("objects", policy));
    mkdirs(&qdir)?;
    let name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut target = qdir.join(&name);
    if target.exists() {
        let mut n = name.clone();
        n.push(format!("-{}", uuid::Uuid::new_v4().simple()));
        target = qdir.join(n);
    }
    fs::rename(dir, &target).map_err(|e| StorageError::io(dir, e))?;
    Ok(target)
}

/// Reads a data file, checking its MD5 when read from start to end.
pub struct DiskReader {
    file: File,
    md5: Option<BodyHasher>,
    pos: u64,
    size: u64,
    etag: String,
    store: DiskStore,
    key: ObjectKey,
}

impl Read for DiskReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.pos += n as u64;
        if let Some(h) = self.md5.as_mut() {
            h.update_slice(&buf[..n]);
            if n == 0 || self.pos == self.size {
                let got = h.finish();
                self.md5 = None;
                if self.pos == self.size
                    && !self.etag.is_empty()
                    && got != self.etag.to_ascii_lowercase()
                {
                    let q = self.store.quarantine(&self.key);
                    tracing::warn!(
                        "quarantined {} (md5 {got} != etag {}): {q:?}",
                        self.key.name(),
                        self.etag
                    );
                    return Err(io::Error::other(
                        "object body does not match its ETag; quarantined",
                    ));
                }
            }
        }
        Ok(n)
    }
}

impl Seek for DiskReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let p = self.file.seek(to)?;
        if p != self.pos {
            self.md5 = None;
        }
        self.pos = p;
        Ok(p)
    }
}

/// The largest write buffer of a body.
const WRITE_BUFFER: usize = 256 * 1024;

/// Bytes written between writeback kicks, so the fsync at commit finds
/// little left to flush and the disk works while the body still arrives.
const WRITEBACK_EVERY: u64 = 4 << 20;

/// A body being written, unnamed until its commit.
pub struct DiskWriter {
    file: io::BufWriter<File>,
    staging: Staging,
    /// Directories made for this object, whose parents the commit syncs.
    dirs_created: usize,
    /// The object directory's files before the write, when listed.
    before: Option<Vec<(Timestamp, FileKind)>>,
    md5: BodyHasher,
    written: u64,
    /// Bytes already handed to the kernel's writeback.
    kicked: u64,
    /// The object's directory (`<dev>/objects[-N]/<part>/<sfx>/<hash>`).
    dir: PathBuf,
}

impl DiskWriter {
    fn write_file(&mut self, data: &[u8]) -> Result<()> {
        self.written += data.len() as u64;
        self.file
            .write_all(data)
            .map_err(|e| StorageError::io(&self.dir, e))?;
        self.kick_writeback(WRITEBACK_EVERY);
        Ok(())
    }

    /// Starts writeback of the bytes in the file not yet handed to it, if
    /// there are at least `min` of them.
    fn kick_writeback(&mut self, min: u64) {
        let in_file = self.written - self.file.buffer().len() as u64;
        if in_file > self.kicked && in_file - self.kicked >= min {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor; this only starts asynchronous
            // writeback of bytes already written (the fsync at commit is what
            // makes them durable), so a failure changes nothing.
            unsafe {
                libc::sync_file_range(
                    self.file.get_ref().as_raw_fd(),
                    self.kicked as libc::off64_t,
                    (in_file - self.kicked) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.kicked = in_file;
        }
    }
}

impl ObjectWriter for DiskWriter {
    fn write_chunk(&mut self, data: &[u8]) -> Result<()> {
        self.md5.update_slice(data);
        self.write_file(data)
    }

    fn write_bytes(&mut self, data: Bytes) -> Result<()> {
        self.md5.update(&data);
        self.write_file(&data)
    }

    fn bytes_written(&self) -> u64 {
        self.written
    }

    fn etag(&mut self) -> String {
        // A large body's hasher may still be behind: let the disk start on
        // the tail meanwhile, so less is left for the fsync at commit.
        if self.kicked > 0 {
            self.kick_writeback(1);
        }
        self.md5.finish()
    }

    fn commit(mut self: Box<Self>, meta: Metadata, timestamp: Timestamp) -> Result<()> {
        self.file
            .flush()
            .map_err(|e| StorageError::io(&self.dir, e))?;
        let f = self.file.get_ref();
        metadata::write(f, &self.dir, &meta)?;
        f.sync_all().map_err(|e| StorageError::io(&self.dir, e))?;
        invalidate_parent(&self.dir)?;
        // Syncs the object directory, and the parents of those it made.
        let name = format!("{}.data", timestamp.internal());
        tmpfile::place(
            &mut self.staging.staged,
            f,
            &self.dir,
            &name,
            self.dirs_created,
        )?;
        self.staging.done = true;
        DiskStore::cleanup(&self.dir, self.before.take(), (timestamp, FileKind::Data))
    }
}

impl ObjectStore for DiskStore {
    fn check_device(&self, device: &str, for_write: bool) -> Result<()> {
        let p = self.devices.path(device)?;
        if for_write {
            self.devices.check_space(device, &p)?;
        }
        Ok(())
    }

    fn state(&self, key: &ObjectKey) -> Result<ObjectState> {
        Ok(self.load(key)?.0)
    }

    fn open(&self, key: &ObjectKey) -> Result<Option<(ObjectInfo, Box<dyn ObjectReader>)>> {
        let (state, file) = self.load(key)?;
        match (state, file) {
            (ObjectState::Present(info), Some(file)) => {
                let reader = DiskReader {
                    file,
                    md5: Some(BodyHasher::new(Some(info.content_length))),
                    pos: 0,
                    size: info.content_length,
                    etag: info.etag.clone(),
                    store: self.clone(),
                    key: key.clone(),
                };
                Ok(Some((info, Box::new(reader))))
            }
            _ => Ok(None),
        }
    }

    fn create(&self, key: &ObjectKey, size_hint: Option<u64>) -> Result<Box<dyn ObjectWriter>> {
        let dev = self.devices.path(&key.device)?;
        let dir = self.object_dir_in(&dev, key)?;
        let created = mkdirs_count(&dir)?;
        let w = self.writer(key, &dev, dir, None, created, None, size_hint)?;
        Ok(Box::new(w))
    }

    fn create_if(
        &self,
        key: &ObjectKey,
        size_hint: Option<u64>,
        accept: &mut dyn FnMut(&ObjectState) -> bool,
    ) -> Result<Option<Box<dyn ObjectWriter>>> {
        let dev = self.devices.path(&key.device)?;
        self.devices.check_space(&key.device, &dev)?;
        let dir = self.object_dir_in(&dev, key)?;
        // Most PUTs are of new objects: making the directory first tells
        // whether there is anything to list, and makes it in one call when
        // its suffix exists. An existing one is opened once, to list it and
        // then to hold the new file and be synced.
        let (created, dir_file, before) = match fs::create_dir(&dir) {
            Ok(()) => (1, None, Vec::new()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let above = match dir.parent() {
                    Some(sfx) => mkdirs_count_new(sfx)?,
                    None => 0,
                };
                (above + mkdirs_count_new(&dir)?, None, Vec::new())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let d = tmpfile::open_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
                let names = tmpfile::list_open_dir(&d).map_err(|e| StorageError::io(&dir, e))?;
                (0, Some(d), parse_names(names))
            }
            Err(e) => return Err(StorageError::io(&dir, e)),
        };
        let state = if before.is_empty() {
            ObjectState::Missing
        } else {
            self.load_listed(key, dir.clone(), &before)?.0
        };
        if !accept(&state) {
            return Ok(None);
        }
        let w = self.writer(key, &dev, dir, dir_file, created, Some(before), size_hint)?;
        Ok(Some(Box::new(w)))
    }

    fn post(&self, key: &ObjectKey, timestamp: Timestamp, meta: Metadata) -> Result<()> {
        self.write_marker(key, timestamp, FileKind::Meta, &meta)
    }

    fn delete(&self, key: &ObjectKey, timestamp: Timestamp) -> Result<()> {
        let mut meta = Metadata::new();
        meta.insert("name".into(), key.name());
        meta.insert("X-Timestamp".into(), timestamp.internal());
        self.write_marker(key, timestamp, FileKind::Tombstone, &meta)
    }

    fn suffix_hashes(
        &self,
        device: &str,
        partition: &str,
        policy: u32,
    ) -> Result<BTreeMap<String, String>> {
        let dev = self.devices.path(device)?;
        let (_, h) = hashes::get_hashes(
            &dev,
            partition,
            policy,
            &[],
            false,
            hashes::DEFAULT_RECLAIM_AGE,
        )?;
        Ok(h)
    }

    fn device_path(&self, device: &str) -> Result<Option<PathBuf>> {
        Ok(Some(self.devices.path(device)?))
    }

    fn invalidate_suffixes(
        &self,
        device: &str,
        partition: &str,
        policy: u32,
        suffixes: &[String],
    ) -> Result<()> {
        let part = hashes::partition_dir(&self.devices.path(device)?, policy, partition);
        for sfx in suffixes.iter().filter(|s| hashes::valid_suffix(s)) {
            hashes::invalidate_hash(&part.join(sfx))?;
        }
        Ok(())
    }

    fn save_async_update(&self, key: &ObjectKey, update: &AsyncUpdate) -> Result<()> {
        let dev = self.devices.path(&key.device)?;
        let hash = self
            .salt
            .hash_path_hex(&update.account, Some(&update.container), Some(&update.obj))
            .map_err(|e| StorageError::InvalidName(e.to_string()))?;
        replication::write_async_pending(&dev, key.policy, &hash, update)
    }
}
