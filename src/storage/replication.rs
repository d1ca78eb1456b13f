//! What the updater reads: async pendings, pickled update dicts under
//! `<dev>/async_pending[-N]/<hash[-3:]>/<hash>-<timestamp>`. (Suffix hashes
//! for replication live in `hashes`.)

use std::path::Path;

use super::atomic::write_file_atomic;
use super::hashpath::policy_dir;
use super::objstore::AsyncUpdate;
use super::pickle::Pickle;
use super::Result;

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
