//! Engine unit tests: routing, order lifecycle bookkeeping, PnL and timers, driven by a
//! scripted strategy; no transport.

use tickwarp_wire::{
    AccountId, ClientOrderId, CxlRejResponseTo, ExecMeta, Fill, InstrumentId, MdBboUpdate,
    MdHeartbeat, MdMeta, MdTrade, OrderAccepted, OrderCanceled, OrderFilled, OrderReplaced,
    OrderSpec, OrderType, Price, Qty, Quote, RejectReason, Replaced, SeqNo, Side, TimeInForce,
    UnixNanos,
};

use super::*;
use crate::ctx::OrderError;
use crate::order::OrderCommand;
use crate::state::OrderStatus;

/// Buys one lot on every trade tick; records what it saw.
struct Scripted {
    instruments: [InstrumentId; 1],
    ticks: Vec<SeqNo>,
    reports: Vec<(OrderId, bool)>,
    timer_fired: Vec<Nanos>,
}

impl Scripted {
    fn new(instrument: u32) -> Scripted {
        Scripted {
            instruments: [InstrumentId(instrument)],
            ticks: Vec::new(),
            reports: Vec::new(),
            timer_fired: Vec::new(),
        }
    }
}

impl Strategy for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn instruments(&self) -> &[InstrumentId] {
        &self.instruments
    }

    fn on_tick(&mut self, tick: &Tick<'_>, ctx: &mut Ctx<'_>) {
        self.ticks.push(tick.meta().feed_seq);
        if let Tick::Trade(t) = tick {
            let spec = OrderSpec {
                instrument: t.instrument(),
                account: AccountId(9),
                side: Side::Buy,
                ord_type: OrderType::Limit,
                tif: TimeInForce::Day,
                price: t.price(),
                qty: Qty(10),
            };
            let _ = ctx.new_order(&spec);
            ctx.set_timer(Nanos(ctx.now().get() + 100));
        }
    }

    fn on_execution(&mut self, report: &ExecReport<'_>, _ctx: &mut Ctx<'_>) {
        self.reports.push((report.order, report.done));
    }

    fn on_timer(&mut self, now: Nanos, _ctx: &mut Ctx<'_>) {
        self.timer_fired.push(now);
    }
}

fn md(instrument: u32, seq: u64) -> MdMeta {
    MdMeta {
        instrument: InstrumentId(instrument),
        feed_seq: SeqNo(seq),
        venue_ts: UnixNanos(seq * 1_000),
        recv_ts: Nanos(seq * 10),
    }
}

fn trade(instrument: u32, seq: u64, px: i64) -> MdTrade {
    MdTrade::new(
        md(instrument, seq),
        0,
        Some(Side::Sell),
        Price::from_ticks(px),
        Qty(5),
    )
}

fn em(id: ClientOrderId) -> ExecMeta {
    ExecMeta {
        instrument: InstrumentId(1),
        account: AccountId(9),
        cl_ord_id: id,
        order_id: 77,
        transact_time: UnixNanos(1),
        gateway_ts: Nanos(1),
    }
}

fn engine() -> Engine<Scripted> {
    let mut e = Engine::new(EngineConfig {
        id_tag: "T".into(),
        max_open_orders: 4,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    for instrument in [1, 2, 1] {
        e.add(Scripted::new(instrument))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    e
}

fn new_order(cmd: &OrderCommand) -> ClientOrderId {
    match cmd {
        OrderCommand::New(n) => n.cl_ord_id(),
        other => panic!("expected a new order, got {other}"),
    }
}

#[test]
fn ticks_route_by_instrument_and_feed_wide_to_all() {
    let mut e = engine();
    let mut sink: Vec<OrderCommand> = Vec::new();
    let t = trade(1, 1, 100);
    assert_eq!(e.handle_tick(&Tick::Trade(&t), Nanos(50), &mut sink), 2);
    let t2 = trade(3, 2, 100);
    assert_eq!(e.handle_tick(&Tick::Trade(&t2), Nanos(60), &mut sink), 0);
    let hb = MdHeartbeat::new(md(0, 2));
    assert_eq!(
        e.handle_tick(&Tick::Heartbeat(&hb), Nanos(70), &mut sink),
        3
    );
    assert_eq!(e.stats().unrouted_ticks, 1);
    assert_eq!(e.strategy(0).map(|s| s.ticks.len()), Some(2));
    assert_eq!(e.strategy(1).map(|s| s.ticks.len()), Some(1));
    // Two orders, one per strategy on instrument 1, each carrying the trade as cause.
    assert_eq!(sink.len(), 2);
    assert_eq!(new_order(&sink[0]).as_str(), "T0-1");
    assert_eq!(new_order(&sink[1]).as_str(), "T2-1");
    let cause = sink[0].cause();
    assert_eq!(cause.feed_seq, SeqNo(1));
    assert_eq!(cause.venue_ts, UnixNanos(1_000));
    assert_eq!(cause.recv_ts, Nanos(10));
    assert_eq!(cause.send_ts, Nanos(50));
}

#[test]
fn executions_update_orders_positions_and_pnl() {
    let mut e = engine();
    let mut sink: Vec<OrderCommand> = Vec::new();
    let t = trade(1, 1, 100);
    e.handle_tick(&Tick::Trade(&t), Nanos(50), &mut sink);
    let id = new_order(&sink[0]);
    let acc = OrderAccepted::new(em(id), Side::Buy, OrderType::Limit, TimeInForce::Day);
    let routed = e.handle_execution(&Execution::Accepted(&acc), Nanos(60), &mut sink);
    assert_eq!(
        routed,
        Routed::Delivered {
            strategy: 0,
            order: OrderId(1),
            done: false
        }
    );
    assert_eq!(
        e.open_orders(0).map(|o| o[0].status),
        Some(OrderStatus::Working)
    );
    let fill = |cum, leaves, exec_id| {
        OrderFilled::new(
            em(id),
            Side::Buy,
            Fill {
                exec_id,
                last_px: Price::from_ticks(100),
                last_qty: Qty(5),
                cum_qty: Qty(cum),
                leaves_qty: Qty(leaves),
            },
        )
    };
    let f1 = fill(5, 5, 1);
    e.handle_execution(&Execution::Filled(&f1), Nanos(61), &mut sink);
    let f2 = fill(10, 0, 2);
    let routed = e.handle_execution(&Execution::Filled(&f2), Nanos(62), &mut sink);
    assert!(matches!(routed, Routed::Delivered { done: true, .. }));
    assert_eq!(e.open_orders(0).map(<[_]>::len), Some(0));
    let pos = e
        .positions(0)
        .map(|p| p[0])
        .unwrap_or_else(|| panic!("no position"));
    assert_eq!(pos.qty(), 10);
    // Mark from a later trade at 103: unrealized 10 * 3.
    let t = trade(1, 2, 103);
    e.handle_tick(&Tick::Trade(&t), Nanos(70), &mut sink);
    let pos = e
        .positions(0)
        .map(|p| p[0])
        .unwrap_or_else(|| panic!("no position"));
    assert_eq!(pos.unrealized(), Money(30));
    let stats = e.strategy_stats(0).copied().unwrap_or_default();
    assert_eq!((stats.accepted, stats.fills, stats.filled_qty), (1, 2, 10));
    assert_eq!(
        e.strategy(0).map(|s| s.reports.clone()),
        Some(vec![
            (OrderId(1), false),
            (OrderId(1), false),
            (OrderId(1), true)
        ])
    );
    // A late duplicate is counted, not delivered.
    let routed = e.handle_execution(&Execution::Filled(&f2), Nanos(63), &mut sink);
    assert_eq!(routed, Routed::UnknownOrder { strategy: 0 });
    let stranger = ClientOrderId::new("X0-1").unwrap_or_else(|e| panic!("{e}"));
    let acc = OrderAccepted::new(em(stranger), Side::Buy, OrderType::Limit, TimeInForce::Day);
    let routed = e.handle_execution(&Execution::Accepted(&acc), Nanos(64), &mut sink);
    assert_eq!(routed, Routed::UnknownStrategy);
    assert_eq!(e.stats().unknown_strategy, 1);
    let summary = e.summaries();
    assert_eq!(summary[0].total(), Money(30));
}

/// Drives cancel and replace through a strategy context directly.
#[test]
fn cancel_and_replace_lifecycle() {
    let mut e = engine();
    let mut sink: Vec<OrderCommand> = Vec::new();
    let t = trade(1, 1, 100);
    e.handle_tick(&Tick::Trade(&t), Nanos(50), &mut sink);
    let id = new_order(&sink[0]);
    sink.clear();
    let slot = &mut e.slots[0];
    let mut ctx = Ctx::new(Nanos(80), TickCause::NONE, &mut slot.state, &mut sink);
    ctx.replace(OrderId(1), Price::from_ticks(99), Qty(20))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ctx.cancel(OrderId(1)),
        Err(OrderError::ChangePending(OrderId(1)))
    );
    assert_eq!(
        ctx.cancel(OrderId(9)),
        Err(OrderError::UnknownOrder(OrderId(9)))
    );
    let spec = OrderSpec {
        instrument: InstrumentId(2),
        account: AccountId(9),
        side: Side::Buy,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(1),
        qty: Qty(1),
    };
    assert_eq!(
        ctx.new_order(&spec),
        Err(OrderError::NotSubscribed(InstrumentId(2)))
    );
    let OrderCommand::Replace(rep) = sink[0] else {
        panic!("expected a replace, got {}", sink[0]);
    };
    assert_eq!(rep.orig_cl_ord_id(), id);
    let new_id = rep.cl_ord_id();
    assert_eq!(new_id.as_str(), "T0-2");
    let replaced = OrderReplaced::new(
        em(new_id),
        id,
        Replaced {
            price: Price::from_ticks(99),
            qty: Qty(20),
            leaves_qty: Qty(20),
            cum_qty: Qty(0),
        },
    );
    e.handle_execution(&Execution::Replaced(&replaced), Nanos(90), &mut sink);
    let order = e
        .open_orders(0)
        .map(|o| o[0])
        .unwrap_or_else(|| panic!("gone"));
    assert_eq!(order.cl_ord_id, new_id);
    assert_eq!(order.price, Price::from_ticks(99));
    assert!(order.is_quiet());
    // Cancel, refused, then cancel again and confirmed.
    sink.clear();
    let slot = &mut e.slots[0];
    let mut ctx = Ctx::new(Nanos(95), TickCause::NONE, &mut slot.state, &mut sink);
    assert_eq!(ctx.cancel_all(None), Ok(1));
    let OrderCommand::Cancel(c) = sink[0] else {
        panic!("expected a cancel");
    };
    let rej = tickwarp_wire::CancelRejected::new(
        em(c.cl_ord_id()),
        new_id,
        CxlRejResponseTo::Cancel,
        RejectReason::TooLateToCancel,
    );
    e.handle_execution(&Execution::CancelRejected(&rej), Nanos(96), &mut sink);
    assert!(e.open_orders(0).is_some_and(|o| o[0].pending.is_none()));
    let canceled = OrderCanceled::new(em(new_id), None, Qty(20), Qty(0));
    let routed = e.handle_execution(&Execution::Canceled(&canceled), Nanos(97), &mut sink);
    assert!(matches!(routed, Routed::Delivered { done: true, .. }));
    assert_eq!(e.open_orders(0).map(<[_]>::len), Some(0));
}

#[test]
fn timers_fire_once_when_due() {
    let mut e = engine();
    let mut sink: Vec<OrderCommand> = Vec::new();
    let t = trade(2, 1, 100);
    e.handle_tick(&Tick::Trade(&t), Nanos(50), &mut sink);
    assert_eq!(e.poll_timeout(), Some(Nanos(150)));
    assert_eq!(e.handle_timers(Nanos(149), &mut sink), 0);
    assert_eq!(e.handle_timers(Nanos(150), &mut sink), 1);
    assert_eq!(e.handle_timers(Nanos(151), &mut sink), 0);
    assert_eq!(e.poll_timeout(), None);
    assert_eq!(
        e.strategy(1).map(|s| s.timer_fired.clone()),
        Some(vec![Nanos(150)])
    );
}

#[test]
fn open_order_limit_and_config_errors() {
    let mut e = engine();
    let mut sink: Vec<OrderCommand> = Vec::new();
    for seq in 1..=6 {
        let t = trade(2, seq, 100);
        e.handle_tick(&Tick::Trade(&t), Nanos(seq), &mut sink);
    }
    assert_eq!(e.open_orders(1).map(<[_]>::len), Some(4));
    assert_eq!(sink.len(), 4);
    let bbo = MdBboUpdate::new(md(2, 9), Quote::default(), Quote::default());
    e.handle_tick(&Tick::Bbo(&bbo), Nanos(9), &mut sink);
    assert!(matches!(
        Engine::<Scripted>::new(EngineConfig {
            id_tag: "bad-".into(),
            max_open_orders: 1
        }),
        Err(EngineError::IdTag(_))
    ));
    assert!(matches!(
        Engine::<Scripted>::new(EngineConfig {
            id_tag: String::new(),
            max_open_orders: 0
        }),
        Err(EngineError::NoOpenOrders)
    ));
}
