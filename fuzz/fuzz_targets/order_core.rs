//! Fuzz target: the order path (`OrderCore`: risk → order state → journal → venue
//! simulator) driven by an arbitrary sequence of new orders, cancels, replaces, mass
//! cancels from two accounts and duty cycles, on a fresh journal in /dev/shm. No request
//! may stop the core or panic; no report leaves before the journal sync covering it; and
//! after a close, recovery from the journal rebuilds exactly the orders the core held.
#![no_main]
use std::path::{Path, PathBuf};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tickwarp_gateway::risk::RiskLimits;
use tickwarp_gateway::service::core::MassCancel;
use tickwarp_gateway::service::{CoreConfig, OrderCore, Origin};
use tickwarp_gateway::venue::{VenueConfig, VenueSim, VenueTime};
use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig};
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, NewOrder, OrderSpec, OrderType, Price,
    Qty, ReplaceOrder, Side, TickCause, TimeInForce,
};

const ACME: InstrumentId = InstrumentId(1);

#[derive(Arbitrary, Debug)]
enum Op {
    New {
        id: u8,
        bob: bool,
        buy: bool,
        px: u8,
        qty: u8,
        market: bool,
        tif: u8,
    },
    Cancel {
        id: u8,
        orig: u8,
        bob: bool,
        buy: bool,
    },
    Replace {
        id: u8,
        orig: u8,
        bob: bool,
        buy: bool,
        px: u8,
        qty: u8,
    },
    MassCancel {
        bob: bool,
        buy: Option<bool>,
    },
    Cycle,
}

fn at(k: u64) -> VenueTime {
    VenueTime {
        wall: UnixNanos(1_764_064_800_000_000_000 + k * 2_000_000),
        mono: Nanos(1_000_000_000 + k * 2_000_000),
    }
}

fn open(dir: &Path) -> OrderCore<VenueSim> {
    let limits = "max_order_qty = 1000\nmax_notional = \"1000000\"\ncollar_bps = 0\n\
        credit_limit = \"1000000000\"\nmax_position = 100000000\nmax_orders_per_day = 100000\n";
    let config = CoreConfig {
        journal_dir: dir.to_path_buf(),
        // Small segments: no 64 MiB reservation per run, and long runs roll segments.
        journal: JournalConfig {
            fsync: FsyncPolicy::EveryRecord,
            segment_bytes: 16 << 10,
        },
        max_orders: 512,
        limits: RiskLimits::from_toml(limits).expect("limits"),
        instruments: vec![ACME],
        references: Vec::new(),
    };
    // Sized for one run's 256 requests, so a run does not fault in the default's pages.
    let venue = VenueSim::new(&VenueConfig {
        instruments: vec![ACME],
        max_resting_orders: 1024,
        levels_per_side: 64,
        queue_capacity: 1024,
    });
    OrderCore::open(config, venue, at(0))
        .expect("open the journal")
        .0
}

fn cl(n: u8) -> ClientOrderId {
    ClientOrderId::new(&format!("C{n}")).expect("id")
}

fn spec(bob: bool, buy: bool, px: u8, qty: u8, market: bool, tif: u8) -> OrderSpec {
    OrderSpec {
        instrument: ACME,
        account: AccountId(1 + u32::from(bob)),
        side: if buy { Side::Buy } else { Side::Sell },
        ord_type: if market {
            OrderType::Market
        } else {
            OrderType::Limit
        },
        tif: [
            TimeInForce::Day,
            TimeInForce::Gtc,
            TimeInForce::Ioc,
            TimeInForce::Fok,
        ][usize::from(tif % 4)],
        price: Price::from_ticks((95 + i64::from(px % 11)) * Price::SCALE),
        qty: Qty(1 + u64::from(qty % 20)),
    }
}

/// One duty cycle: flush, then every report, each covered by a sync.
fn cycle(core: &mut OrderCore<VenueSim>, t: VenueTime) {
    core.flush(t).expect("flush stopped the core");
    while core.venue_mut().poll_market_data().is_some() {}
    while let Some(report) = core.poll_report() {
        assert!(
            report.exec_id != 0 && report.exec_id <= core.durable_seq(),
            "released before its sync: {report:?}"
        );
    }
}

/// The orders as (account, ClOrdID, status, cum, leaves), sorted.
fn orders(core: &OrderCore<VenueSim>) -> Vec<String> {
    let mut v: Vec<String> = core
        .orders()
        .iter()
        .map(|o| {
            format!(
                "{} {} {:?} {} {}",
                o.account(),
                o.cl_ord_id(),
                o.status(),
                o.cum_qty().0,
                o.leaves_qty().0
            )
        })
        .collect();
    v.sort();
    v
}

fn journal_dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("tickwarp-fuzz-orders-{}", std::process::id()))
}

fuzz_target!(|ops: Vec<Op>| {
    let dir = journal_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let mut core = open(&dir);
    let origin = |bob: bool| Origin::Fix(1 + u32::from(bob));
    for (k, op) in ops.iter().take(256).enumerate() {
        let t = at(k as u64 + 1);
        let done = match *op {
            Op::New {
                id,
                bob,
                buy,
                px,
                qty,
                market,
                tif,
            } => core.handle_new(
                t,
                origin(bob),
                &NewOrder::new(
                    cl(id),
                    &spec(bob, buy, px, qty, market, tif),
                    TickCause::NONE,
                ),
            ),
            Op::Cancel { id, orig, bob, buy } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                let account = AccountId(1 + u32::from(bob));
                core.handle_cancel(
                    t,
                    origin(bob),
                    &CancelOrder::new(cl(id), cl(orig), ACME, account, side, TickCause::NONE),
                )
            }
            Op::Replace {
                id,
                orig,
                bob,
                buy,
                px,
                qty,
            } => {
                let spec = spec(bob, buy, px, qty, false, 0);
                core.handle_replace(
                    t,
                    origin(bob),
                    &ReplaceOrder::new(cl(id), cl(orig), &spec, TickCause::NONE),
                )
            }
            Op::MassCancel { bob, buy } => {
                let scope = MassCancel {
                    account: AccountId(1 + u32::from(bob)),
                    instrument: None,
                    side: buy.map(|b| if b { Side::Buy } else { Side::Sell }),
                };
                core.mass_cancel(t, origin(bob), scope).map(|_| ())
            }
            Op::Cycle => {
                cycle(&mut core, t);
                Ok(())
            }
        };
        if let Err(e) = done {
            panic!("op {k} {op:?}: the core stopped: {e}");
        }
    }
    cycle(&mut core, at(300));
    let before = orders(&core);
    core.close().expect("close");
    drop(core);
    let recovered = open(&dir);
    assert_eq!(orders(&recovered), before, "recovery changed the orders");
    drop(recovered);
    let _ = std::fs::remove_dir_all(&dir);
});
