//! The example strategies and the registry the CLI selects them from.
//!
//! - [`MarketMaker`]: quotes both sides around the mid with a half-spread, skewed by
//!   inventory, within a position limit; requotes (replace, or cancel when a side is
//!   over the limit) when the mid moves by a threshold.
//! - [`Momentum`]: fast/slow exponential moving average crossover on trade or mid
//!   prices, in integer arithmetic; goes long or short up to a position limit with IOC
//!   or passive limit orders.
//! - [`Pinger`]: every Nth tick, a limit order far from the market that it cancels as
//!   soon as it is accepted: a steady, harmless order flow for latency measurement.
//!
//! Each is configured by a serde struct whose every field has a default, so an empty
//! table selects the defaults. [`by_name`] builds one from its registry name and any
//! serde deserializer (a TOML table, for example); [`BuiltinConfig`] is the same choice
//! as one tagged value (`name = "market_maker"` plus the fields). Strategies are
//! dispatched statically through [`Builtin`]. Nothing here reads a clock or does I/O.

mod market_maker;
mod momentum;
mod pinger;

pub use market_maker::{MarketMaker, MarketMakerConfig};
pub use momentum::{Entry, Momentum, MomentumConfig, PriceSource};
pub use pinger::{Pinger, PingerConfig};

use serde::{Deserialize, Deserializer, Serialize};
use tickwarp_wire::{InstrumentId, Nanos, Price};

use crate::ctx::Ctx;
use crate::event::Tick;
use crate::strategy::{ExecReport, Strategy};

/// The registry names, in the order the CLI lists them.
pub const NAMES: [&str; 3] = ["market_maker", "momentum", "pinger"];

/// Why a configuration was refused: which field, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why [`by_name`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No strategy has this name.
    #[error("unknown strategy {name:?} (known: market_maker, momentum, pinger)")]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The configuration did not deserialize.
    #[error("strategy {name}: bad configuration: {message}")]
    Parse {
        /// The strategy.
        name: &'static str,
        /// The deserializer's message.
        message: String,
    },
    /// The configuration deserialized but is not valid.
    #[error("strategy {name}: {error}")]
    Invalid {
        /// The strategy.
        name: &'static str,
        /// What is wrong.
        error: ConfigError,
    },
}

/// A configuration of any built-in strategy, tagged by its registry name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum BuiltinConfig {
    /// A [`MarketMaker`].
    MarketMaker(MarketMakerConfig),
    /// A [`Momentum`] strategy.
    Momentum(MomentumConfig),
    /// A [`Pinger`].
    Pinger(PingerConfig),
}

/// Any built-in strategy (static dispatch).
#[derive(Clone, Debug)]
pub enum Builtin {
    /// A market maker.
    MarketMaker(MarketMaker),
    /// A momentum strategy.
    Momentum(Momentum),
    /// A pinger.
    Pinger(Pinger),
}

impl Builtin {
    /// The strategy a configuration describes, after validating it.
    pub fn from_config(config: BuiltinConfig) -> Result<Builtin, RegistryError> {
        match config {
            BuiltinConfig::MarketMaker(c) => MarketMaker::new(c)
                .map(Builtin::MarketMaker)
                .map_err(invalid("market_maker")),
            BuiltinConfig::Momentum(c) => Momentum::new(c)
                .map(Builtin::Momentum)
                .map_err(invalid("momentum")),
            BuiltinConfig::Pinger(c) => Pinger::new(c)
                .map(Builtin::Pinger)
                .map_err(invalid("pinger")),
        }
    }
}

/// Wraps a [`ConfigError`] for strategy `name`.
fn invalid(name: &'static str) -> impl Fn(ConfigError) -> RegistryError {
    move |error| RegistryError::Invalid { name, error }
}

/// Builds the strategy registered as `name` from `config` (any serde deserializer).
pub fn by_name<'de, D: Deserializer<'de>>(name: &str, config: D) -> Result<Builtin, RegistryError> {
    let parse = |name: &'static str| {
        move |e: D::Error| RegistryError::Parse {
            name,
            message: e.to_string(),
        }
    };
    let config = match name {
        "market_maker" => BuiltinConfig::MarketMaker(
            MarketMakerConfig::deserialize(config).map_err(parse("market_maker"))?,
        ),
        "momentum" => {
            BuiltinConfig::Momentum(MomentumConfig::deserialize(config).map_err(parse("momentum"))?)
        }
        "pinger" => {
            BuiltinConfig::Pinger(PingerConfig::deserialize(config).map_err(parse("pinger"))?)
        }
        other => {
            return Err(RegistryError::Unknown {
                name: other.to_owned(),
            });
        }
    };
    Builtin::from_config(config)
}

/// Builds the strategy registered as `name` with its default configuration.
pub fn default_by_name(name: &str) -> Result<Builtin, RegistryError> {
    let config = match name {
        "market_maker" => BuiltinConfig::MarketMaker(MarketMakerConfig::default()),
        "momentum" => BuiltinConfig::Momentum(MomentumConfig::default()),
        "pinger" => BuiltinConfig::Pinger(PingerConfig::default()),
        other => {
            return Err(RegistryError::Unknown {
                name: other.to_owned(),
            });
        }
    };
    Builtin::from_config(config)
}

impl Strategy for Builtin {
    fn name(&self) -> &str {
        match self {
            Builtin::MarketMaker(s) => s.name(),
            Builtin::Momentum(s) => s.name(),
            Builtin::Pinger(s) => s.name(),
        }
    }

    fn instruments(&self) -> &[InstrumentId] {
        match self {
            Builtin::MarketMaker(s) => s.instruments(),
            Builtin::Momentum(s) => s.instruments(),
            Builtin::Pinger(s) => s.instruments(),
        }
    }

    fn on_tick(&mut self, tick: &Tick<'_>, ctx: &mut Ctx<'_>) {
        match self {
            Builtin::MarketMaker(s) => s.on_tick(tick, ctx),
            Builtin::Momentum(s) => s.on_tick(tick, ctx),
            Builtin::Pinger(s) => s.on_tick(tick, ctx),
        }
    }

    fn on_execution(&mut self, report: &ExecReport<'_>, ctx: &mut Ctx<'_>) {
        match self {
            Builtin::MarketMaker(s) => s.on_execution(report, ctx),
            Builtin::Momentum(s) => s.on_execution(report, ctx),
            Builtin::Pinger(s) => s.on_execution(report, ctx),
        }
    }

    fn on_timer(&mut self, now: Nanos, ctx: &mut Ctx<'_>) {
        match self {
            Builtin::MarketMaker(s) => s.on_timer(now, ctx),
            Builtin::Momentum(s) => s.on_timer(now, ctx),
            Builtin::Pinger(s) => s.on_timer(now, ctx),
        }
    }
}

/// The last top of book and trade price of one instrument, as a strategy saw them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Touch {
    /// Best bid price, if the bid side is not empty.
    pub bid: Option<Price>,
    /// Best offer price, if the offer side is not empty.
    pub ask: Option<Price>,
    /// Last trade price.
    pub last: Option<Price>,
}

impl Touch {
    /// Updates from a tick (top of book and trades; other ticks leave it unchanged;
    /// a sequence reset forgets everything).
    pub fn update(&mut self, tick: &Tick<'_>) {
        match tick {
            Tick::Bbo(b) => {
                let (bid, ask) = (b.bid(), b.ask());
                self.bid = (!bid.qty.is_zero()).then_some(bid.px);
                self.ask = (!ask.qty.is_zero()).then_some(ask.px);
            }
            Tick::Trade(t) => self.last = Some(t.price()),
            Tick::SequenceReset(_) => *self = Touch::default(),
            _ => {}
        }
    }
}

/// `px` rounded down to a multiple of `tick` (`tick` > 0).
fn floor_to(px: i128, tick: i128) -> i128 {
    px.div_euclid(tick) * tick
}

/// `px` rounded up to a multiple of `tick` (`tick` > 0).
fn ceil_to(px: i128, tick: i128) -> i128 {
    -floor_to(-px, tick)
}

/// A price from an `i128` tick count, if it fits and is positive.
fn positive_price(ticks: i128) -> Option<Price> {
    i64::try_from(ticks)
        .ok()
        .filter(|&t| t > 0)
        .map(Price::from_ticks)
}

#[cfg(test)]
mod tests;
