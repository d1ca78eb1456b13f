//! Per-container pacing (`max_objects_per_container_per_second`), as
//! Swift's bucketized limiter: updates map to buckets by a salted hash of
//! their container; an update whose bucket is busy is deferred (at most
//! `max_deferred_updates` in all, the oldest evicted and skipped), and once
//! every pending has been offered the deferred ones drain, newest first,
//! until the pass's time (`interval`) is up. What is left is skipped.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use super::SweepStats;

struct Bucket<T> {
    /// Seconds (on the caller's clock) when the bucket may send again.
    next: f64,
    queue: VecDeque<T>,
}

/// What the drain phase says to do next.
#[derive(Debug, PartialEq)]
pub enum Drain<T> {
    Ready(T),
    /// Nothing is ready: sleep this many seconds and ask again.
    Wait(f64),
    Done,
}

/// The buckets of one device's sweep.
pub struct Buckets<T> {
    per: f64,
    buckets: Vec<Bucket<T>>,
    /// Bucket index of every deferred update, oldest first.
    deferred: VecDeque<usize>,
    max_deferred: usize,
    salt: u64,
}

impl<T> Buckets<T> {
    /// `rate` updates per second per bucket (0 or less: no limit).
    pub fn new(rate: f64, buckets: usize, max_deferred: usize) -> Self {
        let n = buckets.max(1);
        Buckets {
            per: if rate > 0.0 { 1.0 / rate } else { 0.0 },
            buckets: (0..n)
                .map(|_| Bucket {
                    next: f64::NEG_INFINITY,
                    queue: VecDeque::new(),
                })
                .collect(),
            deferred: VecDeque::new(),
            max_deferred,
            salt: rand::random(),
        }
    }

    fn key(&self, account: &str, container: &str) -> usize {
        let mut h = DefaultHasher::new();
        (self.salt, account, container).hash(&mut h);
        (h.finish() % self.buckets.len() as u64) as usize
    }

    /// Offers an update at time `now`: `Some` to send it now, `None` if it
    /// was deferred (or skipped).
    pub fn offer(
        &mut self,
        account: &str,
        container: &str,
        item: T,
        now: f64,
        stats: &mut SweepStats,
    ) -> Option<T> {
        if self.per == 0.0 {
            return Some(item);
        }
        let i = self.key(account, container);
        let b = &mut self.buckets[i];
        if now >= b.next {
            b.next = b.next.max(now) + self.per;
            return Some(item);
        }
        stats.deferrals += 1;
        if self.max_deferred == 0 {
            stats.skips += 1;
            return None;
        }
        if self.deferred.len() >= self.max_deferred {
            if let Some(oldest) = self.deferred.pop_front() {
                self.buckets[oldest].queue.pop_front();
                stats.skips += 1;
            }
        }
        self.buckets[i].queue.push_back(item);
        self.deferred.push_back(i);
        None
    }

    /// The next deferred update to send, the readiest bucket first.
    pub fn drain(&mut self, now: f64, until: f64, stats: &mut SweepStats) -> Drain<T> {
        let Some(i) = (0..self.buckets.len())
            .filter(|&i| !self.buckets[i].queue.is_empty())
            .min_by(|&a, &b| self.buckets[a].next.total_cmp(&self.buckets[b].next))
        else {
            return Drain::Done;
        };
        if now >= until {
            let left: usize = self.buckets.iter().map(|b| b.queue.len()).sum();
            stats.skips += left as u64;
            for b in &mut self.buckets {
                b.queue.clear();
            }
            return Drain::Done;
        }
        let b = &mut self.buckets[i];
        if b.next > now {
            return Drain::Wait(b.next - now);
        }
        b.next = b.next.max(now) + self.per;
        stats.drains += 1;
        match b.queue.pop_back() {
            Some(item) => Drain::Ready(item),
            None => Drain::Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defers_drains_and_skips() {
        let mut stats = SweepStats::default();
        let mut b = Buckets::new(1.0, 1, 2);
        assert_eq!(b.offer("a", "c", 1, 0.0, &mut stats), Some(1));
        assert_eq!(b.offer("a", "c", 2, 0.1, &mut stats), None);
        assert_eq!(b.offer("a", "c", 3, 0.2, &mut stats), None);
        // The queue is full: the oldest deferred update is skipped.
        assert_eq!(b.offer("a", "c", 4, 0.3, &mut stats), None);
        assert_eq!((stats.deferrals, stats.skips), (3, 1));
        assert_eq!(b.drain(0.5, 10.0, &mut stats), Drain::Wait(0.5));
        assert_eq!(b.drain(1.0, 10.0, &mut stats), Drain::Ready(4));
        // Time is up: the rest is skipped.
        assert_eq!(b.drain(11.0, 10.0, &mut stats), Drain::Done);
        assert_eq!((stats.drains, stats.skips), (1, 2));
        assert_eq!(stats.deferrals, stats.drains + stats.skips);
    }

    #[test]
    fn no_rate_means_no_limit() {
        let mut stats = SweepStats::default();
        let mut b = Buckets::new(0.0, 10, 10);
        for i in 0..100 {
            assert_eq!(b.offer("a", "c", i, 0.0, &mut stats), Some(i));
        }
        assert_eq!(b.drain(0.0, 1.0, &mut stats), Drain::Done);
    }
}
