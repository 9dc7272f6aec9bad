//! Failed-logon accounting and log-line rate limits for the FIX acceptor.
//!
//! [`Failures`] counts failed logons per key (a source address, or a session) in a
//! window, gives the delay before a failure is answered (it doubles with each failure
//! past a threshold) and locks a key out for a while past a second threshold. Its table
//! is bounded: expired entries are pruned when it fills, and a key that finds it full
//! of live entries is treated as already locked out (failing closed). [`LogLimit`] lets
//! a bounded number of lines through per second and counts the rest.
//!
//! What this module must not do: read a clock (time is an argument) or grow without
//! bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tickwarp_runtime::Nanos;

/// One key's failures.
#[derive(Clone, Copy, Debug)]
struct Record {
    /// Failures since `since`.
    count: u32,
    /// Start of the counting window.
    since: Nanos,
    /// Locked out until then (`Nanos(0)`: not locked).
    locked_until: Nanos,
}

/// What one more failure means for its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failed {
    /// Failures in the window, this one included.
    pub(crate) count: u32,
    /// How long to wait before answering it.
    pub(crate) delay: Duration,
    /// This failure started a lockout.
    pub(crate) locked: bool,
}

/// Failure thresholds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// Counting window.
    pub(crate) window: Duration,
    /// Failures answered at once before delays start.
    pub(crate) delay_after: u32,
    /// First delay.
    pub(crate) delay_base: Duration,
    /// Longest delay.
    pub(crate) delay_max: Duration,
    /// Failures that start a lockout.
    pub(crate) lockout_after: u32,
    /// Lockout length.
    pub(crate) lockout: Duration,
}

/// Failed logons per key (see the module docs).
#[derive(Debug)]
pub(crate) struct Failures<K> {
    policy: Policy,
    capacity: usize,
    records: HashMap<K, Record>,
}

impl<K: Hash + Eq + Copy> Failures<K> {
    /// An empty table of at most `capacity` keys.
    pub(crate) fn new(policy: Policy, capacity: usize) -> Failures<K> {
        Failures {
            policy,
            capacity,
            records: HashMap::new(),
        }
    }

    /// Whether `key` is locked out at `now`.
    pub(crate) fn locked(&self, key: &K, now: Nanos) -> bool {
        match self.records.get(key) {
            Some(r) => r.locked_until > now,
            None => self.records.len() >= self.capacity && !self.has_room(now),
        }
    }

    /// Counts a failure of `key` at `now`.
    pub(crate) fn record(&mut self, key: K, now: Nanos) -> Failed {
        let window = Nanos::from(self.policy.window);
        if !self.records.contains_key(&key) && self.records.len() >= self.capacity {
            self.prune(now);
            if self.records.len() >= self.capacity {
                return Failed {
                    count: u32::MAX,
                    delay: self.policy.delay_max,
                    locked: false,
                };
            }
        }
        let r = self.records.entry(key).or_insert(Record {
            count: 0,
            since: now,
            locked_until: Nanos(0),
        });
        if now.saturating_sub(r.since) >= window && r.locked_until <= now {
            r.count = 0;
            r.since = now;
        }
        r.count = r.count.saturating_add(1);
        let locked = r.count >= self.policy.lockout_after && r.locked_until <= now;
        if locked {
            r.locked_until = now.saturating_add(self.policy.lockout);
            // The lockout is the penalty: counting starts again after it.
            r.count = 0;
            r.since = r.locked_until;
        }
        let count = r.count;
        Failed {
            count,
            delay: delay_for(&self.policy, if locked { u32::MAX } else { count }),
            locked,
        }
    }

    /// Keys tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    fn has_room(&self, now: Nanos) -> bool {
        let window = Nanos::from(self.policy.window);
        self.records
            .values()
            .any(|r| r.locked_until <= now && now.saturating_sub(r.since) >= window)
    }

    fn prune(&mut self, now: Nanos) {
        let window = Nanos::from(self.policy.window);
        self.records
            .retain(|_, r| r.locked_until > now || now.saturating_sub(r.since) < window);
    }
}

/// The delay before answering the `count`-th failure of a key.
fn delay_for(p: &Policy, count: u32) -> Duration {
    if count <= p.delay_after {
        return Duration::ZERO;
    }
    let doublings = (count - p.delay_after - 1).min(20);
    p.delay_base
        .saturating_mul(1u32 << doublings)
        .min(p.delay_max)
}

/// At most `per_sec` lines per second; the rest are counted (see the module docs).
#[derive(Debug)]
pub(crate) struct LogLimit {
    per_sec: u32,
    window_start: Nanos,
    used: u32,
    suppressed: u64,
}

impl LogLimit {
    /// A limit of `per_sec` lines per second.
    pub(crate) fn new(per_sec: u32) -> LogLimit {
        LogLimit {
            per_sec,
            window_start: Nanos(0),
            used: 0,
            suppressed: 0,
        }
    }

    /// Whether a line may be written at `now`. When a new second starts, returns the
    /// number of lines suppressed in the previous ones (to be reported once).
    pub(crate) fn allow(&mut self, now: Nanos) -> (bool, u64) {
        let mut dropped = 0;
        if now.saturating_sub(self.window_start) >= Nanos::from(Duration::from_secs(1)) {
            self.window_start = now;
            self.used = 0;
            dropped = std::mem::take(&mut self.suppressed);
        }
        if self.used < self.per_sec {
            self.used += 1;
            (true, dropped)
        } else {
            self.suppressed += 1;
            (false, dropped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn policy() -> Policy {
        Policy {
            window: Duration::from_secs(60),
            delay_after: 2,
            delay_base: Duration::from_millis(100),
            delay_max: Duration::from_millis(500),
            lockout_after: 6,
            lockout: Duration::from_secs(300),
        }
    }

    #[test]
    fn delays_grow_then_lock_out_then_expire() {
        let mut f = Failures::new(policy(), 16);
        let t = Nanos(10 * S);
        let delays: Vec<u64> = (0..5)
            .map(|_| f.record(1u8, t).delay.as_millis() as u64)
            .collect();
        assert_eq!(delays, [0, 0, 100, 200, 400]);
        assert!(!f.locked(&1, t));
        let sixth = f.record(1, t);
        assert!(sixth.locked);
        assert_eq!(sixth.delay, Duration::from_millis(500));
        assert!(f.locked(&1, t));
        assert!(!f.locked(&2, t));
        assert!(f.locked(&1, Nanos(309 * S)));
        assert!(!f.locked(&1, Nanos(311 * S)));
        assert_eq!(f.record(1, Nanos(311 * S)).count, 1);
    }

    #[test]
    fn the_window_resets_the_count() {
        let mut f = Failures::new(policy(), 16);
        for _ in 0..5 {
            f.record(1u8, Nanos(S));
        }
        assert_eq!(f.record(1, Nanos(62 * S)).count, 1);
    }

    #[test]
    fn a_full_table_fails_closed_until_entries_expire() {
        let mut f = Failures::new(policy(), 2);
        f.record(1u8, Nanos(S));
        f.record(2u8, Nanos(S));
        assert!(f.locked(&3, Nanos(2 * S)));
        assert_eq!(f.record(3, Nanos(2 * S)).count, u32::MAX);
        assert_eq!(f.len(), 2);
        assert!(!f.locked(&3, Nanos(100 * S)));
        assert_eq!(f.record(3, Nanos(100 * S)).count, 1);
        assert!(f.len() <= 2);
    }

    #[test]
    fn log_limit_counts_what_it_drops() {
        let mut l = LogLimit::new(2);
        let t = Nanos(5 * S);
        assert_eq!(l.allow(t), (true, 0));
        assert_eq!(l.allow(t), (true, 0));
        assert_eq!(l.allow(t), (false, 0));
        assert_eq!(l.allow(t), (false, 0));
        assert_eq!(l.allow(Nanos(6 * S)), (true, 2));
    }
}
