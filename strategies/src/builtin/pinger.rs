//! [`Pinger`]: every `every`-th tick of its instrument, a limit order `offset` away from
//! the market (below the bid for a buy, above the offer for a sell) that it cancels as
//! soon as it is accepted. Each ping and its cancel carry their causing tick, so the
//! gateway and the benchmark measure tick-to-trade and order round trips on a flow
//! that never trades. No clock, no I/O.

use serde::{Deserialize, Serialize};
use tickwarp_wire::{AccountId, InstrumentId, OrderSpec, OrderType, Price, Qty, Side, TimeInForce};

use super::{BuiltinStrategy, ConfigError, Touch};
use crate::ctx::Ctx;
use crate::event::{Execution, Tick};
use crate::state::OrderId;
use crate::strategy::{ExecReport, Strategy};

/// Configuration of a [`Pinger`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PingerConfig {
    /// The instrument.
    pub instrument: InstrumentId,
    /// The account orders trade for.
    pub account: AccountId,
    /// Send a ping on every this-many-th tick.
    pub every: u32,
    /// Distance from the touch.
    pub offset: Price,
    /// Quantity of each ping.
    pub qty: Qty,
    /// Side of the pings.
    pub side: Side,
}

impl Default for PingerConfig {
    /// Instrument 1, account 1, a 1-lot buy 10.00 below the bid every 100th tick.
    fn default() -> Self {
        PingerConfig {
            instrument: InstrumentId(1),
            account: AccountId(1),
            every: 100,
            offset: Price::from_ticks(100_000),
            qty: Qty(1),
            side: Side::Buy,
        }
    }
}

impl PingerConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field, reason| Err(ConfigError { field, reason });
        if self.instrument == InstrumentId::NONE {
            return err("instrument", "must not be 0");
        }
        if self.every == 0 {
            return err("every", "must be positive");
        }
        if self.offset < Price::ZERO {
            return err("offset", "must not be negative");
        }
        if self.qty.is_zero() {
            return err("qty", "must be positive");
        }
        Ok(())
    }
}

/// The pinger (module doc).
#[derive(Clone, Debug)]
pub struct Pinger {
    config: PingerConfig,
    instruments: [InstrumentId; 1],
    touch: Touch,
    ticks: u64,
    live: Option<OrderId>,
    sent: u64,
    skipped: u64,
}

impl Pinger {
    /// A pinger with a validated configuration.
    pub fn new(config: PingerConfig) -> Result<Pinger, ConfigError> {
        config.validate()?;
        Ok(Pinger {
            instruments: [config.instrument],
            config,
            touch: Touch::default(),
            ticks: 0,
            live: None,
            sent: 0,
            skipped: 0,
        })
    }

    /// Pings sent, and pings skipped because the previous one was still live or no
    /// price was known yet.
    pub fn counts(&self) -> (u64, u64) {
        (self.sent, self.skipped)
    }

    /// The ping price: `offset` beyond the touch, at least one tick of 1/10,000.
    fn price(&self) -> Option<Price> {
        let t = &self.touch;
        let px = match self.config.side {
            Side::Buy => t.bid.or(t.last)?.checked_sub(self.config.offset)?,
            Side::Sell => t.ask.or(t.last)?.checked_add(self.config.offset)?,
        };
        Some(px.max(Price::from_ticks(1)))
    }
}

impl BuiltinStrategy for Pinger {
    type Config = PingerConfig;

    const SUMMARY: &'static str = "every Nth tick, a limit order far from the market, canceled once accepted: harmless order flow for latency measurement";

    fn from_config(config: PingerConfig) -> Result<Pinger, ConfigError> {
        Pinger::new(config)
    }
}

impl Strategy for Pinger {
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
        self.ticks += 1;
        if self.ticks % u64::from(self.config.every) != 0 {
            return;
        }
        let price = match (self.live, self.price()) {
            (None, Some(px)) => px,
            _ => {
                self.skipped += 1;
                return;
            }
        };
        let spec = OrderSpec {
            instrument: self.config.instrument,
            account: self.config.account,
            side: self.config.side,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Day,
            price,
            qty: self.config.qty,
        };
        match ctx.new_order(&spec) {
            Ok(id) => {
                self.live = Some(id);
                self.sent += 1;
            }
            Err(_) => self.skipped += 1,
        }
    }

    fn on_execution(&mut self, report: &ExecReport<'_>, ctx: &mut Ctx<'_>) {
        if self.live != Some(report.order) {
            return;
        }
        if report.done {
            self.live = None;
        } else if matches!(report.exec, Execution::Accepted(_)) {
            let _ = ctx.cancel(report.order);
        }
    }
}
