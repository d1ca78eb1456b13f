//! Building the proxy from its config and serving it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONNECTION;
use axum::http::{Method, Version};
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;

use super::backend::Backend;
use super::cache::Cache;
use super::cors::CorsConf;
use super::info::InfoCache;
use super::nodes::{Affinity, ErrorLimiter};
use super::rings::Rings;
use super::tempauth::TempAuth;
use crate::conf::proxy_conf::{Filter, ProxyConf};
use crate::conf::swift_conf::{StoragePolicies, SwiftConf};
use crate::servers::harness;
use crate::servers::target_io::EncodedTargets;

/// The proxy app's settings (`[app:proxy-server]`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub account_autocreate: bool,
    pub allow_account_management: bool,
    pub affinity: Affinity,
    /// Handoffs looked at beyond the primaries (`request_node_count` − replicas).
    pub extra_nodes: usize,
    pub client_timeout: Duration,
    /// `swift_owner_headers`: headers only owners see or set (lower case).
    pub owner_headers: Vec<String>,
    pub cors: CorsConf,
}

/// Swift's default `swift_owner_headers`.
const OWNER_HEADERS: &str = "x-container-read, x-container-write, \
     x-container-sync-key, x-container-sync-to, \
     x-account-meta-temp-url-key, x-account-meta-temp-url-key-2, \
     x-container-meta-temp-url-key, x-container-meta-temp-url-key-2, \
     x-account-access-control";

/// Everything a request needs: settings, rings, the backend client, caches
/// and the enabled middlewares.
pub struct Proxy {
    pub conf: ProxyConf,
    pub settings: Settings,
    pub rings: Rings,
    pub policies: StoragePolicies,
    pub backend: Arc<Backend>,
    pub cache: Cache,
    pub info: InfoCache,
    pub auth: Option<TempAuth>,
}

impl Proxy {
    /// Builds the proxy: reads `swift.conf` and the rings from `swift_dir`.
    pub fn new(conf: ProxyConf) -> Result<Proxy, String> {
        let swift =
            SwiftConf::load(&conf.swift_dir.join("swift.conf")).map_err(|e| e.to_string())?;
        let hash = swift.hash_path_conf().map_err(|e| e.to_string())?;
        let policies = swift.policies().map_err(|e| e.to_string())?;
        let indexes: Vec<u32> = policies.iter().map(|p| p.index).collect();
        let rings = Rings::load(&conf.swift_dir, hash, &indexes)?;
        let affinity = Affinity::from_conf(
            conf.get("sorting_method"),
            conf.get("read_affinity"),
            conf.get("write_affinity"),
            conf.get("write_affinity_node_count"),
        )?;
        let settings = Settings {
            account_autocreate: conf.get_bool("account_autocreate", false),
            allow_account_management: conf.get_bool("allow_account_management", false),
            affinity,
            extra_nodes: conf.get_f64("request_node_count_extra", 3.0) as usize,
            client_timeout: Duration::from_secs_f64(conf.get_f64("client_timeout", 60.0)),
            owner_headers: conf
                .get("swift_owner_headers")
                .unwrap_or(OWNER_HEADERS)
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            cors: CorsConf::from_conf(&conf),
        };
        let limiter = ErrorLimiter::new(
            conf.get_f64("error_suppression_limit", 10.0) as u32,
            Duration::from_secs_f64(conf.get_f64("error_suppression_interval", 60.0)),
        );
        let mut backend = Backend::new(
            Duration::from_secs_f64(conf.get_f64("conn_timeout", 0.5)),
            Duration::from_secs_f64(conf.get_f64("node_timeout", 10.0)),
            limiter,
        );
        backend.post_quorum_timeout =
            Duration::from_secs_f64(conf.get_f64("post_quorum_timeout", 0.5).max(0.0));
        let backend = Arc::new(backend);
        let cache = if conf.has(Filter::Cache) {
            Cache::from_conf(&conf.filter(Filter::Cache), &conf.swift_dir)
        } else {
            Cache::in_process()
        };
        let auth = if conf.has(Filter::TempAuth) {
            Some(TempAuth::new(&conf)?)
        } else {
            None
        };
        Ok(Proxy {
            settings,
            rings,
            policies,
            backend,
            cache,
            info: InfoCache::new(),
            auth,
            conf,
        })
    }
}

/// The proxy as an axum app: every request goes through the pipeline.
pub fn app(proxy: Arc<Proxy>) -> Router {
    Router::new().fallback(handle).with_state(proxy)
}

async fn handle(State(proxy): State<Arc<Proxy>>, req: Request<Body>) -> Response {
    let close = closes_after(&req);
    let mut r = super::pipeline::handle(proxy, req).await;
    if close {
        r.headers_mut()
            .insert(CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    r
}

/// Whether the connection ends with this request's answer as Swift's
/// server (eventlet) ends it, saying `Connection: close`: an HTTP/1.0
/// request that does not ask for keep-alive (its `Connection` header is not
/// exactly `keep-alive`). hyper would close it without saying so. (An
/// HTTP/1.1 request with `Connection: close` gets the header from hyper.)
fn closes_after(req: &Request<Body>) -> bool {
    let keep_alive = req.headers().get(CONNECTION).is_some_and(|v| {
        v.as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"keep-alive")
    });
    req.version() == Version::HTTP_10 && !keep_alive
}

/// The service for one connection: every request but a read runs in a task
/// of its own, started as soon as hyper hands the request over, and goes on
/// to its end even when its client goes away once its body is sent (see
/// [`harness::run_to_completion`]): each replica gets the write and its
/// answer is read, and the request is logged, as Swift's proxy finishes it.
/// Reads stop with their client.
fn connection_service(
    app: Router,
) -> impl hyper::service::Service<
    Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let handling = tower::ServiceExt::oneshot(app.clone(), req.map(Body::new));
        let handling = async move { handling.await.unwrap_or_else(|never| match never {}) };
        let answer = if read {
            futures::future::Either::Left(handling)
        } else {
            futures::future::Either::Right(harness::run_to_completion(handling))
        };
        async move { Ok(answer.await) }
    })
}

/// Serves `app` over HTTP/1.1 until `shutdown`, then lets open requests
/// finish. Connections are read through `target_io`: a raw high byte in a
/// request path reaches the pipeline as `%XX`, as Swift decodes both alike. Header names go out in Title-Case, as Swift's WSGI server sends
/// them: some clients compare names case-sensitively (hyper would lowercase
/// them). A client that shuts its side of the connection once its request
/// is sent (half-close) still gets the answer, as from Swift's server.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let svc = connection_service(app.clone());
                let conn = hyper::server::conn::http1::Builder::new()
                    .title_case_headers(true)
                    .half_close(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(EncodedTargets::new(stream)), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
}

const USAGE: &str = "Usage: swift-proxy-server CONFIG_FILE [-v|--verbose]";

/// The whole `swift-proxy-server` binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let Some(conf_path) = args.iter().find(|a| !a.starts_with('-')) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(PathBuf::from(conf_path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swift-proxy-server: {e}");
            ExitCode::from(1)
        }
    }
}

/// Loads the config, then serves until SIGTERM or Ctrl-C.
pub fn run(conf_path: PathBuf) -> Result<(), String> {
    let conf = ProxyConf::load(&conf_path).map_err(|e| e.to_string())?;
    harness::init_tracing(&conf.log_level);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(conf.workers)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let addr: SocketAddr = format!("{}:{}", conf.bind_ip, conf.bind_port)
            .parse()
            .or_else(|_| format!("[{}]:{}", conf.bind_ip, conf.bind_port).parse())
            .map_err(|_| format!("bad bind address {}:{}", conf.bind_ip, conf.bind_port))?;
        let proxy = Arc::new(Proxy::new(conf)?);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot bind {addr}: {e}"))?;
        tracing::info!("proxy-server listening on {addr}");
        serve(listener, app(proxy), harness::shutdown_signal()).await;
        Ok(())
    })
}
