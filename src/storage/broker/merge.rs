//! How an object row merges into a container database, by Swift's rules:
//! the data (size, ETag, deleted), the content type and the metadata time
//! each come from whichever of the new and the stored row is newer for that
//! timestamp, and the three times are stored encoded in `created_at`.
//!
//! Rows are keyed by name and storage policy, as Swift keys them. The
//! `swift_bytes` parameter of a content type belongs to the data, so it
//! follows the data timestamp while the rest of the content type follows
//! the content-type timestamp.

use rusqlite::{params, Connection, OptionalExtension};

use super::ObjectRow;
use crate::storage::timestamp::{decode_timestamps, encode_timestamps};
use crate::storage::{Result, Timestamp};

/// The data, content-type and metadata times of a new row: an explicit
/// content-type time also moves the metadata time, as Swift's merge does.
pub fn row_times(r: &ObjectRow) -> (Timestamp, Timestamp, Timestamp) {
    let data = r.ts;
    let ctype = r.ctype_ts.unwrap_or(data);
    let meta = r.meta_ts.unwrap_or(ctype);
    (data, ctype, meta)
}

/// Splits a content type into itself without `swift_bytes` (its other
/// parameters rewritten as `;k=v`) and the `swift_bytes` value, as Swift's
/// `extract_swift_bytes` does.
pub fn extract_swift_bytes(content_type: &str) -> (String, Option<String>) {
    let Some((base, params)) = content_type.split_once(';') else {
        return (content_type.to_string(), None);
    };
    let mut out = base.to_string();
    let mut swift_bytes = None;
    let rest = format!(";{params}");
    for cap in param_pattern().captures_iter(&rest) {
        let key = cap.get(1).map_or("", |m| m.as_str()).trim();
        let value = cap.get(2).map_or("", |m| m.as_str()).trim();
        if key == "swift_bytes" {
            swift_bytes = Some(value.to_string());
        } else {
            out.push_str(&format!(";{key}={value}"));
        }
    }
    (out, swift_bytes)
}

/// Swift's RFC 2616 parameter pattern (`;token[=token|"quoted"]`).
fn param_pattern() -> &'static regex::Regex {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        let token = r#"[^()<>@,;:\\"/\[\]?={}\x00-\x20\x7f]+"#;
        let pat = format!(r#"(?:\s*;\s*({token})\s*(?:=\s*({token}|"(?:[^"\\]|\\.)*"))?)"#);
        regex::Regex::new(&pat).expect("a valid pattern")
    })
}

/// The stored row of a name and policy; `deleted IN (0, 1)` lets SQLite
/// search the (deleted, name) index instead of scanning the table.
pub(super) const OBJECT_FIND: &str = "SELECT created_at, size, content_type, etag, deleted \
     FROM object WHERE deleted IN (0, 1) AND name = ?1 AND storage_policy_index = ?2";
pub(super) const OBJECT_DELETE: &str =
    "DELETE FROM object WHERE deleted IN (0, 1) AND name = ?1 AND storage_policy_index = ?2";
const OBJECT_INSERT: &str = "INSERT INTO object \
     (name, created_at, size, content_type, etag, deleted, storage_policy_index) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// The stored row for a name and policy, as the merge compares it.
struct Stored {
    created_at: String,
    size: i64,
    content_type: String,
    etag: String,
    deleted: i64,
}

/// Merges `r` into the object table of `tx`: nothing changes unless one of
/// its three timestamps is newer than the stored row's; otherwise the
/// stored row is replaced by the combination of the newest parts.
pub fn merge_object(tx: &Connection, r: &ObjectRow) -> Result<()> {
    let stored: Option<Stored> = tx
        .prepare_cached(OBJECT_FIND)?
        .query_row(params![r.name, r.policy], |row| {
            Ok(Stored {
                created_at: row.get::<_, Option<String>>(0)?.unwrap_or_default(),
                size: row.get::<_, Option<i64>>(1)?.unwrap_or(0),
                content_type: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                etag: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                deleted: row.get::<_, Option<i64>>(4)?.unwrap_or(0),
            })
        })
        .optional()?;
    let (mut data, mut ctype, mut meta) = row_times(r);
    let mut size = if r.deleted { 0 } else { r.size as i64 };
    let (mut etag, mut deleted) = (r.etag.clone(), i64::from(r.deleted));
    let mut content_type = r.content_type.clone();
    if let Some(old) = &stored {
        let zero = Timestamp::default();
        let (old_data, old_ctype, old_meta) =
            decode_timestamps(&old.created_at).unwrap_or((zero, zero, zero));
        let (new_ct, mut swift_bytes) = extract_swift_bytes(&content_type);
        let (old_ct, old_swift_bytes) = extract_swift_bytes(&old.content_type);
        content_type = new_ct;
        let mut newer = false;
        if old_data >= data {
            (size, etag, deleted) = (old.size, old.etag.clone(), old.deleted);
            swift_bytes = old_swift_bytes;
            data = old_data;
        } else {
            newer = true;
        }
        if old_ctype >= ctype {
            content_type = old_ct;
            ctype = old_ctype;
        } else {
            newer = true;
        }
        if old_meta >= meta {
            meta = old_meta;
        } else {
            newer = true;
        }
        if !newer {
            return Ok(());
        }
        if let Some(b) = swift_bytes {
            content_type.push_str(&format!(";swift_bytes={b}"));
        }
        tx.prepare_cached(OBJECT_DELETE)?
            .execute(params![r.name, r.policy])?;
    }
    tx.prepare_cached(OBJECT_INSERT)?.execute(params![
        r.name,
        encode_timestamps(data, ctype, meta),
        size,
        content_type,
        etag,
        deleted,
        r.policy
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swift_bytes_is_split_from_the_other_parameters() {
        assert_eq!(
            extract_swift_bytes("text/plain"),
            ("text/plain".into(), None)
        );
        assert_eq!(
            extract_swift_bytes("text/plain; charset=UTF-8;swift_bytes=12; x"),
            ("text/plain;charset=UTF-8;x=".into(), Some("12".into()))
        );
        assert_eq!(
            extract_swift_bytes(r#"a/b;q="x;y""#),
            (r#"a/b;q="x;y""#.into(), None)
        );
    }
}
