//! A full disk under the order journal: the order that cannot be journaled is refused
//! (OrdRejReason 99, "order journal unavailable: no space left on device"), the core stays
//! up, and once space returns orders are accepted again; a reopen recovers every
//! acknowledged order. Runs on a 512 KiB tmpfs mounted for the test (needs root).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tickwarp_gateway::fix::messages::ord_rej_reason;
use tickwarp_gateway::orders::{OrdStatus, OrderKey};
use tickwarp_gateway::service::core::JOURNAL_UNAVAILABLE;
use tickwarp_gateway::service::{OrderCore, Origin, Report};
use tickwarp_gateway::venue::{Execution, VenueSim};
use tickwarp_wire::journal::FsyncPolicy;
use tickwarp_wire::{
    AccountId, CancelOrder, NewOrder, OrderSpec, OrderType, Price, Qty, Side, TickCause,
    TimeInForce,
};

mod core_util;

use core_util::{ACME, id, now, open_core};

const ALICE: AccountId = AccountId(1);
const ORIGIN: Origin = Origin::Fix(1);
/// Orders sent before giving up on filling the disk.
const MAX_ORDERS: u64 = 20_000;

/// A tmpfs mounted on a temporary directory, unmounted on drop (also when a test fails).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size`; `None` (after a visible SKIP line) if mounting fails,
    /// a panic instead when `CI` is set.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs { dir }),
            other => {
                let why = format!("SKIP disk_full: cannot mount a tmpfs (needs root): {other:?}");
                assert!(std::env::var_os("CI").is_none(), "{why}");
                eprintln!("{why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let status = Command::new("umount").arg(self.dir.path()).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "disk_full: umount {} failed: {status:?}",
                self.dir.path().display()
            );
        }
    }
}

fn order(n: u64) -> NewOrder {
    let spec = OrderSpec {
        instrument: ACME,
        account: ALICE,
        side: Side::Buy,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(50 * Price::SCALE),
        qty: Qty(1),
    };
    NewOrder::new(id(&format!("D{n}")), &spec, TickCause::NONE)
}

/// Runs `request` and one duty cycle at time `t`; returns the reports it released.
fn cycle(
    core: &mut OrderCore<VenueSim>,
    t: u64,
    request: impl FnOnce(&mut OrderCore<VenueSim>),
) -> Vec<Report> {
    request(core);
    core.flush(now(t))
        .unwrap_or_else(|e| panic!("at {t}: flush stopped the core: {e}"));
    std::iter::from_fn(|| core.poll_report()).collect()
}

/// Sends order `n` at time `n` and returns its one report.
fn send(core: &mut OrderCore<VenueSim>, n: u64) -> Report {
    let cmd = order(n);
    let t = n * 1_000_000;
    let mut reports = cycle(core, t, |c| {
        c.handle_new(now(t), ORIGIN, &cmd)
            .unwrap_or_else(|e| panic!("order {n}: the core stopped: {e}"));
    });
    assert!(reports.len() <= 1, "order {n}: more than one report");
    reports
        .pop()
        .unwrap_or_else(|| panic!("order {n}: no report"))
}

/// A 512 KiB tmpfs with 448 KiB taken by a filler file (written first, so deleting it
/// frees space the journal can use): `(tmpfs, filler, journal dir)`, or `None` after
/// the visible skip.
fn nearly_full_disk() -> Option<(Tmpfs, PathBuf, PathBuf)> {
    let fs_ = Tmpfs::mount("512k")?;
    let filler = fs_.path().join("filler");
    fs::write(&filler, vec![0xA5u8; 448 << 10]).unwrap_or_else(|e| panic!("filler: {e}"));
    let journal = fs_.path().join("orders");
    Some((fs_, filler, journal))
}

fn key(n: u64) -> OrderKey {
    OrderKey {
        account: ALICE,
        cl_ord_id: id(&format!("D{n}")),
    }
}

#[test]
fn a_full_disk_refuses_the_order_and_the_core_recovers_when_space_returns() {
    let Some((_fs, filler, journal)) = nearly_full_disk() else {
        return;
    };
    let mut core = open_core(&journal, FsyncPolicy::EveryRecord);

    let mut accepted = Vec::new();
    let mut refused = None;
    for n in 1..=MAX_ORDERS {
        let report = send(&mut core, n);
        match report.event {
            Execution::Accepted(_) => accepted.push(n),
            Execution::Rejected(r) => {
                assert_eq!(r.reason(), JOURNAL_UNAVAILABLE, "order {n}: {report:?}");
                assert_eq!(ord_rej_reason(r.reason()), 99);
                let text = report.text.clone().unwrap_or_default();
                assert_eq!(
                    text, "order journal unavailable: no space left on device",
                    "order {n}"
                );
                refused = Some(n);
                break;
            }
            other => panic!("order {n}: unexpected {other:?}"),
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("the disk never filled in {MAX_ORDERS} orders"));
    assert!(
        !accepted.is_empty(),
        "the disk was full before the first order"
    );
    assert!(
        core.orders().get(&key(refused)).is_none(),
        "the refused order reached the order state"
    );
    assert!(
        core.venue().resting(&key(refused)).is_none(),
        "the venue saw the refused order"
    );
    assert_eq!(core.venue().resting_count(), accepted.len());
    for &n in &accepted {
        let status = core.orders().get(&key(n)).map(|o| o.status());
        assert_eq!(status, Some(OrdStatus::New), "acknowledged order {n}");
    }

    // Still full: the next order is refused the same way, the core still up.
    let again = send(&mut core, refused + 1);
    assert!(matches!(again.event, Execution::Rejected(_)), "{again:?}");

    fs::remove_file(&filler).unwrap_or_else(|e| panic!("removing the filler: {e}"));
    let next = refused + 2;
    let report = send(&mut core, next);
    assert!(
        matches!(report.event, Execution::Accepted(_)),
        "after freeing space: {report:?}"
    );
    accepted.push(next);

    // A cancel of a resting order goes through once its journal write succeeds.
    let first = accepted.remove(0);
    let t = now((next + 1) * 1_000_000);
    let cancel = CancelOrder::new(
        id("X1"),
        id(&format!("D{first}")),
        ACME,
        ALICE,
        Side::Buy,
        TickCause::NONE,
    );
    core.handle_cancel(t, ORIGIN, &cancel)
        .unwrap_or_else(|e| panic!("cancel: the core stopped: {e}"));
    core.flush(t)
        .unwrap_or_else(|e| panic!("cancel: flush: {e}"));
    let report = core
        .poll_report()
        .unwrap_or_else(|| panic!("cancel: no report"));
    assert!(
        matches!(report.event, Execution::Canceled(_)),
        "cancel: {report:?}"
    );
    core.close().unwrap_or_else(|e| panic!("close: {e}"));
    drop(core);

    let core = open_core(&journal, FsyncPolicy::EveryRecord);
    for &n in &accepted {
        let status = core.orders().get(&key(n)).map(|o| o.status());
        assert_eq!(status, Some(OrdStatus::New), "order {n} after the reopen");
    }
    let canceled = core.orders().get(&key(first)).map(|o| o.status());
    assert_eq!(
        canceled,
        Some(OrdStatus::Canceled),
        "the canceled order after the reopen"
    );
    for n in [refused, refused + 1] {
        assert!(
            core.orders().get(&key(n)).is_none(),
            "refused order {n} came back"
        );
    }
    assert_eq!(core.orders().len(), accepted.len() + 1);
}

/// On a full disk, work already accepted still completes: resting orders can be canceled
/// and a sell that sweeps every resting bid trades in full (the venue's answers go into
/// the journal's reserved headroom), while new bids are refused; nothing stops the core.
#[test]
fn accepted_work_completes_on_a_full_disk_while_new_orders_are_refused() {
    let Some((_fs, filler, journal)) = nearly_full_disk() else {
        return;
    };
    let mut core = open_core(&journal, FsyncPolicy::EveryRecord);
    let mut resting = Vec::new();
    let mut n = 0;
    loop {
        n += 1;
        assert!(
            n <= MAX_ORDERS,
            "the disk never filled in {MAX_ORDERS} orders"
        );
        match send(&mut core, n).event {
            Execution::Accepted(_) => resting.push(n),
            Execution::Rejected(_) => break,
            other => panic!("order {n}: unexpected {other:?}"),
        }
    }
    assert!(resting.len() > 2, "too few resting bids: {}", resting.len());
    // Cancel one resting bid while the disk is full.
    let victim = resting.remove(0);
    let t = (n + 1) * 1_000_000;
    let cancel = CancelOrder::new(
        id("X1"),
        id(&format!("D{victim}")),
        ACME,
        ALICE,
        Side::Buy,
        TickCause::NONE,
    );
    let reports = cycle(&mut core, t, |c| {
        c.handle_cancel(now(t), ORIGIN, &cancel)
            .unwrap_or_else(|e| panic!("cancel: the core stopped: {e}"));
    });
    assert!(
        reports
            .iter()
            .any(|r| matches!(r.event, Execution::Canceled(_))),
        "cancel on a full disk: {reports:?}"
    );
    // A sell sweeping the first resting bids: its order record needs headroom it does not
    // get (refused), so free a little space first, exactly as an operator would, then
    // check the sweep's many fills all land even though the disk fills again.
    fs::remove_file(&filler).unwrap_or_else(|e| panic!("removing the filler: {e}"));
    fs::write(&filler, vec![0xA5u8; 440 << 10]).unwrap_or_else(|e| panic!("filler: {e}"));
    let sweep_qty = resting.len().min(40) as u64;
    let sell = NewOrder::new(
        id("SWEEP"),
        &OrderSpec {
            instrument: ACME,
            account: AccountId(2),
            side: Side::Sell,
            ord_type: OrderType::Limit,
            tif: TimeInForce::Day,
            price: Price::from_ticks(50 * Price::SCALE),
            qty: Qty(sweep_qty),
        },
        TickCause::NONE,
    );
    let t = (n + 2) * 1_000_000;
    let reports = cycle(&mut core, t, |c| {
        c.handle_new(now(t), Origin::Fix(2), &sell)
            .unwrap_or_else(|e| panic!("sweep: the core stopped: {e}"));
    });
    let fills = reports
        .iter()
        .filter(|r| matches!(r.event, Execution::Filled(_)))
        .count();
    assert!(
        matches!(
            reports.first().map(|r| r.event),
            Some(Execution::Accepted(_))
        ),
        "the sweep after freeing a little space: {reports:?}"
    );
    assert_eq!(
        fills as u64,
        2 * sweep_qty,
        "the sweep's fills (both sides) on a nearly full disk: {reports:?}"
    );
    core.close().unwrap_or_else(|e| panic!("close: {e}"));
}
