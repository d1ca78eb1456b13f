//! The front both database servers (account and container) share: the
//! router, replication requests handed to `db_replicate`, a request read
//! into its path, method, headers, query and database before each server's
//! own handling, and the open-or-404 of a database that must exist.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;

use super::http::{split_path, ApiError, ApiResult};
use super::listing::{params_read, query_params, DbServer};
use super::listing::{ACCOUNT_GET_PARAMS, CONTAINER_GET_PARAMS};
use crate::storage::broker::{Broker, DbKind};

/// A request to a database server, read as far as both servers read it
/// before choosing what to do.
pub struct DbRequest {
    /// The path's parts: device, partition, account, then the container
    /// and object as far as the path names them.
    pub p: Vec<String>,
    pub method: String,
    pub h: HeaderMap,
    /// The query parameters the method reads.
    pub q: BTreeMap<String, String>,
    /// The account's (or container's) database.
    pub path: PathBuf,
}

impl DbRequest {
    /// Reads `req` for a `kind` server: an account server takes
    /// `/<dev>/<part>/<a>[/<c>]`, a container server
    /// `/<dev>/<part>/<a>/<c>[/<o>]`.
    fn read(s: &DbServer, kind: DbKind, req: &Request) -> Result<DbRequest, ApiError> {
        let (min, get_params) = match kind {
            DbKind::Account => (3, ACCOUNT_GET_PARAMS),
            DbKind::Container => (4, CONTAINER_GET_PARAMS),
        };
        let p = split_path(req.uri().path(), min, min + 1)?;
        let method = req.method().as_str().to_string();
        let h = req.headers().clone();
        let q = query_params(req.uri().query(), params_read(&method, get_params))?;
        let container = (kind == DbKind::Container).then(|| p[3].as_str());
        let path = s.locate(kind, &p[0], &p[1], &p[2], container)?;
        Ok(DbRequest {
            p,
            method,
            h,
            q,
            path,
        })
    }
}

/// A `kind` database server as a router: `REPLICATE` and `PUSHDB` go to
/// `db_replicate`, every other request, once read, to `dispatch`; errors
/// become answers.
pub fn db_router<F, Fut>(server: Arc<DbServer>, kind: DbKind, dispatch: F) -> Router
where
    F: Fn(Arc<DbServer>, DbRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ApiResult> + Send + 'static,
{
    let handle = move |State(s): State<Arc<DbServer>>, req: Request| {
        let dispatch = dispatch.clone();
        async move {
            let answer = if super::db_replicate::handles(req.method().as_str()) {
                super::db_replicate::handle(s, kind, req).await
            } else {
                match DbRequest::read(&s, kind, &req) {
                    Ok(r) => dispatch(s, r).await,
                    Err(e) => Err(e),
                }
            };
            answer.unwrap_or_else(IntoResponse::into_response)
        }
    };
    Router::new().fallback(handle).with_state(server)
}

/// A 404 with no body.
pub fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "")
}

/// The `kind` database at `path`, which must exist and not be deleted
/// (else a 404). Blocking: call it inside `blocking`.
pub fn open_existing(path: &Path, kind: DbKind) -> Result<Broker, ApiError> {
    let b = Broker::open(path, kind)?.ok_or_else(not_found)?;
    if b.is_deleted()? {
        return Err(not_found());
    }
    Ok(b)
}
