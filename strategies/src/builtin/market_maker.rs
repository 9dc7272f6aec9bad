//! [`MarketMaker`]: two-sided quotes around the mid, skewed by inventory.
//!
//! On every top-of-book update of its instrument with both sides present:
//! `fair = mid - skew_per_lot · position / quote_qty`, bid at `fair - half_spread`
//! rounded down to the tick, ask at `fair + half_spread` rounded up. A side is quoted
//! only while one more fill of `quote_qty` keeps `|position| <= max_position`; a live
//! quote on a side over the limit is canceled. Live quotes are replaced when the mid has
//! moved by `requote_threshold` or more since the last requote; a side without a quote
//! gets one on the next update. Integer arithmetic only; no clock, no I/O.

use serde::{Deserialize, Serialize};
use tickwarp_wire::{AccountId, InstrumentId, OrderSpec, OrderType, Price, Qty, Side, TimeInForce};

use super::{BuiltinStrategy, ConfigError, Touch, ceil_to, floor_to, positive_price};
use crate::ctx::Ctx;
use crate::event::Tick;
use crate::state::OrderId;
use crate::strategy::{ExecReport, Strategy};

/// Configuration of a [`MarketMaker`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketMakerConfig {
    /// The instrument quoted.
    pub instrument: InstrumentId,
    /// The account orders trade for.
    pub account: AccountId,
    /// Distance of each quote from the fair price.
    pub half_spread: Price,
    /// Price increment quotes are rounded to.
    pub tick_size: Price,
    /// Quantity of each quote.
    pub quote_qty: Qty,
    /// Largest absolute position.
    pub max_position: u64,
    /// Fair price shift per `quote_qty` of inventory (down when long, up when short).
    pub skew_per_lot: Price,
    /// Mid move that triggers a requote.
    pub requote_threshold: Price,
}

impl Default for MarketMakerConfig {
    /// Instrument 1, account 1, 0.02 half-spread on a 0.01 tick, 100 per quote, at most
    /// 500, 0.01 skew per lot, requote on a 0.01 move.
    fn default() -> Self {
        MarketMakerConfig {
            instrument: InstrumentId(1),
            account: AccountId(1),
            half_spread: Price::from_ticks(200),
            tick_size: Price::from_ticks(100),
            quote_qty: Qty(100),
            max_position: 500,
            skew_per_lot: Price::from_ticks(100),
            requote_threshold: Price::from_ticks(100),
        }
    }
}

impl MarketMakerConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason| Err(ConfigError { field, reason });
        if self.instrument == InstrumentId::NONE {
            return err("instrument", "must not be 0");
        }
        if self.tick_size <= Price::ZERO {
            return err("tick_size", "must be positive");
        }
        if self.half_spread < Price::ZERO {
            return err("half_spread", "must not be negative");
        }
        if self.quote_qty.is_zero() {
            return err("quote_qty", "must be positive");
        }
        if self.max_position < self.quote_qty.get() {
            return err("max_position", "must be at least quote_qty");
        }
        if self.requote_threshold < Price::ZERO {
            return err("requote_threshold", "must not be negative");
        }
        Ok(())
    }
}

/// The market maker (module doc).
#[derive(Clone, Debug)]
pub struct MarketMaker {
    config: MarketMakerConfig,
    instruments: [InstrumentId; 1],
    touch: Touch,
    bid: Option<OrderId>,
    ask: Option<OrderId>,
    quoted_mid: Option<Price>,
}

impl MarketMaker {
    /// A market maker with a validated configuration.
    pub fn new(config: MarketMakerConfig) -> Result<MarketMaker, ConfigError> {
        config.validate()?;
        Ok(MarketMaker {
            instruments: [config.instrument],
            config,
            touch: Touch::default(),
            bid: None,
            ask: None,
            quoted_mid: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MarketMakerConfig {
        &self.config
    }

    /// The bid and ask prices to quote at `mid` with signed `position`; `None` for a
    /// side that must not be quoted.
    pub fn quotes(&self, mid: Price, position: i64) -> (Option<Price>, Option<Price>) {
        let c = &self.config;
        let tick = i128::from(c.tick_size.ticks());
        let lot = i128::from(c.quote_qty.get());
        let skew = i128::from(c.skew_per_lot.ticks()) * i128::from(position) / lot;
        let fair = i128::from(mid.ticks()) - skew;
        let half = i128::from(c.half_spread.ticks());
        let bid_px = floor_to(fair - half, tick);
        let mut ask_px = ceil_to(fair + half, tick);
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

    /// Brings one side's quote to `target` (send, replace or cancel).
    fn quote_side(&mut self, side: Side, target: Option<Price>, requote: bool, ctx: &mut Ctx<'_>) {
        let slot = match side {
            Side::Buy => self.bid,
            Side::Sell => self.ask,
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
                    if requote && o.is_quiet() && o.price != px {
                        let qty = o.cum_qty.checked_add(self.config.quote_qty);
                        if let Some(qty) = qty {
                            let _ = ctx.replace(id, px, qty);
                        }
                    }
                }
                slot
            }
            (None, Some(px)) => {
                let spec = OrderSpec {
                    instrument: self.config.instrument,
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
        match side {
            Side::Buy => self.bid = next,
            Side::Sell => self.ask = next,
        }
    }
}

impl BuiltinStrategy for MarketMaker {
    type Config = MarketMakerConfig;

    const SUMMARY: &'static str = "quotes both sides around the mid, skewed by inventory, within a position limit; requotes when the mid moves";

    fn from_config(config: MarketMakerConfig) -> Result<MarketMaker, ConfigError> {
        MarketMaker::new(config)
    }
}

impl Strategy for MarketMaker {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn instruments(&self) -> &[InstrumentId] {
        &self.instruments
    }

    fn on_tick(&mut self, tick: &Tick<'_>, ctx: &mut Ctx<'_>) {
        self.touch.update(tick);
        if let Tick::SequenceReset(_) = tick {
            self.quoted_mid = None;
            let _ = ctx.cancel_all(Some(self.config.instrument));
            return;
        }
        if tick.instrument() != self.config.instrument {
            return;
        }
        let Some(mid) = tick.mid() else {
            return;
        };
        let requote = self.quoted_mid.is_none_or(|q| {
            (i128::from(mid.ticks()) - i128::from(q.ticks())).abs()
                >= i128::from(self.config.requote_threshold.ticks())
        });
        let position = ctx.position_qty(self.config.instrument);
        let (bid, ask) = self.quotes(mid, position);
        self.quote_side(Side::Buy, bid, requote, ctx);
        self.quote_side(Side::Sell, ask, requote, ctx);
        if requote {
            self.quoted_mid = Some(mid);
        }
    }

    fn on_execution(&mut self, report: &ExecReport<'_>, _ctx: &mut Ctx<'_>) {
        if report.done {
            if self.bid == Some(report.order) {
                self.bid = None;
            }
            if self.ask == Some(report.order) {
                self.ask = None;
            }
        }
    }
}
