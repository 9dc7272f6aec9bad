//! Market data records: order book deltas, trades, top of book, snapshots, heartbeats and
//! sequence resets, as published by the feed into each subscriber's ring.
//!
//! Every market data record shares its first 40 bytes:
//!
//! ```text
//!  0        8          12     13        16         24         32         40
//! +--------+----------+------+---------+----------+----------+----------+-------------
//! | header | instr.   | aux  | reserved| feed_seq | venue_ts | recv_ts  | payload ...
//! |   8    | u32 LE   | u8   | 3, zero | u64 LE   | u64 LE   | u64 LE   |
//! +--------+----------+------+---------+----------+----------+----------+-------------
//! ```
//!
//! `aux` is the side for order records, the aggressor side for trades, and reserved (zero)
//! elsewhere. `venue_ts` is the venue's timestamp ([`UnixNanos`]), `recv_ts` the feed
//! handler's monotonic receive time ([`Nanos`]), `feed_seq` the feed's sequence number.
//! Sizes: 64 bytes (one cache line) for deltas, trades, heartbeats and resets; 128 for the
//! top of book, which needs four price/quantity fields; 256 for a snapshot chunk of
//! [`MdBookSnapshotChunk::LEVELS`] levels.
//!
//! Panic contract: constructors and getters never panic; a record borrowed through
//! [`Record::decode`] has valid enums, zero reserved bytes and in-range counts. This module
//! keeps no book and does no I/O.

use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, TryFromBytes, Unaligned};

use crate::header::{DecodeError, Header, MessageType, Record, check_reserved, first_bad_byte};
use crate::units::{InstrumentId, Nanos, Price, Qty, SeqNo, Side, UnixNanos};

/// The fields every market data record carries (not a wire struct; see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MdMeta {
    /// The instrument ([`InstrumentId::NONE`] for feed-wide records).
    pub instrument: InstrumentId,
    /// The feed's sequence number of this record.
    pub feed_seq: SeqNo,
    /// The venue's timestamp of the event.
    pub venue_ts: UnixNanos,
    /// When the feed handler received the event (monotonic).
    pub recv_ts: Nanos,
}

/// Getters for the shared market data fields (layout in the module doc).
macro_rules! md_common_getters {
    () => {
        /// The instrument.
        pub fn instrument(&self) -> InstrumentId {
            InstrumentId(self.instrument.get())
        }

        /// The feed's sequence number of this record.
        pub fn feed_seq(&self) -> SeqNo {
            SeqNo(self.feed_seq.get())
        }

        /// The venue's timestamp of the event.
        pub fn venue_ts(&self) -> UnixNanos {
            UnixNanos(self.venue_ts.get())
        }

        /// When the feed handler received the event (monotonic).
        pub fn recv_ts(&self) -> Nanos {
            Nanos(self.recv_ts.get())
        }

        /// All shared market data fields.
        pub fn meta(&self) -> MdMeta {
            MdMeta {
                instrument: self.instrument(),
                feed_seq: self.feed_seq(),
                venue_ts: self.venue_ts(),
                recv_ts: self.recv_ts(),
            }
        }
    };
}

/// A feed heartbeat: the feed is alive; `feed_seq` is the last sequence number published
/// (a heartbeat does not consume one). 64 bytes.
///
/// ```text
/// 0 header | 8 instrument (0) | 12 reserved[4] | 16 feed_seq | 24 venue_ts | 32 recv_ts
/// 40 reserved[24] | 64
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct MdHeartbeat {
    header: Header,
    instrument: U32,
    reserved: [u8; 4],
    feed_seq: U64,
    venue_ts: U64,
    recv_ts: U64,
    reserved2: [u8; 24],
}

const _: () = assert!(size_of::<MdHeartbeat>() == 64);

impl MdHeartbeat {
    /// A heartbeat.
    pub fn new(meta: MdMeta) -> MdHeartbeat {
        MdHeartbeat {
            header: Header::for_record::<Self>(),
            instrument: U32::new(meta.instrument.0),
            reserved: [0; 4],
            feed_seq: U64::new(meta.feed_seq.0),
            venue_ts: U64::new(meta.venue_ts.0),
            recv_ts: U64::new(meta.recv_ts.0),
            reserved2: [0; 24],
        }
    }

    md_common_getters!();
}

impl Record for MdHeartbeat {
    const TYPE: MessageType = MessageType::MdHeartbeat;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_reserved(&self.reserved, "reserved")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

/// The feed restarts its numbering: the next record carries `new_seq`. 64 bytes.
///
/// ```text
/// 0 header | 8 instrument (0) | 12 reserved[4] | 16 feed_seq | 24 venue_ts | 32 recv_ts
/// 40 new_seq u64 | 48 reserved[16] | 64
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct MdSequenceReset {
    header: Header,
    instrument: U32,
    reserved: [u8; 4],
    feed_seq: U64,
    venue_ts: U64,
    recv_ts: U64,
    new_seq: U64,
    reserved2: [u8; 16],
}

const _: () = assert!(size_of::<MdSequenceReset>() == 64);

impl MdSequenceReset {
    /// A sequence reset announcing `new_seq` as the next sequence number.
    pub fn new(meta: MdMeta, new_seq: SeqNo) -> MdSequenceReset {
        MdSequenceReset {
            header: Header::for_record::<Self>(),
            instrument: U32::new(meta.instrument.0),
            reserved: [0; 4],
            feed_seq: U64::new(meta.feed_seq.0),
            venue_ts: U64::new(meta.venue_ts.0),
            recv_ts: U64::new(meta.recv_ts.0),
            new_seq: U64::new(new_seq.0),
            reserved2: [0; 16],
        }
    }

    md_common_getters!();

    /// The sequence number of the next record.
    pub fn new_seq(&self) -> SeqNo {
        SeqNo(self.new_seq.get())
    }
}

impl Record for MdSequenceReset {
    const TYPE: MessageType = MessageType::MdSequenceReset;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_reserved(&self.reserved, "reserved")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

/// Defines a 64-byte order record: side at 12, `order_ref` at 40, `price` at 48, `qty` at 56.
macro_rules! md_order_record {
    ($(#[$doc:meta])* $name:ident, $ty:ident) => {
        $(#[$doc])*
        ///
        /// ```text
        /// 0 header | 8 instrument | 12 side u8 | 13 reserved[3] | 16 feed_seq | 24 venue_ts
        /// 32 recv_ts | 40 order_ref u64 | 48 price i64 | 56 qty u64 | 64
        /// ```
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash,
            TryFromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
        )]
        #[repr(C)]
        pub struct $name {
            header: Header,
            instrument: U32,
            side: Side,
            reserved: [u8; 3],
            feed_seq: U64,
            venue_ts: U64,
            recv_ts: U64,
            order_ref: U64,
            price: I64,
            qty: U64,
        }

        const _: () = assert!(size_of::<$name>() == 64);
        const _: () = assert!(offset_of!($name, side) == 12);
        const _: () = assert!(offset_of!($name, order_ref) == 40);

        impl $name {
            /// The record for venue order `order_ref`.
            pub fn new(meta: MdMeta, order_ref: u64, side: Side, price: Price, qty: Qty) -> $name {
                $name {
                    header: Header::for_record::<Self>(),
                    instrument: U32::new(meta.instrument.0),
                    side,
                    reserved: [0; 3],
                    feed_seq: U64::new(meta.feed_seq.0),
                    venue_ts: U64::new(meta.venue_ts.0),
                    recv_ts: U64::new(meta.recv_ts.0),
                    order_ref: U64::new(order_ref),
                    price: I64::new(price.ticks()),
                    qty: U64::new(qty.0),
                }
            }

            md_common_getters!();

            /// The venue's order reference number.
            pub fn order_ref(&self) -> u64 {
                self.order_ref.get()
            }

            /// The order's side.
            pub fn side(&self) -> Side {
                self.side
            }

            /// The order's (new) limit price.
            pub fn price(&self) -> Price {
                Price::from_ticks(self.price.get())
            }

            /// The order's (new) displayed quantity.
            pub fn qty(&self) -> Qty {
                Qty(self.qty.get())
            }
        }

        impl Record for $name {
            const TYPE: MessageType = MessageType::$ty;

            fn header(&self) -> &Header {
                &self.header
            }

            fn check(&self) -> Result<(), DecodeError> {
                check_reserved(&self.reserved, "reserved")
            }

            fn bad_enum_field(bytes: &[u8]) -> Option<&'static str> {
                first_bad_byte(bytes, &[("side", offset_of!($name, side), |b| {
                    Side::from_wire(b).is_some()
                })])
            }
        }
    };
}

md_order_record!(
    /// A displayed order was added to the book (ITCH 5.0 `A`/`F`). 64 bytes.
    MdAddOrder,
    MdAddOrder
);

md_order_record!(
    /// A resting order changed price and/or quantity in place, keeping its reference; the
    /// venue decides whether it keeps queue priority. A venue that assigns a new reference
    /// (ITCH 5.0 `U`) is published as [`MdCancelOrder`] of the old reference followed by
    /// [`MdAddOrder`] of the new one. 64 bytes.
    MdModifyOrder,
    MdModifyOrder
);

/// Quantity was removed from a resting order without a trade (ITCH 5.0 `X`, and `D` when
/// `remaining_qty` is zero: the order left the book). 64 bytes.
///
/// ```text
/// 0 header | 8 instrument | 12 reserved[4] | 16 feed_seq | 24 venue_ts | 32 recv_ts
/// 40 order_ref u64 | 48 canceled_qty u64 | 56 remaining_qty u64 | 64
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct MdCancelOrder {
    header: Header,
    instrument: U32,
    reserved: [u8; 4],
    feed_seq: U64,
    venue_ts: U64,
    recv_ts: U64,
    order_ref: U64,
    canceled_qty: U64,
    remaining_qty: U64,
}

const _: () = assert!(size_of::<MdCancelOrder>() == 64);

impl MdCancelOrder {
    /// `canceled_qty` was removed from order `order_ref`, leaving `remaining_qty`.
    pub fn new(meta: MdMeta, order_ref: u64, canceled_qty: Qty, remaining_qty: Qty) -> Self {
        MdCancelOrder {
            header: Header::for_record::<Self>(),
            instrument: U32::new(meta.instrument.0),
            reserved: [0; 4],
            feed_seq: U64::new(meta.feed_seq.0),
            venue_ts: U64::new(meta.venue_ts.0),
            recv_ts: U64::new(meta.recv_ts.0),
            order_ref: U64::new(order_ref),
            canceled_qty: U64::new(canceled_qty.0),
            remaining_qty: U64::new(remaining_qty.0),
        }
    }

    md_common_getters!();

    /// The venue's order reference number.
    pub fn order_ref(&self) -> u64 {
        self.order_ref.get()
    }

    /// Quantity removed by this cancel.
    pub fn canceled_qty(&self) -> Qty {
        Qty(self.canceled_qty.get())
    }

    /// Quantity left on the book; zero means the order was deleted.
    pub fn remaining_qty(&self) -> Qty {
        Qty(self.remaining_qty.get())
    }

    /// Whether the order left the book.
    pub fn is_delete(&self) -> bool {
        self.remaining_qty.get() == 0
    }
}

impl Record for MdCancelOrder {
    const TYPE: MessageType = MessageType::MdCancelOrder;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_reserved(&self.reserved, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

/// A trade printed (ITCH 5.0 `E`/`C`/`P`). 64 bytes.
///
/// `order_ref` is the resting order executed (0 for a non-displayed order);
/// `aggressor` is 0 when the venue does not say, else a [`Side`] byte.
///
/// ```text
/// 0 header | 8 instrument | 12 aggressor u8 | 13 reserved[3] | 16 feed_seq | 24 venue_ts
/// 32 recv_ts | 40 order_ref u64 | 48 price i64 | 56 qty u64 | 64
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct MdTrade {
    header: Header,
    instrument: U32,
    aggressor: u8,
    reserved: [u8; 3],
    feed_seq: U64,
    venue_ts: U64,
    recv_ts: U64,
    order_ref: U64,
    price: I64,
    qty: U64,
}

const _: () = assert!(size_of::<MdTrade>() == 64);

impl MdTrade {
    /// A trade of `qty` at `price` against resting order `order_ref` (0 if unknown).
    pub fn new(
        meta: MdMeta,
        order_ref: u64,
        aggressor: Option<Side>,
        price: Price,
        qty: Qty,
    ) -> MdTrade {
        MdTrade {
            header: Header::for_record::<Self>(),
            instrument: U32::new(meta.instrument.0),
            aggressor: aggressor.map_or(0, Side::to_wire),
            reserved: [0; 3],
            feed_seq: U64::new(meta.feed_seq.0),
            venue_ts: U64::new(meta.venue_ts.0),
            recv_ts: U64::new(meta.recv_ts.0),
            order_ref: U64::new(order_ref),
            price: I64::new(price.ticks()),
            qty: U64::new(qty.0),
        }
    }

    md_common_getters!();

    /// The resting order executed (0 for a non-displayed order).
    pub fn order_ref(&self) -> u64 {
        self.order_ref.get()
    }

    /// The aggressor's side, if the venue says.
    pub fn aggressor(&self) -> Option<Side> {
        Side::from_wire(self.aggressor)
    }

    /// The trade price.
    pub fn price(&self) -> Price {
        Price::from_ticks(self.price.get())
    }

    /// The traded quantity.
    pub fn qty(&self) -> Qty {
        Qty(self.qty.get())
    }
}

impl Record for MdTrade {
    const TYPE: MessageType = MessageType::MdTrade;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        if self.aggressor != 0 && Side::from_wire(self.aggressor).is_none() {
            return Err(DecodeError::BadField { field: "aggressor" });
        }
        check_reserved(&self.reserved, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

/// Best bid and offer after a change. A side with zero quantity is empty. 128 bytes.
///
/// ```text
/// 0 header | 8 instrument | 12 reserved[4] | 16 feed_seq | 24 venue_ts | 32 recv_ts
/// 40 bid_px i64 | 48 bid_qty u64 | 56 ask_px i64 | 64 ask_qty u64
/// 72 bid_orders u32 | 76 ask_orders u32 | 80 reserved[48] | 128
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct MdBboUpdate {
    header: Header,
    instrument: U32,
    reserved: [u8; 4],
    feed_seq: U64,
    venue_ts: U64,
    recv_ts: U64,
    bid_px: I64,
    bid_qty: U64,
    ask_px: I64,
    ask_qty: U64,
    bid_orders: U32,
    ask_orders: U32,
    reserved2: [u8; 48],
}

const _: () = assert!(size_of::<MdBboUpdate>() == 128);

/// One side of the top of book (not a wire struct).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quote {
    /// Price of the level.
    pub px: Price,
    /// Total quantity at the level; zero means the side is empty.
    pub qty: Qty,
    /// Number of orders at the level (0 when the venue does not say).
    pub orders: u32,
}

impl MdBboUpdate {
    /// A top-of-book update.
    pub fn new(meta: MdMeta, bid: Quote, ask: Quote) -> MdBboUpdate {
        MdBboUpdate {
            header: Header::for_record::<Self>(),
            instrument: U32::new(meta.instrument.0),
            reserved: [0; 4],
            feed_seq: U64::new(meta.feed_seq.0),
            venue_ts: U64::new(meta.venue_ts.0),
            recv_ts: U64::new(meta.recv_ts.0),
            bid_px: I64::new(bid.px.ticks()),
            bid_qty: U64::new(bid.qty.0),
            ask_px: I64::new(ask.px.ticks()),
            ask_qty: U64::new(ask.qty.0),
            bid_orders: U32::new(bid.orders),
            ask_orders: U32::new(ask.orders),
            reserved2: [0; 48],
        }
    }

    md_common_getters!();

    /// The best bid.
    pub fn bid(&self) -> Quote {
        Quote {
            px: Price::from_ticks(self.bid_px.get()),
            qty: Qty(self.bid_qty.get()),
            orders: self.bid_orders.get(),
        }
    }

    /// The best offer.
    pub fn ask(&self) -> Quote {
        Quote {
            px: Price::from_ticks(self.ask_px.get()),
            qty: Qty(self.ask_qty.get()),
            orders: self.ask_orders.get(),
        }
    }
}

impl Record for MdBboUpdate {
    const TYPE: MessageType = MessageType::MdBboUpdate;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_reserved(&self.reserved, "reserved")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

/// One depth level of a snapshot: bid and ask at the same depth. A side with zero
/// quantity is empty. 32 bytes.
///
/// ```text
/// 0 bid_px i64 | 8 bid_qty u64 | 16 ask_px i64 | 24 ask_qty u64 | 32
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct BookLevel {
    bid_px: I64,
    bid_qty: U64,
    ask_px: I64,
    ask_qty: U64,
}

const _: () = assert!(size_of::<BookLevel>() == 32);

impl BookLevel {
    /// A level from its bid and ask (zero quantity for an empty side).
    pub fn new(bid_px: Price, bid_qty: Qty, ask_px: Price, ask_qty: Qty) -> BookLevel {
        BookLevel {
            bid_px: I64::new(bid_px.ticks()),
            bid_qty: U64::new(bid_qty.0),
            ask_px: I64::new(ask_px.ticks()),
            ask_qty: U64::new(ask_qty.0),
        }
    }

    /// Bid price.
    pub fn bid_px(&self) -> Price {
        Price::from_ticks(self.bid_px.get())
    }

    /// Bid quantity (zero: no bid at this depth).
    pub fn bid_qty(&self) -> Qty {
        Qty(self.bid_qty.get())
    }

    /// Ask price.
    pub fn ask_px(&self) -> Price {
        Price::from_ticks(self.ask_px.get())
    }

    /// Ask quantity (zero: no ask at this depth).
    pub fn ask_qty(&self) -> Qty {
        Qty(self.ask_qty.get())
    }
}

/// Why a snapshot chunk could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// More levels than [`MdBookSnapshotChunk::LEVELS`].
    #[error("{len} levels in one chunk, at most 6 allowed")]
    TooManyLevels {
        /// Levels given.
        len: usize,
    },
    /// `index` is not below `count` (or `count` is zero).
    #[error("chunk index {index} out of {count}")]
    BadIndex {
        /// Chunk index given.
        index: u16,
        /// Chunk count given.
        count: u16,
    },
}

/// One chunk of a full-depth book snapshot: up to [`Self::LEVELS`] levels starting at
/// depth `first_level` (0 = top). A snapshot is `chunk_count` chunks with consecutive
/// `chunk_index`, all carrying the same `feed_seq`: the book as of that sequence number.
/// Unused level slots are zero. 256 bytes.
///
/// ```text
/// 0 header | 8 instrument | 12 reserved[4] | 16 feed_seq | 24 venue_ts | 32 recv_ts
/// 40 chunk_index u16 | 42 chunk_count u16 | 44 first_level u16 | 46 level_count u16
/// 48 levels[6] (BookLevel, 32 bytes each) | 240 reserved[16] | 256
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[repr(C)]
pub struct MdBookSnapshotChunk {
    header: Header,
    instrument: U32,
    reserved: [u8; 4],
    feed_seq: U64,
    venue_ts: U64,
    recv_ts: U64,
    chunk_index: U16,
    chunk_count: U16,
    first_level: U16,
    level_count: U16,
    levels: [BookLevel; MdBookSnapshotChunk::LEVELS],
    reserved2: [u8; 16],
}

const _: () = assert!(size_of::<MdBookSnapshotChunk>() == 256);
const _: () = assert!(offset_of!(MdBookSnapshotChunk, levels) == 48);

impl MdBookSnapshotChunk {
    /// Depth levels per chunk.
    pub const LEVELS: usize = 6;

    /// Chunk `chunk_index` of `chunk_count`, holding `levels` from depth `first_level`.
    pub fn new(
        meta: MdMeta,
        chunk_index: u16,
        chunk_count: u16,
        first_level: u16,
        levels: &[BookLevel],
    ) -> Result<MdBookSnapshotChunk, ChunkError> {
        if chunk_index >= chunk_count {
            return Err(ChunkError::BadIndex {
                index: chunk_index,
                count: chunk_count,
            });
        }
        let mut slots = [BookLevel::default(); Self::LEVELS];
        if levels.len() > Self::LEVELS {
            return Err(ChunkError::TooManyLevels { len: levels.len() });
        }
        for (slot, level) in slots.iter_mut().zip(levels) {
            *slot = *level;
        }
        Ok(MdBookSnapshotChunk {
            header: Header::for_record::<Self>(),
            instrument: U32::new(meta.instrument.0),
            reserved: [0; 4],
            feed_seq: U64::new(meta.feed_seq.0),
            venue_ts: U64::new(meta.venue_ts.0),
            recv_ts: U64::new(meta.recv_ts.0),
            chunk_index: U16::new(chunk_index),
            chunk_count: U16::new(chunk_count),
            first_level: U16::new(first_level),
            // At most LEVELS (6), checked above.
            level_count: U16::new(levels.len() as u16),
            levels: slots,
            reserved2: [0; 16],
        })
    }

    md_common_getters!();

    /// This chunk's index, below [`Self::chunk_count`].
    pub fn chunk_index(&self) -> u16 {
        self.chunk_index.get()
    }

    /// Number of chunks in the snapshot.
    pub fn chunk_count(&self) -> u16 {
        self.chunk_count.get()
    }

    /// Whether this is the snapshot's last chunk.
    pub fn is_last(&self) -> bool {
        self.chunk_index.get().saturating_add(1) >= self.chunk_count.get()
    }

    /// Depth of the first level of this chunk (0 = top of book).
    pub fn first_level(&self) -> u16 {
        self.first_level.get()
    }

    /// The levels this chunk carries (at most [`Self::LEVELS`]).
    pub fn levels(&self) -> &[BookLevel] {
        let n = usize::from(self.level_count.get()).min(Self::LEVELS);
        self.levels.get(..n).unwrap_or_default()
    }
}

impl Record for MdBookSnapshotChunk {
    const TYPE: MessageType = MessageType::MdBookSnapshotChunk;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_reserved(&self.reserved, "reserved")?;
        if self.chunk_index.get() >= self.chunk_count.get() {
            return Err(DecodeError::BadField {
                field: "chunk_index",
            });
        }
        let used = usize::from(self.level_count.get());
        let unused = self.levels.get(used..).ok_or(DecodeError::BadField {
            field: "level_count",
        })?;
        check_reserved(unused.as_bytes(), "levels")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> MdMeta {
        MdMeta {
            instrument: InstrumentId(7),
            feed_seq: SeqNo(42),
            venue_ts: UnixNanos(1_700_000_000_000_000_000),
            recv_ts: Nanos(123_456),
        }
    }

    #[test]
    fn add_order_getters() {
        let r = MdAddOrder::new(
            meta(),
            99,
            Side::Sell,
            Price::from_ticks(1_234_500),
            Qty(300),
        );
        assert_eq!(r.meta(), meta());
        assert_eq!(r.order_ref(), 99);
        assert_eq!(r.side(), Side::Sell);
        assert_eq!(r.price().to_string(), "123.4500");
        assert_eq!(r.qty(), Qty(300));
        assert_eq!(MdAddOrder::decode(r.as_bytes()), Ok(&r));
    }

    #[test]
    fn add_order_bad_side_is_named() {
        let r = MdAddOrder::new(meta(), 1, Side::Buy, Price::ZERO, Qty(1));
        let mut bytes = r.as_bytes().to_vec();
        bytes[12] = b'9';
        assert_eq!(
            MdAddOrder::decode(&bytes),
            Err(DecodeError::BadField { field: "side" })
        );
    }

    #[test]
    fn trade_aggressor_unknown_or_side() {
        let t = MdTrade::new(meta(), 0, None, Price::from_ticks(5), Qty(1));
        assert_eq!(t.aggressor(), None);
        assert_eq!(MdTrade::decode(t.as_bytes()), Ok(&t));
        let mut bytes = t.as_bytes().to_vec();
        bytes[12] = b'x';
        assert_eq!(
            MdTrade::decode(&bytes),
            Err(DecodeError::BadField { field: "aggressor" })
        );
    }

    #[test]
    fn snapshot_chunk_rules() {
        let level = BookLevel::new(Price::from_ticks(10), Qty(1), Price::from_ticks(11), Qty(2));
        assert_eq!(
            MdBookSnapshotChunk::new(meta(), 2, 2, 0, &[level]),
            Err(ChunkError::BadIndex { index: 2, count: 2 })
        );
        assert_eq!(
            MdBookSnapshotChunk::new(meta(), 0, 1, 0, &[level; 7]),
            Err(ChunkError::TooManyLevels { len: 7 })
        );
        let c = MdBookSnapshotChunk::new(meta(), 0, 1, 0, &[level, level])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.levels(), &[level, level]);
        assert!(c.is_last());
        let mut bytes = c.as_bytes().to_vec();
        bytes[46] = 7; // level_count beyond LEVELS
        assert_eq!(
            MdBookSnapshotChunk::decode(&bytes),
            Err(DecodeError::BadField {
                field: "level_count"
            })
        );
        bytes[46] = 1; // a used slot now counts as unused and is non-zero
        assert_eq!(
            MdBookSnapshotChunk::decode(&bytes),
            Err(DecodeError::BadField { field: "levels" })
        );
    }

    #[test]
    fn cancel_delete_flag() {
        let c = MdCancelOrder::new(meta(), 5, Qty(10), Qty::ZERO);
        assert!(c.is_delete());
        assert!(!MdCancelOrder::new(meta(), 5, Qty(1), Qty(9)).is_delete());
    }
}
