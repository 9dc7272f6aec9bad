//! Fill models: how replay turns the strategies' orders into execution events.
//!
//! [`FillModel`] sees every order command and every market data record, in replay
//! order, and pushes the execution events they cause. It is general enough for the
//! gateway's price-time matching simulator to implement; the two models here are
//! simple, deterministic and optimistic about queue position:
//!
//! - [`TradeThrough`]: a resting order fills only when the market trades strictly
//!   through its price (a trade below a buy's limit, above a sell's), or when the
//!   opposite best moves strictly through it; it fills at its own limit price, up to
//!   the traded (or displayed) quantity.
//! - [`AtTouch`]: as [`TradeThrough`], but a trade at the limit price or an opposite best
//!   equal to it is enough.
//!
//! Both accept every well-formed order; an order marketable on arrival (a buy at or above
//! the best offer, a market order) takes up to the displayed quantity at the best price.
//! IOC remainders are canceled, FOK orders fill completely or are canceled, and other
//! remainders rest. Cancels and replaces of unknown orders get `CancelRejected`. Event
//! times: `transact_time` is the venue time of the last market data record seen,
//! `gateway_ts` the replay time. No I/O, no clock; allocates only while the number of
//! resting orders grows.

use tickwarp_wire::{
    AccountId, CancelRejected, ClientOrderId, CxlRejResponseTo, ExecMeta, Fill, InstrumentId,
    Nanos, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderReplaced, OrderType,
    Price, Qty, RejectReason, Replaced, Side, TimeInForce, UnixNanos,
};

use crate::event::{OwnedExecution, Tick};
use crate::order::OrderCommand;

/// Turns orders and market data into execution events (module doc).
pub trait FillModel {
    /// An order command reaches the venue at `now`; push the events it causes to `out`.
    fn on_order(&mut self, order: &OrderCommand, now: Nanos, out: &mut Vec<OwnedExecution>);

    /// A market data record at `now`; push the events of resting orders it fills.
    fn on_tick(&mut self, tick: &Tick<'_>, now: Nanos, out: &mut Vec<OwnedExecution>);
}

impl<F: FillModel + ?Sized> FillModel for Box<F> {
    fn on_order(&mut self, order: &OrderCommand, now: Nanos, out: &mut Vec<OwnedExecution>) {
        (**self).on_order(order, now, out)
    }

    fn on_tick(&mut self, tick: &Tick<'_>, now: Nanos, out: &mut Vec<OwnedExecution>) {
        (**self).on_tick(tick, now, out)
    }
}

/// Whether a resting order needs the market strictly through its price, or at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Through,
    Touch,
}

/// A resting simulated order.
#[derive(Clone, Copy, Debug)]
struct Resting {
    cl: ClientOrderId,
    order_id: u64,
    instrument: InstrumentId,
    account: AccountId,
    side: Side,
    price: Price,
    qty: Qty,
    cum: Qty,
}

impl Resting {
    fn leaves(&self) -> Qty {
        self.qty.saturating_sub(self.cum)
    }
}

/// The best bid and offer of one instrument (price, displayed quantity).
#[derive(Clone, Copy, Debug, Default)]
struct Best {
    bid: Option<(Price, Qty)>,
    ask: Option<(Price, Qty)>,
}

/// The shared simulated venue behind both models.
#[derive(Clone, Debug)]
struct SimVenue {
    rule: Rule,
    resting: Vec<Resting>,
    best: Vec<(InstrumentId, Best)>,
    next_order_id: u64,
    next_exec_id: u64,
    venue_ts: UnixNanos,
}

impl SimVenue {
    fn new(rule: Rule) -> SimVenue {
        SimVenue {
            rule,
            resting: Vec::new(),
            best: Vec::new(),
            next_order_id: 1,
            next_exec_id: 1,
            venue_ts: UnixNanos::ZERO,
        }
    }

    fn meta(
        &self,
        instrument: InstrumentId,
        account: AccountId,
        cl: ClientOrderId,
        order_id: u64,
        now: Nanos,
    ) -> ExecMeta {
        ExecMeta {
            instrument,
            account,
            cl_ord_id: cl,
            order_id,
            transact_time: self.venue_ts,
            gateway_ts: now,
        }
    }

    fn best(&self, instrument: InstrumentId) -> Best {
        self.best
            .iter()
            .find(|(i, _)| *i == instrument)
            .map(|(_, b)| *b)
            .unwrap_or_default()
    }

    /// Fills `r` for `qty` at `px`; returns the event.
    fn fill(&mut self, r: &mut Resting, px: Price, qty: Qty, now: Nanos) -> OwnedExecution {
        r.cum = r.cum.checked_add(qty).unwrap_or(r.qty).min(r.qty);
        let exec_id = self.next_exec_id;
        self.next_exec_id += 1;
        let meta = self.meta(r.instrument, r.account, r.cl, r.order_id, now);
        OwnedExecution::Filled(OrderFilled::new(
            meta,
            r.side,
            Fill {
                exec_id,
                last_px: px,
                last_qty: qty,
                cum_qty: r.cum,
                leaves_qty: r.leaves(),
            },
        ))
    }

    /// Takes liquidity at the opposite best for an order marketable at `limit`
    /// (`None`: market); returns the fill event, if any.
    fn take(
        &mut self,
        r: &mut Resting,
        limit: Option<Price>,
        now: Nanos,
    ) -> Option<OwnedExecution> {
        let best = self.best(r.instrument);
        let (px, shown) = match r.side {
            Side::Buy => best.ask.filter(|&(px, _)| limit.is_none_or(|l| l >= px))?,
            Side::Sell => best.bid.filter(|&(px, _)| limit.is_none_or(|l| l <= px))?,
        };
        let qty = r.leaves().min(shown);
        (!qty.is_zero()).then(|| self.fill(r, px, qty, now))
    }

    fn new_order(
        &mut self,
        o: &tickwarp_wire::NewOrder,
        now: Nanos,
        out: &mut Vec<OwnedExecution>,
    ) {
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let meta = self.meta(o.instrument(), o.account(), o.cl_ord_id(), order_id, now);
        let reject = if o.qty().is_zero() {
            Some(RejectReason::InvalidQty)
        } else if o.ord_type() == OrderType::Limit && o.price() <= Price::ZERO {
            Some(RejectReason::InvalidPrice)
        } else if self.resting.iter().any(|r| r.cl == o.cl_ord_id()) {
            Some(RejectReason::DuplicateClOrdId)
        } else {
            None
        };
        if let Some(reason) = reject {
            out.push(OwnedExecution::Rejected(OrderRejected::new(
                ExecMeta {
                    order_id: 0,
                    ..meta
                },
                reason,
            )));
            return;
        }
        out.push(OwnedExecution::Accepted(OrderAccepted::new(
            meta,
            o.side(),
            o.ord_type(),
            o.tif(),
        )));
        let mut r = Resting {
            cl: o.cl_ord_id(),
            order_id,
            instrument: o.instrument(),
            account: o.account(),
            side: o.side(),
            price: o.price(),
            qty: o.qty(),
            cum: Qty::ZERO,
        };
        let limit = (o.ord_type() == OrderType::Limit).then_some(o.price());
        let best = self.best(r.instrument);
        let available = match r.side {
            Side::Buy => best.ask.filter(|&(px, _)| limit.is_none_or(|l| l >= px)),
            Side::Sell => best.bid.filter(|&(px, _)| limit.is_none_or(|l| l <= px)),
        }
        .map_or(Qty::ZERO, |(_, q)| q);
        let fok_short = o.tif() == TimeInForce::Fok && available < r.qty;
        if !fok_short {
            if let Some(e) = self.take(&mut r, limit, now) {
                out.push(e);
            }
        }
        let immediate = limit.is_none() || matches!(o.tif(), TimeInForce::Ioc | TimeInForce::Fok);
        if r.leaves().is_zero() {
            return;
        }
        if immediate {
            out.push(OwnedExecution::Canceled(OrderCanceled::new(
                meta,
                None,
                r.leaves(),
                r.cum,
            )));
        } else {
            self.resting.push(r);
        }
    }

    fn cancel(
        &mut self,
        c: &tickwarp_wire::CancelOrder,
        now: Nanos,
        out: &mut Vec<OwnedExecution>,
    ) {
        let orig = c.orig_cl_ord_id();
        match self.resting.iter().position(|r| r.cl == orig) {
            Some(i) => {
                let r = self.resting.remove(i);
                let meta = self.meta(r.instrument, r.account, c.cl_ord_id(), r.order_id, now);
                out.push(OwnedExecution::Canceled(OrderCanceled::new(
                    meta,
                    Some(orig),
                    r.leaves(),
                    r.cum,
                )));
            }
            None => {
                let meta = self.meta(c.instrument(), c.account(), c.cl_ord_id(), 0, now);
                out.push(OwnedExecution::CancelRejected(CancelRejected::new(
                    meta,
                    orig,
                    CxlRejResponseTo::Cancel,
                    RejectReason::UnknownOrder,
                )));
            }
        }
    }

    fn replace(
        &mut self,
        rep: &tickwarp_wire::ReplaceOrder,
        now: Nanos,
        out: &mut Vec<OwnedExecution>,
    ) {
        let orig = rep.orig_cl_ord_id();
        let found = self.resting.iter().position(|r| r.cl == orig);
        let reject = |reason, out: &mut Vec<OwnedExecution>, meta| {
            out.push(OwnedExecution::CancelRejected(CancelRejected::new(
                meta,
                orig,
                CxlRejResponseTo::Replace,
                reason,
            )));
        };
        let Some(i) = found else {
            let meta = self.meta(rep.instrument(), rep.account(), rep.cl_ord_id(), 0, now);
            reject(RejectReason::UnknownOrder, out, meta);
            return;
        };
        let Some(mut r) = self.resting.get(i).copied() else {
            return;
        };
        let meta = self.meta(r.instrument, r.account, rep.cl_ord_id(), r.order_id, now);
        if rep.qty() <= r.cum || rep.price() <= Price::ZERO {
            let reason = if rep.price() <= Price::ZERO {
                RejectReason::InvalidPrice
            } else {
                RejectReason::InvalidQty
            };
            reject(reason, out, meta);
            return;
        }
        r.cl = rep.cl_ord_id();
        r.price = rep.price();
        r.qty = rep.qty();
        out.push(OwnedExecution::Replaced(OrderReplaced::new(
            meta,
            orig,
            Replaced {
                price: r.price,
                qty: r.qty,
                leaves_qty: r.leaves(),
                cum_qty: r.cum,
            },
        )));
        let limit = Some(r.price);
        if let Some(e) = self.take(&mut r, limit, now) {
            out.push(e);
        }
        if r.leaves().is_zero() {
            self.resting.remove(i);
        } else if let Some(slot) = self.resting.get_mut(i) {
            *slot = r;
        }
    }

    /// Whether the market at `px` reaches a resting order on `side` at `limit`.
    fn reaches(&self, side: Side, limit: Price, px: Price) -> bool {
        match (self.rule, side) {
            (Rule::Through, Side::Buy) => px < limit,
            (Rule::Through, Side::Sell) => px > limit,
            (Rule::Touch, Side::Buy) => px <= limit,
            (Rule::Touch, Side::Sell) => px >= limit,
        }
    }

    /// Fills resting orders of `instrument` that the market at `px` (against `side`
    /// orders only, if given) reaches, sharing out at most `qty`.
    fn sweep(
        &mut self,
        instrument: InstrumentId,
        side: Option<Side>,
        px: Price,
        mut qty: Qty,
        now: Nanos,
        out: &mut Vec<OwnedExecution>,
    ) {
        let mut i = 0;
        while i < self.resting.len() && !qty.is_zero() {
            let Some(mut r) = self.resting.get(i).copied() else {
                break;
            };
            let eligible = r.instrument == instrument
                && side.is_none_or(|s| s == r.side)
                && self.reaches(r.side, r.price, px);
            if !eligible {
                i += 1;
                continue;
            }
            let q = r.leaves().min(qty);
            qty = qty.saturating_sub(q);
            let price = r.price;
            out.push(self.fill(&mut r, price, q, now));
            if r.leaves().is_zero() {
                self.resting.remove(i);
            } else {
                if let Some(slot) = self.resting.get_mut(i) {
                    *slot = r;
                }
                i += 1;
            }
        }
    }

    fn tick(&mut self, tick: &Tick<'_>, now: Nanos, out: &mut Vec<OwnedExecution>) {
        self.venue_ts = tick.meta().venue_ts;
        match tick {
            Tick::Bbo(b) => {
                let (bid, ask) = (b.bid(), b.ask());
                let best = Best {
                    bid: (!bid.qty.is_zero()).then_some((bid.px, bid.qty)),
                    ask: (!ask.qty.is_zero()).then_some((ask.px, ask.qty)),
                };
                let instrument = b.instrument();
                match self.best.iter_mut().find(|(i, _)| *i == instrument) {
                    Some((_, slot)) => *slot = best,
                    None => self.best.push((instrument, best)),
                }
                if let Some((px, q)) = best.ask {
                    self.sweep(instrument, Some(Side::Buy), px, q, now, out);
                }
                if let Some((px, q)) = best.bid {
                    self.sweep(instrument, Some(Side::Sell), px, q, now, out);
                }
            }
            Tick::Trade(t) => self.sweep(t.instrument(), None, t.price(), t.qty(), now, out),
            Tick::SequenceReset(_) => self.best.clear(),
            _ => {}
        }
    }

    fn order(&mut self, order: &OrderCommand, now: Nanos, out: &mut Vec<OwnedExecution>) {
        match order {
            OrderCommand::New(o) => self.new_order(o, now, out),
            OrderCommand::Cancel(c) => self.cancel(c, now, out),
            OrderCommand::Replace(r) => self.replace(r, now, out),
        }
    }
}

/// Fills resting orders only when the market trades (or quotes) strictly through them.
#[derive(Clone, Debug)]
pub struct TradeThrough(SimVenue);

impl TradeThrough {
    /// An empty venue.
    pub fn new() -> TradeThrough {
        TradeThrough(SimVenue::new(Rule::Through))
    }

    /// Orders resting now.
    pub fn resting(&self) -> usize {
        self.0.resting.len()
    }
}

impl Default for TradeThrough {
    fn default() -> Self {
        TradeThrough::new()
    }
}

impl FillModel for TradeThrough {
    fn on_order(&mut self, order: &OrderCommand, now: Nanos, out: &mut Vec<OwnedExecution>) {
        self.0.order(order, now, out)
    }

    fn on_tick(&mut self, tick: &Tick<'_>, now: Nanos, out: &mut Vec<OwnedExecution>) {
        self.0.tick(tick, now, out)
    }
}

/// Fills resting orders as soon as the market trades or quotes at their price.
#[derive(Clone, Debug)]
pub struct AtTouch(SimVenue);

impl AtTouch {
    /// An empty venue.
    pub fn new() -> AtTouch {
        AtTouch(SimVenue::new(Rule::Touch))
    }

    /// Orders resting now.
    pub fn resting(&self) -> usize {
        self.0.resting.len()
    }
}

impl Default for AtTouch {
    fn default() -> Self {
        AtTouch::new()
    }
}

impl FillModel for AtTouch {
    fn on_order(&mut self, order: &OrderCommand, now: Nanos, out: &mut Vec<OwnedExecution>) {
        self.0.order(order, now, out)
    }

    fn on_tick(&mut self, tick: &Tick<'_>, now: Nanos, out: &mut Vec<OwnedExecution>) {
        self.0.tick(tick, now, out)
    }
}

#[cfg(test)]
mod tests;
