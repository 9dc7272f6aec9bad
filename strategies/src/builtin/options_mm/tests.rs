//! The options market maker through an engine: quotes around a published Black–Scholes
//! value from the local pricer, repricing, staleness, and a pricer out of credit.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tickwarp_pricing::exec::execute;
use tickwarp_pricing::{Contract, black_scholes};
use tickwarp_wire::{ExecMeta, MdBboUpdate, MdMeta, OrderAccepted, Quote, SeqNo, UnixNanos};

use super::*;
use crate::builtin::Builtin;
use crate::engine::{Engine, EngineConfig};
use crate::event::Execution;
use crate::order::OrderCommand;
use crate::pricer::{LocalPricer, Pricer};

/// A top of book of the underlying (instrument 1), `bid`/`ask` in ticks.
fn bbo(seq: u64, bid: i64, ask: i64) -> MdBboUpdate {
    let meta = MdMeta {
        instrument: InstrumentId(1),
        feed_seq: SeqNo(seq),
        venue_ts: UnixNanos(seq),
        recv_ts: Nanos(seq),
    };
    let q = |px| Quote {
        px: Price::from_ticks(px),
        qty: Qty(500),
        orders: 1,
    };
    MdBboUpdate::new(meta, q(bid), q(ask))
}

/// Hull, *Options, Futures, and Other Derivatives*, example 15.6: S = 42, K = 40,
/// r = 10 %, σ = 20 %, T = 0.5 year: call 4.76, put 0.81.
fn hull() -> OptionsMmConfig {
    OptionsMmConfig {
        strikes: vec![Price::from_ticks(40 * Price::SCALE)],
        vol_bp: 2_000,
        rate_bp: 1_000,
        div_bp: 0,
        expiry_hours: 8_760 / 2,
        ..OptionsMmConfig::default()
    }
}

fn engine(config: OptionsMmConfig, pricer: Option<Box<dyn Pricer>>) -> Engine<Builtin> {
    let mm = OptionsMm::new(config).unwrap_or_else(|e| panic!("{e}"));
    let mut e = Engine::new(EngineConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    if let Some(p) = pricer {
        e = e.with_pricer(p);
    }
    e.add(Builtin::OptionsMm(mm)).unwrap_or_else(|e| panic!("{e}"));
    e
}

fn mm(e: &Engine<Builtin>) -> &OptionsMm {
    match e.strategy(0) {
        Some(Builtin::OptionsMm(m)) => m,
        other => panic!("not an options market maker: {other:?}"),
    }
}

/// The new orders in `sink` as (instrument, side, price ticks).
fn quotes(sink: &[OrderCommand]) -> Vec<(u32, Side, i64)> {
    sink.iter()
        .filter_map(|c| match c {
            OrderCommand::New(n) => Some((n.instrument().0, n.side(), n.price().ticks())),
            _ => None,
        })
        .collect()
}

#[test]
fn quotes_the_chain_around_the_published_black_scholes_values() {
    let mut e = engine(hull(), None);
    let mut sink: Vec<OrderCommand> = Vec::new();
    // Mid 42.00: both options are submitted to the pricer; nothing is quoted unpriced.
    e.handle_tick(&Tick::Bbo(&bbo(1, 419_900, 420_100)), Nanos(1), &mut sink);
    assert!(sink.is_empty(), "{sink:?}");
    assert_eq!(e.strategy_stats(0).map(|s| s.pricing_jobs), Some(2));
    assert_eq!(e.handle_pricing(Nanos(2), &mut sink), Ok(2));

    let spot = Price::from_ticks(420_000);
    let (call, call_spot) = mm(&e).theo(InstrumentId(2)).unwrap_or_else(|| panic!("no call"));
    let (put, _) = mm(&e).theo(InstrumentId(3)).unwrap_or_else(|| panic!("no put"));
    assert_eq!(call_spot, spot);
    // Hull's published values, to their two decimals.
    assert!((to_f64(call) - 4.76).abs() < 0.005, "call {call}");
    assert!((to_f64(put) - 0.81).abs() < 0.005, "put {put}");
    // And the kernels' value, to the fixed-point tick.
    let c = |kind| Contract {
        kind,
        spot: 42.0,
        strike: 40.0,
        rate: 0.1,
        div: 0.0,
        vol: 0.2,
        expiry: 0.5,
    };
    let exact = |kind| {
        let p = black_scholes(&c(kind)).unwrap_or_else(|e| panic!("{e}"));
        (p.price * Price::SCALE as f64).round() as i64
    };
    assert_eq!(call.ticks(), exact(OptionType::Call));
    assert_eq!(put.ticks(), exact(OptionType::Put));

    // Edge 0.05 on a 0.01 tick: bid floored, ask ceiled, around each value.
    let (cv, pv) = (call.ticks(), put.ticks());
    let down = |v: i64| (v - 500).div_euclid(100) * 100;
    let up = |v: i64| -((-(v + 500)).div_euclid(100) * 100);
    assert_eq!(
        quotes(&sink),
        [
            (2, Side::Buy, down(cv)),
            (2, Side::Sell, up(cv)),
            (3, Side::Buy, down(pv)),
            (3, Side::Sell, up(pv)),
        ]
    );
    assert_eq!(quotes(&sink)[0].2, 47_000, "4.7594 - 0.05 floored to 4.70");
    assert_eq!(quotes(&sink)[1].2, 48_100, "4.7594 + 0.05 ceiled to 4.81");
}

/// Acknowledges every new order in `cmds` (as the gateway would).
fn accept_all(e: &mut Engine<Builtin>, cmds: &[OrderCommand], sink: &mut Vec<OrderCommand>) {
    for cmd in cmds {
        let OrderCommand::New(n) = cmd else {
            continue;
        };
        let meta = ExecMeta {
            instrument: n.instrument(),
            account: AccountId(1),
            cl_ord_id: n.cl_ord_id(),
            order_id: 1,
            transact_time: UnixNanos(1),
            gateway_ts: Nanos(1),
        };
        let acc = OrderAccepted::new(meta, n.side(), n.ord_type(), n.tif());
        e.handle_execution(&Execution::Accepted(&acc), Nanos(1), sink);
    }
}

#[test]
fn a_spot_move_reprices_and_replaces_the_quotes() {
    let mut e = engine(hull(), None);
    let mut sink: Vec<OrderCommand> = Vec::new();
    e.handle_tick(&Tick::Bbo(&bbo(1, 419_900, 420_100)), Nanos(1), &mut sink);
    assert_eq!(e.handle_pricing(Nanos(2), &mut sink), Ok(2));
    assert_eq!(sink.len(), 4);
    let opening = sink.clone();
    accept_all(&mut e, &opening, &mut sink);
    // A move below reprice_move (0.05): no job, no order.
    e.handle_tick(&Tick::Bbo(&bbo(3, 420_100, 420_300)), Nanos(3), &mut sink);
    assert_eq!(e.strategy_stats(0).map(|s| s.pricing_jobs), Some(2));
    assert_eq!(e.handle_pricing(Nanos(4), &mut sink), Ok(0));
    assert_eq!(sink.len(), 4);
    // Up 0.10: repriced at 42.10; the call is worth more, the put less, and the four
    // quotes are replaced around the new values.
    e.handle_tick(&Tick::Bbo(&bbo(5, 420_900, 421_100)), Nanos(5), &mut sink);
    assert_eq!(sink.len(), 4, "the old values stay quoted while the reprice runs");
    assert_eq!(e.handle_pricing(Nanos(6), &mut sink), Ok(2));
    assert_eq!(e.strategy_stats(0).map(|s| s.pricing_jobs), Some(4));
    let (call, spot) = mm(&e).theo(InstrumentId(2)).unwrap_or_else(|| panic!("no call"));
    let (put, _) = mm(&e).theo(InstrumentId(3)).unwrap_or_else(|| panic!("no put"));
    assert_eq!(spot, Price::from_ticks(421_000));
    assert!(call > Price::from_ticks(47_594) && put < Price::from_ticks(8_086));
    let replaced: Vec<(u32, i64)> = sink[4..]
        .iter()
        .filter_map(|c| match c {
            OrderCommand::Replace(r) => Some((r.instrument().0, r.price().ticks())),
            _ => None,
        })
        .collect();
    let (bid, ask) = mm(&e).quotes(call, 0);
    let (pbid, pask) = mm(&e).quotes(put, 0);
    let want: Vec<(u32, i64)> = [(2, bid), (2, ask), (3, pbid), (3, pask)]
        .into_iter()
        .map(|(i, p)| (i, p.map_or(0, Price::ticks)))
        .collect();
    assert_eq!(replaced, want, "{sink:?}");
}

/// A pricer that holds submitted jobs until the test releases them, and refuses beyond
/// `credit` outstanding (a compute server's client out of credit).
#[derive(Debug, Clone)]
struct Manual {
    queued: Arc<Mutex<VecDeque<Job>>>,
    done: Arc<Mutex<VecDeque<JobResult>>>,
    credit: usize,
}

impl Manual {
    fn new(credit: usize) -> Manual {
        Manual {
            queued: Arc::default(),
            done: Arc::default(),
            credit,
        }
    }

    /// Prices every held job.
    fn release(&self) -> usize {
        let mut q = self.queued.lock().unwrap_or_else(|e| panic!("{e}"));
        let mut d = self.done.lock().unwrap_or_else(|e| panic!("{e}"));
        let n = q.len();
        d.extend(q.drain(..).map(|j| execute(&j)));
        n
    }

    fn outstanding(&self) -> usize {
        self.queued.lock().map_or(0, |q| q.len())
    }
}

impl Pricer for Manual {
    fn try_submit(&mut self, job: &Job) -> Result<(), PricerError> {
        let mut q = self.queued.lock().unwrap_or_else(|e| panic!("{e}"));
        if q.len() >= self.credit {
            return Err(PricerError::WouldBlock);
        }
        q.push_back(*job);
        Ok(())
    }

    fn try_cancel(&mut self, id: u64) -> Result<(), PricerError> {
        let mut q = self.queued.lock().unwrap_or_else(|e| panic!("{e}"));
        q.retain(|j| j.id != id);
        Ok(())
    }

    fn try_poll(&mut self) -> Result<Option<JobResult>, PricerError> {
        Ok(self.done.lock().ok().and_then(|mut d| d.pop_front()))
    }
}

#[test]
fn submits_beyond_the_credit_are_refused_and_retried_never_blocking() {
    // Three strikes, six options, credit for two jobs at a time.
    let pricer = Manual::new(2);
    let mut e = engine(OptionsMmConfig::default(), Some(Box::new(pricer.clone())));
    let mut sink: Vec<OrderCommand> = Vec::new();
    e.handle_tick(&Tick::Bbo(&bbo(1, 999_900, 1_000_100)), Nanos(1_000), &mut sink);
    let stats = |e: &Engine<Builtin>| e.strategy_stats(0).copied().unwrap_or_default();
    assert_eq!(stats(&e).pricing_jobs, 2);
    assert_eq!(stats(&e).pricing_refusals, 1, "stops at the first refusal");
    assert_eq!(pricer.outstanding(), 2);
    // The retry timer is armed retry_us (1 ms) ahead.
    assert_eq!(e.poll_timeout(), Some(Nanos(1_000 + 1_000_000)));
    // Firing it while no credit came back: refused again, still nothing blocks.
    e.handle_timers(Nanos(1_001_000), &mut sink);
    assert_eq!(stats(&e).pricing_refusals, 2);
    // Results return credit; each result's event submits the next jobs.
    let mut rounds = 0;
    while mm(&e).legs.iter().any(|l| l.theo.is_none()) {
        rounds += 1;
        assert!(rounds < 10, "the chain never got priced");
        assert!(pricer.release() <= 2);
        e.handle_pricing(Nanos(1_002_000), &mut sink)
            .unwrap_or_else(|err| panic!("{err}"));
    }
    assert_eq!(stats(&e).pricing_jobs, 6);
    assert_eq!(stats(&e).pricing_results, 6);
    // Every option quoted on both sides.
    assert_eq!(quotes(&sink).len(), 12, "{sink:?}");
}

#[test]
fn stale_or_overdue_values_are_never_quoted() {
    let pricer = Manual::new(16);
    let mut e = engine(hull(), Some(Box::new(pricer.clone())));
    let mut sink: Vec<OrderCommand> = Vec::new();
    e.handle_tick(&Tick::Bbo(&bbo(1, 419_900, 420_100)), Nanos(1_000), &mut sink);
    assert_eq!(pricer.release(), 2);
    e.handle_pricing(Nanos(2_000), &mut sink)
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(quotes(&sink).len(), 4);
    // Spot up 0.10 (beyond reprice_move, within max_stale_move): the old quotes stay
    // while the reprice is outstanding.
    let before = sink.len();
    e.handle_tick(&Tick::Bbo(&bbo(3, 420_900, 421_100)), Nanos(3_000), &mut sink);
    assert_eq!(pricer.outstanding(), 2);
    assert_eq!(sink.len(), before, "{sink:?}");
    // The reprice is overdue at 50 ms: the timer fires there and every quote is pulled.
    let due = e.poll_timeout().unwrap_or_else(|| panic!("no timer"));
    assert_eq!(due, Nanos(3_000 + 50_000_000 + 1));
    e.handle_timers(due, &mut sink);
    let cancels = sink[before..]
        .iter()
        .filter(|c| matches!(c, OrderCommand::Cancel(_)))
        .count();
    assert_eq!(cancels, 4, "{sink:?}");
    assert_eq!(mm(&e).theo(InstrumentId(2)), None);
    // The overdue jobs were given up (cancel asked) and the options resubmitted at the
    // current spot.
    assert_eq!(pricer.outstanding(), 2);
    assert_eq!(e.strategy_stats(0).map(|s| s.pricing_jobs), Some(6));
    assert_eq!(pricer.release(), 2);
    e.handle_pricing(due, &mut sink)
        .unwrap_or_else(|err| panic!("{err}"));
    let (_, spot) = mm(&e).theo(InstrumentId(2)).unwrap_or_else(|| panic!("no call"));
    assert_eq!(spot, Price::from_ticks(421_000));

    // A jump beyond max_stale_move (0.25) with the reprice held: quotes pulled at once.
    let pricer = Manual::new(16);
    let mut e = engine(hull(), Some(Box::new(pricer.clone())));
    let mut sink: Vec<OrderCommand> = Vec::new();
    e.handle_tick(&Tick::Bbo(&bbo(1, 419_900, 420_100)), Nanos(1_000), &mut sink);
    pricer.release();
    e.handle_pricing(Nanos(2_000), &mut sink)
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(quotes(&sink).len(), 4);
    e.handle_tick(&Tick::Bbo(&bbo(2, 422_900, 423_100)), Nanos(3_000), &mut sink);
    assert_eq!(pricer.outstanding(), 2);
    let kinds: Vec<bool> = sink[4..]
        .iter()
        .map(|c| matches!(c, OrderCommand::Cancel(_)))
        .collect();
    assert_eq!(kinds, [true; 4], "{sink:?}");
}

#[test]
fn results_reach_the_strategy_that_priced() {
    let mut e: Engine<Builtin> =
        Engine::new(EngineConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..2 {
        let mm = OptionsMm::new(hull()).unwrap_or_else(|e| panic!("{e}"));
        e.add(Builtin::OptionsMm(mm)).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut sink: Vec<OrderCommand> = Vec::new();
    e.handle_tick(&Tick::Bbo(&bbo(1, 419_900, 420_100)), Nanos(1), &mut sink);
    assert_eq!(e.handle_pricing(Nanos(2), &mut sink), Ok(4));
    for i in 0..2 {
        assert_eq!(e.strategy_stats(i).map(|s| s.pricing_results), Some(2));
    }
    assert_eq!(e.stats().pricing_results, 4);
    assert_eq!(e.stats().unknown_pricing, 0);
    // A result naming no strategy is counted, not delivered.
    let mut stray = LocalPricer::new(1);
    let one = Price::from_ticks(Price::SCALE);
    let job = Job {
        id: 7 << 48,
        ..mm(&e).job(OptionType::Call, one, one)
    };
    assert_eq!(stray.try_submit(&job), Ok(()));
    let mut e = e.with_pricer(Box::new(stray));
    assert_eq!(e.handle_pricing(Nanos(3), &mut sink), Ok(1));
    assert_eq!(e.stats().unknown_pricing, 1);
}

#[test]
fn bad_configurations_are_refused() {
    let bad = [
        OptionsMmConfig {
            strikes: Vec::new(),
            ..OptionsMmConfig::default()
        },
        OptionsMmConfig {
            first_option: InstrumentId(0),
            ..OptionsMmConfig::default()
        },
        OptionsMmConfig {
            underlying: InstrumentId(3),
            ..OptionsMmConfig::default()
        },
        OptionsMmConfig {
            max_stale_move: Price::from_ticks(1),
            ..OptionsMmConfig::default()
        },
        OptionsMmConfig {
            vol_bp: 0,
            ..OptionsMmConfig::default()
        },
    ];
    for c in bad {
        assert!(OptionsMm::new(c.clone()).is_err(), "{c:?}");
    }
}
