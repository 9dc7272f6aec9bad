//! NASDAQ TotalView-ITCH 5.0: byte layouts, parsing and emitting of every message type,
//! and the two input framings (length-prefixed files and MoldUDP64 packets).
//!
//! Section numbers (§) cite the TotalView-ITCH 5.0 specification, revision of 2023-04-28
//! (the one that added the DLCR Price Discovery message), whose message formats are
//! numbered 1.1 to 1.8. All integers are big-endian and unsigned; alpha fields are ASCII,
//! left-justified and padded on the right with spaces; timestamps are six-byte
//! nanoseconds since midnight; prices are `Price(4)` (four implied decimals) except the
//! MWCB levels, which are `Price(8)` (§ "Data Types").
//!
//! Shape (the smoltcp pattern): [`Frame`] is a zero-copy view over one message's bytes
//! with a [`field`] module of byte ranges named as in the specification; each message
//! type has a `Repr`-style struct (for example [`AddOrder`]) with `parse` and `emit`
//! written as a pair, and [`Message`] is the typed enum over all of them. The framings
//! live in [`stream`] and [`moldudp64`].
//!
//! Panic contract: no function of this module panics on any input. [`Frame::check_len`]
//! validates the type byte and the exact length; accessors of a frame that failed it
//! read missing bytes as zero instead of panicking.
//!
//! This module keeps no state beyond what a decoder needs to resume, performs no I/O and
//! reads no clock.

mod error;
mod frame;
mod message;
pub mod moldudp64;
pub mod stream;
mod types;

pub use error::{EmitError, ItchError};
pub use frame::Frame;
pub use message::{
    AddOrder, AddOrderMpid, BrokenTrade, CrossTrade, DlcrPriceDiscovery, IpoQuotingPeriodUpdate,
    LuldAuctionCollar, MarketParticipantPosition, Message, MwcbDeclineLevel, MwcbStatus, Noii,
    OperationalHalt, OrderCancel, OrderDelete, OrderExecuted, OrderExecutedWithPrice, OrderReplace,
    RegShoRestriction, RetailPriceImprovement, StockDirectory, StockTradingAction, SystemEvent,
    Trade, field, message_len,
};
pub use types::{FieldValue, Header, ItchSide, Price4, Price8, Timestamp, event_code};

/// The longest ITCH 5.0 message in bytes (Net Order Imbalance Indicator, §1.6).
pub const MAX_MESSAGE_LEN: usize = 50;

/// Bytes of the header every message starts with: type, stock locate, tracking number,
/// timestamp (§1).
pub const HEADER_LEN: usize = 11;
