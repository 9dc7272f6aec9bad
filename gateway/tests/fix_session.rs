//! FIX 4.4 session conformance, case by case after the FIX Session Layer Test Cases
//! (1S logon, 2 standard header checks, 4 heartbeat, 6 test request, 8 resend request,
//! 10/11 sequence reset, 12/13 logout, 14 field errors), driven on a virtual clock with
//! `|` for SOH. Also: persistence across a restart, splits at every byte boundary, and
//! a steady state that allocates nothing.

mod util;

use std::time::Duration;

use proptest::prelude::*;
use tickwarp_gateway::fix::{
    BusinessMessageReject, BusinessRejectReason, DisconnectReason, ExecType, ExecutionReport,
    JournalStore, MemoryStore, MsgType, OrdStatus, OrderCancelReject, SendError, SeqNums,
    SessionEvent, SessionId, SessionState, SessionStore,
};
use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use tickwarp_wire::exec::CxlRejResponseTo;
use tickwarp_wire::journal::JournalConfig;
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, OrderType, Price, Qty, RejectReason, Side, TickCause,
    TimeInForce,
};
use util::{Harness, Out, frame};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

const NOS: &str = "11=ORD1|1=42|55=ACME|54=1|38=100|40=2|44=12.5|59=0|60=20251125-10:00:00.000|";

fn harness() -> Harness<MemoryStore> {
    Harness::new(MemoryStore::new())
}

fn logged_on() -> Harness<MemoryStore> {
    let mut h = harness();
    h.logon();
    h
}

fn disconnect_reason(events: &[SessionEvent]) -> Option<DisconnectReason> {
    events.iter().find_map(|e| match e {
        SessionEvent::Disconnect { reason, .. } => Some(*reason),
        _ => None,
    })
}

fn types(out: &[Out]) -> Vec<&str> {
    out.iter().map(Out::msg_type).collect()
}

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn report(cl_ord_id: &str) -> ExecutionReport<'static> {
    ExecutionReport {
        order_id: 9001,
        exec_id: 1,
        exec_type: ExecType::New,
        ord_status: OrdStatus::New,
        cl_ord_id: id(cl_ord_id),
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

// --- 1S: logon ---------------------------------------------------------------------

#[test]
fn logon_valid_is_answered_with_logon() {
    let mut h = harness();
    h.send("A", "98=0|108=30|553=alice|554=secret|");
    let out = h.outbound();
    assert_eq!(types(&out), ["A"]);
    assert_eq!(out[0].seq(), 1);
    assert_eq!(out[0].get(49), Some("GW"));
    assert_eq!(out[0].get(56), Some("CLIENT"));
    assert_eq!(out[0].get(98), Some("0"));
    assert_eq!(out[0].get(108), Some("30"));
    assert_eq!(out[0].get(141), None);
    assert_eq!(
        h.events(),
        [SessionEvent::LoggedOn {
            session: SessionId(7),
            reset: false
        }]
    );
    assert_eq!(h.session.state(), SessionState::Active);
    assert_eq!(h.session.heartbeat_interval(), Duration::from_secs(30));
    assert_eq!(
        h.session.seq_nums(),
        SeqNums {
            next_in: 2,
            next_out: 2
        }
    );
}

#[test]
fn logon_with_unknown_comp_id_gets_logout_and_disconnect() {
    let mut h = harness();
    let sending_time = h.sending_time();
    h.feed(&frame(&format!(
        "35=A|34=1|49=EVIL|52={sending_time}|56=GW|98=0|108=30|553=alice|554=secret|"
    )));
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(out[0].get(58), Some("unknown CompID"));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::BadCompId)
    );
    assert_eq!(h.session.state(), SessionState::Disconnected);
}

#[test]
fn logon_with_wrong_password_gets_logout_and_disconnect() {
    let mut h = harness();
    h.send("A", "98=0|108=30|553=alice|554=guess|");
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(out[0].get(58), Some("invalid username or password"));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::BadCredentials)
    );
    // Input after the disconnect is ignored.
    h.send("A", "98=0|108=30|553=alice|554=secret|");
    assert!(h.outbound().is_empty());
    assert!(h.events().is_empty());
}

#[test]
fn logon_with_heartbeat_out_of_bounds_is_refused() {
    let mut h = harness();
    h.send("A", "98=0|108=0|553=alice|554=secret|");
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(
        out[0].get(58),
        Some("HeartBtInt (108) must be 1 to 120 seconds")
    );
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::BadLogon)
    );
}

#[test]
fn first_message_not_logon_gets_logout_and_disconnect() {
    let mut h = harness();
    h.send("D", NOS);
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::FirstMessageNotLogon)
    );
}

#[test]
fn no_logon_within_timeout_disconnects() {
    let mut h = harness();
    assert_eq!(
        h.session.poll_timeout(),
        Some(util::START_MONO.saturating_add(Duration::from_secs(10)))
    );
    h.advance(Duration::from_secs(9));
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::LogonTimeout)
    );
    assert_eq!(h.session.poll_timeout(), None);
}

#[test]
fn logon_with_seq_too_high_is_accepted_then_resend_requested() {
    let mut h = harness();
    h.send_seq("A", 5, "98=0|108=30|553=alice|554=secret|");
    let out = h.outbound();
    assert_eq!(types(&out), ["A", "2"]);
    assert_eq!(out[1].get(7), Some("1"));
    assert_eq!(out[1].get(16), Some("0"));
    assert_eq!(h.session.seq_nums().next_in, 1);
    // The client gap-fills 1..=5 (its Logon included) and goes on at 6.
    h.send_seq(
        "4",
        1,
        &format!("43=Y|122={}|123=Y|36=6|", h.sending_time()),
    );
    assert_eq!(h.session.seq_nums().next_in, 6);
    h.send_seq("D", 6, NOS);
    assert!(h.outbound().is_empty());
    let events = h.events();
    assert!(
        matches!(events.last(), Some(SessionEvent::NewOrderSingle(_))),
        "{events:?}"
    );
}

#[test]
fn logon_with_seq_too_low_after_restart_gets_logout() {
    let mut store = MemoryStore::new();
    let seq = SeqNums {
        next_in: 5,
        next_out: 9,
    };
    store
        .save_seq_nums(seq, UnixNanos::ZERO, Nanos::ZERO)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut h = Harness::new(store);
    h.send_seq("A", 3, "98=0|108=30|553=alice|554=secret|");
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(out[0].seq(), 9);
    assert_eq!(
        out[0].get(58),
        Some("MsgSeqNum too low, expecting 5 but received 3")
    );
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::SeqTooLow {
            expected: 5,
            received: 3
        })
    );
}

#[test]
fn reset_seq_num_flag_resets_both_directions() {
    let mut store = MemoryStore::new();
    let seq = SeqNums {
        next_in: 40,
        next_out: 50,
    };
    store
        .save_seq_nums(seq, UnixNanos::ZERO, Nanos::ZERO)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut h = Harness::new(store);
    h.send_seq("A", 1, "98=0|108=30|141=Y|553=alice|554=secret|");
    let out = h.outbound();
    assert_eq!(types(&out), ["A"]);
    assert_eq!(out[0].seq(), 1);
    assert_eq!(out[0].get(141), Some("Y"));
    assert_eq!(
        h.events(),
        [SessionEvent::LoggedOn {
            session: SessionId(7),
            reset: true
        }]
    );
    assert_eq!(
        h.session.seq_nums(),
        SeqNums {
            next_in: 2,
            next_out: 2
        }
    );
}

// --- 2: standard header --------------------------------------------------------------

#[test]
fn seq_too_high_sends_one_resend_request_and_drops_the_message() {
    let mut h = logged_on();
    h.send_seq("D", 5, NOS);
    h.send_seq("0", 6, "");
    let out = h.outbound();
    assert_eq!(types(&out), ["2"]);
    assert_eq!(out[0].get(7), Some("2"));
    assert_eq!(out[0].get(16), Some("0"));
    assert!(h.events().is_empty());
    // The client resends: admin 2..=4 as a gap fill, then 5 and 6 again.
    let t = h.sending_time();
    h.send_seq("4", 2, &format!("43=Y|122={t}|123=Y|36=5|"));
    h.send_seq("D", 5, &format!("43=Y|122={t}|{NOS}"));
    h.send_seq("0", 6, &format!("43=Y|122={t}|"));
    assert!(h.outbound().is_empty());
    let events = h.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(events[0], SessionEvent::NewOrderSingle(ref o) if o.msg_seq == 5));
    assert_eq!(h.session.seq_nums().next_in, 7);
}

#[test]
fn seq_too_low_without_poss_dup_gets_logout_and_disconnect() {
    let mut h = logged_on();
    h.send("0", "");
    h.send_seq("0", 2, "");
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(
        out[0].get(58),
        Some("MsgSeqNum too low, expecting 3 but received 2")
    );
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::SeqTooLow {
            expected: 3,
            received: 2
        })
    );
}

#[test]
fn poss_dup_already_received_is_ignored() {
    let mut h = logged_on();
    h.send("D", NOS);
    assert_eq!(h.events().len(), 1);
    let t = h.sending_time();
    h.send_seq("D", 2, &format!("43=Y|122={t}|{NOS}"));
    assert!(h.outbound().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn poss_dup_without_orig_sending_time_is_rejected() {
    let mut h = logged_on();
    h.send("D", &format!("43=Y|{NOS}"));
    let out = h.outbound();
    assert_eq!(types(&out), ["3"]);
    assert_eq!(out[0].get(45), Some("2"));
    assert_eq!(out[0].get(371), Some("122"));
    assert_eq!(out[0].get(372), Some("D"));
    assert_eq!(out[0].get(373), Some("1"));
    assert!(h.events().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn poss_dup_with_orig_sending_time_after_sending_time_gets_reject_and_logout() {
    let mut h = logged_on();
    h.send("D", &format!("43=Y|122=20251125-10:00:05.000|{NOS}"));
    let out = h.outbound();
    assert_eq!(types(&out), ["3", "5"]);
    assert_eq!(out[0].get(371), Some("122"));
    assert_eq!(out[0].get(373), Some("10"));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::SendingTimeAccuracy)
    );
}

#[test]
fn garbled_messages_are_dropped_without_consuming_a_seq_num() {
    let mut h = logged_on();
    let good = h.client_msg("D", 2, NOS);
    let mut bad_checksum = good.clone();
    let n = bad_checksum.len();
    bad_checksum[n - 2] = if bad_checksum[n - 2] == b'0' {
        b'1'
    } else {
        b'0'
    };
    h.feed(&bad_checksum);
    let text = String::from_utf8_lossy(&good).into_owned();
    let len_field = text.split('\x01').nth(1).unwrap_or_default().to_owned();
    let declared: usize = len_field[2..].parse().unwrap_or(0);
    let bad_length = text.replacen(&len_field, &format!("9={}", declared + 3), 1);
    h.feed(bad_length.as_bytes());
    assert!(h.outbound().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 2);
    // The stream resynchronizes and the good copy is processed.
    h.feed(&good);
    assert!(h.outbound().is_empty());
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn wrong_begin_string_gets_logout_and_disconnect() {
    let mut h = logged_on();
    let good = h.client_msg("0", 2, "");
    let text = String::from_utf8_lossy(&good).replace("FIX.4.4", "FIX.4.2");
    let body_end = text.len() - 7;
    let sum = tickwarp_gateway::fix::codec::checksum(&text.as_bytes()[..body_end]);
    let bytes = format!("{}10={sum:03}\x01", &text[..body_end]);
    h.feed(bytes.as_bytes());
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::UnsupportedBeginString)
    );
}

#[test]
fn wrong_comp_id_after_logon_gets_reject_logout_disconnect() {
    let mut h = logged_on();
    let t = h.sending_time();
    h.feed(&frame(&format!("35=0|34=2|49=CLIENT|52={t}|56=OTHER|")));
    let out = h.outbound();
    assert_eq!(types(&out), ["3", "5"]);
    assert_eq!(out[0].get(373), Some("9"));
    assert_eq!(out[0].get(371), Some("56"));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::BadCompId)
    );
}

#[test]
fn sending_time_out_of_tolerance_gets_reject_logout_disconnect() {
    let mut h = logged_on();
    h.feed(&frame(
        "35=0|34=2|49=CLIENT|52=20251125-09:00:00.000|56=GW|",
    ));
    let out = h.outbound();
    assert_eq!(types(&out), ["3", "5"]);
    assert_eq!(out[0].get(373), Some("10"));
    assert_eq!(out[0].get(371), Some("52"));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::SendingTimeAccuracy)
    );
}

#[test]
fn missing_seq_num_gets_logout() {
    let mut h = logged_on();
    let t = h.sending_time();
    h.feed(&frame(&format!("35=0|49=CLIENT|52={t}|56=GW|")));
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::MissingSeqNum)
    );
}

// --- 4 and 6: heartbeat and test request ---------------------------------------------------

#[test]
fn heartbeat_after_our_silence_and_answer_to_test_request() {
    let mut h = logged_on();
    h.send("1", "112=PING-1|");
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].get(112), Some("PING-1"));
    h.advance(Duration::from_secs(29));
    assert!(h.outbound().is_empty());
    h.send("0", "");
    h.advance(Duration::from_secs(1));
    let out = h.outbound();
    assert_eq!(types(&out), ["0"]);
    assert_eq!(out[0].get(112), None);
}

#[test]
fn test_request_after_inbound_silence_then_disconnect() {
    let mut h = logged_on();
    // 30 s: our heartbeat; 36 s (HeartBtInt + 20 %): a TestRequest.
    h.advance(Duration::from_secs(30));
    assert_eq!(types(&h.outbound()), ["0"]);
    assert_eq!(
        h.session.poll_timeout(),
        Some(util::START_MONO.saturating_add(Duration::from_secs(36)))
    );
    h.advance(Duration::from_secs(6));
    let out = h.outbound();
    assert_eq!(types(&out), ["1"]);
    let test_req_id = out[0].get(112).unwrap_or_default().to_owned();
    assert!(!test_req_id.is_empty());
    h.advance(Duration::from_secs(35));
    assert!(disconnect_reason(&h.events()).is_none());
    h.advance(Duration::from_secs(1));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::TestRequestTimeout)
    );
}

#[test]
fn answered_test_request_keeps_the_session() {
    let mut h = logged_on();
    h.advance(Duration::from_secs(36));
    let out = h.outbound();
    let id = out
        .iter()
        .find(|o| o.msg_type() == "1")
        .and_then(|o| o.get(112))
        .unwrap_or_default()
        .to_owned();
    h.send("0", &format!("112={id}|"));
    h.advance(Duration::from_secs(36));
    assert!(disconnect_reason(&h.events()).is_none());
    assert_eq!(h.session.state(), SessionState::Active);
}

// --- 8: resend request ---------------------------------------------------------------------

#[test]
fn resend_request_is_answered_with_poss_dup_and_gap_fills() {
    let mut h = logged_on();
    h.session
        .send_execution_report(h.now, &report("A1"))
        .unwrap_or_else(|e| panic!("{e}"));
    h.session
        .send_execution_report(h.now, &report("A2"))
        .unwrap_or_else(|e| panic!("{e}"));
    h.advance(Duration::from_secs(30));
    h.session
        .send_execution_report(h.now, &report("A3"))
        .unwrap_or_else(|e| panic!("{e}"));
    let sent = h.outbound();
    assert_eq!(types(&sent), ["8", "8", "0", "8"]);
    h.advance(Duration::from_secs(1));
    h.send("2", "7=1|16=0|");
    let out = h.outbound();
    assert_eq!(types(&out), ["4", "8", "8", "4", "8"]);
    assert_eq!(
        (out[0].seq(), out[0].get(123), out[0].num(36)),
        (1, Some("Y"), 2)
    );
    assert_eq!(out[0].get(43), Some("Y"));
    for (o, (seq, cl)) in [
        (&out[1], (2, "A1")),
        (&out[2], (3, "A2")),
        (&out[4], (5, "A3")),
    ] {
        assert_eq!(o.seq(), seq);
        assert_eq!(o.get(11), Some(cl));
        assert_eq!(o.get(43), Some("Y"));
        let original = sent.iter().find(|s| s.seq() == seq).and_then(|s| s.get(52));
        assert_eq!(o.get(122), original);
        assert_ne!(o.get(52), original);
        assert_eq!(o.get(55), Some("ACME"));
    }
    assert_eq!((out[3].seq(), out[3].num(36)), (4, 5));
    // Nothing new was numbered by the resend.
    assert_eq!(h.session.seq_nums().next_out, 6);

    h.send("2", "7=3|16=3|");
    let out = h.outbound();
    assert_eq!(types(&out), ["8"]);
    assert_eq!(out[0].get(11), Some("A2"));
}

// --- 10 and 11: sequence reset -------------------------------------------------------------

#[test]
fn sequence_reset_gap_fill_moves_the_expected_seq_num() {
    let mut h = logged_on();
    let t = h.sending_time();
    h.send_seq("4", 2, &format!("43=Y|122={t}|123=Y|36=10|"));
    assert!(h.outbound().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 10);
    // A gap fill that would lower it is rejected.
    h.send_seq("4", 10, "123=Y|36=3|");
    let out = h.outbound();
    assert_eq!(types(&out), ["3"]);
    assert_eq!(out[0].get(373), Some("5"));
    assert_eq!(out[0].get(371), Some("36"));
    assert_eq!(h.session.seq_nums().next_in, 11);
}

#[test]
fn sequence_reset_reset_mode_raises_but_never_lowers() {
    let mut h = logged_on();
    h.send_seq("4", 99, "36=20|");
    assert!(h.outbound().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 20);
    h.send_seq("4", 1, "36=5|");
    let out = h.outbound();
    assert_eq!(types(&out), ["3"]);
    assert_eq!(out[0].get(373), Some("5"));
    assert_eq!(out[0].get(371), Some("36"));
    assert_eq!(out[0].get(45), Some("1"));
    assert_eq!(h.session.seq_nums().next_in, 20);
}

// --- 12 and 13: logout -----------------------------------------------------------------------

#[test]
fn logout_from_client_is_answered() {
    let mut h = logged_on();
    h.send("5", "58=bye|");
    assert_eq!(types(&h.outbound()), ["5"]);
    let events = h.events();
    assert!(events.contains(&SessionEvent::LoggedOut {
        session: SessionId(7)
    }));
    assert_eq!(
        disconnect_reason(&events),
        Some(DisconnectReason::PeerLogout)
    );
}

#[test]
fn logout_from_us_completes_on_answer() {
    let mut h = logged_on();
    h.session.initiate_logout(h.now, Some("end of day"));
    let out = h.outbound();
    assert_eq!(types(&out), ["5"]);
    assert_eq!(out[0].get(58), Some("end of day"));
    assert_eq!(h.session.state(), SessionState::LoggingOut);
    h.send("5", "");
    assert!(h.outbound().is_empty());
    let events = h.events();
    assert!(events.contains(&SessionEvent::LoggedOut {
        session: SessionId(7)
    }));
    assert_eq!(
        disconnect_reason(&events),
        Some(DisconnectReason::LogoutComplete)
    );
}

#[test]
fn logout_from_us_times_out() {
    let mut h = logged_on();
    h.session.initiate_logout(h.now, None);
    h.advance(Duration::from_secs(9));
    assert!(disconnect_reason(&h.events()).is_none());
    h.advance(Duration::from_secs(1));
    assert_eq!(
        disconnect_reason(&h.events()),
        Some(DisconnectReason::LogoutTimeout)
    );
}

// --- 14: invalid fields and message types ------------------------------------------------

#[test]
fn invalid_fields_get_session_rejects_and_consume_the_seq_num() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "D",
            "1=42|55=ACME|54=1|38=100|40=2|44=12.5|60=20251125-10:00:00.000|",
            "11",
            "1",
        ),
        (
            "D",
            "11=X|55=ACME|54=7|38=100|40=2|44=1|60=20251125-10:00:00.000|",
            "54",
            "5",
        ),
        (
            "D",
            "11=X|55=ACME|54=1|38=1x|40=2|44=1|60=20251125-10:00:00.000|",
            "38",
            "6",
        ),
        (
            "D",
            "11=X|55=ACME|54=1|38=10|40=2|60=20251125-10:00:00.000|",
            "44",
            "1",
        ),
        ("D", "11=X|58=a|58=b|", "58", "13"),
        ("D", "11=X|58=|", "58", "4"),
        (
            "F",
            "11=X|55=ACME|54=1|60=20251125-10:00:00.000|",
            "41",
            "1",
        ),
        ("1", "", "112", "1"),
        ("ZZ", "", "35", "11"),
    ];
    let mut h = logged_on();
    for (i, &(msg_type, body, ref_tag, reason)) in cases.iter().enumerate() {
        let seq = 2 + i as u64;
        h.send(msg_type, body);
        let out = h.outbound();
        assert_eq!(types(&out), ["3"], "{msg_type} {body}");
        assert_eq!(out[0].get(45), Some(seq.to_string().as_str()), "{body}");
        assert_eq!(out[0].get(371), Some(ref_tag), "{body}");
        assert_eq!(out[0].get(372), Some(msg_type), "{body}");
        assert_eq!(out[0].get(373), Some(reason), "{body}");
        assert!(h.events().is_empty());
        assert_eq!(h.session.seq_nums().next_in, seq + 1);
    }
}

// --- application messages ------------------------------------------------------------------

#[test]
fn order_messages_become_typed_events() {
    let mut h = logged_on();
    h.send("D", NOS);
    h.send(
        "F",
        "41=ORD1|11=ORD2|55=ACME|54=1|38=100|60=20251125-10:00:01.000|",
    );
    h.send(
        "G",
        "41=ORD1|11=ORD3|55=ACME|54=1|38=50|40=1|59=3|60=20251125-10:00:02.000|",
    );
    assert!(h.outbound().is_empty());
    let events = h.events();
    let [
        SessionEvent::NewOrderSingle(new),
        SessionEvent::OrderCancelRequest(cancel),
        SessionEvent::OrderCancelReplaceRequest(replace),
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(new.session, SessionId(7));
    assert_eq!(new.msg_seq, 2);
    assert_eq!(new.cl_ord_id, id("ORD1"));
    assert_eq!(new.spec.instrument, InstrumentId(1));
    assert_eq!(new.spec.account, AccountId(42));
    assert_eq!(new.spec.price, Price::from_ticks(125_000));
    assert_eq!(new.spec.qty, Qty(100));
    assert_eq!(new.spec.tif, TimeInForce::Day);
    let wire = new.to_wire(TickCause::NONE);
    assert_eq!(wire.spec(), new.spec);
    assert_eq!(wire.cl_ord_id(), id("ORD1"));
    assert_eq!(cancel.orig_cl_ord_id, id("ORD1"));
    assert_eq!(cancel.order_qty, Some(Qty(100)));
    assert_eq!(cancel.to_wire(TickCause::NONE).cl_ord_id(), id("ORD2"));
    assert_eq!(replace.spec.ord_type, OrderType::Market);
    assert_eq!(replace.spec.price, Price::ZERO);
    assert_eq!(replace.spec.tif, TimeInForce::Ioc);
    assert_eq!(
        replace.to_wire(TickCause::NONE).orig_cl_ord_id(),
        id("ORD1")
    );
}

#[test]
fn execution_report_and_cancel_reject_fields() {
    let mut h = harness();
    assert_eq!(
        h.session.send_execution_report(h.now, &report("A1")),
        Err(SendError::NotLoggedOn)
    );
    h.logon();
    let mut fill = report("A1");
    fill.exec_type = ExecType::Trade;
    fill.ord_status = OrdStatus::PartiallyFilled;
    fill.last_qty = Some(Qty(40));
    fill.last_px = Some(Price::from_ticks(124_000));
    fill.cum_qty = Qty(40);
    fill.leaves_qty = Qty(60);
    fill.avg_px = Price::from_ticks(124_000);
    fill.text = Some("partial");
    let seq = h
        .session
        .send_execution_report(h.now, &fill)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seq, 2);
    let mut bad = report("A1");
    bad.instrument = InstrumentId(99);
    assert_eq!(
        h.session.send_execution_report(h.now, &bad),
        Err(SendError::UnknownInstrument(InstrumentId(99)))
    );
    h.session
        .send_order_cancel_reject(
            h.now,
            &OrderCancelReject {
                order_id: 0,
                cl_ord_id: id("C1"),
                orig_cl_ord_id: id("A1"),
                ord_status: OrdStatus::Filled,
                response_to: CxlRejResponseTo::Cancel,
                reason: RejectReason::TooLateToCancel,
                text: None,
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    h.session
        .send_business_reject(
            h.now,
            &BusinessMessageReject {
                ref_seq_num: 4,
                ref_msg_type: MsgType::NEW_ORDER_SINGLE,
                ref_id: Some(b"X"),
                reason: BusinessRejectReason::ApplicationNotAvailable,
                text: Some("closed"),
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let out = h.outbound();
    assert_eq!(types(&out), ["8", "9", "j"]);
    let er = &out[0];
    for (tag, want) in [
        (37, "9001"),
        (17, "1"),
        (150, "F"),
        (39, "1"),
        (11, "A1"),
        (1, "42"),
        (55, "ACME"),
        (54, "1"),
        (38, "100"),
        (44, "12.5"),
        (32, "40"),
        (31, "12.4"),
        (151, "60"),
        (14, "40"),
        (6, "12.4"),
        (60, "20251125-10:00:00.000"),
        (58, "partial"),
    ] {
        assert_eq!(er.get(tag), Some(want), "tag {tag}");
    }
    let cxl = &out[1];
    for (tag, want) in [
        (37, "NONE"),
        (11, "C1"),
        (41, "A1"),
        (39, "2"),
        (434, "1"),
        (102, "0"),
    ] {
        assert_eq!(cxl.get(tag), Some(want), "tag {tag}");
    }
    assert_eq!(out[2].get(380), Some("4"));
    assert_eq!(out[2].get(45), Some("4"));
}

// --- persistence -----------------------------------------------------------------------------

#[test]
fn restart_with_journal_store_continues_and_answers_resend() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let open = || JournalStore::open(dir.path(), JournalConfig::default());
    let mut h = Harness::new(open()?);
    h.logon();
    h.send("D", NOS);
    h.session
        .send_execution_report(h.now, &report("ORD1"))
        .map_err(anyhow::Error::msg)?;
    let first = h.outbound();
    assert_eq!(types(&first), ["8"]);
    h.send("5", "");
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(
        h.session.seq_nums(),
        SeqNums {
            next_in: 4,
            next_out: 4
        }
    );
    drop(h);

    // A new process: the store is reopened from the files.
    let store = open()?;
    assert_eq!(
        store.seq_nums(),
        SeqNums {
            next_in: 4,
            next_out: 4
        }
    );
    let mut h = Harness::new(store);
    assert_eq!(h.client_seq, 4);
    h.logon();
    h.send("2", "7=1|16=0|");
    let out = h.outbound();
    assert_eq!(types(&out), ["4", "8", "4"]);
    assert_eq!((out[0].seq(), out[0].num(36)), (1, 2));
    assert_eq!(out[1].seq(), 2);
    assert_eq!(out[1].get(43), Some("Y"));
    assert_eq!(out[1].get(11), Some("ORD1"));
    assert_eq!(out[1].get(122), first[0].get(52));
    assert_eq!((out[2].seq(), out[2].num(36)), (3, 5));
    assert_eq!(
        h.session.seq_nums(),
        SeqNums {
            next_in: 6,
            next_out: 5
        }
    );
    Ok(())
}

/// Frames, concatenated: what a client writes in one burst.
fn burst(h: &mut Harness<JournalStore>, msgs: &[(&str, &str)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (msg_type, body) in msgs {
        bytes.extend(h.client_msg(msg_type, h.client_seq, body));
        h.client_seq += 1;
    }
    bytes
}

#[test]
fn every_record_group_commits_once_per_duty_cycle_and_sends_nothing_before_the_sync()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // The journal default is `EveryRecord`.
    let mut h = Harness::new(JournalStore::open(dir.path(), JournalConfig::default())?);
    h.logon();
    let after_logon = h.session.store().syncs();
    assert_eq!(after_logon, 1, "the Logon duty cycle costs one sync");

    // One duty cycle: three orders and a TestRequest in, three reports out.
    let nos = |id: &str| NOS.replace("ORD1", id);
    let (a, b, c) = (nos("A"), nos("B"), nos("C"));
    let bytes = burst(&mut h, &[("D", &a), ("D", &b), ("D", &c), ("1", "112=T|")]);
    h.feed(&bytes);
    assert_eq!(h.events().len(), 3);
    for id in ["A", "B", "C"] {
        h.session
            .send_execution_report(h.now, &report(id))
            .map_err(anyhow::Error::msg)?;
    }
    assert!(
        h.session.transmit_queue().is_empty(),
        "bytes offered to the socket before the sync that covers them"
    );
    assert!(h.session.needs_flush());
    assert_eq!(
        h.session.store().syncs(),
        after_logon,
        "synced inside the cycle"
    );
    h.session.flush();
    assert_eq!(
        h.session.store().syncs(),
        after_logon + 1,
        "one sync per cycle"
    );
    let out = h.outbound();
    assert_eq!(types(&out), ["0", "8", "8", "8"]);
    // A cycle with nothing new costs no sync.
    h.session.flush();
    assert_eq!(h.session.store().syncs(), after_logon + 1);
    drop(h);

    // What was acknowledged is in the files.
    let store = JournalStore::open(dir.path(), JournalConfig::default())?;
    assert_eq!(
        store.seq_nums(),
        SeqNums {
            next_in: 6,
            next_out: 6
        }
    );
    Ok(())
}

#[test]
fn a_refused_logon_costs_no_sync_and_changes_no_sequence_number() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut h = Harness::new(JournalStore::open(dir.path(), JournalConfig::default())?);
    h.send("A", "98=0|108=30|553=alice|554=wrong|");
    assert_eq!(types(&h.outbound()), ["5"]);
    assert_eq!(h.session.store().syncs(), 0);
    assert_eq!(h.session.store().seq_nums(), SeqNums::INITIAL);
    drop(h);
    let store = JournalStore::open(dir.path(), JournalConfig::default())?;
    assert_eq!(store.seq_nums(), SeqNums::INITIAL);
    Ok(())
}

#[test]
fn fsync_never_still_orders_output_after_the_flush() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = JournalConfig {
        fsync: tickwarp_wire::journal::FsyncPolicy::Never,
        ..JournalConfig::default()
    };
    let mut h = Harness::new(JournalStore::open(dir.path(), config)?);
    h.logon();
    h.send("1", "112=T|");
    assert!(h.session.transmit_queue().is_empty());
    h.session.flush();
    assert_eq!(h.session.store().syncs(), 0);
    assert_eq!(types(&h.outbound()), ["0"]);
    Ok(())
}

// --- framing under arbitrary splits ------------------------------------------------------------

/// Logon, a NewOrderSingle, a garbled copy, a TestRequest, as one byte stream.
fn script() -> Vec<u8> {
    let h = harness();
    let mut bytes = h.client_msg("A", 1, "98=0|108=30|553=alice|554=secret|");
    bytes.extend(h.client_msg("D", 2, NOS));
    let mut garbled = h.client_msg("D", 3, NOS);
    let n = garbled.len();
    garbled[n - 3] ^= 1;
    bytes.extend(garbled);
    bytes.extend(h.client_msg("1", 3, "112=T|"));
    bytes
}

fn run(chunks: &[&[u8]]) -> (Vec<Out>, Vec<SessionEvent>) {
    let mut h = harness();
    for chunk in chunks {
        h.feed(chunk);
    }
    (h.outbound(), h.events())
}

#[test]
fn split_at_every_byte_boundary_gives_the_same_result() {
    let bytes = script();
    let whole = run(&[&bytes]);
    assert_eq!(types(&whole.0), ["A", "0"]);
    assert_eq!(whole.1.len(), 2);
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(run(&[a, b]), whole, "split at {cut}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_chunking_gives_the_same_result(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let bytes = script();
        let whole = run(&[&bytes]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points {
            chunks.push(&bytes[start..p]);
            start = p;
        }
        chunks.push(&bytes[start..]);
        prop_assert_eq!(run(&chunks), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_session(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut h = logged_on();
        h.feed(&bytes);
        let mut buf = [0u8; 256];
        while h.session.poll_transmit(&mut buf) > 0 {}
        h.advance(Duration::from_secs(100));
    }
}

// --- allocation ---------------------------------------------------------------------------------

#[test]
fn steady_state_order_and_report_allocate_nothing() {
    let mut h = logged_on();
    let mut buf = vec![0u8; 4096];
    let mut step = |h: &mut Harness<MemoryStore>, seq: u64, bytes: &[u8]| {
        h.feed(bytes);
        let Some(SessionEvent::NewOrderSingle(o)) = h.session.poll_event() else {
            panic!("no order at seq {seq}");
        };
        let mut r = report("ORD1");
        r.cl_ord_id = o.cl_ord_id;
        h.session
            .send_execution_report(h.now, &r)
            .unwrap_or_else(|e| panic!("{e}"));
        while h.session.poll_transmit(&mut buf) > 0 {}
    };
    let messages: Vec<Vec<u8>> = (2..40).map(|seq| h.client_msg("D", seq, NOS)).collect();
    for (i, m) in messages.iter().take(8).enumerate() {
        step(&mut h, 2 + i as u64, m);
    }
    let ((), allocations) = count_allocations(|| {
        for (i, m) in messages.iter().skip(8).enumerate() {
            step(&mut h, 10 + i as u64, m);
        }
    });
    assert_eq!(allocations, 0);
}
