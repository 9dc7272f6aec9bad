//! Record round trips, byte-exact layouts and decoding of arbitrary bytes.

use proptest::prelude::*;
use tickwarp_wire::{
    AccountId, BookLevel, CancelOrder, CancelRejected, ClientOrderId, CxlRejResponseTo,
    DecodeError, ExecMeta, Fill, InstrumentId, MassCancelReport, MassCancelRequest,
    MassCancelResponse, MassCancelScope, MdAddOrder, MdBboUpdate, MdBookSnapshotChunk,
    MdCancelOrder, MdHeartbeat, MdMeta, MdModifyOrder, MdSequenceReset, MdTrade, Message,
    MessageType, Nanos, NewOrder, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected,
    OrderReplaced, OrderSpec, OrderType, Price, Qty, Quote, Record, RejectReason, ReplaceOrder,
    Replaced, SeqNo, Side, TickCause, TimeInForce, UnixNanos, decode,
};
use zerocopy::IntoBytes;

fn price() -> impl Strategy<Value = Price> {
    any::<i64>().prop_map(Price::from_ticks)
}

fn qty() -> impl Strategy<Value = Qty> {
    any::<u64>().prop_map(Qty)
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn ord_type() -> impl Strategy<Value = OrderType> {
    prop_oneof![Just(OrderType::Market), Just(OrderType::Limit)]
}

fn tif() -> impl Strategy<Value = TimeInForce> {
    prop_oneof![
        Just(TimeInForce::Day),
        Just(TimeInForce::Gtc),
        Just(TimeInForce::Ioc),
        Just(TimeInForce::Fok),
    ]
}

fn cl_ord_id() -> impl Strategy<Value = ClientOrderId> {
    proptest::string::string_regex("[!-~]{1,16}")
        .unwrap_or_else(|e| panic!("{e}"))
        .prop_map(|s| ClientOrderId::new(&s).unwrap_or_else(|e| panic!("{s:?}: {e}")))
}

fn reason() -> impl Strategy<Value = RejectReason> {
    any::<u16>().prop_map(RejectReason::from_u16)
}

fn mass_scope() -> impl Strategy<Value = MassCancelScope> {
    (
        any::<u32>(),
        proptest::option::of(1..=u32::MAX),
        proptest::option::of(side()),
    )
        .prop_map(|(a, i, s)| MassCancelScope {
            account: AccountId(a),
            instrument: i.map(InstrumentId),
            side: s,
        })
}

fn mass_outcome() -> impl Strategy<Value = Result<u64, RejectReason>> {
    prop_oneof![any::<u64>().prop_map(Ok), reason().prop_map(Err)]
}

fn md_meta() -> impl Strategy<Value = MdMeta> {
    (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(i, s, v, r)| MdMeta {
        instrument: InstrumentId(i),
        feed_seq: SeqNo(s),
        venue_ts: UnixNanos(v),
        recv_ts: Nanos(r),
    })
}

fn cause() -> impl Strategy<Value = TickCause> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(s, v, r, t)| TickCause {
        feed_seq: SeqNo(s),
        venue_ts: UnixNanos(v),
        recv_ts: Nanos(r),
        send_ts: Nanos(t),
    })
}

fn spec() -> impl Strategy<Value = OrderSpec> {
    (
        any::<u32>(),
        any::<u32>(),
        side(),
        ord_type(),
        tif(),
        price(),
        qty(),
    )
        .prop_map(|(i, a, side, ord_type, tif, price, qty)| OrderSpec {
            instrument: InstrumentId(i),
            account: AccountId(a),
            side,
            ord_type,
            tif,
            price: if ord_type == OrderType::Market {
                Price::ZERO
            } else {
                price
            },
            qty,
        })
}

fn exec_meta() -> impl Strategy<Value = ExecMeta> {
    (
        any::<u32>(),
        any::<u32>(),
        cl_ord_id(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(i, a, id, o, t, g)| ExecMeta {
            instrument: InstrumentId(i),
            account: AccountId(a),
            cl_ord_id: id,
            order_id: o,
            transact_time: UnixNanos(t),
            gateway_ts: Nanos(g),
        })
}

fn book_level() -> impl Strategy<Value = BookLevel> {
    (price(), qty(), price(), qty()).prop_map(|(bp, bq, ap, aq)| BookLevel::new(bp, bq, ap, aq))
}

fn quote() -> impl Strategy<Value = Quote> {
    (price(), qty(), any::<u32>()).prop_map(|(px, qty, orders)| Quote { px, qty, orders })
}

/// Every record type, built from arbitrary typed values, as its owned bytes.
fn any_record() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        md_meta().prop_map(|m| MdHeartbeat::new(m).as_bytes().to_vec()),
        (md_meta(), any::<u64>())
            .prop_map(|(m, s)| MdSequenceReset::new(m, SeqNo(s)).as_bytes().to_vec()),
        (md_meta(), any::<u64>(), side(), price(), qty())
            .prop_map(|(m, r, s, p, q)| MdAddOrder::new(m, r, s, p, q).as_bytes().to_vec()),
        (md_meta(), any::<u64>(), side(), price(), qty())
            .prop_map(|(m, r, s, p, q)| MdModifyOrder::new(m, r, s, p, q).as_bytes().to_vec()),
        (md_meta(), any::<u64>(), qty(), qty()).prop_map(|(m, r, c, l)| MdCancelOrder::new(
            m, r, c, l
        )
        .as_bytes()
        .to_vec()),
        (
            md_meta(),
            any::<u64>(),
            proptest::option::of(side()),
            price(),
            qty()
        )
            .prop_map(|(m, r, s, p, q)| MdTrade::new(m, r, s, p, q).as_bytes().to_vec()),
        (md_meta(), quote(), quote())
            .prop_map(|(m, b, a)| MdBboUpdate::new(m, b, a).as_bytes().to_vec()),
        snapshot_chunk().prop_map(|c| c.as_bytes().to_vec()),
        (cl_ord_id(), spec(), cause())
            .prop_map(|(id, s, c)| NewOrder::new(id, &s, c).as_bytes().to_vec()),
        (cl_ord_id(), cl_ord_id(), spec(), cause()).prop_map(|(id, orig, s, c)| {
            CancelOrder::new(id, orig, s.instrument, s.account, s.side, c)
                .as_bytes()
                .to_vec()
        }),
        (cl_ord_id(), cl_ord_id(), spec(), cause()).prop_map(|(id, orig, s, c)| {
            ReplaceOrder::new(id, orig, &s, c).as_bytes().to_vec()
        }),
        (exec_meta(), side(), ord_type(), tif()).prop_map(|(m, s, o, t)| OrderAccepted::new(
            m, s, o, t
        )
        .as_bytes()
        .to_vec()),
        (exec_meta(), reason()).prop_map(|(m, r)| OrderRejected::new(m, r).as_bytes().to_vec()),
        (exec_meta(), side(), fill())
            .prop_map(|(m, s, f)| OrderFilled::new(m, s, f).as_bytes().to_vec()),
        (exec_meta(), proptest::option::of(cl_ord_id()), qty(), qty())
            .prop_map(|(m, o, c, q)| OrderCanceled::new(m, o, c, q).as_bytes().to_vec()),
        (exec_meta(), cl_ord_id(), response_to(), reason())
            .prop_map(|(m, o, t, r)| CancelRejected::new(m, o, t, r).as_bytes().to_vec()),
        (exec_meta(), cl_ord_id(), replaced())
            .prop_map(|(m, o, r)| OrderReplaced::new(m, o, r).as_bytes().to_vec()),
        (any::<u64>(), mass_scope(), cause()).prop_map(|(id, s, c)| MassCancelRequest::new(
            id, s, c
        )
        .as_bytes()
        .to_vec()),
        (
            any::<u64>(),
            mass_scope(),
            mass_outcome(),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(id, s, o, w, m)| MassCancelReport::new(
                id,
                s,
                o,
                UnixNanos(w),
                Nanos(m)
            )
            .as_bytes()
            .to_vec()),
    ]
}

fn snapshot_chunk() -> impl Strategy<Value = MdBookSnapshotChunk> {
    (
        md_meta(),
        1..=u16::MAX,
        any::<u16>(),
        any::<u16>(),
        proptest::collection::vec(book_level(), 0..=MdBookSnapshotChunk::LEVELS),
    )
        .prop_map(|(m, count, index, first, levels)| {
            MdBookSnapshotChunk::new(m, index % count, count, first, &levels)
                .unwrap_or_else(|e| panic!("{e}"))
        })
}

fn fill() -> impl Strategy<Value = Fill> {
    (any::<u64>(), price(), qty(), qty(), qty()).prop_map(|(e, p, l, c, r)| Fill {
        exec_id: e,
        last_px: p,
        last_qty: l,
        cum_qty: c,
        leaves_qty: r,
    })
}

fn response_to() -> impl Strategy<Value = CxlRejResponseTo> {
    prop_oneof![
        Just(CxlRejResponseTo::Cancel),
        Just(CxlRejResponseTo::Replace)
    ]
}

fn replaced() -> impl Strategy<Value = Replaced> {
    (price(), qty(), qty(), qty()).prop_map(|(price, qty, leaves_qty, cum_qty)| Replaced {
        price,
        qty,
        leaves_qty,
        cum_qty,
    })
}

/// Decodes `bytes` as `R` through both entry points and checks both agree with `record`.
fn assert_round_trip<'a, R>(
    record: &'a R,
    wrap: fn(&'a R) -> Message<'a>,
) -> Result<(), TestCaseError>
where
    R: Record + PartialEq + core::fmt::Debug,
{
    let bytes = record.as_bytes();
    prop_assert_eq!(bytes.len(), R::TYPE.record_len());
    prop_assert_eq!(decode(bytes), Ok(wrap(record)));
    prop_assert_eq!(R::decode(bytes), Ok(record));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn md_records_round_trip(
        m in md_meta(), r in any::<u64>(), s in side(), p in price(), q in qty(), q2 in qty(),
        aggressor in proptest::option::of(side()), bid in quote(), ask in quote(),
        chunk in snapshot_chunk(),
    ) {
        let hb = MdHeartbeat::new(m);
        assert_round_trip(&hb, Message::MdHeartbeat)?;
        prop_assert_eq!(hb.meta(), m);
        let reset = MdSequenceReset::new(m, SeqNo(r));
        assert_round_trip(&reset, Message::MdSequenceReset)?;
        prop_assert_eq!(reset.new_seq(), SeqNo(r));
        let add = MdAddOrder::new(m, r, s, p, q);
        assert_round_trip(&add, Message::MdAddOrder)?;
        prop_assert_eq!((add.meta(), add.order_ref(), add.side(), add.price(), add.qty()), (m, r, s, p, q));
        let modify = MdModifyOrder::new(m, r, s, p, q);
        assert_round_trip(&modify, Message::MdModifyOrder)?;
        prop_assert_eq!((modify.side(), modify.price(), modify.qty()), (s, p, q));
        let cancel = MdCancelOrder::new(m, r, q, q2);
        assert_round_trip(&cancel, Message::MdCancelOrder)?;
        prop_assert_eq!((cancel.canceled_qty(), cancel.remaining_qty()), (q, q2));
        let trade = MdTrade::new(m, r, aggressor, p, q);
        assert_round_trip(&trade, Message::MdTrade)?;
        prop_assert_eq!((trade.aggressor(), trade.price(), trade.qty()), (aggressor, p, q));
        let bbo = MdBboUpdate::new(m, bid, ask);
        assert_round_trip(&bbo, Message::MdBboUpdate)?;
        prop_assert_eq!((bbo.bid(), bbo.ask()), (bid, ask));
        assert_round_trip(&chunk, Message::MdBookSnapshotChunk)?;
    }

    #[test]
    fn order_records_round_trip(
        id in cl_ord_id(), orig in cl_ord_id(), s in spec(), c in cause(),
    ) {
        let new = NewOrder::new(id, &s, c);
        assert_round_trip(&new, Message::NewOrder)?;
        prop_assert_eq!((new.cl_ord_id(), new.spec(), new.cause()), (id, s, c));
        let cancel = CancelOrder::new(id, orig, s.instrument, s.account, s.side, c);
        assert_round_trip(&cancel, Message::CancelOrder)?;
        prop_assert_eq!(
            (cancel.cl_ord_id(), cancel.orig_cl_ord_id(), cancel.instrument(), cancel.account(), cancel.side(), cancel.cause()),
            (id, orig, s.instrument, s.account, s.side, c)
        );
        let replace = ReplaceOrder::new(id, orig, &s, c);
        assert_round_trip(&replace, Message::ReplaceOrder)?;
        prop_assert_eq!(
            (replace.cl_ord_id(), replace.orig_cl_ord_id(), replace.spec(), replace.cause()),
            (id, orig, s, c)
        );
    }

    #[test]
    fn exec_records_round_trip(
        m in exec_meta(), orig in cl_ord_id(), s in side(), o in ord_type(), t in tif(),
        r in reason(), f in fill(), unsolicited in any::<bool>(), q in qty(), q2 in qty(),
        to in response_to(), rep in replaced(),
    ) {
        let accepted = OrderAccepted::new(m, s, o, t);
        assert_round_trip(&accepted, Message::OrderAccepted)?;
        prop_assert_eq!((accepted.meta(), accepted.side(), accepted.ord_type(), accepted.tif()), (m, s, o, t));
        let rejected = OrderRejected::new(m, r);
        assert_round_trip(&rejected, Message::OrderRejected)?;
        prop_assert_eq!(rejected.reason(), r);
        let filled = OrderFilled::new(m, s, f);
        assert_round_trip(&filled, Message::OrderFilled)?;
        prop_assert_eq!((filled.meta(), filled.side(), filled.fill()), (m, s, f));
        let orig_opt = (!unsolicited).then_some(orig);
        let canceled = OrderCanceled::new(m, orig_opt, q, q2);
        assert_round_trip(&canceled, Message::OrderCanceled)?;
        prop_assert_eq!((canceled.orig_cl_ord_id(), canceled.canceled_qty(), canceled.cum_qty()), (orig_opt, q, q2));
        let cxl_rej = CancelRejected::new(m, orig, to, r);
        assert_round_trip(&cxl_rej, Message::CancelRejected)?;
        prop_assert_eq!((cxl_rej.orig_cl_ord_id(), cxl_rej.response_to(), cxl_rej.reason()), (orig, to, r));
        let replaced = OrderReplaced::new(m, orig, rep);
        assert_round_trip(&replaced, Message::OrderReplaced)?;
        prop_assert_eq!((replaced.orig_cl_ord_id(), replaced.replaced()), (orig, rep));
    }

    #[test]
    fn mass_cancel_records_round_trip(
        id in any::<u64>(), scope in mass_scope(), c in cause(), outcome in mass_outcome(),
        wall in any::<u64>(), mono in any::<u64>(),
    ) {
        let request = MassCancelRequest::new(id, scope, c);
        assert_round_trip(&request, Message::MassCancelRequest)?;
        prop_assert_eq!((request.request_id(), request.scope(), request.cause()), (id, scope, c));
        let report = MassCancelReport::new(id, scope, outcome, UnixNanos(wall), Nanos(mono));
        assert_round_trip(&report, Message::MassCancelReport)?;
        prop_assert_eq!(
            (report.request_id(), report.scope(), report.outcome(), report.transact_time(), report.gateway_ts()),
            (id, scope, outcome, UnixNanos(wall), Nanos(mono))
        );
        let response = if outcome.is_ok() { MassCancelResponse::Accepted } else { MassCancelResponse::Rejected };
        prop_assert_eq!(report.response(), response);
    }

    #[test]
    fn decode_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(msg) = decode(&bytes) {
            prop_assert_eq!(msg.as_bytes(), &bytes[..msg.len()]);
        }
    }

    /// Valid records with a few bytes overwritten: reaches the field checks, unlike random
    /// bytes, which rarely get past the header.
    #[test]
    fn decode_corrupted_records_never_panics(
        record in any_record(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut bytes = record.clone();
        for (at, value) in edits {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        match decode(&bytes) {
            Ok(msg) => {
                prop_assert_eq!(msg.as_bytes(), &bytes[..]);
                // A record that still decodes re-encodes to the same bytes.
                prop_assert_eq!(decode(msg.as_bytes()), Ok(msg));
            }
            Err(DecodeError::Truncated { .. }) => prop_assert!(false, "full record reported truncated"),
            Err(_) => {}
        }
        let short = &record[..cut % record.len()];
        let err = decode(short);
        let truncated = matches!(err, Err(DecodeError::Truncated { need, have }) if have == short.len() && need > have);
        prop_assert!(truncated, "{:?}", err);
    }

    #[test]
    fn price_text_round_trip(ticks in any::<i64>()) {
        let p = Price::from_ticks(ticks);
        prop_assert_eq!(p.to_string().parse::<Price>(), Ok(p));
    }

    #[test]
    fn price_parse_never_panics(s in "[-0-9.]{0,30}") {
        if let Ok(p) = s.parse::<Price>() {
            // Re-parsing the canonical form gives the same value.
            prop_assert_eq!(p.to_string().parse::<Price>(), Ok(p));
        }
    }

    #[test]
    fn client_order_id_round_trip(s in "[!-~]{1,16}") {
        let id = ClientOrderId::new(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(id.as_str(), s.as_str());
        prop_assert_eq!(ClientOrderId::from_wire(&id.to_wire()), Ok(id));
    }
}

/// Header for `ty` under schema 1, as bytes.
fn header_bytes(ty: u16, len: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&[0, 0]);
    v
}

#[test]
fn md_add_order_byte_layout() {
    let meta = MdMeta {
        instrument: InstrumentId(0x0102_0304),
        feed_seq: SeqNo(0x1112_1314_1516_1718),
        venue_ts: UnixNanos(0x2122_2324_2526_2728),
        recv_ts: Nanos(0x3132_3334_3536_3738),
    };
    let r = MdAddOrder::new(
        meta,
        0x4142_4344_4546_4748,
        Side::Sell,
        Price::from_ticks(-2),
        Qty(300),
    );
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        header_bytes(0x0110, 64),
        vec![0x04, 0x03, 0x02, 0x01],                          // 8 instrument
        vec![b'2', 0, 0, 0],                                   // 12 side, reserved
        vec![0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11],  // 16 feed_seq
        vec![0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21],  // 24 venue_ts
        vec![0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31],  // 32 recv_ts
        vec![0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41],  // 40 order_ref
        vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],  // 48 price -2 ticks
        vec![0x2c, 0x01, 0, 0, 0, 0, 0, 0],                    // 56 qty 300
    ]
    .concat();
    assert_eq!(r.as_bytes(), &expected[..]);
    assert_eq!(decode(&expected), Ok(Message::MdAddOrder(&r)));
}

#[test]
fn new_order_byte_layout() {
    let spec = OrderSpec {
        instrument: InstrumentId(7),
        account: AccountId(0x0a0b),
        side: Side::Buy,
        ord_type: OrderType::Limit,
        tif: TimeInForce::Ioc,
        price: "123.45".parse().unwrap_or_else(|e| panic!("{e}")),
        qty: Qty(100),
    };
    let cause = TickCause {
        feed_seq: SeqNo(5),
        venue_ts: UnixNanos(6),
        recv_ts: Nanos(7),
        send_ts: Nanos(8),
    };
    let id = ClientOrderId::new("ORD-1").unwrap_or_else(|e| panic!("{e}"));
    let r = NewOrder::new(id, &spec, cause);
    let le = |v: u64| v.to_le_bytes().to_vec();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        header_bytes(0x0200, 128),
        vec![7, 0, 0, 0],                             // 8 instrument
        vec![0x0b, 0x0a, 0, 0],                       // 12 account
        vec![b'1', b'2', b'3', 0, 0, 0, 0, 0],        // 16 side, ord_type, tif, reserved
        le(1_234_500),                                // 24 price 123.4500
        le(100),                                      // 32 qty
        b"ORD-1\0\0\0\0\0\0\0\0\0\0\0".to_vec(),      // 40 cl_ord_id
        le(5), le(6), le(7), le(8),                   // 56 tick cause
        vec![0; 40],                                  // 88 reserved
    ]
    .concat();
    assert_eq!(r.as_bytes(), &expected[..]);
    assert_eq!(decode(&expected), Ok(Message::NewOrder(&r)));
}

#[test]
fn order_rejected_byte_layout() {
    let meta = ExecMeta {
        instrument: InstrumentId(1),
        account: AccountId(2),
        cl_ord_id: ClientOrderId::new("X").unwrap_or_else(|e| panic!("{e}")),
        order_id: 0,
        transact_time: UnixNanos(3),
        gateway_ts: Nanos(4),
    };
    let r = OrderRejected::new(meta, RejectReason::PriceOutsideCollar);
    let le = |v: u64| v.to_le_bytes().to_vec();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        header_bytes(0x0301, 64),
        vec![1, 0, 0, 0, 2, 0, 0, 0],                 // 8 instrument, 12 account
        b"X\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(),  // 16 cl_ord_id
        le(0), le(3), le(4),                          // 32 order_id, transact_time, gateway_ts
        vec![8, 0, 0, 0, 0, 0, 0, 0],                 // 56 reason 8, reserved
    ]
    .concat();
    assert_eq!(r.as_bytes(), &expected[..]);
    assert_eq!(decode(&expected), Ok(Message::OrderRejected(&r)));
}

#[test]
fn mass_cancel_byte_layouts() {
    let scope = MassCancelScope {
        account: AccountId(2),
        instrument: Some(InstrumentId(1)),
        side: Some(Side::Buy),
    };
    let le = |v: u64| v.to_le_bytes().to_vec();
    let request = MassCancelRequest::new(0x0102_0304, scope, TickCause::NONE);
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        header_bytes(0x0203, 128),
        vec![1, 0, 0, 0, 2, 0, 0, 0],   // 8 instrument, 12 account
        vec![b'1', 0, 0, 0, 0, 0, 0, 0], // 16 side, reserved
        le(0x0102_0304),                // 24 request_id
        vec![0; 24],                    // 32 reserved
        vec![0; 32],                    // 56 tick cause
        vec![0; 40],                    // 88 reserved
    ]
    .concat();
    assert_eq!(request.as_bytes(), &expected[..]);
    assert_eq!(decode(&expected), Ok(Message::MassCancelRequest(&request)));

    let all = MassCancelScope {
        instrument: None,
        side: None,
        ..scope
    };
    let report = MassCancelReport::new(
        0x0102_0304,
        all,
        Err(RejectReason::UnknownAccount),
        UnixNanos(3),
        Nanos(4),
    );
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        header_bytes(0x0306, 64),
        vec![0, 0, 0, 0, 2, 0, 0, 0],      // 8 instrument 0 (all), 12 account
        le(0x0102_0304), le(0),            // 16 request_id, 24 affected
        vec![2, 0, 0, b'R', 0, 0, 0, 0],   // 32 reason, 34 side 0 (both), 35 response
        le(3), le(4),                      // 40 transact_time, 48 gateway_ts
        vec![0; 8],                        // 56 reserved
    ]
    .concat();
    assert_eq!(report.as_bytes(), &expected[..]);
    assert_eq!(decode(&expected), Ok(Message::MassCancelReport(&report)));
    for len in [0, 7, 8, 63] {
        assert!(
            matches!(decode(&expected[..len]), Err(DecodeError::Truncated { have, .. }) if have == len),
            "{len}"
        );
    }
    let mut bad = expected.clone();
    bad[4] = 128;
    assert_eq!(
        decode(&bad),
        Err(DecodeError::BadLength {
            msg_type: 0x0306,
            expected: 64,
            found: 128
        })
    );
}

#[test]
fn header_errors() {
    let hb = MdHeartbeat::new(MdMeta::default());
    let good = hb.as_bytes().to_vec();

    let mut bad = good.clone();
    bad[2] = 9;
    assert_eq!(decode(&bad), Err(DecodeError::UnsupportedVersion(9)));

    let mut bad = good.clone();
    bad[0] = 0xff;
    assert_eq!(decode(&bad), Err(DecodeError::UnknownType(0x01ff)));

    let mut bad = good.clone();
    bad[4] = 65;
    assert_eq!(
        decode(&bad),
        Err(DecodeError::BadLength {
            msg_type: 0x0100,
            expected: 64,
            found: 65
        })
    );

    assert_eq!(
        decode(&good[..63]),
        Err(DecodeError::Truncated { need: 64, have: 63 })
    );
    assert_eq!(
        decode(&good[..3]),
        Err(DecodeError::Truncated { need: 8, have: 3 })
    );

    let mut bad = good.clone();
    bad[60] = 1;
    assert_eq!(
        decode(&bad),
        Err(DecodeError::BadField { field: "reserved" })
    );
}

#[test]
fn every_type_has_a_record_and_the_right_size() {
    assert_eq!(MessageType::MAX_LEN, 256);
    assert!(core::mem::size_of::<DecodeError>() <= 24);
}
