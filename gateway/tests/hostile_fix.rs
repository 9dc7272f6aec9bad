//! Hostile FIX clients against the real acceptor on loopback: squatters with big or slow
//! Logons, wrong-password floods beside the real client, throttling and lockout, failed
//! logons that must not touch the session store, a flooding session beside a quiet one,
//! a client that never reads, reports for a disconnected session, and plaintext
//! passwords at config load.
//!
//! The gateway agent is stepped on the test thread with a virtual clock (`Lab::now`), so
//! timeouts and delays are crossed by advancing it, never by sleeping; fairness is
//! asserted in duty cycles. Attackers connect from 127.0.0.2, the real client from
//! 127.0.0.1 (Linux routes all of 127/8 to loopback). Every wait is bounded in duty
//! cycles and fails with a message. The lab and the client are in `front/`, shared with
//! `fix_tls`.

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_gateway::fix::codec::MessageWriter;
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::{MsgType, SessionState};
use tickwarp_gateway::risk::KillScope;
use tickwarp_gateway::service::{ConfigError, GatewayConfig};
use tickwarp_gateway::venue::VenueTime;
use tickwarp_wire::AccountId;

mod front;

use front::{ATTACKER, Client, Lab, MAX_CYCLES, PW, REAL};

#[test]
fn squatters_never_block_the_real_client() -> Result<()> {
    let mut lab = Lab::start("")?;
    let wall = lab.now.wall;
    // A 16 KiB Logon with the right CompIDs: closed at the 4 KiB anonymous budget.
    let mut big = lab.connect(ATTACKER, "C1")?;
    big.send(wall, MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0)
            .uint(tag::HEART_BT_INT, 30)
            .str(tag::TEXT, &"x".repeat(16 << 10));
    })?;
    // A slow Logon: half of one, then nothing.
    let mut slow = lab.connect(ATTACKER, "C1")?;
    let mut half = Vec::new();
    let mut w = MessageWriter::begin(&mut half, MsgType::LOGON);
    w.uint(tag::MSG_SEQ_NUM, 1).str(tag::SENDER_COMP_ID, "C1");
    let range = w.finish();
    let half = half
        .get(range.start..range.start + 30)
        .unwrap_or_default()
        .to_vec();
    slow.write_all(&half)?;
    let seen = lab.closed(&mut big, "the oversized Logon is closed")?;
    ensure!(seen.is_empty(), "an oversized Logon was answered: {seen:?}");

    // The real client logs on at once, beside the slow squatter.
    let mut real = lab.connect(REAL, "C1")?;
    let logon = lab.logon(&mut real, Some(PW))?;
    ensure!(logon.num(tag::MSG_SEQ_NUM)? == 1, "{logon:?}");
    ensure!(lab.agent.fix().session_state(1) == Some(SessionState::Active));
    ensure!(
        lab.agent.fix().anonymous_connections() == 1,
        "the slow squatter waits"
    );

    // The slow squatter is dropped at the logon timeout (2 s by default).
    lab.advance(Duration::from_millis(2_001));
    lab.closed(&mut slow, "the slow Logon times out")?;
    ensure!(lab.agent.fix().anonymous_connections() == 0);

    // A wrong password for the live session: refused, the session stays.
    let mut guess = lab.connect(ATTACKER, "C1")?;
    let wall = lab.now.wall;
    guess.send(wall, MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0)
            .uint(tag::HEART_BT_INT, 30)
            .str(tag::PASSWORD, "guess");
    })?;
    let answer = lab.closed(&mut guess, "a wrong password is refused")?;
    ensure!(
        answer.first().and_then(|o| o.get(tag::TEXT)) == Some("invalid username or password"),
        "{answer:?}"
    );
    // The right password on a second connection: the established one keeps the session.
    let mut second = lab.connect(REAL, "C1")?;
    let wall = lab.now.wall;
    second.send(wall, MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0)
            .uint(tag::HEART_BT_INT, 30)
            .str(tag::PASSWORD, PW);
    })?;
    let answer = lab.closed(&mut second, "a second logon is refused")?;
    ensure!(
        answer.first().and_then(|o| o.get(tag::TEXT))
            == Some("session already logged on from another connection"),
        "{answer:?}"
    );
    ensure!(lab.agent.fix().stats().duplicate == 1);

    // The real session still answers.
    let wall = lab.now.wall;
    real.send(wall, MsgType::TEST_REQUEST, |w| {
        w.str(tag::TEST_REQ_ID, "still-here");
    })?;
    let hb = lab.recv(&mut real, "Heartbeat")?;
    ensure!(hb.get(tag::TEST_REQ_ID) == Some("still-here"), "{hb:?}");
    ensure!(lab.agent.fix().session_state(1) == Some(SessionState::Active));
    Ok(())
}

/// A wrong-password Logon for C1 from the attacker; returns its connection.
fn guess(lab: &mut Lab) -> Result<Client> {
    let mut c = lab.connect(ATTACKER, "C1")?;
    let wall = lab.now.wall;
    c.send(wall, MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0)
            .uint(tag::HEART_BT_INT, 30)
            .str(tag::PASSWORD, "wrong");
    })?;
    Ok(c)
}

#[test]
fn wrong_password_floods_delay_then_lock_out_the_attacker_not_the_client() -> Result<()> {
    let mut lab = Lab::start(
        "delay_after = 2\ndelay_base_ms = 1000\ndelay_max_ms = 4000\nlockout_after = 6\nlockout_secs = 300",
    )?;
    let mut real_logons = 0;
    for round in 0..3 {
        // Two guesses per round beside a real logon, logout and reconnect.
        let mut guesses = vec![guess(&mut lab)?, guess(&mut lab)?];
        let mut real = lab.connect(REAL, "C1")?;
        real.next_out = lab_next_in(round);
        lab.logon(&mut real, Some(PW))?;
        real_logons += 1;
        let wall = lab.now.wall;
        real.send(wall, MsgType::LOGOUT, |_| {})?;
        let bye = lab.closed(&mut real, "logout")?;
        ensure!(bye.iter().any(|o| o.msg_type() == "5"), "{bye:?}");
        // Answers to the guesses: the first two failures at once, later ones only after
        // their delay (the clock does not move until the check below).
        let mut delayed = Vec::new();
        for (k, g) in guesses.iter_mut().enumerate() {
            let failure = round * 2 + k + 1;
            if failure <= 2 {
                let out = lab.closed(g, "an early failure is answered at once")?;
                ensure!(out.first().is_some_and(|o| o.msg_type() == "5"), "{out:?}");
            } else {
                delayed.push(failure);
            }
        }
        if !delayed.is_empty() {
            for _ in 0..50 {
                lab.step()?;
            }
            for g in &mut guesses {
                ensure!(
                    g.poll()?.is_none() && !g.closed,
                    "failures {delayed:?}: answered early"
                );
            }
            lab.advance(Duration::from_millis(4_000));
            for g in &mut guesses {
                let out = lab.closed(g, "a delayed failure is answered after its delay")?;
                ensure!(out.first().is_some_and(|o| o.msg_type() == "5"), "{out:?}");
            }
        }
    }
    ensure!(real_logons == 3);
    // Six failures locked the attacker's address out: its next connection is closed
    // unread, while the real client still logs on.
    let before = lab.agent.fix().stats();
    ensure!(before.failed == 6, "{before:?}");
    let mut locked = guess(&mut lab)?;
    let out = lab.closed(&mut locked, "a locked-out address is closed at accept")?;
    ensure!(out.is_empty(), "{out:?}");
    ensure!(lab.agent.fix().stats().locked_out == before.locked_out + 1);
    ensure!(
        lab.agent.fix().stats().failed == before.failed,
        "not even counted"
    );
    let mut real = lab.connect(REAL, "C1")?;
    real.next_out = lab_next_in(3);
    lab.logon(&mut real, Some(PW))?;
    // The lockout ends.
    lab.advance(Duration::from_secs(301));
    let mut again = guess(&mut lab)?;
    let out = lab.closed(&mut again, "after the lockout, a guess is answered again")?;
    ensure!(out.first().is_some_and(|o| o.msg_type() == "5"), "{out:?}");
    // Only the first real logon needed argon2; the guesses after it were checked
    // against the cached MAC.
    let stats = lab.agent.fix().stats();
    ensure!(stats.argon2_verifications <= 3, "{stats:?}");
    Ok(())
}

/// The MsgSeqNum the real client sends its Logon with in round `round` (each round is
/// Logon + Logout).
fn lab_next_in(round: usize) -> u64 {
    round as u64 * 2 + 1
}

#[test]
fn failed_logons_cost_no_store_write_and_no_sequence_number() -> Result<()> {
    let mut lab = Lab::start("delay_after = 100")?;
    lab.step()?;
    let before = lab.session_log_digest()?;
    for k in 0..5 {
        let mut g = guess(&mut lab)?;
        let out = lab.closed(&mut g, "a guess is refused")?;
        let logout = out.first().context("a Logout")?;
        ensure!(logout.msg_type() == "5", "{logout:?}");
        ensure!(
            logout.num(tag::MSG_SEQ_NUM)? == 1,
            "guess {k} consumed a MsgSeqNum"
        );
    }
    // Unknown CompIDs, not a Logon, garbage: closed, no store touched.
    let mut stranger = lab.connect(ATTACKER, "NOBODY")?;
    let wall = lab.now.wall;
    stranger.send(wall, MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
    })?;
    ensure!(lab.closed(&mut stranger, "unknown CompIDs")?.is_empty());
    let mut order = lab.connect(ATTACKER, "C1")?;
    order.send(wall, MsgType::HEARTBEAT, |_| {})?;
    ensure!(
        lab.closed(&mut order, "first message not a Logon")?
            .is_empty()
    );
    let mut junk = lab.connect(ATTACKER, "C1")?;
    junk.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
    ensure!(lab.closed(&mut junk, "garbage")?.is_empty());
    ensure!(
        lab.session_log_digest()? == before,
        "a failed logon wrote to the store"
    );
    ensure!(lab.agent.fix().stats().failed == 8);
    // The real client then starts at MsgSeqNum 1 both ways.
    let mut real = lab.connect(REAL, "C1")?;
    let logon = lab.logon(&mut real, Some(PW))?;
    ensure!(logon.num(tag::MSG_SEQ_NUM)? == 1, "{logon:?}");
    Ok(())
}

#[test]
fn a_flooding_session_delays_a_quiet_one_by_at_most_a_duty_cycle() -> Result<()> {
    let mut lab = Lab::start("read_budget = 65536")?;
    let mut flooder = lab.connect(REAL, "C1")?;
    lab.logon(&mut flooder, Some(PW))?;
    let mut quiet = lab.connect(REAL, "C2")?;
    lab.logon(&mut quiet, None)?;
    // The flooder writes garbage as fast as the gateway takes it, on its own thread.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut stream = flooder.stream.tcp().try_clone()?;
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(Duration::from_millis(50)))?;
    let (flag, count) = (Arc::clone(&stop), Arc::clone(&written));
    let thread = thread::spawn(move || {
        let junk = vec![b'Z'; 256 << 10];
        while !flag.load(Ordering::Acquire) {
            match stream.write(&junk) {
                Ok(n) => {
                    count.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
    });
    // Let the flood build up beyond one read budget.
    let mut waits = 0;
    while written.load(Ordering::Relaxed) < 4 << 20 {
        lab.step()?;
        waits += 1;
        ensure!(waits < MAX_CYCLES, "the flood did not start");
    }
    let mut worst = 0;
    for k in 0..20 {
        let id = format!("quiet-{k}");
        let wall = lab.now.wall;
        quiet.send(wall, MsgType::TEST_REQUEST, |w| {
            w.str(tag::TEST_REQ_ID, &id);
        })?;
        let mut cycles = 0;
        loop {
            lab.step()?;
            cycles += 1;
            if let Some(out) = quiet.poll()? {
                ensure!(out.get(tag::TEST_REQ_ID) == Some(id.as_str()), "{out:?}");
                break;
            }
            ensure!(
                cycles < 1_000,
                "the quiet session got no answer in 1000 duty cycles"
            );
        }
        worst = cycles.max(worst);
    }
    stop.store(true, Ordering::Release);
    let flooded = written.load(Ordering::Relaxed);
    drop(flooder);
    for _ in 0..10 {
        lab.step()?;
    }
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("flooder thread panicked"))?;
    ensure!(
        worst <= 2,
        "a TestRequest beside a flood took {worst} duty cycles (flood: {flooded} bytes)"
    );
    Ok(())
}

#[test]
fn a_client_that_does_not_read_is_logged_out_and_memory_stays_bounded() -> Result<()> {
    const BOUND: usize = 64 << 10;
    const BUDGET: usize = 16 << 10;
    let mut lab = Lab::start(&format!(
        "max_outbound_bytes = {BOUND}\nread_budget = {BUDGET}"
    ))?;
    let mut sleeper = lab.connect_with(REAL, "C1", Some(4096))?;
    lab.logon(&mut sleeper, Some(PW))?;
    // Each TestRequest makes the gateway echo a 4 KiB TestReqID in a Heartbeat; the
    // client never reads.
    let id = "r".repeat(4000);
    let mut sent = 0;
    while lab.agent.fix().stats().overflowed == 0 {
        let wall = lab.now.wall;
        let msg_id = id.clone();
        sleeper.send(wall, MsgType::TEST_REQUEST, move |w| {
            w.str(tag::TEST_REQ_ID, &msg_id);
        })?;
        sent += 1;
        lab.step()?;
        ensure!(sent < 20_000, "never logged out after {sent} TestRequests");
    }
    for _ in 0..10 {
        lab.step()?;
    }
    let stats = lab.agent.fix().stats();
    // One duty cycle reads at most BUDGET of TestRequests, each answered by about as
    // many bytes, so the queue never passes the bound by more than that and the Logout.
    ensure!(
        stats.outbound_high_water <= BOUND + 2 * BUDGET + 8 * 1024,
        "outbound queue reached {} bytes (bound {BOUND})",
        stats.outbound_high_water
    );
    ensure!(
        lab.agent.fix().session_state(1).is_none(),
        "still connected"
    );
    // The client finds its connection closed once it reads.
    lab.closed(&mut sleeper, "the slow consumer is disconnected")?;
    // It logs on again (as a new connection) and carries on.
    let mut back = lab.connect(REAL, "C1")?;
    back.next_out = sleeper.next_out;
    let logon = lab.logon(&mut back, Some(PW))?;
    ensure!(logon.num(tag::MSG_SEQ_NUM)? > 1, "{logon:?}");
    Ok(())
}

#[test]
fn reports_for_a_disconnected_session_are_stored_and_resent() -> Result<()> {
    let mut lab = Lab::start("")?;
    let mut c2 = lab.connect(REAL, "C2")?;
    lab.logon(&mut c2, None)?;
    let wall = lab.now.wall;
    c2.send(wall, MsgType::NEW_ORDER_SINGLE, |w| {
        w.str(tag::CL_ORD_ID, "K1")
            .str(tag::SYMBOL, "ACME")
            .byte(tag::SIDE, b'1')
            .timestamp(tag::TRANSACT_TIME, wall)
            .uint(tag::ORDER_QTY, 10)
            .byte(tag::ORD_TYPE, b'2')
            .str(tag::PRICE, "97")
            .byte(tag::TIME_IN_FORCE, b'0');
    })?;
    let mut acked = false;
    lab.until("the order's ack", |_| {
        while let Some(out) = c2.poll()? {
            acked |= out.msg_type() == "8" && out.get(tag::EXEC_TYPE) == Some("0");
        }
        Ok(acked)
    })?;
    let wall = lab.now.wall;
    c2.send(wall, MsgType::LOGOUT, |_| {})?;
    lab.closed(&mut c2, "logout")?;
    let seen_out = c2.last_in;
    // While C2 is away the kill switch cancels its order: the report is stored.
    let vt = VenueTime {
        wall: lab.now.wall,
        mono: lab.now.mono,
    };
    lab.agent
        .core_mut()
        .engage_kill_switch(vt, KillScope::Account(AccountId(102)))?;
    lab.until("the cancel is stored", |lab| {
        Ok(lab.agent.fix().stats().stored_offline == 1)
    })?;
    // C2 comes back, sees our MsgSeqNum jump, asks for the gap and gets the cancel.
    let mut back = lab.connect(REAL, "C2")?;
    back.next_out = c2.next_out;
    let logon = lab.logon(&mut back, None)?;
    ensure!(
        logon.num(tag::MSG_SEQ_NUM)? == seen_out + 2,
        "the stored report took MsgSeqNum {}: {logon:?}",
        seen_out + 1
    );
    let wall = lab.now.wall;
    back.send(wall, MsgType::RESEND_REQUEST, |w| {
        w.uint(tag::BEGIN_SEQ_NO, seen_out + 1)
            .uint(tag::END_SEQ_NO, seen_out + 1);
    })?;
    let resent = lab.recv(&mut back, "the resent cancel")?;
    ensure!(resent.msg_type() == "8", "{resent:?}");
    ensure!(resent.get(tag::POSS_DUP_FLAG) == Some("Y"), "{resent:?}");
    ensure!(resent.get(tag::EXEC_TYPE) == Some("4"), "{resent:?}");
    ensure!(resent.get(tag::CL_ORD_ID) == Some("K1"), "{resent:?}");
    ensure!(resent.num(tag::MSG_SEQ_NUM)? == seen_out + 1, "{resent:?}");
    Ok(())
}

#[test]
fn a_plaintext_password_is_refused_at_config_load() -> Result<()> {
    let text = r#"
        instruments = []
        [journal]
        dir = "/nonexistent"
        [risk]
        max_order_qty = 1
        max_notional = "1"
        collar_bps = 0
        credit_limit = "1"
        max_position = 1
        max_orders_per_day = 1
        [[sessions]]
        id = 1
        sender_comp_id = "GW"
        target_comp_id = "C1"
        password = "secret"
        account = 1
    "#;
    match GatewayConfig::from_toml(text, Path::new(".")) {
        Err(ConfigError::Invalid(msg)) => {
            ensure!(msg.contains("tickwarp passwd"), "{msg}");
            ensure!(msg.contains("password_hash"), "{msg}");
            Ok(())
        }
        other => bail!("a plaintext password was not refused: {other:?}"),
    }
}
