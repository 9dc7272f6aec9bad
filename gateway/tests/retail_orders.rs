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
use tickwarp_gateway::service::{GatewayAgent, GatewayConfig};
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

/// Cancel-on-disconnect grace of session C1 in these tests.
const GRACE: Duration = Duration::from_secs(5);

/// A gateway in `dir` whose session C1 (account 101) cancels on disconnect after
/// [`GRACE`]; C2 (account 102) does not.
fn cod_lab(dir: tempfile::TempDir, now: tickwarp_gateway::fix::Now) -> Result<Lab> {
    let hash = tickwarp_gateway::service::acceptor::hash_password(PW.as_bytes())?;
    let text = format!(
        r#"
        listen = "127.0.0.1:0"
        [journal]
        dir = "{dir}"
        [risk]
        max_order_qty = 1000
        max_notional = "1000000"
        collar_bps = 0
        credit_limit = "100000000"
        max_position = 100000
        max_orders_per_day = 100000
        [[instruments]]
        symbol = "ACME"
        id = 1
        [[sessions]]
        id = 1
        sender_comp_id = "GW"
        target_comp_id = "C1"
        password_hash = "{hash}"
        account = 101
        cancel_on_disconnect = true
        cancel_on_disconnect_grace_ms = {grace}
        [[sessions]]
        id = 2
        sender_comp_id = "GW"
        target_comp_id = "C2"
        allow_no_password = true
        account = 102
        [[venue.liquidity]]
        symbol = "ACME"
        side = "sell"
        price = "101"
        qty = 100
        "#,
        dir = dir.path().display(),
        grace = GRACE.as_millis(),
    );
    let config = GatewayConfig::from_toml(&text, dir.path())?;
    let agent = GatewayAgent::from_config(&config, now)?;
    let addr = agent.fix_addr();
    Ok(Lab {
        agent,
        now,
        addr,
        dir,
    })
}

/// Steps until session 1 has no connection.
fn dropped(lab: &mut Lab, c: &mut Client) -> Result<()> {
    lab.until("session C1 without a connection", |lab| {
        while c.poll()?.is_some() {}
        Ok(lab.agent.fix().session_state(1).is_none())
    })?;
    Ok(())
}

/// Runs a few duty cycles at the current virtual time.
fn settle(lab: &mut Lab) -> Result<()> {
    for _ in 0..20 {
        lab.step()?;
    }
    Ok(())
}

/// Reconnects session C1 continuing `old`'s sequence numbers, asks for what it missed,
/// and returns the ExecutionReports the resend brings.
fn relogon_and_resend(lab: &mut Lab, old: &Client) -> Result<(Client, Vec<Out>)> {
    let mut c = lab.connect(REAL, "C1")?;
    c.next_out = old.next_out;
    c.last_in = old.last_in;
    let expected = old.last_in + 1;
    let logon = lab.logon(&mut c, Some(PW))?;
    let seq = logon.num(tag::MSG_SEQ_NUM)?;
    ensure!(
        seq > expected,
        "no gap to resend: Logon {seq}, expected {expected}"
    );
    let (begin, end) = (expected.to_string(), "0");
    send(lab, &mut c, "2", &[(7, &begin), (16, end)])?;
    let mut reports = Vec::new();
    // Everything from `expected` up to the Logon's predecessor comes back.
    let mut last = expected;
    while last < seq {
        let out = next(lab, &mut c, "resent messages")?;
        let n = out.num(tag::MSG_SEQ_NUM)?;
        if out.msg_type() == "4" {
            last = out.num(36)?.saturating_sub(1).max(n);
            continue;
        }
        last = n;
        if out.msg_type() == "8" {
            reports.push(out);
        }
    }
    Ok((c, reports))
}

#[test]
fn cancel_on_disconnect_after_the_grace_period_unless_the_session_returns() -> Result<()> {
    let dir = front::journal_dir()?;
    let now = tickwarp_gateway::fix::Now {
        mono: tickwarp_runtime::clock::monotonic_now(),
        wall: tickwarp_runtime::clock::unix_now(),
    };
    let mut lab = cod_lab(dir, now)?;
    // Past the start's own grace period (no orders then: nothing to cancel).
    settle(&mut lab)?;
    lab.advance(GRACE * 2);
    settle(&mut lab)?;

    // Disconnect, grace, canceled; C2's order (no cancel-on-disconnect) stays.
    let mut c1 = logged_on(&mut lab, "C1")?;
    let mut c2 = logged_on(&mut lab, "C2")?;
    limit(&mut lab, &mut c1, "B1", "1", "100", "10")?;
    limit(&mut lab, &mut c2, "D1", "1", "99", "10")?;
    drop(c2);
    if let front::Wire::Tcp(tcp) = &c1.stream {
        tcp.shutdown(std::net::Shutdown::Both)?;
    }
    dropped(&mut lab, &mut c1)?;
    settle(&mut lab)?;
    lab.advance(GRACE - Duration::from_millis(1));
    settle(&mut lab)?;
    ensure!(
        status(&lab, 101, "B1")? == Some(OrdStatus::New),
        "canceled before the grace period"
    );
    lab.advance(Duration::from_millis(1));
    lab.until("B1 canceled", |lab| {
        Ok(status(lab, 101, "B1")? == Some(OrdStatus::Canceled))
    })?;
    ensure!(status(&lab, 102, "D1")? == Some(OrdStatus::New));

    // The client sees the cancel on its next Logon (resend of what it missed).
    let (mut c1, reports) = relogon_and_resend(&mut lab, &c1)?;
    ensure!(
        reports.iter().any(|r| field(r, 11) == "B1"
            && field(r, tag::EXEC_TYPE) == "4"
            && field(r, 43) == "Y"),
        "no cancel of B1 resent: {reports:?}"
    );

    // Reconnect before the grace period is over: not canceled.
    limit(&mut lab, &mut c1, "B2", "1", "100", "10")?;
    if let front::Wire::Tcp(tcp) = &c1.stream {
        tcp.shutdown(std::net::Shutdown::Both)?;
    }
    dropped(&mut lab, &mut c1)?;
    settle(&mut lab)?;
    lab.advance(GRACE / 2);
    let mut c1b = lab.connect(REAL, "C1")?;
    c1b.next_out = c1.next_out;
    c1b.last_in = c1.last_in;
    lab.logon(&mut c1b, Some(PW))?;
    lab.advance(GRACE * 2);
    settle(&mut lab)?;
    ensure!(
        status(&lab, 101, "B2")? == Some(OrdStatus::New),
        "canceled although back in time"
    );

    // Logout: canceled after the grace period.
    send(&lab, &mut c1b, "5", &[])?;
    dropped(&mut lab, &mut c1b)?;
    settle(&mut lab)?;
    lab.advance(GRACE);
    lab.until("B2 canceled after Logout", |lab| {
        Ok(status(lab, 101, "B2")? == Some(OrdStatus::Canceled))
    })?;
    Ok(())
}

#[test]
fn cancel_on_disconnect_after_a_restart_runs_the_grace_period_from_the_start() -> Result<()> {
    let dir = front::journal_dir()?;
    let now = tickwarp_gateway::fix::Now {
        mono: tickwarp_runtime::clock::monotonic_now(),
        wall: tickwarp_runtime::clock::unix_now(),
    };
    let mut lab = cod_lab(dir, now)?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    limit(&mut lab, &mut c1, "B1", "1", "100", "10")?;
    // The gateway stops with C1 logged on (its orders acknowledged and journaled).
    let Lab {
        agent, now, dir, ..
    } = lab;
    drop(agent);
    let mut lab = cod_lab(dir, now)?;
    ensure!(
        status(&lab, 101, "B1")? == Some(OrdStatus::New),
        "B1 not recovered"
    );
    settle(&mut lab)?;
    lab.advance(GRACE - Duration::from_millis(1));
    settle(&mut lab)?;
    ensure!(
        status(&lab, 101, "B1")? == Some(OrdStatus::New),
        "canceled before the grace period"
    );
    lab.advance(Duration::from_millis(1));
    lab.until("B1 canceled after the restart", |lab| {
        Ok(status(lab, 101, "B1")? == Some(OrdStatus::Canceled))
    })?;
    let (_c1, reports) = relogon_and_resend(&mut lab, &c1)?;
    ensure!(
        reports
            .iter()
            .any(|r| field(r, 11) == "B1" && field(r, tag::EXEC_TYPE) == "4"),
        "no cancel of B1 resent: {reports:?}"
    );
    Ok(())
}

/// A RequestForPositions body for account `account`, PosReqType `pos_type`.
fn request_for_positions<'a>(
    id: &'a str,
    account: &'a str,
    pos_type: &'a str,
) -> Vec<(u32, &'a str)> {
    vec![
        (710, id),
        (724, pos_type),
        (453, "1"),
        (448, account),
        (447, "D"),
        (452, "24"),
        (1, account),
        (581, "1"),
        (715, "20251125"),
        (60, "20251125-10:00:00.000"),
    ]
}

/// Sends a RequestForPositions and returns the AO and the APs it announces.
fn positions(lab: &mut Lab, c: &mut Client, body: &[(u32, &str)]) -> Result<(Out, Vec<Out>)> {
    send(lab, c, "AN", body)?;
    let ao = next(lab, c, "RequestForPositionsAck")?;
    ensure!(ao.msg_type() == "AO", "{ao:?}");
    let mut reports = Vec::new();
    for _ in 0..ao.num(727)? {
        let ap = next(lab, c, "PositionReport")?;
        ensure!(ap.msg_type() == "AP", "{ap:?}");
        reports.push(ap);
    }
    Ok((ao, reports))
}

/// Waits until `cl`'s order of `account` has status `want`, reading `c`'s messages.
fn wait_status(
    lab: &mut Lab,
    c: &mut Client,
    account: u32,
    cl: &str,
    want: OrdStatus,
) -> Result<()> {
    lab.until(cl, |lab| {
        while c.poll()?.is_some() {}
        Ok(status(lab, account, cl)? == Some(want))
    })?;
    Ok(())
}

#[test]
fn positions_from_trades_between_two_accounts_survive_a_restart() -> Result<()> {
    let dir = front::journal_dir()?;
    let now = tickwarp_gateway::fix::Now {
        mono: tickwarp_runtime::clock::monotonic_now(),
        wall: tickwarp_runtime::clock::unix_now(),
    };
    let mut lab = cod_lab(dir, now)?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    let mut c2 = logged_on(&mut lab, "C2")?;

    // No fills yet: PosReqResult 2, no reports.
    let (ao, aps) = positions(&mut lab, &mut c1, &request_for_positions("P0", "101", "0"))?;
    ensure!(
        field(&ao, 728) == "2" && field(&ao, 729) == "0" && aps.is_empty(),
        "{ao:?}"
    );

    // C1 sells 10 @ 100; C2 buys 4 @ 100 from it. C1 cancels the rest and buys 4 back
    // from the house's offer at 101.
    limit(&mut lab, &mut c1, "S1", "2", "100", "10")?;
    limit(&mut lab, &mut c2, "B1", "1", "100", "4")?;
    wait_status(&mut lab, &mut c1, 101, "S1", OrdStatus::PartiallyFilled)?;
    send(
        &lab,
        &mut c1,
        "q",
        &[(11, "M1"), (530, "7"), (60, "20251125-10:00:00.000")],
    )?;
    wait_status(&mut lab, &mut c1, 101, "S1", OrdStatus::Canceled)?;
    limit(&mut lab, &mut c1, "B2", "1", "101", "4")?;
    wait_status(&mut lab, &mut c1, 101, "B2", OrdStatus::Filled)?;
    while c1.poll()?.is_some() {}
    while c2.poll()?.is_some() {}

    // By hand: C1 sold 4 at 100 and bought 4 at 101: flat, realized 4 × (100 − 101) = −4.
    // C2 bought 4 at 100: long 4 at 100, nothing realized.
    let check = |lab: &mut Lab, c1: &mut Client, c2: &mut Client| -> Result<()> {
        let (ao, aps) = positions(lab, c1, &request_for_positions("P1", "101", "0"))?;
        ensure!(field(&ao, 728) == "0" && field(&ao, 727) == "1", "{ao:?}");
        let ap = &aps[0];
        for (t, want) in [
            (55, "ACME"),
            (710, "P1"),
            (703, "TQ"),
            (704, "4"),
            (705, "4"),
            (730, "0"),
            (707, "CASH"),
            (708, "-4"),
            (1, "101"),
            (715, "20251125"),
        ] {
            ensure!(field(ap, t) == want, "C1 tag {t}: want {want} in {ap:?}");
        }
        let (_, aps) = positions(lab, c2, &request_for_positions("P2", "102", "0"))?;
        let ap = &aps[0];
        for (t, want) in [(704, "4"), (705, "0"), (730, "100"), (708, "0")] {
            ensure!(field(ap, t) == want, "C2 tag {t}: want {want} in {ap:?}");
        }
        Ok(())
    };
    check(&mut lab, &mut c1, &mut c2)?;

    // Refusals: another PosReqType, another account, a missing required field.
    let (ao, aps) = positions(&mut lab, &mut c1, &request_for_positions("P3", "101", "1"))?;
    ensure!(
        field(&ao, 728) == "4" && field(&ao, 729) == "2" && aps.is_empty(),
        "{ao:?}"
    );
    let (ao, _) = positions(&mut lab, &mut c1, &request_for_positions("P4", "102", "0"))?;
    ensure!(field(&ao, 728) == "3" && field(&ao, 729) == "2", "{ao:?}");
    let mut body = request_for_positions("P5", "101", "0");
    body.retain(|(t, _)| *t != 715);
    send(&lab, &mut c1, "AN", &body)?;
    let rej = next(&mut lab, &mut c1, "AN without ClearingBusinessDate")?;
    ensure!(
        rej.msg_type() == "3" && field(&rej, 371) == "715",
        "{rej:?}"
    );

    // The same numbers after a restart (rebuilt from the journal's fills).
    drop((c1, c2));
    let Lab {
        agent, now, dir, ..
    } = lab;
    drop(agent);
    let mut lab = cod_lab(dir, now)?;
    // New connections with ResetSeqNumFlag: both sides start at 1 again.
    let mut c1 = lab.connect(REAL, "C1")?;
    send(
        &lab,
        &mut c1,
        "A",
        &[(98, "0"), (108, "30"), (554, PW), (141, "Y")],
    )?;
    let _ = next(&mut lab, &mut c1, "Logon answer")?;
    let mut c2 = lab.connect(REAL, "C2")?;
    send(&lab, &mut c2, "A", &[(98, "0"), (108, "30"), (141, "Y")])?;
    let _ = next(&mut lab, &mut c2, "Logon answer")?;
    check(&mut lab, &mut c1, &mut c2)
}

#[test]
fn a_flood_of_status_requests_is_throttled_like_orders() -> Result<()> {
    // The default throttle: bursts of 100 messages, 1,000 a second; the clock stands.
    let mut lab = Lab::start("")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    for _ in 0..120 {
        send(&lab, &mut c1, "H", &[(11, "NOPE"), (54, "1")])?;
    }
    let (mut answered, mut throttled) = (0, 0);
    for _ in 0..120 {
        let out = next(&mut lab, &mut c1, "answers to the flood")?;
        match out.msg_type() {
            "8" => answered += 1,
            "j" if field(&out, 372) == "H" && field(&out, 58).contains("rate") => throttled += 1,
            _ => anyhow::bail!("unexpected answer {out:?}"),
        }
    }
    ensure!(
        (answered, throttled) == (100, 20),
        "{answered} answered, {throttled} throttled"
    );
    Ok(())
}
