//! [`TokenBucket`]: a message-rate throttle. Time is an argument; tokens are counted in
//! billionths so that refill is exact at any rate (one nanosecond of refill at `rate`
//! messages per second is `rate` billionths of a token). No clock, no I/O, no allocation.

use tickwarp_runtime::Nanos;

/// Billionths of a token per token.
const UNIT: u64 = 1_000_000_000;

/// A token bucket: holds up to `burst` tokens, refills at `rate` tokens per second, and a
/// message takes one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenBucket {
    rate: u32,
    burst: u32,
    /// Tokens held, in billionths.
    level: u64,
    /// When `level` was last brought up to date.
    last: Nanos,
}

impl TokenBucket {
    /// A full bucket at time `now`.
    pub fn new(rate: u32, burst: u32, now: Nanos) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            level: u64::from(burst) * UNIT,
            last: now,
        }
    }

    /// Changes rate and size, keeping the tokens held (up to the new size).
    pub fn reconfigure(&mut self, rate: u32, burst: u32, now: Nanos) {
        self.refill(now);
        self.rate = rate;
        self.burst = burst;
        self.level = self.level.min(u64::from(burst) * UNIT);
    }

    /// Takes one token at time `now`; `false` (nothing taken) when the bucket is empty.
    /// A `now` earlier than the last call adds nothing.
    pub fn try_take(&mut self, now: Nanos) -> bool {
        self.refill(now);
        if self.level >= UNIT {
            self.level -= UNIT;
            true
        } else {
            false
        }
    }

    /// Whole tokens held as of the last call.
    pub fn tokens(&self) -> u64 {
        self.level / UNIT
    }

    fn refill(&mut self, now: Nanos) {
        let elapsed = now.saturating_sub(self.last).get();
        if now > self.last {
            self.last = now;
        }
        let cap = u64::from(self.burst) * UNIT;
        let added = u128::from(elapsed) * u128::from(self.rate);
        let level = u128::from(self.level).saturating_add(added);
        // Bounded by `cap`, which fits u64 (u32::MAX × 10^9 < 2^64).
        self.level = u64::try_from(level.min(u128::from(cap))).unwrap_or(cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let mut b = TokenBucket::new(10, 3, Nanos(0));
        assert!(b.try_take(Nanos(0)));
        assert!(b.try_take(Nanos(0)));
        assert!(b.try_take(Nanos(0)));
        assert!(!b.try_take(Nanos(0)));
        // 10/s: one token per 100 ms.
        assert!(!b.try_take(Nanos(99_999_999)));
        assert!(b.try_take(Nanos(100_000_000)));
        assert!(!b.try_take(Nanos(100_000_000)));
        // A long pause refills to the burst size only.
        assert!(b.try_take(Nanos(3_600_000_000_000)));
        assert_eq!(b.tokens(), 2);
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let mut b = TokenBucket::new(1, 1, Nanos(5_000_000_000));
        assert!(b.try_take(Nanos(5_000_000_000)));
        assert!(!b.try_take(Nanos(0)));
        assert!(!b.try_take(Nanos(5_999_999_999)));
        assert!(b.try_take(Nanos(6_000_000_000)));
    }

    #[test]
    fn reconfigure_clamps_level() {
        let mut b = TokenBucket::new(1_000, 100, Nanos(0));
        b.reconfigure(1_000, 5, Nanos(0));
        assert_eq!(b.tokens(), 5);
        // A bigger bucket keeps the tokens held, then refills at the new rate.
        b.reconfigure(u32::MAX, u32::MAX, Nanos(0));
        assert_eq!(b.tokens(), 5);
        assert!(b.try_take(Nanos(u64::MAX)));
        assert_eq!(b.tokens(), u64::from(u32::MAX) - 1);
    }
}
