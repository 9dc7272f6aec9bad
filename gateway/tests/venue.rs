//! Venue simulator: price-time priority, partial fills, market sweeps, IOC/FOK,
//! cancel and replace priority rules, market data and its ITCH 5.0 form (replayed into
//! the feed's own order book), a property test of quantity conservation, and a counting
//! allocator proof that submit → risk → order state → venue match allocates nothing in
//! steady state.

use std::collections::HashMap;

use proptest::prelude::*;
use tickwarp_feed::book::{BookCapacity, OrderBook};
use tickwarp_feed::itch::Message;
use tickwarp_gateway::orders::{Order, OrderEvent, OrderKey, OrderStore};
use tickwarp_gateway::risk::{Exposure, RiskEngine, RiskLimits, SessionId};
use tickwarp_gateway::venue::itch::{ItchStock, to_itch};
use tickwarp_gateway::venue::{Execution, MdEvent, VenueConfig, VenueSession, VenueSim, VenueTime};
use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, CxlRejResponseTo, FillKind, InstrumentId, NewOrder,
    OrderSpec, OrderType, Price, Qty, RejectReason, ReplaceOrder, Side, Symbol, TickCause,
    TimeInForce,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const INST: InstrumentId = InstrumentId(1);
const T: VenueTime = VenueTime {
    wall: UnixNanos(1_700_000_000_000_000_000),
    mono: Nanos(5),
};

fn sim() -> VenueSim {
    VenueSim::new(&VenueConfig {
        instruments: vec![INST],
        max_resting_orders: 1_024,
        levels_per_side: 64,
        queue_capacity: 1_024,
    })
}

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn px(ticks: i64) -> Price {
    Price::from_ticks(ticks)
}

fn spec(side: Side, ord_type: OrderType, tif: TimeInForce, price: i64, qty: u64) -> OrderSpec {
    OrderSpec {
        instrument: INST,
        account: AccountId(1),
        side,
        ord_type,
        tif,
        price: px(price),
        qty: Qty(qty),
    }
}

fn limit(side: Side, price: i64, qty: u64) -> OrderSpec {
    spec(side, OrderType::Limit, TimeInForce::Day, price, qty)
}

fn drain(v: &mut VenueSim) -> Vec<Execution> {
    std::iter::from_fn(|| v.poll_execution()).collect()
}

fn drain_md(v: &mut VenueSim) -> Vec<MdEvent> {
    std::iter::from_fn(|| v.poll_market_data()).collect()
}

fn submit(v: &mut VenueSim, cl: &str, s: OrderSpec) -> Vec<Execution> {
    v.submit_new(T, &NewOrder::new(id(cl), &s, TickCause::NONE));
    drain(v)
}

/// (cl_ord_id, last_px, last_qty, leaves) of every fill.
fn fills(execs: &[Execution]) -> Vec<(String, i64, u64, u64)> {
    execs
        .iter()
        .filter_map(|e| match e {
            Execution::Filled(f) => Some((
                f.cl_ord_id().to_string(),
                f.fill().last_px.ticks(),
                f.fill().last_qty.0,
                f.fill().leaves_qty.0,
            )),
            _ => None,
        })
        .collect()
}

fn fill(cl: &str, price: i64, qty: u64, leaves: u64) -> (String, i64, u64, u64) {
    (cl.to_owned(), price, qty, leaves)
}

#[test]
fn price_time_priority() {
    let mut v = sim();
    submit(&mut v, "A", limit(Side::Sell, 101, 5));
    submit(&mut v, "B", limit(Side::Sell, 100, 5));
    submit(&mut v, "C", limit(Side::Sell, 100, 5));
    let e = submit(&mut v, "X", limit(Side::Buy, 101, 12));
    assert!(matches!(e.first(), Some(Execution::Accepted(_))));
    // Better price first (B, C at 100), then time within the price (B before C).
    let want_makers = [
        fill("B", 100, 5, 0),
        fill("C", 100, 5, 0),
        fill("A", 101, 2, 3),
    ];
    let makers: Vec<_> = fills(&e).into_iter().filter(|f| f.0 != "X").collect();
    assert_eq!(makers, want_makers);
    let taker: Vec<_> = fills(&e).into_iter().filter(|f| f.0 == "X").collect();
    assert_eq!(
        taker,
        [
            fill("X", 100, 5, 7),
            fill("X", 100, 5, 2),
            fill("X", 101, 2, 0)
        ]
    );
    // Both sides of each trade carry the same exec id.
    let mut ids: HashMap<u64, u32> = HashMap::new();
    for e in &e {
        if let Execution::Filled(f) = e {
            *ids.entry(f.fill().exec_id).or_default() += 1;
        }
    }
    assert!(ids.values().all(|&n| n == 2) && ids.len() == 3);
}

#[test]
fn partial_fill_rests_remainder() {
    let mut v = sim();
    submit(&mut v, "S", limit(Side::Sell, 100, 10));
    let e = submit(&mut v, "B1", limit(Side::Buy, 100, 4));
    assert_eq!(fills(&e), [fill("B1", 100, 4, 0), fill("S", 100, 4, 6)]);
    let e = submit(&mut v, "B2", limit(Side::Buy, 100, 10));
    assert_eq!(fills(&e), [fill("B2", 100, 6, 4), fill("S", 100, 6, 0)]);
    let (bid, ask) = v.top_of_book(INST).unwrap_or_else(|| panic!("no book"));
    assert_eq!((bid.px, bid.qty, bid.orders), (px(100), Qty(4), 1));
    assert!(ask.qty.is_zero());
    let key = OrderKey {
        account: AccountId(1),
        cl_ord_id: id("B2"),
    };
    assert_eq!(v.resting(&key).map(|r| (r.2, r.3)), Some((Qty(4), Qty(6))));
}

#[test]
fn market_order_sweeps_levels_and_never_rests() {
    let mut v = sim();
    for (cl, p) in [("A", 100), ("B", 101), ("C", 102)] {
        submit(&mut v, cl, limit(Side::Sell, p, 5));
    }
    let e = submit(
        &mut v,
        "M",
        spec(Side::Buy, OrderType::Market, TimeInForce::Day, 0, 12),
    );
    let taker: Vec<_> = fills(&e).into_iter().filter(|f| f.0 == "M").collect();
    assert_eq!(
        taker,
        [
            fill("M", 100, 5, 7),
            fill("M", 101, 5, 2),
            fill("M", 102, 2, 0)
        ]
    );
    // A market order bigger than the book: the rest is canceled, unsolicited.
    let e = submit(
        &mut v,
        "M2",
        spec(Side::Buy, OrderType::Market, TimeInForce::Day, 0, 10),
    );
    assert_eq!(fills(&e).len(), 2);
    let canceled = e.iter().find_map(|e| match e {
        Execution::Canceled(c) => Some((c.orig_cl_ord_id(), c.canceled_qty(), c.cum_qty())),
        _ => None,
    });
    assert_eq!(canceled, Some((None, Qty(7), Qty(3))));
    assert_eq!(v.depth(INST, Side::Buy).count(), 0);
    assert_eq!(v.depth(INST, Side::Sell).count(), 0);
}

#[test]
fn ioc_remainder_is_canceled_and_fok_is_all_or_nothing() {
    let mut v = sim();
    submit(&mut v, "S", limit(Side::Sell, 100, 5));
    let e = submit(
        &mut v,
        "I",
        spec(Side::Buy, OrderType::Limit, TimeInForce::Ioc, 100, 8),
    );
    assert_eq!(fills(&e), [fill("I", 100, 5, 3), fill("S", 100, 5, 0)]);
    assert!(matches!(e.last(), Some(Execution::Canceled(c)) if c.canceled_qty() == Qty(3)));
    assert_eq!(v.resting_count(), 0);

    submit(&mut v, "S2", limit(Side::Sell, 100, 5));
    let e = submit(
        &mut v,
        "F1",
        spec(Side::Buy, OrderType::Limit, TimeInForce::Fok, 100, 6),
    );
    assert!(fills(&e).is_empty());
    assert!(matches!(e.last(), Some(Execution::Canceled(c)) if c.canceled_qty() == Qty(6)));
    let e = submit(
        &mut v,
        "F2",
        spec(Side::Buy, OrderType::Limit, TimeInForce::Fok, 100, 5),
    );
    assert_eq!(fills(&e), [fill("F2", 100, 5, 0), fill("S2", 100, 5, 0)]);
}

fn submit_post_only(v: &mut VenueSim, cl: &str, s: OrderSpec) -> Vec<Execution> {
    v.submit_new(
        T,
        &NewOrder::new(id(cl), &s, TickCause::NONE).with_post_only(true),
    );
    drain(v)
}

fn rejected(e: &[Execution]) -> Option<RejectReason> {
    e.iter().find_map(|e| match e {
        Execution::Rejected(r) => Some(r.reason()),
        _ => None,
    })
}

#[test]
fn post_only_that_would_cross_is_rejected_and_never_trades() {
    let mut v = sim();
    submit(&mut v, "S", limit(Side::Sell, 100, 5));
    for (cl, px) in [("P1", 100), ("P2", 105)] {
        let e = submit_post_only(&mut v, cl, limit(Side::Buy, px, 5));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(rejected(&e), Some(RejectReason::WouldCross));
        assert!(fills(&e).is_empty());
    }
    // Post-only needs a resting limit order: market and IOC are rejected untouched.
    let market = spec(Side::Buy, OrderType::Market, TimeInForce::Day, 0, 5);
    let ioc = spec(Side::Buy, OrderType::Limit, TimeInForce::Ioc, 99, 5);
    for (cl, s) in [("P3", market), ("P4", ioc)] {
        let e = submit_post_only(&mut v, cl, s);
        assert_eq!(rejected(&e), Some(RejectReason::WouldCross), "{cl}");
    }
    assert_eq!(
        v.depth(INST, Side::Sell).count(),
        1,
        "the offer is untouched"
    );
    assert_eq!(v.resting_count(), 1);
}

#[test]
fn post_only_that_rests_is_accepted_then_filled_passively() {
    let mut v = sim();
    submit(&mut v, "S", limit(Side::Sell, 100, 5));
    let e = submit_post_only(&mut v, "P", limit(Side::Buy, 99, 5));
    assert!(matches!(e.as_slice(), [Execution::Accepted(_)]), "{e:?}");
    assert_eq!(v.resting_count(), 2);
    // An aggressive seller trades against the post-only bid at the bid's price.
    let e = submit(&mut v, "T", limit(Side::Sell, 99, 3));
    assert_eq!(fills(&e), [fill("T", 99, 3, 0), fill("P", 99, 3, 2)]);
}

fn replace(v: &mut VenueSim, new: &str, orig: &str, s: OrderSpec) -> Vec<Execution> {
    v.submit_replace(
        T,
        &ReplaceOrder::new(id(new), id(orig), &s, TickCause::NONE),
    );
    drain(v)
}

fn replaced_order_id(e: &[Execution]) -> Option<u64> {
    e.iter().find_map(|e| match e {
        Execution::Replaced(r) => Some(r.order_id()),
        _ => None,
    })
}

#[test]
fn replace_qty_down_keeps_priority() {
    let mut v = sim();
    let a = submit(&mut v, "A", limit(Side::Buy, 100, 5));
    submit(&mut v, "B", limit(Side::Buy, 100, 5));
    let a_id = match a.first() {
        Some(Execution::Accepted(x)) => x.order_id(),
        other => panic!("{other:?}"),
    };
    let e = replace(&mut v, "A2", "A", limit(Side::Buy, 100, 3));
    assert_eq!(replaced_order_id(&e), Some(a_id), "same reference");
    let e = submit(&mut v, "S", limit(Side::Sell, 100, 3));
    assert_eq!(fills(&e), [fill("S", 100, 3, 0), fill("A2", 100, 3, 0)]);
}

#[test]
fn replace_qty_up_or_price_change_loses_priority() {
    let mut v = sim();
    submit(&mut v, "A", limit(Side::Buy, 100, 5));
    submit(&mut v, "B", limit(Side::Buy, 100, 5));
    let e = replace(&mut v, "A2", "A", limit(Side::Buy, 100, 6));
    assert_ne!(replaced_order_id(&e), None);
    let e = submit(&mut v, "S", limit(Side::Sell, 100, 5));
    assert_eq!(fills(&e), [fill("S", 100, 5, 0), fill("B", 100, 5, 0)]);

    let mut v = sim();
    submit(&mut v, "A", limit(Side::Buy, 100, 5));
    submit(&mut v, "B", limit(Side::Buy, 100, 5));
    replace(&mut v, "A2", "A", limit(Side::Buy, 99, 5));
    replace(&mut v, "A3", "A2", limit(Side::Buy, 100, 5));
    let e = submit(&mut v, "S", limit(Side::Sell, 100, 5));
    assert_eq!(fills(&e), [fill("S", 100, 5, 0), fill("B", 100, 5, 0)]);
}

#[test]
fn replace_through_the_spread_trades() {
    let mut v = sim();
    submit(&mut v, "S", limit(Side::Sell, 101, 3));
    submit(&mut v, "A", limit(Side::Buy, 100, 5));
    let e = replace(&mut v, "A2", "A", limit(Side::Buy, 101, 5));
    assert!(matches!(e.first(), Some(Execution::Replaced(_))));
    assert_eq!(fills(&e), [fill("A2", 101, 3, 2), fill("S", 101, 3, 0)]);
    let key = OrderKey {
        account: AccountId(1),
        cl_ord_id: id("A2"),
    };
    assert_eq!(
        v.resting(&key).map(|r| (r.1, r.2, r.3)),
        Some((px(101), Qty(2), Qty(3)))
    );
}

#[test]
fn cancel_and_replace_rejects() {
    let mut v = sim();
    let c = CancelOrder::new(
        id("C1"),
        id("nope"),
        INST,
        AccountId(1),
        Side::Buy,
        TickCause::NONE,
    );
    v.submit_cancel(T, &c);
    let e = drain(&mut v);
    assert!(matches!(e.as_slice(), [Execution::CancelRejected(r)]
        if r.reason() == RejectReason::UnknownOrder && r.response_to() == CxlRejResponseTo::Cancel));

    submit(&mut v, "A", limit(Side::Buy, 100, 5));
    submit(&mut v, "S", limit(Side::Sell, 101, 2));
    let e = submit(&mut v, "X", limit(Side::Sell, 100, 2));
    assert_eq!(fills(&e).len(), 2);
    // Down to what already traded: refused.
    let e = replace(&mut v, "A2", "A", limit(Side::Buy, 100, 2));
    assert!(
        matches!(e.as_slice(), [Execution::CancelRejected(r)] if r.reason() == RejectReason::InvalidQty)
    );
    // Side change: refused.
    let e = replace(&mut v, "A2", "A", limit(Side::Sell, 100, 5));
    assert!(
        matches!(e.as_slice(), [Execution::CancelRejected(r)] if r.reason() == RejectReason::VenueRejected)
    );
    // Duplicate new id: refused.
    let e = replace(&mut v, "S", "A", limit(Side::Buy, 100, 4));
    assert!(
        matches!(e.as_slice(), [Execution::CancelRejected(r)] if r.reason() == RejectReason::DuplicateClOrdId)
    );

    let c = CancelOrder::new(
        id("C2"),
        id("A"),
        INST,
        AccountId(1),
        Side::Buy,
        TickCause::NONE,
    );
    v.submit_cancel(T, &c);
    let e = drain(&mut v);
    assert!(matches!(e.as_slice(), [Execution::Canceled(x)]
        if x.orig_cl_ord_id() == Some(id("A")) && x.cl_ord_id() == id("C2")
            && x.canceled_qty() == Qty(3) && x.cum_qty() == Qty(2)));
    let e = submit(
        &mut v,
        "U",
        OrderSpec {
            instrument: InstrumentId(77),
            ..limit(Side::Buy, 1, 1)
        },
    );
    assert!(
        matches!(e.as_slice(), [Execution::Rejected(r)] if r.reason() == RejectReason::UnknownInstrument)
    );
    let e = submit(&mut v, "S", limit(Side::Buy, 1, 1));
    assert!(
        matches!(e.as_slice(), [Execution::Rejected(r)] if r.reason() == RejectReason::DuplicateClOrdId)
    );
}

const STOCK: fn() -> ItchStock = || ItchStock {
    locate: 1,
    symbol: Symbol::new("TWRP").unwrap_or_else(|e| panic!("{e}")),
};

/// Replays market data as ITCH bytes into the feed's order book.
fn replay_itch(book: &mut OrderBook, md: &[MdEvent]) {
    for event in md {
        let Some(msg) = to_itch(event, STOCK()).unwrap_or_else(|e| panic!("{e}")) else {
            continue;
        };
        let mut buf = [0u8; 64];
        let n = msg.emit(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        let parsed = Message::parse(&buf[..n]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, msg, "ITCH round trip");
        let applied = match parsed {
            Message::AddOrder(a) => book.add(
                a.order_reference_number,
                a.buy_sell_indicator.to_side(),
                a.price.to_price(),
                Qty(u64::from(a.shares)),
            ),
            Message::OrderExecuted(x) => book
                .execute(x.order_reference_number, Qty(u64::from(x.executed_shares)))
                .map(|_| ()),
            Message::OrderCancel(x) => book
                .cancel(x.order_reference_number, Qty(u64::from(x.cancelled_shares)))
                .map(|_| ()),
            Message::OrderDelete(x) => book.delete(x.order_reference_number).map(|_| ()),
            other => panic!("unexpected ITCH message {other:?}"),
        };
        applied.unwrap_or_else(|e| panic!("feed book refused {parsed:?}: {e}"));
    }
}

/// The venue's book and the feed's book rebuilt from its ITCH agree level by level.
fn assert_books_agree(v: &VenueSim, book: &OrderBook) {
    for side in [Side::Buy, Side::Sell] {
        let ours: Vec<_> = v.depth(INST, side).collect();
        let theirs: Vec<_> = book
            .levels(side)
            .map(|l| (l.price, l.qty, l.orders))
            .collect();
        assert_eq!(ours, theirs, "{side:?} levels");
    }
}

#[test]
fn market_data_rebuilds_the_book_through_itch() {
    let mut v = sim();
    let mut book = OrderBook::new(BookCapacity::default());
    submit(&mut v, "A", limit(Side::Sell, 101, 5));
    submit(&mut v, "B", limit(Side::Sell, 102, 5));
    submit(&mut v, "C", limit(Side::Buy, 99, 5));
    submit(&mut v, "D", limit(Side::Buy, 101, 7));
    replace(&mut v, "C2", "C", limit(Side::Buy, 99, 3));
    replace(&mut v, "B2", "B", limit(Side::Sell, 103, 5));
    let md = drain_md(&mut v);
    assert!(
        md.iter()
            .any(|m| matches!(m, MdEvent::Trade(t, _) if t.qty() == Qty(5)))
    );
    let last_bbo = md.iter().rev().find_map(|m| match m {
        MdEvent::Bbo(b) => Some((b.bid().px, b.bid().qty, b.ask().px, b.ask().qty)),
        _ => None,
    });
    assert_eq!(last_bbo, Some((px(101), Qty(2), px(103), Qty(5))));
    let seqs: Vec<u64> = md
        .iter()
        .map(|m| match m {
            MdEvent::Add(x) => x.feed_seq().get(),
            MdEvent::Cancel(x) => x.feed_seq().get(),
            MdEvent::Trade(x, _) => x.feed_seq().get(),
            MdEvent::Bbo(x) => x.feed_seq().get(),
        })
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gapless feed sequence"
    );
    replay_itch(&mut book, &md);
    assert_books_agree(&v, &book);
}

/// One random command.
#[derive(Clone, Debug)]
enum Op {
    New {
        buy: bool,
        kind: u8,
        price: i64,
        qty: u64,
    },
    Cancel {
        which: usize,
    },
    Replace {
        which: usize,
        price: i64,
        qty: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0..4u8, 95..=105i64, 1..20u64)
            .prop_map(|(buy, kind, price, qty)| Op::New { buy, kind, price, qty }),
        1 => any::<usize>().prop_map(|which| Op::Cancel { which }),
        1 => (any::<usize>(), 95..=105i64, 1..30u64)
            .prop_map(|(which, price, qty)| Op::Replace { which, price, qty }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Executions conserve quantity (each trade reported once to each side, equal
    /// quantities, per-order cum + leaves = order qty), leaves never exceed an order, the
    /// book never rests crossed, and the feed's book rebuilt from ITCH matches.
    #[test]
    fn executions_conserve_quantity(ops in proptest::collection::vec(op(), 1..60)) {
        let mut v = sim();
        let mut book = OrderBook::new(BookCapacity::default());
        // Total qty of each live ClOrdID (replaces move it to the new id).
        let mut qty_of: HashMap<ClientOrderId, u64> = HashMap::new();
        let mut ids: Vec<ClientOrderId> = Vec::new();
        let mut by_exec: HashMap<u64, Vec<(Side, i64, u64)>> = HashMap::new();
        let (mut bought, mut sold) = (0u64, 0u64);
        for (n, op) in ops.into_iter().enumerate() {
            let cl = id(&format!("O{n}"));
            match op {
                Op::New { buy, kind, price, qty } => {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let (ord_type, tif) = match kind {
                        0 => (OrderType::Market, TimeInForce::Ioc),
                        1 => (OrderType::Limit, TimeInForce::Ioc),
                        2 => (OrderType::Limit, TimeInForce::Fok),
                        _ => (OrderType::Limit, TimeInForce::Gtc),
                    };
                    let s = spec(side, ord_type, tif, price, qty);
                    v.submit_new(T, &NewOrder::new(cl, &s, TickCause::NONE));
                    qty_of.insert(cl, qty);
                    ids.push(cl);
                }
                Op::Cancel { which } if !ids.is_empty() => {
                    let orig = ids[which % ids.len()];
                    v.submit_cancel(T, &CancelOrder::new(cl, orig, INST, AccountId(1), Side::Buy, TickCause::NONE));
                }
                Op::Replace { which, price, qty } if !ids.is_empty() => {
                    let orig = ids[which % ids.len()];
                    let key = OrderKey { account: AccountId(1), cl_ord_id: orig };
                    // The side is not tracked here: try both, the venue refuses a side change.
                    if v.resting(&key).is_some() {
                        for side in [Side::Buy, Side::Sell] {
                            let s = OrderSpec { tif: TimeInForce::Gtc, ..limit(side, price, qty) };
                            v.submit_replace(T, &ReplaceOrder::new(cl, orig, &s, TickCause::NONE));
                            let e = drain(&mut v);
                            for x in &e {
                                if let Execution::Replaced(r) = x {
                                    qty_of.insert(cl, r.replaced().qty.0);
                                    ids.push(cl);
                                }
                            }
                            check(&e, &qty_of, &mut by_exec, &mut bought, &mut sold)?;
                            if e.iter().any(|x| matches!(x, Execution::Replaced(_))) {
                                break;
                            }
                        }
                    }
                }
                Op::Cancel { .. } | Op::Replace { .. } => {}
            }
            let e = drain(&mut v);
            check(&e, &qty_of, &mut by_exec, &mut bought, &mut sold)?;
            if let Some((bid, ask)) = v.top_of_book(INST) {
                prop_assert!(bid.qty.is_zero() || ask.qty.is_zero() || bid.px < ask.px,
                    "crossed at rest: {:?} / {:?}", bid, ask);
            }
            replay_itch(&mut book, &drain_md(&mut v));
            assert_books_agree(&v, &book);
        }
        prop_assert_eq!(bought, sold);
        for (exec_id, sides) in &by_exec {
            prop_assert_eq!(sides.len(), 2, "exec {} reported {} times", exec_id, sides.len());
            prop_assert_ne!(sides[0].0, sides[1].0);
            prop_assert_eq!((sides[0].1, sides[0].2), (sides[1].1, sides[1].2));
        }
    }
}

fn check(
    execs: &[Execution],
    qty_of: &HashMap<ClientOrderId, u64>,
    by_exec: &mut HashMap<u64, Vec<(Side, i64, u64)>>,
    bought: &mut u64,
    sold: &mut u64,
) -> Result<(), TestCaseError> {
    for e in execs {
        if let Execution::Filled(f) = e {
            let fl = f.fill();
            let qty = qty_of.get(&f.cl_ord_id()).copied().unwrap_or(0);
            prop_assert!(fl.last_qty.0 > 0);
            prop_assert_eq!(fl.cum_qty.0 + fl.leaves_qty.0, qty, "{:?}", f);
            prop_assert_eq!(fl.leaves_qty.is_zero(), f.fill_kind() == FillKind::Full);
            by_exec.entry(fl.exec_id).or_default().push((
                f.side(),
                fl.last_px.ticks(),
                fl.last_qty.0,
            ));
            match f.side() {
                Side::Buy => *bought += fl.last_qty.0,
                Side::Sell => *sold += fl.last_qty.0,
            }
        }
    }
    Ok(())
}

/// The gateway's hot path, as the demo wires it: risk, order store, venue, and the
/// executions applied back to orders and risk (new, replace, cancel, fills, IOC rest).
struct Pipeline {
    risk: RiskEngine,
    store: OrderStore,
    venue: VenueSim,
}

impl Pipeline {
    fn new() -> Pipeline {
        let limits = RiskLimits::from_toml(
            r#"
            max_order_qty = 1000
            max_notional = "1000000"
            collar_bps = 1000
            credit_limit = "100000000"
            max_position = 1000000
            max_orders_per_day = 50000
            [throttle]
            msgs_per_sec = 1000000000
            burst = 1000000
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut risk = RiskEngine::new(limits).unwrap_or_else(|e| panic!("{e}"));
        risk.update_reference(INST, px(100_0000));
        Pipeline {
            risk,
            store: OrderStore::with_capacity(1_024),
            venue: sim(),
        }
    }

    fn submit(&mut self, now: Nanos, cl: ClientOrderId, s: &OrderSpec) {
        let Ok(x) = self.risk.check_new(now, SessionId(1), cl, s) else {
            panic!("risk refused {cl}");
        };
        let order = Order::new(cl, s, x.reserve_px);
        if self.store.insert(order).is_err() {
            panic!("store refused {cl}");
        }
        self.venue
            .submit_new(T, &NewOrder::new(cl, s, TickCause::NONE));
        self.pump();
    }

    fn cancel(&mut self, now: Nanos, cl: ClientOrderId, orig: ClientOrderId, side: Side) {
        if self.risk.check_cancel(now, SessionId(1)).is_err() {
            panic!("throttled");
        }
        let key = OrderKey {
            account: AccountId(1),
            cl_ord_id: orig,
        };
        if let Some(o) = self.store.get_mut(&key) {
            let _ = o.apply(OrderEvent::CancelRequested);
        }
        self.venue.submit_cancel(
            T,
            &CancelOrder::new(cl, orig, INST, AccountId(1), side, TickCause::NONE),
        );
        self.pump();
    }

    fn replace(&mut self, now: Nanos, cl: ClientOrderId, orig: ClientOrderId, s: &OrderSpec) {
        let key = OrderKey {
            account: s.account,
            cl_ord_id: orig,
        };
        let Some(o) = self.store.get_mut(&key) else {
            panic!("replace of unknown {orig}");
        };
        let old = (Self::exposure(o), o.leaves_qty());
        let checked =
            self.risk
                .check_replace(now, SessionId(1), cl, (&old.0, old.1), o.cum_qty(), s);
        if checked.is_err() || o.apply(OrderEvent::ReplaceRequested).is_err() {
            panic!("replace {cl} refused");
        }
        self.venue
            .submit_replace(T, &ReplaceOrder::new(cl, orig, s, TickCause::NONE));
        self.pump();
    }

    fn exposure(o: &Order) -> Exposure {
        Exposure {
            account: o.account(),
            instrument: o.instrument(),
            side: o.side(),
            reserve_px: o.reserve_px(),
        }
    }

    fn pump(&mut self) {
        while let Some(e) = self.venue.poll_execution() {
            match e {
                Execution::Accepted(a) => {
                    let key = OrderKey {
                        account: a.account(),
                        cl_ord_id: a.cl_ord_id(),
                    };
                    if let Some(o) = self.store.get_mut(&key) {
                        let _ = o.on_accepted(a.order_id());
                    }
                }
                Execution::Filled(f) => {
                    let key = OrderKey {
                        account: f.account(),
                        cl_ord_id: f.cl_ord_id(),
                    };
                    let fl = f.fill();
                    if let Some(o) = self.store.get_mut(&key) {
                        let x = Self::exposure(o);
                        let _ = o.on_filled(fl.last_px, fl.last_qty);
                        self.risk.on_fill(&x, fl.last_px, fl.last_qty);
                        if o.status().is_done() {
                            self.store.remove(&key);
                        }
                    }
                }
                Execution::Canceled(c) => {
                    let cl_ord_id = c.orig_cl_ord_id().unwrap_or(c.cl_ord_id());
                    let key = OrderKey {
                        account: c.account(),
                        cl_ord_id,
                    };
                    if let Some(o) = self.store.get_mut(&key) {
                        let (x, leaves) = (Self::exposure(o), o.leaves_qty());
                        let _ = o.apply(OrderEvent::OrderCanceled);
                        self.risk.release(&x, leaves);
                        self.store.remove(&key);
                    }
                }
                Execution::Replaced(r) => {
                    let key = OrderKey {
                        account: r.account(),
                        cl_ord_id: r.orig_cl_ord_id(),
                    };
                    let rep = r.replaced();
                    let Some(o) = self.store.get_mut(&key) else {
                        panic!("replace of unknown {key:?}");
                    };
                    let (old, old_leaves) = (Self::exposure(o), o.leaves_qty());
                    let Ok(next) = o.on_replaced(r.cl_ord_id(), rep.price, rep.qty, r.order_id())
                    else {
                        panic!("replace refused by the order state");
                    };
                    self.risk.on_replaced(
                        &old,
                        old_leaves,
                        &Self::exposure(&next),
                        next.leaves_qty(),
                    );
                    self.store.remove(&key);
                    if self.store.insert(next).is_err() {
                        panic!("store refused the successor");
                    }
                }
                Execution::Rejected(_) | Execution::CancelRejected(_) => {
                    panic!("unexpected {e:?}")
                }
            }
        }
        while self.venue.poll_market_data().is_some() {}
    }
}

#[test]
fn hot_path_does_not_allocate_in_steady_state() {
    const ROUNDS: usize = 2_000;
    let mut p = Pipeline::new();
    // Ids are made up front: formatting them allocates, the pipeline must not.
    let ids: Vec<[ClientOrderId; 6]> = (0..ROUNDS)
        .map(|i| ["S", "B", "R", "P", "C", "I"].map(|p| id(&format!("{p}{i}"))))
        .collect();
    let round = |p: &mut Pipeline, i: usize, [s, b, r, r2, c, ioc]: [ClientOrderId; 6]| {
        let now = Nanos(i as u64 * 1_000);
        p.submit(now, s, &limit(Side::Sell, 100_0000, 10));
        p.submit(now, b, &limit(Side::Buy, 100_0000, 4));
        p.submit(now, r, &limit(Side::Buy, 99_0000, 5));
        p.replace(now, r2, r, &limit(Side::Buy, 98_0000, 7));
        p.cancel(now, c, r2, Side::Buy);
        p.submit(
            now,
            ioc,
            &spec(Side::Buy, OrderType::Limit, TimeInForce::Ioc, 100_0000, 8),
        );
    };
    let warmup = 100;
    for (i, set) in ids.iter().take(warmup).enumerate() {
        round(&mut p, i, *set);
    }
    let ((), allocations) = count_allocations(|| {
        for (i, set) in ids.iter().enumerate().skip(warmup) {
            round(&mut p, i, *set);
        }
    });
    assert_eq!(
        allocations,
        0,
        "allocations over {} rounds",
        ROUNDS - warmup
    );
    // Everything traded or was canceled: credit usage is exactly the traded notional.
    assert!(p.store.is_empty(), "{} orders left", p.store.len());
    let u = p.risk.usage(AccountId(1));
    assert_eq!(u.working.0, 0);
    // Per round: 4 + 6 traded at 100, both sides counted.
    assert_eq!(u.filled.0, ROUNDS as i128 * 2 * 10 * 100_0000);
}
