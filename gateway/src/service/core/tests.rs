//! Unit tests of [`OrderCore`](super::OrderCore).

use super::*;
use crate::venue::{VenueConfig, VenueSim};
use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::journal::JournalConfig;
use tickwarp_wire::{AccountId, OrderType, Side, TimeInForce};

const ACME: InstrumentId = InstrumentId(1);
const HOUSE: AccountId = AccountId(9);
const ALICE: AccountId = AccountId(1);

fn now(t: u64) -> VenueTime {
    VenueTime {
        wall: UnixNanos(1_764_064_800_000_000_000 + t),
        mono: Nanos(1_000_000_000 + t),
    }
}

fn limits() -> RiskLimits {
    let text = r#"
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "10000000"
        max_position = 100000
        max_orders_per_day = 10000
    "#;
    RiskLimits::from_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn spec(account: AccountId, side: Side, px: i64, qty: u64) -> OrderSpec {
    OrderSpec {
        instrument: ACME,
        account,
        side,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(px * Price::SCALE),
        qty: Qty(qty),
    }
}

/// A venue with 100 @ 101 offered by the house.
fn venue() -> VenueSim {
    let mut venue = VenueSim::new(&VenueConfig {
        instruments: vec![ACME],
        ..VenueConfig::default()
    });
    let house = NewOrder::new(
        id("H1"),
        &spec(HOUSE, Side::Sell, 101, 100),
        TickCause::NONE,
    );
    venue.handle_new(now(0), &house);
    while venue.poll_execution().is_some() {}
    venue
}

fn open(dir: &std::path::Path) -> OrderCore<VenueSim> {
    let config = CoreConfig {
        journal_dir: dir.to_path_buf(),
        journal: JournalConfig::default(),
        max_orders: 1024,
        limits: limits(),
        instruments: vec![ACME],
        references: Vec::new(),
    };
    OrderCore::open(config, venue(), now(1))
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn reports(core: &mut OrderCore<VenueSim>, t: u64) -> Vec<Report> {
    core.flush(now(t)).unwrap_or_else(|e| panic!("{e}"));
    std::iter::from_fn(|| core.poll_report()).collect()
}

fn new_order(core: &mut OrderCore<VenueSim>, cl: &str, side: Side, px: i64, qty: u64) {
    let cmd = NewOrder::new(id(cl), &spec(ALICE, side, px, qty), TickCause::NONE);
    core.handle_new(now(10), Origin::Fix(1), &cmd)
        .unwrap_or_else(|e| panic!("{e}"));
}

fn status(core: &OrderCore<VenueSim>, cl: &str) -> Option<OrdStatus> {
    let k = key(ALICE, id(cl));
    core.orders().get(&k).map(Order::status)
}

#[test]
fn nothing_is_reported_before_flush_and_a_crossing_order_fills() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut core = open(dir.path());
    new_order(&mut core, "A1", Side::Buy, 101, 30);
    assert!(core.poll_report().is_none(), "reported before the flush");
    let got = reports(&mut core, 11);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(got[0].event, Execution::Accepted(_)));
    let Execution::Filled(f) = got[1].event else {
        panic!("expected a fill: {got:?}");
    };
    assert_eq!(f.fill().last_qty, Qty(30));
    assert_eq!(f.fill().cum_qty, Qty(30));
    assert_eq!(f.order_id(), got[0].event_order_id());
    assert_eq!(status(&core, "A1"), Some(OrdStatus::Filled));
    assert_eq!(core.risk().position(ALICE, ACME).net, 30);
}

impl Report {
    fn event_order_id(&self) -> u64 {
        match self.event {
            Execution::Accepted(r) => r.order_id(),
            Execution::Rejected(r) => r.order_id(),
            Execution::Filled(r) => r.order_id(),
            Execution::Canceled(r) => r.order_id(),
            Execution::CancelRejected(r) => r.order_id(),
            Execution::Replaced(r) => r.order_id(),
        }
    }
}

#[test]
fn refusals_carry_reason_and_text() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut core = open(dir.path());
    new_order(&mut core, "BIG", Side::Buy, 100, 5000);
    new_order(&mut core, "R1", Side::Buy, 100, 10);
    new_order(&mut core, "R1", Side::Buy, 100, 10);
    let cancel = CancelOrder::new(
        id("C1"),
        id("NOPE"),
        ACME,
        ALICE,
        Side::Buy,
        TickCause::NONE,
    );
    core.handle_cancel(now(12), Origin::Fix(1), &cancel)
        .unwrap_or_else(|e| panic!("{e}"));
    let got = reports(&mut core, 13);
    let reasons: Vec<_> = got
        .iter()
        .filter_map(|r| match r.event {
            Execution::Rejected(x) => Some((x.reason(), r.text.clone())),
            Execution::CancelRejected(x) => Some((x.reason(), r.text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{got:?}");
    assert_eq!(reasons[0].0, RejectReason::MaxQtyExceeded);
    assert_eq!(
        reasons[0].1.as_deref(),
        Some("order quantity 5000 above the limit of 1000")
    );
    assert_eq!(reasons[1].0, RejectReason::DuplicateClOrdId);
    assert_eq!(reasons[2].0, RejectReason::UnknownOrder);
    assert_eq!(status(&core, "R1"), Some(OrdStatus::New));
}

#[test]
fn replace_cancel_and_kill_switch() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut core = open(dir.path());
    new_order(&mut core, "B1", Side::Buy, 99, 10);
    new_order(&mut core, "B2", Side::Buy, 98, 10);
    let _ = reports(&mut core, 11);
    let replace = ReplaceOrder::new(
        id("B1R"),
        id("B1"),
        &spec(ALICE, Side::Buy, 100, 20),
        TickCause::NONE,
    );
    core.handle_replace(now(12), Origin::Fix(1), &replace)
        .unwrap_or_else(|e| panic!("{e}"));
    let got = reports(&mut core, 13);
    assert!(
        matches!(
            got.as_slice(),
            [Report {
                event: Execution::Replaced(_),
                ..
            }]
        ),
        "{got:?}"
    );
    assert_eq!(status(&core, "B1"), Some(OrdStatus::Replaced));
    assert_eq!(status(&core, "B1R"), Some(OrdStatus::New));
    let cancel = CancelOrder::new(id("X2"), id("B2"), ACME, ALICE, Side::Buy, TickCause::NONE);
    core.handle_cancel(now(14), Origin::Fix(1), &cancel)
        .unwrap_or_else(|e| panic!("{e}"));
    let got = reports(&mut core, 15);
    assert!(
        matches!(
            got.as_slice(),
            [Report {
                event: Execution::Canceled(_),
                ..
            }]
        ),
        "{got:?}"
    );
    assert_eq!(status(&core, "B2"), Some(OrdStatus::Canceled));
    let issued = core
        .engage_kill_switch(now(16), KillScope::Account(ALICE))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(issued, 1);
    let got = reports(&mut core, 17);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].text.as_deref(),
        Some("canceled by the gateway (kill switch, mass cancel or cancel on disconnect)")
    );
    assert_eq!(got[0].origin, Origin::Fix(1));
    assert_eq!(status(&core, "B1R"), Some(OrdStatus::Canceled));
    new_order(&mut core, "B3", Side::Buy, 98, 10);
    let got = reports(&mut core, 18);
    assert!(
        matches!(got[0].event, Execution::Rejected(r) if r.reason() == RejectReason::KillSwitch),
        "{got:?}"
    );
    assert_eq!(core.risk().usage(ALICE).working.0, 0);
}

#[test]
fn post_only_is_rejected_when_it_would_cross_and_survives_a_reopen_when_it_rests() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        let mut core = open(dir.path());
        for (cl, px) in [("PX", 101), ("PR", 100)] {
            let cmd = NewOrder::new(id(cl), &spec(ALICE, Side::Buy, px, 10), TickCause::NONE)
                .with_post_only(true);
            core.handle_new(now(10), Origin::Fix(1), &cmd)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let got = reports(&mut core, 11);
        assert_eq!(got.len(), 2, "{got:?}");
        let Execution::Rejected(r) = got[0].event else {
            panic!("the crossing post-only order must be rejected: {got:?}");
        };
        assert_eq!(r.reason(), RejectReason::WouldCross);
        assert!(matches!(got[1].event, Execution::Accepted(_)));
        assert_eq!(status(&core, "PX"), Some(OrdStatus::Rejected));
        assert_eq!(core.risk().position(ALICE, ACME).net, 0, "nothing traded");
    }
    let core = open(dir.path());
    let k = key(ALICE, id("PR"));
    assert!(core.orders().get(&k).is_some_and(Order::post_only));
    assert_eq!(core.venue().resting_count(), 2, "house offer + PR");
}

#[test]
fn reopening_rebuilds_orders_risk_and_the_venue_book() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (orders, usage, position) = {
        let mut core = open(dir.path());
        new_order(&mut core, "F1", Side::Buy, 101, 40);
        new_order(&mut core, "W1", Side::Buy, 99, 10);
        new_order(&mut core, "W2", Side::Sell, 105, 7);
        let _ = reports(&mut core, 11);
        let replace = ReplaceOrder::new(
            id("W1R"),
            id("W1"),
            &spec(ALICE, Side::Buy, 99, 15),
            TickCause::NONE,
        );
        core.handle_replace(now(12), Origin::Rdma(3), &replace)
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = reports(&mut core, 13);
        let mut orders: Vec<Order> = core.orders().iter().copied().collect();
        orders.sort_by_key(|o| o.cl_ord_id());
        (
            orders,
            core.risk().usage(ALICE),
            core.risk().position(ALICE, ACME),
        )
    };
    let mut core = open(dir.path());
    let mut again: Vec<Order> = core.orders().iter().copied().collect();
    again.sort_by_key(|o| o.cl_ord_id());
    assert_eq!(again, orders);
    assert_eq!(core.risk().usage(ALICE), usage);
    assert_eq!(core.risk().position(ALICE, ACME), position);
    assert_eq!(core.next_rdma_client(), 4);
    // The restored order rests at the venue again: a crossing house order fills it.
    assert_eq!(core.venue().resting_count(), 3, "house rest + W1R + W2");
    let cancel = CancelOrder::new(id("X1"), id("W1R"), ACME, ALICE, Side::Buy, TickCause::NONE);
    core.handle_cancel(now(20), Origin::Fix(1), &cancel)
        .unwrap_or_else(|e| panic!("{e}"));
    let got = reports(&mut core, 21);
    assert!(
        matches!(
            got.as_slice(),
            [Report {
                event: Execution::Canceled(_),
                ..
            }]
        ),
        "{got:?}"
    );
    // A ClOrdID used before the restart is still taken.
    new_order(&mut core, "F1", Side::Buy, 99, 1);
    let got = reports(&mut core, 22);
    assert!(
        matches!(got[0].event, Execution::Rejected(r) if r.reason() == RejectReason::DuplicateClOrdId),
        "{got:?}"
    );
}
