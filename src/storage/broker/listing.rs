//! Listings: objects of a container or containers of an account, with
//! `prefix`, `delimiter`, `marker`, `end_marker`, `limit` and `reverse`.

use rusqlite::types::Value;

use super::{Broker, DbKind};
use crate::storage::Result;

/// Listing parameters as the servers receive them.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub prefix: String,
    /// Rolls names up to `subdir`s at its first occurrence after the prefix
    /// (any length, as Swift allows).
    pub delimiter: Option<String>,
    pub marker: String,
    pub end_marker: String,
    pub limit: usize,
    pub reverse: bool,
    /// Container `?path=`: the direct children of a pseudo-directory.
    pub path: Option<String>,
}

/// One listing entry.
#[derive(Debug, Clone, PartialEq)]
pub enum ListRow {
    Object {
        name: String,
        created_at: String,
        size: i64,
        content_type: String,
        etag: String,
    },
    Container {
        name: String,
        object_count: i64,
        bytes_used: i64,
        put_timestamp: String,
        storage_policy_index: i64,
    },
    Subdir(String),
}

impl ListRow {
    pub fn name(&self) -> &str {
        match self {
            ListRow::Object { name, .. }
            | ListRow::Container { name, .. }
            | ListRow::Subdir(name) => name,
        }
    }
}

/// The smallest string above every name that starts with `s` (its last
/// character bumped by one).
fn bump_last(s: &str) -> String {
    let mut out: String = s.to_string();
    if let Some(c) = out.pop() {
        out.push(char::from_u32(c as u32 + 1).unwrap_or(c));
    }
    out
}

/// The bounds of one query of a listing walk.
struct Bounds<'a> {
    /// `name < below`, when set.
    below: Option<&'a str>,
    /// `name > above` (or `>=` when `inclusive`), when set.
    above: Option<&'a str>,
    inclusive: bool,
}

impl Broker {
    fn query_batch(&self, b: &Bounds, reverse: bool, n: usize) -> Result<Vec<ListRow>> {
        let (cols, table) = match self.kind {
            DbKind::Container => ("name, created_at, size, content_type, etag", "object"),
            DbKind::Account => (
                "name, object_count, bytes_used, put_timestamp, storage_policy_index",
                "container",
            ),
        };
        let mut sql = format!("SELECT {cols} FROM {table} WHERE deleted = 0");
        if self.kind == DbKind::Container {
            // Only the container's own policy, as Swift lists: rows of
            // another policy wait there for the reconciler.
            sql.push_str(
                " AND storage_policy_index = (SELECT storage_policy_index FROM container_info)",
            );
        }
        let mut args: Vec<Value> = Vec::new();
        if let Some(v) = b.below {
            sql.push_str(" AND name < ?");
            args.push(Value::Text(v.into()));
        }
        if let Some(v) = b.above {
            sql.push_str(if b.inclusive {
                " AND name >= ?"
            } else {
                " AND name > ?"
            });
            args.push(Value::Text(v.into()));
        }
        sql.push_str(if reverse {
            " ORDER BY name DESC"
        } else {
            " ORDER BY name"
        });
        sql.push_str(&format!(" LIMIT {n}"));
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let kind = self.kind;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok(match kind {
                DbKind::Container => ListRow::Object {
                    name: r.get(0)?,
                    created_at: r.get(1)?,
                    size: r.get(2)?,
                    content_type: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    etag: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                },
                DbKind::Account => ListRow::Container {
                    name: r.get(0)?,
                    object_count: r.get(1)?,
                    bytes_used: r.get(2)?,
                    put_timestamp: r.get(3)?,
                    storage_policy_index: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                },
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Lists live rows in name order (or reverse), the way Swift's brokers
    /// walk them: names under `prefix` between the markers, rolled up to a
    /// `subdir` at the first delimiter after the prefix (each subdir once,
    /// the walk skipping past it), or with `path` only the direct children
    /// of that pseudo-directory.
    pub fn list(&self, p: &ListParams) -> Result<Vec<ListRow>> {
        self.commit_pending()?;
        let (mut marker, mut end_marker) = if p.reverse {
            (p.end_marker.clone(), p.marker.clone())
        } else {
            (p.marker.clone(), p.end_marker.clone())
        };
        let (prefix, delimiter, path) = match &p.path {
            Some(path) => {
                let dir = if path.is_empty() {
                    String::new()
                } else {
                    format!("{}/", path.trim_end_matches('/'))
                };
                (dir.clone(), Some("/".to_string()), Some(dir))
            }
            None => (p.prefix.clone(), p.delimiter.clone(), None),
        };
        let end_prefix = (!prefix.is_empty()).then(|| bump_last(&prefix));
        let orig_marker = marker.clone();
        let mut force_gte = false;
        let mut out = Vec::new();
        while out.len() < p.limit {
            let below = match &end_prefix {
                _ if !end_marker.is_empty()
                    && end_prefix.as_ref().is_none_or(|e| end_marker < *e) =>
                {
                    Some(end_marker.as_str())
                }
                Some(e) => Some(e.as_str()),
                None => None,
            };
            let (above, inclusive) = if force_gte {
                (Some(marker.as_str()), true)
            } else if !marker.is_empty() && (prefix.is_empty() || marker >= prefix) {
                (Some(marker.as_str()), false)
            } else if !prefix.is_empty() {
                (Some(prefix.as_str()), true)
            } else {
                (None, false)
            };
            force_gte = false;
            let bounds = Bounds {
                below,
                above,
                inclusive,
            };
            let rows = self.query_batch(&bounds, p.reverse, p.limit - out.len())?;
            let Some(d) = delimiter.as_deref().filter(|d| !d.is_empty()) else {
                out.extend(rows);
                return Ok(out);
            };
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let name = row.name().to_string();
                if p.reverse {
                    end_marker = name.clone();
                } else {
                    marker = name.clone();
                }
                let end = name
                    .get(prefix.len()..)
                    .and_then(|rest| rest.find(d))
                    .map(|i| i + prefix.len());
                if let Some(dir) = &path {
                    if name == *dir {
                        continue;
                    }
                    match end {
                        Some(e) if name.len() > e + d.len() => {
                            if p.reverse {
                                end_marker = name[..e + d.len()].to_string();
                            } else {
                                marker = format!("{}{}", &name[..e], bump_last(d));
                            }
                            break;
                        }
                        _ => {}
                    }
                } else if let Some(e) = end {
                    if p.reverse {
                        end_marker = name[..e + d.len()].to_string();
                    } else {
                        marker = format!("{}{}", &name[..e], bump_last(d));
                        force_gte = true;
                    }
                    let dir_name = &name[..e + d.len()];
                    if dir_name != orig_marker {
                        out.push(ListRow::Subdir(dir_name.to_string()));
                    }
                    break;
                }
                out.push(row);
                if out.len() >= p.limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Timestamp;

    fn names(rows: &[ListRow]) -> Vec<&str> {
        rows.iter().map(ListRow::name).collect()
    }

    /// Expected answers are what Swift 2.38.3's container server lists for
    /// the same names and queries.
    #[test]
    fn walks_listings_as_swift_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let ts = Timestamp::now();
        let b = Broker::create(&path, DbKind::Container, "a", Some("c"), ts, 0).unwrap();
        for n in [
            "a-&b",
            "a-&c/d",
            "a/b",
            "a/b/c",
            "a/c",
            "b",
            "dir1/",
            "dir1/f",
            "dir1/sub/",
            "dir1/sub/x",
        ] {
            b.put_object(n, ts, 0, "t", "e", false, 0).unwrap();
        }
        let list = |f: &dyn Fn(&mut ListParams)| {
            let mut p = ListParams {
                limit: 10_000,
                ..Default::default()
            };
            f(&mut p);
            names(&b.list(&p).unwrap())
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            list(&|p| p.delimiter = Some("-&".into())),
            [
                "a-&",
                "a/b",
                "a/b/c",
                "a/c",
                "b",
                "dir1/",
                "dir1/f",
                "dir1/sub/",
                "dir1/sub/x"
            ]
        );
        assert_eq!(
            list(&|p| p.path = Some("dir1".into())),
            ["dir1/f", "dir1/sub/"]
        );
        assert_eq!(
            list(&|p| p.path = Some(String::new())),
            ["a-&b", "b", "dir1/"]
        );
        assert_eq!(
            list(&|p| {
                p.reverse = true;
                p.marker = "b\0".into();
                p.end_marker = "a".into();
            }),
            ["b", "a/c", "a/b/c", "a/b", "a-&c/d", "a-&b"]
        );
        assert_eq!(
            list(&|p| {
                p.prefix = "a/".into();
                p.delimiter = Some("/".into());
            }),
            ["a/b", "a/b/", "a/c"]
        );
        assert_eq!(
            list(&|p| {
                p.delimiter = Some("/".into());
                p.reverse = true;
            }),
            ["dir1/", "b", "a/", "a-&c/", "a-&b"]
        );
        assert_eq!(
            list(&|p| {
                p.delimiter = Some("/".into());
                p.limit = 2;
            }),
            ["a-&b", "a-&c/"]
        );
    }
}
