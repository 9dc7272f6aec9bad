//! Retail order entry against the real gateway agent on loopback (virtual clock, bounded
//! waits): OrderStatusRequest (H), OrderMassCancelRequest (q) → OrderMassCancelReport
//! (r) and the cancels' ExecutionReports, OrderMassStatusRequest (AF); each with its
//! success and reject cases as FIX 4.4 Vol. 4 describes them.

#[path = "front/mod.rs"]
mod front;

use std::time::Duration;

use anyhow::{Result, ensure};
use front::{Client, Lab, Out, PW, REAL};
use tickwarp_gateway::fix::MsgType;
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::orders::{OrdStatus, OrderKey};
use tickwarp_wire::{AccountId, ClientOrderId};

/// A MsgType from its text.
fn mt(s: &str) -> MsgType {
    MsgType::from_bytes(s.as_bytes()).unwrap_or(MsgType::UNKNOWN)
}

/// A logged-on client of session `sender` (C1 with its password, C2 without).
fn logged_on(lab: &mut Lab, sender: &str) -> Result<Client> {
    let mut c = lab.connect(REAL, sender)?;
    let pw = (sender == "C1").then_some(PW);
    lab.logon(&mut c, pw)?;
    Ok(c)
}

/// Sends `msg_type` with the `(tag, value)` body fields.
fn send(lab: &Lab, c: &mut Client, msg_type: &str, body: &[(u32, &str)]) -> Result<()> {
    c.send(lab.now.wall, mt(msg_type), |w| {
        for (t, v) in body {
            w.str(*t, v);
        }
    })
}

/// Receives the next message that is not a Heartbeat.
fn next(lab: &mut Lab, c: &mut Client, what: &str) -> Result<Out> {
    loop {
        let out = lab.recv(c, what)?;
        if out.msg_type() != "0" {
            return Ok(out);
        }
    }
}

/// Sends a limit order and returns its first ExecutionReport.
fn limit(lab: &mut Lab, c: &mut Client, cl: &str, side: &str, px: &str, qty: &str) -> Result<Out> {
    let ts = "20251125-10:00:00.000";
    send(
        lab,
        c,
        "D",
        &[
            (11, cl),
            (55, "ACME"),
            (54, side),
            (60, ts),
            (38, qty),
            (40, "2"),
            (44, px),
            (59, "1"),
        ],
    )?;
    let er = next(lab, c, cl)?;
    ensure!(
        er.msg_type() == "8",
        "{cl}: expected an ExecutionReport, got {er:?}"
    );
    Ok(er)
}

fn status(lab: &Lab, account: u32, cl: &str) -> Result<Option<OrdStatus>> {
    let k = OrderKey {
        account: AccountId(account),
        cl_ord_id: ClientOrderId::new(cl)?,
    };
    Ok(lab.agent.core().orders().get(&k).map(|o| o.status()))
}

fn field(out: &Out, t: u32) -> &str {
    out.get(t).unwrap_or("")
}

#[test]
fn order_status_request_reports_the_order_or_unknown_order() -> Result<()> {
    let mut lab = Lab::start("")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    let new = limit(&mut lab, &mut c1, "B1", "1", "100", "10")?;
    ensure!(field(&new, tag::EXEC_TYPE) == "0", "{new:?}");
    let order_id = field(&new, tag::ORDER_ID).to_owned();
    // Crosses the venue's resting offer (100 @ 101): filled at once.
    let mut er = limit(&mut lab, &mut c1, "B2", "1", "101", "5")?;
    while field(&er, tag::EXEC_TYPE) != "F" {
        ensure!(field(&er, tag::EXEC_TYPE) == "0", "{er:?}");
        er = next(&mut lab, &mut c1, "fill of B2")?;
    }

    // By ClOrdID: resting, nothing traded.
    send(&lab, &mut c1, "H", &[(11, "B1"), (54, "1"), (790, "Q1")])?;
    let er = next(&mut lab, &mut c1, "status of B1")?;
    ensure!(er.msg_type() == "8", "{er:?}");
    for (t, want) in [
        (tag::EXEC_TYPE, "I"),
        (tag::ORD_STATUS, "0"),
        (tag::CL_ORD_ID, "B1"),
        (tag::ORDER_ID, order_id.as_str()),
        (tag::LEAVES_QTY, "10"),
        (tag::CUM_QTY, "0"),
        (tag::SIDE, "1"),
        (tag::SYMBOL, "ACME"),
        (790, "Q1"),
    ] {
        ensure!(field(&er, t) == want, "tag {t}: want {want} in {er:?}");
    }
    ensure!(field(&er, tag::EXEC_ID).starts_with('S'), "{er:?}");

    // By OrderID, which wins over the ClOrdID given.
    send(&lab, &mut c1, "H", &[(37, &order_id), (11, "X"), (54, "1")])?;
    let er = next(&mut lab, &mut c1, "status by OrderID")?;
    ensure!(
        field(&er, tag::CL_ORD_ID) == "B1" && field(&er, tag::ORD_STATUS) == "0",
        "{er:?}"
    );

    // Filled: CumQty, AvgPx.
    send(&lab, &mut c1, "H", &[(11, "B2"), (54, "1")])?;
    let er = next(&mut lab, &mut c1, "status of B2")?;
    for (t, want) in [
        (tag::ORD_STATUS, "2"),
        (tag::CUM_QTY, "5"),
        (tag::LEAVES_QTY, "0"),
        (tag::AVG_PX, "101"),
    ] {
        ensure!(field(&er, t) == want, "tag {t}: want {want} in {er:?}");
    }

    // Unknown: a ClOrdID never sent, the wrong side, another account, a foreign OrderID.
    for (what, body) in [
        ("unknown ClOrdID", vec![(11, "NOPE"), (54, "1")]),
        ("other side", vec![(11, "B1"), (54, "2")]),
        ("other account", vec![(11, "B1"), (54, "1"), (1, "102")]),
        ("foreign OrderID", vec![(37, "ABC"), (11, "B1"), (54, "1")]),
    ] {
        send(&lab, &mut c1, "H", &body)?;
        let er = next(&mut lab, &mut c1, what)?;
        ensure!(er.msg_type() == "8", "{what}: {er:?}");
        for (t, want) in [
            (tag::EXEC_TYPE, "I"),
            (tag::ORD_STATUS, "8"),
            (tag::ORD_REJ_REASON, "5"),
            (tag::LEAVES_QTY, "0"),
        ] {
            ensure!(
                field(&er, t) == want,
                "{what}: tag {t}: want {want} in {er:?}"
            );
        }
    }

    // Another session's account never sees C1's order.
    let mut c2 = logged_on(&mut lab, "C2")?;
    send(&lab, &mut c2, "H", &[(11, "B1"), (54, "1")])?;
    let er = next(&mut lab, &mut c2, "C2 asks for B1")?;
    ensure!(
        field(&er, tag::ORD_STATUS) == "8" && field(&er, tag::ORD_REJ_REASON) == "5",
        "{er:?}"
    );

    // Side (54) is required: a session Reject naming it.
    send(&lab, &mut c1, "H", &[(11, "B1")])?;
    let rej = next(&mut lab, &mut c1, "H without Side")?;
    ensure!(rej.msg_type() == "3", "{rej:?}");
    ensure!(
        field(&rej, 371) == "54" && field(&rej, 373) == "1",
        "{rej:?}"
    );
    Ok(())
}

#[test]
fn mass_cancel_reports_then_cancels_through_the_order_path() -> Result<()> {
    let mut lab = Lab::start("")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    let mut c2 = logged_on(&mut lab, "C2")?;
    limit(&mut lab, &mut c1, "B1", "1", "100", "10")?;
    limit(&mut lab, &mut c1, "B2", "1", "99", "10")?;
    limit(&mut lab, &mut c1, "S1", "2", "105", "5")?;
    limit(&mut lab, &mut c2, "D1", "1", "98", "10")?;
    let ts = "20251125-10:00:00.000";

    // Unsupported type and unknown security: MassCancelResponse 0 with the reason.
    for (what, body, reason) in [
        ("type 3", vec![(11, "M0"), (530, "3"), (60, ts)], "0"),
        (
            "unknown symbol",
            vec![(11, "M0"), (530, "1"), (55, "ZZZ"), (60, ts)],
            "1",
        ),
    ] {
        send(&lab, &mut c1, "q", &body)?;
        let r = next(&mut lab, &mut c1, what)?;
        ensure!(r.msg_type() == "r", "{what}: {r:?}");
        ensure!(
            field(&r, 531) == "0" && field(&r, 532) == reason,
            "{what}: {r:?}"
        );
        ensure!(
            field(&r, 11) == "M0" && field(&r, 533) == "0",
            "{what}: {r:?}"
        );
    }
    // TransactTime (60) is required: a session Reject.
    send(&lab, &mut c1, "q", &[(11, "M0"), (530, "7")])?;
    let rej = next(&mut lab, &mut c1, "q without TransactTime")?;
    ensure!(rej.msg_type() == "3" && field(&rej, 371) == "60", "{rej:?}");

    // By security and side: only the sell.
    send(
        &lab,
        &mut c1,
        "q",
        &[(11, "M1"), (530, "1"), (55, "ACME"), (54, "2"), (60, ts)],
    )?;
    let r = next(&mut lab, &mut c1, "mass cancel of the sells")?;
    ensure!(r.msg_type() == "r", "{r:?}");
    ensure!(field(&r, 531) == "1" && field(&r, 533) == "1", "{r:?}");
    let er = next(&mut lab, &mut c1, "cancel of S1")?;
    ensure!(
        er.msg_type() == "8" && field(&er, tag::EXEC_TYPE) == "4" && field(&er, 11) == "S1",
        "{er:?}"
    );
    ensure!(status(&lab, 101, "S1")? == Some(OrdStatus::Canceled));
    ensure!(status(&lab, 101, "B1")? == Some(OrdStatus::New));

    // All orders: both buys; C2's order stays.
    send(&lab, &mut c1, "q", &[(11, "M2"), (530, "7"), (60, ts)])?;
    let r = next(&mut lab, &mut c1, "mass cancel of all")?;
    ensure!(field(&r, 531) == "7" && field(&r, 533) == "2", "{r:?}");
    let mut canceled = Vec::new();
    for _ in 0..2 {
        let er = next(&mut lab, &mut c1, "cancels of the buys")?;
        ensure!(
            field(&er, tag::EXEC_TYPE) == "4" && field(&er, tag::ORD_STATUS) == "4",
            "{er:?}"
        );
        canceled.push(field(&er, 11).to_owned());
    }
    canceled.sort();
    ensure!(canceled == ["B1", "B2"], "{canceled:?}");
    for cl in ["B1", "B2"] {
        ensure!(status(&lab, 101, cl)? == Some(OrdStatus::Canceled), "{cl}");
    }
    ensure!(status(&lab, 102, "D1")? == Some(OrdStatus::New));
    // The venue's book no longer holds them: a sell at 98 trades with C2's bid only.
    let sell = limit(&mut lab, &mut c1, "S2", "2", "98", "10")?;
    ensure!(
        field(&sell, tag::EXEC_TYPE) == "0" || field(&sell, tag::EXEC_TYPE) == "F",
        "{sell:?}"
    );
    let mut filled = field(&sell, tag::EXEC_TYPE) == "F";
    while !filled {
        let er = next(&mut lab, &mut c1, "S2 fill")?;
        filled = field(&er, tag::EXEC_TYPE) == "F";
    }
    ensure!(status(&lab, 102, "D1")? == Some(OrdStatus::Filled));

    // Nothing left: affected 0.
    send(&lab, &mut c1, "q", &[(11, "M3"), (530, "7"), (60, ts)])?;
    let r = next(&mut lab, &mut c1, "mass cancel of nothing")?;
    ensure!(field(&r, 531) == "7" && field(&r, 533) == "0", "{r:?}");
    Ok(())
}

#[test]
fn mass_status_reports_each_open_order_and_marks_the_last() -> Result<()> {
    let mut lab = Lab::start("")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    limit(&mut lab, &mut c1, "B1", "1", "100", "10")?;
    limit(&mut lab, &mut c1, "B2", "1", "99", "7")?;
    limit(&mut lab, &mut c1, "S1", "2", "105", "5")?;

    // All orders.
    send(&lab, &mut c1, "AF", &[(584, "MS1"), (585, "7")])?;
    let mut seen = Vec::new();
    for i in 0..3 {
        let er = next(&mut lab, &mut c1, "mass status")?;
        ensure!(
            er.msg_type() == "8" && field(&er, tag::EXEC_TYPE) == "I",
            "{er:?}"
        );
        ensure!(field(&er, 584) == "MS1" && field(&er, 911) == "3", "{er:?}");
        let last = if i == 2 { "Y" } else { "N" };
        ensure!(field(&er, 912) == last, "report {i}: {er:?}");
        seen.push(field(&er, 11).to_owned());
    }
    ensure!(seen == ["B1", "B2", "S1"], "{seen:?}");

    // By security and side.
    send(
        &lab,
        &mut c1,
        "AF",
        &[(584, "MS2"), (585, "1"), (55, "ACME"), (54, "2")],
    )?;
    let er = next(&mut lab, &mut c1, "sells")?;
    ensure!(
        field(&er, 11) == "S1" && field(&er, 911) == "1" && field(&er, 912) == "Y",
        "{er:?}"
    );

    // By PartyID: the session's account number.
    let party = [
        (584, "MS3"),
        (585, "8"),
        (453, "1"),
        (448, "101"),
        (447, "D"),
        (452, "24"),
    ];
    send(&lab, &mut c1, "AF", &party)?;
    for _ in 0..3 {
        let er = next(&mut lab, &mut c1, "party status")?;
        ensure!(field(&er, 584) == "MS3" && field(&er, 911) == "3", "{er:?}");
    }

    // Nothing matches (another account's party): one report, TotNumReports 0, last.
    let other = [
        (584, "MS4"),
        (585, "8"),
        (453, "1"),
        (448, "102"),
        (447, "D"),
        (452, "24"),
    ];
    send(&lab, &mut c1, "AF", &other)?;
    let er = next(&mut lab, &mut c1, "no orders")?;
    for (t, want) in [
        (tag::EXEC_TYPE, "I"),
        (tag::ORD_STATUS, "8"),
        (tag::ORD_REJ_REASON, "5"),
        (584, "MS4"),
        (911, "0"),
        (912, "Y"),
    ] {
        ensure!(field(&er, t) == want, "tag {t}: want {want} in {er:?}");
    }

    // Unsupported type: BusinessMessageReject; type 1 without Symbol: conditionally
    // required field missing.
    send(&lab, &mut c1, "AF", &[(584, "MS5"), (585, "3")])?;
    let j = next(&mut lab, &mut c1, "type 3")?;
    ensure!(
        j.msg_type() == "j" && field(&j, 372) == "AF" && field(&j, 379) == "MS5",
        "{j:?}"
    );
    send(&lab, &mut c1, "AF", &[(584, "MS6"), (585, "1")])?;
    let j = next(&mut lab, &mut c1, "type 1 without Symbol")?;
    ensure!(j.msg_type() == "j" && field(&j, 380) == "5", "{j:?}");
    // MassStatusReqType (585) is required: a session Reject.
    send(&lab, &mut c1, "AF", &[(584, "MS7")])?;
    let rej = next(&mut lab, &mut c1, "AF without type")?;
    ensure!(
        rej.msg_type() == "3" && field(&rej, 371) == "585",
        "{rej:?}"
    );
    Ok(())
}

#[test]
fn mass_status_too_big_for_the_outbound_queue_is_refused_with_a_reason() -> Result<()> {
    // An outbound bound of 64 KiB takes 163 status reports at once.
    let mut lab = Lab::start("max_outbound_bytes = 65536")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    for i in 0..200 {
        // Within the default throttle (1,000 messages a second).
        lab.advance(Duration::from_millis(2));
        limit(&mut lab, &mut c1, &format!("B{i}"), "1", "90", "1")?;
    }
    send(&lab, &mut c1, "AF", &[(584, "BIG"), (585, "7")])?;
    let j = next(&mut lab, &mut c1, "too many")?;
    ensure!(j.msg_type() == "j" && field(&j, 379) == "BIG", "{j:?}");
    ensure!(field(&j, 58).starts_with("200 orders match"), "{j:?}");
    // Narrowed by side, the same request fits (none is a sell).
    send(
        &lab,
        &mut c1,
        "AF",
        &[(584, "SMALL"), (585, "7"), (54, "2")],
    )?;
    let er = next(&mut lab, &mut c1, "narrowed")?;
    ensure!(field(&er, 911) == "0" && field(&er, 912) == "Y", "{er:?}");
    Ok(())
}
