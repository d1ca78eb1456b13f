//! Non-streamed writes to every replica (account and container PUT, POST,
//! DELETE; object POST and DELETE) and the shared header set they carry.
//! An object POST that only some primaries could apply also goes to
//! handoffs, as Swift's does.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, StatusCode};
use bytes::Bytes;

use super::backend::{Answer, Fanned};
use super::headers;
use super::nodes::NodeAddr;
use super::quorum::{best_answer, post_answer, post_handoffs};
use super::rings::RingKind;
use super::server::Proxy;

/// The outcome of a replicated write.
pub struct Written {
    pub status: StatusCode,
    pub answers: Vec<Answer>,
    /// The answer shown to the client (None: no quorum, a 503).
    pub chosen: Option<usize>,
}

impl Written {
    /// The client response: the chosen answer's status, headers and (for
    /// a failure) body.
    pub fn response(&self) -> Response<Body> {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = self.status;
        if let Some(a) = self.chosen.map(|i| &self.answers[i]) {
            *r.headers_mut() = headers::from_backend(&a.headers);
            r.headers_mut().remove("content-length");
            if !a.body.is_empty() && !self.status.is_success() {
                *r.body_mut() = Body::from(a.body.clone());
            }
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE && r.headers().is_empty() {
            return headers::error(StatusCode::SERVICE_UNAVAILABLE, None);
        }
        // Swift's answer is a new response, typed as its responses are by
        // default.
        if !r.headers().contains_key("content-type") {
            headers::set(r.headers_mut(), "content-type", "text/html; charset=UTF-8");
        }
        r
    }
}

/// Where the updates of a write go: `X-<Kind>-Host`/`-Device`/`-Partition`,
/// one share of the update nodes per backend slot.
pub fn update_headers(
    h: &mut HeaderMap,
    kind: &str,
    part: u32,
    nodes: &[NodeAddr],
    slot: usize,
    slots: usize,
) {
    let mine: Vec<&NodeAddr> = nodes
        .iter()
        .enumerate()
        .filter(|(j, _)| j % slots.max(1) == slot)
        .map(|(_, n)| n)
        .collect();
    if mine.is_empty() {
        return;
    }
    let hosts: Vec<String> = mine.iter().map(|n| n.host()).collect();
    let devs: Vec<&str> = mine.iter().map(|n| n.device.as_str()).collect();
    headers::set(h, &format!("x-{kind}-host"), &hosts.join(","));
    headers::set(h, &format!("x-{kind}-device"), &devs.join(","));
    headers::set(h, &format!("x-{kind}-partition"), &part.to_string());
}

impl Proxy {
    /// Sends a write to every primary (handoffs standing in for failures)
    /// and reduces the answers to one, as Swift's `make_requests` does:
    /// answered once a quorum agrees (see `Backend::fan_out`), the status
    /// chosen by `best_answer` with `overrides` (e.g. an object DELETE
    /// reads a 404 as 204 when nothing else makes a quorum).
    #[allow(clippy::too_many_arguments)]
    pub async fn write_replicas(
        &self,
        kind: RingKind,
        a: &str,
        c: Option<&str>,
        o: Option<&str>,
        method: Method,
        overrides: &[(u16, u16)],
        headers_for: impl Fn(usize, usize) -> HeaderMap,
    ) -> Written {
        let Some(nodes) = self.rings.nodes(kind, a, c, o, self.settings.extra_nodes) else {
            return Written {
                status: StatusCode::SERVICE_UNAVAILABLE,
                answers: Vec::new(),
                chosen: None,
            };
        };
        let order = self
            .settings
            .affinity
            .order_for_write(&nodes.primaries, &nodes.handoffs);
        let n = nodes.primaries.len();
        let (first, rest) = order.split_at(n.min(order.len()));
        let path = super::info::path_of(a, c, o);
        let fanned = Fanned {
            first,
            spare: rest,
            first_are_handoffs: false,
        };
        let is_post = method == Method::POST && matches!(kind, RingKind::Object(_));
        let (mut answers, unused) = self
            .backend
            .fan_out_over(fanned, nodes.part, method, &path, Bytes::new(), |i| {
                headers_for(i, n)
            })
            .await;
        let mut statuses: Vec<StatusCode> = answers.iter().map(|a| a.status).collect();
        let extra = if is_post {
            post_handoffs(&statuses, n)
        } else {
            0
        };
        let chosen = if is_post {
            if extra > 0 {
                // Swift's object POST when some primaries found the object
                // and others did not: the next handoffs get it too, with
                // the headers of the slots that did not find it.
                let missing: Vec<usize> = (0..statuses.len())
                    .filter(|&i| statuses[i] != StatusCode::ACCEPTED)
                    .collect();
                let handoffs: Vec<NodeAddr> = unused.into_iter().take(extra).collect();
                let more = Fanned {
                    first: &handoffs[..handoffs.len().min(missing.len())],
                    spare: &[],
                    first_are_handoffs: true,
                };
                let more = self
                    .backend
                    .fan_out_over(more, nodes.part, Method::POST, &path, Bytes::new(), |j| {
                        headers_for(missing[j], n)
                    })
                    .await
                    .0;
                statuses.extend(more.iter().map(|a| a.status));
                answers.extend(more);
            }
            post_answer(&statuses, n, n)
        } else {
            best_answer(&statuses, overrides)
        };
        Written {
            status: chosen.map_or(StatusCode::SERVICE_UNAVAILABLE, |i| statuses[i]),
            answers,
            chosen,
        }
    }
}
