//! Short disk reads for the object server (opening an object: its directory,
//! metadata and, for a small GET, its body) on a few long-lived threads, each
//! fed by its own queue and picked by the device the read is for.
//!
//! Handing a read to a waiting thread through a channel costs much less
//! than tokio's blocking pool (no task to allocate and track, and a thread
//! that is busy takes the next queued read without being woken again), so a
//! HEAD costs little more than answering it inline would, yet the async
//! runtime never waits for a disk. A disk that hangs holds up only the
//! queue its device hashes to, not every request the server has; long work
//! (bodies streamed in or out, fsyncs) stays on tokio's blocking pool.

use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

use axum::http::StatusCode;

use super::http::ApiError;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of read queues; each starts its thread on first use.
pub struct DiskReads {
    queues: Vec<OnceLock<Sender<Job>>>,
}

impl DiskReads {
    /// `queues` queues (at least one).
    pub fn new(queues: usize) -> Self {
        DiskReads {
            queues: (0..queues.max(1)).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Runs `f` on the queue for `device` and waits (asynchronously) for it.
    pub async fn run<T: Send + 'static>(
        &self,
        device: &str,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.queue(device)
            .send(job)
            .map_err(|_| internal("disk read thread is gone"))?;
        // A job that panicked dropped its sender: the thread lives on.
        rx.await
            .map_err(|_| internal("disk read failed"))
            .and_then(|r| r)
    }

    fn queue(&self, device: &str) -> &Sender<Job> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        device.hash(&mut h);
        let i = (h.finish() % self.queues.len() as u64) as usize;
        self.queues[i].get_or_init(|| {
            let (tx, rx) = channel::<Job>();
            let spawned = std::thread::Builder::new()
                .name(format!("disk-reads-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                // The receiver is gone with the closure: sends fail with a 500.
                tracing::error!("cannot start a disk read thread: {e}");
            }
            tx
        })
    }
}

fn internal(msg: &str) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_off_the_runtime_and_survives_a_panic() {
        let reads = DiskReads::new(2);
        let here = std::thread::current().id();
        let there = reads
            .run("sda1", || Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_ne!(here, there);
        // The same device always goes to the same thread.
        let again = reads
            .run("sda1", || Ok(std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(there, again);
        let panicked = reads.run("sda1", || -> Result<(), ApiError> { panic!("boom") });
        assert_eq!(
            panicked.await.unwrap_err().status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(reads.run("sda1", || Ok(7)).await.unwrap(), 7);
    }
}
