//! Venue sessions: the [`VenueSession`] seam through which the gateway sends orders to a
//! venue and receives executions, and [`VenueSim`], the built-in price-time matching
//! simulator, and [`FixVenue`], a FIX 4.4 initiator to an external venue (tested against
//! QuickFIX's `executor`). [`itch`] turns the simulator's market data into ITCH 5.0 bytes, so the
//! demo runs closed loop: the venue's own feed drives the strategies that trade on it.
//!
//! Sessions are sans-IO: commands and time go in, execution events come out through
//! `poll_execution`. This module must not read clocks, perform I/O, run pre-trade risk
//! (see [`crate::risk`]) or track the client-side order lifecycle (see [`crate::orders`]).

mod book;
pub mod fix_initiator;
pub mod itch;
mod sim;

use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::{
    CancelOrder, CancelRejected, MdAddOrder, MdBboUpdate, MdCancelOrder, MdTrade, NewOrder,
    OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderReplaced, ReplaceOrder,
};

pub use fix_initiator::{FixVenue, FixVenueConfig, FixVenueEvent, FixVenueState};
pub use sim::{VenueConfig, VenueSim};

/// The time of a venue event: wall clock for TransactTime and market data timestamps,
/// monotonic for latency measurement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VenueTime {
    /// Wall-clock time (FIX TransactTime, market data venue timestamp).
    pub wall: UnixNanos,
    /// Monotonic host time.
    pub mono: Nanos,
}

/// An execution event for the owner of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    /// A new order was acknowledged.
    Accepted(OrderAccepted),
    /// A new order was refused.
    Rejected(OrderRejected),
    /// An order traded.
    Filled(OrderFilled),
    /// An order left the book (asked for, or unsolicited for IOC/FOK/market rests).
    Canceled(OrderCanceled),
    /// A cancel or replace request was refused.
    CancelRejected(CancelRejected),
    /// An order was replaced.
    Replaced(OrderReplaced),
}

/// A market data event published by the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdEvent {
    /// An order rests on the book.
    Add(MdAddOrder),
    /// Quantity left the book without a trade (a delete when nothing remains).
    Cancel(MdCancelOrder),
    /// A resting order traded; the second field is the venue's match number (the
    /// trade's `exec_id` in both sides' [`OrderFilled`]).
    Trade(MdTrade, u64),
    /// The top of book after a command changed it.
    Bbo(MdBboUpdate),
}

/// A session with a venue: submit commands, poll executions.
///
/// Every implementation must: answer each new order with exactly one `Accepted` or
/// `Rejected` first; answer each cancel and replace with `Canceled`/`Replaced` or
/// `CancelRejected`; report every trade to the owners of both orders with the same
/// `exec_id`; never report more traded quantity than an order had; take time only from
/// its arguments.
pub trait VenueSession {
    /// Sends a new order.
    fn submit_new(&mut self, now: VenueTime, order: &NewOrder);
    /// Sends a cancel request.
    fn submit_cancel(&mut self, now: VenueTime, cancel: &CancelOrder);
    /// Sends a cancel/replace request.
    fn submit_replace(&mut self, now: VenueTime, replace: &ReplaceOrder);
    /// The next execution event, oldest first.
    fn poll_execution(&mut self) -> Option<Execution>;
    /// Whether requests must be on stable storage before they reach this venue: true (the
    /// default) for a venue outside this process, so that after a crash the journal knows
    /// every order the venue may hold. A venue whose state is rebuilt from the journal on
    /// recovery (the in-process simulator) answers false and saves a sync per duty cycle;
    /// reports still wait for the sync that covers them.
    fn needs_write_ahead(&self) -> bool {
        true
    }
}
