//! What replication and the updater read: suffix hashes and async pendings.
//!
//! A suffix hash is the MD5 over, for each object directory in the suffix
//! (sorted), the timestamps and extensions of its files that count (`.meta`,
//! `.ts`, then `.data`). `hashes.pkl` caches them beside the partition as a
//! pickled dict. Async pendings are pickled update dicts under
//! `<dev>/async_pending[-N]/<hash[-3:]>/<hash>-<timestamp>`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use md5::{Digest, Md5};

use super::atomic::write_file_atomic;
use super::diskfile::list_files;
use super::hashpath::{hex, policy_dir};
use super::objstore::{select, AsyncUpdate};
use super::pickle::Pickle;
use super::{Result, StorageError, Timestamp};

/// Hash of one suffix directory, or `None` if it holds no live files.
pub fn suffix_hash(suffix_dir: &Path) -> Result<Option<String>> {
    let mut names: Vec<_> = match fs::read_dir(suffix_dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(suffix_dir, e)),
    };
    names.sort();
    let mut md5 = Md5::new();
    let mut any = false;
    for name in names {
        let sel = select(&list_files(&suffix_dir.join(&name))?);
        let parts = [
            (sel.meta, ".meta"),
            (sel.tombstone, ".ts"),
            (sel.data, ".data"),
        ];
        for (t, ext) in parts {
            if let Some(t) = t {
                md5.update(t.internal().as_bytes());
                md5.update(ext.as_bytes());
                any = true;
            }
        }
    }
    Ok(any.then(|| hex(&md5.finalize())))
}

/// Hashes every suffix of a partition and refreshes its `hashes.pkl`.
pub fn partition_hashes(
    dev: &Path,
    partition: &str,
    policy: u32,
) -> Result<BTreeMap<String, String>> {
    let part_dir = dev.join(policy_dir("objects", policy)).join(partition);
    let mut out = BTreeMap::new();
    let rd = match fs::read_dir(&part_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StorageError::io(&part_dir, e)),
    };
    for entry in rd.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let Some(sfx) = name.to_str() else { continue };
        if sfx.len() != 3 || !sfx.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        if let Some(h) = suffix_hash(&entry.path())? {
            out.insert(sfx.to_string(), h);
        }
    }
    let mut items: Vec<(Pickle, Pickle)> = out
        .iter()
        .map(|(k, v)| (Pickle::Str(k.clone()), Pickle::Str(v.clone())))
        .collect();
    items.push((Pickle::Str("valid".into()), Pickle::Bool(true)));
    items.push((
        Pickle::Str("updated".into()),
        Pickle::Float(Timestamp::now().as_f64()),
    ));
    write_file_atomic(
        &part_dir.join("hashes.pkl"),
        &Pickle::Dict(items).dumps(),
        &dev.join(policy_dir("tmp", policy)),
    )?;
    Ok(out)
}

/// The pickle Swift's object updater expects for one pending update.
pub fn async_pickle(update: &AsyncUpdate, policy: u32) -> Pickle {
    let headers = update
        .headers
        .iter()
        .map(|(k, v)| {
            let value = if k.eq_ignore_ascii_case("X-Backend-Storage-Policy-Index") {
                v.parse()
                    .map(Pickle::Int)
                    .unwrap_or_else(|_| Pickle::Str(v.clone()))
            } else {
                Pickle::Str(v.clone())
            };
            (Pickle::Str(k.clone()), value)
        })
        .chain(std::iter::once((
            Pickle::Str("X-Backend-Storage-Policy-Index".into()),
            Pickle::Int(i64::from(policy)),
        )))
        .collect::<Vec<_>>();
    // Keep the policy header once (an explicit one wins).
    let mut seen = false;
    let headers: Vec<_> = headers
        .into_iter()
        .filter(|(k, _)| {
            if k.as_text()
                .is_some_and(|k| k.eq_ignore_ascii_case("X-Backend-Storage-Policy-Index"))
            {
                let first = !seen;
                seen = true;
                first
            } else {
                true
            }
        })
        .collect();
    Pickle::Dict(vec![
        (Pickle::Str("op".into()), Pickle::Str(update.op.clone())),
        (
            Pickle::Str("account".into()),
            Pickle::Str(update.account.clone()),
        ),
        (
            Pickle::Str("container".into()),
            Pickle::Str(update.container.clone()),
        ),
        (Pickle::Str("obj".into()), Pickle::Str(update.obj.clone())),
        (Pickle::Str("headers".into()), Pickle::Dict(headers)),
        (Pickle::Str("db_state".into()), Pickle::None),
    ])
}

/// Writes one async pending file.
pub fn write_async_pending(
    dev: &Path,
    policy: u32,
    hash: &str,
    update: &AsyncUpdate,
) -> Result<()> {
    let path = dev
        .join(policy_dir("async_pending", policy))
        .join(&hash[29..])
        .join(format!("{hash}-{}", update.timestamp.internal()));
    write_file_atomic(
        &path,
        &async_pickle(update, policy).dumps(),
        &dev.join(policy_dir("tmp", policy)),
    )
}
