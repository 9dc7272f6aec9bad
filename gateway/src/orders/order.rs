//! [`Order`]: one order's record as the gateway tracks it — what was asked for, what
//! traded (quantities and the exact traded notional, from which the average price is
//! derived), and its [`OrdStatus`], moved only through [`transition`].
//!
//! A cancel/replace that the venue accepts ends this record in [`OrdStatus::Replaced`]
//! and yields a successor record under the new ClOrdID that carries the traded quantity
//! and notional over (FIX 4.4 Appendix D: CumQty and AvgPx span the replace chain).
//! This module keeps no collection of orders, reads no clock and does no I/O.

use tickwarp_wire::{
    AccountId, ClientOrderId, FillKind, InstrumentId, NewOrder, OrderSpec, OrderType, Price, Qty,
    Side, TimeInForce,
};

use super::state::{InvalidTransition, Live, OrdStatus, OrderEvent, transition};

/// Why an event could not be applied to an [`Order`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum OrderError {
    /// The state machine refuses the event in the current status.
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
    /// A fill larger than the quantity still working.
    #[error("fill of {last_qty} exceeds the {leaves_qty} still working")]
    Overfill {
        /// Quantity of the fill.
        last_qty: Qty,
        /// Quantity that was working.
        leaves_qty: Qty,
    },
    /// A fill of zero quantity.
    #[error("fill of zero quantity")]
    EmptyFill,
    /// A replace to a total quantity that does not exceed what already traded.
    #[error("replace to quantity {qty} at or below the {cum_qty} already traded")]
    ReplaceBelowCum {
        /// The requested total quantity.
        qty: Qty,
        /// Quantity traded so far.
        cum_qty: Qty,
    },
}

/// One order's record: request, traded quantities, status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Order {
    cl_ord_id: ClientOrderId,
    orig_cl_ord_id: Option<ClientOrderId>,
    order_id: u64,
    instrument: InstrumentId,
    account: AccountId,
    side: Side,
    ord_type: OrderType,
    tif: TimeInForce,
    price: Price,
    qty: Qty,
    cum_qty: Qty,
    notional_ticks: i128,
    reserve_px: Price,
    acknowledged: bool,
    status: OrdStatus,
    post_only: bool,
}

impl Order {
    /// A just-submitted order ([`OrdStatus::PendingNew`]); `reserve_px` is the price
    /// pre-trade risk reserved credit at (the limit price, or a collar bound for a market
    /// order).
    pub fn new(cl_ord_id: ClientOrderId, spec: &OrderSpec, reserve_px: Price) -> Order {
        Order {
            cl_ord_id,
            orig_cl_ord_id: None,
            order_id: 0,
            instrument: spec.instrument,
            account: spec.account,
            side: spec.side,
            ord_type: spec.ord_type,
            tif: spec.tif,
            price: match spec.ord_type {
                OrderType::Market => Price::ZERO,
                OrderType::Limit => spec.price,
            },
            qty: spec.qty,
            cum_qty: Qty::ZERO,
            notional_ticks: 0,
            reserve_px,
            acknowledged: false,
            status: OrdStatus::PendingNew,
            post_only: false,
        }
    }

    /// The record of a [`NewOrder`] command (see [`Order::new`]), post-only included.
    pub fn from_command(cmd: &NewOrder, reserve_px: Price) -> Order {
        Order {
            post_only: cmd.post_only(),
            ..Order::new(cmd.cl_ord_id(), &cmd.spec(), reserve_px)
        }
    }

    /// Whether the order is post-only (ExecInst 6); a replace clears it (FIX restates
    /// every field on 35=G, and this gateway accepts no ExecInst there).
    pub fn post_only(&self) -> bool {
        self.post_only
    }

    /// The client order id of this record.
    pub fn cl_ord_id(&self) -> ClientOrderId {
        self.cl_ord_id
    }

    /// The ClOrdID this order replaced, if it is a replace successor.
    pub fn orig_cl_ord_id(&self) -> Option<ClientOrderId> {
        self.orig_cl_ord_id
    }

    /// The venue's order id (0 until acknowledged).
    pub fn order_id(&self) -> u64 {
        self.order_id
    }

    /// The instrument.
    pub fn instrument(&self) -> InstrumentId {
        self.instrument
    }

    /// The account.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// Buy or sell.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Limit or market.
    pub fn ord_type(&self) -> OrderType {
        self.ord_type
    }

    /// Time in force.
    pub fn tif(&self) -> TimeInForce {
        self.tif
    }

    /// Limit price (zero for a market order).
    pub fn price(&self) -> Price {
        self.price
    }

    /// Total order quantity.
    pub fn qty(&self) -> Qty {
        self.qty
    }

    /// Quantity traded so far (across the replace chain).
    pub fn cum_qty(&self) -> Qty {
        self.cum_qty
    }

    /// Quantity still working: `qty - cum_qty` while open, zero once done.
    pub fn leaves_qty(&self) -> Qty {
        if self.status.is_open() {
            self.qty.saturating_sub(self.cum_qty)
        } else {
            Qty::ZERO
        }
    }

    /// Exact traded notional in 1/10,000ths of the currency unit (sum of price × qty).
    pub fn notional_ticks(&self) -> i128 {
        self.notional_ticks
    }

    /// Average traded price, the exact notional divided by `cum_qty`, rounded to the
    /// nearest tick (half away from zero); zero before the first fill.
    pub fn avg_px(&self) -> Price {
        avg_price(self.notional_ticks, self.cum_qty)
    }

    /// The price pre-trade risk reserved credit at.
    pub fn reserve_px(&self) -> Price {
        self.reserve_px
    }

    /// The current status.
    pub fn status(&self) -> OrdStatus {
        self.status
    }

    /// What the order is underneath a pending request.
    pub fn live(&self) -> Live {
        Live::of(self.acknowledged, !self.cum_qty.is_zero())
    }

    /// Applies a data-free `event` (everything except fills and replaces, which carry
    /// data: use [`Order::on_filled`] and [`Order::on_replaced`]).
    pub fn apply(&mut self, event: OrderEvent) -> Result<OrdStatus, OrderError> {
        let next = transition(self.status, self.live(), event)?;
        if event == OrderEvent::OrderAccepted {
            self.acknowledged = true;
        }
        self.status = next;
        Ok(next)
    }

    /// The venue acknowledged the order as `order_id`.
    pub fn on_accepted(&mut self, order_id: u64) -> Result<OrdStatus, OrderError> {
        let status = self.apply(OrderEvent::OrderAccepted)?;
        self.order_id = order_id;
        Ok(status)
    }

    /// `last_qty` traded at `last_px`; returns whether the order is now fully filled.
    pub fn on_filled(&mut self, last_px: Price, last_qty: Qty) -> Result<FillKind, OrderError> {
        if last_qty.is_zero() {
            return Err(OrderError::EmptyFill);
        }
        let leaves_qty = self.leaves_qty();
        let Some(rest) = leaves_qty.checked_sub(last_qty) else {
            return Err(OrderError::Overfill {
                last_qty,
                leaves_qty,
            });
        };
        let kind = if rest.is_zero() {
            FillKind::Full
        } else {
            FillKind::Partial
        };
        let next = transition(self.status, self.live(), OrderEvent::OrderFilled(kind))?;
        // A fill implies acceptance (App. D fill before ack).
        self.acknowledged = true;
        self.cum_qty = Qty(self.cum_qty.0 + last_qty.0);
        // |Σ price × qty| ≤ 2^63 × Σ qty ≤ 2^63 × 2^64: only the extreme corner reaches
        // i128's bound, where the sum saturates instead of wrapping.
        self.notional_ticks = self
            .notional_ticks
            .saturating_add(last_px.notional_ticks(last_qty));
        self.status = next;
        Ok(kind)
    }

    /// The venue replaced this order by `new_cl_ord_id` with `price` and total `qty`
    /// (venue order id `order_id`): this record becomes [`OrdStatus::Replaced`] and the
    /// successor, carrying the traded quantity and notional, is returned.
    pub fn on_replaced(
        &mut self,
        new_cl_ord_id: ClientOrderId,
        price: Price,
        qty: Qty,
        order_id: u64,
    ) -> Result<Order, OrderError> {
        if qty <= self.cum_qty {
            return Err(OrderError::ReplaceBelowCum {
                qty,
                cum_qty: self.cum_qty,
            });
        }
        let next = transition(self.status, self.live(), OrderEvent::OrderReplaced)?;
        let successor = Order {
            cl_ord_id: new_cl_ord_id,
            orig_cl_ord_id: Some(self.cl_ord_id),
            order_id,
            price: match self.ord_type {
                OrderType::Market => Price::ZERO,
                OrderType::Limit => price,
            },
            qty,
            reserve_px: price,
            acknowledged: true,
            status: Live::of(true, !self.cum_qty.is_zero()).status(),
            post_only: false,
            ..*self
        };
        self.status = next;
        Ok(successor)
    }
}

/// `notional / qty` rounded to the nearest tick, half away from zero; zero for zero qty.
fn avg_price(notional: i128, qty: Qty) -> Price {
    if qty.is_zero() {
        return Price::ZERO;
    }
    let q = i128::from(qty.0);
    let half = q / 2;
    let rounded = if notional >= 0 {
        (notional + half) / q
    } else {
        (notional - half) / q
    };
    // Every fill price is an i64, so the average lies between two i64 values.
    Price::from_ticks(i64::try_from(rounded).unwrap_or(if rounded > 0 {
        i64::MAX
    } else {
        i64::MIN
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ClientOrderId {
        ClientOrderId::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spec(qty: u64) -> OrderSpec {
        OrderSpec {
            instrument: InstrumentId(1),
            account: AccountId(7),
            side: Side::Buy,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Day,
            price: Price::from_ticks(100_0000),
            qty: Qty(qty),
        }
    }

    #[test]
    fn fills_accumulate_exact_notional_and_avg_px() -> Result<(), OrderError> {
        let mut o = Order::new(id("A"), &spec(3), Price::from_ticks(100_0000));
        o.on_accepted(9)?;
        assert_eq!(
            o.on_filled(Price::from_ticks(100_0000), Qty(1))?,
            FillKind::Partial
        );
        assert_eq!(
            o.on_filled(Price::from_ticks(100_0001), Qty(1))?,
            FillKind::Partial
        );
        assert_eq!(o.status(), OrdStatus::PartiallyFilled);
        assert_eq!(o.avg_px(), Price::from_ticks(100_0001)); // 100.00005 rounds up
        assert_eq!(
            o.on_filled(Price::from_ticks(100_0001), Qty(1))?,
            FillKind::Full
        );
        assert_eq!(o.notional_ticks(), 300_0002);
        assert_eq!(o.avg_px(), Price::from_ticks(100_0001));
        assert_eq!(o.leaves_qty(), Qty::ZERO);
        assert_eq!(o.status(), OrdStatus::Filled);
        Ok(())
    }

    #[test]
    fn avg_px_rounds_half_away_from_zero() {
        assert_eq!(avg_price(5, Qty(2)), Price::from_ticks(3));
        assert_eq!(avg_price(-5, Qty(2)), Price::from_ticks(-3));
        assert_eq!(avg_price(4, Qty(3)), Price::from_ticks(1));
        assert_eq!(avg_price(7, Qty(0)), Price::ZERO);
    }

    #[test]
    fn overfill_and_empty_fill_refused() -> Result<(), OrderError> {
        let mut o = Order::new(id("A"), &spec(2), Price::from_ticks(1));
        o.on_accepted(1)?;
        assert_eq!(
            o.on_filled(Price::from_ticks(1), Qty(3)),
            Err(OrderError::Overfill {
                last_qty: Qty(3),
                leaves_qty: Qty(2)
            })
        );
        assert_eq!(
            o.on_filled(Price::from_ticks(1), Qty(0)),
            Err(OrderError::EmptyFill)
        );
        assert_eq!(o.cum_qty(), Qty::ZERO);
        Ok(())
    }

    #[test]
    fn replace_yields_successor_with_chain_totals() -> Result<(), OrderError> {
        let mut o = Order::new(id("A"), &spec(10), Price::from_ticks(5));
        o.on_accepted(1)?;
        o.on_filled(Price::from_ticks(5), Qty(4))?;
        o.apply(OrderEvent::ReplaceRequested)?;
        assert_eq!(
            o.on_replaced(id("B"), Price::from_ticks(6), Qty(4), 2),
            Err(OrderError::ReplaceBelowCum {
                qty: Qty(4),
                cum_qty: Qty(4)
            })
        );
        let next = o.on_replaced(id("B"), Price::from_ticks(6), Qty(12), 2)?;
        assert_eq!(o.status(), OrdStatus::Replaced);
        assert_eq!(o.leaves_qty(), Qty::ZERO);
        assert_eq!(next.status(), OrdStatus::PartiallyFilled);
        assert_eq!(next.orig_cl_ord_id(), Some(id("A")));
        assert_eq!(next.cum_qty(), Qty(4));
        assert_eq!(next.leaves_qty(), Qty(8));
        assert_eq!(next.notional_ticks(), 20);
        assert_eq!(next.price(), Price::from_ticks(6));
        Ok(())
    }

    #[test]
    fn cancel_reject_restores_partially_filled() -> Result<(), OrderError> {
        let mut o = Order::new(id("A"), &spec(10), Price::from_ticks(5));
        o.apply(OrderEvent::CancelRequested)?;
        o.on_accepted(3)?;
        assert_eq!(o.status(), OrdStatus::PendingCancel);
        o.on_filled(Price::from_ticks(5), Qty(1))?;
        assert_eq!(o.status(), OrdStatus::PendingCancel);
        assert_eq!(
            o.apply(OrderEvent::CancelRejected)?,
            OrdStatus::PartiallyFilled
        );
        Ok(())
    }
}
