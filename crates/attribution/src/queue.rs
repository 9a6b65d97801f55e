//! A bounded multi-producer multi-consumer queue of encoded events (Vyukov's bounded
//! array queue) whose slots hold the event in atomic words, so it needs no `unsafe`.
//!
//! # Synchronization
//! - `enqueue` / `dequeue` (`AtomicU64`, cache-padded): the next position to claim. A
//!   producer (consumer) claims a position with a `Relaxed` compare-exchange: the claim
//!   orders nothing by itself, the slot's `seq` does.
//! - `QueueSlot::seq` (`AtomicU64`): the slot's lap protocol. `seq == pos` means free for the
//!   producer of `pos`; `seq == pos + 1` means full for the consumer of `pos`; the consumer
//!   frees it with `seq = pos + capacity`. Each side publishes with a `Release` store after
//!   touching the words and observes with an `Acquire` load before touching them, so the
//!   producer's word writes happen before the consumer's reads, and the consumer's reads
//!   happen before the next lap's writes.
//! - `QueueSlot::words` (`AtomicU64`s): the payload, `Relaxed`, ordered by `seq`.

use crate::event::EVENT_WORDS;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
struct QueueSlot {
    seq: AtomicU64,
    words: [AtomicU64; EVENT_WORDS],
}

#[derive(Debug)]
pub(crate) struct EventQueue {
    slots: Box<[QueueSlot]>,
    mask: u64,
    enqueue: CachePadded<AtomicU64>,
    dequeue: CachePadded<AtomicU64>,
}

impl EventQueue {
    /// `capacity` must be a power of two ≥ 2 (the service validates it).
    pub(crate) fn new(capacity: usize) -> EventQueue {
        let slots = (0..capacity as u64)
            .map(|i| QueueSlot {
                seq: AtomicU64::new(i),
                words: Default::default(),
            })
            .collect();
        EventQueue {
            slots,
            mask: capacity as u64 - 1,
            enqueue: CachePadded::new(AtomicU64::new(0)),
            dequeue: CachePadded::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Appends `words`; `false` when the queue is full (nothing written).
    pub(crate) fn push(&self, words: &[u64; EVENT_WORDS]) -> bool {
        // Relaxed: only a hint of where to try; the CAS below claims.
        let mut pos = self.enqueue.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[(pos & self.mask) as usize];
            // Acquire: pairs with the consumer's Release store that freed this slot.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos) as i64;
            if diff == 0 {
                // Relaxed: claiming a position publishes nothing; `seq` does.
                match self.enqueue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        for (dst, &w) in slot.words.iter().zip(words) {
                            // Relaxed: ordered by the Release store of `seq` below.
                            dst.store(w, Ordering::Relaxed);
                        }
                        // Release: pairs with the consumer's Acquire load of `seq`.
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        return true;
                    }
                    Err(actual) => pos = actual,
                }
            } else if diff < 0 {
                return false;
            } else {
                // Relaxed: another producer moved on; re-read the hint.
                pos = self.enqueue.load(Ordering::Relaxed);
            }
        }
    }

    /// Removes the oldest entry, if any.
    pub(crate) fn pop(&self) -> Option<[u64; EVENT_WORDS]> {
        // Relaxed: a hint; the CAS below claims.
        let mut pos = self.dequeue.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[(pos & self.mask) as usize];
            // Acquire: pairs with the producer's Release store after writing the words.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos.wrapping_add(1)) as i64;
            if diff == 0 {
                // Relaxed: claiming publishes nothing; `seq` does.
                match self.dequeue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let mut out = [0u64; EVENT_WORDS];
                        for (o, src) in out.iter_mut().zip(&slot.words) {
                            // Relaxed: ordered by the Acquire load of `seq` above.
                            *o = src.load(Ordering::Relaxed);
                        }
                        // Release: pairs with the next lap's producer Acquire load.
                        slot.seq
                            .store(pos.wrapping_add(self.mask + 1), Ordering::Release);
                        return Some(out);
                    }
                    Err(actual) => pos = actual,
                }
            } else if diff < 0 {
                return None;
            } else {
                // Relaxed: another consumer moved on; re-read the hint.
                pos = self.dequeue.load(Ordering::Relaxed);
            }
        }
    }

    /// Entries queued (approximate while producers run).
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a gauge for reporting only.
        let e = self.enqueue.load(Ordering::Relaxed);
        let d = self.dequeue.load(Ordering::Relaxed);
        (e.wrapping_sub(d) as i64).clamp(0, self.slots.len() as i64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn w(x: u64) -> [u64; EVENT_WORDS] {
        [x; EVENT_WORDS]
    }

    #[test]
    fn fifo_and_full() {
        let q = EventQueue::new(4);
        for i in 0..4 {
            assert!(q.push(&w(i)));
        }
        assert!(!q.push(&w(9)), "full");
        assert_eq!(q.len(), 4);
        for i in 0..4 {
            assert_eq!(q.pop(), Some(w(i)));
        }
        assert_eq!(q.pop(), None);
        // Wraps around many laps.
        for i in 0..100 {
            assert!(q.push(&w(i)));
            assert_eq!(q.pop(), Some(w(i)));
        }
    }

    #[test]
    fn concurrent_producers_lose_nothing() {
        let q = Arc::new(EventQueue::new(64));
        let producers = 4;
        let per = 5_000u64;
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || {
                    for i in 0..per {
                        let v = p * per + i;
                        while !q.push(&w(v)) {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut seen = vec![false; (producers * per) as usize];
        let mut got = 0;
        let mut last = vec![None::<u64>; producers as usize];
        while got < producers * per {
            if let Some(x) = q.pop() {
                assert!(x.iter().all(|&y| y == x[0]), "torn slot");
                let v = x[0];
                assert!(!seen[v as usize]);
                seen[v as usize] = true;
                // Per-producer FIFO.
                let p = (v / per) as usize;
                assert!(last[p].is_none_or(|l| l < v));
                last[p] = Some(v);
                got += 1;
            } else {
                std::thread::yield_now();
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        assert!(seen.iter().all(|&s| s));
    }
}
