//! [`OptionsMm`]: an options market maker quoting a small chain around theoretical values
//! it gets from pricing jobs ([`Ctx::price`]), built from its underlying's ticks.
//!
//! The chain: for each of `strikes` a call (instrument `first_option + 2i`) and a put
//! (`first_option + 2i + 1`), European, `expiry_hours` to expiry, priced with
//! Black–Scholes–Merton at `vol_bp`, `rate_bp` and `div_bp` (basis points per year) and
//! spot = the underlying's mid.
//!
//! - **Repricing.** An option is (re)priced when it has no theoretical value yet, or the
//!   spot has moved `reprice_move` or more from the spot its value was priced at, and no
//!   job of its own is outstanding. A submit the pricer refuses
//!   ([`PricerError::WouldBlock`]: no credit) is retried on the next event, and the timer
//!   is armed `retry_us` ahead so that a quiet market retries too.
//! - **Quoting.** Bid at `theo - edge` rounded down to `tick_size`, ask at `theo + edge`
//!   rounded up, `quote_qty` each, a side only while one more fill keeps
//!   `|position| <= max_position`. Live quotes are replaced when the target moves.
//! - **Never stale.** An option's quotes are canceled, and none is sent, while its value
//!   is missing or was priced at a spot more than `max_stale_move` from the current one.
//!   A repricing job outstanding longer than `max_pricing_delay_us` is given up (cancel
//!   asked, its late result ignored) and the value dropped, so the quotes go; the timer
//!   fires at that bound so this happens even without ticks, and the next event
//!   reprices. A result that is not [`Status::Done`] drops the value too.
//!
//! No clock, no I/O: time is [`Ctx::now`]; the pricer is the engine's.

use serde::{Deserialize, Serialize};
use tickwarp_pricing::{Contract, Job, JobResult, OptionType, Status};
use tickwarp_wire::{
    AccountId, InstrumentId, Nanos, OrderSpec, OrderType, Price, Qty, Side, TimeInForce,
};

use super::{BuiltinStrategy, ConfigError, ceil_to, floor_to, positive_price};
use crate::ctx::Ctx;
use crate::event::Tick;
use crate::pricer::PricerError;
use crate::state::OrderId;
use crate::strategy::{ExecReport, Strategy};

/// Most strikes in a chain (two options each).
pub const MAX_STRIKES: usize = 16;

/// Configuration of an [`OptionsMm`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptionsMmConfig {
    /// The underlying, whose mid is the spot.
    pub underlying: InstrumentId,
    /// The first option's instrument; the chain takes the next `2 · strikes` ids.
    pub first_option: InstrumentId,
    /// The strikes, each with a call and a put.
    pub strikes: Vec<Price>,
    /// The account orders trade for.
    pub account: AccountId,
    /// Volatility, basis points per year (2500 = 25 %).
    pub vol_bp: u32,
    /// Risk-free rate, basis points per year (continuously compounded).
    pub rate_bp: i32,
    /// Dividend yield of the underlying, basis points per year.
    pub div_bp: u32,
    /// Time to expiry in hours (a year is 8760).
    pub expiry_hours: u32,
    /// Distance of each quote from the theoretical value.
    pub edge: Price,
    /// Price increment quotes are rounded to.
    pub tick_size: Price,
    /// Quantity of each quote.
    pub quote_qty: Qty,
    /// Largest absolute position per option.
    pub max_position: u64,
    /// Spot move from the priced spot that triggers a reprice.
    pub reprice_move: Price,
    /// Spot move from the priced spot beyond which the value is stale and quotes are
    /// pulled.
    pub max_stale_move: Price,
    /// Longest a repricing job may be outstanding before the option's quotes are pulled,
    /// in microseconds.
    pub max_pricing_delay_us: u64,
    /// Delay before retrying a refused submit when no event comes, in microseconds.
    pub retry_us: u64,
}

impl Default for OptionsMmConfig {
    /// Underlying 1, options from 2 at strikes 95, 100 and 105, account 1, 25 % vol, 3 %
    /// rate, no dividend, 90 days; 0.05 edge on a 0.01 tick, 10 per quote, at most 100;
    /// reprice on a 0.05 move, stale beyond 0.25 or after 50 ms; retry after 1 ms.
    fn default() -> Self {
        OptionsMmConfig {
            underlying: InstrumentId(1),
            first_option: InstrumentId(2),
            strikes: [95, 100, 105]
                .iter()
                .map(|k| Price::from_ticks(k * Price::SCALE))
                .collect(),
            account: AccountId(1),
            vol_bp: 2_500,
            rate_bp: 300,
            div_bp: 0,
            expiry_hours: 90 * 24,
            edge: Price::from_ticks(500),
            tick_size: Price::from_ticks(100),
            quote_qty: Qty(10),
            max_position: 100,
            reprice_move: Price::from_ticks(500),
            max_stale_move: Price::from_ticks(2_500),
            max_pricing_delay_us: 50_000,
            retry_us: 1_000,
        }
    }
}

impl OptionsMmConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason| Err(ConfigError { field, reason });
        if self.underlying == InstrumentId::NONE {
            return err("underlying", "must not be 0");
        }
        if self.strikes.is_empty() || self.strikes.len() > MAX_STRIKES {
            return err("strikes", "must list 1 to 16 strikes");
        }
        if self.strikes.iter().any(|&k| k <= Price::ZERO) {
            return err("strikes", "must be positive");
        }
        let last = u64::from(self.first_option.0) + 2 * self.strikes.len() as u64 - 1;
        if self.first_option == InstrumentId::NONE || last > u64::from(u32::MAX) {
            return err("first_option", "the chain's ids must be 1 to 2^32 - 1");
        }
        let chain = u64::from(self.first_option.0)..=last;
        if chain.contains(&u64::from(self.underlying.0)) {
            return err("first_option", "the chain's ids must not include the underlying");
        }
        if self.vol_bp == 0 {
            return err("vol_bp", "must be positive");
        }
        if self.expiry_hours == 0 {
            return err("expiry_hours", "must be positive");
        }
        if self.tick_size <= Price::ZERO {
            return err("tick_size", "must be positive");
        }
        if self.edge < Price::ZERO {
            return err("edge", "must not be negative");
        }
        if self.quote_qty.is_zero() {
            return err("quote_qty", "must be positive");
        }
        if self.max_position < self.quote_qty.get() {
            return err("max_position", "must be at least quote_qty");
        }
        if self.reprice_move <= Price::ZERO {
            return err("reprice_move", "must be positive");
        }
        if self.max_stale_move < self.reprice_move {
            return err("max_stale_move", "must be at least reprice_move");
        }
        if self.max_pricing_delay_us == 0 || self.retry_us == 0 {
            return err("max_pricing_delay_us", "delays must be positive");
        }
        Ok(())
    }
}

/// A theoretical value and the spot it was priced at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Theo {
    value: Price,
    spot: Price,
}

/// An outstanding pricing job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    id: u64,
    spot: Price,
    since: Nanos,
}

/// One option of the chain and its quotes.
#[derive(Clone, Copy, Debug)]
struct Leg {
    instrument: InstrumentId,
    kind: OptionType,
    strike: Price,
    theo: Option<Theo>,
    pending: Option<Pending>,
    bid: Option<OrderId>,
    ask: Option<OrderId>,
}

/// The options market maker (module doc).
#[derive(Clone, Debug)]
pub struct OptionsMm {
    config: OptionsMmConfig,
    /// The underlying, then the chain.
    instruments: Vec<InstrumentId>,
    legs: Vec<Leg>,
    spot: Option<Price>,
}

/// A price in ticks as a float in currency units.
fn to_f64(p: Price) -> f64 {
    p.ticks() as f64 / Price::SCALE as f64
}

/// `|a - b|` in ticks.
fn distance(a: Price, b: Price) -> i128 {
    (i128::from(a.ticks()) - i128::from(b.ticks())).abs()
}

impl OptionsMm {
    /// An options market maker with a validated configuration.
    pub fn new(config: OptionsMmConfig) -> Result<OptionsMm, ConfigError> {
        config.validate()?;
        let mut legs = Vec::with_capacity(2 * config.strikes.len());
        let mut id = config.first_option.0;
        for &strike in &config.strikes {
            for kind in [OptionType::Call, OptionType::Put] {
                legs.push(Leg {
                    instrument: InstrumentId(id),
                    kind,
                    strike,
                    theo: None,
                    pending: None,
                    bid: None,
                    ask: None,
                });
                id = id.saturating_add(1);
            }
        }
        let mut instruments = vec![config.underlying];
        instruments.extend(legs.iter().map(|l| l.instrument));
        Ok(OptionsMm {
            config,
            instruments,
            legs,
            spot: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OptionsMmConfig {
        &self.config
    }

    /// The theoretical value of option `instrument` and the spot it was priced at.
    pub fn theo(&self, instrument: InstrumentId) -> Option<(Price, Price)> {
        let leg = self.legs.iter().find(|l| l.instrument == instrument)?;
        leg.theo.map(|t| (t.value, t.spot))
    }

    /// The pricing job for an option struck at `strike` at `spot` (id set by the engine).
    pub fn job(&self, kind: OptionType, strike: Price, spot: Price) -> Job {
        let c = &self.config;
        Job::black_scholes(
            0,
            Contract {
                kind,
                spot: to_f64(spot),
                strike: to_f64(strike),
                rate: f64::from(c.rate_bp) / 10_000.0,
                div: f64::from(c.div_bp) / 10_000.0,
                vol: f64::from(c.vol_bp) / 10_000.0,
                expiry: f64::from(c.expiry_hours) / 8_760.0,
            },
        )
    }

    /// The bid and ask to quote around `theo` with signed `position`; `None` for a side
    /// that must not be quoted.
    pub fn quotes(&self, theo: Price, position: i64) -> (Option<Price>, Option<Price>) {
        let c = &self.config;
        let tick = i128::from(c.tick_size.ticks());
        let fair = i128::from(theo.ticks());
        let edge = i128::from(c.edge.ticks());
        let bid_px = floor_to(fair - edge, tick);
        let mut ask_px = ceil_to(fair + edge, tick);
        if ask_px <= bid_px {
            ask_px = bid_px + tick;
        }
        let q = i128::from(c.quote_qty.get());
        let max = i128::from(c.max_position);
        let pos = i128::from(position);
        let bid = (pos + q <= max).then(|| positive_price(bid_px)).flatten();
        let ask = (pos - q >= -max).then(|| positive_price(ask_px)).flatten();
        (bid, ask)
    }

    /// Reprices what needs it, brings every option's quotes to their targets, and arms
    /// the timer for the next bound.
    fn refresh(&mut self, ctx: &mut Ctx<'_>) {
        let Some(spot) = self.spot else {
            return;
        };
        let now = ctx.now();
        let reprice = i128::from(self.config.reprice_move.ticks());
        let stale = i128::from(self.config.max_stale_move.ticks());
        let delay = Nanos(self.config.max_pricing_delay_us.saturating_mul(1_000));
        for i in 0..self.legs.len() {
            let late = self.legs.get(i).and_then(|l| l.pending).filter(|p| {
                now.saturating_sub(p.since) > delay
            });
            if let Some(p) = late {
                // Given up: the server may still answer, but not for this leg any more.
                let _ = ctx.cancel_pricing(p.id);
                if let Some(l) = self.legs.get_mut(i) {
                    l.pending = None;
                    l.theo = None;
                }
            }
        }
        let mut refused = false;
        for i in 0..self.legs.len() {
            let Some(leg) = self.legs.get(i).copied() else {
                continue;
            };
            let needs = leg.pending.is_none()
                && leg.theo.is_none_or(|t| distance(t.spot, spot) >= reprice);
            if needs && !refused {
                let job = self.job(leg.kind, leg.strike, spot);
                match ctx.price(&job) {
                    Ok(id) => {
                        if let Some(l) = self.legs.get_mut(i) {
                            l.pending = Some(Pending {
                                id,
                                spot,
                                since: now,
                            });
                        }
                    }
                    // Retried on the next event or the retry timer.
                    Err(PricerError::WouldBlock | PricerError::Failed(_)) => refused = true,
                }
            }
        }
        let mut next_timer: Option<Nanos> = None;
        for i in 0..self.legs.len() {
            let Some(leg) = self.legs.get(i).copied() else {
                continue;
            };
            let fresh = leg.theo.filter(|t| distance(t.spot, spot) <= stale);
            let (bid, ask) = match fresh {
                Some(t) => self.quotes(t.value, ctx.position_qty(leg.instrument)),
                None => (None, None),
            };
            self.quote_side(i, Side::Buy, bid, ctx);
            self.quote_side(i, Side::Sell, ask, ctx);
            if let Some(p) = leg.pending {
                let at = Nanos(p.since.get().saturating_add(delay.get()).saturating_add(1));
                next_timer = Some(next_timer.map_or(at, |t| t.min(at)));
            }
        }
        if refused {
            let at = Nanos(now.get().saturating_add(self.config.retry_us.saturating_mul(1_000)));
            next_timer = Some(next_timer.map_or(at, |t| t.min(at)));
        }
        match next_timer {
            Some(at) => ctx.set_timer(at),
            None => ctx.clear_timer(),
        }
    }

    /// Brings one side of leg `i`'s quote to `target` (send, replace or cancel).
    fn quote_side(&mut self, i: usize, side: Side, target: Option<Price>, ctx: &mut Ctx<'_>) {
        let Some(leg) = self.legs.get(i).copied() else {
            return;
        };
        let slot = match side {
            Side::Buy => leg.bid,
            Side::Sell => leg.ask,
        };
        let next = match (slot, target) {
            (Some(id), None) => {
                if ctx.order(id).is_some_and(|o| o.pending.is_none()) {
                    let _ = ctx.cancel(id);
                }
                slot
            }
            (Some(id), Some(px)) => {
                if let Some(o) = ctx.order(id) {
                    if o.is_quiet() && o.price != px {
                        if let Some(qty) = o.cum_qty.checked_add(self.config.quote_qty) {
                            let _ = ctx.replace(id, px, qty);
                        }
                    }
                }
                slot
            }
            (None, Some(px)) => {
                let spec = OrderSpec {
                    instrument: leg.instrument,
                    account: self.config.account,
                    side,
                    ord_type: OrderType::Limit,
                    tif: TimeInForce::Day,
                    price: px,
                    qty: self.config.quote_qty,
                };
                ctx.new_order(&spec).ok()
            }
            (None, None) => None,
        };
        if let Some(l) = self.legs.get_mut(i) {
            match side {
                Side::Buy => l.bid = next,
                Side::Sell => l.ask = next,
            }
        }
    }
}

impl BuiltinStrategy for OptionsMm {
    type Config = OptionsMmConfig;

    const SUMMARY: &'static str = "quotes a call/put chain around Black-Scholes values priced from the underlying's mid through the engine's pricer; reprices on spot moves, never quotes a stale value";

    fn from_config(config: OptionsMmConfig) -> Result<OptionsMm, ConfigError> {
        OptionsMm::new(config)
    }
}

impl Strategy for OptionsMm {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn instruments(&self) -> &[InstrumentId] {
        &self.instruments
    }

    fn on_tick(&mut self, tick: &Tick<'_>, ctx: &mut Ctx<'_>) {
        if let Tick::SequenceReset(_) = tick {
            self.spot = None;
            for leg in &mut self.legs {
                leg.theo = None;
                leg.pending = None;
            }
            let _ = ctx.cancel_all(None);
            return;
        }
        if tick.instrument() != self.config.underlying {
            return;
        }
        let Some(mid) = tick.mid() else {
            return;
        };
        self.spot = Some(mid);
        self.refresh(ctx);
    }

    fn on_execution(&mut self, report: &ExecReport<'_>, _ctx: &mut Ctx<'_>) {
        if report.done {
            for leg in &mut self.legs {
                if leg.bid == Some(report.order) {
                    leg.bid = None;
                }
                if leg.ask == Some(report.order) {
                    leg.ask = None;
                }
            }
        }
    }

    fn on_timer(&mut self, _now: Nanos, ctx: &mut Ctx<'_>) {
        self.refresh(ctx);
    }

    fn on_pricing(&mut self, result: &JobResult, ctx: &mut Ctx<'_>) {
        let Some(leg) = self
            .legs
            .iter_mut()
            .find(|l| l.pending.is_some_and(|p| p.id == result.id))
        else {
            return;
        };
        let Some(pending) = leg.pending.take() else {
            return;
        };
        let value = (result.price * Price::SCALE as f64).round();
        leg.theo = (result.status == Status::Done && value.is_finite() && value >= 0.0)
            .then(|| Theo {
                value: Price::from_ticks(value as i64),
                spot: pending.spot,
            });
        self.refresh(ctx);
    }
}

#[cfg(test)]
mod tests;
