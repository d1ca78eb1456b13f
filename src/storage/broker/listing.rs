//! Listings: objects of a container or containers of an account, with
//! `prefix`, `delimiter`, `marker`, `end_marker`, `limit` and `reverse`.

use rusqlite::types::Value;

use super::{Broker, DbKind};
use crate::storage::Result;

/// Listing parameters as the servers receive them.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub prefix: String,
    pub delimiter: Option<char>,
    pub marker: String,
    pub end_marker: String,
    pub limit: usize,
    pub reverse: bool,
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

impl Broker {
    fn query_batch(
        &self,
        p: &ListParams,
        marker: &str,
        end: &str,
        n: usize,
    ) -> Result<Vec<ListRow>> {
        let (cols, table) = match self.kind {
            DbKind::Container => ("name, created_at, size, content_type, etag", "object"),
            DbKind::Account => ("name, object_count, bytes_used, put_timestamp", "container"),
        };
        let mut sql = format!("SELECT {cols} FROM {table} WHERE deleted = 0");
        let mut args: Vec<Value> = Vec::new();
        let (lo, hi) = if p.reverse {
            (end, marker)
        } else {
            (marker, end)
        };
        if !lo.is_empty() {
            sql.push_str(" AND name > ?");
            args.push(Value::Text(lo.into()));
        }
        if !hi.is_empty() {
            sql.push_str(" AND name < ?");
            args.push(Value::Text(hi.into()));
        }
        if !p.prefix.is_empty() {
            sql.push_str(" AND name >= ? AND substr(name, 1, ?) = ?");
            args.push(Value::Text(p.prefix.clone()));
            args.push(Value::Integer(p.prefix.chars().count() as i64));
            args.push(Value::Text(p.prefix.clone()));
        }
        sql.push_str(if p.reverse {
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
                },
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Lists live rows in name order (or reverse), rolling names up to
    /// `subdir`s at the first delimiter after the prefix.
    pub fn list(&self, p: &ListParams) -> Result<Vec<ListRow>> {
        let mut out = Vec::new();
        let mut marker = p.marker.clone();
        let end = p.end_marker.clone();
        let limit = p.limit;
        'outer: while out.len() < limit {
            let want = limit - out.len();
            let rows = self.query_batch(p, &marker, &end, want)?;
            let got = rows.len();
            for row in rows {
                let name = row.name().to_string();
                if let Some(d) = p.delimiter {
                    let rest = &name[p.prefix.len()..];
                    if let Some(i) = rest.find(d) {
                        let subdir = format!("{}{}", p.prefix, &rest[..i + d.len_utf8()]);
                        if subdir != p.marker {
                            out.push(ListRow::Subdir(subdir.clone()));
                        }
                        marker = if p.reverse {
                            subdir
                        } else {
                            format!(
                                "{}{}",
                                &subdir[..subdir.len() - d.len_utf8()],
                                char::from_u32(d as u32 + 1).unwrap_or(d)
                            )
                        };
                        continue 'outer;
                    }
                }
                marker = name;
                out.push(row);
                if out.len() >= limit {
                    break 'outer;
                }
            }
            if got < want {
                break;
            }
        }
        Ok(out)
    }
}
