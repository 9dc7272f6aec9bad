//! The drop copy over an order journal written by the real `OrderCore` (venue simulator):
//! two accounts trade, an order is replaced and canceled, requests are refused. The rows
//! must say exactly what the reports said, once each, across restarts of the copy; a
//! database ahead of the journal stops it and keeps its rows.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use rusqlite::Connection;
use tickwarp_dropcopy::{DropCopy, DropCopyError, DropCopySettings};
use tickwarp_gateway::risk::RiskLimits;
use tickwarp_gateway::service::{CoreConfig, OrderCore, Origin, Report};
use tickwarp_gateway::venue::{Execution, VenueConfig, VenueSim, VenueTime};
use tickwarp_runtime::{Nanos, UnixNanos, clock};
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig};
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, InstrumentTable, NewOrder, OrderSpec,
    OrderType, Price, Qty, ReplaceOrder, Side, TickCause, TimeInForce,
};

const ACME: InstrumentId = InstrumentId(1);
const ALICE: AccountId = AccountId(1);
const BOB: AccountId = AccountId(2);
const WAIT: Duration = Duration::from_secs(20);

fn at(k: u64) -> VenueTime {
    VenueTime {
        wall: UnixNanos(1_764_064_800_000_000_000 + k * 2_000_000),
        mono: Nanos(1_000_000_000 + k * 2_000_000),
    }
}

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap_or_else(|e| panic!("{e}"))
}

fn spec(account: AccountId, side: Side, units: i64, qty: u64) -> OrderSpec {
    OrderSpec {
        instrument: ACME,
        account,
        side,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(units * Price::SCALE),
        qty: Qty(qty),
    }
}

fn open_core(journal: &Path) -> Result<OrderCore<VenueSim>> {
    let limits = RiskLimits::from_toml(
        r#"
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "1000000000"
        max_position = 100000000
        max_orders_per_day = 100000
    "#,
    )?;
    let config = CoreConfig {
        journal_dir: journal.to_path_buf(),
        journal: JournalConfig {
            fsync: FsyncPolicy::EveryRecord,
            ..JournalConfig::default()
        },
        max_orders: 10_000,
        limits,
        instruments: vec![ACME],
        references: Vec::new(),
    };
    let venue = VenueSim::new(&VenueConfig {
        instruments: vec![ACME],
        ..VenueConfig::default()
    });
    Ok(OrderCore::open(config, venue, at(0))?.0)
}

/// One round `n` at request time `k..k+6`: Alice bids 10 @ 100, Bob sells 4 @ 100 (both
/// trade), Alice replaces her bid to 8 @ 99, then cancels it; Bob sends an order for an
/// unknown instrument (refused by the gateway) and cancels an unknown order (refused).
fn round(
    core: &mut OrderCore<VenueSim>,
    n: u64,
    k: &mut u64,
    reports: &mut Vec<Report>,
) -> Result<()> {
    let (bid, sell, repl, cxl) = (
        id(&format!("B{n}")),
        id(&format!("S{n}")),
        id(&format!("R{n}")),
        id(&format!("C{n}")),
    );
    let mut step = |core: &mut OrderCore<VenueSim>,
                    f: &dyn Fn(&mut OrderCore<VenueSim>, VenueTime) -> Result<(), _>|
     -> Result<()> {
        *k += 1;
        f(core, at(*k))?;
        core.flush(at(*k))?;
        while core.venue_mut().poll_market_data().is_some() {}
        while let Some(r) = core.poll_report() {
            reports.push(r);
        }
        Ok(())
    };
    step(core, &|c, t| {
        c.handle_new(
            t,
            Origin::Fix(1),
            &NewOrder::new(bid, &spec(ALICE, Side::Buy, 100, 10), TickCause::NONE),
        )
    })?;
    step(core, &|c, t| {
        c.handle_new(
            t,
            Origin::Fix(2),
            &NewOrder::new(sell, &spec(BOB, Side::Sell, 100, 4), TickCause::NONE),
        )
    })?;
    step(core, &|c, t| {
        c.handle_replace(
            t,
            Origin::Fix(1),
            &ReplaceOrder::new(repl, bid, &spec(ALICE, Side::Buy, 99, 8), TickCause::NONE),
        )
    })?;
    step(core, &|c, t| {
        c.handle_cancel(
            t,
            Origin::Fix(1),
            &CancelOrder::new(cxl, repl, ACME, ALICE, Side::Buy, TickCause::NONE),
        )
    })?;
    step(core, &|c, t| {
        let mut s = spec(BOB, Side::Sell, 100, 1);
        s.instrument = InstrumentId(9);
        c.handle_new(
            t,
            Origin::Fix(2),
            &NewOrder::new(id(&format!("X{n}")), &s, TickCause::NONE),
        )
    })?;
    step(core, &|c, t| {
        c.handle_cancel(
            t,
            Origin::Fix(2),
            &CancelOrder::new(
                id(&format!("Y{n}")),
                id("NOPE"),
                ACME,
                BOB,
                Side::Sell,
                TickCause::NONE,
            ),
        )
    })?;
    Ok(())
}

/// Flushes a duty cycle at `t` and collects the reports.
fn settle(core: &mut OrderCore<VenueSim>, t: VenueTime, reports: &mut Vec<Report>) -> Result<()> {
    core.flush(t)?;
    while core.venue_mut().poll_market_data().is_some() {}
    while let Some(r) = core.poll_report() {
        reports.push(r);
    }
    Ok(())
}

fn settings(journal: &Path, db: &Path) -> Result<DropCopySettings> {
    let mut instruments = InstrumentTable::new();
    instruments.insert_str("ACME", ACME)?;
    Ok(DropCopySettings {
        journal_dir: journal.to_path_buf(),
        instruments,
        sqlite: Some(db.to_path_buf()),
        postgres: None,
    })
}

/// Waits (bounded) until the drop copy's position reaches `seq`.
fn wait_for(copy: &DropCopy, seq: u64) -> Result<()> {
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    loop {
        let positions = copy.positions();
        if positions.iter().all(|(_, p)| *p >= seq) {
            return Ok(());
        }
        if clock::monotonic_now() >= deadline {
            bail!("the drop copy reached {positions:?} within {WAIT:?}, expected seq {seq}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn count(db: &Connection, sql: &str) -> Result<i64> {
    db.query_row(sql, [], |r| r.get(0))
        .with_context(|| sql.to_owned())
}

#[test]
fn executions_and_orders_match_the_reports_exactly_once_across_restarts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let journal = dir.path().join("orders");
    let db_path = dir.path().join("copy.sqlite");
    let mut core = open_core(&journal)?;
    let mut reports = Vec::new();
    let mut k = 0;
    round(&mut core, 1, &mut k, &mut reports)?;
    // An order that rests across the copy's restart (reloaded from the database).
    let rest = NewOrder::new(id("REST"), &spec(ALICE, Side::Buy, 50, 3), TickCause::NONE);
    k += 1;
    core.handle_new(at(k), Origin::Fix(1), &rest)?;
    settle(&mut core, at(k), &mut reports)?;

    let copy = DropCopy::start(&settings(&journal, &db_path)?)?;
    wait_for(&copy, core.durable_seq())?;
    // More records while the copy runs; then a restart of the copy mid-stream.
    round(&mut core, 2, &mut k, &mut reports)?;
    ensure!(
        copy.stop().is_empty(),
        "the drop copy stopped with an error"
    );
    round(&mut core, 3, &mut k, &mut reports)?;
    let cancel = CancelOrder::new(
        id("RESTX"),
        id("REST"),
        ACME,
        ALICE,
        Side::Buy,
        TickCause::NONE,
    );
    k += 1;
    core.handle_cancel(at(k), Origin::Fix(1), &cancel)?;
    settle(&mut core, at(k), &mut reports)?;
    let copy = DropCopy::start(&settings(&journal, &db_path)?)?;
    wait_for(&copy, core.durable_seq())?;
    ensure!(
        copy.stop().is_empty(),
        "the drop copy stopped with an error"
    );

    let db = Connection::open(&db_path)?;
    // One row per journaled report (refusals before the journal have ExecID 0).
    let journaled: Vec<&Report> = reports.iter().filter(|r| r.exec_id != 0).collect();
    ensure!(
        journaled.len() >= 3 * 7,
        "expected the rounds' reports, got {reports:?}"
    );
    let mut ids: Vec<i64> = db
        .prepare("SELECT exec_id FROM executions ORDER BY exec_id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut want: Vec<i64> = journaled.iter().map(|r| r.exec_id as i64).collect();
    want.sort_unstable();
    ids.dedup();
    ensure!(ids == want, "executions {ids:?}, reports {want:?}");
    for r in &journaled {
        let (exec_type, status, last_qty, last_px, cl): (String, Option<String>, Option<i64>, Option<String>, String) =
            db.query_row(
                "SELECT exec_type, ord_status, last_qty, last_px, cl_ord_id FROM executions WHERE exec_id = ?1",
                [r.exec_id as i64],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
            )?;
        let want_type = match r.event {
            Execution::Accepted(_) => "new",
            Execution::Rejected(_) => "rejected",
            Execution::Filled(_) => "trade",
            Execution::Canceled(_) => "canceled",
            Execution::CancelRejected(_) => "cancel_rejected",
            Execution::Replaced(_) => "replaced",
        };
        ensure!(
            exec_type == want_type,
            "exec {}: {exec_type} for {:?}",
            r.exec_id,
            r.event
        );
        if let Execution::Filled(f) = &r.event {
            let fill = f.fill();
            ensure!(
                last_qty == Some(fill.last_qty.0 as i64),
                "exec {}: last_qty {last_qty:?}",
                r.exec_id
            );
            ensure!(
                last_px.as_deref() == Some(fill.last_px.to_string().as_str()),
                "exec {}: last_px {last_px:?}",
                r.exec_id
            );
            ensure!(
                cl == f.cl_ord_id().as_str(),
                "exec {}: cl_ord_id {cl}",
                r.exec_id
            );
        }
        if r.order.is_some() && !matches!(r.event, Execution::Rejected(_)) {
            ensure!(
                status.is_some(),
                "exec {}: no ord_status for {:?}",
                r.exec_id,
                r.event
            );
        }
    }
    // Orders: per round Alice's bid (replaced, then canceled with 4 filled) and Bob's sell
    // (filled), and REST (canceled after the restart); the refused requests made none.
    let orders = count(&db, "SELECT count(*) FROM orders")?;
    ensure!(orders == 7, "orders: {orders}");
    let (status, price, updated): (String, String, i64) = db.query_row(
        "SELECT ord_status, price, updated_seq FROM orders WHERE cl_ord_id = 'REST'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    ensure!(
        (status.as_str(), price.as_str()) == ("canceled", "50.0000"),
        "the resting order reloaded after the restart: {status} @ {price}"
    );
    ensure!(
        updated as u64 == core.durable_seq(),
        "REST last changed at {updated}"
    );
    for n in 1..=3 {
        let (status, cum, leaves, qty, price): (String, i64, i64, i64, String) = db.query_row(
            "SELECT ord_status, cum_qty, leaves_qty, qty, price FROM orders WHERE cl_ord_id = ?1",
            [format!("R{n}")],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        ensure!(
            (status.as_str(), cum, leaves, qty, price.as_str()) == ("canceled", 4, 0, 8, "99.0000"),
            "round {n}: Alice's order {status} cum {cum} leaves {leaves} qty {qty} price {price}"
        );
        let status: String = db.query_row(
            "SELECT ord_status FROM orders WHERE cl_ord_id = ?1",
            [format!("S{n}")],
            |r| r.get(0),
        )?;
        ensure!(status == "filled", "round {n}: Bob's order {status}");
    }
    ensure!(
        count(
            &db,
            "SELECT count(*) FROM executions WHERE refused_by_gateway = 1 AND exec_type = 'rejected'"
        )? == 3,
        "the unknown-instrument orders are copied as the gateway's rejects"
    );
    let position = count(&db, "SELECT journal_seq FROM drop_copy_position")?;
    ensure!(position as u64 == core.durable_seq(), "position {position}");
    Ok(())
}

#[test]
fn a_database_ahead_of_the_journal_stops_the_copy_and_keeps_its_rows() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let journal = dir.path().join("orders");
    let db_path = dir.path().join("copy.sqlite");
    let mut core = open_core(&journal)?;
    let (mut reports, mut k) = (Vec::new(), 0);
    round(&mut core, 1, &mut k, &mut reports)?;
    let copy = DropCopy::start(&settings(&journal, &db_path)?)?;
    wait_for(&copy, core.durable_seq())?;
    ensure!(copy.stop().is_empty());
    let rows = count(
        &Connection::open(&db_path)?,
        "SELECT count(*) FROM executions",
    )?;

    // A shorter, different journal: the database is ahead of it.
    drop(core);
    let other = dir.path().join("other");
    let mut core = open_core(&other)?;
    core.handle_new(
        at(99),
        Origin::Fix(1),
        &NewOrder::new(id("Z"), &spec(ALICE, Side::Buy, 1, 1), TickCause::NONE),
    )?;
    core.flush(at(99))?;
    let copy = DropCopy::start(&settings(&other, &db_path)?)?;
    let errors = copy.stop();
    // The thread checks before it copies anything; stopping only ends its copying.
    match errors.as_slice() {
        [
            DropCopyError::Ahead {
                position, durable, ..
            },
        ] => {
            ensure!(*position > *durable, "ahead: {position} vs {durable}");
        }
        [DropCopyError::OtherJournal { .. }] => {}
        other => bail!("expected the drop copy to refuse the other journal, got {other:?}"),
    }
    let after = count(
        &Connection::open(&db_path)?,
        "SELECT count(*) FROM executions",
    )?;
    ensure!(after == rows, "rows changed: {rows} → {after}");
    Ok(())
}

#[test]
fn a_locked_database_is_an_outage_the_copy_catches_up_after() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let journal = dir.path().join("orders");
    let db_path = dir.path().join("copy.sqlite");
    let mut core = open_core(&journal)?;
    let (mut reports, mut k) = (Vec::new(), 0);
    round(&mut core, 1, &mut k, &mut reports)?;
    let copy = DropCopy::start(&settings(&journal, &db_path)?)?;
    wait_for(&copy, core.durable_seq())?;
    let first = copy.positions()[0].1;

    // Another writer holds the database: the copy cannot commit, the core goes on.
    let locker = Connection::open(&db_path)?;
    locker.execute_batch("BEGIN EXCLUSIVE")?;
    round(&mut core, 2, &mut k, &mut reports)?;
    let durable = core.durable_seq();
    ensure!(durable > first, "round 2 journaled nothing");
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    while copy.failures()[0].1 == 0 {
        ensure!(
            clock::monotonic_now() < deadline,
            "the copy did not fail against the lock within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    ensure!(
        copy.positions()[0].1 == first,
        "the copy moved past {first} through an exclusive lock"
    );
    locker.execute_batch("COMMIT")?;
    wait_for(&copy, durable)?;
    ensure!(
        copy.stop().is_empty(),
        "the drop copy stopped with an error"
    );
    let db = Connection::open(&db_path)?;
    let want = reports.iter().filter(|r| r.exec_id != 0).count() as i64;
    let rows = count(&db, "SELECT count(*) FROM executions")?;
    ensure!(rows == want, "{rows} rows for {want} journaled reports");
    Ok(())
}
