//! The harness every storage server runs on: config, pipeline filters,
//! tracing, binding, worker processes (`workers`) and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tokio::net::TcpListener;

use crate::conf::server_conf::{load_swift_conf, ServerConf, SwiftConf};

/// Which server a binary runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Object,
    Container,
    Account,
}

impl ServerKind {
    /// The app section / log name: `object-server`.
    pub fn app_name(self) -> &'static str {
        match self {
            ServerKind::Object => "object-server",
            ServerKind::Container => "container-server",
            ServerKind::Account => "account-server",
        }
    }

    /// Swift's default port for the server.
    pub fn default_port(self) -> u16 {
        match self {
            ServerKind::Object => 6200,
            ServerKind::Container => 6201,
            ServerKind::Account => 6202,
        }
    }

    /// Builds the app router (without pipeline filters), `OPTIONS` and the
    /// `replication_server` role included.
    pub fn app(self, conf: &ServerConf, swift: &SwiftConf) -> Result<Router, String> {
        let app = match self {
            ServerKind::Object => super::object::app_from_conf(conf, swift),
            ServerKind::Container => super::container::app_from_conf(conf, swift),
            ServerKind::Account => super::account::app_from_conf(conf, swift),
        }?;
        let replication = conf
            .get("replication_server")
            .is_none_or(crate::conf::server_conf::config_true);
        let app = super::options::layer(app, self, replication);
        let invalid = match self {
            ServerKind::Account => "Invalid UTF8",
            _ => "Invalid UTF8 or contains NULL",
        };
        Ok(super::http::require_utf8_path(app, invalid))
    }
}

/// Wraps an app in the filters named by `[pipeline:main]` (recon is
/// `crate::recon::endpoint::layer`).
pub fn with_pipeline(app: Router, pipeline: &[String]) -> Router {
    let health = pipeline.iter().any(|f| f == "healthcheck");
    app.layer(middleware::from_fn(
        move |req: Request, next: Next| async move {
            let path = req.uri().path();
            if health && path == "/healthcheck" && req.method() == Method::GET {
                return Response::new(Body::from("OK"));
            }
            next.run(req).await
        },
    ))
}

/// Serves `app` on `listener` until `shutdown` completes, then drains connections.
/// Connections are read through `target_io`, so a raw high byte in a
/// request path reaches the app as `%XX`. They run with `TCP_NODELAY`: a streamed answer (an SSYNC exchange,
/// a listing) goes out in small writes, and Nagle's algorithm would hold
/// each one back until the peer's delayed ACK (some 40 ms).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    axum::serve(super::target_io::EncodingListener(listener), app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs a request's handling in a task of its own, started at once (not
/// when the returned future is first polled), so that it goes on to its end
/// when the connection drops before the answer (the answer is then dropped,
/// unsent): a write given up half-way would leave some replicas or updates
/// made and others not. A body cut short still fails the request, as it
/// would have. Swift's servers behave the same way: a request's green
/// thread runs to its end whatever the client does. A handler that panics
/// is answered 500.
pub fn run_to_completion(
    handling: impl Future<Output = Response<Body>> + Send + 'static,
) -> impl Future<Output = Response<Body>> + Send + 'static {
    use axum::response::IntoResponse;
    let task = tokio::spawn(handling);
    async move {
        task.await.unwrap_or_else(|e| {
            super::http::ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                .into_response()
        })
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

pub fn init_tracing(level: &str) {
    let level = match level.to_ascii_uppercase().as_str() {
        "DEBUG" => "debug",
        "WARNING" | "WARN" => "warn",
        "ERROR" | "CRITICAL" => "error",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

const USAGE: &str = "Usage: swift-{kind}-server CONFIG_FILE [-v|--verbose]";

/// The whole of a server binary: `swift-object-server /etc/swift/object-server.conf`.
pub fn main(kind: ServerKind) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = USAGE.replace("{kind}", kind.app_name().trim_end_matches("-server"));
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{usage}");
        return ExitCode::SUCCESS;
    }
    let Some(conf_path) = args.iter().find(|a| !a.starts_with('-')) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    match run(kind, PathBuf::from(conf_path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swift-{}: {e}", kind.app_name());
            ExitCode::from(1)
        }
    }
}

/// Loads config, binds, builds the app and serves until signalled: in this
/// process, or in `workers` forked processes when `workers` is 2 or more.
pub fn run(kind: ServerKind, conf_path: PathBuf) -> Result<(), String> {
    let conf = ServerConf::load(&conf_path, kind.app_name(), kind.default_port())
        .map_err(|e| e.to_string())?;
    init_tracing(&conf.log_level);
    let swift = load_swift_conf(&conf.swift_dir).map_err(|e| e.to_string())?;
    let app = crate::recon::endpoint::layer(kind.app(&conf, &swift)?, &conf, &swift);
    let app = with_pipeline(app, &conf.pipeline);
    let addr: SocketAddr = format!("{}:{}", conf.bind_ip, conf.bind_port)
        .parse()
        .or_else(|_| format!("[{}]:{}", conf.bind_ip, conf.bind_port).parse())
        .map_err(|_| format!("bad bind address {}:{}", conf.bind_ip, conf.bind_port))?;
    let listener =
        std::net::TcpListener::bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
    tracing::info!(
        "{} listening on {addr} (devices {})",
        kind.app_name(),
        conf.devices.display()
    );
    if conf.workers >= 2 {
        return super::workers::run(conf.workers, listener, |listener| {
            serve_std(listener, app.clone(), 1)
        });
    }
    serve_std(listener, app, conf.workers)
}

/// Serves on a bound std listener with a runtime of `threads` workers
/// until SIGTERM or Ctrl-C, then drains connections.
fn serve_std(listener: std::net::TcpListener, app: Router, threads: usize) -> Result<(), String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        serve(listener, app, shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    })
}
