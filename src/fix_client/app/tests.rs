//! Every request the client builds is checked against the FIX 4.4 data dictionary the
//! gateway loads (required fields, types, enumerations, groups), and the answers are
//! turned into the documented lines and outcomes.

use std::time::Duration;

use tickwarp_gateway::fix::codec::{Framing, Message, MessageWriter, scan_frame};
use tickwarp_gateway::fix::fields::tag;
use tickwarp_gateway::fix::{
    Application, Connection, ConnectionConfig, Dictionary, MemoryStore, MsgType, Now, Role,
    SessionState, ValidationOptions, validate,
};
use tickwarp_runtime::{Nanos, UnixNanos};

use super::{ClientApp, Expect, Output, Verdict, date};
use crate::fix_client::command::parse;

/// 2026-12-07 20:00:00 UTC.
const WALL: UnixNanos = UnixNanos(1_796_673_600_000_000_000);

fn now() -> Now {
    Now {
        mono: Nanos(1_000_000_000),
        wall: WALL,
    }
}

/// A frame from the gateway with MsgSeqNum `seq` and the given body fields.
fn from_gateway(msg_type: &[u8], seq: u64, body: &[(u32, &str)]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = MessageWriter::begin(&mut buf, MsgType::from_bytes(msg_type).unwrap());
    w.str(tag::SENDER_COMP_ID, "TICKWARP")
        .str(tag::TARGET_COMP_ID, "CLIENT1")
        .uint(tag::MSG_SEQ_NUM, seq)
        .timestamp(tag::SENDING_TIME, WALL);
    for (t, v) in body {
        w.str(*t, v);
    }
    let range = w.finish();
    buf[range].to_vec()
}

/// A logged-on client session and its application.
fn logged_on() -> (Connection<MemoryStore>, ClientApp) {
    let config = ConnectionConfig {
        role: Role::Initiator {
            heartbeat: Duration::from_secs(30),
            username: Some("client1".into()),
            password: Some("change-me".into()),
        },
        sender_comp_id: "CLIENT1".into(),
        target_comp_id: "TICKWARP".into(),
        logon_timeout: Duration::from_secs(10),
        logout_timeout: Duration::from_secs(5),
        max_body_len: 8192,
        sending_time_tolerance: Some(Duration::from_secs(120)),
        reset_on_logon: false,
        reset_on_logout: false,
        reset_on_disconnect: false,
        validation: ValidationOptions::default(),
    };
    let mut conn = Connection::new(config, MemoryStore::new(), now());
    let mut app = ClientApp::new(Some(101), "CLIENT1", "a".into());
    let logon = from_gateway(
        b"A",
        1,
        &[(tag::ENCRYPT_METHOD, "0"), (tag::HEART_BT_INT, "30")],
    );
    conn.handle_bytes(now(), &logon, &mut app);
    assert_eq!(conn.state(), SessionState::Active);
    sent(&mut conn);
    while app.poll_event(&mut conn).is_some() {}
    (conn, app)
}

/// The frames the session queued, drained.
fn sent(conn: &mut Connection<MemoryStore>) -> Vec<Vec<u8>> {
    conn.flush();
    let queue = conn.transmit_queue().to_vec();
    conn.consume_transmit(queue.len());
    let mut frames = Vec::new();
    let mut at = 0;
    while let Framing::Complete(n) = scan_frame(&queue[at..], 1 << 16) {
        frames.push(queue[at..at + n].to_vec());
        at += n;
    }
    assert_eq!(at, queue.len(), "trailing bytes");
    frames
}

fn lines(conn: &mut Connection<MemoryStore>, app: &mut ClientApp) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = app.poll_event(conn) {
        if let Output::Line(l) = e {
            out.push(l);
        }
    }
    out
}

/// Sends `command` and returns the one frame it produced, validated.
fn send_valid(conn: &mut Connection<MemoryStore>, app: &mut ClientApp, command: &str) -> Vec<u8> {
    let cmd = parse(command).unwrap().unwrap();
    app.send(conn, now(), &cmd).unwrap();
    let frames = sent(conn);
    assert_eq!(frames.len(), 1, "{command}");
    let frame = frames.into_iter().next().unwrap();
    let msg = Message::decode(&frame).unwrap();
    if let Err(r) = validate(&msg, Dictionary::fix44(), &ValidationOptions::default()) {
        panic!(
            "{command}: {r} in {}",
            String::from_utf8_lossy(&frame).replace('\x01', "|")
        );
    }
    frame
}

fn field(frame: &[u8], t: u32) -> Option<String> {
    let msg = Message::decode(frame).unwrap();
    msg.get(t).map(|v| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn every_request_passes_the_dictionary() {
    let (mut conn, mut app) = logged_on();
    let d = send_valid(&mut conn, &mut app, "buy 100 ACME @ 100.05 post-only");
    assert_eq!(field(&d, tag::MSG_TYPE).as_deref(), Some("D"));
    assert_eq!(field(&d, tag::CL_ORD_ID).as_deref(), Some("a1"));
    assert_eq!(field(&d, tag::PRICE).as_deref(), Some("100.05"));
    assert_eq!(field(&d, tag::EXEC_INST).as_deref(), Some("6"));
    assert_eq!(field(&d, tag::ACCOUNT).as_deref(), Some("101"));
    let m = send_valid(&mut conn, &mut app, "sell 5 ACME ioc");
    assert_eq!(field(&m, tag::ORD_TYPE).as_deref(), Some("1"));
    assert_eq!(field(&m, tag::TIME_IN_FORCE).as_deref(), Some("3"));
    assert_eq!(field(&m, tag::PRICE), None);
    let f = send_valid(&mut conn, &mut app, "cancel a1");
    assert_eq!(field(&f, tag::MSG_TYPE).as_deref(), Some("F"));
    assert_eq!(field(&f, tag::ORIG_CL_ORD_ID).as_deref(), Some("a1"));
    assert_eq!(field(&f, tag::SIDE).as_deref(), Some("1"));
    let g = send_valid(&mut conn, &mut app, "replace a1 qty 50 @ 99.5");
    assert_eq!(field(&g, tag::MSG_TYPE).as_deref(), Some("G"));
    assert_eq!(field(&g, tag::ORDER_QTY).as_deref(), Some("50"));
    assert_eq!(field(&g, tag::PRICE).as_deref(), Some("99.5"));
    let h = send_valid(&mut conn, &mut app, "status a1");
    assert_eq!(field(&h, tag::MSG_TYPE).as_deref(), Some("H"));
    let af = send_valid(&mut conn, &mut app, "status all");
    assert_eq!(field(&af, 585).as_deref(), Some("7"));
    let q = send_valid(&mut conn, &mut app, "cancel all");
    assert_eq!(field(&q, 530).as_deref(), Some("7"));
    let q1 = send_valid(&mut conn, &mut app, "cancel all ACME");
    assert_eq!(field(&q1, 530).as_deref(), Some("1"));
    assert_eq!(field(&q1, tag::SYMBOL).as_deref(), Some("ACME"));
    let an = send_valid(&mut conn, &mut app, "positions");
    assert_eq!(field(&an, tag::MSG_TYPE).as_deref(), Some("AN"));
    assert_eq!(field(&an, 724).as_deref(), Some("0"));
    assert_eq!(field(&an, 715).as_deref(), Some("20261207"));
}

#[test]
fn unknown_ids_and_missing_accounts_send_nothing() {
    let (mut conn, mut app) = logged_on();
    for command in ["cancel zz9", "replace zz9 qty 5", "status zz9"] {
        let cmd = parse(command).unwrap().unwrap();
        assert!(app.send(&mut conn, now(), &cmd).is_err(), "{command}");
    }
    let mut no_account = ClientApp::new(None, "CLIENT1", "b".into());
    let cmd = parse("positions").unwrap().unwrap();
    assert!(no_account.send(&mut conn, now(), &cmd).is_err());
    assert!(sent(&mut conn).is_empty());
}

#[test]
fn answers_become_lines_and_outcomes() {
    let (mut conn, mut app) = logged_on();
    send_valid(&mut conn, &mut app, "buy 100 ACME @ 100.05");
    let _ = lines(&mut conn, &mut app);
    assert_eq!(app.verdict(Expect::Ack), Verdict::Waiting);
    let er = |seq, exec: &str, status: &str, last: &str, cum: &str, leaves: &str| {
        from_gateway(
            b"8",
            seq,
            &[
                (tag::ORDER_ID, "7"),
                (tag::CL_ORD_ID, "a1"),
                (tag::EXEC_ID, &seq.to_string()),
                (tag::EXEC_TYPE, exec),
                (tag::ORD_STATUS, status),
                (tag::SYMBOL, "ACME"),
                (tag::SIDE, "1"),
                (tag::ORDER_QTY, "100"),
                (tag::ORD_TYPE, "2"),
                (tag::PRICE, "100.05"),
                (tag::LAST_QTY, last),
                (tag::LAST_PX, "100.05"),
                (tag::LEAVES_QTY, leaves),
                (tag::CUM_QTY, cum),
                (tag::AVG_PX, "100.05"),
            ],
        )
    };
    conn.handle_bytes(now(), &er(2, "0", "0", "0", "0", "100"), &mut app);
    conn.handle_bytes(now(), &er(3, "F", "1", "40", "40", "60"), &mut app);
    assert_eq!(
        lines(&mut conn, &mut app),
        [
            "ACK  a1 buy 100 ACME @ 100.05 new",
            "FILL a1 40 @ 100.05 (cum 40, leaves 60)"
        ]
    );
    assert_eq!(app.verdict(Expect::Fill), Verdict::Met);
    assert!(matches!(app.verdict(Expect::Reject), Verdict::Failed(_)));

    send_valid(&mut conn, &mut app, "buy 1 NOPE @ 1");
    let _ = lines(&mut conn, &mut app);
    let reject = from_gateway(
        b"8",
        4,
        &[
            (tag::ORDER_ID, "NONE"),
            (tag::CL_ORD_ID, "a2"),
            (tag::EXEC_ID, "4"),
            (tag::EXEC_TYPE, "8"),
            (tag::ORD_STATUS, "8"),
            (tag::ORD_REJ_REASON, "1"),
            (tag::SYMBOL, "NOPE"),
            (tag::SIDE, "1"),
            (tag::LEAVES_QTY, "0"),
            (tag::CUM_QTY, "0"),
            (tag::AVG_PX, "0"),
            (tag::TEXT, "unknown Symbol (55)"),
        ],
    );
    conn.handle_bytes(now(), &reject, &mut app);
    assert_eq!(
        lines(&mut conn, &mut app),
        ["REJECT a2: unknown Symbol (55) (reason 1)"]
    );
    assert_eq!(app.verdict(Expect::Reject), Verdict::Met);
    assert!(app.unanswered().is_empty());
}

#[test]
fn clearing_dates_are_utc_calendar_days() {
    assert_eq!(date(UnixNanos(0)), "19700101");
    assert_eq!(date(WALL), "20261207");
    // 2024-02-29 12:00 UTC.
    assert_eq!(date(UnixNanos(1_709_208_000_000_000_000)), "20240229");
}

#[test]
fn orders_of_earlier_runs_are_restored_from_their_records() {
    let (mut conn, mut app) = logged_on();
    send_valid(&mut conn, &mut app, "buy 100 ACME @ 100.05");
    let replaced = from_gateway(
        b"8",
        2,
        &[
            (tag::ORDER_ID, "7"),
            (tag::CL_ORD_ID, "a9"),
            (tag::ORIG_CL_ORD_ID, "a1"),
            (tag::EXEC_ID, "2"),
            (tag::EXEC_TYPE, "5"),
            (tag::ORD_STATUS, "0"),
            (tag::SYMBOL, "ACME"),
            (tag::SIDE, "1"),
            (tag::ORDER_QTY, "50"),
            (tag::ORD_TYPE, "2"),
            (tag::PRICE, "99"),
            (tag::LEAVES_QTY, "50"),
            (tag::CUM_QTY, "0"),
            (tag::AVG_PX, "0"),
        ],
    );
    conn.handle_bytes(now(), &replaced, &mut app);
    let _ = lines(&mut conn, &mut app);
    let file = app.take_records().concat();
    assert!(app.take_records().is_empty());

    let mut next = ClientApp::new(Some(101), "CLIENT1", "b".into());
    // A torn last line (no newline) is ignored.
    next.restore(&format!("{file}order\ta5\t1")).unwrap();
    let f = send_valid(&mut conn, &mut next, "cancel a1");
    assert_eq!(field(&f, tag::ORIG_CL_ORD_ID).as_deref(), Some("a9"));
    assert_eq!(field(&f, tag::ORDER_ID).as_deref(), Some("7"));
    assert_eq!(field(&f, tag::ORDER_QTY).as_deref(), Some("50"));
    assert_eq!(field(&f, tag::CL_ORD_ID).as_deref(), Some("b1"));

    let err = next.restore("order\ta1\tX\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1: not an `order` or `replaced` record"
    );
}

#[test]
fn a_mass_status_that_matches_nothing_says_so() {
    let (mut conn, mut app) = logged_on();
    let request = send_valid(&mut conn, &mut app, "status all");
    let _ = lines(&mut conn, &mut app);
    let req = field(&request, 584).expect("MassStatusReqID");
    let none = from_gateway(
        b"8",
        2,
        &[
            (tag::ORDER_ID, "NONE"),
            (tag::EXEC_ID, "S2"),
            (tag::EXEC_TYPE, "I"),
            (tag::ORD_STATUS, "8"),
            (tag::ORD_REJ_REASON, "5"),
            (tag::SIDE, "1"),
            (tag::LEAVES_QTY, "0"),
            (tag::CUM_QTY, "0"),
            (tag::AVG_PX, "0"),
            (584, &req),
            (911, "0"),
            (912, "Y"),
        ],
    );
    conn.handle_bytes(now(), &none, &mut app);
    assert_eq!(
        lines(&mut conn, &mut app),
        [format!("STATUS {req}: no orders match")]
    );
    assert!(app.unanswered().is_empty());
}
