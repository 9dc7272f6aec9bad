//! Property tests of the ITCH 5.0 codec and its framings: every message type round-trips
//! through its bytes, arbitrary bytes never panic a decoder, and decoders account for
//! every byte they skip.

use proptest::prelude::*;
use tickwarp_feed::itch::moldudp64::{self, PacketWriter};
use tickwarp_feed::itch::stream::{self, StreamDecoder};
use tickwarp_feed::itch::*;

fn header() -> impl Strategy<Value = Header> {
    (any::<u16>(), any::<u16>(), 0..=Timestamp::MAX.nanos()).prop_map(|(l, t, ts)| Header {
        stock_locate: l,
        tracking_number: t,
        timestamp: Timestamp::new(ts).unwrap_or_default(),
    })
}

fn side() -> impl Strategy<Value = ItchSide> {
    prop_oneof![Just(ItchSide::Buy), Just(ItchSide::Sell)]
}

fn p4() -> impl Strategy<Value = Price4> {
    any::<u32>().prop_map(Price4)
}

fn p8() -> impl Strategy<Value = Price8> {
    any::<u64>().prop_map(Price8)
}

fn stock() -> impl Strategy<Value = [u8; 8]> {
    any::<[u8; 8]>()
}

/// Any ITCH 5.0 message, of every type.
fn message() -> impl Strategy<Value = Message> {
    let h = header;
    prop_oneof![
        (h(), any::<u8>())
            .prop_map(|(header, event_code)| SystemEvent { header, event_code }.into()),
        (
            h(),
            stock(),
            any::<[u8; 2]>(),
            any::<u32>(),
            any::<[u8; 2]>(),
            any::<[u8; 6]>(),
            any::<u32>(),
            any::<u8>()
        )
            .prop_map(
                |(
                    header,
                    stock,
                    a,
                    round_lot_size,
                    issue_sub_type,
                    b,
                    etp_leverage_factor,
                    inverse_indicator,
                )| {
                    StockDirectory {
                        header,
                        stock,
                        market_category: a[0],
                        financial_status_indicator: a[1],
                        round_lot_size,
                        round_lots_only: b[0],
                        issue_classification: b[1],
                        issue_sub_type,
                        authenticity: b[2],
                        short_sale_threshold_indicator: b[3],
                        ipo_flag: b[4],
                        luld_reference_price_tier: b[5],
                        etp_flag: a[0] ^ b[0],
                        etp_leverage_factor,
                        inverse_indicator,
                    }
                    .into()
                }
            ),
        (h(), stock(), any::<u8>(), any::<u8>(), any::<[u8; 4]>()).prop_map(
            |(header, stock, trading_state, reserved, reason)| StockTradingAction {
                header,
                stock,
                trading_state,
                reserved,
                reason
            }
            .into()
        ),
        (h(), stock(), any::<u8>()).prop_map(|(header, stock, reg_sho_action)| {
            RegShoRestriction {
                header,
                stock,
                reg_sho_action,
            }
            .into()
        }),
        (h(), any::<[u8; 4]>(), stock(), any::<[u8; 3]>()).prop_map(|(header, mpid, stock, c)| {
            MarketParticipantPosition {
                header,
                mpid,
                stock,
                primary_market_maker: c[0],
                market_maker_mode: c[1],
                market_participant_state: c[2],
            }
            .into()
        }),
        (h(), p8(), p8(), p8()).prop_map(|(header, level_1, level_2, level_3)| {
            MwcbDeclineLevel {
                header,
                level_1,
                level_2,
                level_3,
            }
            .into()
        }),
        (h(), any::<u8>()).prop_map(|(header, breached_level)| MwcbStatus {
            header,
            breached_level
        }
        .into()),
        (h(), stock(), any::<u32>(), any::<u8>(), p4()).prop_map(
            |(header, stock, t, q, ipo_price)| {
                IpoQuotingPeriodUpdate {
                    header,
                    stock,
                    ipo_quotation_release_time: t,
                    ipo_quotation_release_qualifier: q,
                    ipo_price,
                }
                .into()
            }
        ),
        (h(), stock(), p4(), p4(), p4(), any::<u32>()).prop_map(|(header, stock, r, u, l, e)| {
            LuldAuctionCollar {
                header,
                stock,
                auction_collar_reference_price: r,
                upper_auction_collar_price: u,
                lower_auction_collar_price: l,
                auction_collar_extension: e,
            }
            .into()
        }),
        (h(), stock(), any::<u8>(), any::<u8>()).prop_map(|(header, stock, market_code, a)| {
            OperationalHalt {
                header,
                stock,
                market_code,
                operational_halt_action: a,
            }
            .into()
        }),
        (h(), any::<u64>(), side(), any::<u32>(), stock(), p4()).prop_map(
            |(header, r, s, shares, stock, price)| {
                AddOrder {
                    header,
                    order_reference_number: r,
                    buy_sell_indicator: s,
                    shares,
                    stock,
                    price,
                }
                .into()
            }
        ),
        (
            h(),
            any::<u64>(),
            side(),
            any::<u32>(),
            stock(),
            p4(),
            any::<[u8; 4]>()
        )
            .prop_map(
                |(header, r, s, shares, stock, price, attribution)| AddOrderMpid {
                    header,
                    order_reference_number: r,
                    buy_sell_indicator: s,
                    shares,
                    stock,
                    price,
                    attribution
                }
                .into()
            ),
        (h(), any::<u64>(), any::<u32>(), any::<u64>()).prop_map(|(header, r, e, m)| {
            OrderExecuted {
                header,
                order_reference_number: r,
                executed_shares: e,
                match_number: m,
            }
            .into()
        }),
        (
            h(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            any::<u8>(),
            p4()
        )
            .prop_map(|(header, r, e, m, p, x)| {
                OrderExecutedWithPrice {
                    header,
                    order_reference_number: r,
                    executed_shares: e,
                    match_number: m,
                    printable: p,
                    execution_price: x,
                }
                .into()
            }),
        (h(), any::<u64>(), any::<u32>()).prop_map(|(header, r, c)| {
            OrderCancel {
                header,
                order_reference_number: r,
                cancelled_shares: c,
            }
            .into()
        }),
        (h(), any::<u64>()).prop_map(|(header, r)| OrderDelete {
            header,
            order_reference_number: r
        }
        .into()),
        (h(), any::<u64>(), any::<u64>(), any::<u32>(), p4()).prop_map(
            |(header, o, n, shares, price)| {
                OrderReplace {
                    header,
                    original_order_reference_number: o,
                    new_order_reference_number: n,
                    shares,
                    price,
                }
                .into()
            }
        ),
        (
            h(),
            any::<u64>(),
            side(),
            any::<u32>(),
            stock(),
            p4(),
            any::<u64>()
        )
            .prop_map(|(header, r, s, shares, stock, price, m)| Trade {
                header,
                order_reference_number: r,
                buy_sell_indicator: s,
                shares,
                stock,
                price,
                match_number: m
            }
            .into()),
        (h(), any::<u64>(), stock(), p4(), any::<u64>(), any::<u8>()).prop_map(
            |(header, shares, stock, p, m, t)| {
                CrossTrade {
                    header,
                    shares,
                    stock,
                    cross_price: p,
                    match_number: m,
                    cross_type: t,
                }
                .into()
            }
        ),
        (h(), any::<u64>()).prop_map(|(header, match_number)| BrokenTrade {
            header,
            match_number
        }
        .into()),
        (
            h(),
            any::<u64>(),
            any::<u64>(),
            any::<u8>(),
            stock(),
            p4(),
            p4(),
            p4(),
            any::<[u8; 2]>()
        )
            .prop_map(
                |(header, paired, imbalance, dir, stock, far, near, cur, c)| Noii {
                    header,
                    paired_shares: paired,
                    imbalance_shares: imbalance,
                    imbalance_direction: dir,
                    stock,
                    far_price: far,
                    near_price: near,
                    current_reference_price: cur,
                    cross_type: c[0],
                    price_variation_indicator: c[1],
                }
                .into()
            ),
        (h(), stock(), any::<u8>()).prop_map(|(header, stock, interest_flag)| {
            RetailPriceImprovement {
                header,
                stock,
                interest_flag,
            }
            .into()
        }),
        (
            h(),
            stock(),
            any::<u8>(),
            p4(),
            p4(),
            p4(),
            any::<u64>(),
            p4(),
            p4()
        )
            .prop_map(
                |(header, stock, s, min, max, near, t, lo, hi)| DlcrPriceDiscovery {
                    header,
                    stock,
                    open_eligibility_status: s,
                    minimum_allowable_price: min,
                    maximum_allowable_price: max,
                    near_execution_price: near,
                    near_execution_time: t,
                    lower_price_range_collar: lo,
                    upper_price_range_collar: hi,
                }
                .into()
            ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_of_emit_is_identity(m in message()) {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = m.emit(&mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Some(n), message_len(m.msg_type()));
        let bytes = &buf[..n];
        prop_assert_eq!(Message::parse(bytes), Ok(m));
        // The zero-copy view agrees with the parsed header.
        let frame = Frame::new_checked(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(frame.header(), *m.header());
    }

    #[test]
    fn stream_of_messages_round_trips(msgs in proptest::collection::vec(message(), 0..40)) {
        let mut buf = Vec::new();
        for m in &msgs {
            stream::append(m, &mut buf);
        }
        let mut d = StreamDecoder::new(&buf);
        let back: Vec<_> = d.by_ref().collect();
        prop_assert_eq!(back, msgs.iter().copied().map(Ok).collect::<Vec<_>>());
        prop_assert_eq!(d.finish().map(|s| s.messages), Ok(msgs.len() as u64));
    }

    #[test]
    fn moldudp64_packet_round_trips(msgs in proptest::collection::vec(message(), 1..20), seq in any::<u64>()) {
        let mut buf = [0u8; 2048];
        let mut w = PacketWriter::new(&mut buf, *b"SESSION001", seq)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        for m in &msgs {
            w.push(m).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let n = w.finish();
        let (h, blocks) = moldudp64::parse(&buf[..n]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(h.sequence_number, seq);
        let back: Vec<_> = blocks.collect();
        let want: Vec<_> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| Ok((seq.wrapping_add(i as u64), *m)))
            .collect();
        prop_assert_eq!(back, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::parse(&bytes) {
            // An accepted message emits back to exactly its bytes.
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let n = m.emit(&mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&buf[..n], &bytes[..]);
        }
        let f = Frame::new_unchecked(&bytes[..]);
        let _ = (f.msg_type(), f.header(), f.get::<u64>(11..19), f.check_len());
        // The stream decoder accounts for every byte: decoded + skipped + remainder.
        let mut d = StreamDecoder::new(&bytes);
        let mut decoded_bytes = 0u64;
        for m in d.by_ref() {
            match m {
                Ok(m) => decoded_bytes += (stream::PREFIX_LEN + m.wire_len()) as u64,
                Err(e) => prop_assert!(e.offset() <= bytes.len()),
            }
        }
        let s = d.stats();
        prop_assert_eq!(
            decoded_bytes + s.skipped_bytes + d.remainder().len() as u64,
            bytes.len() as u64
        );
        if let Ok((_, blocks)) = moldudp64::parse(&bytes) {
            for b in blocks {
                if let Err(e) = b {
                    prop_assert!(e.offset() <= bytes.len());
                }
            }
        }
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), pos in 0usize..50, byte in any::<u8>(), cut in 0usize..51) {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = m.emit(&mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(b) = buf.get_mut(pos % n) {
            *b = byte;
        }
        let _ = Message::parse(&buf[..n]);
        let _ = Message::parse(&buf[..cut.min(n)]);
    }
}
