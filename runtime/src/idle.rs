//! Idle strategies: what a duty cycle does after `do_work` returned a work count (Aeron's
//! `IdleStrategy`).
//!
//! A work count above zero resets the strategy and returns at once; zero spins, yields,
//! parks or sleeps. [`Backoff`] is an explicit spin → yield → park state machine with an
//! exponentially growing park. The strategy is configuration ([`IdleConfig`], e.g. TOML
//! `{ kind = "backoff", max_spins = 10 }`) turned into an [`Idle`] that dispatches by
//! `match`, with no `dyn` on the hot path.
//!
//! Busy-spin is the production default on pinned cores: Aeron's backoff default is a
//! known p90 trap at low message rates (each park adds its wake-up latency). Tests must
//! not busy-spin; they use [`Backoff`] or [`Yielding`]. Nothing here may allocate.

use std::hint::spin_loop;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Decides how a duty cycle waits after doing `work_count` units of work.
pub trait IdleStrategy {
    /// Waits (or not) after a duty cycle that did `work_count` units of work; a non-zero
    /// count resets any backoff.
    fn idle(&mut self, work_count: usize);

    /// Forgets any backoff progress, as if work had just been done.
    fn reset(&mut self);
}

/// Spins with the CPU's spin-loop hint: lowest latency, burns a whole core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusySpin;

impl IdleStrategy for BusySpin {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            spin_loop();
        }
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Yields the thread to the scheduler when idle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Yielding;

impl IdleStrategy for Yielding {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            thread::yield_now();
        }
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Sleeps for a fixed period when idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sleeping(pub Duration);

impl IdleStrategy for Sleeping {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            thread::sleep(self.0);
        }
    }

    #[inline]
    fn reset(&mut self) {}
}

/// Does nothing: the caller decides how to wait (for example an [`AgentInvoker`]'s
/// owner).
///
/// [`AgentInvoker`]: crate::invoker::AgentInvoker
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoOp;

impl IdleStrategy for NoOp {
    #[inline]
    fn idle(&mut self, _work_count: usize) {}

    #[inline]
    fn reset(&mut self) {}
}

/// Default spins before [`Backoff`] starts yielding.
pub const DEFAULT_MAX_SPINS: u32 = 10;
/// Default yields before [`Backoff`] starts parking.
pub const DEFAULT_MAX_YIELDS: u32 = 20;
/// Default first park period of [`Backoff`] (1 µs).
pub const DEFAULT_MIN_PARK: Duration = Duration::from_micros(1);
/// Default longest park period of [`Backoff`] (1 ms).
pub const DEFAULT_MAX_PARK: Duration = Duration::from_millis(1);

/// What [`Backoff`]'s last `idle` call did; each idle call moves one step along
/// `NotIdle → Spinning(1..=max_spins) → Yielding(1..=max_yields) → Parking(min..=max)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackoffState {
    /// Work was done (or `reset` called) since the last idle call.
    NotIdle,
    /// Spun; the count of spins in this idle streak.
    Spinning(u32),
    /// Yielded; the count of yields in this idle streak.
    Yielding(u32),
    /// Parked for this period; the next park doubles it, up to the maximum.
    Parking(Duration),
}

/// Spin, then yield, then park with a period doubling from `min_park` to `max_park`
/// (Aeron's `BackoffIdleStrategy`); any work resets it to spinning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Spins per idle streak before yielding.
    max_spins: u32,
    /// Yields per idle streak before parking.
    max_yields: u32,
    /// First park period.
    min_park: Duration,
    /// Longest park period.
    max_park: Duration,
    /// What the last idle call did.
    state: BackoffState,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new(
            DEFAULT_MAX_SPINS,
            DEFAULT_MAX_YIELDS,
            DEFAULT_MIN_PARK,
            DEFAULT_MAX_PARK,
        )
    }
}

impl Backoff {
    /// A backoff with these limits; a `max_park` below `min_park` is raised to it.
    pub fn new(max_spins: u32, max_yields: u32, min_park: Duration, max_park: Duration) -> Backoff {
        Backoff {
            max_spins,
            max_yields,
            min_park,
            max_park: max_park.max(min_park),
            state: BackoffState::NotIdle,
        }
    }

    /// What the last `idle` call did.
    pub fn state(&self) -> BackoffState {
        self.state
    }

    /// The state one idle step after `self.state`.
    fn next_state(&self) -> BackoffState {
        match self.state {
            BackoffState::NotIdle => self.after_spins(0),
            BackoffState::Spinning(spins) => self.after_spins(spins),
            BackoffState::Yielding(yields) => self.after_yields(yields),
            BackoffState::Parking(period) => {
                BackoffState::Parking(period.saturating_mul(2).min(self.max_park))
            }
        }
    }

    /// The step after `spins` spins in this streak.
    fn after_spins(&self, spins: u32) -> BackoffState {
        if spins < self.max_spins {
            BackoffState::Spinning(spins + 1)
        } else {
            self.after_yields(0)
        }
    }

    /// The step after `yields` yields in this streak.
    fn after_yields(&self, yields: u32) -> BackoffState {
        if yields < self.max_yields {
            BackoffState::Yielding(yields + 1)
        } else {
            BackoffState::Parking(self.min_park)
        }
    }
}

impl IdleStrategy for Backoff {
    fn idle(&mut self, work_count: usize) {
        if work_count > 0 {
            self.reset();
            return;
        }
        self.state = self.next_state();
        match self.state {
            BackoffState::NotIdle => {}
            BackoffState::Spinning(_) => spin_loop(),
            BackoffState::Yielding(_) => thread::yield_now(),
            // `park_timeout` lets a runner's stop wake the thread early with `unpark`;
            // a spurious early return only shortens one idle period.
            BackoffState::Parking(period) => thread::park_timeout(period),
        }
    }

    #[inline]
    fn reset(&mut self) {
        self.state = BackoffState::NotIdle;
    }
}

/// The idle strategy as configuration, e.g. TOML `idle = { kind = "backoff" }`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum IdleConfig {
    /// [`BusySpin`]: the production default on a pinned core.
    #[default]
    BusySpin,
    /// [`Yielding`].
    Yielding,
    /// [`Backoff`]; omitted fields take the defaults (10 spins, 20 yields, 1 µs..1 ms).
    Backoff {
        /// Spins before yielding.
        #[serde(default = "default_max_spins")]
        max_spins: u32,
        /// Yields before parking.
        #[serde(default = "default_max_yields")]
        max_yields: u32,
        /// First park period, nanoseconds.
        #[serde(default = "default_min_park_ns")]
        min_park_ns: u64,
        /// Longest park period, nanoseconds.
        #[serde(default = "default_max_park_ns")]
        max_park_ns: u64,
    },
    /// [`Sleeping`] for `period_ns` nanoseconds.
    Sleeping {
        /// Sleep period, nanoseconds.
        period_ns: u64,
    },
    /// [`NoOp`].
    NoOp,
}

impl IdleConfig {
    /// [`IdleConfig::Backoff`] with the default limits.
    pub const fn default_backoff() -> IdleConfig {
        IdleConfig::Backoff {
            max_spins: DEFAULT_MAX_SPINS,
            max_yields: DEFAULT_MAX_YIELDS,
            min_park_ns: duration_ns(DEFAULT_MIN_PARK),
            max_park_ns: duration_ns(DEFAULT_MAX_PARK),
        }
    }
}

/// Serde default for `max_spins`.
fn default_max_spins() -> u32 {
    DEFAULT_MAX_SPINS
}

/// Serde default for `max_yields`.
fn default_max_yields() -> u32 {
    DEFAULT_MAX_YIELDS
}

/// Serde default for `min_park_ns`.
fn default_min_park_ns() -> u64 {
    duration_ns(DEFAULT_MIN_PARK)
}

/// Serde default for `max_park_ns`.
fn default_max_park_ns() -> u64 {
    duration_ns(DEFAULT_MAX_PARK)
}

/// A short constant duration in nanoseconds (the defaults fit easily in `u64`).
const fn duration_ns(d: Duration) -> u64 {
    d.as_secs() * 1_000_000_000 + d.subsec_nanos() as u64
}

/// An idle strategy chosen at run time, dispatched by `match` (no `dyn`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Idle {
    /// See [`BusySpin`].
    BusySpin(BusySpin),
    /// See [`Yielding`].
    Yielding(Yielding),
    /// See [`Backoff`].
    Backoff(Backoff),
    /// See [`Sleeping`].
    Sleeping(Sleeping),
    /// See [`NoOp`].
    NoOp(NoOp),
}

impl From<IdleConfig> for Idle {
    fn from(config: IdleConfig) -> Idle {
        match config {
            IdleConfig::BusySpin => Idle::BusySpin(BusySpin),
            IdleConfig::Yielding => Idle::Yielding(Yielding),
            IdleConfig::Backoff {
                max_spins,
                max_yields,
                min_park_ns,
                max_park_ns,
            } => Idle::Backoff(Backoff::new(
                max_spins,
                max_yields,
                Duration::from_nanos(min_park_ns),
                Duration::from_nanos(max_park_ns),
            )),
            IdleConfig::Sleeping { period_ns } => {
                Idle::Sleeping(Sleeping(Duration::from_nanos(period_ns)))
            }
            IdleConfig::NoOp => Idle::NoOp(NoOp),
        }
    }
}

impl IdleStrategy for Idle {
    #[inline]
    fn idle(&mut self, work_count: usize) {
        match self {
            Idle::BusySpin(s) => s.idle(work_count),
            Idle::Yielding(s) => s.idle(work_count),
            Idle::Backoff(s) => s.idle(work_count),
            Idle::Sleeping(s) => s.idle(work_count),
            Idle::NoOp(s) => s.idle(work_count),
        }
    }

    #[inline]
    fn reset(&mut self) {
        match self {
            Idle::BusySpin(s) => s.reset(),
            Idle::Yielding(s) => s.reset(),
            Idle::Backoff(s) => s.reset(),
            Idle::Sleeping(s) => s.reset(),
            Idle::NoOp(s) => s.reset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn backoff_spins_then_yields_then_parks_doubling_to_max() {
        let mut b = Backoff::new(2, 3, US, 4 * US);
        assert_eq!(b.state(), BackoffState::NotIdle);
        let expected = [
            BackoffState::Spinning(1),
            BackoffState::Spinning(2),
            BackoffState::Yielding(1),
            BackoffState::Yielding(2),
            BackoffState::Yielding(3),
            BackoffState::Parking(US),
            BackoffState::Parking(2 * US),
            BackoffState::Parking(4 * US),
            BackoffState::Parking(4 * US),
        ];
        for (step, want) in expected.iter().enumerate() {
            b.idle(0);
            assert_eq!(b.state(), *want, "idle step {step}");
        }
    }

    #[test]
    fn work_resets_backoff_from_every_state() {
        for steps in 0..8 {
            let mut b = Backoff::new(2, 2, US, 2 * US);
            for _ in 0..steps {
                b.idle(0);
            }
            b.idle(3);
            assert_eq!(b.state(), BackoffState::NotIdle, "after {steps} idle steps");
            b.idle(0);
            assert_eq!(
                b.state(),
                BackoffState::Spinning(1),
                "restart after {steps} idle steps"
            );
        }
    }

    #[test]
    fn reset_returns_to_not_idle() {
        let mut b = Backoff::new(0, 0, US, US);
        b.idle(0);
        assert_eq!(b.state(), BackoffState::Parking(US));
        b.reset();
        assert_eq!(b.state(), BackoffState::NotIdle);
    }

    #[test]
    fn zero_spins_and_yields_skip_those_phases() {
        let mut b = Backoff::new(0, 1, US, 8 * US);
        b.idle(0);
        assert_eq!(b.state(), BackoffState::Yielding(1));
        b.idle(0);
        assert_eq!(b.state(), BackoffState::Parking(US));
    }

    #[test]
    fn max_park_below_min_is_raised() {
        let mut b = Backoff::new(0, 0, 3 * US, US);
        b.idle(0);
        b.idle(0);
        assert_eq!(b.state(), BackoffState::Parking(3 * US));
    }

    #[test]
    fn defaults_match_aeron_style_limits() {
        let mut b = Backoff::default();
        for _ in 0..DEFAULT_MAX_SPINS {
            b.idle(0);
        }
        assert_eq!(b.state(), BackoffState::Spinning(DEFAULT_MAX_SPINS));
        for _ in 0..DEFAULT_MAX_YIELDS {
            b.idle(0);
        }
        assert_eq!(b.state(), BackoffState::Yielding(DEFAULT_MAX_YIELDS));
        b.idle(0);
        assert_eq!(b.state(), BackoffState::Parking(DEFAULT_MIN_PARK));
    }

    #[test]
    fn config_parses_with_defaults() -> Result<(), toml::de::Error> {
        #[derive(Deserialize)]
        struct Doc {
            idle: IdleConfig,
        }
        let doc: Doc = toml::from_str(r#"idle = { kind = "backoff", max_spins = 5 }"#)?;
        assert_eq!(
            doc.idle,
            IdleConfig::Backoff {
                max_spins: 5,
                max_yields: 20,
                min_park_ns: 1_000,
                max_park_ns: 1_000_000
            }
        );
        let doc: Doc = toml::from_str(r#"idle = { kind = "sleeping", period_ns = 500 }"#)?;
        assert_eq!(
            Idle::from(doc.idle),
            Idle::Sleeping(Sleeping(Duration::from_nanos(500)))
        );
        for (text, want) in [
            ("busy_spin", IdleConfig::BusySpin),
            ("yielding", IdleConfig::Yielding),
            ("no_op", IdleConfig::NoOp),
        ] {
            let doc: Doc = toml::from_str(&format!("idle = {{ kind = \"{text}\" }}"))?;
            assert_eq!(doc.idle, want);
        }
        assert!(toml::from_str::<Doc>(r#"idle = { kind = "backoff", max_spin = 5 }"#).is_err());
        assert!(toml::from_str::<Doc>(r#"idle = { kind = "nap" }"#).is_err());
        Ok(())
    }

    #[test]
    fn idle_from_config_dispatches() {
        let mut idle = Idle::from(IdleConfig::default_backoff());
        assert_eq!(idle, Idle::Backoff(Backoff::default()));
        idle.idle(0);
        assert!(matches!(&idle, Idle::Backoff(b) if b.state() == BackoffState::Spinning(1)));
        idle.reset();
        assert!(matches!(&idle, Idle::Backoff(b) if b.state() == BackoffState::NotIdle));
        assert_eq!(Idle::from(IdleConfig::default()), Idle::BusySpin(BusySpin));
        let mut others = [
            Idle::from(IdleConfig::Yielding),
            Idle::from(IdleConfig::NoOp),
        ];
        for idle in &mut others {
            idle.idle(0);
            idle.idle(1);
            idle.reset();
        }
    }
}
