//! The proxy server: the client-facing Swift API in front of the storage
//! nodes.
//!
//! A request passes through the middlewares named by `[pipeline:main]`
//! (`pipeline`), then reaches a controller for its account, container or
//! object (`account`, `container`, `object`, `object_put`). Controllers find
//! nodes in the rings (`rings`, `nodes`) and talk to them through `backend`.

// Early answers travel as `Err(Response)`: a response is the natural error
// value of a request handler here, and it is built once per request.
#![allow(clippy::result_large_err)]

mod account;
mod account_acl;
mod backend;
mod cache;
mod container;
mod copy;
mod cors;
mod dlo;
mod headers;
mod info;
mod listing;
mod memcache;
mod mime_types;
mod nodes;
mod object;
mod object_put;
mod pipeline;
mod putter;
pub mod quorum;
mod rings;
mod server;
mod swift_info;
mod tempauth;
mod writes;

pub use server::{app, main, run, Proxy};
