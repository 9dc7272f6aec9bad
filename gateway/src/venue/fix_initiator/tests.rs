//! Unit tests of the initiator against scripted venue bytes (`|` for SOH) on a virtual
//! clock: logon, heartbeats and TestRequests, resend in both directions, logout, the
//! FIX 4.4 Vol. 2 session test cases that apply to an initiator (`vol2_*`), and the
//! mapping of ExecutionReport / OrderCancelReject / BusinessMessageReject to executions.

use std::collections::HashMap;

use proptest::prelude::*;
use tickwarp_runtime::{Nanos, UnixNanos};
use tickwarp_wire::{
    AccountId, ClientOrderId, InstrumentId, OrderSpec, OrderType, Price, Side, TickCause,
    TimeInForce,
};

use super::*;
use crate::fix::codec::{Framing, Message, checksum, scan_frame};
use crate::fix::fields::{SessionRejectReason, format_timestamp, tag};
use crate::fix::session::DisconnectReason;
use crate::fix::store::{MemoryStore, SeqNums};

/// 2025-11-25 10:00:00 UTC, monotonic 1 s.
const T0: VenueTime = VenueTime {
    wall: UnixNanos(1_764_064_800_000_000_000),
    mono: Nanos(1_000_000_000),
};
const ACME: InstrumentId = InstrumentId(1);
const ACCOUNT: AccountId = AccountId(42);

/// `secs` seconds after [`T0`] on both clocks.
fn at(secs: u64) -> VenueTime {
    VenueTime {
        wall: UnixNanos(T0.wall.0 + secs * 1_000_000_000),
        mono: Nanos(T0.mono.0 + secs * 1_000_000_000),
    }
}

/// A frame around `body` (with `|` for SOH) with correct BodyLength and CheckSum.
fn frame(body: &str) -> Vec<u8> {
    let body: Vec<u8> = body
        .bytes()
        .map(|b| if b == b'|' { 1 } else { b })
        .collect();
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(&body);
    let sum = checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

/// A message from the venue: header for `msg_type`/`seq`, then `rest` (`|` for SOH).
fn from_venue(msg_type: &str, seq: u64, rest: &str) -> Vec<u8> {
    let ts = format_timestamp(T0.wall);
    let ts = core::str::from_utf8(&ts).unwrap_or_default().to_owned();
    frame(&format!(
        "35={msg_type}|34={seq}|49=VENUE|52={ts}|56=GW|{rest}"
    ))
}

/// The fields of one message we sent.
type Sent = HashMap<u32, String>;

/// Everything the initiator has queued, decoded.
fn sent(venue: &mut FixVenue<MemoryStore>) -> Vec<Sent> {
    let mut bytes = vec![0u8; 1 << 16];
    let n = venue.poll_transmit(&mut bytes);
    let mut rest = &bytes[..n];
    let mut out = Vec::new();
    while let Framing::Complete(len) = scan_frame(rest, 1 << 16) {
        let msg = Message::decode(&rest[..len]).expect("we send valid frames");
        let mut fields: Sent = msg
            .fields()
            .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
            .collect();
        fields.insert(
            tag::MSG_TYPE,
            String::from_utf8_lossy(msg.msg_type().as_bytes()).into(),
        );
        out.push(fields);
        rest = &rest[len..];
    }
    assert!(rest.is_empty(), "partial frame queued");
    out
}

fn field(msg: &Sent, t: u32) -> &str {
    msg.get(&t).map_or("", String::as_str)
}

fn config() -> FixVenueConfig {
    let mut c = FixVenueConfig::new("GW", "VENUE");
    c.username = Some("alice".to_owned());
    c.password = Some("secret".to_owned());
    c
}

fn instruments() -> InstrumentTable {
    let mut t = InstrumentTable::new();
    t.insert_str("ACME", ACME).expect("symbol");
    t
}

fn events(venue: &mut FixVenue<MemoryStore>) -> Vec<FixVenueEvent> {
    std::iter::from_fn(|| venue.poll_event()).collect()
}

fn executions(venue: &mut FixVenue<MemoryStore>) -> Vec<Execution> {
    std::iter::from_fn(|| venue.poll_execution()).collect()
}

/// A venue logged on at [`T0`], its Logon consumed.
fn logged_on() -> FixVenue<MemoryStore> {
    let mut venue = FixVenue::connect(config(), instruments(), MemoryStore::new(), T0);
    venue.handle_bytes(T0, &from_venue("A", 1, "98=0|108=30|"));
    let _ = sent(&mut venue);
    assert_eq!(
        events(&mut venue),
        [FixVenueEvent::LoggedOn { reset: false }]
    );
    venue
}

fn id(s: &str) -> ClientOrderId {
    ClientOrderId::new(s).expect("client order id")
}

fn spec(qty: u64, ticks: i64) -> OrderSpec {
    OrderSpec {
        instrument: ACME,
        account: ACCOUNT,
        side: Side::Buy,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Day,
        price: Price::from_ticks(ticks),
        qty: Qty(qty),
    }
}

fn new_order(cl: &str, qty: u64) -> NewOrder {
    NewOrder::new(id(cl), &spec(qty, 125_000), TickCause::default())
}

#[test]
fn logon_carries_credentials_and_reset_and_waits_for_the_answer() {
    let mut c = config();
    c.reset_seq_num = true;
    let mut venue = FixVenue::connect(c, instruments(), MemoryStore::new(), T0);
    let out = sent(&mut venue);
    assert_eq!(out.len(), 1);
    let logon = &out[0];
    for (t, want) in [
        (tag::MSG_TYPE, "A"),
        (tag::MSG_SEQ_NUM, "1"),
        (tag::SENDER_COMP_ID, "GW"),
        (tag::TARGET_COMP_ID, "VENUE"),
        (tag::ENCRYPT_METHOD, "0"),
        (tag::HEART_BT_INT, "30"),
        (tag::RESET_SEQ_NUM_FLAG, "Y"),
        (tag::USERNAME, "alice"),
        (tag::PASSWORD, "secret"),
    ] {
        assert_eq!(field(logon, t), want, "tag {t}");
    }
    assert_eq!(venue.state(), FixVenueState::AwaitingLogon);
    assert_eq!(venue.poll_timeout(), Some(at(10).mono));

    venue.handle_bytes(at(1), &from_venue("A", 1, "98=0|108=30|141=Y|"));
    assert_eq!(
        events(&mut venue),
        [FixVenueEvent::LoggedOn { reset: true }]
    );
    assert_eq!(venue.state(), FixVenueState::Active);
    assert_eq!(
        venue.seq_nums(),
        SeqNums {
            next_in: 2,
            next_out: 2
        }
    );
}

#[test]
fn no_logon_answer_times_out() {
    let mut venue = FixVenue::connect(config(), instruments(), MemoryStore::new(), T0);
    venue.handle_timeout(at(9));
    assert!(events(&mut venue).is_empty());
    venue.handle_timeout(at(10));
    let reason = DisconnectReason::LogonTimeout;
    assert_eq!(events(&mut venue), [FixVenueEvent::Disconnect { reason }]);
    assert_eq!(venue.poll_timeout(), None);
}

#[test]
fn a_logout_answering_our_logon_is_a_refusal() {
    let mut venue = FixVenue::connect(config(), instruments(), MemoryStore::new(), T0);
    venue.handle_bytes(at(1), &from_venue("5", 1, "58=bad password|"));
    let reason = DisconnectReason::PeerLogout;
    assert_eq!(
        events(&mut venue),
        [
            FixVenueEvent::LogonRefused,
            FixVenueEvent::Disconnect { reason }
        ]
    );
}

#[test]
fn heartbeat_after_silence_then_test_request_then_disconnect() {
    let mut venue = logged_on();
    assert_eq!(venue.poll_timeout(), Some(at(30).mono));
    venue.handle_timeout(at(30));
    let out = sent(&mut venue);
    assert_eq!(out.len(), 1);
    assert_eq!(field(&out[0], tag::MSG_TYPE), "0");
    assert_eq!(field(&out[0], tag::MSG_SEQ_NUM), "2");
    // Inbound silence of HeartBtInt + 20 %: a TestRequest.
    assert_eq!(venue.poll_timeout(), Some(at(36).mono));
    venue.handle_timeout(at(36));
    let out = sent(&mut venue);
    assert_eq!(field(&out[0], tag::MSG_TYPE), "1");
    assert_eq!(field(&out[0], tag::TEST_REQ_ID), "1");
    // Unanswered for as long again: disconnect.
    venue.handle_timeout(at(71));
    assert!(events(&mut venue).is_empty());
    venue.handle_timeout(at(72));
    let reason = DisconnectReason::TestRequestTimeout;
    assert_eq!(events(&mut venue), [FixVenueEvent::Disconnect { reason }]);
}

#[test]
fn an_answered_test_request_keeps_the_session() {
    let mut venue = logged_on();
    venue.handle_timeout(at(36));
    let out = sent(&mut venue);
    assert_eq!(field(&out[0], tag::MSG_TYPE), "1");
    venue.handle_bytes(at(37), &from_venue("0", 2, "112=1|"));
    venue.handle_timeout(at(72));
    assert!(events(&mut venue).is_empty());
    assert_eq!(venue.state(), FixVenueState::Active);
}

#[test]
fn answers_a_test_request_with_its_id() {
    let mut venue = logged_on();
    venue.handle_bytes(at(1), &from_venue("1", 2, "112=PING|"));
    let out = sent(&mut venue);
    assert_eq!(out.len(), 1);
    assert_eq!(field(&out[0], tag::MSG_TYPE), "0");
    assert_eq!(field(&out[0], tag::TEST_REQ_ID), "PING");
}

#[test]
fn resend_request_resends_orders_and_gap_fills_admin() {
    let mut venue = logged_on();
    venue.submit_new(at(1), &new_order("O1", 100));
    venue.handle_timeout(at(31));
    let first = sent(&mut venue);
    assert_eq!(first.len(), 2);
    assert_eq!(field(&first[0], tag::MSG_TYPE), "D");
    assert_eq!(field(&first[1], tag::MSG_TYPE), "0");

    venue.handle_bytes(at(32), &from_venue("2", 2, "7=1|16=0|"));
    let out = sent(&mut venue);
    assert_eq!(out.len(), 3, "{out:?}");
    // Logon (1) gap-filled, the order (2) again, the heartbeat (3) gap-filled.
    assert_eq!(field(&out[0], tag::MSG_TYPE), "4");
    assert_eq!(field(&out[0], tag::MSG_SEQ_NUM), "1");
    assert_eq!(field(&out[0], tag::NEW_SEQ_NO), "2");
    assert_eq!(field(&out[0], tag::GAP_FILL_FLAG), "Y");
    assert_eq!(field(&out[1], tag::MSG_TYPE), "D");
    assert_eq!(field(&out[1], tag::MSG_SEQ_NUM), "2");
    assert_eq!(field(&out[1], tag::POSS_DUP_FLAG), "Y");
    assert_eq!(
        field(&out[1], tag::ORIG_SENDING_TIME),
        field(&first[0], tag::SENDING_TIME)
    );
    assert_eq!(field(&out[1], tag::CL_ORD_ID), "O1");
    assert_eq!(field(&out[2], tag::MSG_TYPE), "4");
    assert_eq!(field(&out[2], tag::MSG_SEQ_NUM), "3");
    assert_eq!(field(&out[2], tag::NEW_SEQ_NO), "4");
    assert_eq!(venue.seq_nums().next_out, 4);
}

#[test]
fn a_huge_resend_request_is_served_in_bounded_chunks() {
    let mut venue = logged_on();
    for i in 0..600 {
        venue.submit_new(at(1), &new_order(&format!("B{i}"), 100));
    }
    let mut buf = vec![0u8; 1 << 16];
    while venue.poll_transmit(&mut buf) > 0 {}
    let mut bytes = Vec::new();
    for seq in 2..202 {
        bytes.extend(from_venue("2", seq, "7=1|16=0|"));
    }
    venue.handle_bytes(at(2), &bytes);
    let mut seqs: Vec<u64> = sent(&mut venue)
        .iter()
        .map(|m| field(m, tag::MSG_SEQ_NUM).parse().unwrap_or(0))
        .collect();
    assert!(seqs.len() <= 256, "one step served {}", seqs.len());
    assert_eq!(venue.poll_timeout(), Some(Nanos::ZERO), "more to serve");
    for _ in 0..3 {
        venue.handle_timeout(at(2));
        seqs.extend(
            sent(&mut venue)
                .iter()
                .map(|m| field(m, tag::MSG_SEQ_NUM).parse::<u64>().unwrap_or(0)),
        );
    }
    // GapFill 1, then the 600 orders 2..=601, each once and in order.
    assert_eq!(seqs.len(), 601);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_ne!(venue.poll_timeout(), Some(Nanos::ZERO));
}

#[test]
fn a_gap_is_requested_and_a_gap_fill_closes_it() {
    let mut venue = logged_on();
    venue.handle_bytes(at(1), &from_venue("0", 5, ""));
    let out = sent(&mut venue);
    assert_eq!(out.len(), 1);
    assert_eq!(field(&out[0], tag::MSG_TYPE), "2");
    assert_eq!(field(&out[0], tag::BEGIN_SEQ_NO), "2");
    assert_eq!(field(&out[0], tag::END_SEQ_NO), "0");
    assert_eq!(venue.seq_nums().next_in, 2);
    // A second message beyond the gap does not ask again.
    venue.handle_bytes(at(1), &from_venue("0", 6, ""));
    assert!(sent(&mut venue).is_empty());
    venue.handle_bytes(
        at(2),
        &from_venue("4", 2, "43=Y|122=20251125-10:00:00.000|123=Y|36=7|"),
    );
    assert_eq!(venue.seq_nums().next_in, 7);
    assert!(sent(&mut venue).is_empty());
}

#[test]
fn a_too_low_seq_num_without_poss_dup_logs_out() {
    let mut venue = logged_on();
    venue.handle_bytes(at(1), &from_venue("0", 2, ""));
    venue.handle_bytes(at(1), &from_venue("0", 2, ""));
    let out = sent(&mut venue);
    assert_eq!(field(&out[0], tag::MSG_TYPE), "5");
    let reason = DisconnectReason::SeqTooLow {
        expected: 3,
        received: 2,
    };
    assert_eq!(events(&mut venue), [FixVenueEvent::Disconnect { reason }]);
}

#[test]
fn logout_handshake() {
    let mut venue = logged_on();
    venue.initiate_logout(at(1), Some("bye"));
    let out = sent(&mut venue);
    assert_eq!(field(&out[0], tag::MSG_TYPE), "5");
    assert_eq!(field(&out[0], tag::TEXT), "bye");
    assert_eq!(venue.state(), FixVenueState::LoggingOut);
    assert_eq!(venue.poll_timeout(), Some(at(11).mono));
    venue.handle_bytes(at(2), &from_venue("5", 2, ""));
    let reason = DisconnectReason::LogoutComplete;
    assert_eq!(
        events(&mut venue),
        [
            FixVenueEvent::LoggedOut,
            FixVenueEvent::Disconnect { reason }
        ]
    );
}

#[test]
fn a_fill_without_ack_reports_accepted_then_filled() {
    let mut venue = logged_on();
    venue.submit_new(at(1), &new_order("O1", 100));
    let out = sent(&mut venue);
    for (t, want) in [
        (tag::MSG_TYPE, "D"),
        (tag::CL_ORD_ID, "O1"),
        (tag::SYMBOL, "ACME"),
        (tag::SIDE, "1"),
        (tag::ORDER_QTY, "100"),
        (tag::ORD_TYPE, "2"),
        (tag::ACCOUNT, "42"),
    ] {
        assert_eq!(field(&out[0], t), want, "tag {t}");
    }
    venue.handle_bytes(
        at(2),
        &from_venue(
            "8",
            2,
            "37=7|11=O1|17=9|150=F|39=2|55=ACME|54=1|38=100|32=60|31=12.5|151=40|14=60|6=12.5|",
        ),
    );
    venue.handle_bytes(
        at(2),
        &from_venue(
            "8",
            3,
            "37=7|11=O1|17=10|150=F|39=2|55=ACME|54=1|38=100|32=40|31=12.5|151=0|14=100|6=12.5|",
        ),
    );
    let got = executions(&mut venue);
    assert_eq!(got.len(), 3, "{got:?}");
    let Execution::Accepted(a) = got[0] else {
        panic!("{got:?}");
    };
    assert_eq!(
        (a.cl_ord_id(), a.order_id(), a.side()),
        (id("O1"), 7, Side::Buy)
    );
    let Execution::Filled(f) = got[1] else {
        panic!("{got:?}");
    };
    assert_eq!(f.fill().last_qty, Qty(60));
    assert_eq!(f.fill().last_px, Price::from_ticks(125_000));
    assert_eq!(f.fill().leaves_qty, Qty(40));
    assert_eq!(f.fill().exec_id, 9);
    let Execution::Filled(f) = got[2] else {
        panic!("{got:?}");
    };
    assert_eq!((f.fill().cum_qty, f.fill().leaves_qty), (Qty(100), Qty(0)));
    assert_eq!(venue.open_orders(), 0);
}

#[test]
fn cancel_and_replace_answers_map_to_executions() {
    let mut venue = logged_on();
    venue.submit_new(at(1), &new_order("O1", 100));
    venue.handle_bytes(
        at(1),
        &from_venue(
            "8",
            2,
            "37=7|11=O1|17=1|150=0|39=0|55=ACME|54=1|151=100|14=0|6=0|",
        ),
    );
    // A replace the venue refuses with a BusinessMessageReject naming its MsgSeqNum.
    let replace = ReplaceOrder::new(id("R1"), id("O1"), &spec(50, 124_000), TickCause::default());
    venue.submit_replace(at(2), &replace);
    let out = sent(&mut venue);
    let g = out.last().expect("G sent");
    assert_eq!(field(g, tag::MSG_TYPE), "G");
    assert_eq!(field(g, tag::ORIG_CL_ORD_ID), "O1");
    let g_seq = field(g, tag::MSG_SEQ_NUM).to_owned();
    venue.handle_bytes(
        at(3),
        &from_venue("j", 3, &format!("45={g_seq}|372=G|380=3|")),
    );
    // A cancel the venue refuses with an OrderCancelReject.
    let cancel = CancelOrder::new(
        id("C1"),
        id("O1"),
        ACME,
        ACCOUNT,
        Side::Buy,
        TickCause::default(),
    );
    venue.submit_cancel(at(4), &cancel);
    venue.handle_bytes(
        at(4),
        &from_venue("9", 4, "37=7|11=C1|41=O1|39=0|434=1|102=0|"),
    );
    // A replace, then a cancel, accepted.
    let replace = ReplaceOrder::new(id("R2"), id("O1"), &spec(50, 124_000), TickCause::default());
    venue.submit_replace(at(5), &replace);
    venue.handle_bytes(
        at(5),
        &from_venue(
            "8",
            5,
            "37=7|11=R2|41=O1|17=2|150=5|39=0|55=ACME|54=1|151=50|14=0|6=0|",
        ),
    );
    let cancel = CancelOrder::new(
        id("C2"),
        id("R2"),
        ACME,
        ACCOUNT,
        Side::Buy,
        TickCause::default(),
    );
    venue.submit_cancel(at(6), &cancel);
    venue.handle_bytes(
        at(6),
        &from_venue(
            "8",
            6,
            "37=7|11=C2|41=R2|17=3|150=4|39=4|55=ACME|54=1|151=0|14=0|6=0|",
        ),
    );

    let got = executions(&mut venue);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(matches!(got[0], Execution::Accepted(a) if a.cl_ord_id() == id("O1")));
    let Execution::CancelRejected(r) = got[1] else {
        panic!("{got:?}");
    };
    assert_eq!(
        (
            r.cl_ord_id(),
            r.orig_cl_ord_id(),
            r.response_to(),
            r.reason()
        ),
        (
            id("R1"),
            id("O1"),
            CxlRejResponseTo::Replace,
            RejectReason::VenueRejected
        )
    );
    let Execution::CancelRejected(r) = got[2] else {
        panic!("{got:?}");
    };
    assert_eq!(
        (r.cl_ord_id(), r.response_to(), r.reason()),
        (
            id("C1"),
            CxlRejResponseTo::Cancel,
            RejectReason::TooLateToCancel
        )
    );
    let Execution::Replaced(r) = got[3] else {
        panic!("{got:?}");
    };
    assert_eq!((r.cl_ord_id(), r.orig_cl_ord_id()), (id("R2"), id("O1")));
    assert_eq!(r.replaced().qty, Qty(50));
    let Execution::Canceled(c) = got[4] else {
        panic!("{got:?}");
    };
    assert_eq!(
        (c.cl_ord_id(), c.orig_cl_ord_id()),
        (id("C2"), Some(id("R2")))
    );
    assert_eq!(c.canceled_qty(), Qty(50));
    assert_eq!(venue.open_orders(), 0);
}

#[test]
fn a_session_reject_of_an_order_rejects_it() {
    let mut venue = logged_on();
    venue.submit_new(at(1), &new_order("O1", 100));
    venue.handle_bytes(at(1), &from_venue("3", 2, "45=2|371=40|372=D|373=5|"));
    let got = executions(&mut venue);
    assert!(
        matches!(got[..], [Execution::Rejected(r)] if r.reason() == RejectReason::VenueRejected),
        "{got:?}"
    );
}

#[test]
fn commands_are_refused_locally_when_they_cannot_be_sent() {
    let mut venue = FixVenue::connect(config(), instruments(), MemoryStore::new(), T0);
    let _ = sent(&mut venue);
    venue.submit_new(T0, &new_order("O1", 100));
    assert!(sent(&mut venue).is_empty());
    venue.handle_bytes(T0, &from_venue("A", 1, "98=0|108=30|"));
    venue.submit_new(at(1), &new_order("O2", 100));
    venue.submit_new(at(1), &new_order("O2", 100));
    let cancel = CancelOrder::new(
        id("C1"),
        id("NOPE"),
        ACME,
        ACCOUNT,
        Side::Buy,
        TickCause::default(),
    );
    venue.submit_cancel(at(1), &cancel);
    let got = executions(&mut venue);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(matches!(got[0], Execution::Rejected(r) if r.reason() == RejectReason::VenueRejected));
    assert!(
        matches!(got[1], Execution::Rejected(r) if r.reason() == RejectReason::DuplicateClOrdId)
    );
    // A cancel of an order this connection does not know goes to the venue.
    let out = sent(&mut venue);
    assert_eq!(out.len(), 2, "O2 and the cancel were sent: {out:?}");
    assert_eq!(field(&out[1], tag::MSG_TYPE), "F");
    assert!(!out[1].contains_key(&tag::ORDER_QTY));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes from the venue, logged on or not, never panic.
    #[test]
    fn arbitrary_input_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        prefix in any::<bool>(),
    ) {
        let mut venue = if prefix {
            logged_on()
        } else {
            FixVenue::connect(config(), instruments(), MemoryStore::new(), T0)
        };
        let mut input = b"8=FIX.4.4\x019=".to_vec();
        input.extend_from_slice(&bytes);
        venue.handle_bytes(at(1), &input);
        venue.handle_bytes(at(1), &bytes);
        venue.handle_timeout(at(100));
        let _ = sent(&mut venue);
        let _ = executions(&mut venue);
    }
}

// FIX 4.4 Vol. 2 "Session Level Test Cases" that apply to an initiator, against the
// venue's side of the shared session core.

/// An ExecutionReport acknowledging order O1 (ExecType 0, New).
const ACK_O1: &str = "37=7|11=O1|17=1|150=0|39=0|55=ACME|54=1|38=100|151=100|14=0|6=0|";

/// The only message we sent, decoded.
fn one_sent(venue: &mut FixVenue<MemoryStore>) -> Sent {
    let mut out = sent(venue);
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0)
}

/// Asserts `msg` is a session Reject of `ref_seq` for `ref_tag` with reason `reason`.
fn assert_reject(msg: &Sent, ref_seq: u64, ref_tag: u32, reason: SessionRejectReason) {
    assert_eq!(field(msg, tag::MSG_TYPE), "3", "{msg:?}");
    assert_eq!(field(msg, tag::REF_SEQ_NUM), ref_seq.to_string(), "{msg:?}");
    assert_eq!(field(msg, tag::REF_TAG_ID), ref_tag.to_string(), "{msg:?}");
    let code = reason.code().to_string();
    assert_eq!(field(msg, tag::SESSION_REJECT_REASON), code, "{msg:?}");
    assert_eq!(field(msg, tag::TEXT), reason.spec_text(), "{msg:?}");
}

#[test]
fn vol2_2b_messages_beyond_a_gap_are_processed_once_it_is_filled() {
    let mut venue = logged_on();
    venue.submit_new(at(1), &new_order("O1", 100));
    let _ = sent(&mut venue);
    // The acknowledgement comes as 3: 2 is missing.
    venue.handle_bytes(at(1), &from_venue("8", 3, ACK_O1));
    let out = one_sent(&mut venue);
    assert_eq!(field(&out, tag::MSG_TYPE), "2");
    assert_eq!(field(&out, tag::BEGIN_SEQ_NO), "2");
    assert!(
        executions(&mut venue).is_empty(),
        "not before the gap is filled"
    );
    venue.handle_bytes(
        at(2),
        &from_venue("4", 2, "43=Y|122=20251125-10:00:00.000|123=Y|36=3|"),
    );
    let got = executions(&mut venue);
    assert!(matches!(got[..], [Execution::Accepted(_)]), "{got:?}");
    assert_eq!(venue.seq_nums().next_in, 4);
    assert!(sent(&mut venue).is_empty());
}

#[test]
fn vol2_2c_a_poss_dup_below_the_expected_seq_num_is_ignored() {
    let mut venue = logged_on();
    venue.handle_bytes(at(1), &from_venue("0", 2, ""));
    venue.handle_bytes(
        at(1),
        &from_venue("0", 1, "43=Y|122=20251125-10:00:00.000|"),
    );
    assert!(sent(&mut venue).is_empty());
    assert!(events(&mut venue).is_empty());
    assert_eq!(venue.seq_nums().next_in, 3);
    assert_eq!(venue.state(), FixVenueState::Active);
}

#[test]
fn vol2_2d_a_garbled_message_is_ignored_and_consumes_no_seq_num() {
    let mut venue = logged_on();
    let mut bad = from_venue("0", 2, "");
    let len = bad.len();
    bad[len - 2] = if bad[len - 2] == b'0' { b'1' } else { b'0' };
    venue.handle_bytes(at(1), &bad);
    assert!(sent(&mut venue).is_empty());
    assert_eq!(venue.seq_nums().next_in, 2);
    venue.handle_bytes(at(1), &from_venue("0", 2, ""));
    assert_eq!(venue.seq_nums().next_in, 3);
    assert!(sent(&mut venue).is_empty());
}

#[test]
fn vol2_2e_poss_dup_without_orig_sending_time_is_rejected() {
    let mut venue = logged_on();
    venue.handle_bytes(at(1), &from_venue("0", 2, "43=Y|"));
    let out = one_sent(&mut venue);
    let reason = SessionRejectReason::RequiredTagMissing;
    assert_reject(&out, 2, tag::ORIG_SENDING_TIME, reason);
    assert_eq!(venue.seq_nums().next_in, 3);
    assert_eq!(venue.state(), FixVenueState::Active);
}

#[test]
fn vol2_2e_orig_sending_time_after_sending_time_logs_out() {
    let mut venue = logged_on();
    venue.handle_bytes(
        at(1),
        &from_venue("0", 2, "43=Y|122=20251125-10:05:00.000|"),
    );
    let out = sent(&mut venue);
    assert_eq!(out.len(), 2, "{out:?}");
    let reason = SessionRejectReason::SendingTimeAccuracy;
    assert_reject(&out[0], 2, tag::ORIG_SENDING_TIME, reason);
    assert_eq!(field(&out[1], tag::MSG_TYPE), "5");
    let reason = DisconnectReason::SendingTimeAccuracy;
    assert_eq!(events(&mut venue), [FixVenueEvent::Disconnect { reason }]);
}

#[test]
fn vol2_10_a_gap_fill_that_lowers_the_seq_num_is_rejected() {
    let mut venue = logged_on();
    venue.handle_bytes(at(1), &from_venue("0", 2, ""));
    venue.handle_bytes(
        at(1),
        &from_venue("4", 3, "43=Y|122=20251125-10:00:00.000|123=Y|36=2|"),
    );
    let out = one_sent(&mut venue);
    assert_reject(
        &out,
        3,
        tag::NEW_SEQ_NO,
        SessionRejectReason::ValueIncorrect,
    );
    // The GapFill's own MsgSeqNum is consumed.
    assert_eq!(venue.seq_nums().next_in, 4);
}

#[test]
fn vol2_11_a_reset_mode_sequence_reset_sets_the_seq_num_whatever_its_own() {
    let mut venue = logged_on();
    // MsgSeqNum 0 and no gap request: Reset mode ignores MsgSeqNum.
    venue.handle_bytes(at(1), &from_venue("4", 0, "36=10|"));
    assert!(sent(&mut venue).is_empty());
    assert_eq!(venue.seq_nums().next_in, 10);
    // Lowering it is refused, and changes nothing.
    venue.handle_bytes(at(1), &from_venue("4", 10, "36=5|"));
    let out = one_sent(&mut venue);
    assert_reject(
        &out,
        10,
        tag::NEW_SEQ_NO,
        SessionRejectReason::ValueIncorrect,
    );
    assert_eq!(venue.seq_nums().next_in, 10);
    venue.handle_bytes(at(1), &from_venue("0", 10, ""));
    assert_eq!(venue.seq_nums().next_in, 11);
}

#[test]
fn vol2_13_a_logout_from_the_venue_is_answered() {
    let mut venue = logged_on();
    venue.handle_bytes(at(1), &from_venue("5", 2, "58=closing|"));
    let out = one_sent(&mut venue);
    assert_eq!(field(&out, tag::MSG_TYPE), "5");
    assert_eq!(field(&out, tag::MSG_SEQ_NUM), "2");
    let reason = DisconnectReason::PeerLogout;
    assert_eq!(
        events(&mut venue),
        [
            FixVenueEvent::LoggedOut,
            FixVenueEvent::Disconnect { reason }
        ]
    );
}

#[test]
fn vol2_14_a_wrong_comp_id_is_rejected_and_logged_out() {
    let mut venue = logged_on();
    let ts = format_timestamp(T0.wall);
    let ts = core::str::from_utf8(&ts).unwrap_or_default().to_owned();
    venue.handle_bytes(at(1), &frame(&format!("35=0|34=2|49=OTHER|52={ts}|56=GW|")));
    let out = sent(&mut venue);
    assert_eq!(out.len(), 2, "{out:?}");
    let reason = SessionRejectReason::CompIdProblem;
    assert_reject(&out[0], 2, tag::SENDER_COMP_ID, reason);
    assert_eq!(field(&out[1], tag::MSG_TYPE), "5");
    let reason = DisconnectReason::BadCompId;
    assert_eq!(events(&mut venue), [FixVenueEvent::Disconnect { reason }]);
}

#[test]
fn vol2_14_sending_time_out_of_tolerance_is_rejected_and_logged_out() {
    let mut venue = logged_on();
    // SendingTime is T0; our clock is 10 minutes later.
    venue.handle_bytes(at(600), &from_venue("0", 2, ""));
    let out = sent(&mut venue);
    assert_eq!(out.len(), 2, "{out:?}");
    let reason = SessionRejectReason::SendingTimeAccuracy;
    assert_reject(&out[0], 2, tag::SENDING_TIME, reason);
    assert_eq!(field(&out[1], tag::MSG_TYPE), "5");
    let reason = DisconnectReason::SendingTimeAccuracy;
    assert_eq!(events(&mut venue), [FixVenueEvent::Disconnect { reason }]);
}

#[test]
fn vol2_14_an_execution_report_with_a_bad_enum_is_rejected_not_executed() {
    let mut venue = logged_on();
    venue.submit_new(at(1), &new_order("O1", 100));
    let _ = sent(&mut venue);
    let bad = ACK_O1.replace("|54=1|", "|54=Z|");
    venue.handle_bytes(at(1), &from_venue("8", 2, &bad));
    let out = one_sent(&mut venue);
    assert_reject(&out, 2, tag::SIDE, SessionRejectReason::ValueIncorrect);
    assert!(executions(&mut venue).is_empty());
    assert_eq!(venue.seq_nums().next_in, 3);
}

#[test]
fn a_reset_logon_on_a_live_session_is_answered_with_141_y() {
    let mut venue = logged_on();
    venue.handle_bytes(at(1), &from_venue("0", 2, ""));
    venue.handle_bytes(at(1), &from_venue("A", 1, "98=0|108=30|141=Y|"));
    let out = one_sent(&mut venue);
    assert_eq!(field(&out, tag::MSG_TYPE), "A");
    assert_eq!(field(&out, tag::MSG_SEQ_NUM), "1");
    assert_eq!(field(&out, tag::RESET_SEQ_NUM_FLAG), "Y");
    assert_eq!(
        venue.seq_nums(),
        SeqNums {
            next_in: 2,
            next_out: 2
        }
    );
    assert_eq!(
        events(&mut venue),
        [FixVenueEvent::LoggedOn { reset: true }]
    );
}

#[test]
fn a_venue_logon_with_another_heartbeat_is_refused() {
    let mut venue = FixVenue::connect(config(), instruments(), MemoryStore::new(), T0);
    let _ = sent(&mut venue);
    venue.handle_bytes(T0, &from_venue("A", 1, "98=0|108=45|"));
    let out = one_sent(&mut venue);
    assert_eq!(field(&out, tag::MSG_TYPE), "5");
    assert_eq!(
        field(&out, tag::TEXT),
        "HeartBtInt (108) must be 30 seconds"
    );
    let reason = DisconnectReason::BadLogon;
    assert_eq!(events(&mut venue), [FixVenueEvent::Disconnect { reason }]);
}
