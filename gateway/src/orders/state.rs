//! The order lifecycle state machine of FIX 4.4 Volume 4 Appendix D ("Order State Change
//! Matrices"): the [`OrdStatus`] an order is in, the [`OrderEvent`]s that move it, and
//! [`transition`], one exhaustive `match (state, event)` with a catch-all error.
//!
//! Events are in the past tense: they report what happened (a request was sent, the venue
//! answered). A cancel or replace request puts the order in a pending state; when the
//! venue refuses it the order goes back to where it was, which the caller supplies as its
//! [`Live`] status (known from whether the venue acknowledged the order and whether
//! anything traded). This module keeps no order data, reads no clock and does no I/O.

use core::fmt;

use tickwarp_wire::FillKind;

/// Where an order is in its lifecycle (FIX 4.4 OrdStatus, tag 39, Appendix D).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrdStatus {
    /// Sent to the venue, not yet acknowledged (FIX `A`).
    PendingNew,
    /// Acknowledged and working, nothing traded (FIX `0`).
    New,
    /// Working with part of the quantity traded (FIX `1`).
    PartiallyFilled,
    /// Fully traded (FIX `2`); terminal.
    Filled,
    /// A cancel request is in flight (FIX `6`).
    PendingCancel,
    /// Left the book without trading its rest (FIX `4`); terminal.
    Canceled,
    /// A cancel/replace request is in flight (FIX `E`).
    PendingReplace,
    /// Replaced by a successor order with a new ClOrdID (FIX `5`); terminal for this id.
    Replaced,
    /// Refused by risk or the venue (FIX `8`); terminal.
    Rejected,
    /// Its time in force ran out (FIX `C`); terminal.
    Expired,
    /// No further executions for the trading day (FIX `3`); terminal for the day.
    DoneForDay,
}

impl OrdStatus {
    /// Every status, in declaration order (for tables and tests).
    pub const ALL: [OrdStatus; 11] = [
        OrdStatus::PendingNew,
        OrdStatus::New,
        OrdStatus::PartiallyFilled,
        OrdStatus::Filled,
        OrdStatus::PendingCancel,
        OrdStatus::Canceled,
        OrdStatus::PendingReplace,
        OrdStatus::Replaced,
        OrdStatus::Rejected,
        OrdStatus::Expired,
        OrdStatus::DoneForDay,
    ];

    /// Whether no further event can make the order trade (FIX: LeavesQty is zero).
    pub const fn is_done(self) -> bool {
        matches!(
            self,
            OrdStatus::Filled
                | OrdStatus::Canceled
                | OrdStatus::Replaced
                | OrdStatus::Rejected
                | OrdStatus::Expired
                | OrdStatus::DoneForDay
        )
    }

    /// Whether the order may still trade (the complement of [`OrdStatus::is_done`]).
    pub const fn is_open(self) -> bool {
        !self.is_done()
    }

    /// The FIX 4.4 OrdStatus (tag 39) character.
    pub const fn fix_code(self) -> u8 {
        match self {
            OrdStatus::PendingNew => b'A',
            OrdStatus::New => b'0',
            OrdStatus::PartiallyFilled => b'1',
            OrdStatus::Filled => b'2',
            OrdStatus::PendingCancel => b'6',
            OrdStatus::Canceled => b'4',
            OrdStatus::PendingReplace => b'E',
            OrdStatus::Replaced => b'5',
            OrdStatus::Rejected => b'8',
            OrdStatus::Expired => b'C',
            OrdStatus::DoneForDay => b'3',
        }
    }
}

impl fmt::Display for OrdStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What an open order is underneath any pending cancel/replace request: the status it
/// returns to when the venue refuses the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Live {
    /// The venue has not acknowledged the order yet.
    PendingNew,
    /// Acknowledged, nothing traded.
    New,
    /// Acknowledged, part traded.
    PartiallyFilled,
}

impl Live {
    /// Every live status.
    pub const ALL: [Live; 3] = [Live::PendingNew, Live::New, Live::PartiallyFilled];

    /// The live status of an order from its facts.
    pub const fn of(acknowledged: bool, traded: bool) -> Live {
        match (acknowledged, traded) {
            (_, true) => Live::PartiallyFilled,
            (true, false) => Live::New,
            (false, false) => Live::PendingNew,
        }
    }

    /// The same status as an [`OrdStatus`].
    pub const fn status(self) -> OrdStatus {
        match self {
            Live::PendingNew => OrdStatus::PendingNew,
            Live::New => OrdStatus::New,
            Live::PartiallyFilled => OrdStatus::PartiallyFilled,
        }
    }
}

/// Something that happened to an order (past tense).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderEvent {
    /// The venue acknowledged the order.
    OrderAccepted,
    /// Risk or the venue refused the order.
    OrderRejected,
    /// Part ([`FillKind::Partial`]) or the rest ([`FillKind::Full`]) of the order traded.
    OrderFilled(FillKind),
    /// A cancel request was sent.
    CancelRequested,
    /// The order left the book (asked for, or unsolicited: IOC rest, kill switch, venue).
    OrderCanceled,
    /// The venue refused a cancel request.
    CancelRejected,
    /// A cancel/replace request was sent.
    ReplaceRequested,
    /// The venue replaced the order (this ClOrdID is done; the successor lives on).
    OrderReplaced,
    /// The venue refused a cancel/replace request.
    ReplaceRejected,
    /// The order's time in force ran out.
    OrderExpired,
    /// The trading day ended with the order still working.
    DayEnded,
}

impl OrderEvent {
    /// Every event (both fill kinds), for tables and tests.
    pub const ALL: [OrderEvent; 12] = [
        OrderEvent::OrderAccepted,
        OrderEvent::OrderRejected,
        OrderEvent::OrderFilled(FillKind::Partial),
        OrderEvent::OrderFilled(FillKind::Full),
        OrderEvent::CancelRequested,
        OrderEvent::OrderCanceled,
        OrderEvent::CancelRejected,
        OrderEvent::ReplaceRequested,
        OrderEvent::OrderReplaced,
        OrderEvent::ReplaceRejected,
        OrderEvent::OrderExpired,
        OrderEvent::DayEnded,
    ];
}

/// An event that cannot happen to an order in this state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("invalid order transition: {event:?} while {state}")]
pub struct InvalidTransition {
    /// The order's status.
    pub state: OrdStatus,
    /// The refused event.
    pub event: OrderEvent,
}

/// The status after `event` happens to an order in `state` whose live status (under any
/// pending request) is `live`, or the typed error when the event cannot happen then.
///
/// FIX 4.4 Volume 4 Appendix D; the unusual edges are commented.
pub fn transition(
    state: OrdStatus,
    live: Live,
    event: OrderEvent,
) -> Result<OrdStatus, InvalidTransition> {
    use FillKind::{Full, Partial};
    use OrdStatus as S;
    use OrderEvent as E;

    let next = match (state, event) {
        (S::PendingNew, E::OrderAccepted) => S::New,
        (S::PendingNew, E::OrderRejected) => S::Rejected,
        // The venue may trade an order before its acknowledgement reaches us; a fill
        // implies acceptance (App. D "fill before ack").
        (S::PendingNew, E::OrderFilled(Partial)) => S::PartiallyFilled,
        (S::PendingNew, E::OrderFilled(Full)) => S::Filled,
        // An IOC/FOK order that finds nothing to trade may be canceled without an ack.
        (S::PendingNew, E::OrderCanceled) => S::Canceled,
        // App. D D.1.d/D.2.d: a cancel or replace may be sent before the ack arrives.
        (S::PendingNew, E::CancelRequested) => S::PendingCancel,
        (S::PendingNew, E::ReplaceRequested) => S::PendingReplace,

        (S::New | S::PartiallyFilled, E::OrderFilled(Partial)) => S::PartiallyFilled,
        (S::New | S::PartiallyFilled, E::OrderFilled(Full)) => S::Filled,
        (S::New | S::PartiallyFilled, E::CancelRequested) => S::PendingCancel,
        (S::New | S::PartiallyFilled, E::ReplaceRequested) => S::PendingReplace,
        // Unsolicited cancel: IOC remainder, kill switch, venue action.
        (S::New | S::PartiallyFilled, E::OrderCanceled) => S::Canceled,
        (S::New | S::PartiallyFilled, E::OrderExpired) => S::Expired,
        (S::New | S::PartiallyFilled, E::DayEnded) => S::DoneForDay,

        // The ack of the order itself arriving after a cancel/replace was sent: the request
        // stays pending (App. D D.1.d).
        (S::PendingCancel | S::PendingReplace, E::OrderAccepted) if live == Live::PendingNew => {
            state
        }
        // ...and the venue may instead refuse the order itself.
        (S::PendingCancel | S::PendingReplace, E::OrderRejected) if live == Live::PendingNew => {
            S::Rejected
        }
        // A partial fill while a request is pending keeps the request pending (Pending
        // Cancel/Replace take precedence over Partially Filled in OrdStatus, App. D).
        (S::PendingCancel | S::PendingReplace, E::OrderFilled(Partial)) => state,
        // A fill of the rest wins the race against the request; the venue will answer
        // the request with a reject (too late), accepted below in the terminal states.
        (S::PendingCancel | S::PendingReplace, E::OrderFilled(Full)) => S::Filled,
        (S::PendingCancel, E::OrderCanceled) => S::Canceled,
        (S::PendingCancel, E::CancelRejected) => live.status(),
        // An unsolicited cancel (kill switch, venue) can overtake a pending replace.
        (S::PendingReplace, E::OrderCanceled) => S::Canceled,
        (S::PendingReplace, E::OrderReplaced) => S::Replaced,
        (S::PendingReplace, E::ReplaceRejected) => live.status(),
        // Expiry and the end of the day do not wait for a pending request.
        (S::PendingCancel | S::PendingReplace, E::OrderExpired) if live != Live::PendingNew => {
            S::Expired
        }
        (S::PendingCancel | S::PendingReplace, E::DayEnded) if live != Live::PendingNew => {
            S::DoneForDay
        }

        // The venue's answer to a request that lost a race against a fill, an unsolicited
        // cancel, expiry, the end of the day or a reject of the order: the order stays done.
        (
            S::Filled | S::Canceled | S::Rejected | S::Expired | S::DoneForDay,
            E::CancelRejected | E::ReplaceRejected,
        ) => state,
        // A day order done for the day is then canceled or expired by the venue.
        (S::DoneForDay, E::OrderCanceled) => S::Canceled,
        (S::DoneForDay, E::OrderExpired) => S::Expired,

        _ => return Err(InvalidTransition { state, event }),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_and_open_partition_the_states() {
        for s in OrdStatus::ALL {
            assert_ne!(s.is_done(), s.is_open(), "{s}");
        }
        assert!(OrdStatus::PendingCancel.is_open());
        assert!(OrdStatus::Replaced.is_done());
    }

    #[test]
    fn live_from_facts() {
        assert_eq!(Live::of(false, false), Live::PendingNew);
        assert_eq!(Live::of(true, false), Live::New);
        assert_eq!(Live::of(true, true), Live::PartiallyFilled);
        assert_eq!(Live::of(false, true), Live::PartiallyFilled);
    }

    #[test]
    fn cancel_reject_returns_to_live_status() {
        for live in Live::ALL {
            assert_eq!(
                transition(OrdStatus::PendingCancel, live, OrderEvent::CancelRejected),
                Ok(live.status())
            );
            assert_eq!(
                transition(OrdStatus::PendingReplace, live, OrderEvent::ReplaceRejected),
                Ok(live.status())
            );
        }
    }

    #[test]
    fn error_names_state_and_event() {
        let err = transition(OrdStatus::Filled, Live::New, OrderEvent::OrderAccepted)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid order transition: OrderAccepted while Filled")
        );
    }
}
