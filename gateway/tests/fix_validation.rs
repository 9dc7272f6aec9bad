//! FIX 4.4 message validation against the data dictionary (FIX 4.4 Vol. 2 "Message
//! Validation", SessionRejectReason 0–16), repeating groups, and the application rules:
//! business refusals answered with an ExecutionReport reject (or OrderCancelReject), never
//! with a BusinessMessageReject, and every order instruction the gateway does not
//! implement refused explicitly. Driven through the session on a virtual clock, `|` for
//! SOH.

mod util;

use tickwarp_gateway::fix::codec::Message;
use tickwarp_gateway::fix::{
    Dictionary, MemoryStore, SessionEvent, SessionRejectReason, ValidationOptions, validate,
};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use tickwarp_wire::{TickCause, TimeInForce};
use util::{Harness, Out, config, frame};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// A valid NewOrderSingle body.
const NOS: &str = "11=ORD1|1=42|55=ACME|54=1|38=100|40=2|44=12.5|59=0|60=20251125-10:00:00.000|";
/// Two Parties (453) entries.
const PARTIES: &str = "453=2|448=TRADER1|447=D|452=11|448=DESK7|447=D|452=3|";

fn logged_on() -> Harness<MemoryStore> {
    let mut h = Harness::new(MemoryStore::new());
    h.logon();
    h
}

fn logged_on_with(validation: ValidationOptions) -> Harness<MemoryStore> {
    let mut c = config();
    c.validation = validation;
    let mut h = Harness::with_config(c, MemoryStore::new());
    h.logon();
    h
}

/// Sends a D with `extra` appended to the valid body; returns what came back.
fn send_order(h: &mut Harness<MemoryStore>, body: &str) -> Vec<Out> {
    h.send("D", body);
    h.outbound()
}

/// The single Reject (35=3) in `out`: (RefSeqNum, RefTagID, RefMsgType, reason, Text).
fn reject(out: &[Out]) -> (u64, u64, String, u64, String) {
    assert_eq!(out.len(), 1, "{out:?}");
    let r = &out[0];
    assert_eq!(r.msg_type(), "3", "{r:?}");
    (
        r.num(45),
        r.num(371),
        r.get(372).unwrap_or_default().to_owned(),
        r.num(373),
        r.get(58).unwrap_or_default().to_owned(),
    )
}

/// Asserts that the order body was rejected with `reason` on `tag`.
fn assert_session_reject(body: &str, tag: u64, reason: SessionRejectReason) {
    let mut h = logged_on();
    let out = send_order(&mut h, body);
    let (ref_seq, ref_tag, ref_type, code, text) = reject(&out);
    assert_eq!(ref_seq, 2, "{body}");
    assert_eq!(ref_tag, tag, "{body}");
    assert_eq!(ref_type, "D", "{body}");
    assert_eq!(code, u64::from(reason.code()), "{body}");
    assert_eq!(text, reason.spec_text(), "{body}");
    assert!(
        h.events().is_empty(),
        "{body}: no order may reach the application"
    );
    assert_eq!(
        h.session.seq_nums().next_in,
        3,
        "a Reject consumes the MsgSeqNum"
    );
}

/// The single ExecutionReport reject in `out`: (OrdRejReason, Text).
fn order_reject(out: &[Out]) -> (u64, String) {
    assert_eq!(out.len(), 1, "{out:?}");
    let er = &out[0];
    assert_eq!(er.msg_type(), "8", "{er:?}");
    assert_eq!(er.get(150), Some("8"), "ExecType Rejected");
    assert_eq!(er.get(39), Some("8"), "OrdStatus Rejected");
    assert_eq!(er.get(37), Some("NONE"));
    assert_eq!(er.get(11), Some("ORD1"));
    assert_eq!(er.get(151), Some("0"));
    assert_eq!(er.get(14), Some("0"));
    assert!(er.get(17).is_some_and(|id| id.starts_with('R')));
    (er.num(103), er.get(58).unwrap_or_default().to_owned())
}

// --- repeating groups --------------------------------------------------------------------

#[test]
fn new_order_single_with_two_parties_is_accepted() {
    let mut h = logged_on();
    let out = send_order(&mut h, &format!("{NOS}{PARTIES}"));
    assert!(out.is_empty(), "{out:?}");
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [SessionEvent::NewOrderSingle(o)] if o.cl_ord_id.as_str() == "ORD1"),
        "{events:?}"
    );
}

#[test]
fn parties_entries_are_readable_including_nested_sub_ids() {
    let bytes = frame(&format!(
        "35=D|34=2|49=CLIENT|52=20251125-10:00:00.000|56=GW|{NOS}\
         453=2|448=TRADER1|447=D|452=11|802=1|523=ALICE|803=2|448=DESK7|447=D|452=3|"
    ));
    let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    let dict = Dictionary::fix44();
    assert_eq!(validate(&msg, dict, &ValidationOptions::default()), Ok(()));
    let entries: Vec<_> = dict
        .group(&msg, 453)
        .unwrap_or_else(|| panic!("no Parties"))
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].get(448), Some(b"TRADER1".as_slice()));
    assert_eq!(entries[0].get(452), Some(b"11".as_slice()));
    assert_eq!(entries[1].get(448), Some(b"DESK7".as_slice()));
    assert_eq!(entries[1].get(452), Some(b"3".as_slice()));
    let subs: Vec<_> = entries[0]
        .group(802)
        .unwrap_or_else(|| panic!("no PtysSubGrp"))
        .collect();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].get(523), Some(b"ALICE".as_slice()));
    assert!(entries[1].group(802).is_none());
}

#[test]
fn group_entry_not_starting_with_its_delimiter_is_reason_15() {
    assert_session_reject(
        &format!("{NOS}453=1|447=D|448=TRADER1|452=11|"),
        447,
        SessionRejectReason::RepeatingGroupFieldsOutOfOrder,
    );
}

#[test]
fn group_fields_out_of_dictionary_order_are_reason_15() {
    assert_session_reject(
        &format!("{NOS}453=1|448=TRADER1|452=11|447=D|"),
        447,
        SessionRejectReason::RepeatingGroupFieldsOutOfOrder,
    );
}

#[test]
fn fewer_entries_than_num_in_group_is_reason_16() {
    assert_session_reject(
        &format!("{NOS}453=3|448=TRADER1|447=D|452=11|448=DESK7|447=D|452=3|"),
        453,
        SessionRejectReason::IncorrectNumInGroupCount,
    );
}

#[test]
fn more_entries_than_num_in_group_is_reason_16() {
    assert_session_reject(
        &format!("{NOS}453=1|448=TRADER1|447=D|452=11|448=DESK7|447=D|452=3|"),
        453,
        SessionRejectReason::IncorrectNumInGroupCount,
    );
}

#[test]
fn nested_group_count_is_checked() {
    assert_session_reject(
        &format!("{NOS}453=1|448=TRADER1|447=D|452=11|802=2|523=ALICE|803=2|"),
        802,
        SessionRejectReason::IncorrectNumInGroupCount,
    );
}

#[test]
fn tag_repeated_inside_one_entry_is_reason_13() {
    assert_session_reject(
        &format!("{NOS}453=1|448=TRADER1|447=D|447=D|"),
        447,
        SessionRejectReason::TagAppearsMoreThanOnce,
    );
}

// --- one test per SessionRejectReason ----------------------------------------------------

#[test]
fn undefined_tag_is_reason_0() {
    assert_session_reject(
        &format!("{NOS}4999=x|"),
        4999,
        SessionRejectReason::InvalidTagNumber,
    );
}

#[test]
fn undefined_user_defined_tag_is_reason_0_when_user_defined_fields_are_validated() {
    assert_session_reject(
        &format!("{NOS}5001=x|"),
        5001,
        SessionRejectReason::InvalidTagNumber,
    );
}

#[test]
fn required_tag_missing_is_reason_1() {
    assert_session_reject(
        &NOS.replace("60=20251125-10:00:00.000|", ""),
        60,
        SessionRejectReason::RequiredTagMissing,
    );
}

#[test]
fn tag_not_defined_for_the_message_type_is_reason_2() {
    assert_session_reject(
        &format!("{NOS}150=0|"),
        150,
        SessionRejectReason::TagNotDefinedForMsgType,
    );
}

#[test]
fn tag_without_value_is_reason_4() {
    assert_session_reject(
        &format!("{NOS}58=|"),
        58,
        SessionRejectReason::TagWithoutValue,
    );
}

#[test]
fn enum_value_out_of_range_is_reason_5() {
    assert_session_reject(
        &format!("{NOS}21=9|"),
        21,
        SessionRejectReason::ValueIncorrect,
    );
}

#[test]
fn bad_utc_timestamp_is_reason_6() {
    assert_session_reject(
        &format!("{NOS}126=20250101|"),
        126,
        SessionRejectReason::IncorrectDataFormat,
    );
}

#[test]
fn bad_qty_and_char_formats_are_reason_6() {
    assert_session_reject(
        &NOS.replace("38=100", "38=1e2"),
        38,
        SessionRejectReason::IncorrectDataFormat,
    );
    assert_session_reject(
        &NOS.replace("54=1", "54=12"),
        54,
        SessionRejectReason::IncorrectDataFormat,
    );
}

#[test]
fn tag_twice_is_reason_13() {
    assert_session_reject(
        &format!("{NOS}58=a|58=b|"),
        58,
        SessionRejectReason::TagAppearsMoreThanOnce,
    );
}

#[test]
fn header_tag_after_the_body_is_reason_14() {
    assert_session_reject(
        &format!("{NOS}43=N|"),
        43,
        SessionRejectReason::TagOutOfOrder,
    );
}

// --- per-session switches ----------------------------------------------------------------

#[test]
fn allow_unknown_fields_lets_undefined_and_misplaced_tags_pass() {
    let mut h = logged_on_with(ValidationOptions {
        allow_unknown_fields: true,
        ..ValidationOptions::default()
    });
    let out = send_order(&mut h, &format!("{NOS}4999=x|"));
    assert!(out.is_empty(), "{out:?}");
    assert!(matches!(
        h.events().as_slice(),
        [SessionEvent::NewOrderSingle(_)]
    ));
}

#[test]
fn user_defined_fields_pass_when_not_validated() {
    let mut h = logged_on_with(ValidationOptions {
        validate_user_defined_fields: false,
        ..ValidationOptions::default()
    });
    let out = send_order(&mut h, &format!("{NOS}5001=x|"));
    assert!(out.is_empty(), "{out:?}");
    assert!(matches!(
        h.events().as_slice(),
        [SessionEvent::NewOrderSingle(_)]
    ));
}

#[test]
fn order_checks_can_be_switched_off() {
    let mut h = logged_on_with(ValidationOptions {
        validate_fields_out_of_order: false,
        ..ValidationOptions::default()
    });
    let out = send_order(&mut h, &format!("{NOS}453=1|448=TRADER1|452=11|447=D|"));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(h.events().len(), 1);
}

#[test]
fn validation_allocates_nothing() {
    let bytes = frame(&format!(
        "35=D|34=2|49=CLIENT|52=20251125-10:00:00.000|56=GW|{NOS}{PARTIES}"
    ));
    let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    let dict = Dictionary::fix44();
    let opts = ValidationOptions::default();
    let (result, allocations) = count_allocations(|| {
        let mut ok = 0;
        for _ in 0..100 {
            ok += usize::from(validate(&msg, dict, &opts).is_ok());
        }
        ok
    });
    assert_eq!(result, 100);
    assert_eq!(allocations, 0);
}

// --- application rules -------------------------------------------------------------------

#[test]
fn unknown_symbol_gets_an_execution_report_reject_not_35_j() {
    let mut h = logged_on();
    let out = send_order(&mut h, &NOS.replace("ACME", "NOPE"));
    let (reason, text) = order_reject(&out);
    assert_eq!(reason, 1, "OrdRejReason 1 = unknown symbol");
    assert_eq!(text, "unknown Symbol (55) (tag 55)");
    assert_eq!(out[0].get(55), Some("NOPE"));
    assert_eq!(out[0].get(54), Some("1"));
    assert_eq!(out[0].get(38), Some("100"));
    assert!(h.events().is_empty());
    assert_eq!(h.session.seq_nums().next_in, 3);
}

#[test]
fn foreign_account_gets_an_execution_report_reject() {
    let mut h = logged_on();
    let out = send_order(&mut h, &NOS.replace("1=42", "1=43"));
    let (reason, text) = order_reject(&out);
    assert_eq!(reason, 15, "OrdRejReason 15 = unknown account(s)");
    assert!(text.contains("Account (1)"), "{text}");
    assert!(h.events().is_empty());
}

#[test]
fn cancel_for_unknown_symbol_gets_an_order_cancel_reject() {
    let mut h = logged_on();
    h.send(
        "F",
        "41=ORD1|11=ORD2|55=NOPE|54=1|38=100|60=20251125-10:00:01.000|",
    );
    let out = h.outbound();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].msg_type(), "9");
    assert_eq!(out[0].get(434), Some("1"));
    assert_eq!(out[0].get(41), Some("ORD1"));
    assert_eq!(out[0].get(11), Some("ORD2"));
    assert!(h.events().is_empty());
}

#[test]
fn post_only_reaches_the_order_path_as_post_only() {
    let mut h = logged_on();
    let out = send_order(&mut h, &format!("{NOS}18=6|"));
    assert!(out.is_empty(), "{out:?}");
    let events = h.events();
    let [SessionEvent::NewOrderSingle(o)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert!(o.post_only);
    assert!(
        o.to_wire(TickCause::NONE).post_only(),
        "the flag travels in the wire record"
    );
}

#[test]
fn post_only_that_cannot_rest_and_other_exec_inst_are_refused() {
    for (body, want) in [
        (
            format!(
                "{}18=6|",
                NOS.replace("40=2", "40=1").replace("44=12.5|", "")
            ),
            "ExecInst 6 (post-only) needs a limit order",
        ),
        (
            format!("{}18=6|", NOS.replace("59=0", "59=3")),
            "ExecInst 6 (post-only) needs a limit order",
        ),
        (format!("{NOS}18=E|"), "ExecInst (18) not supported"),
        (format!("{NOS}18=6 E|"), "ExecInst (18) not supported"),
    ] {
        let mut h = logged_on();
        let out = send_order(&mut h, &body);
        let (reason, text) = order_reject(&out);
        assert_eq!(reason, 99, "{body}");
        assert!(text.starts_with(want), "{body}: {text}");
        assert!(text.ends_with("(tag 18)"), "{text}");
        assert!(h.events().is_empty(), "{body}");
    }
}

#[test]
fn min_qty_and_max_floor_are_refused_explicitly() {
    for (extra, want) in [
        ("110=50|", "MinQty not supported (tag 110)"),
        ("111=10|", "MaxFloor not supported (tag 111)"),
    ] {
        let mut h = logged_on();
        let out = send_order(&mut h, &format!("{NOS}{extra}"));
        let (reason, text) = order_reject(&out);
        assert_eq!(reason, 99);
        assert_eq!(text, want);
        assert!(h.events().is_empty());
    }
}

#[test]
fn unsupported_ord_type_and_time_in_force_are_refused() {
    for (body, tag) in [
        (NOS.replace("40=2", "40=3"), "(tag 40)"),
        (NOS.replace("59=0", "59=2"), "(tag 59)"),
        (format!("{NOS}126=20251125-18:00:00|"), "(tag 126)"),
    ] {
        let mut h = logged_on();
        let out = send_order(&mut h, &body);
        let (reason, text) = order_reject(&out);
        assert_eq!(reason, 99, "{body}");
        assert!(text.ends_with(tag), "{body}: {text}");
        assert!(h.events().is_empty());
    }
}

#[test]
fn ioc_and_fok_reach_the_order_path() {
    for (tif, want) in [("3", TimeInForce::Ioc), ("4", TimeInForce::Fok)] {
        let mut h = logged_on();
        let out = send_order(&mut h, &NOS.replace("59=0", &format!("59={tif}")));
        assert!(out.is_empty(), "{out:?}");
        let events = h.events();
        assert!(
            matches!(events.as_slice(), [SessionEvent::NewOrderSingle(o)] if o.spec.tif == want),
            "{events:?}"
        );
    }
}

#[test]
fn unsupported_message_type_gets_business_message_reject() {
    let mut h = logged_on();
    h.send("B", "148=hello|33=1|58=line one|");
    let out = h.outbound();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].msg_type(), "j");
    assert_eq!(out[0].get(380), Some("3"));
    assert_eq!(out[0].get(372), Some("B"));
    assert_eq!(out[0].get(45), Some("2"));
    assert!(h.events().is_empty());
}

#[test]
fn undefined_message_type_is_reason_11() {
    let mut h = logged_on();
    h.send("ZZ", "58=x|");
    let (_, tag, msg_type, code, text) = reject(&h.outbound());
    assert_eq!((tag, msg_type.as_str(), code), (35, "ZZ", 11));
    assert_eq!(text, "Invalid MsgType");
}
