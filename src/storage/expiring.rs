//! Names in the expiring-objects queue, as Swift 2.38 spells them.
//!
//! An object with `X-Delete-At` is recorded as a row in the hidden account
//! `.expiring_objects`: container `task_container(delete_at, hash)` (the
//! period's start, offset back by the object's hash modulo 100, as ten
//! digits), object `"<delete_at>-<account>/<container>/<object>"`. The
//! row's content type is `text/plain;swift_expirer_bytes=<size>`.

/// The hidden account holding the queue.
pub const ACCOUNT: &str = ".expiring_objects";
/// Seconds per task-container period (Swift's default divisor).
pub const DIVISOR: u64 = 86400;
/// Task containers per period.
pub const PER_DIVISOR: u128 = 100;
/// Content type of queue rows (before `;swift_expirer_bytes=`).
pub const ROW_TYPE: &str = "text/plain";

/// Swift's `normalize_delete_at_timestamp`: ten digits, clamped.
pub fn normalize(t: u64) -> String {
    format!("{:010}", t.min(9_999_999_999))
}

/// The task container for an object expiring at `delete_at`, given the
/// hex `hash_path(account, container, object)` of the object.
pub fn task_container(delete_at: u64, object_hash_hex: &str) -> String {
    let shard = u128::from_str_radix(object_hash_hex, 16).unwrap_or(0) % PER_DIVISOR;
    let start = i128::from(delete_at / DIVISOR * DIVISOR);
    normalize((start - shard as i128).max(0) as u64)
}

/// The task object naming the object to delete.
pub fn task_object(delete_at: u64, account: &str, container: &str, object: &str) -> String {
    format!("{}-{account}/{container}/{object}", normalize(delete_at))
}

/// Splits a task object into `(delete_at, account, container, object)`.
pub fn parse_task_object(name: &str) -> Option<(u64, String, String, String)> {
    let (ts, path) = name.split_once('-')?;
    let at = ts.split('.').next()?.parse().ok()?;
    let mut parts = path.splitn(3, '/');
    let (a, c, o) = (parts.next()?, parts.next()?, parts.next()?);
    if a.is_empty() || c.is_empty() || o.is_empty() {
        return None;
    }
    Some((at, a.into(), c.into(), o.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        // 0x64 = 100: shard 0; 0x65: shard 1.
        let h = |n: &str| format!("{n:0>32}");
        assert_eq!(task_container(1_795_313_762, &h("64")), "1795305600");
        assert_eq!(task_container(1_795_313_762, &h("65")), "1795305599");
        assert_eq!(task_object(42, "a", "c", "o/x"), "0000000042-a/c/o/x");
        assert_eq!(
            parse_task_object("1795313762-AUTH_test/c/o/x"),
            Some((1_795_313_762, "AUTH_test".into(), "c".into(), "o/x".into()))
        );
        assert_eq!(parse_task_object("1795313762-AUTH_test/c"), None);
    }
}
