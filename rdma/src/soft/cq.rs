//! Completion queues of the soft backend: a fixed ring of completions plus the list of
//! QPs whose progress a poll drives.
//!
//! Polling a CQ first progresses every QP attached to it (their sockets), so the thread
//! that busy-polls completions is also the one that moves bytes: no extra thread hop.
//! The ring is allocated once; pushing and popping never allocate. Lock order: a QP's
//! state lock may be held while a CQ ring lock is taken, never the reverse.
//!
//! This module must not do I/O itself; QPs do it when progressed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::soft::qp::QpShared;
use crate::verbs::Completion;

/// A fixed-capacity FIFO of completions.
#[derive(Debug)]
struct Ring {
    slots: Box<[Completion]>,
    head: usize,
    len: usize,
}

impl Ring {
    fn new(depth: usize) -> Ring {
        Ring {
            slots: vec![Completion::default(); depth].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    fn free(&self) -> usize {
        self.slots.len() - self.len
    }

    /// Appends `c`; false (and nothing stored) when full.
    fn push(&mut self, c: Completion) -> bool {
        let depth = self.slots.len();
        if self.len == depth {
            return false;
        }
        let tail = (self.head + self.len) % depth;
        match self.slots.get_mut(tail) {
            Some(slot) => {
                *slot = c;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Moves up to `out.len()` completions into `out`, oldest first.
    fn pop_into(&mut self, out: &mut [Completion]) -> usize {
        let depth = self.slots.len();
        let n = self.len.min(out.len());
        for dst in out.iter_mut().take(n) {
            if let Some(c) = self.slots.get(self.head) {
                *dst = *c;
            }
            self.head = (self.head + 1) % depth;
        }
        self.len -= n;
        n
    }
}

/// A soft completion queue.
#[derive(Debug)]
pub(crate) struct Cq {
    ring: Mutex<Ring>,
    qps: Mutex<Vec<Weak<QpShared>>>,
    overrun: AtomicBool,
}

impl Cq {
    /// A queue holding up to `depth` completions.
    pub(crate) fn new(depth: usize) -> Arc<Cq> {
        Arc::new(Cq {
            ring: Mutex::new(Ring::new(depth)),
            qps: Mutex::new(Vec::new()),
            overrun: AtomicBool::new(false),
        })
    }

    /// Capacity in completions.
    pub(crate) fn depth(&self) -> usize {
        self.lock_ring().slots.len()
    }

    /// True once a completion was dropped because the ring was full.
    pub(crate) fn overrun(&self) -> bool {
        self.overrun.load(Ordering::Relaxed)
    }

    /// Free slots right now (a QP drains its completions only while this is non-zero).
    pub(crate) fn free(&self) -> usize {
        self.lock_ring().free()
    }

    /// Stores a completion; when the ring is full it is dropped and the CQ marked overrun
    /// (the verbs "CQ overrun" fatal error; QPs check [`Cq::free`] first to avoid it).
    pub(crate) fn push(&self, c: Completion) {
        if !self.lock_ring().push(c) {
            self.overrun.store(true, Ordering::Relaxed);
        }
    }

    /// Attaches a QP so polls progress it (set-up time; may allocate).
    pub(crate) fn attach(&self, qp: &Arc<QpShared>) {
        let mut qps = self.lock_qps();
        qps.retain(|w| w.strong_count() > 0);
        if !qps
            .iter()
            .any(|w| core::ptr::eq(w.as_ptr(), Arc::as_ptr(qp)))
        {
            qps.push(Arc::downgrade(qp));
        }
    }

    /// Progresses the attached QPs, then moves completions into `out`.
    pub(crate) fn poll(&self, out: &mut [Completion]) -> usize {
        {
            let mut qps = self.lock_qps();
            let mut dead = false;
            for weak in qps.iter() {
                match weak.upgrade() {
                    Some(qp) => {
                        qp.progress();
                    }
                    None => dead = true,
                }
            }
            if dead {
                // A QP was dropped: forget it (in place, no allocation).
                qps.retain(|w| w.strong_count() > 0);
            }
        }
        self.lock_ring().pop_into(out)
    }

    fn lock_ring(&self) -> MutexGuard<'_, Ring> {
        // Ring updates are single assignments; a poisoned lock is still consistent.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_qps(&self) -> MutexGuard<'_, Vec<Weak<QpShared>>> {
        self.qps.lock().unwrap_or_else(PoisonError::into_inner)
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
