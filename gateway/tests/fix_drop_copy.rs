//! FIX drop-copy sessions against the real gateway agent on loopback (virtual clock,
//! bounded waits): two order sessions (accounts 101 and 102) trade with each other and a
//! drop copy of both accounts ("DC") and one of account 101 only ("DC1") receive a copy
//! of every ExecutionReport, with CopyMsgIndicator (797) = Y and the body the order
//! session saw; an order on a drop copy is refused with a BusinessMessageReject and
//! reaches no book; a drop copy that was away gets what it missed by ResendRequest,
//! without gaps or duplicates; one that never reads is logged out while the order
//! sessions carry on.

#[path = "front/mod.rs"]
mod front;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use front::{Client, Lab, Out, PW, REAL};
use tickwarp_gateway::fix::MsgType;
use tickwarp_gateway::fix::drop_copy::{COPY_MSG_INDICATOR, READ_ONLY_TEXT};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::session_log::DROP_COPY_LOG_DIR;

/// The drop-copy sessions, added to the lab's C1 (account 101) and C2 (account 102).
const DROP_COPIES: &str = r#"
[[sessions]]
id = 3
sender_comp_id = "GW"
target_comp_id = "DC"
allow_no_password = true
role = "drop_copy"
[[sessions]]
id = 4
sender_comp_id = "GW"
target_comp_id = "DC1"
allow_no_password = true
role = "drop_copy"
accounts = [101]
"#;

/// Header, trailer and copy-only tags: what may differ between a report and its copy.
const NOT_BODY: [u32; 10] = [8, 9, 10, 34, 43, 49, 52, 56, 122, COPY_MSG_INDICATOR];

fn mt(s: &str) -> MsgType {
    MsgType::from_bytes(s.as_bytes()).unwrap_or(MsgType::UNKNOWN)
}

fn field(out: &Out, t: u32) -> &str {
    out.get(t).unwrap_or("")
}

/// The body of a report as `(tag, value)` pairs, in order.
fn body(out: &Out) -> Vec<(u32, String)> {
    out.fields
        .iter()
        .filter(|(t, _)| !NOT_BODY.contains(t))
        .cloned()
        .collect()
}

fn lab(front: &str) -> Result<Lab> {
    Lab::start_with(DROP_COPIES, front)
}

/// A logged-on client of session `target` (C1 with its password).
fn logged_on(lab: &mut Lab, target: &str) -> Result<Client> {
    let mut c = lab.connect(REAL, target)?;
    lab.logon(&mut c, (target == "C1").then_some(PW))?;
    Ok(c)
}

fn send(lab: &Lab, c: &mut Client, msg_type: &str, body: &[(u32, &str)]) -> Result<()> {
    c.send(lab.now.wall, mt(msg_type), |w| {
        for (t, v) in body {
            w.str(*t, v);
        }
    })
}

const TS: &str = "20251125-10:00:00.000";

/// A limit order.
fn limit(lab: &Lab, c: &mut Client, cl: &str, side: &str, px: &str, qty: &str) -> Result<()> {
    let body = [
        (11, cl),
        (55, "ACME"),
        (54, side),
        (60, TS),
        (38, qty),
        (40, "2"),
        (44, px),
        (59, "1"),
    ];
    send(lab, c, "D", &body)
}

/// The next message that is not a Heartbeat.
fn next(lab: &mut Lab, c: &mut Client, what: &str) -> Result<Out> {
    loop {
        let out = lab.recv(c, what)?;
        if out.msg_type() != "0" {
            return Ok(out);
        }
    }
}

/// The next `n` messages of `c`, each an ExecutionReport.
fn reports(lab: &mut Lab, c: &mut Client, n: usize, what: &str) -> Result<Vec<Out>> {
    let mut got = Vec::with_capacity(n);
    for i in 0..n {
        let out = next(lab, c, &format!("{what}: report {}", i + 1))?;
        ensure!(
            out.msg_type() == "8",
            "{what}: expected a report, got {out:?}"
        );
        got.push(out);
    }
    Ok(got)
}

/// Checks that nothing but the answer to a TestRequest comes next on `c`: no copy beyond
/// those already received.
fn nothing_more(lab: &mut Lab, c: &mut Client, what: &str) -> Result<()> {
    send(lab, c, "1", &[(tag::TEST_REQ_ID, "END")])?;
    let out = lab.recv(c, what)?;
    ensure!(
        out.msg_type() == "0" && field(&out, tag::TEST_REQ_ID) == "END",
        "{what}: expected only the Heartbeat answering TestRequest END, got {out:?}"
    );
    Ok(())
}

/// Checks that `copies` are copies of `seen` (the order sessions' reports) in journal
/// order: each once, 797=Y, the same body (ExecID, OrderID, ClOrdID, Account, quantities,
/// prices, text...), and on contiguous MsgSeqNums unless `resent`.
fn check_copies(seen: &[Out], copies: &[Out], resent: bool) -> Result<()> {
    let by_exec: BTreeMap<u64, &Out> = seen
        .iter()
        .map(|o| Ok((o.num(tag::EXEC_ID)?, o)))
        .collect::<Result<_>>()?;
    ensure!(by_exec.len() == seen.len(), "ExecIDs repeat in {seen:?}");
    ensure!(
        copies.len() == seen.len(),
        "{} copies for {} reports: {copies:?}",
        copies.len(),
        seen.len()
    );
    let mut last_exec = 0;
    let mut last_seq = None;
    for copy in copies {
        ensure!(copy.msg_type() == "8", "{copy:?}");
        ensure!(field(copy, COPY_MSG_INDICATOR) == "Y", "no 797=Y: {copy:?}");
        let after_header = copy
            .fields
            .iter()
            .find(|(t, _)| ![8, 9, 35, 34, 43, 49, 52, 56, 122].contains(t));
        ensure!(
            after_header.map(|(t, _)| *t) == Some(COPY_MSG_INDICATOR),
            "797 is not the first field after the header: {copy:?}"
        );
        ensure!(
            field(copy, 43) == if resent { "Y" } else { "" },
            "PossDupFlag: {copy:?}"
        );
        let exec = copy.num(tag::EXEC_ID)?;
        ensure!(exec > last_exec, "copies out of journal order at {copy:?}");
        last_exec = exec;
        let seq = copy.num(tag::MSG_SEQ_NUM)?;
        if let Some(prev) = last_seq {
            ensure!(resent || seq == prev + 1, "MsgSeqNum gap before {copy:?}");
        }
        last_seq = Some(seq);
        let original = by_exec
            .get(&exec)
            .with_context(|| format!("a copy of no report: {copy:?}"))?;
        ensure!(
            body(copy) == body(original),
            "copy differs from the report the order session saw:\n copy {copy:?}\n report {original:?}"
        );
    }
    Ok(())
}

/// A cross: C1 buys `qty` at 100, C2 sells it at 100. Returns the four reports the order
/// sessions got (each waited for, bounded).
fn cross(lab: &mut Lab, c1: &mut Client, c2: &mut Client, n: usize, qty: &str) -> Result<Vec<Out>> {
    let (b, s) = (format!("B{n}"), format!("S{n}"));
    limit(lab, c1, &b, "1", "100", qty)?;
    let mut seen = reports(lab, c1, 1, &b)?;
    limit(lab, c2, &s, "2", "100", qty)?;
    seen.extend(reports(lab, c2, 2, &s)?);
    seen.extend(reports(lab, c1, 1, &format!("fill of {b}"))?);
    for (out, want) in seen.iter().zip(["0", "0", "F", "F"]) {
        ensure!(field(out, tag::EXEC_TYPE) == want, "{out:?}");
    }
    Ok(seen)
}

/// Logs a returning drop-copy client on (its MsgSeqNums carried over from `old`), asks
/// for everything after what `old` received, and returns the copies resent, checking
/// that every MsgSeqNum up to the Logon is accounted for exactly once.
fn catch_up(lab: &mut Lab, old: &Client, target: &str) -> Result<(Client, Vec<Out>)> {
    let mut back = lab.connect(REAL, target)?;
    back.next_out = old.next_out;
    let logon = lab.logon(&mut back, None)?;
    let logon_seq = logon.num(tag::MSG_SEQ_NUM)?;
    let mut expected = old.last_in + 1;
    ensure!(
        logon_seq > expected,
        "no gap to recover: Logon {logon_seq}, expected {expected}"
    );
    let from = expected.to_string();
    send(lab, &mut back, "2", &[(7, from.as_str()), (16, "0")])?;
    let mut copies = Vec::new();
    while expected <= logon_seq {
        let out = lab.recv(&mut back, &format!("resend of {expected}"))?;
        let seq = out.num(tag::MSG_SEQ_NUM)?;
        match out.msg_type() {
            "4" => {
                ensure!(
                    seq == expected && field(&out, 123) == "Y",
                    "gap fill at {expected}: {out:?}"
                );
                expected = out.num(36)?;
            }
            "8" => {
                ensure!(seq == expected, "resent copy at {expected}: {out:?}");
                copies.push(out);
                expected += 1;
            }
            _ => bail!("unexpected during the resend at {expected}: {out:?}"),
        }
    }
    ensure!(
        expected == logon_seq + 1,
        "the resend ended at {expected}, past the Logon {logon_seq}"
    );
    Ok((back, copies))
}

#[test]
fn drop_copies_get_every_report_of_their_accounts_with_797() -> Result<()> {
    let mut lab = lab("")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    let mut c2 = logged_on(&mut lab, "C2")?;
    let mut dc = logged_on(&mut lab, "DC")?;
    let mut dc1 = logged_on(&mut lab, "DC1")?;

    // New and fill on both sides of a cross.
    let mut seen = cross(&mut lab, &mut c1, &mut c2, 1, "10")?;
    // Cancel.
    limit(&lab, &mut c1, "B2", "1", "99", "5")?;
    seen.extend(reports(&mut lab, &mut c1, 1, "B2")?);
    let cancel = [
        (41, "B2"),
        (11, "B2C"),
        (55, "ACME"),
        (54, "1"),
        (38, "5"),
        (60, TS),
    ];
    send(&lab, &mut c1, "F", &cancel)?;
    seen.extend(reports(&mut lab, &mut c1, 1, "cancel of B2")?);
    // Replace.
    limit(&lab, &mut c1, "B3", "1", "98", "5")?;
    seen.extend(reports(&mut lab, &mut c1, 1, "B3")?);
    let replace = [
        (41, "B3"),
        (11, "B4"),
        (55, "ACME"),
        (54, "1"),
        (38, "6"),
        (40, "2"),
        (44, "97"),
        (59, "1"),
        (60, TS),
    ];
    send(&lab, &mut c1, "G", &replace)?;
    seen.extend(reports(&mut lab, &mut c1, 1, "replace of B3")?);
    // Reject (over max_order_qty).
    limit(&lab, &mut c2, "S9", "2", "100", "5000")?;
    seen.extend(reports(&mut lab, &mut c2, 1, "S9")?);
    let types: Vec<&str> = seen.iter().map(|o| field(o, tag::EXEC_TYPE)).collect();
    for want in ["0", "F", "4", "5", "8"] {
        ensure!(types.contains(&want), "no ExecType {want} in {types:?}");
    }
    seen.sort_by_key(|o| o.num(tag::EXEC_ID).unwrap_or(0));

    let copies = reports(&mut lab, &mut dc, seen.len(), "DC copies")?;
    check_copies(&seen, &copies, false)?;
    nothing_more(&mut lab, &mut dc, "DC after its copies")?;

    let of_101: Vec<Out> = seen
        .iter()
        .filter(|o| field(o, tag::ACCOUNT) == "101")
        .cloned()
        .collect();
    ensure!(!of_101.is_empty() && of_101.len() < seen.len(), "{seen:?}");
    let copies = reports(&mut lab, &mut dc1, of_101.len(), "DC1 copies")?;
    check_copies(&of_101, &copies, false)?;
    nothing_more(&mut lab, &mut dc1, "DC1 sees no copy of account 102")?;
    Ok(())
}

#[test]
fn a_drop_copy_is_read_only() -> Result<()> {
    let mut lab = lab("")?;
    let mut dc = logged_on(&mut lab, "DC")?;
    let orders_before = lab.agent.core().orders().len();
    let new_order = vec![
        (11, "X1"),
        (55, "ACME"),
        (54, "1"),
        (60, TS),
        (38, "10"),
        (40, "2"),
        (44, "101"),
        (59, "1"),
    ];
    let cancel = vec![
        (41, "X1"),
        (11, "X2"),
        (55, "ACME"),
        (54, "1"),
        (38, "10"),
        (60, TS),
    ];
    let status = vec![(11, "X3"), (54, "1")];
    for (msg_type, body, ref_id) in [
        ("D", new_order, "X1"),
        ("F", cancel, "X2"),
        ("H", status, "X3"),
    ] {
        let seq = dc.next_out.to_string();
        send(&lab, &mut dc, msg_type, &body)?;
        let out = next(&mut lab, &mut dc, msg_type)?;
        ensure!(out.msg_type() == "j", "{msg_type}: {out:?}");
        for (t, want) in [
            (45, seq.as_str()),
            (372, msg_type),
            (380, "3"),
            (379, ref_id),
            (58, READ_ONLY_TEXT),
        ] {
            ensure!(
                field(&out, t) == want,
                "{msg_type}: tag {t}: want {want} in {out:?}"
            );
        }
    }
    ensure!(
        lab.agent.core().orders().len() == orders_before,
        "an order of the drop copy reached the order store"
    );
    // The session layer works as on any session.
    nothing_more(&mut lab, &mut dc, "TestRequest on the drop copy")?;
    send(&lab, &mut dc, "5", &[])?;
    let out = lab.recv(&mut dc, "Logout answer")?;
    ensure!(out.msg_type() == "5", "{out:?}");
    lab.closed(&mut dc, "the drop copy logs out")?;
    Ok(())
}

#[test]
fn a_returning_drop_copy_gets_what_it_missed_by_resend() -> Result<()> {
    let mut lab = lab("")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    let mut c2 = logged_on(&mut lab, "C2")?;
    let mut dc = logged_on(&mut lab, "DC")?;
    let seen = cross(&mut lab, &mut c1, &mut c2, 1, "1")?;
    let copies = reports(&mut lab, &mut dc, seen.len(), "copies while connected")?;
    check_copies(&seen, &copies, false)?;
    // The drop copy logs out; trades go on without it.
    send(&lab, &mut dc, "5", &[])?;
    let out = next(&mut lab, &mut dc, "Logout answer")?;
    ensure!(out.msg_type() == "5", "{out:?}");
    lab.closed(&mut dc, "the drop copy's connection ends")?;
    ensure!(
        lab.agent.fix().session_state(3).is_none(),
        "DC still connected"
    );
    let mut missed = Vec::new();
    for n in 2..=4 {
        missed.extend(cross(&mut lab, &mut c1, &mut c2, n, "1")?);
    }
    missed.sort_by_key(|o| o.num(tag::EXEC_ID).unwrap_or(0));
    let (mut back, resent) = catch_up(&mut lab, &dc, "DC")?;
    check_copies(&missed, &resent, true)?;
    // Live again: the next trade's copies come at once, on the next MsgSeqNums.
    let more = cross(&mut lab, &mut c1, &mut c2, 5, "1")?;
    let copies = reports(&mut lab, &mut back, more.len(), "copies after the return")?;
    check_copies(&more, &copies, false)?;
    nothing_more(&mut lab, &mut back, "DC after catching up")?;
    Ok(())
}

#[test]
fn a_drop_copy_that_never_reads_does_not_stop_order_sessions() -> Result<()> {
    const BOUND: usize = 64 << 10;
    const MAX_CROSSES: usize = 5_000;
    let mut lab = lab(&format!("max_outbound_bytes = {BOUND}"))?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    let mut c2 = logged_on(&mut lab, "C2")?;
    let mut sleeper = lab.connect_with(REAL, "DC", Some(4096))?;
    lab.logon(&mut sleeper, None)?;
    // The drop copy reads nothing more; every cross's four reports reach the order
    // sessions within the lab's bounded wait.
    let mut seen = Vec::new();
    let mut n = 0;
    while lab.agent.fix().stats().overflowed == 0 {
        n += 1;
        ensure!(
            n <= MAX_CROSSES,
            "the drop copy was never logged out after {n} crosses"
        );
        seen.extend(cross(&mut lab, &mut c1, &mut c2, n, "1")?);
        // Stay within the sessions' message rate (1,000 a second, burst 100).
        lab.advance(Duration::from_millis(5));
    }
    // After it is gone, copies go to its store only.
    for _ in 0..3 {
        n += 1;
        seen.extend(cross(&mut lab, &mut c1, &mut c2, n, "1")?);
    }
    ensure!(
        lab.agent.fix().session_state(3).is_none(),
        "the sleeping drop copy is still connected"
    );
    let high = lab.agent.fix().stats().outbound_high_water;
    ensure!(
        high <= BOUND + (16 << 10),
        "outbound queue reached {high} bytes (bound {BOUND})"
    );
    // It comes back reading and gets everything it had not read, once.
    seen.sort_by_key(|o| o.num(tag::EXEC_ID).unwrap_or(0));
    let (_back, resent) = catch_up(&mut lab, &sleeper, "DC")?;
    check_copies(&seen, &resent, true)?;
    Ok(())
}

#[test]
fn copies_made_while_no_drop_copy_was_connected_survive_a_restart() -> Result<()> {
    let mut lab = lab("")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    let mut c2 = logged_on(&mut lab, "C2")?;
    let mut seen = Vec::new();
    for n in 1..=3 {
        seen.extend(cross(&mut lab, &mut c1, &mut c2, n, "1")?);
    }
    seen.sort_by_key(|o| o.num(tag::EXEC_ID).unwrap_or(0));
    // The gateway stops; the drop copy never logged on before.
    let Lab { agent, dir, .. } = lab;
    drop(agent);
    let mut lab = Lab::start_in(dir, DROP_COPIES, "")?;
    let never = lab.connect(REAL, "DC")?;
    let (mut dc, resent) = catch_up(&mut lab, &never, "DC")?;
    check_copies(&seen, &resent, true)?;
    nothing_more(&mut lab, &mut dc, "DC after the restart")?;
    Ok(())
}

/// A tmpfs mounted on `dir` (created), unmounted on drop (also when a test fails).
struct Tmpfs {
    dir: std::path::PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `dir`; `None` (after a visible SKIP line) when
    /// mounting fails (not root), a failure instead when `CI` is set.
    fn mount(dir: &std::path::Path, size: &str) -> Result<Option<Tmpfs>> {
        std::fs::create_dir_all(dir)?;
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status();
        match status {
            Ok(s) if s.success() => Ok(Some(Tmpfs {
                dir: dir.to_path_buf(),
            })),
            other => {
                let why = format!(
                    "SKIP fix_drop_copy store failure: cannot mount a tmpfs (needs root): {other:?}"
                );
                ensure!(std::env::var_os("CI").is_none(), "{why}");
                eprintln!("{why}");
                Ok(None)
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn a_drop_copy_whose_store_fails_stops_and_order_sessions_carry_on() -> Result<()> {
    // The drop copies' shared store log lives on a 512 KiB tmpfs nearly filled before
    // the start; the order sessions' log does not.
    let dir = front::journal_dir()?;
    let store_dir = dir.path().join(DROP_COPY_LOG_DIR);
    let Some(fs) = Tmpfs::mount(&store_dir, "512k")? else {
        return Ok(());
    };
    std::fs::write(fs.dir.join("filler"), vec![0xA5u8; 448 << 10])?;
    let mut lab = Lab::start_in(dir, DROP_COPIES, "")?;
    let mut c1 = logged_on(&mut lab, "C1")?;
    let mut c2 = logged_on(&mut lab, "C2")?;
    let mut seen = Vec::new();
    let mut n = 0;
    let stopped = loop {
        if let Some(exec_id) = lab.agent.fix().drop_copy_stopped(3) {
            break exec_id;
        }
        n += 1;
        ensure!(
            n <= 2_000,
            "the drop copy's store never failed in {n} crosses"
        );
        seen.extend(cross(&mut lab, &mut c1, &mut c2, n, "1")?);
        lab.advance(Duration::from_millis(5));
    };
    ensure!(
        seen.iter()
            .any(|o| o.num(tag::EXEC_ID).ok() == Some(stopped)),
        "stopped at ExecID {stopped}, not a report the order sessions saw"
    );
    // Order sessions carry on (every cross's reports arrive within the bounded wait).
    // DC1 shares the drop copies' log on the full file system: it may stop too.
    for _ in 0..3 {
        n += 1;
        cross(&mut lab, &mut c1, &mut c2, n, "1")?;
    }
    // Its Logon is answered with a Logout naming the ExecID; nothing else comes.
    let mut dc = lab.connect(REAL, "DC")?;
    let wall = lab.now.wall;
    dc.send(wall, MsgType::LOGON, |w| {
        w.uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
    })?;
    let got = lab.closed(&mut dc, "the stopped drop copy's Logon is refused")?;
    let [logout] = got.as_slice() else {
        bail!("expected one Logout, got {got:?}");
    };
    ensure!(logout.msg_type() == "5", "{logout:?}");
    let text = field(logout, tag::TEXT);
    ensure!(
        text.contains("drop copy stopped") && text.contains(&format!("ExecID {stopped}")),
        "{logout:?}"
    );
    // The store's files go with the tmpfs, then the journal directory.
    let Lab { agent, dir, .. } = lab;
    drop(agent);
    drop(fs);
    drop(dir);
    Ok(())
}
