//! The [`Engine`]: N strategies, market data routed to them by instrument, execution
//! events routed back to the strategy that owns the order, and per-strategy positions,
//! open orders, PnL and counters.
//!
//! Sans-IO: the caller hands in ticks, execution events and the time (`handle_*`), and
//! passes the [`OrderSink`] that receives whatever orders the strategies send. The live
//! [`EngineAgent`](crate::agent::EngineAgent) and the replay driver
//! ([`crate::replay`]) are two such callers; the engine cannot tell them apart.
//!
//! Routing: a tick goes to every strategy subscribed to its instrument (a binary search
//! over a table built when strategies are added), a feed-wide tick (instrument 0:
//! heartbeats, sequence resets) to every strategy. An execution event goes to the
//! strategy whose slot its client order id names (see [`crate::order`]). Marks for
//! unrealized PnL follow the mid of each top-of-book update (both sides present) and
//! the price of each trade.
//!
//! Pricing: the engine owns one [`Pricer`] ([`LocalPricer`] unless
//! [`Engine::with_pricer`] injects another, e.g. a compute server's client). A strategy
//! submits through [`Ctx::price`], which numbers the job with the strategy's index in its
//! top 16 bits; [`Engine::handle_pricing`], called by the duty cycle, polls the pricer
//! without blocking and hands each result to the strategy its id names.
//!
//! What it must not do: read a clock, do I/O, block on the pricer, or allocate after the
//! strategies are added (the tables are sized then; the counting-allocator test in
//! `tests/no_alloc.rs` holds it to that).

use tickwarp_wire::{InstrumentId, Message, Nanos, TickCause};

use crate::ctx::{Ctx, JOB_SEQ_BITS, StrategyState};
use crate::event::{Execution, Tick};
use crate::order::{ClOrdIdGen, IdTagError, MAX_STRATEGIES, OrderSink, check_id_tag};
use crate::pricer::{LocalPricer, Pricer, PricerError};
use crate::state::{Money, OpenOrder, OrderId, Position, StrategyStats};
use crate::strategy::{ExecReport, Strategy};

/// Engine settings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Prefix of every client order id (0 to 4 ASCII letters or digits); give each live
    /// session its own so ids are never reused at the gateway.
    pub id_tag: String,
    /// Open orders each strategy may have.
    pub max_open_orders: usize,
}

impl Default for EngineConfig {
    /// No tag, 64 open orders per strategy.
    fn default() -> Self {
        EngineConfig {
            id_tag: String::new(),
            max_open_orders: 64,
        }
    }
}

/// Why the engine refused a configuration or a strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The id tag is malformed.
    #[error("bad id tag: {0}")]
    IdTag(#[from] IdTagError),
    /// `max_open_orders` is zero.
    #[error("max_open_orders must be at least 1")]
    NoOpenOrders,
    /// The engine already holds [`MAX_STRATEGIES`] strategies.
    #[error("at most {max} strategies per engine")]
    TooManyStrategies {
        /// The limit.
        max: usize,
    },
}

/// Engine-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EngineStats {
    /// Ticks handled.
    pub ticks: u64,
    /// Ticks no strategy subscribed to.
    pub unrouted_ticks: u64,
    /// Execution events handled.
    pub execs: u64,
    /// Execution events whose client order id names no strategy of this engine.
    pub unknown_strategy: u64,
    /// Execution events for no open order of the strategy they name (late or duplicate).
    pub unknown_order: u64,
    /// Timer callbacks.
    pub timers: u64,
    /// Pricing results delivered.
    pub pricing_results: u64,
    /// Pricing results whose id names no strategy of this engine.
    pub unknown_pricing: u64,
}

/// Pricing results handled per [`Engine::handle_pricing`] call at most.
pub const PRICING_BATCH: usize = 32;

/// Where an execution event went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Applied to an order and delivered to its strategy.
    Delivered {
        /// The strategy's index.
        strategy: usize,
        /// The order.
        order: OrderId,
        /// Whether the order finished.
        done: bool,
    },
    /// The id names no strategy of this engine.
    UnknownStrategy,
    /// The strategy has no open order for the event (counted, not delivered).
    UnknownOrder {
        /// The strategy's index.
        strategy: usize,
    },
}

/// What [`Engine::handle_message`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Market data delivered to this many strategies.
    Tick(usize),
    /// An execution event.
    Execution(Routed),
    /// Neither market data nor an execution event (an order command); ignored.
    Ignored,
}

/// One strategy's results, for reports (allocates; not for the hot path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategySummary {
    /// The strategy's name.
    pub name: String,
    /// Its counters.
    pub stats: StrategyStats,
    /// Its positions.
    pub positions: Vec<Position>,
    /// Orders still open.
    pub open_orders: usize,
    /// Realized PnL over all instruments.
    pub realized: Money,
    /// Unrealized PnL over all instruments.
    pub unrealized: Money,
}

impl StrategySummary {
    /// Realized plus unrealized PnL.
    pub fn total(&self) -> Money {
        self.realized.saturating_add(self.unrealized)
    }
}

/// A strategy and the engine's state for it.
#[derive(Debug)]
struct Slot<S> {
    strategy: S,
    state: StrategyState,
}

/// The strategies subscribed to one instrument.
#[derive(Clone, Debug)]
struct Route {
    instrument: InstrumentId,
    slots: Vec<usize>,
}

/// The strategy engine (module doc).
#[derive(Debug)]
pub struct Engine<S> {
    tag: String,
    id_epoch: u32,
    max_open_orders: usize,
    slots: Vec<Slot<S>>,
    routes: Vec<Route>,
    pricer: Box<dyn Pricer>,
    stats: EngineStats,
}

impl<S: Strategy> Engine<S> {
    /// An engine with no strategy.
    pub fn new(config: EngineConfig) -> Result<Engine<S>, EngineError> {
        check_id_tag(&config.id_tag)?;
        if config.max_open_orders == 0 {
            return Err(EngineError::NoOpenOrders);
        }
        Ok(Engine {
            tag: config.id_tag,
            id_epoch: 0,
            max_open_orders: config.max_open_orders,
            slots: Vec::new(),
            routes: Vec::new(),
            pricer: Box::new(LocalPricer::default()),
            stats: EngineStats::default(),
        })
    }

    /// The same engine pricing through `pricer` instead of its [`LocalPricer`] (results
    /// still waiting in the local one are dropped: inject before the first event).
    pub fn with_pricer(mut self, pricer: Box<dyn Pricer>) -> Engine<S> {
        self.pricer = pricer;
        self
    }

    /// The same engine generating client order ids in id space `epoch`
    /// ([`ClOrdIdGen::with_epoch`]) for the strategies added after this call: a live
    /// engine restarted under the same id tag takes a new epoch so that the gateway
    /// never sees an id twice. Replay keeps epoch 0.
    pub fn with_id_epoch(mut self, epoch: u32) -> Engine<S> {
        self.id_epoch = epoch;
        self
    }

    /// Adds a strategy; returns its index (its slot in client order ids).
    pub fn add(&mut self, strategy: S) -> Result<usize, EngineError> {
        let index = self.slots.len();
        if index >= MAX_STRATEGIES {
            return Err(EngineError::TooManyStrategies {
                max: MAX_STRATEGIES,
            });
        }
        let ids = ClOrdIdGen::new(&self.tag, index)?.with_epoch(self.id_epoch);
        let mut state = StrategyState::new(ids, strategy.instruments(), self.max_open_orders);
        state.index = index;
        for p in &state.positions {
            let instrument = p.instrument();
            match self
                .routes
                .binary_search_by_key(&instrument, |r| r.instrument)
            {
                Ok(i) => {
                    if let Some(r) = self.routes.get_mut(i) {
                        r.slots.push(index);
                    }
                }
                Err(i) => self.routes.insert(
                    i,
                    Route {
                        instrument,
                        slots: vec![index],
                    },
                ),
            }
        }
        self.slots.push(Slot { strategy, state });
        Ok(index)
    }

    /// Delivers a tick handled at `now` to the strategies it concerns; returns how many.
    pub fn handle_tick(&mut self, tick: &Tick<'_>, now: Nanos, sink: &mut dyn OrderSink) -> usize {
        self.stats.ticks += 1;
        let instrument = tick.instrument();
        let mark = match tick {
            Tick::Bbo(_) => tick.mid(),
            Tick::Trade(t) => Some(t.price()),
            _ => None,
        };
        let cause = tick.cause(now);
        let Engine {
            slots,
            routes,
            pricer,
            ..
        } = self;
        let delivered = if instrument == InstrumentId::NONE {
            for slot in slots.iter_mut() {
                deliver_tick(slot, &mut **pricer, tick, None, now, cause, sink);
            }
            slots.len()
        } else {
            match routes.binary_search_by_key(&instrument, |r| r.instrument) {
                Ok(i) => {
                    let targets = routes.get(i).map_or(&[][..], |r| &r.slots);
                    for &s in targets {
                        if let Some(slot) = slots.get_mut(s) {
                            deliver_tick(slot, &mut **pricer, tick, mark, now, cause, sink);
                        }
                    }
                    targets.len()
                }
                Err(_) => 0,
            }
        };
        if delivered == 0 {
            self.stats.unrouted_ticks += 1;
        }
        delivered
    }

    /// Applies an execution event received at `now` and delivers it to its strategy.
    pub fn handle_execution(
        &mut self,
        exec: &Execution<'_>,
        now: Nanos,
        sink: &mut dyn OrderSink,
    ) -> Routed {
        self.stats.execs += 1;
        let owner = ClOrdIdGen::parse_slot(&self.tag, &exec.cl_ord_id()).or_else(|| {
            exec.orig_cl_ord_id()
                .and_then(|orig| ClOrdIdGen::parse_slot(&self.tag, &orig))
        });
        let Engine { slots, pricer, .. } = self;
        let Some((strategy, slot)) = owner.and_then(|i| Some((i, slots.get_mut(i)?))) else {
            self.stats.unknown_strategy += 1;
            return Routed::UnknownStrategy;
        };
        let Some(applied) = slot.state.orders.apply(exec) else {
            self.stats.unknown_order += 1;
            return Routed::UnknownOrder { strategy };
        };
        slot.state.stats.count(exec);
        if let Some((side, px, qty)) = applied.fill {
            if let Some(p) = slot.state.position_mut(applied.instrument) {
                p.apply_fill(side, px, qty);
            }
        }
        let report = ExecReport {
            order: applied.order,
            exec: *exec,
            done: applied.done,
        };
        let mut ctx =
            Ctx::new(now, TickCause::NONE, &mut slot.state, sink).with_pricer(&mut **pricer);
        slot.strategy.on_execution(&report, &mut ctx);
        Routed::Delivered {
            strategy,
            order: applied.order,
            done: applied.done,
        }
    }

    /// Handles a decoded record: market data or an execution event.
    pub fn handle_message(
        &mut self,
        msg: Message<'_>,
        now: Nanos,
        sink: &mut dyn OrderSink,
    ) -> Handled {
        if let Some(tick) = Tick::from_message(msg) {
            Handled::Tick(self.handle_tick(&tick, now, sink))
        } else if let Some(exec) = Execution::from_message(msg) {
            Handled::Execution(self.handle_execution(&exec, now, sink))
        } else {
            Handled::Ignored
        }
    }

    /// Fires every timer due at `now` (disarming it first); returns how many fired.
    pub fn handle_timers(&mut self, now: Nanos, sink: &mut dyn OrderSink) -> usize {
        let mut fired = 0;
        let Engine { slots, pricer, .. } = self;
        for slot in slots.iter_mut() {
            if slot.state.timer.is_some_and(|at| at <= now) {
                slot.state.timer = None;
                slot.state.stats.timers += 1;
                let mut ctx = Ctx::new(now, TickCause::NONE, &mut slot.state, sink)
                    .with_pricer(&mut **pricer);
                slot.strategy.on_timer(now, &mut ctx);
                fired += 1;
            }
        }
        self.stats.timers += fired as u64;
        fired
    }

    /// Polls the pricer without blocking and hands up to [`PRICING_BATCH`] results to the
    /// strategies that submitted them; returns how many it handled. An error is the
    /// pricer's (its backend failed); results already handled stay handled.
    pub fn handle_pricing(
        &mut self,
        now: Nanos,
        sink: &mut dyn OrderSink,
    ) -> Result<usize, PricerError> {
        let Engine {
            slots,
            pricer,
            stats,
            ..
        } = self;
        let mut handled = 0;
        while handled < PRICING_BATCH {
            let Some(result) = pricer.try_poll()? else {
                break;
            };
            handled += 1;
            let index = usize::try_from(result.id >> JOB_SEQ_BITS).unwrap_or(usize::MAX);
            let Some(slot) = slots.get_mut(index) else {
                stats.unknown_pricing += 1;
                continue;
            };
            stats.pricing_results += 1;
            slot.state.stats.pricing_results += 1;
            let mut ctx =
                Ctx::new(now, TickCause::NONE, &mut slot.state, sink).with_pricer(&mut **pricer);
            slot.strategy.on_pricing(&result, &mut ctx);
        }
        Ok(handled)
    }

    /// The earliest armed timer.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.slots.iter().filter_map(|s| s.state.timer).min()
    }

    /// Number of strategies.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the engine holds no strategy.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Engine-wide counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Strategy `index`.
    pub fn strategy(&self, index: usize) -> Option<&S> {
        self.slots.get(index).map(|s| &s.strategy)
    }

    /// Strategy `index`'s counters.
    pub fn strategy_stats(&self, index: usize) -> Option<&StrategyStats> {
        self.slots.get(index).map(|s| &s.state.stats)
    }

    /// Strategy `index`'s positions.
    pub fn positions(&self, index: usize) -> Option<&[Position]> {
        self.slots.get(index).map(|s| s.state.positions.as_slice())
    }

    /// Strategy `index`'s open orders.
    pub fn open_orders(&self, index: usize) -> Option<&[OpenOrder]> {
        self.slots.get(index).map(|s| s.state.orders.as_slice())
    }

    /// Summaries of every strategy, in index order.
    pub fn summaries(&self) -> Vec<StrategySummary> {
        self.slots
            .iter()
            .map(|s| {
                let positions = s.state.positions.clone();
                let realized = positions
                    .iter()
                    .fold(Money::ZERO, |m, p| m.saturating_add(p.realized()));
                let unrealized = positions
                    .iter()
                    .fold(Money::ZERO, |m, p| m.saturating_add(p.unrealized()));
                StrategySummary {
                    name: s.strategy.name().to_owned(),
                    stats: s.state.stats,
                    positions,
                    open_orders: s.state.orders.len(),
                    realized,
                    unrealized,
                }
            })
            .collect()
    }
}

/// Marks the strategy's position and calls its `on_tick`.
fn deliver_tick<S: Strategy>(
    slot: &mut Slot<S>,
    pricer: &mut dyn Pricer,
    tick: &Tick<'_>,
    mark: Option<tickwarp_wire::Price>,
    now: Nanos,
    cause: TickCause,
    sink: &mut dyn OrderSink,
) {
    if let Some(m) = mark {
        if let Some(p) = slot.state.position_mut(tick.instrument()) {
            p.set_mark(m);
        }
    }
    slot.state.stats.ticks += 1;
    let mut ctx = Ctx::new(now, cause, &mut slot.state, sink).with_pricer(pricer);
    slot.strategy.on_tick(tick, &mut ctx);
}

#[cfg(test)]
mod tests;
