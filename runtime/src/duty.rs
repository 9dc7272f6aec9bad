//! Duty-cycle tracking: how long an agent's duty cycles take, readable from other threads.
//!
//! As in Aeron's `DutyCycleTracker`, the clock is read once per cycle and a cycle's length
//! is the time from its start to the next cycle's start: `do_work` plus the idle strategy's
//! wait. With [`BusySpin`](crate::idle::BusySpin), or whenever the agent did work (which
//! resets any backoff), that is the `do_work` time; after idle cycles under a parking
//! strategy it includes the park, which is time the agent was not polling either.
//!
//! The owning thread writes through a [`DutyCycleTracker`]; any thread reads through a
//! cloneable [`DutyCycleStats`]. Counters are relaxed atomics, each on its own cache line.
//! Recording must not allocate or take a lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::time::Nanos;

/// Default threshold above which a cycle counts as over-long: 1 ms.
pub const DEFAULT_CYCLE_THRESHOLD: Duration = Duration::from_millis(1);

/// Counters shared by a tracker and its stats handles.
#[derive(Debug)]
struct Shared {
    /// Cycles recorded (each `record` call).
    cycles: CachePadded<AtomicU64>,
    /// The longest cycle seen, nanoseconds.
    max_cycle_ns: CachePadded<AtomicU64>,
    /// Cycles longer than `threshold_ns`.
    over_threshold: CachePadded<AtomicU64>,
    /// The over-long threshold, nanoseconds; fixed at construction.
    threshold_ns: u64,
}

/// A consistent-enough copy of the counters (each field read separately).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DutySnapshot {
    /// Duty cycles started.
    pub cycles: u64,
    /// The longest cycle measured.
    pub max_cycle: Nanos,
    /// Cycles longer than `threshold`.
    pub over_threshold: u64,
    /// The threshold that defines an over-long cycle.
    pub threshold: Nanos,
}

/// A read-only view of a duty-cycle tracker, cheap to clone and safe to read from any
/// thread while the agent runs.
#[derive(Clone, Debug)]
pub struct DutyCycleStats {
    /// The tracker's counters.
    shared: Arc<Shared>,
}

impl DutyCycleStats {
    /// Duty cycles started so far.
    pub fn cycles(&self) -> u64 {
        self.shared.cycles.load(Ordering::Relaxed)
    }

    /// The longest cycle measured so far.
    pub fn max_cycle(&self) -> Nanos {
        Nanos(self.shared.max_cycle_ns.load(Ordering::Relaxed))
    }

    /// Cycles longer than [`threshold`](Self::threshold) so far.
    pub fn over_threshold(&self) -> u64 {
        self.shared.over_threshold.load(Ordering::Relaxed)
    }

    /// The threshold that defines an over-long cycle.
    pub fn threshold(&self) -> Nanos {
        Nanos(self.shared.threshold_ns)
    }

    /// All counters; each is read atomically, the set is not.
    pub fn snapshot(&self) -> DutySnapshot {
        DutySnapshot {
            cycles: self.cycles(),
            max_cycle: self.max_cycle(),
            over_threshold: self.over_threshold(),
            threshold: self.threshold(),
        }
    }
}

/// The writing side: records the start time of each duty cycle. Single writer, owned by
/// the agent's thread.
#[derive(Debug)]
pub struct DutyCycleTracker {
    /// Counters published to readers.
    shared: Arc<Shared>,
    /// Start of the previous cycle, if any.
    last_start: Option<Nanos>,
    /// Local copies of the published counters (this is the only writer).
    cycles: u64,
    /// Local copy of the longest cycle.
    max_cycle_ns: u64,
    /// Local copy of the over-threshold count.
    over_threshold: u64,
    /// Local copy of the threshold, nanoseconds.
    threshold_ns: u64,
}

impl DutyCycleTracker {
    /// A tracker counting cycles longer than `threshold` as over-long.
    pub fn new(threshold: Duration) -> DutyCycleTracker {
        let threshold_ns = Nanos::from(threshold).get();
        DutyCycleTracker {
            shared: Arc::new(Shared {
                cycles: CachePadded::new(AtomicU64::new(0)),
                max_cycle_ns: CachePadded::new(AtomicU64::new(0)),
                over_threshold: CachePadded::new(AtomicU64::new(0)),
                threshold_ns,
            }),
            last_start: None,
            cycles: 0,
            max_cycle_ns: 0,
            over_threshold: 0,
            threshold_ns,
        }
    }

    /// A handle for reading the counters from any thread.
    pub fn stats(&self) -> DutyCycleStats {
        DutyCycleStats {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Records that a duty cycle started at `now`, closing the previous one.
    #[inline]
    pub fn record(&mut self, now: Nanos) {
        self.cycles += 1;
        self.shared.cycles.store(self.cycles, Ordering::Relaxed);
        if let Some(last) = self.last_start {
            let cycle_ns = now.saturating_sub(last).get();
            if cycle_ns > self.max_cycle_ns {
                self.max_cycle_ns = cycle_ns;
                self.shared.max_cycle_ns.store(cycle_ns, Ordering::Relaxed);
            }
            if cycle_ns > self.threshold_ns {
                self.over_threshold += 1;
                self.shared
                    .over_threshold
                    .store(self.over_threshold, Ordering::Relaxed);
            }
        }
        self.last_start = Some(now);
    }
}

impl Default for DutyCycleTracker {
    fn default() -> DutyCycleTracker {
        DutyCycleTracker::new(DEFAULT_CYCLE_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use tickwarp_testkit::wait_until;

    #[test]
    fn records_max_and_over_threshold() {
        let mut tracker = DutyCycleTracker::new(Duration::from_nanos(100));
        let stats = tracker.stats();
        assert_eq!(
            stats.snapshot(),
            DutySnapshot {
                threshold: Nanos(100),
                ..DutySnapshot::default()
            }
        );
        for start in [1_000, 1_050, 1_300, 1_350, 1_400, 1_900] {
            tracker.record(Nanos(start));
        }
        assert_eq!(
            stats.snapshot(),
            DutySnapshot {
                cycles: 6,
                max_cycle: Nanos(500),
                over_threshold: 2,
                threshold: Nanos(100)
            }
        );
    }

    #[test]
    fn clock_going_back_counts_as_zero_length() {
        let mut tracker = DutyCycleTracker::default();
        tracker.record(Nanos(10));
        tracker.record(Nanos(5));
        assert_eq!(tracker.stats().max_cycle(), Nanos::ZERO);
        assert_eq!(tracker.stats().threshold(), Nanos(1_000_000));
    }

    #[test]
    fn max_is_visible_from_another_thread() -> anyhow::Result<()> {
        let mut tracker = DutyCycleTracker::new(Duration::from_micros(1));
        let stats = tracker.stats();
        let (to_reader, from_writer) = mpsc::channel::<u64>();
        let (to_writer, from_reader) = mpsc::channel::<DutySnapshot>();
        // The writer records a cycle, then asks the reader thread what it sees.
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while from_writer.recv().is_ok() {
                let snapshot = stats.snapshot();
                seen.push(snapshot);
                if to_writer.send(snapshot).is_err() {
                    break;
                }
            }
            seen
        });
        let mut now = 0;
        for (i, gap) in [700u64, 3_000, 200, 9_000, 50].into_iter().enumerate() {
            now += gap;
            tracker.record(Nanos(now));
            to_reader.send(now)?;
            let seen = from_reader.recv_timeout(Duration::from_secs(10))?;
            assert_eq!(seen.cycles, i as u64 + 1);
        }
        drop(to_reader);
        wait_until("the reader thread exits", Duration::from_secs(10), || {
            reader.is_finished()
        })?;
        let seen = reader
            .join()
            .map_err(|_| anyhow::anyhow!("reader panicked"))?;
        let last = seen.last().copied().unwrap_or_default();
        assert_eq!(last.max_cycle, Nanos(9_000));
        assert_eq!(last.over_threshold, 2);
        assert_eq!(last.cycles, 5);
        Ok(())
    }
}
