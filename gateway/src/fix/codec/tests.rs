//! Unit tests of the codec: framing, verification, field rules and the writer.

use super::*;
use proptest::prelude::*;

/// A NewOrderSingle, BodyLength and CheckSum computed independently (Python), FIX 4.4
/// Vol. 1 "FIX Message Format"; `|` stands for SOH.
static NEW_ORDER_SINGLE: &str = "8=FIX.4.4|9=126|35=D|34=2|49=CLIENT|52=20251125-10:23:53.123|\
56=GW|11=ORD1|1=7|55=ACME|54=1|38=100|40=2|44=12.5|59=0|60=20251125-10:23:53.120|10=123|";

fn soh(s: &str) -> Vec<u8> {
    s.bytes().map(|b| if b == b'|' { SOH } else { b }).collect()
}

/// A frame around `body` (with `|` for SOH) with correct BodyLength and CheckSum.
fn frame(body: &str) -> Vec<u8> {
    let body = soh(body);
    let mut out = format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
    out.extend_from_slice(&body);
    let sum = checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

fn invalid(e: Result<Message<'_>, DecodeError>) -> (u32, SessionRejectReason) {
    match e {
        Err(DecodeError::Invalid { tag, reason, .. }) => (tag, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn garbled(e: Result<Message<'_>, DecodeError>) -> GarbleReason {
    match e {
        Err(DecodeError::Garbled { reason }) => reason,
        other => panic!("expected Garbled, got {other:?}"),
    }
}

#[test]
fn decodes_the_reference_vector() {
    let bytes = soh(NEW_ORDER_SINGLE);
    assert_eq!(scan_frame(&bytes, 8192), Framing::Complete(bytes.len()));
    let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(msg.msg_type(), MsgType::NEW_ORDER_SINGLE);
    assert_eq!(msg.get(tag::CL_ORD_ID), Some(b"ORD1".as_slice()));
    assert_eq!(msg.get(tag::PRICE), Some(b"12.5".as_slice()));
    assert_eq!(msg.get_uint(tag::MSG_SEQ_NUM), Ok(Some(2)));
    assert_eq!(msg.get(tag::CHECK_SUM), None);
    assert_eq!(msg.fields().count(), 14);
    assert_eq!(
        frame(&NEW_ORDER_SINGLE[16..NEW_ORDER_SINGLE.len() - 7]),
        bytes
    );
}

#[test]
fn every_prefix_is_incomplete() {
    let bytes = soh(NEW_ORDER_SINGLE);
    for cut in 0..bytes.len() {
        assert_eq!(
            scan_frame(&bytes[..cut], 8192),
            Framing::Incomplete,
            "cut {cut}"
        );
    }
}

#[test]
fn garbled_frames_say_why() {
    let good = soh(NEW_ORDER_SINGLE);
    let mut bad_sum = good.clone();
    let n = bad_sum.len();
    bad_sum[n - 2] = b'4';
    assert_eq!(
        garbled(Message::decode(&bad_sum)),
        GarbleReason::CheckSumMismatch {
            declared: 124,
            computed: 123
        }
    );
    let short = soh(&NEW_ORDER_SINGLE.replace("9=126", "9=125"));
    assert_eq!(
        garbled(Message::decode(&short)),
        GarbleReason::LengthMismatch
    );
    let letters = soh(&NEW_ORDER_SINGLE.replace("9=126", "9=1x6"));
    assert_eq!(
        garbled(Message::decode(&letters)),
        GarbleReason::BadBodyLength
    );
    let cs_format = soh(&NEW_ORDER_SINGLE.replace("10=123", "10=12a"));
    assert_eq!(
        garbled(Message::decode(&cs_format)),
        GarbleReason::BadCheckSumFormat
    );
    assert_eq!(
        garbled(Message::decode(b"9=5\x01")),
        GarbleReason::MissingBeginString
    );
    let mut trailing = good.clone();
    trailing.push(b'x');
    assert_eq!(
        garbled(Message::decode(&trailing)),
        GarbleReason::TrailingBytes
    );
    assert_eq!(
        garbled(Message::decode(&good[..good.len() - 1])),
        GarbleReason::Truncated
    );
    let fix42 = soh(&NEW_ORDER_SINGLE.replace("FIX.4.4", "FIX.4.2"));
    let mut fix42 = fix42[..fix42.len() - 7].to_vec();
    let sum = checksum(&fix42);
    fix42.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    assert_eq!(
        garbled(Message::decode(&fix42)),
        GarbleReason::UnsupportedBeginString
    );
    assert!(matches!(
        scan_frame(&soh("8=FIX.4.4|9=99999|"), 8192),
        Framing::Garbled {
            reason: GarbleReason::TooLong,
            ..
        }
    ));
}

#[test]
fn garbage_resyncs_on_the_next_begin_string() {
    let mut bytes = b"xx8=FI".to_vec();
    bytes.extend_from_slice(&soh(NEW_ORDER_SINGLE));
    match scan_frame(&bytes, 8192) {
        Framing::Garbled { skip, .. } => {
            assert_eq!(skip, 6);
            assert_eq!(
                scan_frame(&bytes[skip..], 8192),
                Framing::Complete(bytes.len() - 6)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        scan_frame(b"zzzzzzzzzz", 8192),
        Framing::Garbled { skip: 6, .. }
    ));
}

#[test]
fn field_rules_name_the_tag_and_reason() {
    use SessionRejectReason as R;
    let cases: &[(&str, u32, R)] = &[
        ("35=0|34=1|49=A|56=B|58=|", 58, R::TagWithoutValue),
        ("35=0|34=1|49=A|x=1|", 0, R::InvalidTagNumber),
        ("35=0|34=1|49=A|058=1|", 0, R::InvalidTagNumber),
        ("35=0|34=1|49=A|58|", 0, R::InvalidTagNumber),
        ("34=1|35=0|", 35, R::TagOutOfOrder),
        ("35=0|34=1|35=1|", 35, R::TagOutOfOrder),
        ("35=0|34=1|9=4|", 9, R::TagOutOfOrder),
        ("35=ABC|34=1|", 35, R::InvalidMsgType),
    ];
    for &(body, want_tag, want_reason) in cases {
        let bytes = frame(body);
        assert_eq!(
            invalid(Message::decode(&bytes)),
            (want_tag, want_reason),
            "{body}"
        );
    }
    // Repeated tags (repeating groups) and order are the dictionary's to judge.
    let bytes = frame("35=D|34=7|49=A|453=2|448=a|448=b|");
    let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(msg.get(448), Some(b"a".as_slice()));
    assert_eq!(msg.field_count(), 6);
    assert_eq!(msg.field_at(5), Some((448, b"b".as_slice())));
    assert_eq!(msg.field_at(6), None);
}

#[test]
fn too_many_fields_is_rejected() {
    let mut body = String::from("35=0|");
    for t in 1000..1000 + MAX_FIELDS as u32 {
        body.push_str(&format!("{t}=1|"));
    }
    let bytes = frame(&body);
    assert_eq!(
        invalid(Message::decode(&bytes)),
        (1127, SessionRejectReason::Other)
    );
}

#[test]
fn writer_writes_unpadded_length_and_three_digit_checksum() {
    let mut buf = b"junk".to_vec();
    let mut w = MessageWriter::begin(&mut buf, MsgType::HEARTBEAT);
    w.uint(tag::MSG_SEQ_NUM, 1)
        .str(tag::SENDER_COMP_ID, "A")
        .str(tag::TARGET_COMP_ID, "B")
        .price(tag::PRICE, Price::from_ticks(-1))
        .price(tag::LAST_PX, Price::from_ticks(1_000_000))
        .price(tag::AVG_PX, Price::from_ticks(123_450))
        .bytes(tag::TEXT, b"a\x01b");
    let range = w.finish();
    assert_eq!(range.start, 4);
    let text = String::from_utf8(buf[range.clone()].to_vec())
        .unwrap_or_default()
        .replace('\x01', "|");
    assert_eq!(
        &text[..text.len() - 7],
        "8=FIX.4.4|9=54|35=0|34=1|49=A|56=B|44=-0.0001|31=100|6=12.345|58=a b|"
    );
    let msg = Message::decode(&buf[range]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(msg.get(tag::TEXT), Some(b"a b".as_slice()));
    assert!(text.ends_with('|') && text[text.len() - 7..].starts_with("10="));
}

#[test]
fn number_parsers() {
    assert_eq!(parse_qty(b"100"), Some(Qty(100)));
    assert_eq!(parse_qty(b"100.00"), Some(Qty(100)));
    assert_eq!(parse_qty(b"100.5"), None);
    assert_eq!(parse_qty(b"100."), None);
    assert_eq!(parse_qty(b"-1"), None);
    assert_eq!(parse_price(b"12.5"), Some(Price::from_ticks(125_000)));
    assert_eq!(parse_price(b"12.500000"), Some(Price::from_ticks(125_000)));
    assert_eq!(parse_price(b"12.00001"), None);
    assert_eq!(parse_uint(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_uint(b"18446744073709551616"), None);
    assert_eq!(parse_uint(b"000000000000000000001"), None);
    assert_eq!(
        parse_uint(b"1844674407370955161"),
        Some(1_844_674_407_370_955_161)
    );
}

/// A tag that may appear in a generated body: not 8, 9, 10, 35, not a header tag.
fn body_tag() -> impl Strategy<Value = u32> {
    (1u32..20_000).prop_filter("framing or header tag", |t| {
        !matches!(*t, 8 | 9 | 10 | 35) && !is_header_tag(*t)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_of_written_round_trips(
        seq in 1u64..u64::MAX / 2,
        fields in proptest::collection::btree_map(
            body_tag(),
            proptest::collection::vec(0x20u8..0x7f, 1..24),
            0..40,
        ),
    ) {
        let mut buf = Vec::new();
        let mut w = MessageWriter::begin(&mut buf, MsgType::NEW_ORDER_SINGLE);
        w.uint(tag::MSG_SEQ_NUM, seq);
        for (t, v) in &fields {
            w.bytes(*t, v);
        }
        let range = w.finish();
        prop_assert_eq!(range.clone(), 0..buf.len());
        prop_assert_eq!(scan_frame(&buf, 1 << 20), Framing::Complete(buf.len()));
        let msg = Message::decode(&buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(msg.get_uint(tag::MSG_SEQ_NUM), Ok(Some(seq)));
        let got: Vec<(u32, Vec<u8>)> = msg.fields().skip(2).map(|(t, v)| (t, v.to_vec())).collect();
        let want: Vec<(u32, Vec<u8>)> = fields.into_iter().collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = scan_frame(&bytes, 8192);
        let _ = Message::decode(&bytes);
        let _ = header_hint(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(pos in 0usize..160, byte in any::<u8>()) {
        let mut bytes = soh(NEW_ORDER_SINGLE);
        let n = bytes.len();
        bytes[pos % n] = byte;
        let _ = scan_frame(&bytes, 8192);
        if let Ok(msg) = Message::decode(&bytes) {
            let _ = msg.fields().count();
        }
    }
}
