//! placeholder
use crate::conf::server_conf::{ServerConf, SwiftConf};
/// Builds the app.
pub fn app_from_conf(_c: &ServerConf, _s: &SwiftConf) -> Result<axum::Router, String> {
    Err("account server not built yet".into())
}
