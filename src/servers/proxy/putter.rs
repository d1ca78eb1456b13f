//! One backend request of a streamed object PUT (on a pooled connection)
//! and its `Expect: 100-continue` phase: a node that fails before asking for the
//! body (507, another 5xx, no answer in time, no connection) is
//! error-limited and the next handoff takes its place in the same request.
//! A backend body ends only when the proxy says the client's body is all
//! sent ([`BodyDone`]); stopped any other way it fails, so the node keeps
//! nothing of it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Error as ClientError;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::backend::Backend;
use super::nodes::NodeAddr;

/// A piece of the object body on its way to a backend.
pub type Chunk = Result<Bytes, std::io::Error>;

/// How many chunks may wait for a slow backend before the client waits.
const QUEUE: usize = 8;

/// A backend's final answer, once it comes.
type Answer = JoinHandle<Result<Response<Incoming>, ClientError>>;

/// A backend PUT past its expect phase.
pub enum Putter {
    /// The node asked for the body: it goes to `tx`, the final answer
    /// comes out of `answer`.
    Streaming {
        node: NodeAddr,
        tx: mpsc::Sender<Chunk>,
        answer: Answer,
    },
    /// The node gave its final answer before the body (e.g. 409, or 412
    /// for `If-None-Match: *`); it gets no body.
    Answered {
        status: StatusCode,
        headers: HeaderMap,
    },
}

/// Whether the whole body of a PUT went to its backends. Until it is set, a
/// backend body whose sender goes away (the client left or sent too much,
/// too few nodes remain, the request was dropped) fails instead of ending,
/// and the node discards what it got, as Swift's proxy closes its
/// connections without the body's end. (A chunked body that simply ended
/// would be stored cut short.)
#[derive(Debug, Clone, Default)]
pub struct BodyDone(Arc<AtomicBool>);

impl BodyDone {
    /// The body is complete: the backend bodies end once their senders go.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The nodes not yet tried, shared by every slot of one PUT (handoffs, in
/// the order the ring gives them).
pub type Spare = Mutex<VecDeque<NodeAddr>>;

/// Fills one slot: `first`, else the next untried node of `spare`, until one
/// passes the expect phase. `build` makes the request for a node around
/// the body it will stream (None: the request cannot be built).
pub async fn connect<F>(
    backend: &Arc<Backend>,
    first: NodeAddr,
    spare: &Spare,
    done: &BodyDone,
    build: F,
) -> Option<Putter>
where
    F: Fn(&NodeAddr, Body) -> Option<Request<Body>>,
{
    let mut next = Some(first);
    while let Some(node) = next.take() {
        if !backend.limiter.is_limited(&node) {
            if let Some(p) = try_node(backend, node, done, &build).await {
                return Some(p);
            }
        }
        next = spare.lock().ok().and_then(|mut s| s.pop_front());
    }
    None
}

/// Sends the request head to one node and waits (up to `conn_timeout` +
/// `node_timeout`) for its `100 Continue` or an early final answer.
/// Failures are counted against the node as Swift counts them: a 507
/// suppresses it at once, other 5xx answers, timeouts and transport errors
/// add one error. A pooled connection the node had closed is retried once
/// on a fresh one.
async fn try_node<F>(
    backend: &Arc<Backend>,
    node: NodeAddr,
    done: &BodyDone,
    build: &F,
) -> Option<Putter>
where
    F: Fn(&NodeAddr, Body) -> Option<Request<Body>>,
{
    for attempt in 1..=2 {
        let (tx, mut rx) = mpsc::channel::<Chunk>(QUEUE);
        let done = done.clone();
        let stream = futures::stream::poll_fn(move |cx| match rx.poll_recv(cx) {
            Poll::Ready(None) if !done.is_set() => Poll::Ready(Some(Err(std::io::Error::other(
                "the proxy stopped the body short",
            )))),
            next => next,
        });
        let mut req = build(&node, Body::from_stream(stream))?;
        let go_on = Arc::new(Notify::new());
        let signal = go_on.clone();
        hyper::ext::on_informational(&mut req, move |r| {
            if r.status() == StatusCode::CONTINUE {
                signal.notify_one();
            }
        });
        let mut answer = tokio::spawn(backend.start(req));
        let limit = backend.conn_timeout + backend.node_timeout;
        let phase = tokio::time::timeout(limit, async {
            tokio::select! {
                biased;
                done = &mut answer => Some(done),
                _ = go_on.notified() => None,
            }
        })
        .await;
        let why = match phase {
            Ok(None) => return Some(Putter::Streaming { node, tx, answer }),
            Ok(Some(Ok(Ok(resp)))) => {
                let status = resp.status();
                backend.note_status(&node, status);
                if status.is_server_error() {
                    return None;
                }
                let (parts, body) = resp.into_parts();
                let _ = tokio::time::timeout(backend.node_timeout, body.collect()).await;
                return Some(Putter::Answered {
                    status,
                    headers: parts.headers,
                });
            }
            Ok(Some(Ok(Err(e)))) if !e.is_connect() && attempt == 1 => continue,
            Ok(Some(Ok(Err(e)))) => e.to_string(),
            Ok(Some(Err(e))) => e.to_string(),
            Err(_) => {
                answer.abort();
                "timeout".to_string()
            }
        };
        backend
            .limiter
            .error(&node, &format!("Expect: 100-continue: {why}"));
        return None;
    }
    None
}

/// The final answer of a node that took the body: status and headers, or
/// None when it failed (the failure is counted against the node, unless
/// the proxy itself stopped the body).
pub async fn finish(
    backend: &Backend,
    node: &NodeAddr,
    mut answer: Answer,
) -> Option<(StatusCode, HeaderMap)> {
    let wait = backend.node_timeout + std::time::Duration::from_secs(1);
    match tokio::time::timeout(wait, &mut answer).await {
        Ok(Ok(Ok(resp))) => {
            backend.note_status(node, resp.status());
            let (parts, body) = resp.into_parts();
            let _ = tokio::time::timeout(backend.node_timeout, body.collect()).await;
            Some((parts.status, parts.headers))
        }
        Ok(Ok(Err(e))) => {
            // A body we stopped sending (the client failed or sent too
            // much) says nothing about the node.
            let aborted = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<hyper::Error>())
                .is_some_and(hyper::Error::is_body_write_aborted);
            if !aborted {
                backend.limiter.error(node, &format!("PUT: {e}"));
            }
            None
        }
        Ok(Err(_)) => None,
        Err(_) => {
            answer.abort();
            backend
                .limiter
                .error(node, "PUT: timeout waiting for the answer");
            None
        }
    }
}
