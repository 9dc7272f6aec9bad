//! Deterministic replay: recorded market data through the same [`Engine`] the live agent
//! runs, against a [`FillModel`], with a summary per strategy and an order stream diff.
//!
//! For each market data record, in journal order, [`Replay`] takes the record's
//! recorded receive time (`recv_ts`, kept monotonic) as `now`, then:
//!
//! 1. fires strategy timers due at or before `now`, each at its own deadline;
//! 2. shows the record to the fill model (resting orders it trades against fill);
//! 3. shows it to the engine (strategies react);
//!
//! and after each step delivers the orders sent to the fill model and the caller's
//! sink, and the execution events that result back to the engine, until nothing is left
//! (bounded by [`ReplayConfig::max_rounds`], so a strategy that answers every event with
//! an order cannot loop forever). Everything is a function of the recorded bytes and the
//! configuration: replaying a journal twice gives a byte-identical order stream.
//!
//! Pacing: at [`Speed::Max`] records are handled back to back; at
//! [`Speed::Realtime`]`(factor)` the caller's `wait` hook is called before each record
//! with the offset from the start of the replay at which it is due (recorded time since
//! the first record, divided by `factor`); the hook sleeps (live tool) or does nothing
//! (tests), so this module never reads a clock.
//!
//! Journal conventions are in [`journal`]; stream comparison in [`mod@compare`].

pub mod compare;
pub mod fill;
pub mod journal;

use core::fmt;
use std::path::Path;

use tickwarp_wire::{Nanos, decode};

use crate::agent::{MdSource, SourceError};
use crate::engine::{Engine, StrategySummary};
use crate::event::{OwnedExecution, Tick};
use crate::order::{OrderCommand, OrderSink, SinkError};
use crate::strategy::Strategy;

pub use compare::{Divergence, compare, compare_with_context, stream_bytes};
pub use fill::{AtTouch, FillModel, TradeThrough};
pub use journal::{
    JournalConventionError, JournalMdSource, JournalOrderSink, append_md, read_commands,
};

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as possible.
    Max,
    /// At the recorded pace times this factor (2.0 is twice as fast); finite, > 0.
    Realtime(f64),
}

/// Why a speed string was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpeedParseError {
    /// Neither `max` nor a number followed by `x`.
    #[error("speed must be \"max\" or a factor like \"1x\" or \"2.5x\"")]
    Syntax,
    /// The factor is not finite and positive.
    #[error("speed factor must be finite and positive")]
    BadFactor,
}

impl core::str::FromStr for Speed {
    type Err = SpeedParseError;

    /// `max`, or a realtime factor written `<number>x` (`1x` is the recorded pace).
    fn from_str(s: &str) -> Result<Speed, SpeedParseError> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let number = s
            .strip_suffix('x')
            .or_else(|| s.strip_suffix('X'))
            .ok_or(SpeedParseError::Syntax)?;
        let factor: f64 = number.parse().map_err(|_| SpeedParseError::Syntax)?;
        if !(factor.is_finite() && factor > 0.0) {
            return Err(SpeedParseError::BadFactor);
        }
        Ok(Speed::Realtime(factor))
    }
}

impl fmt::Display for Speed {
    /// The form [`Speed::from_str`](core::str::FromStr) reads: `max` or `<factor>x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Max => f.write_str("max"),
            Speed::Realtime(factor) => write!(f, "{factor}x"),
        }
    }
}

/// Replay settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayConfig {
    /// Pacing.
    pub speed: Speed,
    /// Order/execution exchanges allowed per record before giving up.
    pub max_rounds: usize,
}

impl Default for ReplayConfig {
    /// Full speed, 64 rounds.
    fn default() -> Self {
        ReplayConfig {
            speed: Speed::Max,
            max_rounds: 64,
        }
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The realtime factor is not finite and positive.
    #[error("realtime factor must be finite and positive")]
    BadSpeed,
    /// The market data source failed.
    #[error("market data source: {0}")]
    Source(#[from] SourceError),
    /// Opening the journal failed.
    #[error("{0}")]
    Journal(#[from] JournalConventionError),
    /// The caller's order sink refused an order.
    #[error("order sink: {0}")]
    Sink(#[from] SinkError),
    /// The strategies' pricer failed.
    #[error("pricer: {0}")]
    Pricing(#[from] crate::pricer::PricerError),
    /// Strategies and fill model kept exchanging orders and events for too long.
    #[error("more than {rounds} order/execution rounds at feed seq {feed_seq}")]
    Runaway {
        /// Feed sequence number of the record being handled.
        feed_seq: u64,
        /// The limit.
        rounds: usize,
    },
}

/// Counters of a replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReplayStats {
    /// Market data records replayed.
    pub ticks: u64,
    /// Records that failed to decode (skipped).
    pub bad_records: u64,
    /// Valid records that are not market data (skipped).
    pub other_records: u64,
    /// Order commands the strategies sent.
    pub orders: u64,
    /// Execution events the fill model produced.
    pub execs: u64,
    /// Recorded time of the first record.
    pub first_ts: Nanos,
    /// Recorded time of the last record.
    pub last_ts: Nanos,
}

/// The outcome of a replay: counters and per-strategy results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Counters.
    pub stats: ReplayStats,
    /// One entry per strategy, in engine order.
    pub strategies: Vec<StrategySummary>,
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "replayed {} records ({} bad, {} other) over {} ns: {} orders, {} executions",
            s.ticks,
            s.bad_records,
            s.other_records,
            s.last_ts.saturating_sub(s.first_ts).get(),
            s.orders,
            s.execs
        )?;
        writeln!(
            f,
            "{:<3} {:<14} {:>7} {:>7} {:>7} {:>6} {:>9} {:>9} {:>16} {:>16} {:>16}",
            "#",
            "strategy",
            "new",
            "cancel",
            "replace",
            "fills",
            "filled",
            "position",
            "realized",
            "unrealized",
            "total"
        )?;
        for (i, st) in self.strategies.iter().enumerate() {
            let position: i64 = st.positions.iter().map(|p| p.qty()).sum();
            writeln!(
                f,
                "{:<3} {:<14} {:>7} {:>7} {:>7} {:>6} {:>9} {:>9} {:>16} {:>16} {:>16}",
                i,
                st.name,
                st.stats.new_orders,
                st.stats.cancels,
                st.stats.replaces,
                st.stats.fills,
                st.stats.filled_qty,
                position,
                st.realized.to_string(),
                st.unrealized.to_string(),
                st.total().to_string()
            )?;
        }
        Ok(())
    }
}

/// The replay driver (module doc).
#[derive(Debug)]
pub struct Replay<S, F> {
    engine: Engine<S>,
    fill: F,
    config: ReplayConfig,
    pending: Vec<OrderCommand>,
    sending: Vec<OrderCommand>,
    execs: Vec<OwnedExecution>,
    applying: Vec<OwnedExecution>,
    stats: ReplayStats,
    now: Option<Nanos>,
}

impl<S: Strategy, F: FillModel> Replay<S, F> {
    /// A replay of `engine`'s strategies against `fill`.
    pub fn new(engine: Engine<S>, fill: F, config: ReplayConfig) -> Result<Self, ReplayError> {
        if let Speed::Realtime(factor) = config.speed {
            if !(factor.is_finite() && factor > 0.0) {
                return Err(ReplayError::BadSpeed);
            }
        }
        Ok(Replay {
            engine,
            fill,
            config,
            pending: Vec::with_capacity(64),
            sending: Vec::with_capacity(64),
            execs: Vec::with_capacity(64),
            applying: Vec::with_capacity(64),
            stats: ReplayStats::default(),
            now: None,
        })
    }

    /// Replays every record `source` has, sending orders to `out` and calling `wait`
    /// with each record's due offset at [`Speed::Realtime`]; stops at the end of the
    /// source.
    pub fn run<M: MdSource + ?Sized>(
        &mut self,
        source: &mut M,
        out: &mut dyn OrderSink,
        wait: &mut dyn FnMut(Nanos),
    ) -> Result<ReplayStats, ReplayError> {
        while let Some(bytes) = source.poll_md()? {
            self.handle_record(bytes, out, wait)?;
        }
        Ok(self.stats)
    }

    /// Replays one encoded record.
    pub fn handle_record(
        &mut self,
        bytes: &[u8],
        out: &mut dyn OrderSink,
        wait: &mut dyn FnMut(Nanos),
    ) -> Result<(), ReplayError> {
        let msg = match decode(bytes) {
            Ok(m) => m,
            Err(_) => {
                self.stats.bad_records += 1;
                return Ok(());
            }
        };
        let Some(tick) = Tick::from_message(msg) else {
            self.stats.other_records += 1;
            return Ok(());
        };
        let meta = tick.meta();
        let now = self.now.map_or(meta.recv_ts, |prev| prev.max(meta.recv_ts));
        if self.now.is_none() {
            self.stats.first_ts = now;
        }
        self.now = Some(now);
        self.stats.last_ts = now;
        self.stats.ticks += 1;
        if let Speed::Realtime(factor) = self.config.speed {
            let elapsed = now.saturating_sub(self.stats.first_ts).get() as f64;
            wait(Nanos((elapsed / factor) as u64));
        }
        let feed_seq = meta.feed_seq.get();
        let mut rounds = 0;
        while let Some(at) = self.engine.poll_timeout().filter(|&at| at <= now) {
            rounds += 1;
            if rounds > self.config.max_rounds {
                return Err(ReplayError::Runaway {
                    feed_seq,
                    rounds: self.config.max_rounds,
                });
            }
            self.engine.handle_timers(at, &mut self.pending);
            self.settle(at, feed_seq, out)?;
        }
        self.fill.on_tick(&tick, now, &mut self.execs);
        self.settle(now, feed_seq, out)?;
        self.engine.handle_tick(&tick, now, &mut self.pending);
        self.settle(now, feed_seq, out)
    }

    /// Exchanges orders, execution events and pricing results until none is pending.
    fn settle(
        &mut self,
        now: Nanos,
        feed_seq: u64,
        out: &mut dyn OrderSink,
    ) -> Result<(), ReplayError> {
        let mut rounds = 0;
        loop {
            let priced = self.engine.handle_pricing(now, &mut self.pending)?;
            if priced == 0 && self.pending.is_empty() && self.execs.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > self.config.max_rounds {
                return Err(ReplayError::Runaway {
                    feed_seq,
                    rounds: self.config.max_rounds,
                });
            }
            core::mem::swap(&mut self.pending, &mut self.sending);
            for cmd in &self.sending {
                out.send(cmd)?;
                self.stats.orders += 1;
                self.fill.on_order(cmd, now, &mut self.execs);
            }
            self.sending.clear();
            core::mem::swap(&mut self.execs, &mut self.applying);
            for e in &self.applying {
                self.stats.execs += 1;
                self.engine
                    .handle_execution(&e.as_view(), now, &mut self.pending);
            }
            self.applying.clear();
        }
        Ok(())
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<S> {
        &self.engine
    }

    /// The fill model.
    pub fn fill_model(&self) -> &F {
        &self.fill
    }

    /// Counters so far.
    pub fn stats(&self) -> ReplayStats {
        self.stats
    }

    /// Counters and per-strategy results so far.
    pub fn summary(&self) -> ReplaySummary {
        ReplaySummary {
            stats: self.stats,
            strategies: self.engine.summaries(),
        }
    }
}

/// Replays the market data journal in `dir` at full speed; returns the summary and every
/// order the strategies sent.
pub fn replay_journal<S: Strategy, F: FillModel>(
    dir: impl AsRef<Path>,
    engine: Engine<S>,
    fill: F,
) -> Result<(ReplaySummary, Vec<OrderCommand>), ReplayError> {
    let mut source = JournalMdSource::open(dir)?;
    let mut replay = Replay::new(engine, fill, ReplayConfig::default())?;
    let mut orders: Vec<OrderCommand> = Vec::new();
    replay.run(&mut source, &mut orders, &mut |_| {})?;
    let mut summary = replay.summary();
    summary.stats.other_records += source.skipped();
    Ok((summary, orders))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn speed_text_forms() {
        assert_eq!("max".parse(), Ok(Speed::Max));
        assert_eq!("MAX".parse(), Ok(Speed::Max));
        assert_eq!("1x".parse(), Ok(Speed::Realtime(1.0)));
        assert_eq!("2.5x".parse(), Ok(Speed::Realtime(2.5)));
        assert_eq!("2.5".parse::<Speed>(), Err(SpeedParseError::Syntax));
        assert_eq!("0x".parse::<Speed>(), Err(SpeedParseError::BadFactor));
        assert_eq!("infx".parse::<Speed>(), Err(SpeedParseError::BadFactor));
        assert_eq!(Speed::Realtime(0.5).to_string(), "0.5x");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn speed_round_trips(factor in 1e-6f64..1e6) {
            let speed = Speed::Realtime(factor);
            prop_assert_eq!(speed.to_string().parse::<Speed>(), Ok(speed));
        }

        #[test]
        fn speed_parse_never_panics(s in "\\PC{0,12}") {
            let _ = s.parse::<Speed>();
        }
    }
}
