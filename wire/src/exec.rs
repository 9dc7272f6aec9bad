//! Execution events, sent by the gateway back to whoever entered the order:
//! [`OrderAccepted`], [`OrderRejected`], [`OrderFilled`], [`OrderCanceled`],
//! [`CancelRejected`], [`OrderReplaced`] (past tense: they report what happened).
//!
//! Every event shares its first 56 bytes:
//!
//! ```text
//!  0        8          12         16              32         40              48          56
//! +--------+----------+----------+---------------+----------+---------------+-----------+---
//! | header | instr.   | account  | cl_ord_id[16] | order_id | transact_time | gateway_ts| ...
//! |   8    | u32 LE   | u32 LE   | ASCII, NUL pad| u64 LE   | u64 LE (Unix) | u64 (mono)|
//! +--------+----------+----------+---------------+----------+---------------+-----------+---
//! ```
//!
//! `order_id` is the gateway/venue order id (0 when none was assigned, as for a rejected
//! new order); `transact_time` is when the event happened at the venue or gateway
//! (FIX TransactTime), `gateway_ts` the gateway's monotonic time when it emitted the event.
//! Events without an original client order id are 64 bytes; those with one are 128.
//!
//! Panic contract: constructors and getters never panic; a record borrowed through
//! [`Record::decode`] has valid enums and client order ids and zero reserved bytes.
//! No order state is kept here, no I/O, no clocks.

use core::fmt;
use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes, Unaligned};

use crate::header::{
    DecodeError, Header, MessageType, Record, check_cl_ord_id, check_reserved, first_bad_byte,
};
use crate::units::{
    AccountId, ClientOrderId, InstrumentId, Nanos, OrderType, Price, Qty, Side, TimeInForce,
    UnixNanos,
};

/// The fields every execution event carries (not a wire struct; see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecMeta {
    /// The instrument.
    pub instrument: InstrumentId,
    /// The account.
    pub account: AccountId,
    /// The client order id of the request this event answers.
    pub cl_ord_id: ClientOrderId,
    /// The gateway/venue order id (0 if none was assigned).
    pub order_id: u64,
    /// When the event happened (FIX TransactTime).
    pub transact_time: UnixNanos,
    /// When the gateway emitted the event (monotonic).
    pub gateway_ts: Nanos,
}

/// Why an order or a cancel/replace was rejected; stable `u16` wire values.
///
/// Values this version does not name decode as [`RejectReason::Other`], so a newer
/// gateway's reasons pass through an older reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// No reason given (0).
    Unspecified,
    /// The instrument is not traded here (1).
    UnknownInstrument,
    /// The account is unknown or not allowed (2).
    UnknownAccount,
    /// The client order id was already used (3).
    DuplicateClOrdId,
    /// The price is invalid for the instrument (4).
    InvalidPrice,
    /// The quantity is zero or not a multiple of the lot (5).
    InvalidQty,
    /// Above the maximum order quantity (6).
    MaxQtyExceeded,
    /// Above the maximum order notional (7).
    MaxNotionalExceeded,
    /// Outside the price collar (8).
    PriceOutsideCollar,
    /// Not enough credit left on the account (9).
    InsufficientCredit,
    /// Message rate limit exceeded (10).
    RateLimited,
    /// The kill switch is engaged (11).
    KillSwitch,
    /// The market is closed (12).
    MarketClosed,
    /// The order to cancel or replace is unknown (13).
    UnknownOrder,
    /// The order to cancel or replace is already done (14).
    TooLateToCancel,
    /// The venue rejected it (15).
    VenueRejected,
    /// The instrument is restricted for this account (16).
    RestrictedInstrument,
    /// The order could take the position past its limit (17).
    PositionLimit,
    /// The account sent its maximum number of orders for the day (18).
    MaxOrdersPerDay,
    /// No reference price to check the order against (19).
    NoReferencePrice,
    /// A post-only order would have crossed the book and taken liquidity (20).
    WouldCross,
    /// A value this version does not name.
    Other(u16),
}

impl RejectReason {
    /// The reason for a wire value (never fails: unnamed values are `Other`).
    pub const fn from_u16(v: u16) -> RejectReason {
        match v {
            0 => RejectReason::Unspecified,
            1 => RejectReason::UnknownInstrument,
            2 => RejectReason::UnknownAccount,
            3 => RejectReason::DuplicateClOrdId,
            4 => RejectReason::InvalidPrice,
            5 => RejectReason::InvalidQty,
            6 => RejectReason::MaxQtyExceeded,
            7 => RejectReason::MaxNotionalExceeded,
            8 => RejectReason::PriceOutsideCollar,
            9 => RejectReason::InsufficientCredit,
            10 => RejectReason::RateLimited,
            11 => RejectReason::KillSwitch,
            12 => RejectReason::MarketClosed,
            13 => RejectReason::UnknownOrder,
            14 => RejectReason::TooLateToCancel,
            15 => RejectReason::VenueRejected,
            16 => RejectReason::RestrictedInstrument,
            17 => RejectReason::PositionLimit,
            18 => RejectReason::MaxOrdersPerDay,
            19 => RejectReason::NoReferencePrice,
            20 => RejectReason::WouldCross,
            other => RejectReason::Other(other),
        }
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            RejectReason::Unspecified => 0,
            RejectReason::UnknownInstrument => 1,
            RejectReason::UnknownAccount => 2,
            RejectReason::DuplicateClOrdId => 3,
            RejectReason::InvalidPrice => 4,
            RejectReason::InvalidQty => 5,
            RejectReason::MaxQtyExceeded => 6,
            RejectReason::MaxNotionalExceeded => 7,
            RejectReason::PriceOutsideCollar => 8,
            RejectReason::InsufficientCredit => 9,
            RejectReason::RateLimited => 10,
            RejectReason::KillSwitch => 11,
            RejectReason::MarketClosed => 12,
            RejectReason::UnknownOrder => 13,
            RejectReason::TooLateToCancel => 14,
            RejectReason::VenueRejected => 15,
            RejectReason::RestrictedInstrument => 16,
            RejectReason::PositionLimit => 17,
            RejectReason::MaxOrdersPerDay => 18,
            RejectReason::NoReferencePrice => 19,
            RejectReason::WouldCross => 20,
            RejectReason::Other(v) => v,
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Other(v) => write!(f, "reject reason {v}"),
            named => fmt::Debug::fmt(named, f),
        }
    }
}

/// Whether a fill completed the order (FIX OrdStatus values).
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
#[repr(u8)]
pub enum FillKind {
    /// Quantity is left (FIX `1`, partially filled).
    Partial = b'1',
    /// Nothing is left (FIX `2`, filled).
    Full = b'2',
}

impl FillKind {
    /// The fill kind for a wire byte, if valid.
    pub const fn from_wire(b: u8) -> Option<FillKind> {
        match b {
            b'1' => Some(FillKind::Partial),
            b'2' => Some(FillKind::Full),
            _ => None,
        }
    }
}

/// Which request a [`CancelRejected`] answers (FIX CxlRejResponseTo, tag 434).
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
#[repr(u8)]
pub enum CxlRejResponseTo {
    /// A [`crate::CancelOrder`] (FIX `1`).
    Cancel = b'1',
    /// A [`crate::ReplaceOrder`] (FIX `2`).
    Replace = b'2',
}

impl CxlRejResponseTo {
    /// The value for a wire byte, if valid.
    pub const fn from_wire(b: u8) -> Option<CxlRejResponseTo> {
        match b {
            b'1' => Some(CxlRejResponseTo::Cancel),
            b'2' => Some(CxlRejResponseTo::Replace),
            _ => None,
        }
    }
}

/// Getters for the shared execution fields (layout in the module doc).
macro_rules! exec_common_getters {
    () => {
        /// The instrument.
        pub fn instrument(&self) -> InstrumentId {
            InstrumentId(self.instrument.get())
        }

        /// The account.
        pub fn account(&self) -> AccountId {
            AccountId(self.account.get())
        }

        /// The client order id of the request this event answers.
        pub fn cl_ord_id(&self) -> ClientOrderId {
            ClientOrderId::from_wire_unchecked(self.cl_ord_id)
        }

        /// The gateway/venue order id (0 if none was assigned).
        pub fn order_id(&self) -> u64 {
            self.order_id.get()
        }

        /// When the event happened (FIX TransactTime).
        pub fn transact_time(&self) -> UnixNanos {
            UnixNanos(self.transact_time.get())
        }

        /// When the gateway emitted the event (monotonic).
        pub fn gateway_ts(&self) -> Nanos {
            Nanos(self.gateway_ts.get())
        }

        /// All shared execution fields.
        pub fn meta(&self) -> ExecMeta {
            ExecMeta {
                instrument: self.instrument(),
                account: self.account(),
                cl_ord_id: self.cl_ord_id(),
                order_id: self.order_id(),
                transact_time: self.transact_time(),
                gateway_ts: self.gateway_ts(),
            }
        }
    };
}

/// Builds a record of type `$name` from an `ExecMeta` and the listed extra fields.
macro_rules! exec_record {
    ($name:ident, $meta:expr, { $($field:ident : $value:expr),* $(,)? }) => {{
        let meta: ExecMeta = $meta;
        $name {
            header: Header::for_record::<$name>(),
            instrument: U32::new(meta.instrument.0),
            account: U32::new(meta.account.0),
            cl_ord_id: meta.cl_ord_id.to_wire(),
            order_id: U64::new(meta.order_id),
            transact_time: U64::new(meta.transact_time.0),
            gateway_ts: U64::new(meta.gateway_ts.0),
            $($field: $value),*
        }
    }};
}

/// The gateway accepted an order and it is working. 64 bytes.
///
/// ```text
/// 0..56 shared fields | 56 side u8 | 57 ord_type u8 | 58 tif u8 | 59 reserved[5] | 64
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
pub struct OrderAccepted {
    header: Header,
    instrument: U32,
    account: U32,
    cl_ord_id: [u8; 16],
    order_id: U64,
    transact_time: U64,
    gateway_ts: U64,
    side: Side,
    ord_type: OrderType,
    tif: TimeInForce,
    reserved: [u8; 5],
}

const _: () = assert!(size_of::<OrderAccepted>() == 64);
const _: () = assert!(offset_of!(OrderAccepted, side) == 56);

impl OrderAccepted {
    /// Order `meta.cl_ord_id` was accepted as `meta.order_id`.
    pub fn new(meta: ExecMeta, side: Side, ord_type: OrderType, tif: TimeInForce) -> Self {
        exec_record!(OrderAccepted, meta, {
            side: side,
            ord_type: ord_type,
            tif: tif,
            reserved: [0; 5],
        })
    }

    exec_common_getters!();

    /// The order's side.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The order's type.
    pub fn ord_type(&self) -> OrderType {
        self.ord_type
    }

    /// The order's time in force.
    pub fn tif(&self) -> TimeInForce {
        self.tif
    }
}

impl Record for OrderAccepted {
    const TYPE: MessageType = MessageType::OrderAccepted;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        check_reserved(&self.reserved, "reserved")
    }

    fn bad_enum_field(bytes: &[u8]) -> Option<&'static str> {
        first_bad_byte(
            bytes,
            &[
                ("side", 56, |b| Side::from_wire(b).is_some()),
                ("ord_type", 57, |b| OrderType::from_wire(b).is_some()),
                ("tif", 58, |b| TimeInForce::from_wire(b).is_some()),
            ],
        )
    }
}

/// A new order was rejected. 64 bytes.
///
/// ```text
/// 0..56 shared fields | 56 reason u16 | 58 reserved[6] | 64
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
pub struct OrderRejected {
    header: Header,
    instrument: U32,
    account: U32,
    cl_ord_id: [u8; 16],
    order_id: U64,
    transact_time: U64,
    gateway_ts: U64,
    reason: U16,
    reserved: [u8; 6],
}

const _: () = assert!(size_of::<OrderRejected>() == 64);
const _: () = assert!(offset_of!(OrderRejected, reason) == 56);

impl OrderRejected {
    /// Order `meta.cl_ord_id` was rejected for `reason`.
    pub fn new(meta: ExecMeta, reason: RejectReason) -> OrderRejected {
        exec_record!(OrderRejected, meta, {
            reason: U16::new(reason.to_u16()),
            reserved: [0; 6],
        })
    }

    exec_common_getters!();

    /// Why.
    pub fn reason(&self) -> RejectReason {
        RejectReason::from_u16(self.reason.get())
    }
}

impl Record for OrderRejected {
    const TYPE: MessageType = MessageType::OrderRejected;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        check_reserved(&self.reserved, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

/// An order (partly) traded. `fill_kind` is `Full` exactly when `leaves_qty` is zero.
/// 128 bytes.
///
/// ```text
/// 0..56 shared fields | 56 side u8 | 57 fill_kind u8 | 58 reserved[6]
/// 64 last_px i64 | 72 last_qty u64 | 80 cum_qty u64 | 88 leaves_qty u64
/// 96 exec_id u64 | 104 reserved[24] | 128
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
pub struct OrderFilled {
    header: Header,
    instrument: U32,
    account: U32,
    cl_ord_id: [u8; 16],
    order_id: U64,
    transact_time: U64,
    gateway_ts: U64,
    side: Side,
    fill_kind: FillKind,
    reserved: [u8; 6],
    last_px: I64,
    last_qty: U64,
    cum_qty: U64,
    leaves_qty: U64,
    exec_id: U64,
    reserved2: [u8; 24],
}

const _: () = assert!(size_of::<OrderFilled>() == 128);
const _: () = assert!(offset_of!(OrderFilled, side) == 56);
const _: () = assert!(offset_of!(OrderFilled, fill_kind) == 57);
const _: () = assert!(offset_of!(OrderFilled, last_px) == 64);

/// The trade reported by an [`OrderFilled`] (not a wire struct).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fill {
    /// The venue's execution (trade) id.
    pub exec_id: u64,
    /// Price of this fill.
    pub last_px: Price,
    /// Quantity of this fill.
    pub last_qty: Qty,
    /// Quantity filled so far, this fill included.
    pub cum_qty: Qty,
    /// Quantity still working; zero means the order is done.
    pub leaves_qty: Qty,
}

impl OrderFilled {
    /// Order `meta.cl_ord_id` traded `fill`; the fill kind follows from `leaves_qty`.
    pub fn new(meta: ExecMeta, side: Side, fill: Fill) -> OrderFilled {
        let fill_kind = if fill.leaves_qty.is_zero() {
            FillKind::Full
        } else {
            FillKind::Partial
        };
        exec_record!(OrderFilled, meta, {
            side: side,
            fill_kind: fill_kind,
            reserved: [0; 6],
            last_px: I64::new(fill.last_px.ticks()),
            last_qty: U64::new(fill.last_qty.0),
            cum_qty: U64::new(fill.cum_qty.0),
            leaves_qty: U64::new(fill.leaves_qty.0),
            exec_id: U64::new(fill.exec_id),
            reserved2: [0; 24],
        })
    }

    exec_common_getters!();

    /// The order's side.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Partial or full.
    pub fn fill_kind(&self) -> FillKind {
        self.fill_kind
    }

    /// The trade.
    pub fn fill(&self) -> Fill {
        Fill {
            exec_id: self.exec_id.get(),
            last_px: Price::from_ticks(self.last_px.get()),
            last_qty: Qty(self.last_qty.get()),
            cum_qty: Qty(self.cum_qty.get()),
            leaves_qty: Qty(self.leaves_qty.get()),
        }
    }
}

impl Record for OrderFilled {
    const TYPE: MessageType = MessageType::OrderFilled;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        check_reserved(&self.reserved, "reserved")?;
        let done = self.leaves_qty.get() == 0;
        if done != (self.fill_kind == FillKind::Full) {
            return Err(DecodeError::BadField { field: "fill_kind" });
        }
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(bytes: &[u8]) -> Option<&'static str> {
        first_bad_byte(
            bytes,
            &[
                ("side", 56, |b| Side::from_wire(b).is_some()),
                ("fill_kind", 57, |b| FillKind::from_wire(b).is_some()),
            ],
        )
    }
}

/// An order left the book without trading its rest. 128 bytes.
///
/// `orig_cl_ord_id` is the canceled order's id when a [`crate::CancelOrder`] (`cl_ord_id`)
/// asked for it, and all-NUL for an unsolicited cancel (IOC remainder, kill switch, venue),
/// where `cl_ord_id` is the order's own id.
///
/// ```text
/// 0..56 shared fields | 56 orig_cl_ord_id [16] | 72 canceled_qty u64 | 80 cum_qty u64
/// 88 reserved[40] | 128
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
pub struct OrderCanceled {
    header: Header,
    instrument: U32,
    account: U32,
    cl_ord_id: [u8; 16],
    order_id: U64,
    transact_time: U64,
    gateway_ts: U64,
    orig_cl_ord_id: [u8; 16],
    canceled_qty: U64,
    cum_qty: U64,
    reserved: [u8; 40],
}

const _: () = assert!(size_of::<OrderCanceled>() == 128);
const _: () = assert!(offset_of!(OrderCanceled, orig_cl_ord_id) == 56);

impl OrderCanceled {
    /// The order was canceled: `canceled_qty` removed, `cum_qty` had traded.
    pub fn new(
        meta: ExecMeta,
        orig_cl_ord_id: Option<ClientOrderId>,
        canceled_qty: Qty,
        cum_qty: Qty,
    ) -> OrderCanceled {
        exec_record!(OrderCanceled, meta, {
            orig_cl_ord_id: orig_cl_ord_id.map_or([0; 16], ClientOrderId::to_wire),
            canceled_qty: U64::new(canceled_qty.0),
            cum_qty: U64::new(cum_qty.0),
            reserved: [0; 40],
        })
    }

    exec_common_getters!();

    /// The canceled order's id when a cancel request asked for it; `None` if unsolicited.
    pub fn orig_cl_ord_id(&self) -> Option<ClientOrderId> {
        (self.orig_cl_ord_id != [0; 16])
            .then(|| ClientOrderId::from_wire_unchecked(self.orig_cl_ord_id))
    }

    /// Quantity that was still working and is now canceled.
    pub fn canceled_qty(&self) -> Qty {
        Qty(self.canceled_qty.get())
    }

    /// Quantity that traded before the cancel.
    pub fn cum_qty(&self) -> Qty {
        Qty(self.cum_qty.get())
    }
}

impl Record for OrderCanceled {
    const TYPE: MessageType = MessageType::OrderCanceled;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        if self.orig_cl_ord_id != [0; 16] {
            check_cl_ord_id(&self.orig_cl_ord_id, "orig_cl_ord_id")?;
        }
        check_reserved(&self.reserved, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

/// A cancel or replace request (`cl_ord_id`) for order `orig_cl_ord_id` was rejected.
/// 128 bytes.
///
/// ```text
/// 0..56 shared fields | 56 orig_cl_ord_id [16] | 72 reason u16 | 74 response_to u8
/// 75 reserved[53] | 128
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
pub struct CancelRejected {
    header: Header,
    instrument: U32,
    account: U32,
    cl_ord_id: [u8; 16],
    order_id: U64,
    transact_time: U64,
    gateway_ts: U64,
    orig_cl_ord_id: [u8; 16],
    reason: U16,
    response_to: CxlRejResponseTo,
    reserved: [u8; 53],
}

const _: () = assert!(size_of::<CancelRejected>() == 128);
const _: () = assert!(offset_of!(CancelRejected, response_to) == 74);

impl CancelRejected {
    /// Request `meta.cl_ord_id` about order `orig_cl_ord_id` was rejected for `reason`.
    pub fn new(
        meta: ExecMeta,
        orig_cl_ord_id: ClientOrderId,
        response_to: CxlRejResponseTo,
        reason: RejectReason,
    ) -> CancelRejected {
        exec_record!(CancelRejected, meta, {
            orig_cl_ord_id: orig_cl_ord_id.to_wire(),
            reason: U16::new(reason.to_u16()),
            response_to: response_to,
            reserved: [0; 53],
        })
    }

    exec_common_getters!();

    /// The order the request was about.
    pub fn orig_cl_ord_id(&self) -> ClientOrderId {
        ClientOrderId::from_wire_unchecked(self.orig_cl_ord_id)
    }

    /// Why.
    pub fn reason(&self) -> RejectReason {
        RejectReason::from_u16(self.reason.get())
    }

    /// Whether a cancel or a replace was rejected.
    pub fn response_to(&self) -> CxlRejResponseTo {
        self.response_to
    }
}

impl Record for CancelRejected {
    const TYPE: MessageType = MessageType::CancelRejected;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        check_cl_ord_id(&self.orig_cl_ord_id, "orig_cl_ord_id")?;
        check_reserved(&self.reserved, "reserved")
    }

    fn bad_enum_field(bytes: &[u8]) -> Option<&'static str> {
        first_bad_byte(
            bytes,
            &[("response_to", 74, |b| {
                CxlRejResponseTo::from_wire(b).is_some()
            })],
        )
    }
}

/// Order `orig_cl_ord_id` was replaced; it is now `cl_ord_id` with the new price and
/// quantity. 128 bytes.
///
/// ```text
/// 0..56 shared fields | 56 orig_cl_ord_id [16] | 72 price i64 | 80 qty u64
/// 88 leaves_qty u64 | 96 cum_qty u64 | 104 reserved[24] | 128
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
pub struct OrderReplaced {
    header: Header,
    instrument: U32,
    account: U32,
    cl_ord_id: [u8; 16],
    order_id: U64,
    transact_time: U64,
    gateway_ts: U64,
    orig_cl_ord_id: [u8; 16],
    price: I64,
    qty: U64,
    leaves_qty: U64,
    cum_qty: U64,
    reserved: [u8; 24],
}

const _: () = assert!(size_of::<OrderReplaced>() == 128);
const _: () = assert!(offset_of!(OrderReplaced, price) == 72);

/// The quantities of an order after a replace (not a wire struct).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Replaced {
    /// The new limit price (zero for a market order).
    pub price: Price,
    /// The new total order quantity.
    pub qty: Qty,
    /// Quantity still working after the replace.
    pub leaves_qty: Qty,
    /// Quantity filled so far.
    pub cum_qty: Qty,
}

impl OrderReplaced {
    /// Order `orig_cl_ord_id` is now `meta.cl_ord_id` with `replaced`.
    pub fn new(meta: ExecMeta, orig_cl_ord_id: ClientOrderId, replaced: Replaced) -> Self {
        exec_record!(OrderReplaced, meta, {
            orig_cl_ord_id: orig_cl_ord_id.to_wire(),
            price: I64::new(replaced.price.ticks()),
            qty: U64::new(replaced.qty.0),
            leaves_qty: U64::new(replaced.leaves_qty.0),
            cum_qty: U64::new(replaced.cum_qty.0),
            reserved: [0; 24],
        })
    }

    exec_common_getters!();

    /// The order's previous client order id.
    pub fn orig_cl_ord_id(&self) -> ClientOrderId {
        ClientOrderId::from_wire_unchecked(self.orig_cl_ord_id)
    }

    /// The order after the replace.
    pub fn replaced(&self) -> Replaced {
        Replaced {
            price: Price::from_ticks(self.price.get()),
            qty: Qty(self.qty.get()),
            leaves_qty: Qty(self.leaves_qty.get()),
            cum_qty: Qty(self.cum_qty.get()),
        }
    }
}

impl Record for OrderReplaced {
    const TYPE: MessageType = MessageType::OrderReplaced;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        check_cl_ord_id(&self.orig_cl_ord_id, "orig_cl_ord_id")?;
        check_reserved(&self.reserved, "reserved")
    }

    fn bad_enum_field(_bytes: &[u8]) -> Option<&'static str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ExecMeta {
        ExecMeta {
            instrument: InstrumentId(3),
            account: AccountId(9),
            cl_ord_id: ClientOrderId::new("A1").unwrap_or_else(|e| panic!("{e}")),
            order_id: 77,
            transact_time: UnixNanos(1_000),
            gateway_ts: Nanos(2_000),
        }
    }

    #[test]
    fn reject_reason_values_are_stable() {
        for v in 0..=u16::MAX {
            assert_eq!(RejectReason::from_u16(v).to_u16(), v);
        }
        assert_eq!(RejectReason::from_u16(3), RejectReason::DuplicateClOrdId);
        assert_eq!(RejectReason::from_u16(999), RejectReason::Other(999));
        assert_eq!(RejectReason::Other(999).to_string(), "reject reason 999");
        assert_eq!(RejectReason::KillSwitch.to_string(), "KillSwitch");
    }

    #[test]
    fn fill_kind_follows_leaves() {
        let fill = Fill {
            exec_id: 1,
            last_px: Price::from_ticks(10),
            last_qty: Qty(5),
            cum_qty: Qty(5),
            leaves_qty: Qty(0),
        };
        let full = OrderFilled::new(meta(), Side::Buy, fill);
        assert_eq!(full.fill_kind(), FillKind::Full);
        assert_eq!(full.fill(), fill);
        let partial = OrderFilled::new(
            meta(),
            Side::Buy,
            Fill {
                leaves_qty: Qty(1),
                ..fill
            },
        );
        assert_eq!(partial.fill_kind(), FillKind::Partial);
        let mut bytes = full.as_bytes().to_vec();
        bytes[57] = FillKind::Partial as u8;
        assert_eq!(
            OrderFilled::decode(&bytes),
            Err(DecodeError::BadField { field: "fill_kind" })
        );
        bytes[57] = 0;
        assert_eq!(
            OrderFilled::decode(&bytes),
            Err(DecodeError::BadField { field: "fill_kind" })
        );
    }

    #[test]
    fn unsolicited_cancel_has_no_orig_id() {
        let c = OrderCanceled::new(meta(), None, Qty(10), Qty(0));
        assert_eq!(c.orig_cl_ord_id(), None);
        assert_eq!(OrderCanceled::decode(c.as_bytes()), Ok(&c));
        let asked = OrderCanceled::new(meta(), Some(meta().cl_ord_id), Qty(10), Qty(0));
        assert_eq!(asked.orig_cl_ord_id(), Some(meta().cl_ord_id));
    }

    #[test]
    fn cancel_rejected_bad_response_to() {
        let r = CancelRejected::new(
            meta(),
            meta().cl_ord_id,
            CxlRejResponseTo::Replace,
            RejectReason::TooLateToCancel,
        );
        assert_eq!(r.reason(), RejectReason::TooLateToCancel);
        let mut bytes = r.as_bytes().to_vec();
        bytes[74] = b'3';
        assert_eq!(
            CancelRejected::decode(&bytes),
            Err(DecodeError::BadField {
                field: "response_to"
            })
        );
    }
}
