//! Every ITCH 5.0 message type: its byte layout ([`field`]), its typed form with `parse`
//! and `emit` written as a pair, and the [`Message`] enum over all of them.
//!
//! One table (the `itch_messages!` invocation below) states each message's type byte,
//! size, specification section and fields with their byte ranges; the field module, the
//! structs, `parse`, `emit` and the size checks are all generated from it, so the layout
//! is written once. Compile-time assertions check that every field's range has its
//! type's width and that the fields add up to the message size. Code fields (event code,
//! market category, cross type...) are kept as their byte so that codes NASDAQ adds later
//! still parse; only the Buy/Sell Indicator is validated, because the book depends on it.
//! No I/O, no clock, no panics.

use tickwarp_wire::{Symbol, SymbolError};

use super::error::{EmitError, ItchError};
use super::frame::Frame;
use super::types::{FieldValue, Header, ItchSide, Price4, Price8, stock_symbol};

/// Defines the field module, one struct per message type, and [`Message`].
macro_rules! itch_messages {
    ($(
        $(#[$doc:meta])*
        $name:ident = $code:literal, $snake:ident, $len:literal, $section:literal {
            $( $(#[$fdoc:meta])* $field:ident : $fty:ty = $konst:ident $start:literal .. $end:literal ),* $(,)?
        }
    )*) => {
        /// Byte ranges of every ITCH 5.0 field, named as in the specification, one module
        /// per message type (each with the type's fixed size `LEN`).
        pub mod field {
            use core::ops::Range;

            /// Message Type: byte 0 of every message.
            pub const MESSAGE_TYPE: Range<usize> = 0..1;
            /// Stock Locate: bytes 1 to 3 of every message.
            pub const STOCK_LOCATE: Range<usize> = 1..3;
            /// Tracking Number: bytes 3 to 5 of every message.
            pub const TRACKING_NUMBER: Range<usize> = 3..5;
            /// Timestamp: bytes 5 to 11 of every message.
            pub const TIMESTAMP: Range<usize> = 5..11;

            $(
                #[doc = concat!("Fields of [`", stringify!($name), "`](super::", stringify!($name), ") (", $section, ").")]
                pub mod $snake {
                    use core::ops::Range;

                    /// The message's fixed size in bytes.
                    pub const LEN: usize = $len;
                    $(
                        #[doc = concat!("`", stringify!($konst), "`: bytes ", stringify!($start), "..", stringify!($end), ".")]
                        pub const $konst: Range<usize> = $start..$end;
                    )*
                }
            )*
        }

        $(
            $(#[$doc])*
            #[doc = ""]
            #[doc = concat!("Type `", stringify!($code), "`, ", stringify!($len), " bytes, ", $section, ".")]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            pub struct $name {
                /// Stock Locate, Tracking Number and Timestamp.
                pub header: Header,
                $( $(#[$fdoc])* pub $field: $fty, )*
            }

            const _: () = {
                assert!(super::HEADER_LEN $( + ($end - $start) )* == $len);
                $( assert!($end - $start == <$fty as FieldValue>::LEN); )*
            };

            impl $name {
                /// The type byte.
                pub const TYPE: u8 = $code;
                /// The fixed size in bytes.
                pub const LEN: usize = $len;

                /// Parses a frame of this type (type byte and exact length are checked).
                pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<$name, ItchError> {
                    frame.check_len()?;
                    let msg_type = frame.msg_type();
                    if msg_type != Self::TYPE {
                        return Err(ItchError::UnknownType { offset: 0, msg_type });
                    }
                    Ok($name {
                        header: frame.header(),
                        $( $field: frame.read(field::$snake::$konst, stringify!($field))?, )*
                    })
                }

                /// Writes the message into `frame`, whose buffer must hold [`Self::LEN`]
                /// bytes ([`Message::emit`] checks; a shorter buffer gets only the fields
                /// that fit).
                pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
                    frame.set_header(Self::TYPE, &self.header);
                    $( frame.set(field::$snake::$konst, self.$field); )*
                }
            }

            impl From<$name> for Message {
                fn from(m: $name) -> Message {
                    Message::$name(m)
                }
            }
        )*

        /// Any ITCH 5.0 message.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Message {
            $(
                #[doc = concat!("[`", stringify!($name), "`] (", $section, ").")]
                $name($name),
            )*
        }

        impl Message {
            /// Parses one message: `bytes` is exactly the message, type byte first.
            pub fn parse(bytes: &[u8]) -> Result<Message, ItchError> {
                let frame = Frame::new_checked(bytes)?;
                match frame.msg_type() {
                    $( $code => $name::parse(&frame).map(Message::$name), )*
                    msg_type => Err(ItchError::UnknownType { offset: 0, msg_type }),
                }
            }

            /// Writes the message at the start of `buf`; returns its length.
            pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
                let need = self.wire_len();
                let have = buf.len();
                let Some(out) = buf.get_mut(..need) else {
                    return Err(EmitError::BufferTooSmall { need, have });
                };
                let mut frame = Frame::new_unchecked(out);
                match self {
                    $( Message::$name(m) => m.emit(&mut frame), )*
                }
                Ok(need)
            }

            /// The type byte.
            pub const fn msg_type(&self) -> u8 {
                match self {
                    $( Message::$name(_) => $code, )*
                }
            }

            /// The size on the wire in bytes.
            pub const fn wire_len(&self) -> usize {
                match self {
                    $( Message::$name(_) => $len, )*
                }
            }

            /// The common header.
            pub const fn header(&self) -> &Header {
                match self {
                    $( Message::$name(m) => &m.header, )*
                }
            }
        }

        /// The fixed size of ITCH 5.0 message type `msg_type`, or `None` if there is no
        /// such type.
        pub const fn message_len(msg_type: u8) -> Option<usize> {
            match msg_type {
                $( $code => Some($len), )*
                _ => None,
            }
        }
    };
}

itch_messages! {
    /// A market or data feed event (start/end of messages, system or market hours).
    SystemEvent = b'S', system_event, 12, "§1.1" {
        /// Event Code (see [`event_code`](super::event_code)).
        event_code: u8 = EVENT_CODE 11..12,
    }

    /// One issue traded on NASDAQ, sent at the start of the day; assigns its Stock Locate.
    StockDirectory = b'R', stock_directory, 39, "§1.2.1" {
        /// Stock symbol, right-padded with spaces.
        stock: [u8; 8] = STOCK 11..19,
        /// Market Category (`Q`, `G`, `S`, `N`, `A`, `P`, `Z`, `V`, space).
        market_category: u8 = MARKET_CATEGORY 19..20,
        /// Financial Status Indicator.
        financial_status_indicator: u8 = FINANCIAL_STATUS_INDICATOR 20..21,
        /// Round Lot Size in shares.
        round_lot_size: u32 = ROUND_LOT_SIZE 21..25,
        /// Round Lots Only (`Y`/`N`).
        round_lots_only: u8 = ROUND_LOTS_ONLY 25..26,
        /// Issue Classification.
        issue_classification: u8 = ISSUE_CLASSIFICATION 26..27,
        /// Issue Sub-Type (two characters).
        issue_sub_type: [u8; 2] = ISSUE_SUB_TYPE 27..29,
        /// Authenticity (`P` live, `T` test).
        authenticity: u8 = AUTHENTICITY 29..30,
        /// Short Sale Threshold Indicator (`Y`, `N`, space).
        short_sale_threshold_indicator: u8 = SHORT_SALE_THRESHOLD_INDICATOR 30..31,
        /// IPO Flag (`Y`, `N`, space).
        ipo_flag: u8 = IPO_FLAG 31..32,
        /// LULD Reference Price Tier (`1`, `2`, space).
        luld_reference_price_tier: u8 = LULD_REFERENCE_PRICE_TIER 32..33,
        /// ETP Flag (`Y`, `N`, space).
        etp_flag: u8 = ETP_FLAG 33..34,
        /// ETP Leverage Factor.
        etp_leverage_factor: u32 = ETP_LEVERAGE_FACTOR 34..38,
        /// Inverse Indicator (`Y`/`N`).
        inverse_indicator: u8 = INVERSE_INDICATOR 38..39,
    }

    /// Trading status of an issue changed (halted, paused, quotation only, trading).
    StockTradingAction = b'H', stock_trading_action, 25, "§1.2.2" {
        /// Stock symbol.
        stock: [u8; 8] = STOCK 11..19,
        /// Trading State (`H`, `P`, `Q`, `T`).
        trading_state: u8 = TRADING_STATE 19..20,
        /// Reserved.
        reserved: u8 = RESERVED 20..21,
        /// Trading Action Reason code, right-padded with spaces.
        reason: [u8; 4] = REASON 21..25,
    }

    /// Reg SHO Short Sale Price Test Restricted Indicator.
    RegShoRestriction = b'Y', reg_sho_restriction, 20, "§1.2.3" {
        /// Stock symbol.
        stock: [u8; 8] = STOCK 11..19,
        /// Reg SHO Action (`0`, `1`, `2`).
        reg_sho_action: u8 = REG_SHO_ACTION 19..20,
    }

    /// A market participant's status in an issue.
    MarketParticipantPosition = b'L', market_participant_position, 26, "§1.2.4" {
        /// Market participant identifier.
        mpid: [u8; 4] = MPID 11..15,
        /// Stock symbol.
        stock: [u8; 8] = STOCK 15..23,
        /// Primary Market Maker (`Y`/`N`).
        primary_market_maker: u8 = PRIMARY_MARKET_MAKER 23..24,
        /// Market Maker Mode.
        market_maker_mode: u8 = MARKET_MAKER_MODE 24..25,
        /// Market Participant State.
        market_participant_state: u8 = MARKET_PARTICIPANT_STATE 25..26,
    }

    /// Market-wide circuit breaker decline levels for the day.
    MwcbDeclineLevel = b'V', mwcb_decline_level, 35, "§1.2.5.1" {
        /// Level 1, `Price(8)`.
        level_1: Price8 = LEVEL_1 11..19,
        /// Level 2, `Price(8)`.
        level_2: Price8 = LEVEL_2 19..27,
        /// Level 3, `Price(8)`.
        level_3: Price8 = LEVEL_3 27..35,
    }

    /// A market-wide circuit breaker level was breached.
    MwcbStatus = b'W', mwcb_status, 12, "§1.2.5.2" {
        /// Breached Level (`1`, `2`, `3`).
        breached_level: u8 = BREACHED_LEVEL 11..12,
    }

    /// Anticipated quotation release time of an IPO.
    IpoQuotingPeriodUpdate = b'K', ipo_quoting_period_update, 28, "§1.2.6" {
        /// Stock symbol.
        stock: [u8; 8] = STOCK 11..19,
        /// IPO Quotation Release Time, seconds since midnight.
        ipo_quotation_release_time: u32 = IPO_QUOTATION_RELEASE_TIME 19..23,
        /// IPO Quotation Release Qualifier (`A`, `C`).
        ipo_quotation_release_qualifier: u8 = IPO_QUOTATION_RELEASE_QUALIFIER 23..24,
        /// IPO Price.
        ipo_price: Price4 = IPO_PRICE 24..28,
    }

    /// Auction collar thresholds of a paused security (LULD).
    LuldAuctionCollar = b'J', luld_auction_collar, 35, "§1.2.7" {
        /// Stock symbol.
        stock: [u8; 8] = STOCK 11..19,
        /// Auction Collar Reference Price.
        auction_collar_reference_price: Price4 = AUCTION_COLLAR_REFERENCE_PRICE 19..23,
        /// Upper Auction Collar Price.
        upper_auction_collar_price: Price4 = UPPER_AUCTION_COLLAR_PRICE 23..27,
        /// Lower Auction Collar Price.
        lower_auction_collar_price: Price4 = LOWER_AUCTION_COLLAR_PRICE 27..31,
        /// Auction Collar Extension count.
        auction_collar_extension: u32 = AUCTION_COLLAR_EXTENSION 31..35,
    }

    /// Operational halt of an issue on a NASDAQ market.
    OperationalHalt = b'h', operational_halt, 21, "§1.2.8" {
        /// Stock symbol.
        stock: [u8; 8] = STOCK 11..19,
        /// Market Code (`Q`, `B`, `X`).
        market_code: u8 = MARKET_CODE 19..20,
        /// Operational Halt Action (`H` halted, `T` resumed).
        operational_halt_action: u8 = OPERATIONAL_HALT_ACTION 20..21,
    }

    /// A new displayed order, unattributed.
    AddOrder = b'A', add_order, 36, "§1.3.1" {
        /// Order Reference Number, unique for the day.
        order_reference_number: u64 = ORDER_REFERENCE_NUMBER 11..19,
        /// Buy/Sell Indicator.
        buy_sell_indicator: ItchSide = BUY_SELL_INDICATOR 19..20,
        /// Shares displayed.
        shares: u32 = SHARES 20..24,
        /// Stock symbol.
        stock: [u8; 8] = STOCK 24..32,
        /// Limit price.
        price: Price4 = PRICE 32..36,
    }

    /// A new displayed order attributed to a market participant.
    AddOrderMpid = b'F', add_order_mpid, 40, "§1.3.2" {
        /// Order Reference Number, unique for the day.
        order_reference_number: u64 = ORDER_REFERENCE_NUMBER 11..19,
        /// Buy/Sell Indicator.
        buy_sell_indicator: ItchSide = BUY_SELL_INDICATOR 19..20,
        /// Shares displayed.
        shares: u32 = SHARES 20..24,
        /// Stock symbol.
        stock: [u8; 8] = STOCK 24..32,
        /// Limit price.
        price: Price4 = PRICE 32..36,
        /// Attribution: the market participant's MPID.
        attribution: [u8; 4] = ATTRIBUTION 36..40,
    }

    /// A resting order was executed, in whole or in part, at its limit price.
    OrderExecuted = b'E', order_executed, 31, "§1.4.1" {
        /// Order Reference Number of the resting order.
        order_reference_number: u64 = ORDER_REFERENCE_NUMBER 11..19,
        /// Executed Shares.
        executed_shares: u32 = EXECUTED_SHARES 19..23,
        /// Match Number.
        match_number: u64 = MATCH_NUMBER 23..31,
    }

    /// A resting order was executed at a price other than its limit price.
    OrderExecutedWithPrice = b'C', order_executed_with_price, 36, "§1.4.2" {
        /// Order Reference Number of the resting order.
        order_reference_number: u64 = ORDER_REFERENCE_NUMBER 11..19,
        /// Executed Shares.
        executed_shares: u32 = EXECUTED_SHARES 19..23,
        /// Match Number.
        match_number: u64 = MATCH_NUMBER 23..31,
        /// Printable (`Y`: counts toward volume, `N`: does not).
        printable: u8 = PRINTABLE 31..32,
        /// Execution Price.
        execution_price: Price4 = EXECUTION_PRICE 32..36,
    }

    /// Shares of a resting order were cancelled (partial cancellation).
    OrderCancel = b'X', order_cancel, 23, "§1.4.3" {
        /// Order Reference Number.
        order_reference_number: u64 = ORDER_REFERENCE_NUMBER 11..19,
        /// Cancelled Shares.
        cancelled_shares: u32 = CANCELLED_SHARES 19..23,
    }

    /// A resting order was removed from the book.
    OrderDelete = b'D', order_delete, 19, "§1.4.4" {
        /// Order Reference Number.
        order_reference_number: u64 = ORDER_REFERENCE_NUMBER 11..19,
    }

    /// A resting order was replaced by a new one (new reference, side kept).
    OrderReplace = b'U', order_replace, 35, "§1.4.5" {
        /// Original Order Reference Number.
        original_order_reference_number: u64 = ORIGINAL_ORDER_REFERENCE_NUMBER 11..19,
        /// New Order Reference Number.
        new_order_reference_number: u64 = NEW_ORDER_REFERENCE_NUMBER 19..27,
        /// Shares displayed by the new order.
        shares: u32 = SHARES 27..31,
        /// Limit price of the new order.
        price: Price4 = PRICE 31..35,
    }

    /// A match against a non-displayed order (no book change).
    Trade = b'P', trade, 44, "§1.5.1" {
        /// Order Reference Number (0: non-displayed).
        order_reference_number: u64 = ORDER_REFERENCE_NUMBER 11..19,
        /// Buy/Sell Indicator of the non-displayed order.
        buy_sell_indicator: ItchSide = BUY_SELL_INDICATOR 19..20,
        /// Shares.
        shares: u32 = SHARES 20..24,
        /// Stock symbol.
        stock: [u8; 8] = STOCK 24..32,
        /// Price.
        price: Price4 = PRICE 32..36,
        /// Match Number.
        match_number: u64 = MATCH_NUMBER 36..44,
    }

    /// The bulk print of an opening, closing, IPO or halt cross.
    CrossTrade = b'Q', cross_trade, 40, "§1.5.2" {
        /// Shares matched in the cross.
        shares: u64 = SHARES 11..19,
        /// Stock symbol.
        stock: [u8; 8] = STOCK 19..27,
        /// Cross Price.
        cross_price: Price4 = CROSS_PRICE 27..31,
        /// Match Number.
        match_number: u64 = MATCH_NUMBER 31..39,
        /// Cross Type (`O`, `C`, `H`, `I`).
        cross_type: u8 = CROSS_TYPE 39..40,
    }

    /// An execution was broken.
    BrokenTrade = b'B', broken_trade, 19, "§1.5.3" {
        /// Match Number of the broken execution.
        match_number: u64 = MATCH_NUMBER 11..19,
    }

    /// Net Order Imbalance Indicator, ahead of a cross.
    Noii = b'I', noii, 50, "§1.6" {
        /// Paired Shares.
        paired_shares: u64 = PAIRED_SHARES 11..19,
        /// Imbalance Shares.
        imbalance_shares: u64 = IMBALANCE_SHARES 19..27,
        /// Imbalance Direction (`B`, `S`, `N`, `O`, `P`).
        imbalance_direction: u8 = IMBALANCE_DIRECTION 27..28,
        /// Stock symbol.
        stock: [u8; 8] = STOCK 28..36,
        /// Far Price.
        far_price: Price4 = FAR_PRICE 36..40,
        /// Near Price.
        near_price: Price4 = NEAR_PRICE 40..44,
        /// Current Reference Price.
        current_reference_price: Price4 = CURRENT_REFERENCE_PRICE 44..48,
        /// Cross Type (`O`, `C`, `H`, `A`).
        cross_type: u8 = CROSS_TYPE 48..49,
        /// Price Variation Indicator.
        price_variation_indicator: u8 = PRICE_VARIATION_INDICATOR 49..50,
    }

    /// Retail Price Improvement Indicator: retail interest on a side.
    RetailPriceImprovement = b'N', retail_price_improvement, 20, "§1.7" {
        /// Stock symbol.
        stock: [u8; 8] = STOCK 11..19,
        /// Interest Flag (`B`, `S`, `A`, `N`).
        interest_flag: u8 = INTEREST_FLAG 19..20,
    }

    /// Direct Listing with Capital Raise price discovery.
    DlcrPriceDiscovery = b'O', dlcr_price_discovery, 48, "§1.8" {
        /// Stock symbol.
        stock: [u8; 8] = STOCK 11..19,
        /// Open Eligibility Status (`N`, `Y`).
        open_eligibility_status: u8 = OPEN_ELIGIBILITY_STATUS 19..20,
        /// Minimum Allowable Price.
        minimum_allowable_price: Price4 = MINIMUM_ALLOWABLE_PRICE 20..24,
        /// Maximum Allowable Price.
        maximum_allowable_price: Price4 = MAXIMUM_ALLOWABLE_PRICE 24..28,
        /// Near Execution Price.
        near_execution_price: Price4 = NEAR_EXECUTION_PRICE 28..32,
        /// Near Execution Time.
        near_execution_time: u64 = NEAR_EXECUTION_TIME 32..40,
        /// Lower Price Range Collar.
        lower_price_range_collar: Price4 = LOWER_PRICE_RANGE_COLLAR 40..44,
        /// Upper Price Range Collar.
        upper_price_range_collar: Price4 = UPPER_PRICE_RANGE_COLLAR 44..48,
    }
}

impl StockDirectory {
    /// The Stock field as a tickwarp symbol.
    pub fn symbol(&self) -> Result<Symbol, SymbolError> {
        stock_symbol(&self.stock)
    }
}

impl Message {
    /// The Stock Locate of the message (0 for market-wide messages).
    pub const fn stock_locate(&self) -> u16 {
        self.header().stock_locate
    }
}

#[cfg(test)]
mod tests;
