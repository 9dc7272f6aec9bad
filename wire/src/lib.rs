//! tickwarp-wire: the byte layouts every tickwarp component exchanges, and the journal.
//!
//! # Records
//!
//! Market data ([`md`]), order entry commands ([`order`]), execution events ([`exec`])
//! and the mass cancel request and its report ([`mass`]) are fixed-size, little-endian, `#[repr(C)]` records of alignment 1, so any byte buffer
//! (an RDMA ring slot, a receive buffer, a journal payload) can be viewed as a record
//! without copying. Each record starts with an 8-byte [`Header`] (message type, schema id,
//! length), so a buffer decodes without outside knowledge; [`decode`] returns a
//! [`Message`] that borrows the typed record. All records of schema [`SCHEMA_ID`] are
//! listed in [`MessageType`] with their sizes: each is a whole number of 64-byte cache
//! lines (64 bytes for book deltas, trades, heartbeats, resets, accepts and rejects; 128
//! for top of book, order commands and the larger execution events; 256 for a snapshot
//! chunk). Every record's doc draws its byte layout. Prices are fixed-point
//! ([`Price`], four decimals), times are [`UnixNanos`] (venue wall clock) or [`Nanos`]
//! (host monotonic clock), and every order carries the tick that caused it
//! ([`TickCause`]) so tick-to-trade is measured per order.
//!
//! Encoding: each record has a constructor taking typed values and `as_bytes()`
//! (zerocopy's [`IntoBytes`]). Decoding validates the header,
//! every enum-valued field, client order ids, counts and reserved bytes (which must be
//! zero), so the typed getters of a decoded record never panic and never see an invalid
//! value. Reading a record through zerocopy's raw casts ([`zerocopy::TryFromBytes`]) skips
//! the non-enum checks; the getters still never panic.
//!
//! # Journal
//!
//! [`journal`] is the append-only, CRC-checked, segmented file that the gateway writes
//! orders to and the feed records market data to.
//!
//! # What this crate must not do
//!
//! No I/O except the journal's files, no clocks (times are arguments), no threads, no
//! order state, no trading decisions.

pub mod exec;
pub mod header;
pub mod instrument;
pub mod journal;
pub mod mass;
pub mod md;
pub mod message;
pub mod order;
pub mod units;

pub use zerocopy::{self, IntoBytes};

pub use exec::{
    CancelRejected, CxlRejResponseTo, ExecMeta, Fill, FillKind, OrderAccepted, OrderCanceled,
    OrderFilled, OrderRejected, OrderReplaced, RejectReason, Replaced,
};
pub use header::{DecodeError, HEADER_LEN, Header, MessageType, Record, SCHEMA_ID};
pub use instrument::{InstrumentEntry, InstrumentError, InstrumentTable, Symbol, SymbolError};
pub use mass::{MassCancelReport, MassCancelRequest, MassCancelResponse, MassCancelScope};
pub use md::{
    BookLevel, ChunkError, MdAddOrder, MdBboUpdate, MdBookSnapshotChunk, MdCancelOrder,
    MdHeartbeat, MdMeta, MdModifyOrder, MdSequenceReset, MdTrade, Quote,
};
pub use message::{Message, decode};
pub use order::{CancelOrder, NewOrder, OrderSpec, ReplaceOrder, TickCause};
pub use units::{
    AccountId, ClientOrderId, ClientOrderIdError, InstrumentId, Nanos, OrderType, Price,
    PriceParseError, Qty, SeqNo, Side, TimeInForce, UnixNanos,
};
