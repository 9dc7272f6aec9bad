//! FIX 4.4 Volume 2 "Session Level Test Cases and Expected Behaviors", acceptor side,
//! one test per case (named after it), driven through the sans-IO session on a virtual
//! clock with `|` for SOH. Each test asserts the exact messages the session emits.
//!
//! Not here: 1b (a second connection for a logged-on session is refused by the socket
//! driver before any session exists: `FixAcceptor`), 14a/14c–14i and 15 (data-dictionary
//! validation, owned by the validator), 19 (PossResend is an application matter), and
//! the initiator-only cases (1S-initiator, 5, 9, 12 initiator side).

mod util;

use std::time::Duration;

use tickwarp_gateway::fix::fields::format_timestamp;
use tickwarp_gateway::fix::{
    DisconnectReason, ExecType, ExecutionReport, MemoryStore, OrdStatus, SeqNums, SessionEvent,
    SessionState, SessionStore,
};
use tickwarp_runtime::UnixNanos;
use tickwarp_wire::{ClientOrderId, InstrumentId, OrderType, Price, Qty, Side, TimeInForce};
use util::{Harness, Out, frame};

const NOS: &str = "11=ORD1|1=42|55=ACME|54=1|38=100|40=2|44=12.5|59=0|60=20251125-10:00:00.000|";

fn harness() -> Harness<MemoryStore> {
    Harness::new(MemoryStore::new())
}

fn logged_on() -> Harness<MemoryStore> {
    let mut h = harness();
    h.logon();
    h
}

fn types(out: &[Out]) -> Vec<&str> {
    out.iter().map(Out::msg_type).collect()
}

fn disconnect_reason(events: &[SessionEvent]) -> Option<DisconnectReason> {
    events.iter().find_map(|e| match e {
        SessionEvent::Disconnect { reason, .. } => Some(*reason),
        _ => None,
    })
}

/// SendingTime `secs` seconds from the harness clock (negative: earlier).
fn time_at(h: &Harness<MemoryStore>, secs: i64) -> String {
    let wall = h.now.wall.0 as i128 + i128::from(secs) * 1_000_000_000;
    String::from_utf8_lossy(&format_timestamp(UnixNanos(wall as u64))).into_owned()
}

/// A client message with explicit header fields after MsgType (`|` for SOH).
fn raw(h: &mut Harness<MemoryStore>, msg_type: &str, header_and_body: &str) {
    let bytes = frame(&format!("35={msg_type}|{header_and_body}"));
    h.feed(&bytes);
}

fn report(cl_ord_id: &str) -> ExecutionReport<'static> {
    ExecutionReport {
        order_id: 9001,
        exec_id: 1,
        exec_type: ExecType::New,
        ord_status: OrdStatus::New,
        cl_ord_id: ClientOrderId::new(cl_ord_id).unwrap_or_else(|e| panic!("{e}")),
        orig_cl_ord_id: None,
        instrument: InstrumentId(1),
        side: Side::Buy,
        ord_type: Some(OrderType::Limit),
        price: Some(Price::from_ticks(125_000)),
        tif: Some(TimeInForce::Day),
        order_qty: Qty(100),
        last_qty: None,
        last_px: None,
        leaves_qty: Qty(100),
        cum_qty: Qty(0),
        avg_px: Price::ZERO,
        transact_time: util::START_WALL,
        reject_reason: None,
        text: None,
    }
}

/// Asserts a session Reject: RefSeqNum, RefTagID (if any), RefMsgType, reason code.
fn assert_reject(out: &Out, ref_seq: u64, ref_tag: Option<u64>, ref_type: &str, reason: u64) {
    assert_eq!(out.msg_type(), "3", "{out:?}");
    assert_eq!(out.num(45), ref_seq, "RefSeqNum in {out:?}");
    assert_eq!(
        out.get(371).map(|_| out.num(371)),
        ref_tag,
        "RefTagID in {out:?}"
    );
    assert_eq!(out.get(372), Some(ref_type), "RefMsgType in {out:?}");
    assert_eq!(out.num(373), reason, "SessionRejectReason in {out:?}");
}

/// Sends heartbeats until the client's next MsgSeqNum is `next`, consuming the output.
fn heartbeats_until(h: &mut Harness<MemoryStore>, next: u64) {
    while h.client_seq < next {
        h.send("0", "");
    }
    assert!(h.outbound().is_empty());
}

// --- 1: logon -----------------------------------------------------------------------------

#[test]
fn case_1s_valid_logon_is_answered_with_logon() {
    let mut h = harness();
    h.send("A", "98=0|108=30|553=alice|554=secret|");
    let out = h.outbound();
    assert_eq!(types(&out), ["A"]);
    assert_eq!((out[0].seq(), out[0].num(98), out[0].num(108)), (1, 0, 30));
    assert_eq!(h.session.state(), SessionState::Active);
}

#[test]
fn case_1a_logon_msgseqnum_too_high_is_accepted_then_resend_requested() {
    let mut h = harness();
    h.send_seq("A", 5, "98=0|108=30|553=alice|554=secret|");
    let out = h.outbound();
    assert_eq!(types(&out), ["A", "2"]);
    assert_eq!((out[1].seq(), out[1].num(7), out[1].num(16)), (2, 1, 0));
    // The Logout answer shows the session is live.
    h.send_seq("5", 6, "");
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(out[0].seq(), 3);
}

#[test]
fn case_1c_logon_with_invalid_comp_id_gets_logout_and_disconnect() {
    for (sender, target) in [("CLIENT", "DLSI"), ("NOBODY", "GW")] {
        let mut h = harness();
        let t = h.sending_time();
        raw(
            &mut h,
            "A",
            &format!("34=1|49={sender}|52={t}|56={target}|98=0|108=30|553=alice|554=secret|"),
        );
        assert_eq!(types(&h.outbound()), ["5"]);
        assert_eq!(
            disconnect_reason(&h.events()),
            Some(DisconnectReason::BadCompId)
        );
        assert_eq!(h.session.store().seq_nums(), SeqNums::INITIAL);
    }
}

#[test]
fn case_1d_logon_with_bad_sending_time_gets_logout_and_disconnect() {
    let mut h = harness();
    raw(
        &mut h,
        "A",
        "34=1|49=CLIENT|52=20010101-00:00:00|56=GW|98=0|108=30|553=alice|554=secret|",
    );
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(out[0].get(58), Some("SendingTime accuracy problem"));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::SendingTimeAccuracy)
    );
    // Ten minutes off, and no SendingTime at all, fail the same way.
    let mut h = harness();
    let t = time_at(&h, 600);
    raw(
        &mut h,
        "A",
        &format!("34=1|49=CLIENT|52={t}|56=GW|98=0|108=30|553=alice|554=secret|"),
    );
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(h.session.state(), SessionState::Disconnected);
    let mut h = harness();
    raw(
        &mut h,
        "A",
        "34=1|49=CLIENT|56=GW|98=0|108=30|553=alice|554=secret|",
    );
    let out = h.outbound();
    assert_eq!(out[0].get(58), Some("SendingTime (52) missing"));
    assert_eq!(h.session.state(), SessionState::Disconnected);
}

#[test]
fn case_1d_logon_with_wrong_begin_string_disconnects() {
    let mut h = harness();
    let t = h.sending_time();
    let body = format!("35=A|34=1|49=CLIENT|52={t}|56=GW|98=0|108=30|553=alice|554=secret|");
    let body = util::soh(&body);
    let mut bytes = format!("8=FIX.3.9\x019={}\x01", body.len()).into_bytes();
    bytes.extend_from_slice(&body);
    let sum = tickwarp_gateway::fix::codec::checksum(&bytes);
    bytes.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    h.feed(&bytes);
    let out = h.outbound();
    assert!(out.iter().all(|o| o.msg_type() != "A"), "{out:?}");
    assert_eq!(h.session.state(), SessionState::Disconnected);
}

#[test]
fn case_1e_first_message_not_logon_disconnects() {
    let mut h = harness();
    h.send("0", "");
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::FirstMessageNotLogon)
    );
}

// --- 2: standard header of every message --------------------------------------------------

#[test]
fn case_2a_msgseqnum_correct_is_accepted() {
    let mut h = logged_on();
    h.send("1", "112=HELLO|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!((out[0].seq(), out[0].get(112)), (2, Some("HELLO")));
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn case_2b_msgseqnum_too_high_resend_request_and_queue() {
    let mut h = logged_on();
    heartbeats_until(&mut h, 5);
    h.send_seq("1", 10, "112=QUEUED|");
    let out = h.outbound();
    assert_eq!(types(&out), ["2"]);
    assert_eq!((out[0].seq(), out[0].num(7), out[0].num(16)), (2, 5, 0));
    for seq in 5..=9 {
        h.send_seq("0", seq, "");
    }
    // Message 10 (kept while the gap was open) is processed once 9 arrives.
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].get(112), Some("QUEUED"));
    h.send_seq("5", 11, "");
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::PeerLogout)
    );
}

#[test]
fn case_2c_msgseqnum_too_low_logout() {
    let mut h = logged_on();
    heartbeats_until(&mut h, 5);
    h.send_seq("0", 2, "");
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(
        out[0].get(58),
        Some("MsgSeqNum too low, expecting 5 but received 2")
    );
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::SeqTooLow {
            expected: 5,
            received: 2
        })
    );
}

#[test]
fn case_2d_garbled_message_is_ignored_without_consuming_its_seq_num() {
    let mut h = logged_on();
    let t = h.sending_time();
    // BodyLength does not match: garbled.
    h.feed(&util::soh(&format!(
        "8=FIX.4.4|9=52|35=0|34=24garbled9=TW|52={t}|56=GW|10=000|"
    )));
    h.send("1", "112=AFTER|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"], "the next message takes MsgSeqNum 2");
    assert_eq!(out[0].get(112), Some("AFTER"));
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn case_2e_possdup_already_received_is_ignored() {
    let mut h = logged_on();
    h.send("0", "");
    let (t, orig) = (h.sending_time(), time_at(&h, -1));
    raw(
        &mut h,
        "1",
        &format!("34=2|43=Y|49=CLIENT|52={t}|56=GW|122={orig}|112=DUP|"),
    );
    assert!(h.outbound().is_empty());
    assert_eq!(h.session.state(), SessionState::Active);
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn case_2e_possdup_not_received_is_processed() {
    let mut h = logged_on();
    let (t, orig) = (h.sending_time(), time_at(&h, -1));
    raw(
        &mut h,
        "1",
        &format!("34=2|43=Y|49=CLIENT|52={t}|56=GW|122={orig}|112=NEW|"),
    );
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].get(112), Some("NEW"));
}

#[test]
fn case_2f_possdup_orig_sending_time_after_sending_time_reject_10_and_logout() {
    let mut h = logged_on();
    heartbeats_until(&mut h, 4);
    let (t, orig) = (h.sending_time(), time_at(&h, 10));
    raw(
        &mut h,
        "D",
        &format!("34=2|43=Y|49=CLIENT|52={t}|56=GW|122={orig}|{NOS}"),
    );
    let out = h.outbound();
    assert_eq!(types(&out), ["3", "5"]);
    assert_reject(&out[0], 2, Some(122), "D", 10);
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::SendingTimeAccuracy)
    );
}

#[test]
fn case_2g_possdup_without_orig_sending_time_reject_1_tag_122() {
    let mut h = logged_on();
    heartbeats_until(&mut h, 4);
    let t = h.sending_time();
    raw(
        &mut h,
        "D",
        &format!("34=2|43=Y|49=CLIENT|52={t}|56=GW|{NOS}"),
    );
    let out = h.outbound();
    assert_eq!(types(&out), ["3"]);
    assert_reject(&out[0], 2, Some(122), "D", 1);
    // The expected MsgSeqNum did not move.
    h.send("1", "112=HELLO|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(h.session.seq_nums().next_in, 5);
}

#[test]
fn case_2i_begin_string_unexpected_logout_and_disconnect() {
    let mut h = logged_on();
    let t = h.sending_time();
    let body = util::soh(&format!("35=1|34=2|49=CLIENT|52={t}|56=GW|112=id|"));
    let mut bytes = format!("8=FIX.4.1\x019={}\x01", body.len()).into_bytes();
    bytes.extend_from_slice(&body);
    let sum = tickwarp_gateway::fix::codec::checksum(&bytes);
    bytes.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    h.feed(&bytes);
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::UnsupportedBeginString)
    );
}

#[test]
fn case_2k_comp_id_does_not_match_reject_9_then_logout() {
    for (sender, target, ref_tag) in [("WT", "GW", 49), ("CLIENT", "DLSI", 56)] {
        let mut h = logged_on();
        let t = h.sending_time();
        raw(
            &mut h,
            "D",
            &format!("34=2|49={sender}|52={t}|56={target}|{NOS}"),
        );
        let out = h.outbound();
        assert_eq!(types(&out), ["3", "5"]);
        assert_reject(&out[0], 2, Some(ref_tag), "D", 9);
        assert_eq!(out[1].seq(), 3);
        assert_eq!(
            disconnect_reason(&h.events()),
            Some(DisconnectReason::BadCompId)
        );
    }
}

#[test]
fn case_2l_missing_target_comp_id_is_a_required_tag_reject_without_logout() {
    let mut h = logged_on();
    let t = h.sending_time();
    raw(&mut h, "0", &format!("34=2|49=CLIENT|52={t}|"));
    let out = h.outbound();
    assert_eq!(types(&out), ["3"]);
    assert_reject(&out[0], 2, Some(56), "0", 1);
    assert_eq!(h.session.state(), SessionState::Active);
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn case_2m_body_length_incorrect_is_ignored() {
    let mut h = logged_on();
    let t = h.sending_time();
    h.feed(&util::soh(&format!(
        "8=FIX.4.4|9=30|35=0|34=2|49=CLIENT|52={t}|56=GW|10=000|"
    )));
    h.send("1", "112=AFTER|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].get(112), Some("AFTER"));
}

#[test]
fn case_2o_sending_time_out_of_range_reject_10_and_logout() {
    for offset in [-121, 121] {
        let mut h = logged_on();
        let t = time_at(&h, offset);
        raw(&mut h, "0", &format!("34=2|49=CLIENT|52={t}|56=GW|"));
        let out = h.outbound();
        assert_eq!(types(&out), ["3", "5"], "offset {offset}");
        assert_reject(&out[0], 2, Some(52), "0", 10);
        assert_eq!(
            disconnect_reason(&h.events()),
            Some(DisconnectReason::SendingTimeAccuracy)
        );
    }
}

#[test]
fn case_2q_msg_type_not_valid_reject_11() {
    let mut h = logged_on();
    h.send("*", "");
    let out = h.outbound();
    assert_eq!(types(&out), ["3"]);
    assert_reject(&out[0], 2, Some(35), "*", 11);
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn case_2r_unregistered_msg_type_business_reject_3() {
    let mut h = logged_on();
    h.send("8", "37=id|17=id|150=0|39=0|55=ACME|54=1|151=100|14=0|6=0|");
    let out = h.outbound();
    assert_eq!(types(&out), ["j"]);
    assert_eq!(
        (out[0].num(45), out[0].get(372), out[0].num(380)),
        (2, Some("8"), 3)
    );
}

#[test]
fn case_2t_first_three_fields_out_of_order_is_ignored() {
    let mut h = logged_on();
    let t = h.sending_time();
    // MsgSeqNum before MsgType: garbled, MsgSeqNum 2 is not consumed.
    h.feed(&frame(&format!("34=2|35=0|49=CLIENT|52={t}|56=GW|")));
    h.send("1", "112=HELLO|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!((out[0].seq(), out[0].get(112)), (2, Some("HELLO")));
}

// --- 3: message trailer -------------------------------------------------------------------

#[test]
fn case_3b_invalid_checksum_is_ignored() {
    let mut h = logged_on();
    let mut bad = h.client_msg("1", 2, "112=BAD|");
    let n = bad.len();
    bad[n - 4..n - 1].copy_from_slice(b"256");
    h.feed(&bad);
    assert!(h.outbound().is_empty());
    h.send("1", "112=GOOD|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].get(112), Some("GOOD"));
}

#[test]
fn case_3c_garbled_bytes_between_messages_are_skipped() {
    let mut h = logged_on();
    h.feed(b"garbage without any frame\x01\x01");
    h.send("1", "112=AFTER|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].seq(), 2);
}

// --- 4, 6: heartbeats and test requests -----------------------------------------------------

#[test]
fn case_4a_heartbeat_after_heartbtint_without_sending() {
    let mut h = logged_on();
    h.advance(Duration::from_secs(29));
    assert!(h.outbound().is_empty());
    h.send("0", "");
    h.advance(Duration::from_secs(1));
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].get(112), None);
}

#[test]
fn case_4b_test_request_is_answered_with_its_id() {
    let mut h = logged_on();
    h.send("1", "112=PING|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].get(112), Some("PING"));
}

#[test]
fn case_6_test_request_after_silence_then_disconnect() {
    let mut h = logged_on();
    h.advance(Duration::from_secs(30));
    assert_eq!(types(&h.outbound()), ["0"]);
    h.advance(Duration::from_secs(6));
    let out = h.outbound();
    assert_eq!(types(&out), ["1"]);
    assert!(out[0].get(112).is_some());
    h.advance(Duration::from_secs(36));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::TestRequestTimeout)
    );
}

// --- 7: reject received -------------------------------------------------------------------

#[test]
fn case_7_reject_received_consumes_its_seq_num() {
    let mut h = logged_on();
    h.send("3", "45=1|373=1|");
    assert!(h.outbound().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 3);
}

// --- 8: resend request --------------------------------------------------------------------

#[test]
fn case_8_resend_request_admin_and_application_messages() {
    let mut h = logged_on();
    for id in ["A1", "A2"] {
        h.session
            .send_execution_report(h.now, &report(id))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    h.send("1", "112=T|");
    assert_eq!(types(&h.outbound()), ["8", "8", "0"]);
    h.send("2", "7=1|16=0|");
    let out = h.outbound();
    // 1 (Logon) gap-filled, 2 and 3 resent, 4 (Heartbeat) gap-filled.
    assert_eq!(types(&out), ["4", "8", "8", "4"]);
    assert_eq!(
        (out[0].seq(), out[0].get(123), out[0].num(36)),
        (1, Some("Y"), 2)
    );
    for (o, id) in out[1..3].iter().zip(["A1", "A2"]) {
        assert_eq!((o.get(43), o.get(11)), (Some("Y"), Some(id)));
        assert!(o.get(122).is_some());
    }
    assert_eq!((out[3].seq(), out[3].num(36)), (4, 5));
}

#[test]
fn case_8_only_admin_messages_one_gap_fill() {
    let mut h = logged_on();
    h.send("1", "112=A|");
    h.send("1", "112=B|");
    assert_eq!(types(&h.outbound()), ["0", "0"]);
    h.send("2", "7=1|16=3|");
    let out = h.outbound();
    assert_eq!(types(&out), ["4"]);
    assert_eq!(
        (out[0].seq(), out[0].num(36), out[0].get(43)),
        (1, 4, Some("Y"))
    );
}

#[test]
fn case_8_huge_resend_range_is_served_in_bounded_chunks() {
    let mut h = logged_on();
    for _ in 0..600 {
        h.session
            .send_execution_report(h.now, &report("BULK"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(h.outbound().len(), 600);
    // 200 ResendRequests for everything, in one read.
    let mut bytes = Vec::new();
    for _ in 0..200 {
        bytes.extend(h.client_msg("2", h.client_seq, "7=1|16=0|"));
        h.client_seq += 1;
    }
    h.feed(&bytes);
    let first = h.session.transmit_queue().len() + {
        h.session.flush();
        h.session.transmit_queue().len()
    };
    let first_out = h.outbound();
    assert!(first > 0);
    assert!(
        first_out.len() <= 256,
        "one step served {} messages",
        first_out.len()
    );
    let mut resent: Vec<u64> = first_out.iter().map(Out::seq).collect();
    for _ in 0..10 {
        h.advance(Duration::from_millis(1));
        resent.extend(h.outbound().iter().map(Out::seq));
    }
    // Every sequence number 1..=601 was covered exactly once (GapFill 1, then 2..=601).
    assert_eq!(resent.first(), Some(&1));
    assert_eq!(resent.len(), 1 + 600);
    assert!(resent.windows(2).all(|w| w[1] == w[0] + 1), "{resent:?}");
    assert_eq!(h.session.state(), SessionState::Active);
}

// --- 10, 11: sequence reset ---------------------------------------------------------------

#[test]
fn case_10_gap_fill_msgseqnum_greater_requests_resend() {
    let mut h = logged_on();
    h.send_seq("4", 5, "123=Y|36=10|");
    let out = h.outbound();
    assert_eq!(types(&out), ["2"]);
    assert_eq!((out[0].num(7), out[0].num(16)), (2, 0));
}

#[test]
fn case_10_gap_fill_msgseqnum_equal_moves_the_expected_seq_num() {
    let mut h = logged_on();
    h.send("4", "123=Y|36=20|");
    assert!(h.outbound().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 20);
}

#[test]
fn case_10_gap_fill_msgseqnum_less_possdup_ignored_else_logout() {
    let mut h = logged_on();
    let (t, orig) = (h.sending_time(), time_at(&h, -1));
    raw(
        &mut h,
        "4",
        &format!("34=1|43=Y|49=CLIENT|52={t}|56=GW|122={orig}|123=Y|36=20|"),
    );
    assert!(h.outbound().is_empty());
    h.send("1", "112=HELLO|");
    assert_eq!(types(&h.outbound()), ["0"]);
    h.send_seq("4", 1, "123=Y|36=20|");
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(
        out[0].get(58),
        Some("MsgSeqNum too low, expecting 3 but received 1")
    );
}

#[test]
fn case_11a_reset_new_seq_no_greater() {
    let mut h = logged_on();
    h.send_seq("4", 0, "36=50|");
    assert!(h.outbound().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 50);
}

#[test]
fn case_11b_reset_new_seq_no_equal_is_accepted_quietly() {
    let mut h = logged_on();
    h.send_seq("4", 7, "36=2|");
    assert!(h.outbound().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 2);
    assert_eq!(h.session.state(), SessionState::Active);
}

#[test]
fn case_11c_reset_new_seq_no_less_reject_5_even_with_msgseqnum_0() {
    let mut h = logged_on();
    heartbeats_until(&mut h, 3);
    for body in ["36=1|", "36=1|123=N|"] {
        h.send_seq("4", 0, body);
        let out = h.outbound();
        assert_eq!(types(&out), ["3"], "{body}");
        assert_reject(&out[0], 0, Some(36), "4", 5);
        assert_eq!(h.session.state(), SessionState::Active);
    }
    h.send("1", "112=HELLO|");
    assert_eq!(types(&h.outbound()), ["0"]);
}

// --- 12, 13: logout -----------------------------------------------------------------------

#[test]
fn case_12_logout_we_start_completes_on_the_answer() {
    let mut h = logged_on();
    h.session.initiate_logout(h.now, Some("end of day"));
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(out[0].get(58), Some("end of day"));
    h.send("5", "");
    assert!(h.outbound().is_empty());
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::LogoutComplete)
    );
}

#[test]
fn case_13b_unsolicited_logout_is_answered() {
    let mut h = logged_on();
    h.send("5", "");
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(out[0].seq(), 2);
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::PeerLogout)
    );
}

// --- 14: field errors the session layer owns ------------------------------------------------

#[test]
fn case_14b_required_header_field_missing_reject_1() {
    let mut h = logged_on();
    let t = h.sending_time();
    raw(&mut h, "0", &format!("34=2|56=GW|52={t}|"));
    let out = h.outbound();
    assert_eq!(types(&out), ["3"]);
    assert_reject(&out[0], 2, Some(49), "0", 1);
    // A TestRequest without TestReqID.
    h.send_seq("1", 3, "");
    let out = h.outbound();
    assert_reject(&out[0], 3, Some(112), "1", 1);
    assert_eq!(h.session.seq_nums().next_in, 4);
}

// --- 20: simultaneous resend requests -----------------------------------------------------

#[test]
fn case_20_simultaneous_resend_request() {
    let mut h = logged_on();
    for id in ["R2", "R3"] {
        h.session
            .send_execution_report(h.now, &report(id))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(types(&h.outbound()), ["8", "8"]);
    h.send_seq("0", 7, "");
    let out = h.outbound();
    assert_eq!(types(&out), ["2"]);
    assert_eq!((out[0].seq(), out[0].num(7)), (4, 2));
    // The client asks for ours while we wait for theirs.
    h.send_seq("2", 8, "7=2|16=3|");
    let out = h.outbound();
    assert_eq!(types(&out), ["8", "8"]);
    assert_eq!((out[0].seq(), out[0].get(11)), (2, Some("R2")));
    assert_eq!((out[1].seq(), out[1].get(43)), (3, Some("Y")));
    // Their resend fills the gap; 7 and 8 were kept and are processed after it.
    for seq in 2..=6 {
        let (t, orig) = (h.sending_time(), time_at(&h, -1));
        raw(
            &mut h,
            "0",
            &format!("34={seq}|43=Y|49=CLIENT|52={t}|56=GW|122={orig}|"),
        );
    }
    assert!(h.outbound().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 9);
}

// --- ResetSeqNumFlag and the reset options ----------------------------------------------

#[test]
fn case_session_reset_logon_141y_on_a_live_session_resets_both_sides() {
    let mut h = logged_on();
    heartbeats_until(&mut h, 10);
    h.send("1", "112=1|");
    assert_eq!(h.outbound()[0].seq(), 2);
    h.send_seq("A", 1, "98=0|108=30|141=Y|");
    let out = h.outbound();
    assert_eq!(types(&out), ["A"]);
    assert_eq!((out[0].seq(), out[0].get(141)), (1, Some("Y")));
    h.client_seq = 2;
    h.send("1", "112=1|");
    let out = h.outbound();
    assert_eq!((out[0].msg_type(), out[0].seq()), ("0", 2));
    assert_eq!(
        h.session.seq_nums(),
        SeqNums {
            next_in: 3,
            next_out: 3
        }
    );
}

fn store_after(h: Harness<MemoryStore>) -> SeqNums {
    h.session.into_store().seq_nums()
}

#[test]
fn reset_on_logon_option_starts_every_logon_at_one() {
    let mut store = MemoryStore::new();
    store
        .save_seq_nums(
            SeqNums {
                next_in: 9,
                next_out: 9,
            },
            util::START_WALL,
            util::START_MONO,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut config = util::config();
    config.reset_on_logon = true;
    let mut h = Harness::with_config(config, store);
    h.client_seq = 1;
    h.logon();
    assert_eq!(
        h.session.seq_nums(),
        SeqNums {
            next_in: 2,
            next_out: 2
        }
    );
}

#[test]
fn reset_on_logout_option_resets_after_the_logout() {
    let mut config = util::config();
    config.reset_on_logout = true;
    let mut h = Harness::with_config(config, MemoryStore::new());
    h.logon();
    h.send("5", "");
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(store_after(h), SeqNums::INITIAL);
    // Without the option the numbers carry over.
    let mut h = logged_on();
    h.send("5", "");
    assert_eq!(
        store_after(h),
        SeqNums {
            next_in: 3,
            next_out: 3
        }
    );
}

#[test]
fn reset_on_disconnect_option_resets_when_the_connection_ends() {
    let mut config = util::config();
    config.reset_on_disconnect = true;
    let mut h = Harness::with_config(config.clone(), MemoryStore::new());
    h.logon();
    h.send("0", "");
    // The connection drops without a Logout.
    assert_eq!(store_after(h), SeqNums::INITIAL);
    // A refused Logon is no logged-on connection: nothing is touched.
    let mut store = MemoryStore::new();
    store
        .save_seq_nums(
            SeqNums {
                next_in: 4,
                next_out: 4,
            },
            util::START_WALL,
            util::START_MONO,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let mut h = Harness::with_config(config, store);
    h.send("A", "98=0|108=30|553=alice|554=wrong|");
    assert_eq!(
        store_after(h),
        SeqNums {
            next_in: 4,
            next_out: 4
        }
    );
}

// --- third-party routing ------------------------------------------------------------------

#[test]
fn reverse_route_on_rejects() {
    let cases = [
        ("115=JCD|", vec![(128, "JCD")]),
        ("128=JCD|", vec![(115, "JCD")]),
        (
            "115=JCD|116=CS|144=CHI|",
            vec![(128, "JCD"), (129, "CS"), (145, "CHI")],
        ),
        (
            "128=JCD|129=CS|145=CHI|",
            vec![(115, "JCD"), (116, "CS"), (144, "CHI")],
        ),
    ];
    for (route, reversed) in cases {
        let mut h = logged_on();
        let t = h.sending_time();
        // A TestRequest without TestReqID is rejected.
        raw(&mut h, "1", &format!("34=2|49=CLIENT|52={t}|56=GW|{route}"));
        let out = h.outbound();
        assert_reject(&out[0], 2, Some(112), "1", 1);
        for (t, v) in reversed {
            assert_eq!(out[0].get(t), Some(v), "{route}: {out:?}");
        }
        // Replies to other messages carry no routing.
        h.send("1", "112=X|");
        let out = h.outbound();
        assert!(out[0].get(128).is_none() && out[0].get(115).is_none());
    }
}
