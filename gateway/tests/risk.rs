//! Pre-trade risk: each check with its reject code and text, reload, kill switch,
//! throttle, and a property test of credit usage over random order lifecycles.

use proptest::prelude::*;
use tickwarp_gateway::orders::{Order, OrderKey, OrderStore};
use tickwarp_gateway::risk::{
    Exposure, KillScope, Notional, RiskEngine, RiskLimits, RiskReject, SessionId,
};
use tickwarp_runtime::Nanos;
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, OrderSpec, OrderType, Price, Qty, RejectReason, Side,
    TimeInForce,
};

const LIMITS: &str = r#"
    max_order_qty = 1000
    max_notional = "50000"
    collar_bps = 500
    credit_limit = "100000"
    max_position = 1500
    max_orders_per_day = 1000
    restricted = [13]

    [throttle]
    msgs_per_sec = 1000
    burst = 1000

    [[accounts]]
    account = 2
    credit_limit = "1000"

    [[instruments]]
    instrument = 3
    max_order_qty = 10
"#;

const S: SessionId = SessionId(1);
const INST: InstrumentId = InstrumentId(1);

fn limits() -> RiskLimits {
    RiskLimits::from_toml(LIMITS).unwrap_or_else(|e| panic!("{e}"))
}

fn engine() -> RiskEngine {
    let mut e = RiskEngine::new(limits()).unwrap_or_else(|e| panic!("{e}"));
    e.update_reference(INST, px(100));
    e
}

fn px(units: i64) -> Price {
    Price::from_units(units).unwrap_or_default()
}

fn id(n: u64) -> ClientOrderId {
    ClientOrderId::new(&format!("C{n}")).unwrap_or_else(|e| panic!("{e}"))
}

fn limit(account: u32, side: Side, price: Price, qty: u64) -> OrderSpec {
    OrderSpec {
        instrument: INST,
        account: AccountId(account),
        side,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price,
        qty: Qty(qty),
    }
}

fn reject(e: &mut RiskEngine, n: u64, spec: &OrderSpec) -> RiskReject {
    match e.check_new(Nanos(n), S, id(n), spec) {
        Ok(x) => panic!("order {n} {spec:?} passed risk as {x:?}"),
        Err(r) => r,
    }
}

#[test]
fn each_check_rejects_with_code_and_text() {
    let mut e = engine();
    let cases: Vec<(OrderSpec, RejectReason, &str)> = vec![
        (
            limit(1, Side::Buy, px(100), 0),
            RejectReason::InvalidQty,
            "order quantity is zero",
        ),
        (
            limit(1, Side::Buy, px(100), 1001),
            RejectReason::MaxQtyExceeded,
            "order quantity 1001 above the limit of 1000",
        ),
        (
            OrderSpec {
                instrument: InstrumentId(3),
                ..limit(1, Side::Buy, px(100), 11)
            },
            RejectReason::MaxQtyExceeded,
            "order quantity 11 above the limit of 10",
        ),
        (
            OrderSpec {
                instrument: InstrumentId(13),
                ..limit(1, Side::Buy, px(100), 1)
            },
            RejectReason::RestrictedInstrument,
            "instrument 13 is restricted",
        ),
        (
            limit(1, Side::Buy, Price::ZERO, 1),
            RejectReason::InvalidPrice,
            "limit price 0.0000 is not positive",
        ),
        (
            limit(1, Side::Buy, px(106), 1),
            RejectReason::PriceOutsideCollar,
            "price 106.0000 outside the collar 95.0000..105.0000",
        ),
        (
            limit(1, Side::Sell, px(94), 1),
            RejectReason::PriceOutsideCollar,
            "price 94.0000 outside the collar 95.0000..105.0000",
        ),
        (
            OrderSpec {
                instrument: InstrumentId(9),
                ord_type: OrderType::Market,
                ..limit(1, Side::Buy, Price::ZERO, 1)
            },
            RejectReason::NoReferencePrice,
            "no reference price for instrument 9: market order refused",
        ),
        (
            limit(1, Side::Buy, px(100), 501),
            RejectReason::MaxNotionalExceeded,
            "order notional 50100.0000 above the limit of 50000.0000",
        ),
        (
            limit(2, Side::Buy, px(100), 11),
            RejectReason::InsufficientCredit,
            "order notional 1100.0000 above the 1000.0000 of credit left",
        ),
    ];
    for (n, (spec, code, text)) in cases.into_iter().enumerate() {
        let r = reject(&mut e, n as u64, &spec);
        assert_eq!(r.reason(), code, "{spec:?}");
        assert_eq!(r.to_string(), text, "{spec:?}");
    }
    // Nothing was reserved by any of them.
    assert_eq!(e.usage(AccountId(1)).total(), Notional(0));
}

#[test]
fn limit_order_without_reference_passes_collar() {
    let mut e = engine();
    let spec = OrderSpec {
        instrument: InstrumentId(9),
        ..limit(1, Side::Buy, px(1), 1)
    };
    assert!(e.check_new(Nanos(0), S, id(1), &spec).is_ok());
}

#[test]
fn market_order_reserves_at_collar_bound() -> Result<(), RiskReject> {
    let mut e = engine();
    let spec = OrderSpec {
        ord_type: OrderType::Market,
        ..limit(1, Side::Buy, Price::ZERO, 10)
    };
    let x = e.check_new(Nanos(0), S, id(1), &spec)?;
    assert_eq!(x.reserve_px, px(105));
    assert_eq!(e.usage(AccountId(1)).working, Notional(1050 * 10_000));
    Ok(())
}

#[test]
fn duplicate_cl_ord_id_per_account() -> Result<(), RiskReject> {
    let mut e = engine();
    let spec = limit(1, Side::Buy, px(100), 1);
    e.check_new(Nanos(0), S, id(1), &spec)?;
    let r = reject(&mut e, 1, &spec);
    assert_eq!(r, RiskReject::DuplicateClOrdId(id(1)));
    assert_eq!(r.reason(), RejectReason::DuplicateClOrdId);
    // Another account may use the same id.
    e.check_new(Nanos(0), S, id(1), &limit(3, Side::Buy, px(100), 1))?;
    Ok(())
}

#[test]
fn credit_released_on_cancel_and_moved_on_fill() -> Result<(), RiskReject> {
    let mut e = engine();
    let a = AccountId(1);
    let x = e.check_new(Nanos(0), S, id(1), &limit(1, Side::Buy, px(100), 400))?;
    let y = e.check_new(Nanos(0), S, id(2), &limit(1, Side::Buy, px(100), 400))?;
    assert_eq!(e.usage(a).working, Notional(80_000 * 10_000));
    // 100000 credit: a third 400 @ 100 would need 40000 with 20000 left.
    let r = reject(&mut e, 3, &limit(1, Side::Buy, px(100), 400));
    assert_eq!(r.reason(), RejectReason::InsufficientCredit);
    // A fill below the reserved price frees the difference; a cancel frees the rest.
    e.on_fill(&x, px(99), Qty(100));
    assert_eq!(e.usage(a).filled, Notional(9_900 * 10_000));
    assert_eq!(e.usage(a).working, Notional(70_000 * 10_000));
    e.release(&x, Qty(300));
    e.release(&y, Qty(400));
    assert_eq!(e.usage(a).working, Notional(0));
    assert_eq!(e.usage(a).total(), Notional(9_900 * 10_000));
    assert_eq!(e.position(a, INST).net, 100);
    Ok(())
}

#[test]
fn position_limit_counts_working_orders() -> Result<(), RiskReject> {
    let mut e = engine();
    // Instrument 5 has no reference price; at 10 the credit limit stays out of the way.
    let order = |side| OrderSpec {
        instrument: InstrumentId(5),
        ..limit(1, side, px(10), 400)
    };
    let x = e.check_new(Nanos(0), S, id(1), &order(Side::Buy))?;
    e.on_fill(&x, px(10), Qty(400));
    let _ = e.check_new(Nanos(0), S, id(2), &order(Side::Buy))?;
    // 400 held + 400 working + 400 new = 1200 ≤ 1500; +400 more = 1600 > 1500.
    let _ = e.check_new(Nanos(0), S, id(3), &order(Side::Buy))?;
    let r = reject(&mut e, 4, &order(Side::Buy));
    assert_eq!(
        r,
        RiskReject::PositionLimit {
            worst: 1600,
            limit: Qty(1500)
        }
    );
    assert_eq!(r.reason(), RejectReason::PositionLimit);
    // Selling reduces risk: 400 - 400 = 0.
    e.check_new(Nanos(0), S, id(5), &order(Side::Sell))?;
    assert_eq!(e.position(AccountId(1), InstrumentId(5)).net, 400);
    Ok(())
}

#[test]
fn reload_tightens_a_limit() -> Result<(), RiskReject> {
    let mut e = engine();
    let spec = limit(1, Side::Buy, px(100), 200);
    e.check_new(Nanos(0), S, id(1), &spec)?;
    let tighter = RiskLimits {
        max_order_qty: Qty(100),
        ..limits()
    };
    e.reload(tighter, Nanos(1))
        .unwrap_or_else(|err| panic!("{err}"));
    let r = reject(&mut e, 2, &spec);
    assert_eq!(
        r,
        RiskReject::MaxQty {
            qty: Qty(200),
            limit: Qty(100)
        }
    );
    // Usage survived the reload.
    assert_eq!(e.usage(AccountId(1)).working, Notional(20_000 * 10_000));
    // Invalid limits are refused and the old ones stay.
    let bad = RiskLimits {
        collar_bps: 20_000,
        ..limits()
    };
    assert!(e.reload(bad, Nanos(2)).is_err());
    assert_eq!(e.limits().max_order_qty, Qty(100));
    Ok(())
}

#[test]
fn throttle_per_session_with_time_as_argument() -> Result<(), RiskReject> {
    let tight = RiskLimits {
        throttle: tickwarp_gateway::risk::ThrottleLimits {
            msgs_per_sec: 2,
            burst: 2,
        },
        ..limits()
    };
    let mut e = RiskEngine::new(tight).unwrap_or_else(|err| panic!("{err}"));
    e.update_reference(INST, px(100));
    let spec = limit(1, Side::Buy, px(100), 1);
    e.check_new(Nanos(0), S, id(1), &spec)?;
    e.check_cancel(Nanos(0), S)?;
    let r = e.check_new(Nanos(0), S, id(2), &spec);
    assert_eq!(r.map_err(|r| r.reason()), Err(RejectReason::RateLimited));
    // Another session has its own bucket.
    e.check_new(Nanos(0), SessionId(2), id(3), &spec)?;
    // Half a second later one token is back.
    e.check_new(Nanos(500_000_000), S, id(4), &spec)?;
    Ok(())
}

#[test]
fn kill_switch_blocks_and_lists_working_orders() -> Result<(), RiskReject> {
    let mut e = engine();
    let mut store = OrderStore::with_capacity(8);
    for (n, account) in [(1u64, 1u32), (2, 1), (3, 3)] {
        let spec = limit(account, Side::Buy, px(100), 1);
        let x = e.check_new(Nanos(0), S, id(n), &spec)?;
        store
            .insert(Order::new(id(n), &spec, x.reserve_px))
            .unwrap_or_else(|err| panic!("{err}"));
    }
    let mut keys = e.engage_kill_switch(KillScope::Account(AccountId(1)), &store);
    keys.sort();
    let want: Vec<OrderKey> = [1, 2]
        .map(|n| OrderKey {
            account: AccountId(1),
            cl_ord_id: id(n),
        })
        .to_vec();
    assert_eq!(keys, want);
    let r = reject(&mut e, 10, &limit(1, Side::Buy, px(100), 1));
    assert_eq!(r.to_string(), "kill switch engaged (account 1)");
    assert_eq!(r.reason(), RejectReason::KillSwitch);
    // Cancels still pass; other accounts still trade.
    e.check_cancel(Nanos(0), S)?;
    e.check_new(Nanos(0), S, id(11), &limit(3, Side::Buy, px(100), 1))?;
    assert_eq!(e.engage_kill_switch(KillScope::Global, &store).len(), 3);
    let r = reject(&mut e, 12, &limit(3, Side::Buy, px(100), 1));
    assert_eq!(r, RiskReject::KillSwitch(KillScope::Global));
    e.revive(KillScope::Global);
    e.check_new(Nanos(0), S, id(13), &limit(3, Side::Buy, px(100), 1))?;
    assert!(e.is_killed(AccountId(1)));
    e.revive(KillScope::Account(AccountId(1)));
    e.check_new(Nanos(0), S, id(14), &limit(1, Side::Buy, px(100), 1))?;
    Ok(())
}

#[test]
fn replace_checked_against_old_reservation() -> Result<(), RiskReject> {
    let mut e = engine();
    let a = AccountId(2); // credit 1000
    let old = e.check_new(Nanos(0), S, id(1), &limit(2, Side::Buy, px(100), 8))?;
    // 8 → 10 at 100 needs 1000 in total once the old 800 is taken out: fits exactly.
    let bigger = limit(2, Side::Buy, px(100), 10);
    let new = e.check_replace(Nanos(0), S, id(2), (&old, Qty(8)), Qty::ZERO, &bigger)?;
    e.on_replaced(&old, Qty(8), &new, Qty(10));
    assert_eq!(e.usage(a).working, Notional(1_000 * 10_000));
    let too_big = limit(2, Side::Buy, px(100), 11);
    let r = e.check_replace(Nanos(0), S, id(3), (&new, Qty(10)), Qty::ZERO, &too_big);
    assert_eq!(
        r.map_err(|r| r.reason()),
        Err(RejectReason::InsufficientCredit)
    );
    Ok(())
}

/// One step of a random order lifecycle.
#[derive(Clone, Debug)]
enum Op {
    New { side: bool, price: i64, qty: u64 },
    Fill { which: usize, px_off: i64, qty: u64 },
    Cancel { which: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 96..=104i64, 1..50u64).prop_map(|(side, price, qty)| Op::New {
            side,
            price,
            qty
        }),
        (any::<usize>(), -3..=3i64, 1..60u64).prop_map(|(which, px_off, qty)| Op::Fill {
            which,
            px_off,
            qty
        }),
        any::<usize>().prop_map(|which| Op::Cancel { which }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Usage never goes negative, and once every order is done (filled, canceled or
    /// rejected) credit usage is exactly the traded notional.
    #[test]
    fn credit_usage_returns_to_filled_notional(ops in proptest::collection::vec(op(), 1..80)) {
        let mut e = engine();
        let a = AccountId(1);
        let mut open: Vec<(Exposure, Qty)> = Vec::new();
        let mut filled: i128 = 0;
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::New { side, price, qty } => {
                    let side = if side { Side::Buy } else { Side::Sell };
                    let spec = limit(1, side, px(price), qty);
                    if let Ok(x) = e.check_new(Nanos(n as u64), S, id(n as u64), &spec) {
                        open.push((x, Qty(qty)));
                    }
                }
                Op::Fill { which, px_off, qty } if !open.is_empty() => {
                    let i = which % open.len();
                    let (x, leaves) = open.swap_remove(i);
                    let q = Qty(qty.min(leaves.0));
                    let fill_px = Price::from_ticks(x.reserve_px.ticks() + px_off);
                    e.on_fill(&x, fill_px, q);
                    filled += fill_px.notional_ticks(q);
                    let rest = leaves.saturating_sub(q);
                    if !rest.is_zero() {
                        open.push((x, rest));
                    }
                }
                Op::Cancel { which } if !open.is_empty() => {
                    let (x, leaves) = open.swap_remove(which % open.len());
                    e.release(&x, leaves);
                }
                Op::Fill { .. } | Op::Cancel { .. } => {}
            }
            let u = e.usage(a);
            prop_assert!(u.working.0 >= 0 && u.filled.0 >= 0, "{:?}", u);
            prop_assert!(u.total().0 <= 100_000 * 10_000 + 3 * 50 * 80, "{:?}", u);
            let reserved: i128 = open.iter().map(|(x, l)| x.reserved(*l)).sum();
            prop_assert_eq!(u.working.0, reserved);
        }
        for (x, leaves) in open.drain(..) {
            e.release(&x, leaves);
        }
        let u = e.usage(a);
        prop_assert_eq!(u.working, Notional(0));
        prop_assert_eq!(u.total(), Notional(filled));
        let pos = e.position(a, INST);
        prop_assert_eq!((pos.open_buy, pos.open_sell), (0, 0));
    }
}
