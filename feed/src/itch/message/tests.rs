//! Byte vectors for every ITCH 5.0 message type, built by hand from the field tables of
//! the specification (section cited on each), parsed and emitted both ways.

use super::*;
use crate::itch::Timestamp;

/// The header every vector shares (§1): Stock Locate 1, Tracking Number 2, Timestamp
/// 34,200,000,000,000 ns (09:30:00).
const HDR: [u8; 10] = [0x00, 0x01, 0x00, 0x02, 0x1f, 0x1a, 0xce, 0xd9, 0xf0, 0x00];

/// A message: type byte, [`HDR`], then `body` (compile-time only).
#[allow(clippy::indexing_slicing)]
const fn msg<const N: usize, const B: usize>(msg_type: u8, body: [u8; B]) -> [u8; N] {
    assert!(N == 11 + B);
    let mut out = [0u8; N];
    out[0] = msg_type;
    let mut i = 0;
    while i < HDR.len() {
        out[1 + i] = HDR[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[11 + j] = body[j];
        j += 1;
    }
    out
}

fn hdr() -> Header {
    Header {
        stock_locate: 1,
        tracking_number: 2,
        timestamp: Timestamp::new(34_200_000_000_000).unwrap_or_default(),
    }
}

/// §1.1 System Event: Event Code `Q` (start of market hours).
static SYSTEM_EVENT: [u8; 12] = msg(b'S', [b'Q']);

/// §1.2.1 Stock Directory: "AAPL    ", category Q, status N, round lot 100, round lots
/// only N, classification C, sub-type "Z ", authenticity P, SSTI N, IPO N, LULD tier 1,
/// ETP N, leverage 0, inverse N.
static STOCK_DIRECTORY: [u8; 39] = msg(
    b'R',
    [
        b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // Stock
        b'Q', b'N', // Market Category, Financial Status Indicator
        0x00, 0x00, 0x00, 0x64, // Round Lot Size 100
        b'N', b'C', b'Z', b' ', // Round Lots Only, Issue Classification, Issue Sub-Type
        b'P', b'N', b'N', b'1', b'N', // Authenticity, SSTI, IPO Flag, LULD tier, ETP Flag
        0x00, 0x00, 0x00, 0x00, // ETP Leverage Factor
        b'N', // Inverse Indicator
    ],
);

/// §1.2.2 Stock Trading Action: "MSFT", state T, reserved space, reason "    ".
static STOCK_TRADING_ACTION: [u8; 25] = msg(
    b'H',
    [
        b'M', b'S', b'F', b'T', b' ', b' ', b' ', b' ', // Stock
        b'T', b' ', // Trading State, Reserved
        b' ', b' ', b' ', b' ', // Reason
    ],
);

/// §1.2.3 Reg SHO Restriction: "MSFT", action `1`.
static REG_SHO: [u8; 20] = msg(b'Y', [b'M', b'S', b'F', b'T', b' ', b' ', b' ', b' ', b'1']);

/// §1.2.4 Market Participant Position: MPID "GSCO", "MSFT", Y, N (normal), A (active).
static MARKET_PARTICIPANT: [u8; 26] = msg(
    b'L',
    [
        b'G', b'S', b'C', b'O', // MPID
        b'M', b'S', b'F', b'T', b' ', b' ', b' ', b' ', // Stock
        b'Y', b'N', b'A', // Primary Market Maker, Mode, State
    ],
);

/// §1.2.5.1 MWCB Decline Level: 50.00000000, 45.00000000, 40.00000000 (`Price(8)`).
static MWCB_DECLINE: [u8; 35] = msg(
    b'V',
    [
        0x00, 0x00, 0x00, 0x01, 0x2a, 0x05, 0xf2, 0x00, // Level 1: 5,000,000,000
        0x00, 0x00, 0x00, 0x01, 0x0c, 0x38, 0x8d, 0x00, // Level 2: 4,500,000,000
        0x00, 0x00, 0x00, 0x00, 0xee, 0x6b, 0x28, 0x00, // Level 3: 4,000,000,000
    ],
);

/// §1.2.5.2 MWCB Status: Breached Level `1`.
static MWCB_STATUS: [u8; 12] = msg(b'W', [b'1']);

/// §1.2.6 IPO Quoting Period Update: "NEWCO", release 34,200 s, qualifier A, 12.3450.
static IPO_QUOTING: [u8; 28] = msg(
    b'K',
    [
        b'N', b'E', b'W', b'C', b'O', b' ', b' ', b' ', // Stock
        0x00, 0x00, 0x85, 0x98, // IPO Quotation Release Time 34,200
        b'A', // IPO Quotation Release Qualifier
        0x00, 0x01, 0xe2, 0x3a, // IPO Price 123,450
    ],
);

/// §1.2.7 LULD Auction Collar: "MSFT", reference 123.4500, upper 135.7950, lower
/// 111.1050, extension 2.
static LULD_COLLAR: [u8; 35] = msg(
    b'J',
    [
        b'M', b'S', b'F', b'T', b' ', b' ', b' ', b' ', // Stock
        0x00, 0x12, 0xd6, 0x44, // Reference 1,234,500
        0x00, 0x14, 0xb8, 0x7e, // Upper 1,357,950
        0x00, 0x10, 0xf4, 0x0a, // Lower 1,111,050
        0x00, 0x00, 0x00, 0x02, // Auction Collar Extension
    ],
);

/// §1.2.8 Operational Halt: "MSFT", market Q, action H.
static OPERATIONAL_HALT: [u8; 21] = msg(
    b'h',
    [b'M', b'S', b'F', b'T', b' ', b' ', b' ', b' ', b'Q', b'H'],
);

/// §1.3.1 Add Order: ref 0x0102030405060708, Buy, 300 shares, "AAPL", 123.4500.
static ADD_ORDER: [u8; 36] = msg(
    b'A',
    [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // Order Reference Number
        b'B', // Buy/Sell Indicator
        0x00, 0x00, 0x01, 0x2c, // Shares 300
        b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // Stock
        0x00, 0x12, 0xd6, 0x44, // Price 1,234,500
    ],
);

/// §1.3.2 Add Order with MPID: ref 9, Sell, 100 shares, "AAPL", 123.4500, "GSCO".
static ADD_ORDER_MPID: [u8; 40] = msg(
    b'F',
    [
        0, 0, 0, 0, 0, 0, 0, 9,    // Order Reference Number
        b'S', // Buy/Sell Indicator
        0x00, 0x00, 0x00, 0x64, // Shares 100
        b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // Stock
        0x00, 0x12, 0xd6, 0x44, // Price
        b'G', b'S', b'C', b'O', // Attribution
    ],
);

/// §1.4.1 Order Executed: ref 9, 40 shares, match 0x1122334455667788.
static ORDER_EXECUTED: [u8; 31] = msg(
    b'E',
    [
        0, 0, 0, 0, 0, 0, 0, 9, // Order Reference Number
        0x00, 0x00, 0x00, 0x28, // Executed Shares 40
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // Match Number
    ],
);

/// §1.4.2 Order Executed With Price: ref 9, 10 shares, match 1, printable Y, 123.4600.
static ORDER_EXECUTED_PRICE: [u8; 36] = msg(
    b'C',
    [
        0, 0, 0, 0, 0, 0, 0, 9, // Order Reference Number
        0x00, 0x00, 0x00, 0x0a, // Executed Shares 10
        0, 0, 0, 0, 0, 0, 0, 1,    // Match Number
        b'Y', // Printable
        0x00, 0x12, 0xd6, 0xa8, // Execution Price 1,234,600
    ],
);

/// §1.4.3 Order Cancel: ref 9, 5 shares.
static ORDER_CANCEL: [u8; 23] = msg(b'X', [0, 0, 0, 0, 0, 0, 0, 9, 0x00, 0x00, 0x00, 0x05]);

/// §1.4.4 Order Delete: ref 9.
static ORDER_DELETE: [u8; 19] = msg(b'D', [0, 0, 0, 0, 0, 0, 0, 9]);

/// §1.4.5 Order Replace: ref 9 → 10, 200 shares, 123.4400.
static ORDER_REPLACE: [u8; 35] = msg(
    b'U',
    [
        0, 0, 0, 0, 0, 0, 0, 9, // Original Order Reference Number
        0, 0, 0, 0, 0, 0, 0, 10, // New Order Reference Number
        0x00, 0x00, 0x00, 0xc8, // Shares 200
        0x00, 0x12, 0xd5, 0xe0, // Price 1,234,400
    ],
);

/// §1.5.1 Trade (non-cross): ref 0, Buy, 50 shares, "AAPL", 123.4500, match 2.
static TRADE: [u8; 44] = msg(
    b'P',
    [
        0, 0, 0, 0, 0, 0, 0, 0,    // Order Reference Number
        b'B', // Buy/Sell Indicator
        0x00, 0x00, 0x00, 0x32, // Shares 50
        b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // Stock
        0x00, 0x12, 0xd6, 0x44, // Price
        0, 0, 0, 0, 0, 0, 0, 2, // Match Number
    ],
);

/// §1.5.2 Cross Trade: 1,000,000 shares, "AAPL", 123.4500, match 3, type O.
static CROSS_TRADE: [u8; 40] = msg(
    b'Q',
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42, 0x40, // Shares 1,000,000
        b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // Stock
        0x00, 0x12, 0xd6, 0x44, // Cross Price
        0, 0, 0, 0, 0, 0, 0, 3,    // Match Number
        b'O', // Cross Type
    ],
);

/// §1.5.3 Broken Trade: match 3.
static BROKEN_TRADE: [u8; 19] = msg(b'B', [0, 0, 0, 0, 0, 0, 0, 3]);

/// §1.6 NOII: paired 1,000, imbalance 200 B, "AAPL", far 0, near 123.4500, ref 123.4400,
/// cross O, variation `1`.
static NOII: [u8; 50] = msg(
    b'I',
    [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // Paired Shares 1,000
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc8, // Imbalance Shares 200
        b'B', // Imbalance Direction
        b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', // Stock
        0x00, 0x00, 0x00, 0x00, // Far Price
        0x00, 0x12, 0xd6, 0x44, // Near Price
        0x00, 0x12, 0xd5, 0xe0, // Current Reference Price
        b'O', b'1', // Cross Type, Price Variation Indicator
    ],
);

/// §1.7 RPII: "AAPL", interest A.
static RPII: [u8; 20] = msg(b'N', [b'A', b'A', b'P', b'L', b' ', b' ', b' ', b' ', b'A']);

/// §1.8 DLCR Price Discovery: "NEWCO", Y, min 10.0000, max 20.0000, near 15.0000,
/// time 0x0102030405060708, collars 13.5000 / 16.5000.
static DLCR: [u8; 48] = msg(
    b'O',
    [
        b'N', b'E', b'W', b'C', b'O', b' ', b' ', b' ', // Stock
        b'Y', // Open Eligibility Status
        0x00, 0x01, 0x86, 0xa0, // Minimum Allowable Price 100,000
        0x00, 0x03, 0x0d, 0x40, // Maximum Allowable Price 200,000
        0x00, 0x02, 0x49, 0xf0, // Near Execution Price 150,000
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // Near Execution Time
        0x00, 0x02, 0x0f, 0x58, // Lower Price Range Collar 135,000
        0x00, 0x02, 0x84, 0x88, // Upper Price Range Collar 165,000
    ],
);

const AAPL: [u8; 8] = *b"AAPL    ";
const MSFT: [u8; 8] = *b"MSFT    ";
const NEWCO: [u8; 8] = *b"NEWCO   ";

/// Every vector with the message it encodes.
fn vectors() -> Vec<(&'static [u8], Message)> {
    let header = hdr();
    vec![
        (
            &SYSTEM_EVENT[..],
            SystemEvent {
                header,
                event_code: b'Q',
            }
            .into(),
        ),
        (
            &STOCK_DIRECTORY[..],
            StockDirectory {
                header,
                stock: AAPL,
                market_category: b'Q',
                financial_status_indicator: b'N',
                round_lot_size: 100,
                round_lots_only: b'N',
                issue_classification: b'C',
                issue_sub_type: *b"Z ",
                authenticity: b'P',
                short_sale_threshold_indicator: b'N',
                ipo_flag: b'N',
                luld_reference_price_tier: b'1',
                etp_flag: b'N',
                etp_leverage_factor: 0,
                inverse_indicator: b'N',
            }
            .into(),
        ),
        (
            &STOCK_TRADING_ACTION[..],
            StockTradingAction {
                header,
                stock: MSFT,
                trading_state: b'T',
                reserved: b' ',
                reason: *b"    ",
            }
            .into(),
        ),
        (
            &REG_SHO[..],
            RegShoRestriction {
                header,
                stock: MSFT,
                reg_sho_action: b'1',
            }
            .into(),
        ),
        (
            &MARKET_PARTICIPANT[..],
            MarketParticipantPosition {
                header,
                mpid: *b"GSCO",
                stock: MSFT,
                primary_market_maker: b'Y',
                market_maker_mode: b'N',
                market_participant_state: b'A',
            }
            .into(),
        ),
        (
            &MWCB_DECLINE[..],
            MwcbDeclineLevel {
                header,
                level_1: Price8(5_000_000_000),
                level_2: Price8(4_500_000_000),
                level_3: Price8(4_000_000_000),
            }
            .into(),
        ),
        (
            &MWCB_STATUS[..],
            MwcbStatus {
                header,
                breached_level: b'1',
            }
            .into(),
        ),
        (
            &IPO_QUOTING[..],
            IpoQuotingPeriodUpdate {
                header,
                stock: NEWCO,
                ipo_quotation_release_time: 34_200,
                ipo_quotation_release_qualifier: b'A',
                ipo_price: Price4(123_450),
            }
            .into(),
        ),
        (
            &LULD_COLLAR[..],
            LuldAuctionCollar {
                header,
                stock: MSFT,
                auction_collar_reference_price: Price4(1_234_500),
                upper_auction_collar_price: Price4(1_357_950),
                lower_auction_collar_price: Price4(1_111_050),
                auction_collar_extension: 2,
            }
            .into(),
        ),
        (
            &OPERATIONAL_HALT[..],
            OperationalHalt {
                header,
                stock: MSFT,
                market_code: b'Q',
                operational_halt_action: b'H',
            }
            .into(),
        ),
        (
            &ADD_ORDER[..],
            AddOrder {
                header,
                order_reference_number: 0x0102_0304_0506_0708,
                buy_sell_indicator: ItchSide::Buy,
                shares: 300,
                stock: AAPL,
                price: Price4(1_234_500),
            }
            .into(),
        ),
        (
            &ADD_ORDER_MPID[..],
            AddOrderMpid {
                header,
                order_reference_number: 9,
                buy_sell_indicator: ItchSide::Sell,
                shares: 100,
                stock: AAPL,
                price: Price4(1_234_500),
                attribution: *b"GSCO",
            }
            .into(),
        ),
        (
            &ORDER_EXECUTED[..],
            OrderExecuted {
                header,
                order_reference_number: 9,
                executed_shares: 40,
                match_number: 0x1122_3344_5566_7788,
            }
            .into(),
        ),
        (
            &ORDER_EXECUTED_PRICE[..],
            OrderExecutedWithPrice {
                header,
                order_reference_number: 9,
                executed_shares: 10,
                match_number: 1,
                printable: b'Y',
                execution_price: Price4(1_234_600),
            }
            .into(),
        ),
        (
            &ORDER_CANCEL[..],
            OrderCancel {
                header,
                order_reference_number: 9,
                cancelled_shares: 5,
            }
            .into(),
        ),
        (
            &ORDER_DELETE[..],
            OrderDelete {
                header,
                order_reference_number: 9,
            }
            .into(),
        ),
        (
            &ORDER_REPLACE[..],
            OrderReplace {
                header,
                original_order_reference_number: 9,
                new_order_reference_number: 10,
                shares: 200,
                price: Price4(1_234_400),
            }
            .into(),
        ),
        (
            &TRADE[..],
            Trade {
                header,
                order_reference_number: 0,
                buy_sell_indicator: ItchSide::Buy,
                shares: 50,
                stock: AAPL,
                price: Price4(1_234_500),
                match_number: 2,
            }
            .into(),
        ),
        (
            &CROSS_TRADE[..],
            CrossTrade {
                header,
                shares: 1_000_000,
                stock: AAPL,
                cross_price: Price4(1_234_500),
                match_number: 3,
                cross_type: b'O',
            }
            .into(),
        ),
        (
            &BROKEN_TRADE[..],
            BrokenTrade {
                header,
                match_number: 3,
            }
            .into(),
        ),
        (
            &NOII[..],
            Noii {
                header,
                paired_shares: 1_000,
                imbalance_shares: 200,
                imbalance_direction: b'B',
                stock: AAPL,
                far_price: Price4(0),
                near_price: Price4(1_234_500),
                current_reference_price: Price4(1_234_400),
                cross_type: b'O',
                price_variation_indicator: b'1',
            }
            .into(),
        ),
        (
            &RPII[..],
            RetailPriceImprovement {
                header,
                stock: AAPL,
                interest_flag: b'A',
            }
            .into(),
        ),
        (
            &DLCR[..],
            DlcrPriceDiscovery {
                header,
                stock: NEWCO,
                open_eligibility_status: b'Y',
                minimum_allowable_price: Price4(100_000),
                maximum_allowable_price: Price4(200_000),
                near_execution_price: Price4(150_000),
                near_execution_time: 0x0102_0304_0506_0708,
                lower_price_range_collar: Price4(135_000),
                upper_price_range_collar: Price4(165_000),
            }
            .into(),
        ),
    ]
}

#[test]
fn every_type_has_a_vector() {
    let v = vectors();
    assert_eq!(v.len(), 23);
    let mut types: Vec<u8> = v.iter().map(|(_, m)| m.msg_type()).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), 23);
    for t in 0..=u8::MAX {
        assert_eq!(
            message_len(t).is_some(),
            types.contains(&t),
            "type {t:#04x}"
        );
    }
}

#[test]
fn vectors_parse_and_emit() {
    for (bytes, expected) in vectors() {
        let name = expected.msg_type() as char;
        assert_eq!(Message::parse(bytes), Ok(expected), "parse {name}");
        assert_eq!(
            message_len(expected.msg_type()),
            Some(bytes.len()),
            "{name}"
        );
        let mut out = [0u8; crate::itch::MAX_MESSAGE_LEN];
        let n = expected.emit(&mut out);
        assert_eq!(n, Ok(bytes.len()), "emit {name}");
        assert_eq!(out.get(..bytes.len()), Some(bytes), "emit {name}");
        assert_eq!(expected.header(), &hdr());
        assert_eq!(expected.stock_locate(), 1);
    }
}

#[test]
fn short_long_and_bad_side_are_typed_errors() {
    assert_eq!(
        Message::parse(&ADD_ORDER[..35]),
        Err(ItchError::Truncated {
            offset: 0,
            msg_type: b'A',
            need: 36,
            have: 35
        })
    );
    let mut long = ADD_ORDER.to_vec();
    long.push(0);
    assert_eq!(
        Message::parse(&long),
        Err(ItchError::LengthMismatch {
            offset: 0,
            msg_type: b'A',
            expected: 36,
            actual: 37
        })
    );
    let mut bad = ADD_ORDER;
    bad[19] = b'X';
    assert_eq!(
        Message::parse(&bad),
        Err(ItchError::BadField {
            offset: 19,
            field: "buy_sell_indicator"
        })
    );
    let mut small = [0u8; 35];
    let m = Message::parse(&ADD_ORDER).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        m.emit(&mut small),
        Err(EmitError::BufferTooSmall { need: 36, have: 35 })
    );
}

#[test]
fn typed_parse_refuses_other_type() {
    let frame = Frame::new_unchecked(&ORDER_DELETE[..]);
    assert_eq!(
        OrderDelete::parse(&frame).map(|d| d.order_reference_number),
        Ok(9)
    );
    assert_eq!(
        BrokenTrade::parse(&frame),
        Err(ItchError::UnknownType {
            offset: 0,
            msg_type: b'D'
        })
    );
    assert_eq!(
        frame.get::<u64>(field::order_delete::ORDER_REFERENCE_NUMBER),
        Some(9)
    );
}

#[test]
fn stock_directory_symbol() {
    let Ok(Message::StockDirectory(r)) = Message::parse(&STOCK_DIRECTORY) else {
        panic!("not a stock directory");
    };
    assert_eq!(r.symbol().map(|s| s.to_string()), Ok("AAPL".to_owned()));
}
