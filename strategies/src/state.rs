//! Per-strategy bookkeeping the engine keeps and strategies read through
//! [`Ctx`](crate::Ctx): positions with exact fixed-point PnL ([`Position`], [`Money`]),
//! open orders and their lifecycle ([`OpenOrder`], [`OpenOrders`]), and counters
//! ([`StrategyStats`]).
//!
//! # PnL
//!
//! Money is an `i128` count of 1/10,000ths of the quote currency (the scale of
//! [`Price`]), so price × quantity is exact. A position keeps its signed quantity and the
//! signed cost of that open inventory (average-cost method). Closing `c` of `|q|` units
//! moves `cost · c / |q|` (integer division) out of the open cost and books the rest of
//! the trade's value as realized PnL. Whatever the rounding of that attribution, the
//! identity `realized + unrealized == cash + qty · mark` holds exactly at all times, and
//! a flat position has zero open cost, so realized PnL is exact whenever the position is
//! closed.
//!
//! # Order lifecycle
//!
//! [`OpenOrders::apply`] is the one place execution events change an order, as a single
//! `match` over (event, how the event relates to the order). Finished orders leave the
//! table. This module does no I/O, reads no clock and allocates only when a table is
//! created.

use core::fmt;

use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, OrderSpec, OrderType, Price, Qty, Side, TimeInForce,
};

use crate::event::Execution;

/// An amount of money in 1/10,000ths of the quote currency (exact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i128);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// The raw count of 1/10,000ths.
    pub const fn ticks(self) -> i128 {
        self.0
    }

    /// `self + rhs`, saturating.
    pub const fn saturating_add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let scale = Price::SCALE.unsigned_abs() as u128;
        write!(f, "{sign}{}.{:04}", abs / scale, abs % scale)
    }
}

/// A strategy's position in one instrument (PnL method in the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    instrument: InstrumentId,
    qty: i64,
    open_cost: i128,
    realized: i128,
    mark: Option<Price>,
    bought: u64,
    sold: u64,
}

impl Position {
    /// A flat position with no mark.
    pub const fn new(instrument: InstrumentId) -> Position {
        Position {
            instrument,
            qty: 0,
            open_cost: 0,
            realized: 0,
            mark: None,
            bought: 0,
            sold: 0,
        }
    }

    /// The instrument.
    pub const fn instrument(&self) -> InstrumentId {
        self.instrument
    }

    /// Signed quantity: positive long, negative short.
    pub const fn qty(&self) -> i64 {
        self.qty
    }

    /// Cost of the open inventory (negative for a short).
    pub const fn open_cost(&self) -> Money {
        Money(self.open_cost)
    }

    /// Realized PnL.
    pub const fn realized(&self) -> Money {
        Money(self.realized)
    }

    /// The last mark price (mid of the top of book, else last trade), if any.
    pub const fn mark(&self) -> Option<Price> {
        self.mark
    }

    /// Unrealized PnL at the mark (zero without a mark).
    pub fn unrealized(&self) -> Money {
        match self.mark {
            Some(m) => Money(
                i128::from(self.qty)
                    .saturating_mul(i128::from(m.ticks()))
                    .saturating_sub(self.open_cost),
            ),
            None => Money::ZERO,
        }
    }

    /// Realized plus unrealized PnL.
    pub fn total(&self) -> Money {
        self.realized().saturating_add(self.unrealized())
    }

    /// Total quantity bought and sold.
    pub const fn volume(&self) -> (u64, u64) {
        (self.bought, self.sold)
    }

    /// Sets the mark price.
    pub fn set_mark(&mut self, mark: Price) {
        self.mark = Some(mark);
    }

    /// Books a fill of `qty` at `px` on `side`.
    pub fn apply_fill(&mut self, side: Side, px: Price, qty: Qty) {
        let q = i64::try_from(qty.get()).unwrap_or(i64::MAX);
        let signed = match side {
            Side::Buy => {
                self.bought = self.bought.saturating_add(qty.get());
                q
            }
            Side::Sell => {
                self.sold = self.sold.saturating_add(qty.get());
                -q
            }
        };
        let px = i128::from(px.ticks());
        let mut rest = signed;
        if self.qty != 0 && (self.qty > 0) != (signed > 0) {
            let held = i128::from(self.qty).abs();
            let closing = i128::from(signed).abs().min(held);
            let removed = self.open_cost.saturating_mul(closing) / held;
            let value = px.saturating_mul(closing) * i128::from(self.qty.signum());
            self.realized = self.realized.saturating_add(value.saturating_sub(removed));
            self.open_cost = self.open_cost.saturating_sub(removed);
            // `closing` is at most |self.qty|, an i64.
            let closing = i64::try_from(closing).unwrap_or(i64::MAX);
            self.qty -= self.qty.signum() * closing;
            rest = signed - signed.signum() * closing;
        }
        if rest != 0 {
            self.qty = self.qty.saturating_add(rest);
            self.open_cost = self
                .open_cost
                .saturating_add(px.saturating_mul(i128::from(rest)));
        }
    }
}

/// A strategy-local handle of an order, stable across replaces (the counter of the
/// order's first client order id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(pub u64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an open order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Sent, not acknowledged yet.
    PendingNew,
    /// Accepted and working (possibly partly filled).
    Working,
}

/// A cancel or replace request in flight for an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PendingChange {
    /// A cancel request with this id.
    Cancel {
        /// The cancel request's client order id.
        cl_ord_id: ClientOrderId,
    },
    /// A replace request with this id, asking for a new price and quantity.
    Replace {
        /// The replace request's client order id (the order's id once replaced).
        cl_ord_id: ClientOrderId,
        /// Requested price.
        price: Price,
        /// Requested total quantity.
        qty: Qty,
    },
}

impl PendingChange {
    /// The request's client order id.
    pub const fn cl_ord_id(&self) -> ClientOrderId {
        match self {
            PendingChange::Cancel { cl_ord_id } | PendingChange::Replace { cl_ord_id, .. } => {
                *cl_ord_id
            }
        }
    }
}

/// An order the engine knows to be live (sent and not finished).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpenOrder {
    /// Stable handle.
    pub id: OrderId,
    /// Current client order id (changes when a replace is accepted).
    pub cl_ord_id: ClientOrderId,
    /// The instrument.
    pub instrument: InstrumentId,
    /// The account.
    pub account: AccountId,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub ord_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Current limit price.
    pub price: Price,
    /// Current total quantity.
    pub qty: Qty,
    /// Quantity filled so far.
    pub cum_qty: Qty,
    /// Quantity still working.
    pub leaves_qty: Qty,
    /// Acknowledged or not.
    pub status: OrderStatus,
    /// A cancel or replace in flight.
    pub pending: Option<PendingChange>,
}

impl OpenOrder {
    /// A just-sent order.
    pub fn new(id: OrderId, cl_ord_id: ClientOrderId, spec: &OrderSpec) -> OpenOrder {
        OpenOrder {
            id,
            cl_ord_id,
            instrument: spec.instrument,
            account: spec.account,
            side: spec.side,
            ord_type: spec.ord_type,
            tif: spec.tif,
            price: spec.price,
            qty: spec.qty,
            cum_qty: Qty::ZERO,
            leaves_qty: spec.qty,
            status: OrderStatus::PendingNew,
            pending: None,
        }
    }

    /// Whether it is accepted, working and has no change in flight.
    pub fn is_quiet(&self) -> bool {
        self.status == OrderStatus::Working && self.pending.is_none()
    }
}

/// What an execution event did to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The order.
    pub order: OrderId,
    /// The order's instrument.
    pub instrument: InstrumentId,
    /// Whether the order is finished (and left the table).
    pub done: bool,
    /// A trade to book: side, price, quantity.
    pub fill: Option<(Side, Price, Qty)>,
}

/// The open orders of one strategy: a table of bounded capacity, searched linearly
/// (strategies keep a handful of orders).
#[derive(Clone, Debug)]
pub struct OpenOrders {
    orders: Vec<OpenOrder>,
    max: usize,
}

impl OpenOrders {
    /// A table for at most `max` orders, allocated now.
    pub fn new(max: usize) -> OpenOrders {
        OpenOrders {
            orders: Vec::with_capacity(max),
            max,
        }
    }

    /// The open orders, oldest first.
    pub fn as_slice(&self) -> &[OpenOrder] {
        &self.orders
    }

    /// Number of open orders.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Whether no order is open.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// Whether the table is full.
    pub fn is_full(&self) -> bool {
        self.orders.len() >= self.max
    }

    /// Capacity.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The order with handle `id`.
    pub fn get(&self, id: OrderId) -> Option<&OpenOrder> {
        self.orders.iter().find(|o| o.id == id)
    }

    /// The order with handle `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: OrderId) -> Option<&mut OpenOrder> {
        self.orders.iter_mut().find(|o| o.id == id)
    }

    /// Adds a just-sent order; false if the table is full.
    pub(crate) fn insert(&mut self, order: OpenOrder) -> bool {
        if self.is_full() {
            return false;
        }
        self.orders.push(order);
        true
    }

    /// Index of the order an event with `cl`/`orig` refers to: its current id, the id of
    /// its pending change, or (for cancels and replaces) its current id as `orig`.
    fn find(&self, cl: ClientOrderId, orig: Option<ClientOrderId>) -> Option<usize> {
        self.orders
            .iter()
            .position(|o| o.cl_ord_id == cl || o.pending.is_some_and(|p| p.cl_ord_id() == cl))
            .or_else(|| {
                let orig = orig?;
                self.orders.iter().position(|o| o.cl_ord_id == orig)
            })
    }

    /// Applies an execution event; `None` when it concerns no open order.
    pub fn apply(&mut self, exec: &Execution<'_>) -> Option<Applied> {
        let index = self.find(exec.cl_ord_id(), exec.orig_cl_ord_id())?;
        let order = self.orders.get_mut(index)?;
        let id = order.id;
        let instrument = order.instrument;
        let mut fill = None;
        let done = match *exec {
            // New order acknowledged (a repeat is harmless).
            Execution::Accepted(_) => {
                order.status = OrderStatus::Working;
                false
            }
            // A new order refused: it never lived.
            Execution::Rejected(_) => true,
            // A trade implies acceptance; the event's cumulative figures are authoritative.
            Execution::Filled(f) => {
                let t = f.fill();
                order.status = OrderStatus::Working;
                order.cum_qty = t.cum_qty;
                order.leaves_qty = t.leaves_qty;
                fill = Some((order.side, t.last_px, t.last_qty));
                t.leaves_qty.is_zero()
            }
            // Requested or unsolicited (IOC remainder, venue) cancel: the order is gone.
            Execution::Canceled(_) => true,
            // The change was refused; the order works on unchanged (or is already done,
            // which its own fill or cancel event reports).
            Execution::CancelRejected(_) => {
                order.pending = None;
                false
            }
            // The replace took effect: the order now answers to the request's id.
            Execution::Replaced(r) => {
                let rep = r.replaced();
                order.cl_ord_id = r.cl_ord_id();
                order.price = rep.price;
                order.qty = rep.qty;
                order.cum_qty = rep.cum_qty;
                order.leaves_qty = rep.leaves_qty;
                order.status = OrderStatus::Working;
                order.pending = None;
                rep.leaves_qty.is_zero()
            }
        };
        if done {
            self.orders.remove(index);
        }
        Some(Applied {
            order: id,
            instrument,
            done,
            fill,
        })
    }
}

/// Counters of one strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StrategyStats {
    /// Ticks delivered.
    pub ticks: u64,
    /// New orders sent.
    pub new_orders: u64,
    /// Cancel requests sent.
    pub cancels: u64,
    /// Replace requests sent.
    pub replaces: u64,
    /// Requests the sink refused.
    pub sink_refusals: u64,
    /// Orders accepted.
    pub accepted: u64,
    /// Orders rejected.
    pub rejected: u64,
    /// Fill events.
    pub fills: u64,
    /// Quantity filled.
    pub filled_qty: u64,
    /// Orders canceled (requested or not).
    pub canceled: u64,
    /// Cancel or replace requests rejected.
    pub cancel_rejects: u64,
    /// Replaces that took effect.
    pub replaced: u64,
    /// Timer callbacks.
    pub timers: u64,
    /// Pricing jobs submitted.
    pub pricing_jobs: u64,
    /// Pricing submits the pricer refused (no credit, backend failed).
    pub pricing_refusals: u64,
    /// Pricing results delivered.
    pub pricing_results: u64,
}

impl StrategyStats {
    /// Counts an execution event.
    pub(crate) fn count(&mut self, exec: &Execution<'_>) {
        match exec {
            Execution::Accepted(_) => self.accepted += 1,
            Execution::Rejected(_) => self.rejected += 1,
            Execution::Filled(f) => {
                self.fills += 1;
                self.filled_qty = self.filled_qty.saturating_add(f.fill().last_qty.get());
            }
            Execution::Canceled(_) => self.canceled += 1,
            Execution::CancelRejected(_) => self.cancel_rejects += 1,
            Execution::Replaced(_) => self.replaced += 1,
        }
    }

    /// Order requests sent (new, cancel, replace).
    pub fn requests(&self) -> u64 {
        self.new_orders + self.cancels + self.replaces
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn px(t: i64) -> Price {
        Price::from_ticks(t)
    }

    #[test]
    fn round_trip_books_exact_pnl() {
        let mut p = Position::new(InstrumentId(1));
        p.apply_fill(Side::Buy, px(100), Qty(3));
        p.apply_fill(Side::Sell, px(110), Qty(1));
        assert_eq!(p.qty(), 2);
        assert_eq!(p.realized(), Money(10));
        p.set_mark(px(90));
        assert_eq!(p.unrealized(), Money(-20));
        // Flip to short: close 2 at 120, open 2 short at 120.
        p.apply_fill(Side::Sell, px(120), Qty(4));
        assert_eq!(p.qty(), -2);
        assert_eq!(p.realized(), Money(50));
        assert_eq!(p.open_cost(), Money(-240));
        p.apply_fill(Side::Buy, px(100), Qty(2));
        assert_eq!(p.qty(), 0);
        assert_eq!(p.open_cost(), Money::ZERO);
        assert_eq!(p.realized(), Money(90));
        assert_eq!(p.volume(), (5, 5));
        assert_eq!(Money(-12_345).to_string(), "-1.2345");
    }

    #[test]
    fn rounding_stays_in_open_cost() {
        let mut p = Position::new(InstrumentId(1));
        p.apply_fill(Side::Buy, px(100), Qty(1));
        p.apply_fill(Side::Buy, px(101), Qty(2));
        p.apply_fill(Side::Sell, px(101), Qty(1));
        // Cost 302 over 3 units: 100 (rounded down) leaves, realized 1.
        assert_eq!(p.realized(), Money(1));
        assert_eq!(p.open_cost(), Money(202));
        p.apply_fill(Side::Sell, px(101), Qty(2));
        assert_eq!(p.realized(), Money(1));
        assert_eq!(p.open_cost(), Money::ZERO);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn pnl_identity_holds(fills in proptest::collection::vec((any::<bool>(), 1i64..10_000, 1u64..100), 1..40), mark in 1i64..10_000) {
            let mut p = Position::new(InstrumentId(1));
            let mut cash: i128 = 0;
            let mut qty: i64 = 0;
            for (buy, price, q) in fills {
                let side = if buy { Side::Buy } else { Side::Sell };
                p.apply_fill(side, px(price), Qty(q));
                let signed = if buy { q as i64 } else { -(q as i64) };
                cash -= i128::from(signed) * i128::from(price);
                qty += signed;
            }
            p.set_mark(px(mark));
            prop_assert_eq!(p.qty(), qty);
            prop_assert_eq!(p.total().0, cash + i128::from(qty) * i128::from(mark));
            if qty == 0 {
                prop_assert_eq!(p.open_cost(), Money::ZERO);
                prop_assert_eq!(p.realized().0, cash);
            }
        }
    }
}
