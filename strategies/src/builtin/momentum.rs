//! [`Momentum`]: exponential moving average crossover.
//!
//! Each sample (a trade price, or the mid of a two-sided top of book, per
//! [`PriceSource`]) updates a fast and a slow EMA, `ema += (x - ema) · 2 / (n + 1)`, kept
//! in integers scaled by 2^20 so no float and no platform rounding enters (replay is
//! bit-exact). After `slow_period` samples, fast above slow targets a long of
//! `max_position`, fast below slow a short of `max_position`. With no order working it
//! sends one order of at most `qty` toward the target: an IOC at the far touch plus
//! `aggression` ([`Entry::Ioc`]), or a day limit joining the near touch
//! ([`Entry::Limit`]), which it cancels when the target flips. No clock, no I/O.

use serde::{Deserialize, Serialize};
use tickwarp_wire::{AccountId, InstrumentId, OrderSpec, OrderType, Price, Qty, Side, TimeInForce};

use super::{BuiltinStrategy, ConfigError, Touch};
use crate::ctx::Ctx;
use crate::event::Tick;
use crate::state::OrderId;
use crate::strategy::{ExecReport, Strategy};

/// Fractional bits of the EMA values.
const EMA_SHIFT: u32 = 20;

/// Which prices feed the averages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// Trade prices.
    Trades,
    /// The mid of each two-sided top-of-book update.
    Mid,
}

/// How positions are entered and exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// Immediate-or-cancel at the far touch plus `aggression`.
    Ioc,
    /// Day limit order at the near touch.
    Limit,
}

/// Configuration of a [`Momentum`] strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MomentumConfig {
    /// The instrument traded.
    pub instrument: InstrumentId,
    /// The account orders trade for.
    pub account: AccountId,
    /// Samples of the fast average.
    pub fast_period: u32,
    /// Samples of the slow average.
    pub slow_period: u32,
    /// Which prices are sampled.
    pub source: PriceSource,
    /// Largest quantity per order.
    pub qty: Qty,
    /// Target absolute position.
    pub max_position: u64,
    /// Order style.
    pub entry: Entry,
    /// For IOC orders: how far through the touch to price.
    pub aggression: Price,
}

impl Default for MomentumConfig {
    /// Instrument 1, account 1, 8/32 sample averages of the mid, 100 per order up to 300,
    /// IOC at the touch.
    fn default() -> Self {
        MomentumConfig {
            instrument: InstrumentId(1),
            account: AccountId(1),
            fast_period: 8,
            slow_period: 32,
            source: PriceSource::Mid,
            qty: Qty(100),
            max_position: 300,
            entry: Entry::Ioc,
            aggression: Price::ZERO,
        }
    }
}

impl MomentumConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason| Err(ConfigError { field, reason });
        if self.instrument == InstrumentId::NONE {
            return err("instrument", "must not be 0");
        }
        if self.fast_period == 0 {
            return err("fast_period", "must be positive");
        }
        if self.slow_period <= self.fast_period {
            return err("slow_period", "must be greater than fast_period");
        }
        if self.qty.is_zero() {
            return err("qty", "must be positive");
        }
        if i64::try_from(self.max_position).is_err() {
            return err("max_position", "too large");
        }
        if self.aggression < Price::ZERO {
            return err("aggression", "must not be negative");
        }
        Ok(())
    }
}

/// An exponential moving average in fixed point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ema {
    /// Value scaled by 2^EMA_SHIFT; `None` before the first sample.
    value: Option<i128>,
    /// `n + 1` for the smoothing factor `2 / (n + 1)`.
    denom: i128,
}

impl Ema {
    fn new(period: u32) -> Ema {
        Ema {
            value: None,
            denom: i128::from(period) + 1,
        }
    }

    fn update(&mut self, x: Price) -> i128 {
        let x = i128::from(x.ticks()) << EMA_SHIFT;
        let v = match self.value {
            None => x,
            Some(v) => v + (x - v) * 2 / self.denom,
        };
        self.value = Some(v);
        v
    }
}

/// The momentum strategy (module doc).
#[derive(Clone, Debug)]
pub struct Momentum {
    config: MomentumConfig,
    instruments: [InstrumentId; 1],
    touch: Touch,
    fast: Ema,
    slow: Ema,
    samples: u64,
    target: i64,
    working: Option<OrderId>,
}

impl Momentum {
    /// A momentum strategy with a validated configuration.
    pub fn new(config: MomentumConfig) -> Result<Momentum, ConfigError> {
        config.validate()?;
        Ok(Momentum {
            instruments: [config.instrument],
            fast: Ema::new(config.fast_period),
            slow: Ema::new(config.slow_period),
            config,
            touch: Touch::default(),
            samples: 0,
            target: 0,
            working: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MomentumConfig {
        &self.config
    }

    /// The current target position.
    pub fn target(&self) -> i64 {
        self.target
    }

    /// The fast and slow averages in ticks (rounded down), once sampled.
    pub fn averages(&self) -> Option<(Price, Price)> {
        let f = self.fast.value? >> EMA_SHIFT;
        let s = self.slow.value? >> EMA_SHIFT;
        Some((
            Price::from_ticks(i64::try_from(f).ok()?),
            Price::from_ticks(i64::try_from(s).ok()?),
        ))
    }

    /// The price sampled from `tick`, if any.
    fn sample(&self, tick: &Tick<'_>) -> Option<Price> {
        match (self.config.source, tick) {
            (PriceSource::Trades, Tick::Trade(t)) => Some(t.price()),
            (PriceSource::Mid, Tick::Bbo(_)) => tick.mid(),
            _ => None,
        }
    }

    /// The limit price for an order on `side`.
    fn price_for(&self, side: Side) -> Option<Price> {
        let t = &self.touch;
        let px = match (self.config.entry, side) {
            (Entry::Ioc, Side::Buy) => t.ask.or(t.last)?.checked_add(self.config.aggression)?,
            (Entry::Ioc, Side::Sell) => t.bid.or(t.last)?.checked_sub(self.config.aggression)?,
            (Entry::Limit, Side::Buy) => t.bid.or(t.last)?,
            (Entry::Limit, Side::Sell) => t.ask.or(t.last)?,
        };
        (px > Price::ZERO).then_some(px)
    }

    /// Moves toward the target: cancels a working order on the wrong side, or sends one.
    fn trade(&mut self, ctx: &mut Ctx<'_>) {
        let position = ctx.position_qty(self.config.instrument);
        let diff = i128::from(self.target) - i128::from(position);
        let want = match diff.signum() {
            1 => Some(Side::Buy),
            -1 => Some(Side::Sell),
            _ => None,
        };
        if let Some(id) = self.working {
            match ctx.order(id) {
                Some(o) if Some(o.side) != want && o.pending.is_none() => {
                    let _ = ctx.cancel(id);
                }
                Some(_) => {}
                None => self.working = None,
            }
            return;
        }
        let Some(side) = want else {
            return;
        };
        let Some(price) = self.price_for(side) else {
            return;
        };
        let qty = Qty(u64::try_from(diff.unsigned_abs())
            .unwrap_or(u64::MAX)
            .min(self.config.qty.get()));
        let tif = match self.config.entry {
            Entry::Ioc => TimeInForce::Ioc,
            Entry::Limit => TimeInForce::Day,
        };
        let spec = OrderSpec {
            instrument: self.config.instrument,
            account: self.config.account,
            side,
            ord_type: OrderType::Limit,
            tif,
            price,
            qty,
        };
        self.working = ctx.new_order(&spec).ok();
    }
}

impl BuiltinStrategy for Momentum {
    type Config = MomentumConfig;

    const SUMMARY: &'static str = "fast/slow moving average crossover in integer arithmetic; goes long or short up to a position limit with IOC or passive limit orders";

    fn from_config(config: MomentumConfig) -> Result<Momentum, ConfigError> {
        Momentum::new(config)
    }
}

impl Strategy for Momentum {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn instruments(&self) -> &[InstrumentId] {
        &self.instruments
    }

    fn on_tick(&mut self, tick: &Tick<'_>, ctx: &mut Ctx<'_>) {
        self.touch.update(tick);
        if tick.instrument() != self.config.instrument {
            return;
        }
        let Some(x) = self.sample(tick) else {
            return;
        };
        let fast = self.fast.update(x);
        let slow = self.slow.update(x);
        self.samples += 1;
        if self.samples < u64::from(self.config.slow_period) {
            return;
        }
        // Validated to fit an i64.
        let max = i64::try_from(self.config.max_position).unwrap_or(0);
        self.target = match fast.cmp(&slow) {
            core::cmp::Ordering::Greater => max,
            core::cmp::Ordering::Less => -max,
            core::cmp::Ordering::Equal => self.target,
        };
        self.trade(ctx);
    }

    fn on_execution(&mut self, report: &ExecReport<'_>, _ctx: &mut Ctx<'_>) {
        if report.done && self.working == Some(report.order) {
            self.working = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_converges_in_integers() {
        let mut e = Ema::new(3);
        assert_eq!(e.update(Price::from_ticks(100)), 100 << EMA_SHIFT);
        let v = e.update(Price::from_ticks(200));
        assert_eq!(v, 150 << EMA_SHIFT);
        for _ in 0..200 {
            e.update(Price::from_ticks(200));
        }
        assert!(e.value.is_some_and(|v| (v >> EMA_SHIFT) >= 199));
    }

    #[test]
    fn config_rules() {
        let ok = MomentumConfig::default();
        assert!(ok.validate().is_ok());
        let bad = MomentumConfig {
            slow_period: 8,
            ..MomentumConfig::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.field), Err("slow_period"));
    }
}
