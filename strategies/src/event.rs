//! What strategies see: [`Tick`], a borrowed view of one market data record, and
//! [`Execution`], a borrowed view of one execution event, plus [`OwnedExecution`] for
//! code (fill models, queues) that must keep an event past the buffer it came from.
//!
//! Both views are thin enums over the `tickwarp-wire` records, built from a decoded
//! [`Message`]; they copy nothing. This module holds no state and does no I/O.

use tickwarp_wire::{
    CancelRejected, ClientOrderId, ExecMeta, InstrumentId, IntoBytes, MdAddOrder, MdBboUpdate,
    MdBookSnapshotChunk, MdCancelOrder, MdHeartbeat, MdMeta, MdModifyOrder, MdSequenceReset,
    MdTrade, Message, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderReplaced,
    Price, TickCause,
};

/// One market data record, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick<'a> {
    /// A feed heartbeat (feed-wide).
    Heartbeat(&'a MdHeartbeat),
    /// A feed sequence reset (feed-wide): books must be rebuilt.
    SequenceReset(&'a MdSequenceReset),
    /// An order was added to the book.
    Add(&'a MdAddOrder),
    /// A resting order was modified in place.
    Modify(&'a MdModifyOrder),
    /// Quantity left a resting order without a trade.
    Cancel(&'a MdCancelOrder),
    /// A trade printed.
    Trade(&'a MdTrade),
    /// The top of book changed.
    Bbo(&'a MdBboUpdate),
    /// A chunk of a book snapshot.
    Snapshot(&'a MdBookSnapshotChunk),
}

impl<'a> Tick<'a> {
    /// The tick inside `msg`, or `None` when `msg` is not market data.
    pub fn from_message(msg: Message<'a>) -> Option<Tick<'a>> {
        Some(match msg {
            Message::MdHeartbeat(r) => Tick::Heartbeat(r),
            Message::MdSequenceReset(r) => Tick::SequenceReset(r),
            Message::MdAddOrder(r) => Tick::Add(r),
            Message::MdModifyOrder(r) => Tick::Modify(r),
            Message::MdCancelOrder(r) => Tick::Cancel(r),
            Message::MdTrade(r) => Tick::Trade(r),
            Message::MdBboUpdate(r) => Tick::Bbo(r),
            Message::MdBookSnapshotChunk(r) => Tick::Snapshot(r),
            _ => return None,
        })
    }

    /// The fields every market data record carries.
    pub fn meta(&self) -> MdMeta {
        match self {
            Tick::Heartbeat(r) => r.meta(),
            Tick::SequenceReset(r) => r.meta(),
            Tick::Add(r) => r.meta(),
            Tick::Modify(r) => r.meta(),
            Tick::Cancel(r) => r.meta(),
            Tick::Trade(r) => r.meta(),
            Tick::Bbo(r) => r.meta(),
            Tick::Snapshot(r) => r.meta(),
        }
    }

    /// The instrument ([`InstrumentId::NONE`] for feed-wide records).
    pub fn instrument(&self) -> InstrumentId {
        self.meta().instrument
    }

    /// The record's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Tick::Heartbeat(r) => r.as_bytes(),
            Tick::SequenceReset(r) => r.as_bytes(),
            Tick::Add(r) => r.as_bytes(),
            Tick::Modify(r) => r.as_bytes(),
            Tick::Cancel(r) => r.as_bytes(),
            Tick::Trade(r) => r.as_bytes(),
            Tick::Bbo(r) => r.as_bytes(),
            Tick::Snapshot(r) => r.as_bytes(),
        }
    }

    /// The [`TickCause`] an order sent at `send_ts` in reaction to this tick carries.
    pub fn cause(&self, send_ts: tickwarp_wire::Nanos) -> TickCause {
        let meta = self.meta();
        TickCause {
            feed_seq: meta.feed_seq,
            venue_ts: meta.venue_ts,
            recv_ts: meta.recv_ts,
            send_ts,
        }
    }

    /// The mid price of a top-of-book update with both sides present (rounded down to
    /// a whole tick of 1/10,000), else `None`.
    pub fn mid(&self) -> Option<Price> {
        match self {
            Tick::Bbo(b) => {
                let (bid, ask) = (b.bid(), b.ask());
                if bid.qty.is_zero() || ask.qty.is_zero() {
                    return None;
                }
                let sum = i128::from(bid.px.ticks()) + i128::from(ask.px.ticks());
                i64::try_from(sum.div_euclid(2)).ok().map(Price::from_ticks)
            }
            _ => None,
        }
    }
}

/// One execution event, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution<'a> {
    /// An order was accepted.
    Accepted(&'a OrderAccepted),
    /// A new order was rejected.
    Rejected(&'a OrderRejected),
    /// An order traded.
    Filled(&'a OrderFilled),
    /// An order was canceled (on request, or unsolicited: IOC remainder, venue cancel).
    Canceled(&'a OrderCanceled),
    /// A cancel or replace request was rejected.
    CancelRejected(&'a CancelRejected),
    /// An order was replaced.
    Replaced(&'a OrderReplaced),
}

impl<'a> Execution<'a> {
    /// The execution inside `msg`, or `None` when `msg` is not an execution event.
    pub fn from_message(msg: Message<'a>) -> Option<Execution<'a>> {
        Some(match msg {
            Message::OrderAccepted(r) => Execution::Accepted(r),
            Message::OrderRejected(r) => Execution::Rejected(r),
            Message::OrderFilled(r) => Execution::Filled(r),
            Message::OrderCanceled(r) => Execution::Canceled(r),
            Message::CancelRejected(r) => Execution::CancelRejected(r),
            Message::OrderReplaced(r) => Execution::Replaced(r),
            _ => return None,
        })
    }

    /// The fields every execution event carries.
    pub fn meta(&self) -> ExecMeta {
        match self {
            Execution::Accepted(r) => r.meta(),
            Execution::Rejected(r) => r.meta(),
            Execution::Filled(r) => r.meta(),
            Execution::Canceled(r) => r.meta(),
            Execution::CancelRejected(r) => r.meta(),
            Execution::Replaced(r) => r.meta(),
        }
    }

    /// The client order id of the request this event answers.
    pub fn cl_ord_id(&self) -> ClientOrderId {
        self.meta().cl_ord_id
    }

    /// The original client order id (cancels and replaces), if the event carries one.
    pub fn orig_cl_ord_id(&self) -> Option<ClientOrderId> {
        match self {
            Execution::Canceled(r) => r.orig_cl_ord_id(),
            Execution::CancelRejected(r) => Some(r.orig_cl_ord_id()),
            Execution::Replaced(r) => Some(r.orig_cl_ord_id()),
            Execution::Accepted(_) | Execution::Rejected(_) | Execution::Filled(_) => None,
        }
    }

    /// The record's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            Execution::Accepted(r) => r.as_bytes(),
            Execution::Rejected(r) => r.as_bytes(),
            Execution::Filled(r) => r.as_bytes(),
            Execution::Canceled(r) => r.as_bytes(),
            Execution::CancelRejected(r) => r.as_bytes(),
            Execution::Replaced(r) => r.as_bytes(),
        }
    }
}

/// An execution event held by value (fill models produce these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnedExecution {
    /// An order was accepted.
    Accepted(OrderAccepted),
    /// A new order was rejected.
    Rejected(OrderRejected),
    /// An order traded.
    Filled(OrderFilled),
    /// An order was canceled.
    Canceled(OrderCanceled),
    /// A cancel or replace request was rejected.
    CancelRejected(CancelRejected),
    /// An order was replaced.
    Replaced(OrderReplaced),
}

impl OwnedExecution {
    /// A borrowed view of this event.
    pub fn as_view(&self) -> Execution<'_> {
        match self {
            OwnedExecution::Accepted(r) => Execution::Accepted(r),
            OwnedExecution::Rejected(r) => Execution::Rejected(r),
            OwnedExecution::Filled(r) => Execution::Filled(r),
            OwnedExecution::Canceled(r) => Execution::Canceled(r),
            OwnedExecution::CancelRejected(r) => Execution::CancelRejected(r),
            OwnedExecution::Replaced(r) => Execution::Replaced(r),
        }
    }

    /// The record's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.as_view().as_bytes()
    }
}

impl From<Execution<'_>> for OwnedExecution {
    fn from(e: Execution<'_>) -> OwnedExecution {
        match e {
            Execution::Accepted(r) => OwnedExecution::Accepted(*r),
            Execution::Rejected(r) => OwnedExecution::Rejected(*r),
            Execution::Filled(r) => OwnedExecution::Filled(*r),
            Execution::Canceled(r) => OwnedExecution::Canceled(*r),
            Execution::CancelRejected(r) => OwnedExecution::CancelRejected(*r),
            Execution::Replaced(r) => OwnedExecution::Replaced(*r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwarp_wire::{
        AccountId, Nanos, OrderType, Qty, Quote, RejectReason, SeqNo, Side, TimeInForce, UnixNanos,
        decode,
    };

    fn meta() -> MdMeta {
        MdMeta {
            instrument: InstrumentId(7),
            feed_seq: SeqNo(42),
            venue_ts: UnixNanos(1_000),
            recv_ts: Nanos(2_000),
        }
    }

    #[test]
    fn tick_from_decoded_bytes() {
        let bbo = MdBboUpdate::new(
            meta(),
            Quote {
                px: Price::from_ticks(100),
                qty: Qty(5),
                orders: 1,
            },
            Quote {
                px: Price::from_ticks(103),
                qty: Qty(5),
                orders: 1,
            },
        );
        let msg = decode(bbo.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let tick = Tick::from_message(msg).unwrap_or_else(|| panic!("not a tick"));
        assert_eq!(tick.instrument(), InstrumentId(7));
        assert_eq!(tick.mid(), Some(Price::from_ticks(101)));
        assert_eq!(tick.as_bytes(), bbo.as_bytes());
        let cause = tick.cause(Nanos(2_500));
        assert_eq!(cause.feed_seq, SeqNo(42));
        assert_eq!(cause.recv_ts, Nanos(2_000));
        assert_eq!(cause.send_ts, Nanos(2_500));
    }

    #[test]
    fn one_sided_book_has_no_mid() {
        let bbo = MdBboUpdate::new(
            meta(),
            Quote {
                px: Price::from_ticks(100),
                qty: Qty(5),
                orders: 1,
            },
            Quote::default(),
        );
        assert_eq!(Tick::Bbo(&bbo).mid(), None);
    }

    #[test]
    fn execution_views() {
        let id = ClientOrderId::new("a-1").unwrap_or_else(|e| panic!("{e}"));
        let em = ExecMeta {
            instrument: InstrumentId(7),
            account: AccountId(1),
            cl_ord_id: id,
            order_id: 9,
            transact_time: UnixNanos(1),
            gateway_ts: Nanos(2),
        };
        let acc = OrderAccepted::new(em, Side::Buy, OrderType::Limit, TimeInForce::Day);
        let msg = decode(acc.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(Tick::from_message(msg).is_none());
        let exec = Execution::from_message(msg).unwrap_or_else(|| panic!("not an exec"));
        assert_eq!(exec.cl_ord_id(), id);
        assert_eq!(exec.orig_cl_ord_id(), None);
        let owned = OwnedExecution::from(exec);
        assert_eq!(owned.as_bytes(), acc.as_bytes());
        let rej = OrderRejected::new(em, RejectReason::InvalidQty);
        assert_eq!(Execution::Rejected(&rej).meta(), em);
    }
}
