//! Order state machine and order store: the table of every (state, event) pair, the FIX
//! 4.4 Appendix D scenarios through `Order`, store duplicate detection, and a property
//! test over random event sequences.

use proptest::prelude::*;
use tickwarp_gateway::orders::{
    InvalidTransition, Live, OrdStatus, Order, OrderError, OrderEvent, OrderKey, OrderStore,
    StoreError, transition,
};
use tickwarp_wire::{
    AccountId, ClientOrderId, FillKind, InstrumentId, OrderSpec, OrderType, Price, Qty, Side,
    TimeInForce,
};

use FillKind::{Full, Partial};
use OrdStatus as S;
use OrderEvent as E;

/// Which live statuses an entry of the table applies to.
#[derive(Clone, Copy)]
enum When {
    Any,
    /// Only while the venue has not acknowledged the order.
    Unacked,
    /// Only once the venue acknowledged the order.
    Acked,
}

/// What a legal transition leads to.
#[derive(Clone, Copy)]
enum To {
    State(OrdStatus),
    /// Back to the live status.
    Live,
}

/// Every legal transition, written out independently of the implementation.
const LEGAL: &[(OrdStatus, OrderEvent, When, To)] = &[
    (
        S::PendingNew,
        E::OrderAccepted,
        When::Any,
        To::State(S::New),
    ),
    (
        S::PendingNew,
        E::OrderRejected,
        When::Any,
        To::State(S::Rejected),
    ),
    (
        S::PendingNew,
        E::OrderFilled(Partial),
        When::Any,
        To::State(S::PartiallyFilled),
    ),
    (
        S::PendingNew,
        E::OrderFilled(Full),
        When::Any,
        To::State(S::Filled),
    ),
    (
        S::PendingNew,
        E::OrderCanceled,
        When::Any,
        To::State(S::Canceled),
    ),
    (
        S::PendingNew,
        E::CancelRequested,
        When::Any,
        To::State(S::PendingCancel),
    ),
    (
        S::PendingNew,
        E::ReplaceRequested,
        When::Any,
        To::State(S::PendingReplace),
    ),
    (
        S::New,
        E::OrderFilled(Partial),
        When::Any,
        To::State(S::PartiallyFilled),
    ),
    (
        S::New,
        E::OrderFilled(Full),
        When::Any,
        To::State(S::Filled),
    ),
    (
        S::New,
        E::CancelRequested,
        When::Any,
        To::State(S::PendingCancel),
    ),
    (
        S::New,
        E::ReplaceRequested,
        When::Any,
        To::State(S::PendingReplace),
    ),
    (S::New, E::OrderCanceled, When::Any, To::State(S::Canceled)),
    (S::New, E::OrderExpired, When::Any, To::State(S::Expired)),
    (S::New, E::DayEnded, When::Any, To::State(S::DoneForDay)),
    (
        S::PartiallyFilled,
        E::OrderFilled(Partial),
        When::Any,
        To::State(S::PartiallyFilled),
    ),
    (
        S::PartiallyFilled,
        E::OrderFilled(Full),
        When::Any,
        To::State(S::Filled),
    ),
    (
        S::PartiallyFilled,
        E::CancelRequested,
        When::Any,
        To::State(S::PendingCancel),
    ),
    (
        S::PartiallyFilled,
        E::ReplaceRequested,
        When::Any,
        To::State(S::PendingReplace),
    ),
    (
        S::PartiallyFilled,
        E::OrderCanceled,
        When::Any,
        To::State(S::Canceled),
    ),
    (
        S::PartiallyFilled,
        E::OrderExpired,
        When::Any,
        To::State(S::Expired),
    ),
    (
        S::PartiallyFilled,
        E::DayEnded,
        When::Any,
        To::State(S::DoneForDay),
    ),
    (
        S::PendingCancel,
        E::OrderAccepted,
        When::Unacked,
        To::State(S::PendingCancel),
    ),
    (
        S::PendingCancel,
        E::OrderRejected,
        When::Unacked,
        To::State(S::Rejected),
    ),
    (
        S::PendingCancel,
        E::OrderFilled(Partial),
        When::Any,
        To::State(S::PendingCancel),
    ),
    (
        S::PendingCancel,
        E::OrderFilled(Full),
        When::Any,
        To::State(S::Filled),
    ),
    (
        S::PendingCancel,
        E::OrderCanceled,
        When::Any,
        To::State(S::Canceled),
    ),
    (S::PendingCancel, E::CancelRejected, When::Any, To::Live),
    (
        S::PendingCancel,
        E::OrderExpired,
        When::Acked,
        To::State(S::Expired),
    ),
    (
        S::PendingCancel,
        E::DayEnded,
        When::Acked,
        To::State(S::DoneForDay),
    ),
    (
        S::PendingReplace,
        E::OrderAccepted,
        When::Unacked,
        To::State(S::PendingReplace),
    ),
    (
        S::PendingReplace,
        E::OrderRejected,
        When::Unacked,
        To::State(S::Rejected),
    ),
    (
        S::PendingReplace,
        E::OrderFilled(Partial),
        When::Any,
        To::State(S::PendingReplace),
    ),
    (
        S::PendingReplace,
        E::OrderFilled(Full),
        When::Any,
        To::State(S::Filled),
    ),
    (
        S::PendingReplace,
        E::OrderCanceled,
        When::Any,
        To::State(S::Canceled),
    ),
    (
        S::PendingReplace,
        E::OrderReplaced,
        When::Any,
        To::State(S::Replaced),
    ),
    (S::PendingReplace, E::ReplaceRejected, When::Any, To::Live),
    (
        S::PendingReplace,
        E::OrderExpired,
        When::Acked,
        To::State(S::Expired),
    ),
    (
        S::PendingReplace,
        E::DayEnded,
        When::Acked,
        To::State(S::DoneForDay),
    ),
    (
        S::Filled,
        E::CancelRejected,
        When::Any,
        To::State(S::Filled),
    ),
    (
        S::Filled,
        E::ReplaceRejected,
        When::Any,
        To::State(S::Filled),
    ),
    (
        S::Canceled,
        E::CancelRejected,
        When::Any,
        To::State(S::Canceled),
    ),
    (
        S::Canceled,
        E::ReplaceRejected,
        When::Any,
        To::State(S::Canceled),
    ),
    (
        S::Rejected,
        E::CancelRejected,
        When::Any,
        To::State(S::Rejected),
    ),
    (
        S::Rejected,
        E::ReplaceRejected,
        When::Any,
        To::State(S::Rejected),
    ),
    (
        S::Expired,
        E::CancelRejected,
        When::Any,
        To::State(S::Expired),
    ),
    (
        S::Expired,
        E::ReplaceRejected,
        When::Any,
        To::State(S::Expired),
    ),
    (
        S::DoneForDay,
        E::CancelRejected,
        When::Any,
        To::State(S::DoneForDay),
    ),
    (
        S::DoneForDay,
        E::ReplaceRejected,
        When::Any,
        To::State(S::DoneForDay),
    ),
    (
        S::DoneForDay,
        E::OrderCanceled,
        When::Any,
        To::State(S::Canceled),
    ),
    (
        S::DoneForDay,
        E::OrderExpired,
        When::Any,
        To::State(S::Expired),
    ),
];

fn expected(state: OrdStatus, live: Live, event: OrderEvent) -> Option<OrdStatus> {
    LEGAL.iter().find_map(|&(s, e, when, to)| {
        let applies = match when {
            When::Any => true,
            When::Unacked => live == Live::PendingNew,
            When::Acked => live != Live::PendingNew,
        };
        (s == state && e == event && applies).then_some(match to {
            To::State(next) => next,
            To::Live => live.status(),
        })
    })
}

#[test]
fn every_state_event_pair() {
    let mut legal = 0;
    let mut illegal = 0;
    for state in OrdStatus::ALL {
        for live in Live::ALL {
            for event in OrderEvent::ALL {
                let got = transition(state, live, event);
                match expected(state, live, event) {
                    Some(next) => {
                        legal += 1;
                        assert_eq!(got, Ok(next), "{state} {live:?} {event:?}");
                    }
                    None => {
                        illegal += 1;
                        assert_eq!(
                            got,
                            Err(InvalidTransition { state, event }),
                            "{state} {live:?} {event:?} must be refused"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(legal + illegal, 11 * 3 * 12);
    assert!(
        legal > 100 && illegal > 200,
        "{legal} legal, {illegal} illegal"
    );
}

#[test]
fn terminal_states_only_absorb_late_rejects() {
    for state in OrdStatus::ALL.into_iter().filter(|s| s.is_done()) {
        for event in OrderEvent::ALL {
            if let Ok(next) = transition(state, Live::New, event) {
                assert!(
                    next == state || state == S::DoneForDay,
                    "{state} left by {event:?}"
                );
            }
        }
    }
}

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn spec(qty: u64) -> OrderSpec {
    OrderSpec {
        instrument: InstrumentId(1),
        account: AccountId(1),
        side: Side::Buy,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(10_0000),
        qty: Qty(qty),
    }
}

fn px(ticks: i64) -> Price {
    Price::from_ticks(ticks)
}

/// App. D: filled in two parts, then a cancel is refused as too late.
#[test]
fn scenario_fill_then_late_cancel_reject() -> Result<(), OrderError> {
    let mut o = Order::new(id("1"), &spec(10), px(10_0000));
    assert_eq!(o.on_accepted(42)?, S::New);
    assert_eq!(o.order_id(), 42);
    assert_eq!(o.on_filled(px(10_0000), Qty(4))?, Partial);
    assert_eq!(o.status(), S::PartiallyFilled);
    assert_eq!(o.apply(E::CancelRequested)?, S::PendingCancel);
    assert_eq!(o.on_filled(px(9_0000), Qty(6))?, Full);
    assert_eq!(o.status(), S::Filled);
    assert_eq!(o.apply(E::CancelRejected)?, S::Filled);
    assert_eq!(o.cum_qty(), Qty(10));
    assert_eq!(o.leaves_qty(), Qty::ZERO);
    // 4 × 10 + 6 × 9 = 94 over 10 = 9.4
    assert_eq!(o.avg_px(), px(9_4000));
    assert_eq!(o.notional_ticks(), 94_0000);
    Ok(())
}

/// App. D: cancel sent before the ack, ack arrives, then the cancel is applied.
#[test]
fn scenario_cancel_before_ack() -> Result<(), OrderError> {
    let mut o = Order::new(id("1"), &spec(10), px(1));
    assert_eq!(o.apply(E::CancelRequested)?, S::PendingCancel);
    assert_eq!(o.on_accepted(7)?, S::PendingCancel);
    assert_eq!(o.live(), Live::New);
    assert_eq!(o.leaves_qty(), Qty(10));
    assert_eq!(o.apply(E::OrderCanceled)?, S::Canceled);
    assert_eq!(o.leaves_qty(), Qty::ZERO);
    Ok(())
}

/// App. D: replace request refused, the order goes back to partially filled; a second
/// replace is accepted and the chain keeps its traded totals.
#[test]
fn scenario_replace_rejected_then_accepted() -> Result<(), OrderError> {
    let mut o = Order::new(id("1"), &spec(10), px(5_0000));
    o.on_accepted(1)?;
    o.on_filled(px(5_0000), Qty(3))?;
    assert_eq!(o.apply(E::ReplaceRequested)?, S::PendingReplace);
    assert_eq!(o.apply(E::ReplaceRejected)?, S::PartiallyFilled);
    o.apply(E::ReplaceRequested)?;
    o.on_filled(px(5_0000), Qty(1))?;
    assert_eq!(o.status(), S::PendingReplace);
    let mut next = o.on_replaced(id("2"), px(5_1000), Qty(8), 2)?;
    assert_eq!(o.status(), S::Replaced);
    assert_eq!(next.status(), S::PartiallyFilled);
    assert_eq!(next.leaves_qty(), Qty(4));
    assert_eq!(next.on_filled(px(5_1000), Qty(4))?, Full);
    assert_eq!(next.cum_qty(), Qty(8));
    Ok(())
}

#[test]
fn invalid_events_leave_the_order_untouched() -> Result<(), OrderError> {
    let mut o = Order::new(id("1"), &spec(10), px(1));
    let before = o;
    assert_eq!(
        o.apply(E::OrderReplaced),
        Err(OrderError::Transition(InvalidTransition {
            state: S::PendingNew,
            event: E::OrderReplaced
        }))
    );
    assert_eq!(o, before);
    o.apply(E::OrderRejected)?;
    assert!(matches!(
        o.on_filled(px(1), Qty(1)),
        Err(OrderError::Overfill { .. })
    ));
    Ok(())
}

#[test]
fn store_detects_duplicates_per_account() {
    let mut store = OrderStore::with_capacity(4);
    let o = Order::new(id("X"), &spec(1), px(1));
    assert_eq!(store.insert(o), Ok(()));
    assert_eq!(
        store.insert(o),
        Err(StoreError::Duplicate(OrderKey::of(&o)))
    );
    let other = Order::new(
        id("X"),
        &OrderSpec {
            account: AccountId(2),
            ..spec(1)
        },
        px(1),
    );
    assert_eq!(store.insert(other), Ok(()));
    assert_eq!(store.len(), 2);
    assert_eq!(
        store.get(&OrderKey::of(&o)).map(Order::status),
        Some(S::PendingNew)
    );
}

fn any_event() -> impl Strategy<Value = (OrderEvent, u64)> {
    (0..OrderEvent::ALL.len(), 1..5u64).prop_map(|(i, q)| {
        (
            OrderEvent::ALL.get(i).copied().unwrap_or(E::OrderAccepted),
            q,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of events: the order never panics, never overfills, keeps
    /// cum + leaves = qty while open, and a refused event changes nothing.
    #[test]
    fn random_event_sequences(events in proptest::collection::vec(any_event(), 0..40)) {
        let mut o = Order::new(id("P"), &spec(10), px(1_0000));
        for (event, qty) in events {
            let before = o;
            let result = match event {
                E::OrderFilled(_) => o.on_filled(px(1_0000), Qty(qty)).map(|_| o.status()),
                other => o.apply(other),
            };
            if result.is_err() {
                prop_assert_eq!(o, before);
            }
            prop_assert!(o.cum_qty() <= o.qty());
            if o.status().is_open() {
                prop_assert_eq!(o.cum_qty().0 + o.leaves_qty().0, o.qty().0);
            } else {
                prop_assert_eq!(o.leaves_qty(), Qty::ZERO);
            }
            prop_assert_eq!(o.notional_ticks(), i128::from(o.cum_qty().0) * 1_0000);
            if o.status() == S::Filled {
                prop_assert_eq!(o.cum_qty(), o.qty());
            }
        }
    }
}
