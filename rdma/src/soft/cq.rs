//! Completion queues of the soft backend: a fixed ring of completions plus the list of
//! QPs whose progress a poll drives.
//!
//! Polling a CQ first progresses every QP attached to it (their sockets), so the thread
//! that busy-polls completions is also the one that moves bytes: no extra thread hop.
//! A poll takes no lock of the CQ's own: the ring is a lock-free bounded queue
//! (`crossbeam_queue::ArrayQueue`) and the QP list a snapshot read through `arc_swap`,
//! replaced only when a QP is attached or found dropped. The only lock a poll takes is
//! each attached QP's state lock, uncontended unless the application posts to that QP
//! from another thread at the same moment ([`super::lock_count`] counts them). The
//! ring is allocated once; pushing and popping never allocate.
//!
//! This module must not do I/O itself; QPs do it when progressed.

use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;

use crate::soft::qp::QpShared;
use crate::verbs::Completion;

/// A soft completion queue.
#[derive(Debug)]
pub(crate) struct Cq {
    ring: ArrayQueue<Completion>,
    qps: ArcSwap<Vec<Weak<QpShared>>>,
    overrun: AtomicBool,
}

impl Cq {
    /// A queue holding up to `depth` completions (at least 1).
    pub(crate) fn new(depth: usize) -> Arc<Cq> {
        Arc::new(Cq {
            ring: ArrayQueue::new(depth.max(1)),
            qps: ArcSwap::from_pointee(Vec::new()),
            overrun: AtomicBool::new(false),
        })
    }

    /// Capacity in completions.
    pub(crate) fn depth(&self) -> usize {
        self.ring.capacity()
    }

    /// True once a completion was dropped because the ring was full.
    pub(crate) fn overrun(&self) -> bool {
        self.overrun.load(Ordering::Relaxed)
    }

    /// Free slots right now (a QP drains its completions only while this is non-zero).
    pub(crate) fn free(&self) -> usize {
        self.ring.capacity() - self.ring.len()
    }

    /// Stores a completion; when the ring is full it is dropped and the CQ marked overrun
    /// (the verbs "CQ overrun" fatal error; QPs check [`Cq::free`] first to avoid it).
    pub(crate) fn push(&self, c: Completion) {
        if self.ring.push(c).is_err() {
            self.overrun.store(true, Ordering::Relaxed);
        }
    }

    /// Attaches a QP so polls progress it (set-up time; allocates a new list).
    pub(crate) fn attach(&self, qp: &Arc<QpShared>) {
        self.qps.rcu(|qps| {
            let mut next: Vec<Weak<QpShared>> = qps
                .iter()
                .filter(|w| w.strong_count() > 0)
                .cloned()
                .collect();
            if !next
                .iter()
                .any(|w| core::ptr::eq(w.as_ptr(), Arc::as_ptr(qp)))
            {
                next.push(Arc::downgrade(qp));
            }
            next
        });
    }

    /// Progresses the attached QPs, then moves completions into `out`.
    pub(crate) fn poll(&self, out: &mut [Completion]) -> usize {
        let mut dead = false;
        for weak in self.qps.load().iter() {
            match weak.upgrade() {
                Some(qp) => {
                    qp.progress();
                }
                None => dead = true,
            }
        }
        if dead {
            // A QP was dropped: forget it (allocates once per dropped QP, not per poll).
            self.qps.rcu(|qps| {
                qps.iter()
                    .filter(|w| w.strong_count() > 0)
                    .cloned()
                    .collect::<Vec<_>>()
            });
        }
        let mut n = 0;
        for slot in out.iter_mut() {
            match self.ring.pop() {
                Some(c) => {
                    *slot = c;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wc(wr_id: u64) -> Completion {
        Completion {
            wr_id,
            ..Completion::default()
        }
    }

    #[test]
    fn ring_is_fifo_and_bounded() {
        let cq = Cq::new(3);
        for id in 0..3 {
            cq.push(wc(id));
        }
        assert_eq!(cq.free(), 0);
        assert!(!cq.overrun());
        cq.push(wc(99));
        assert!(cq.overrun(), "a push into a full ring is an overrun");
        let mut out = [Completion::default(); 2];
        assert_eq!(cq.poll(&mut out), 2);
        assert_eq!((out[0].wr_id, out[1].wr_id), (0, 1));
        cq.push(wc(3));
        cq.push(wc(4));
        let mut out = [Completion::default(); 8];
        assert_eq!(cq.poll(&mut out), 3);
        assert_eq!([out[0].wr_id, out[1].wr_id, out[2].wr_id], [2, 3, 4]);
        assert_eq!(cq.poll(&mut out), 0);
    }
}
