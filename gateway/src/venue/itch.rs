//! The simulator's market data as NASDAQ TotalView-ITCH 5.0 messages, through
//! `tickwarp-feed`'s message types (so the bytes are exactly what the feed decodes).
//!
//! Mapping: an add is Add Order `A` (§1.3.1); a cancel is Order Cancel `X` (§1.4.3), or
//! Order Delete `D` (§1.4.4) when nothing remains; a trade against a resting order is
//! Order Executed `E` (§1.4.1) carrying the venue's match number. A top-of-book update has
//! no ITCH message (ITCH consumers build the top from the orders). Timestamps are the
//! venue wall clock's nanoseconds since midnight UTC. No I/O, no clock, no allocation.

use tickwarp_feed::itch::{
    AddOrder, Header, ItchSide, Message, OrderCancel, OrderDelete, OrderExecuted, Price4, Timestamp,
};
use tickwarp_wire::{Price, Qty, Symbol, UnixNanos};

use super::MdEvent;

/// Nanoseconds per day.
const DAY_NANOS: u64 = 86_400 * 1_000_000_000;

/// Why a market data event has no ITCH form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ItchMapError {
    /// A quantity above ITCH's 4-byte share count.
    #[error("quantity {0} does not fit an ITCH share count")]
    Qty(Qty),
    /// A price below zero or above ITCH's 4-byte `Price(4)`.
    #[error("price {0} does not fit an ITCH Price(4)")]
    Price(Price),
}

/// The instrument identity ITCH messages carry: its Stock Locate code (§1.2.1) and
/// symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItchStock {
    /// Stock Locate code.
    pub locate: u16,
    /// Symbol (the Stock field).
    pub symbol: Symbol,
}

/// The ITCH 5.0 message for `event` about `stock`, `Ok(None)` for a top-of-book update.
pub fn to_itch(event: &MdEvent, stock: ItchStock) -> Result<Option<Message>, ItchMapError> {
    let header = |ts: UnixNanos| Header {
        stock_locate: stock.locate,
        tracking_number: 0,
        // Below one day, so within six bytes.
        timestamp: Timestamp::new(ts.get() % DAY_NANOS).unwrap_or(Timestamp::ZERO),
    };
    let shares = |q: Qty| u32::try_from(q.0).map_err(|_| ItchMapError::Qty(q));
    let message = match event {
        MdEvent::Add(a) => Message::AddOrder(AddOrder {
            header: header(a.venue_ts()),
            order_reference_number: a.order_ref(),
            buy_sell_indicator: ItchSide::from_side(a.side()),
            shares: shares(a.qty())?,
            stock: stock.symbol.to_itch(),
            price: Price4::from_price(a.price()).ok_or(ItchMapError::Price(a.price()))?,
        }),
        MdEvent::Cancel(c) if c.is_delete() => Message::OrderDelete(OrderDelete {
            header: header(c.venue_ts()),
            order_reference_number: c.order_ref(),
        }),
        MdEvent::Cancel(c) => Message::OrderCancel(OrderCancel {
            header: header(c.venue_ts()),
            order_reference_number: c.order_ref(),
            cancelled_shares: shares(c.canceled_qty())?,
        }),
        MdEvent::Trade(t, match_number) => Message::OrderExecuted(OrderExecuted {
            header: header(t.venue_ts()),
            order_reference_number: t.order_ref(),
            executed_shares: shares(t.qty())?,
            match_number: *match_number,
        }),
        MdEvent::Bbo(_) => return Ok(None),
    };
    Ok(Some(message))
}
