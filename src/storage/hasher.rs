//! Body MD5s for ETags, computed inline for small bodies and on a helper
//! thread for large ones, so hashing runs beside the disk and network copies
//! instead of after them.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use super::hashpath::hex;
use bytes::Bytes;
use md5::{Digest, Md5};

/// Bodies this large (or larger, when announced) are hashed on a helper thread.
pub const THREADED_MIN: u64 = 4 << 20;
/// Bytes gathered before a batch goes to the helper thread (one wake-up each).
const BATCH: usize = 512 << 10;
/// Batches queued for the helper thread before senders wait: about 8 MiB,
/// so the hasher keeps working through a stall of the thread feeding it
/// (a write held up by the disk, a preemption) instead of idling.
const QUEUE: usize = 16;

enum State {
    Inline(Md5),
    Threaded {
        tx: SyncSender<Vec<Bytes>>,
        done: JoinHandle<Md5>,
        /// Chunks not sent yet, and their length.
        batch: Vec<Bytes>,
        batched: usize,
    },
}

/// An MD5 fed in chunks, finished once into lower-case hex.
pub struct BodyHasher {
    state: State,
    fed: u64,
    /// Whether the body is announced as large (threaded from the first chunk).
    large: bool,
}

impl BodyHasher {
    /// A hasher for a body of `expected` bytes (if known): threaded when
    /// large, from the first chunk on (no thread until then).
    pub fn new(expected: Option<u64>) -> Self {
        BodyHasher {
            state: State::Inline(Md5::new()),
            fed: 0,
            large: expected.is_some_and(|n| n >= THREADED_MIN),
        }
    }

    fn go_threaded(&mut self) {
        let State::Inline(md5) = &self.state else {
            return;
        };
        let mut md5 = md5.clone();
        let (tx, rx) = sync_channel::<Vec<Bytes>>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("md5".into())
            .spawn(move || {
                for batch in rx {
                    for chunk in batch {
                        md5.update(&chunk);
                    }
                }
                md5
            });
        // Without a thread (resource limits) hashing simply stays inline.
        if let Ok(done) = spawned {
            self.state = State::Threaded {
                tx,
                done,
                batch: Vec::new(),
                batched: 0,
            };
        }
    }

    /// Adds a chunk; large bodies move to the helper thread once past `THREADED_MIN`.
    pub fn update(&mut self, chunk: &Bytes) {
        self.fed += chunk.len() as u64;
        if self.large || self.fed >= THREADED_MIN {
            self.go_threaded();
        }
        match &mut self.state {
            State::Inline(md5) => md5.update(chunk),
            State::Threaded {
                tx, batch, batched, ..
            } => {
                *batched += chunk.len();
                batch.push(chunk.clone());
                if *batched >= BATCH {
                    *batched = 0;
                    // The thread only stops when the sender is gone, so a send cannot fail.
                    let _ = tx.send(std::mem::take(batch));
                }
            }
        }
    }

    /// Adds borrowed bytes (copied when the hashing is threaded).
    pub fn update_slice(&mut self, chunk: &[u8]) {
        match &mut self.state {
            State::Inline(md5) if !self.large && self.fed + (chunk.len() as u64) < THREADED_MIN => {
                self.fed += chunk.len() as u64;
                md5.update(chunk);
            }
            _ => self.update(&Bytes::copy_from_slice(chunk)),
        }
    }

    /// Bytes fed so far.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// The hex digest of everything fed so far (waits for the helper thread;
    /// more chunks may follow).
    pub fn finish(&mut self) -> String {
        let state = std::mem::replace(&mut self.state, State::Inline(Md5::new()));
        let md5 = match state {
            State::Inline(md5) => md5,
            // The thread cannot panic (it only hashes); a join error leaves no digest.
            State::Threaded {
                tx, done, batch, ..
            } => {
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                drop(tx);
                done.join().unwrap_or_default()
            }
        };
        let digest = hex(&md5.clone().finalize());
        self.state = State::Inline(md5);
        digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn inline_and_threaded_agree_with_one_shot_md5() {
        for (n, announce) in [
            (0, None),
            (11, Some(11)),
            (9 << 20, None),
            (9 << 20, Some(9 << 20)),
        ] {
            let data = body(n);
            let want = hex(&md5::Md5::digest(&data));
            let mut h = BodyHasher::new(announce);
            for (i, c) in data.chunks(300_001).enumerate() {
                if i % 2 == 0 {
                    h.update(&Bytes::copy_from_slice(c));
                } else {
                    h.update_slice(c);
                }
            }
            assert_eq!(h.fed(), n as u64);
            assert_eq!(h.finish(), want, "size {n}");
            assert_eq!(h.finish(), want, "finish is repeatable");
        }
    }
}
