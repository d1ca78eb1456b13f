//! `OPTIONS` on a storage server, answered as Swift's servers answer it:
//! 200 on any path, with the methods the server takes in `Allow` and its
//! type in `Server` (`swift-recon --validate-servers` reads the latter).
//! Also the `replication_server` role: set to false, a server refuses the
//! replication verbs with 405 (and leaves them out of `Allow`), so the
//! replicators can be kept on a separate network and port.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use super::harness::ServerKind;

/// The verbs only replication uses (Swift marks REPLICATE and SSYNC so;
/// PUSHDB is this project's database copy, so it belongs with them).
const REPLICATION_METHODS: [&str; 3] = ["PUSHDB", "REPLICATE", "SSYNC"];

impl ServerKind {
    /// The request methods this server answers, sorted as Swift lists them;
    /// without the replication verbs when `replication` is false.
    pub fn allowed_methods(self, replication: bool) -> Vec<&'static str> {
        let all: &[&str] = match self {
            ServerKind::Object => &[
                "DELETE",
                "GET",
                "HEAD",
                "OPTIONS",
                "POST",
                "PUT",
                "REPLICATE",
                "SSYNC",
            ],
            // PUSHDB is this project's stand-in for rsync between database
            // replicators; Swift's container server also takes UPDATE
            // (container sharding), which this one does not.
            ServerKind::Container | ServerKind::Account => &[
                "DELETE",
                "GET",
                "HEAD",
                "OPTIONS",
                "POST",
                "PUSHDB",
                "PUT",
                "REPLICATE",
            ],
        };
        all.iter()
            .copied()
            .filter(|m| replication || !REPLICATION_METHODS.contains(m))
            .collect()
    }

    /// The `Server` header: `<type>-server/<version>`.
    pub fn server_header(self) -> String {
        format!(
            "{}/ferroswift-{}",
            self.app_name(),
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// Answers `OPTIONS` on any path before the app sees the request, and
/// refuses the replication verbs with 405 unless `replication` (Swift's
/// `replication_server`, true unless set false) is on.
pub fn layer(app: Router, kind: ServerKind, replication: bool) -> Router {
    let allow = HeaderValue::from_str(&kind.allowed_methods(replication).join(", "))
        .unwrap_or(HeaderValue::from_static(""));
    let server =
        HeaderValue::from_str(&kind.server_header()).unwrap_or(HeaderValue::from_static("swift"));
    app.layer(middleware::from_fn(move |req: Request, next: Next| {
        let (allow, server) = (allow.clone(), server.clone());
        async move {
            if !replication && REPLICATION_METHODS.contains(&req.method().as_str()) {
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                return resp;
            }
            if req.method() != Method::OPTIONS {
                return next.run(req).await;
            }
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::OK;
            let h = resp.headers_mut();
            h.insert(header::ALLOW, allow);
            h.insert(header::SERVER, server);
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=UTF-8"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            resp
        }
    }))
}
