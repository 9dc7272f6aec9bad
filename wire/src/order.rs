//! Order entry commands: [`NewOrder`], [`CancelOrder`], [`ReplaceOrder`], sent by
//! strategies and FIX/RDMA clients to the gateway. All are 128 bytes (two cache lines).
//!
//! Every command carries the tick that caused it, at the same offset in all three:
//!
//! ```text
//! 56         64         72         80         88
//! +----------+----------+----------+----------+
//! | feed_seq | venue_ts | recv_ts  | send_ts  |   TickCause, 32 bytes
//! +----------+----------+----------+----------+
//! ```
//!
//! `feed_seq`, `venue_ts` and `recv_ts` are copied from the market data record that
//! caused the order; `send_ts` is the strategy's monotonic send time. All four are 0 for an
//! order not caused by a tick (a FIX client's order). Tick-to-trade per order is
//! `send_ts - recv_ts` (same host clock).
//!
//! Panic contract: constructors and getters never panic; a record borrowed through
//! [`Record::decode`] has valid enums, well-formed client order ids and zero reserved
//! bytes. The wire layer does not judge orders (that is risk's job) beyond one canonical
//! rule: a market order's price is zero. No I/O, no clocks.

use core::mem::{offset_of, size_of};

use zerocopy::little_endian::{I64, U32, U64};
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes, Unaligned};

use crate::header::{
    DecodeError, EnumField, Header, MessageType, Record, check_cl_ord_id, check_reserved,
    first_bad_byte,
};
use crate::units::{
    AccountId, ClientOrderId, InstrumentId, Nanos, OrderType, Price, Qty, SeqNo, Side, TimeInForce,
    UnixNanos,
};

/// The tick that caused an order, and when the strategy sent it (not a wire struct).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TickCause {
    /// Feed sequence number of the causing tick ([`SeqNo::NONE`] if none).
    pub feed_seq: SeqNo,
    /// The causing tick's venue timestamp.
    pub venue_ts: UnixNanos,
    /// When the feed handler received the causing tick (monotonic).
    pub recv_ts: Nanos,
    /// When the strategy sent the order (monotonic).
    pub send_ts: Nanos,
}

impl TickCause {
    /// "Not caused by a tick": all zero.
    pub const NONE: TickCause = TickCause {
        feed_seq: SeqNo::NONE,
        venue_ts: UnixNanos::ZERO,
        recv_ts: Nanos::ZERO,
        send_ts: Nanos::ZERO,
    };
}

/// What an order asks for (not a wire struct): the fields [`NewOrder`] and
/// [`ReplaceOrder`] share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderSpec {
    /// The instrument.
    pub instrument: InstrumentId,
    /// The account the order trades for.
    pub account: AccountId,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market.
    pub ord_type: OrderType,
    /// How long the order rests.
    pub tif: TimeInForce,
    /// Limit price; ignored (encoded as zero) for market orders.
    pub price: Price,
    /// Order quantity.
    pub qty: Qty,
}

/// Getters for the [`TickCause`] fields at offsets 56..88.
macro_rules! tick_cause_getters {
    () => {
        /// The causing tick and the strategy's send time (all zero if none).
        pub fn cause(&self) -> TickCause {
            TickCause {
                feed_seq: SeqNo(self.tick_feed_seq.get()),
                venue_ts: UnixNanos(self.tick_venue_ts.get()),
                recv_ts: Nanos(self.tick_recv_ts.get()),
                send_ts: Nanos(self.send_ts.get()),
            }
        }
    };
}

/// Getters for the [`OrderSpec`] fields.
macro_rules! spec_getters {
    () => {
        /// The instrument.
        pub fn instrument(&self) -> InstrumentId {
            InstrumentId(self.instrument.get())
        }

        /// The account.
        pub fn account(&self) -> AccountId {
            AccountId(self.account.get())
        }

        /// Buy or sell.
        pub fn side(&self) -> Side {
            self.side
        }

        /// Limit or market.
        pub fn ord_type(&self) -> OrderType {
            self.ord_type
        }

        /// Time in force.
        pub fn tif(&self) -> TimeInForce {
            self.tif
        }

        /// Limit price (zero for market orders).
        pub fn price(&self) -> Price {
            Price::from_ticks(self.price.get())
        }

        /// Order quantity.
        pub fn qty(&self) -> Qty {
            Qty(self.qty.get())
        }

        /// All order parameters.
        pub fn spec(&self) -> OrderSpec {
            OrderSpec {
                instrument: self.instrument(),
                account: self.account(),
                side: self.side,
                ord_type: self.ord_type,
                tif: self.tif,
                price: self.price(),
                qty: self.qty(),
            }
        }
    };
}

/// The price as encoded: zero for market orders.
fn wire_price(spec: &OrderSpec) -> I64 {
    match spec.ord_type {
        OrderType::Market => I64::ZERO,
        OrderType::Limit => I64::new(spec.price.ticks()),
    }
}

/// `Err(BadField("price"))` for a market order with a non-zero price.
fn check_market_price(ord_type: OrderType, price: I64) -> Result<(), DecodeError> {
    if ord_type == OrderType::Market && price.get() != 0 {
        return Err(DecodeError::BadField { field: "price" });
    }
    Ok(())
}

/// Is-valid tests for the enum bytes at offsets 16..19 of `NewOrder` and `ReplaceOrder`.
const SPEC_ENUM_FIELDS: [EnumField; 3] = [
    ("side", 16, |b| Side::from_wire(b).is_some()),
    ("ord_type", 17, |b| OrderType::from_wire(b).is_some()),
    ("tif", 18, |b| TimeInForce::from_wire(b).is_some()),
];

/// A new order. 128 bytes.
///
/// ```text
/// 0 header | 8 instrument u32 | 12 account u32 | 16 side u8 | 17 ord_type u8 | 18 tif u8
/// 19 exec_inst u8 | 20 reserved[4] | 24 price i64 | 32 qty u64 | 40 cl_ord_id [16]
/// 56 tick_feed_seq | 64 tick_venue_ts | 72 tick_recv_ts | 80 send_ts | 88 reserved[40] | 128
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
pub struct NewOrder {
    header: Header,
    instrument: U32,
    account: U32,
    side: Side,
    ord_type: OrderType,
    tif: TimeInForce,
    exec_inst: u8,
    reserved: [u8; 4],
    price: I64,
    qty: U64,
    cl_ord_id: [u8; 16],
    tick_feed_seq: U64,
    tick_venue_ts: U64,
    tick_recv_ts: U64,
    send_ts: U64,
    reserved2: [u8; 40],
}

const _: () = assert!(size_of::<NewOrder>() == 128);
const _: () = assert!(offset_of!(NewOrder, exec_inst) == 19);
const _: () = assert!(offset_of!(NewOrder, side) == 16);
const _: () = assert!(offset_of!(NewOrder, ord_type) == 17);
const _: () = assert!(offset_of!(NewOrder, tif) == 18);
const _: () = assert!(offset_of!(NewOrder, tick_feed_seq) == 56);

impl NewOrder {
    /// A new order `cl_ord_id` for `spec`, caused by `cause`.
    pub fn new(cl_ord_id: ClientOrderId, spec: &OrderSpec, cause: TickCause) -> NewOrder {
        NewOrder {
            header: Header::for_record::<Self>(),
            instrument: U32::new(spec.instrument.0),
            account: U32::new(spec.account.0),
            side: spec.side,
            ord_type: spec.ord_type,
            tif: spec.tif,
            exec_inst: 0,
            reserved: [0; 4],
            price: wire_price(spec),
            qty: U64::new(spec.qty.0),
            cl_ord_id: cl_ord_id.to_wire(),
            tick_feed_seq: U64::new(cause.feed_seq.0),
            tick_venue_ts: U64::new(cause.venue_ts.0),
            tick_recv_ts: U64::new(cause.recv_ts.0),
            send_ts: U64::new(cause.send_ts.0),
            reserved2: [0; 40],
        }
    }

    /// This order with post-only (FIX ExecInst 6, "participate don't initiate") set or
    /// cleared: it may only add liquidity, and is rejected if it would cross the book.
    pub fn with_post_only(mut self, post_only: bool) -> NewOrder {
        self.exec_inst = if post_only {
            self.exec_inst | Self::POST_ONLY
        } else {
            self.exec_inst & !Self::POST_ONLY
        };
        self
    }

    /// Whether the order is post-only.
    pub fn post_only(&self) -> bool {
        self.exec_inst & Self::POST_ONLY != 0
    }

    /// The `exec_inst` bit for post-only; the other bits are reserved (zero).
    pub const POST_ONLY: u8 = 1;

    spec_getters!();
    tick_cause_getters!();

    /// The client order id.
    pub fn cl_ord_id(&self) -> ClientOrderId {
        ClientOrderId::from_wire_unchecked(self.cl_ord_id)
    }
}

impl Record for NewOrder {
    const TYPE: MessageType = MessageType::NewOrder;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_reserved(&[self.exec_inst & !Self::POST_ONLY], "exec_inst")?;
        check_reserved(&self.reserved, "reserved")?;
        check_market_price(self.ord_type, self.price)?;
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(bytes: &[u8]) -> Option<&'static str> {
        first_bad_byte(bytes, &SPEC_ENUM_FIELDS)
    }
}

/// Cancel the rest of order `orig_cl_ord_id`; this request is `cl_ord_id`. 128 bytes.
///
/// ```text
/// 0 header | 8 instrument u32 | 12 account u32 | 16 side u8 | 17 reserved[7]
/// 24 cl_ord_id [16] | 40 orig_cl_ord_id [16]
/// 56 tick_feed_seq | 64 tick_venue_ts | 72 tick_recv_ts | 80 send_ts | 88 reserved[40] | 128
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
pub struct CancelOrder {
    header: Header,
    instrument: U32,
    account: U32,
    side: Side,
    reserved: [u8; 7],
    cl_ord_id: [u8; 16],
    orig_cl_ord_id: [u8; 16],
    tick_feed_seq: U64,
    tick_venue_ts: U64,
    tick_recv_ts: U64,
    send_ts: U64,
    reserved2: [u8; 40],
}

const _: () = assert!(size_of::<CancelOrder>() == 128);
const _: () = assert!(offset_of!(CancelOrder, side) == 16);
const _: () = assert!(offset_of!(CancelOrder, tick_feed_seq) == 56);

impl CancelOrder {
    /// Request `cl_ord_id` to cancel order `orig_cl_ord_id`.
    pub fn new(
        cl_ord_id: ClientOrderId,
        orig_cl_ord_id: ClientOrderId,
        instrument: InstrumentId,
        account: AccountId,
        side: Side,
        cause: TickCause,
    ) -> CancelOrder {
        CancelOrder {
            header: Header::for_record::<Self>(),
            instrument: U32::new(instrument.0),
            account: U32::new(account.0),
            side,
            reserved: [0; 7],
            cl_ord_id: cl_ord_id.to_wire(),
            orig_cl_ord_id: orig_cl_ord_id.to_wire(),
            tick_feed_seq: U64::new(cause.feed_seq.0),
            tick_venue_ts: U64::new(cause.venue_ts.0),
            tick_recv_ts: U64::new(cause.recv_ts.0),
            send_ts: U64::new(cause.send_ts.0),
            reserved2: [0; 40],
        }
    }

    tick_cause_getters!();

    /// The instrument.
    pub fn instrument(&self) -> InstrumentId {
        InstrumentId(self.instrument.get())
    }

    /// The account.
    pub fn account(&self) -> AccountId {
        AccountId(self.account.get())
    }

    /// The side of the order to cancel.
    pub fn side(&self) -> Side {
        self.side
    }

    /// This request's client order id.
    pub fn cl_ord_id(&self) -> ClientOrderId {
        ClientOrderId::from_wire_unchecked(self.cl_ord_id)
    }

    /// The client order id of the order to cancel.
    pub fn orig_cl_ord_id(&self) -> ClientOrderId {
        ClientOrderId::from_wire_unchecked(self.orig_cl_ord_id)
    }
}

impl Record for CancelOrder {
    const TYPE: MessageType = MessageType::CancelOrder;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_reserved(&self.reserved, "reserved")?;
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        check_cl_ord_id(&self.orig_cl_ord_id, "orig_cl_ord_id")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(bytes: &[u8]) -> Option<&'static str> {
        first_bad_byte(bytes, &SPEC_ENUM_FIELDS[..1])
    }
}

/// Replace order `orig_cl_ord_id` by `spec`; the replaced order is `cl_ord_id`. 128 bytes.
///
/// ```text
/// 0 header | 8 instrument u32 | 12 account u32 | 16 side u8 | 17 ord_type u8 | 18 tif u8
/// 19 reserved[5] | 24 price i64 | 32 qty u64 | 40 cl_ord_id [16]
/// 56 tick_feed_seq | 64 tick_venue_ts | 72 tick_recv_ts | 80 send_ts
/// 88 orig_cl_ord_id [16] | 104 reserved[24] | 128
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
pub struct ReplaceOrder {
    header: Header,
    instrument: U32,
    account: U32,
    side: Side,
    ord_type: OrderType,
    tif: TimeInForce,
    reserved: [u8; 5],
    price: I64,
    qty: U64,
    cl_ord_id: [u8; 16],
    tick_feed_seq: U64,
    tick_venue_ts: U64,
    tick_recv_ts: U64,
    send_ts: U64,
    orig_cl_ord_id: [u8; 16],
    reserved2: [u8; 24],
}

const _: () = assert!(size_of::<ReplaceOrder>() == 128);
const _: () = assert!(offset_of!(ReplaceOrder, side) == 16);
const _: () = assert!(offset_of!(ReplaceOrder, ord_type) == 17);
const _: () = assert!(offset_of!(ReplaceOrder, tif) == 18);
const _: () = assert!(offset_of!(ReplaceOrder, tick_feed_seq) == 56);

impl ReplaceOrder {
    /// Request `cl_ord_id` to replace order `orig_cl_ord_id` by `spec`.
    pub fn new(
        cl_ord_id: ClientOrderId,
        orig_cl_ord_id: ClientOrderId,
        spec: &OrderSpec,
        cause: TickCause,
    ) -> ReplaceOrder {
        ReplaceOrder {
            header: Header::for_record::<Self>(),
            instrument: U32::new(spec.instrument.0),
            account: U32::new(spec.account.0),
            side: spec.side,
            ord_type: spec.ord_type,
            tif: spec.tif,
            reserved: [0; 5],
            price: wire_price(spec),
            qty: U64::new(spec.qty.0),
            cl_ord_id: cl_ord_id.to_wire(),
            tick_feed_seq: U64::new(cause.feed_seq.0),
            tick_venue_ts: U64::new(cause.venue_ts.0),
            tick_recv_ts: U64::new(cause.recv_ts.0),
            send_ts: U64::new(cause.send_ts.0),
            orig_cl_ord_id: orig_cl_ord_id.to_wire(),
            reserved2: [0; 24],
        }
    }

    spec_getters!();
    tick_cause_getters!();

    /// This request's client order id (the order's id once replaced).
    pub fn cl_ord_id(&self) -> ClientOrderId {
        ClientOrderId::from_wire_unchecked(self.cl_ord_id)
    }

    /// The client order id of the order to replace.
    pub fn orig_cl_ord_id(&self) -> ClientOrderId {
        ClientOrderId::from_wire_unchecked(self.orig_cl_ord_id)
    }
}

impl Record for ReplaceOrder {
    const TYPE: MessageType = MessageType::ReplaceOrder;

    fn header(&self) -> &Header {
        &self.header
    }

    fn check(&self) -> Result<(), DecodeError> {
        check_reserved(&self.reserved, "reserved")?;
        check_market_price(self.ord_type, self.price)?;
        check_cl_ord_id(&self.cl_ord_id, "cl_ord_id")?;
        check_cl_ord_id(&self.orig_cl_ord_id, "orig_cl_ord_id")?;
        check_reserved(&self.reserved2, "reserved")
    }

    fn bad_enum_field(bytes: &[u8]) -> Option<&'static str> {
        first_bad_byte(bytes, &SPEC_ENUM_FIELDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ClientOrderId {
        ClientOrderId::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn spec(ord_type: OrderType) -> OrderSpec {
        OrderSpec {
            instrument: InstrumentId(3),
            account: AccountId(9),
            side: Side::Buy,
            ord_type,
            tif: TimeInForce::Ioc,
            price: Price::from_ticks(1_000_500),
            qty: Qty(100),
        }
    }

    #[test]
    fn market_order_price_is_zero() {
        let o = NewOrder::new(id("A1"), &spec(OrderType::Market), TickCause::NONE);
        assert_eq!(o.price(), Price::ZERO);
        let mut bytes = o.as_bytes().to_vec();
        bytes[24] = 1;
        assert_eq!(
            NewOrder::decode(&bytes),
            Err(DecodeError::BadField { field: "price" })
        );
    }

    #[test]
    fn post_only_travels_in_exec_inst_and_other_bits_are_refused() {
        let o = NewOrder::new(id("P1"), &spec(OrderType::Limit), TickCause::NONE);
        assert!(!o.post_only());
        let p = o.with_post_only(true);
        assert!(p.post_only());
        assert!(!p.with_post_only(false).post_only());
        let mut bytes = p.as_bytes().to_vec();
        assert_eq!(bytes[19], NewOrder::POST_ONLY);
        assert!(NewOrder::decode(&bytes).is_ok_and(|d| d.post_only()));
        bytes[19] = 2;
        assert_eq!(
            NewOrder::decode(&bytes),
            Err(DecodeError::BadField { field: "exec_inst" })
        );
    }

    #[test]
    fn new_order_getters_and_bad_fields() {
        let cause = TickCause {
            feed_seq: SeqNo(5),
            venue_ts: UnixNanos(6),
            recv_ts: Nanos(7),
            send_ts: Nanos(8),
        };
        let o = NewOrder::new(id("A1"), &spec(OrderType::Limit), cause);
        assert_eq!(o.spec(), spec(OrderType::Limit));
        assert_eq!(o.cause(), cause);
        assert_eq!(o.cl_ord_id().as_str(), "A1");
        for (offset, field) in [(16, "side"), (17, "ord_type"), (18, "tif")] {
            let mut bytes = o.as_bytes().to_vec();
            bytes[offset] = 0;
            assert_eq!(
                NewOrder::decode(&bytes),
                Err(DecodeError::BadField { field })
            );
        }
        let mut bytes = o.as_bytes().to_vec();
        bytes[40] = b' ';
        assert_eq!(
            NewOrder::decode(&bytes),
            Err(DecodeError::BadField { field: "cl_ord_id" })
        );
    }

    #[test]
    fn cancel_and_replace_carry_orig_id() {
        let c = CancelOrder::new(
            id("C2"),
            id("A1"),
            InstrumentId(3),
            AccountId(9),
            Side::Sell,
            TickCause::NONE,
        );
        assert_eq!(CancelOrder::decode(c.as_bytes()), Ok(&c));
        assert_eq!(c.orig_cl_ord_id().as_str(), "A1");
        let r = ReplaceOrder::new(id("R3"), id("A1"), &spec(OrderType::Limit), TickCause::NONE);
        assert_eq!(ReplaceOrder::decode(r.as_bytes()), Ok(&r));
        assert_eq!(r.orig_cl_ord_id().as_str(), "A1");
        let mut bytes = r.as_bytes().to_vec();
        bytes[88] = 0;
        assert_eq!(
            ReplaceOrder::decode(&bytes),
            Err(DecodeError::BadField {
                field: "orig_cl_ord_id"
            })
        );
    }
}
