//! Fill model tests: each rule against hand-made orders, trades and quotes.

use tickwarp_wire::{
    CancelOrder, MdBboUpdate, MdMeta, MdTrade, NewOrder, OrderSpec, Quote, ReplaceOrder, SeqNo,
    TickCause,
};

use super::*;
use crate::event::Execution;

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn spec(side: Side, tif: TimeInForce, px: i64, qty: u64) -> OrderSpec {
    OrderSpec {
        instrument: InstrumentId(1),
        account: AccountId(1),
        side,
        ord_type: OrderType::Limit,
        tif,
        price: Price::from_ticks(px),
        qty: Qty(qty),
    }
}

fn new(cl: &str, side: Side, tif: TimeInForce, px: i64, qty: u64) -> OrderCommand {
    OrderCommand::New(NewOrder::new(
        id(cl),
        &spec(side, tif, px, qty),
        TickCause::NONE,
    ))
}

fn md(seq: u64) -> MdMeta {
    MdMeta {
        instrument: InstrumentId(1),
        feed_seq: SeqNo(seq),
        venue_ts: UnixNanos(seq * 100),
        recv_ts: Nanos(seq),
    }
}

fn trade(px: i64, qty: u64) -> MdTrade {
    MdTrade::new(md(5), 0, None, Price::from_ticks(px), Qty(qty))
}

fn bbo(bid: i64, ask: i64, qty: u64) -> MdBboUpdate {
    let q = |px| Quote {
        px: Price::from_ticks(px),
        qty: Qty(qty),
        orders: 1,
    };
    MdBboUpdate::new(md(6), q(bid), q(ask))
}

/// A compact description of each event: kind, id, and the fill's price/qty/leaves.
fn describe(out: &[OwnedExecution]) -> Vec<String> {
    out.iter()
        .map(|e| match e.as_view() {
            Execution::Accepted(a) => format!("acc {}", a.cl_ord_id()),
            Execution::Rejected(r) => format!("rej {} {}", r.cl_ord_id(), r.reason()),
            Execution::Filled(f) => {
                let t = f.fill();
                format!(
                    "fill {} {}x{} leaves {}",
                    f.cl_ord_id(),
                    t.last_qty,
                    t.last_px.ticks(),
                    t.leaves_qty
                )
            }
            Execution::Canceled(c) => format!("cxl {} {}", c.cl_ord_id(), c.canceled_qty()),
            Execution::CancelRejected(c) => format!("cxlrej {} {}", c.cl_ord_id(), c.reason()),
            Execution::Replaced(r) => {
                format!("rep {} {}", r.cl_ord_id(), r.replaced().price.ticks())
            }
        })
        .collect()
}

#[test]
fn trade_through_needs_a_better_price() {
    let mut m = TradeThrough::new();
    let mut out = Vec::new();
    m.on_order(
        &new("b1", Side::Buy, TimeInForce::Day, 100, 10),
        Nanos(1),
        &mut out,
    );
    m.on_tick(&Tick::Trade(&trade(100, 5)), Nanos(2), &mut out);
    assert_eq!(describe(&out), ["acc b1"]);
    m.on_tick(&Tick::Trade(&trade(99, 4)), Nanos(3), &mut out);
    m.on_tick(&Tick::Trade(&trade(98, 50)), Nanos(4), &mut out);
    assert_eq!(
        describe(&out),
        ["acc b1", "fill b1 4x100 leaves 6", "fill b1 6x100 leaves 0"]
    );
    assert_eq!(m.resting(), 0);
    if let Some(Execution::Filled(f)) = out.get(1).map(OwnedExecution::as_view) {
        assert_eq!(f.transact_time(), UnixNanos(500));
        assert_eq!(f.gateway_ts(), Nanos(3));
    }
}

#[test]
fn at_touch_fills_at_the_price() {
    let mut m = AtTouch::new();
    let mut out = Vec::new();
    m.on_order(
        &new("s1", Side::Sell, TimeInForce::Day, 100, 10),
        Nanos(1),
        &mut out,
    );
    m.on_tick(&Tick::Trade(&trade(100, 3)), Nanos(2), &mut out);
    m.on_tick(&Tick::Bbo(&bbo(100, 102, 20)), Nanos(3), &mut out);
    assert_eq!(
        describe(&out),
        ["acc s1", "fill s1 3x100 leaves 7", "fill s1 7x100 leaves 0"]
    );
}

#[test]
fn marketable_orders_take_the_touch() {
    let mut m = TradeThrough::new();
    let mut out = Vec::new();
    m.on_tick(&Tick::Bbo(&bbo(99, 101, 5)), Nanos(1), &mut out);
    m.on_order(
        &new("i1", Side::Buy, TimeInForce::Ioc, 102, 8),
        Nanos(2),
        &mut out,
    );
    m.on_order(
        &new("f1", Side::Buy, TimeInForce::Fok, 102, 8),
        Nanos(3),
        &mut out,
    );
    m.on_order(
        &new("d1", Side::Sell, TimeInForce::Day, 98, 8),
        Nanos(4),
        &mut out,
    );
    m.on_order(
        &new("z1", Side::Sell, TimeInForce::Day, 98, 0),
        Nanos(5),
        &mut out,
    );
    assert_eq!(
        describe(&out),
        [
            "acc i1",
            "fill i1 5x101 leaves 3",
            "cxl i1 3",
            "acc f1",
            "cxl f1 8",
            "acc d1",
            "fill d1 5x99 leaves 3",
            "rej z1 InvalidQty",
        ]
    );
    assert_eq!(m.resting(), 1);
}

#[test]
fn cancel_and_replace() {
    let mut m = TradeThrough::new();
    let mut out = Vec::new();
    m.on_order(
        &new("b1", Side::Buy, TimeInForce::Day, 100, 10),
        Nanos(1),
        &mut out,
    );
    let s = spec(Side::Buy, TimeInForce::Day, 97, 12);
    m.on_order(
        &OrderCommand::Replace(ReplaceOrder::new(id("b2"), id("b1"), &s, TickCause::NONE)),
        Nanos(2),
        &mut out,
    );
    m.on_order(
        &OrderCommand::Replace(ReplaceOrder::new(id("b3"), id("b1"), &s, TickCause::NONE)),
        Nanos(3),
        &mut out,
    );
    let cancel = |cl, orig| {
        OrderCommand::Cancel(CancelOrder::new(
            id(cl),
            id(orig),
            InstrumentId(1),
            AccountId(1),
            Side::Buy,
            TickCause::NONE,
        ))
    };
    m.on_order(&cancel("b4", "b2"), Nanos(4), &mut out);
    m.on_order(&cancel("b5", "b2"), Nanos(5), &mut out);
    assert_eq!(
        describe(&out),
        [
            "acc b1",
            "rep b2 97",
            "cxlrej b3 UnknownOrder",
            "cxl b4 12",
            "cxlrej b5 UnknownOrder"
        ]
    );
    assert_eq!(m.resting(), 0);
}
