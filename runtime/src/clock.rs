//! Clocks: the only module in tickwarp that reads the time.
//!
//! [`Clock::now`] is `CLOCK_MONOTONIC` in nanoseconds, so readings taken by different
//! processes on one host are comparable (a timestamp written into a ring by one process
//! can be subtracted from a reading taken by another). [`Clock::unix_now`] is
//! `CLOCK_REALTIME`, for timestamps that leave the host (FIX `SendingTime`, journals).
//! Both go through `rustix::time::clock_gettime`, which calls the kernel's vDSO without a
//! system call and without `unsafe` here.
//!
//! Measured on the 2-core development host (rustc 1.95, release, best of 7 rounds of
//! 2 M reads after a warm-up; `cargo run --release -p tickwarp-bench --bin clock_read`):
//!
//! | read | ns/read |
//! |---|---|
//! | `Clock::now` (`CLOCK_MONOTONIC`, rustix vDSO) | 22.3 |
//! | `Clock::unix_now` (`CLOCK_REALTIME`, rustix vDSO) | 22.3 |
//! | `std::time::Instant::now` (`CLOCK_MONOTONIC`, libc vDSO) | 22.6 |
//! | `quanta::Clock::now` (scaled TSC) | 9.5 |
//!
//! The quanta figure comes from `cargo run --release -p tickwarp-runtime --example
//! clock_sources` (the bench crate does not depend on quanta). quanta is faster, but its
//! value is the TSC scaled by a calibration each process makes for itself at start-up,
//! anchored to `CLOCK_MONOTONIC` only once: the example measured it drifting from
//! `CLOCK_MONOTONIC` by −0.3 to +1.0 µs per second, a different rate in each run, so
//! quanta readings taken by two processes are not comparable. It is therefore not used.
//!
//! Everything else takes time as an argument (`now: Nanos`); this module must not hold
//! state beyond the clock itself, and nothing outside it may read a clock.

use rustix::time::{ClockId, Timespec, clock_gettime};

use crate::time::{Nanos, UnixNanos};

/// Nanoseconds per second.
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// The host's clocks: monotonic for intervals and deadlines, realtime for wall-clock
/// stamps. Zero-sized; copy it freely.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// Keeps construction inside this module.
    _private: (),
}

impl Clock {
    /// The host clock.
    pub const fn new() -> Clock {
        Clock { _private: () }
    }

    /// Monotonic time (`CLOCK_MONOTONIC`), comparable across processes on this host.
    #[inline]
    pub fn now(&self) -> Nanos {
        monotonic_now()
    }

    /// Wall-clock time (`CLOCK_REALTIME`) since the Unix epoch.
    #[inline]
    pub fn unix_now(&self) -> UnixNanos {
        unix_now()
    }
}

/// Reads `CLOCK_MONOTONIC` in nanoseconds.
#[inline]
pub fn monotonic_now() -> Nanos {
    #[allow(clippy::disallowed_methods)] // this module is the one place that reads clocks
    Nanos(timespec_nanos(clock_gettime(ClockId::Monotonic)))
}

/// Reads `CLOCK_REALTIME` in nanoseconds since the Unix epoch (zero before 1970).
#[inline]
pub fn unix_now() -> UnixNanos {
    #[allow(clippy::disallowed_methods)] // this module is the one place that reads clocks
    UnixNanos(timespec_nanos(clock_gettime(ClockId::Realtime)))
}

/// A timespec as whole nanoseconds: negative times clamp to zero, overflow (year 2554)
/// saturates.
#[inline]
fn timespec_nanos(ts: Timespec) -> u64 {
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(NANOS_PER_SEC).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_back() {
        let clock = Clock::new();
        let mut last = clock.now();
        for _ in 0..1000 {
            let now = clock.now();
            assert!(now >= last, "{now:?} < {last:?}");
            last = now;
        }
    }

    #[test]
    fn sleep_advances_monotonic() {
        // A sleep lasts at least its duration on CLOCK_MONOTONIC.
        let before = monotonic_now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let after = monotonic_now();
        assert!(after.saturating_sub(before) >= Nanos(2_000_000));
    }

    #[test]
    fn realtime_is_after_2020() {
        // 2020-01-01T00:00:00Z
        assert!(Clock::new().unix_now() > UnixNanos(1_577_836_800 * NANOS_PER_SEC));
    }

    #[test]
    fn timespec_conversion_clamps_and_saturates() {
        assert_eq!(
            timespec_nanos(Timespec {
                tv_sec: 2,
                tv_nsec: 5
            }),
            2_000_000_005
        );
        assert_eq!(
            timespec_nanos(Timespec {
                tv_sec: -1,
                tv_nsec: 5
            }),
            5
        );
        assert_eq!(
            timespec_nanos(Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0
            }),
            u64::MAX
        );
    }
}
