//! Bounded polling for benchmarks: a deadline on the monotonic clock and a [`Spin`]
//! guard that every polling loop calls once per empty poll.
//!
//! A benchmark loop busy-polls (the production default on pinned cores), but it must
//! never hang: [`Spin::check`] fails once the run's deadline passed or once another
//! thread of the run raised the shared stop flag (because it failed). The clock is read
//! only every [`CLOCK_EVERY`] checks so the guard stays off the measured path.
//!
//! This module must not sleep in [`Idle::BusySpin`] mode and must not decide deadlines;
//! callers pass them in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use thiserror::Error;
use tickwarp_runtime::Nanos;
use tickwarp_runtime::clock::monotonic_now;

/// Checks between two clock reads of a [`Spin`].
pub const CLOCK_EVERY: u32 = 1024;

/// A point on the monotonic clock after which a run gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    at: Nanos,
}

impl Deadline {
    /// The deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline::at(monotonic_now().saturating_add(timeout))
    }

    /// The deadline at monotonic time `at`.
    pub fn at(at: Nanos) -> Deadline {
        Deadline { at }
    }

    /// True once the monotonic clock reached the deadline.
    pub fn passed(&self) -> bool {
        self.passed_at(monotonic_now())
    }

    /// True when `now` is at or after the deadline.
    pub fn passed_at(&self, now: Nanos) -> bool {
        now >= self.at
    }
}

/// What a [`Spin`] does on an empty poll besides checking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idle {
    /// Nothing: poll again at once (benchmarks on dedicated cores).
    BusySpin,
    /// Yield the CPU to another thread (tests, shared hosts).
    Yield,
}

/// Why a polling loop stopped before its condition held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SpinError {
    /// The run's deadline passed while waiting for `0`.
    #[error("deadline passed while waiting for {0}")]
    DeadlinePassed(&'static str),
    /// Another thread of the run failed and raised the stop flag.
    #[error("stopped while waiting for {0}: another thread of the run failed")]
    Stopped(&'static str),
}

/// The guard of a polling loop: call [`Spin::check`] once per empty poll.
#[derive(Debug)]
pub struct Spin<'a> {
    deadline: Deadline,
    stop: &'a AtomicBool,
    idle: Idle,
    checks: u32,
}

impl<'a> Spin<'a> {
    /// A guard failing at `deadline` or once `stop` is raised, idling with `idle`.
    pub fn new(deadline: Deadline, stop: &'a AtomicBool, idle: Idle) -> Spin<'a> {
        Spin {
            deadline,
            stop,
            idle,
            checks: 0,
        }
    }

    /// One empty poll while waiting for `what`: idles, and fails when the run is over.
    #[inline]
    pub fn check(&mut self, what: &'static str) -> Result<(), SpinError> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(SpinError::Stopped(what));
        }
        self.checks += 1;
        if self.checks >= CLOCK_EVERY {
            self.checks = 0;
            if self.deadline.passed() {
                return Err(SpinError::DeadlinePassed(what));
            }
        }
        if self.idle == Idle::Yield {
            thread::yield_now();
        }
        Ok(())
    }

    /// Raises the shared stop flag so every other guard on it fails at its next check.
    pub fn stop_all(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_compares_with_the_given_time() {
        let d = Deadline::at(Nanos(1_000));
        assert!(!d.passed_at(Nanos(999)));
        assert!(d.passed_at(Nanos(1_000)));
        assert!(d.passed_at(Nanos(5_000)));
        assert!(!Deadline::after(Duration::from_secs(3_600)).passed());
        assert!(Deadline::at(Nanos(0)).passed());
    }

    #[test]
    fn spin_fails_after_the_deadline_within_one_clock_period() {
        let stop = AtomicBool::new(false);
        let mut spin = Spin::new(Deadline::at(Nanos(0)), &stop, Idle::Yield);
        for _ in 1..CLOCK_EVERY {
            assert_eq!(spin.check("nothing"), Ok(()));
        }
        assert_eq!(
            spin.check("nothing"),
            Err(SpinError::DeadlinePassed("nothing"))
        );
    }

    #[test]
    fn stop_flag_ends_every_spin_on_it() {
        let stop = AtomicBool::new(false);
        let deadline = Deadline::after(Duration::from_secs(3_600));
        let mut a = Spin::new(deadline, &stop, Idle::Yield);
        let b = Spin::new(deadline, &stop, Idle::BusySpin);
        assert_eq!(a.check("pong"), Ok(()));
        b.stop_all();
        assert_eq!(a.check("pong"), Err(SpinError::Stopped("pong")));
    }
}
