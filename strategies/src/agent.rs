//! The engine as a `tickwarp_runtime` [`Agent`]: [`EngineAgent`] polls a market data
//! source and an execution source, feeds the engine and sends orders to a sink.
//!
//! The sources are traits ([`MdSource`], [`ExecSource`]) that hand out one encoded
//! record at a time, so the RDMA ring reader (market data) and the RDMA message channel
//! (executions) plug in through small adapters without touching the engine; replay
//! reads a journal through the same [`MdSource`] trait. [`RecordQueue`] is the
//! in-memory implementation for tests and single-process setups.
//!
//! Each duty cycle drains up to `batch` execution events first (they change what the
//! strategies know), then up to `batch` market data records, then fires due timers, then
//! hands out the pricer's results ([`Engine::handle_pricing`], polled without blocking),
//! and returns the number of events handled. Records that fail to decode are counted and
//! skipped, never fatal; a source or pricer that reports an error stops the agent. The time given
//! to strategies is the duty cycle's `now`. Nothing here reads a clock, and the duty
//! cycle allocates nothing.

use std::error::Error;

use tickwarp_runtime::{Agent, AgentError, Nanos};
use tickwarp_wire::decode;

use crate::engine::Engine;
use crate::event::{Execution, Tick};
use crate::order::OrderSink;
use crate::strategy::Strategy;

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source is closed for good (peer gone, end of a finite stream that must not
    /// end).
    #[error("source closed")]
    Closed,
    /// The transport or storage under the source failed.
    #[error("source failed: {0}")]
    Failed(#[source] Box<dyn Error + Send + Sync>),
}

/// Hands out encoded market data records (wire `Md*` records), one at a time.
pub trait MdSource {
    /// The next record's bytes, or `None` when nothing is ready now.
    fn poll_md(&mut self) -> Result<Option<&[u8]>, SourceError>;
}

/// Hands out encoded execution events (wire `Order*`/`CancelRejected` records).
pub trait ExecSource {
    /// The next record's bytes, or `None` when nothing is ready now.
    fn poll_exec(&mut self) -> Result<Option<&[u8]>, SourceError>;
}

/// Why a record was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Every slot is taken.
    #[error("record queue is full")]
    Full,
    /// The record is larger than a slot.
    #[error("record of {len} bytes exceeds the {max}-byte slot")]
    TooLarge {
        /// The record's length.
        len: usize,
        /// The slot size.
        max: usize,
    },
}

/// A bounded in-memory FIFO of encoded records (fixed slots, allocated once).
#[derive(Clone, Debug)]
pub struct RecordQueue {
    slots: Vec<[u8; RecordQueue::SLOT]>,
    lens: Vec<u16>,
    head: usize,
    len: usize,
}

impl RecordQueue {
    /// Slot size: the largest wire record.
    pub const SLOT: usize = 256;

    /// A queue of `capacity` slots (at least 1).
    pub fn new(capacity: usize) -> RecordQueue {
        let capacity = capacity.max(1);
        RecordQueue {
            slots: vec![[0; Self::SLOT]; capacity],
            lens: vec![0; capacity],
            head: 0,
            len: 0,
        }
    }

    /// Appends a copy of `record`.
    pub fn push(&mut self, record: &[u8]) -> Result<(), QueueError> {
        if record.len() > Self::SLOT {
            return Err(QueueError::TooLarge {
                len: record.len(),
                max: Self::SLOT,
            });
        }
        if self.len == self.slots.len() {
            return Err(QueueError::Full);
        }
        let i = (self.head + self.len) % self.slots.len();
        if let (Some(slot), Some(len)) = (self.slots.get_mut(i), self.lens.get_mut(i)) {
            if let Some(dst) = slot.get_mut(..record.len()) {
                dst.copy_from_slice(record);
            }
            // At most SLOT (256), checked above.
            *len = record.len() as u16;
        }
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the oldest record.
    pub fn pop(&mut self) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        let len = usize::from(self.lens.get(i).copied().unwrap_or(0));
        self.slots.get(i).and_then(|s| s.get(..len))
    }

    /// Records queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl MdSource for RecordQueue {
    fn poll_md(&mut self) -> Result<Option<&[u8]>, SourceError> {
        Ok(self.pop())
    }
}

impl ExecSource for RecordQueue {
    fn poll_exec(&mut self) -> Result<Option<&[u8]>, SourceError> {
        Ok(self.pop())
    }
}

impl<M: MdSource + ?Sized> MdSource for &mut M {
    fn poll_md(&mut self) -> Result<Option<&[u8]>, SourceError> {
        (**self).poll_md()
    }
}

impl<X: ExecSource + ?Sized> ExecSource for &mut X {
    fn poll_exec(&mut self) -> Result<Option<&[u8]>, SourceError> {
        (**self).poll_exec()
    }
}

/// Counters of an [`EngineAgent`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AgentStats {
    /// Market data records handled.
    pub ticks: u64,
    /// Execution events handled.
    pub execs: u64,
    /// Records that failed to decode.
    pub bad_records: u64,
    /// Valid records of the wrong kind for their source.
    pub misrouted: u64,
}

/// The engine, its sources and its sink, driven as an agent.
#[derive(Debug)]
pub struct EngineAgent<S, M, X, K> {
    name: String,
    engine: Engine<S>,
    md: M,
    exec: X,
    sink: K,
    batch: usize,
    stats: AgentStats,
}

impl<S, M, X, K> EngineAgent<S, M, X, K>
where
    S: Strategy,
    M: MdSource,
    X: ExecSource,
    K: OrderSink,
{
    /// An agent named `name` handling up to `batch` (at least 1) records of each kind
    /// per duty cycle.
    pub fn new(name: &str, engine: Engine<S>, md: M, exec: X, sink: K, batch: usize) -> Self {
        EngineAgent {
            name: name.to_owned(),
            engine,
            md,
            exec,
            sink,
            batch: batch.max(1),
            stats: AgentStats::default(),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<S> {
        &self.engine
    }

    /// The market data source.
    pub fn md_mut(&mut self) -> &mut M {
        &mut self.md
    }

    /// The execution source.
    pub fn exec_mut(&mut self) -> &mut X {
        &mut self.exec
    }

    /// The order sink.
    pub fn sink(&self) -> &K {
        &self.sink
    }

    /// The order sink, mutably.
    pub fn sink_mut(&mut self) -> &mut K {
        &mut self.sink
    }

    /// Counters.
    pub fn stats(&self) -> AgentStats {
        self.stats
    }

    /// The parts back.
    pub fn into_parts(self) -> (Engine<S>, M, X, K) {
        (self.engine, self.md, self.exec, self.sink)
    }
}

impl<S, M, X, K> Agent for EngineAgent<S, M, X, K>
where
    S: Strategy,
    M: MdSource,
    X: ExecSource,
    K: OrderSink,
{
    fn role_name(&self) -> &str {
        &self.name
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let EngineAgent {
            engine,
            md,
            exec,
            sink,
            batch,
            stats,
            ..
        } = self;
        let mut work = 0;
        for _ in 0..*batch {
            let Some(bytes) = exec.poll_exec()? else {
                break;
            };
            work += 1;
            match decode(bytes).map(Execution::from_message) {
                Ok(Some(e)) => {
                    stats.execs += 1;
                    engine.handle_execution(&e, now, sink);
                }
                Ok(None) => stats.misrouted += 1,
                Err(_) => stats.bad_records += 1,
            }
        }
        for _ in 0..*batch {
            let Some(bytes) = md.poll_md()? else {
                break;
            };
            work += 1;
            match decode(bytes).map(Tick::from_message) {
                Ok(Some(t)) => {
                    stats.ticks += 1;
                    engine.handle_tick(&t, now, sink);
                }
                Ok(None) => stats.misrouted += 1,
                Err(_) => stats.bad_records += 1,
            }
        }
        work += engine.handle_timers(now, sink);
        work += engine.handle_pricing(now, sink)?;
        Ok(work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_a_bounded_fifo() {
        let mut q = RecordQueue::new(2);
        assert_eq!(q.push(&[1, 2, 3]), Ok(()));
        assert_eq!(q.push(&[4]), Ok(()));
        assert_eq!(q.push(&[5]), Err(QueueError::Full));
        assert_eq!(q.pop(), Some(&[1u8, 2, 3][..]));
        assert_eq!(q.push(&[6, 7]), Ok(()));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(&[4u8][..]));
        assert_eq!(q.pop(), Some(&[6u8, 7][..]));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
        assert_eq!(
            q.push(&[0; 300]),
            Err(QueueError::TooLarge { len: 300, max: 256 })
        );
    }
}
