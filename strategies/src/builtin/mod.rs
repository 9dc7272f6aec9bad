//! The example strategies and the registry the CLI selects them from.
//!
//! Each strategy lives in its own file: its configuration (a serde struct whose every
//! field has a default, so an empty table selects the defaults), its validation, the
//! strategy itself and its [`BuiltinStrategy`] impl. The list below is the whole
//! registry: one line per strategy, from which `registry!` (in `registry.rs`) generates
//! [`Builtin`] (static dispatch), [`BuiltinConfig`] (the choice as one tagged value,
//! `name = "market_maker"` plus the fields), the [`BUILTIN`] table and [`NAMES`].
//! [`by_name`] builds a strategy from its registry name and any serde deserializer (a
//! TOML table, for example); [`default_by_name`] with its defaults. What each strategy
//! does is in its type's doc and its [`StrategyEntry::summary`]. Nothing here reads a
//! clock or does I/O.
//!
//! To add a strategy: write `builtin/<name>.rs` (config with `validate`, the
//! [`Strategy`](crate::Strategy) impl whose `name()` returns `Self::NAME`, the
//! [`BuiltinStrategy`] impl) and add one line to the list below. Config parsing, the
//! CLI's `--strategy` help, name lookups and the "unknown strategy" error all follow
//! from the table.

mod registry;

pub use registry::{
    BuiltinStrategy, ConfigError, KnownNames, RegistryError, StrategyEntry, lookup,
};

use serde::Deserializer;
use tickwarp_wire::Price;

use crate::event::Tick;

// The registry: `"name" => module::Type,`, in the order the CLI lists them.
registry::registry! {
    "market_maker" => market_maker::MarketMaker,
    "momentum" => momentum::Momentum,
    "options_mm" => options_mm::OptionsMm,
    "pinger" => pinger::Pinger,
}

/// Builds the strategy registered as `name` from `config` (any serde deserializer).
pub fn by_name<'de, D: Deserializer<'de>>(name: &str, config: D) -> Result<Builtin, RegistryError> {
    Builtin::from_config(BuiltinConfig::parse(name, config)?)
}

/// Builds the strategy registered as `name` with its default configuration.
pub fn default_by_name(name: &str) -> Result<Builtin, RegistryError> {
    Builtin::from_config((lookup(name)?.default_config)())
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
