//! The [`Strategy`] trait: one trait for live trading and replay (hftbacktest's model).
//!
//! A strategy reacts to market data ([`Strategy::on_tick`]), to execution events for its
//! own orders ([`Strategy::on_execution`]), to its timer ([`Strategy::on_timer`]) and
//! to the results of its pricing jobs ([`Strategy::on_pricing`]), acting only through
//! the [`Ctx`] it is handed. It never reads a clock, never does I/O
//! and never learns whether it runs live or in replay.

use tickwarp_pricing::JobResult;
use tickwarp_wire::{InstrumentId, Nanos};

use crate::ctx::Ctx;
use crate::event::{Execution, Tick};
use crate::state::OrderId;

/// An execution event for one of the strategy's orders, after the engine applied it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecReport<'a> {
    /// The order's handle.
    pub order: OrderId,
    /// The event.
    pub exec: Execution<'a>,
    /// Whether the order is finished (filled, canceled or rejected) and left the table.
    pub done: bool,
}

/// A trading strategy driven by the engine.
pub trait Strategy {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// The instruments whose market data the strategy receives and which it may trade
    /// (read once, when the strategy is added to an engine).
    fn instruments(&self) -> &[InstrumentId];

    /// A market data record of a subscribed instrument, or a feed-wide record
    /// (heartbeat, sequence reset). Orders sent from here carry this tick as their cause.
    fn on_tick(&mut self, tick: &Tick<'_>, ctx: &mut Ctx<'_>);

    /// An execution event for one of this strategy's orders.
    fn on_execution(&mut self, report: &ExecReport<'_>, ctx: &mut Ctx<'_>);

    /// The timer armed with [`Ctx::set_timer`] expired at or before `now`.
    fn on_timer(&mut self, now: Nanos, ctx: &mut Ctx<'_>) {
        let _ = (now, ctx);
    }

    /// The result of a pricing job submitted with [`Ctx::price`] (`result.id` is the id
    /// `price` returned).
    fn on_pricing(&mut self, result: &JobResult, ctx: &mut Ctx<'_>) {
        let _ = (result, ctx);
    }
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn instruments(&self) -> &[InstrumentId] {
        (**self).instruments()
    }

    fn on_tick(&mut self, tick: &Tick<'_>, ctx: &mut Ctx<'_>) {
        (**self).on_tick(tick, ctx)
    }

    fn on_execution(&mut self, report: &ExecReport<'_>, ctx: &mut Ctx<'_>) {
        (**self).on_execution(report, ctx)
    }

    fn on_timer(&mut self, now: Nanos, ctx: &mut Ctx<'_>) {
        (**self).on_timer(now, ctx)
    }

    fn on_pricing(&mut self, result: &JobResult, ctx: &mut Ctx<'_>) {
        (**self).on_pricing(result, ctx)
    }
}
