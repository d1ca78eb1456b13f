//! `OPTIONS` on a storage server, answered as Swift's servers answer it:
//! 200 on any path, with the methods the server takes in `Allow` and its
//! type in `Server` (`swift-recon --validate-servers` reads the latter).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

use super::harness::ServerKind;

impl ServerKind {
    /// The request methods this server answers, sorted as Swift lists them.
    pub fn allowed_methods(self) -> &'static [&'static str] {
        match self {
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
        }
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

/// Answers `OPTIONS` on any path before the app sees the request.
pub fn layer(app: Router, kind: ServerKind) -> Router {
    let allow = HeaderValue::from_str(&kind.allowed_methods().join(", "))
        .unwrap_or(HeaderValue::from_static(""));
    let server =
        HeaderValue::from_str(&kind.server_header()).unwrap_or(HeaderValue::from_static("swift"));
    app.layer(middleware::from_fn(move |req: Request, next: Next| {
        let (allow, server) = (allow.clone(), server.clone());
        async move {
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
