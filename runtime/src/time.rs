//! Time units: monotonic [`Nanos`] and wall-clock [`UnixNanos`].
//!
//! These are plain values; reading a clock is the job of [`crate::clock`] alone.
//! This module must not read any clock.

use core::time::Duration;

/// Monotonic nanoseconds since an arbitrary, host-wide epoch (`CLOCK_MONOTONIC`).
///
/// Values from different processes on the same host are comparable; values from
/// different hosts are not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub u64);

/// Wall-clock nanoseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixNanos(pub u64);

impl Nanos {
    /// Zero: the epoch itself, also used as "no timestamp".
    pub const ZERO: Nanos = Nanos(0);
    /// The largest representable instant; useful as "no deadline".
    pub const MAX: Nanos = Nanos(u64::MAX);

    /// The raw nanosecond count.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later than `self`.
    pub const fn saturating_sub(self, earlier: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at [`Nanos::MAX`].
    pub fn saturating_add(self, d: Duration) -> Nanos {
        Nanos(self.0.saturating_add(duration_nanos(d)))
    }

    /// This value read as a duration since the epoch.
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }
}

impl UnixNanos {
    /// The Unix epoch, also used as "no timestamp".
    pub const ZERO: UnixNanos = UnixNanos(0);

    /// The raw nanosecond count.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later than `self`.
    pub const fn saturating_sub(self, earlier: UnixNanos) -> Nanos {
        Nanos(self.0.saturating_sub(earlier.0))
    }
}

impl From<Duration> for Nanos {
    fn from(d: Duration) -> Nanos {
        Nanos(duration_nanos(d))
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (about 584 years).
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_arithmetic() {
        assert_eq!(Nanos(5).saturating_sub(Nanos(7)), Nanos::ZERO);
        assert_eq!(Nanos(7).saturating_sub(Nanos(5)), Nanos(2));
        assert_eq!(
            Nanos(u64::MAX - 1).saturating_add(Duration::from_secs(1)),
            Nanos::MAX
        );
        assert_eq!(Nanos::from(Duration::from_micros(3)), Nanos(3_000));
        assert_eq!(UnixNanos(10).saturating_sub(UnixNanos(4)), Nanos(6));
    }
}
