//! Proofs on the production order path, `OrderCore` with its real order journal:
//!
//! - no report leaves before the journal sync that covers it (`exec_id <= durable_seq`
//!   for every polled report) under `batched` and `every_record`, with resting orders,
//!   trades between two accounts, cancels and replaces, one request and bursts of eight
//!   per duty cycle; and under `never` the same check fails, which shows it can;
//! - steady state (new, trade, cancel, report) allocates nothing, with `never` and with
//!   `every_record`, counted per thread by the testkit's counting allocator.

use tickwarp_gateway::service::{OrderCore, Origin, Report};
use tickwarp_gateway::venue::{Execution, VenueSim, VenueTime};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use tickwarp_wire::journal::FsyncPolicy;
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, NewOrder, OrderSpec, OrderType, Price, Qty,
    ReplaceOrder, Side, TickCause, TimeInForce,
};

mod core_util;

use core_util::{ACME, id, now, open_core};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

const ALICE: AccountId = AccountId(1);
const BOB: AccountId = AccountId(2);

fn spec(account: AccountId, side: Side, ticks: i64, qty: u64) -> OrderSpec {
    OrderSpec {
        instrument: ACME,
        account,
        side,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(ticks * Price::SCALE),
        qty: Qty(qty),
    }
}

/// What the requests released, checked against the durable boundary seen at each
/// release.
struct Released {
    reports: usize,
    fills: usize,
    cancels: usize,
    replaces: usize,
    cancel_rejects: usize,
    /// Reports released before the sync covering them.
    early: usize,
    /// (exec_id, durable_seq when it was polled) of the first ten of those.
    first_early: Vec<(u64, u64)>,
}

impl Released {
    /// Nothing released yet (room for the examples made up front: noting allocates
    /// nothing).
    fn new() -> Released {
        Released {
            reports: 0,
            fills: 0,
            cancels: 0,
            replaces: 0,
            cancel_rejects: 0,
            early: 0,
            first_early: Vec::with_capacity(10),
        }
    }

    fn note(&mut self, report: &Report, durable: u64) {
        self.reports += 1;
        match report.event {
            Execution::Filled(_) => self.fills += 1,
            Execution::Canceled(_) => self.cancels += 1,
            Execution::Replaced(_) => self.replaces += 1,
            Execution::CancelRejected(_) => self.cancel_rejects += 1,
            _ => {}
        }
        assert_ne!(
            report.exec_id, 0,
            "a report went out unjournaled: {report:?}"
        );
        if report.exec_id > durable {
            self.early += 1;
            if self.first_early.len() < 10 {
                self.first_early.push((report.exec_id, durable));
            }
        }
    }
}

/// Flushes one duty cycle and polls every report, checking each against the durable
/// boundary at the moment it is polled.
fn cycle(core: &mut OrderCore<VenueSim>, t: VenueTime, out: &mut Released) {
    core.flush(t)
        .unwrap_or_else(|e| panic!("flush stopped the core: {e}"));
    while core.venue_mut().poll_market_data().is_some() {}
    while let Some(report) = core.poll_report() {
        let durable = core.durable_seq();
        out.note(&report, durable);
    }
}

/// The time of request `k` (2 ms apart: under the default throttle of 1,000 per second).
fn at(k: u64) -> VenueTime {
    now(k * 2_000_000)
}

/// Sends request `k` of the repeating round: Alice rests a bid, Bob sells into it (a
/// partial fill of both), Alice replaces the rest of her bid, then cancels it.
fn request(core: &mut OrderCore<VenueSim>, k: u64, ids: &[ClientOrderId; 4]) {
    let [bid, sell, repl, cxl] = *ids;
    let t = at(k);
    let result = match k % 4 {
        0 => core.handle_new(
            t,
            Origin::Fix(1),
            &NewOrder::new(bid, &spec(ALICE, Side::Buy, 100, 10), TickCause::NONE),
        ),
        1 => core.handle_new(
            t,
            Origin::Fix(2),
            &NewOrder::new(sell, &spec(BOB, Side::Sell, 100, 4), TickCause::NONE),
        ),
        2 => core.handle_replace(
            t,
            Origin::Fix(1),
            &ReplaceOrder::new(repl, bid, &spec(ALICE, Side::Buy, 99, 8), TickCause::NONE),
        ),
        _ => core.handle_cancel(
            t,
            Origin::Fix(1),
            &CancelOrder::new(cxl, repl, ACME, ALICE, Side::Buy, TickCause::NONE),
        ),
    };
    if let Err(e) = result {
        panic!("request {k}: the core stopped: {e}");
    }
}

/// The client order ids of round `n`, made before any counting (the FIX and RDMA entry
/// decode them in place, so formatting them is the test's cost, not the core's).
fn round_ids(from: u64, rounds: u64) -> Vec<[ClientOrderId; 4]> {
    (from..from + rounds)
        .map(|n| ["B", "S", "R", "C"].map(|p| id(&format!("{p}{n}"))))
        .collect()
}

/// Drives the rounds of `ids` from request number `first`, flushing a duty cycle after
/// every `burst` requests (and at the end).
fn drive(
    core: &mut OrderCore<VenueSim>,
    first: u64,
    ids: &[[ClientOrderId; 4]],
    burst: u64,
) -> Released {
    let mut out = Released::new();
    let mut k = first;
    for round in ids {
        for _ in 0..4 {
            request(core, k, round);
            k += 1;
            if (k - first) % burst == 0 {
                cycle(core, at(k), &mut out);
            }
        }
    }
    cycle(core, at(k), &mut out);
    out
}

fn released_after_sync(fsync: FsyncPolicy, burst: u64) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut core = open_core(&dir.path().join("orders"), fsync);
    let syncs_before = core.sync_count();
    let rounds = 50;
    let out = drive(&mut core, 0, &round_ids(0, rounds), burst);
    let what = format!("{fsync:?}, bursts of {burst}");
    assert_eq!(
        out.early, 0,
        "{what}: reports released before the sync covering them; the first (exec_id, \
         durable_seq): {:?}",
        out.first_early
    );
    // Every round: two acks, a fill on each side, a replace, a cancel. In a burst the
    // cancel may reach the replacement before the venue has it (a cancel reject).
    assert_eq!(out.fills, 2 * rounds as usize, "{what}: fills");
    assert_eq!(out.replaces, rounds as usize, "{what}: replaces");
    assert_eq!(
        out.cancels + out.cancel_rejects,
        rounds as usize,
        "{what}: cancels and cancel rejects"
    );
    if burst == 1 {
        assert_eq!(out.cancels, rounds as usize, "{what}: cancels");
    }
    // The simulator needs no write-ahead (its book is rebuilt from the journal), so one
    // sync covers a duty cycle's requests and the venue's answers, however many requests
    // it carries (one more for the final, empty flush at most).
    let syncs = core.sync_count() - syncs_before;
    let cycles = (4 * rounds).div_ceil(burst);
    assert!(
        (cycles..=cycles + 1).contains(&syncs),
        "{what}: {syncs} syncs for {cycles} duty cycles that each journaled something: \
         not one per duty cycle"
    );
}

#[test]
fn every_record_releases_no_report_before_its_sync() {
    released_after_sync(FsyncPolicy::EveryRecord, 1);
    released_after_sync(FsyncPolicy::EveryRecord, 8);
}

#[test]
fn batched_releases_no_report_before_its_sync() {
    let policy = FsyncPolicy::Batched {
        max_records: 64,
        max_delay: std::time::Duration::from_secs(10),
    };
    released_after_sync(policy, 1);
    released_after_sync(policy, 8);
}

/// The check above can fail: with `never` nothing is synced, so every report is released
/// past the durable boundary.
#[test]
fn never_releases_reports_past_the_durable_boundary() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut core = open_core(&dir.path().join("orders"), FsyncPolicy::Never);
    let out = drive(&mut core, 0, &round_ids(0, 10), 1);
    assert_eq!(
        out.early, out.reports,
        "under `never` every report should be past the durable boundary"
    );
    assert_eq!(core.sync_count(), 0, "`never` synced");
}

/// Allocations in `rounds` rounds of new/trade/replace/cancel, one request per duty
/// cycle, after a warm-up of 200 rounds.
fn steady_state_allocations(fsync: FsyncPolicy, rounds: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut core = open_core(&dir.path().join("orders"), fsync);
    let warm = drive(&mut core, 0, &round_ids(0, 200), 1);
    assert_eq!(warm.fills, 400, "warm-up fills");
    let ids = round_ids(200, rounds);
    let mut out = Released::new();
    let ((), allocations) = count_allocations(|| {
        let mut k = 800;
        for round in &ids {
            for _ in 0..4 {
                request(&mut core, k, round);
                k += 1;
                cycle(&mut core, at(k), &mut out);
            }
        }
    });
    assert_eq!(out.fills, 2 * rounds as usize, "{fsync:?}: fills");
    assert_eq!(out.cancels, rounds as usize, "{fsync:?}: cancels");
    allocations
}

#[test]
fn order_core_steady_state_allocates_nothing_with_never() {
    let allocations = steady_state_allocations(FsyncPolicy::Never, 1_000);
    assert_eq!(
        allocations, 0,
        "never: {allocations} allocations in 1000 rounds"
    );
}

#[test]
fn order_core_steady_state_allocates_nothing_with_every_record() {
    let allocations = steady_state_allocations(FsyncPolicy::EveryRecord, 100);
    assert_eq!(
        allocations, 0,
        "every_record: {allocations} allocations in 100 rounds"
    );
}
