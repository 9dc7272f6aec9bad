//! Units and identifiers shared by every record: prices, quantities, sequence numbers, ids,
//! and the small order enums (`Side`, `OrderType`, `TimeInForce`).
//!
//! Plain value newtypes; the byte layout of records stores them little-endian. The enums
//! are `#[repr(u8)]` with stable wire values (the FIX 4.4 character codes), so records can
//! hold them directly and a zero-copy cast rejects any other byte. Panic contract: no
//! function here panics on any input; parsers return small `Copy` errors. This module has
//! no I/O, reads no clock and makes no trading decision.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zerocopy::{Immutable, IntoBytes, KnownLayout, TryFromBytes, Unaligned};

pub use tickwarp_runtime::{Nanos, UnixNanos};

/// A sequence number (feed sequence, journal sequence, message sequence). 0 means "none".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// "No sequence number" (for example an order not caused by a tick).
    pub const NONE: SeqNo = SeqNo(0);

    /// The raw value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next sequence number.
    pub const fn next(self) -> SeqNo {
        SeqNo(self.0.wrapping_add(1))
    }
}

/// A fixed-point price: an `i64` count of 1/10,000ths of the quote currency unit.
///
/// `Price::from_ticks(1_234_500)` is `123.4500`. Negative prices are allowed (spreads,
/// some futures). Text form: an optional `-`, digits, and optionally `.` followed by one
/// to four digits; [`Display`](fmt::Display) always prints four decimals. With serde it is
/// that text form (a string, never a float).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);

/// Why a price string was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceParseError {
    /// The string was empty (or only a sign).
    #[error("empty price")]
    Empty,
    /// A byte that is not a digit, or a misplaced sign or point, at this byte offset.
    #[error("invalid character at byte {pos}")]
    InvalidChar {
        /// Byte offset of the offending character.
        pos: usize,
    },
    /// A point with no digits before or after it.
    #[error("missing digits around the decimal point")]
    MissingDigits,
    /// More than four decimal places.
    #[error("more than 4 decimal places")]
    TooManyDecimals,
    /// The value does not fit an `i64` count of 1/10,000ths.
    #[error("price out of range")]
    OutOfRange,
}

impl Price {
    /// Ticks per whole unit: four decimal places.
    pub const SCALE: i64 = 10_000;
    /// Number of decimal places in the text form.
    pub const DECIMALS: usize = 4;
    /// Zero.
    pub const ZERO: Price = Price(0);
    /// The largest representable price.
    pub const MAX: Price = Price(i64::MAX);
    /// The smallest representable price.
    pub const MIN: Price = Price(i64::MIN);

    /// A price from its raw count of 1/10,000ths.
    pub const fn from_ticks(ticks: i64) -> Price {
        Price(ticks)
    }

    /// The raw count of 1/10,000ths.
    pub const fn ticks(self) -> i64 {
        self.0
    }

    /// A whole-unit price (`from_units(12)` is `12.0000`), or `None` on overflow.
    pub const fn from_units(units: i64) -> Option<Price> {
        match units.checked_mul(Self::SCALE) {
            Some(t) => Some(Price(t)),
            None => None,
        }
    }

    /// `self + rhs`, or `None` on overflow.
    pub const fn checked_add(self, rhs: Price) -> Option<Price> {
        match self.0.checked_add(rhs.0) {
            Some(t) => Some(Price(t)),
            None => None,
        }
    }

    /// `self - rhs`, or `None` on overflow.
    pub const fn checked_sub(self, rhs: Price) -> Option<Price> {
        match self.0.checked_sub(rhs.0) {
            Some(t) => Some(Price(t)),
            None => None,
        }
    }

    /// `self * n` (for example a tick size times a number of ticks), or `None` on overflow.
    pub const fn checked_mul(self, n: i64) -> Option<Price> {
        match self.0.checked_mul(n) {
            Some(t) => Some(Price(t)),
            None => None,
        }
    }

    /// `-self`, or `None` for [`Price::MIN`].
    pub const fn checked_neg(self) -> Option<Price> {
        match self.0.checked_neg() {
            Some(t) => Some(Price(t)),
            None => None,
        }
    }

    /// Price times quantity in 1/10,000ths of the currency unit; exact, cannot overflow.
    pub const fn notional_ticks(self, qty: Qty) -> i128 {
        self.0 as i128 * qty.0 as i128
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let scale = Self::SCALE.unsigned_abs();
        write!(f, "{sign}{}.{:04}", abs / scale, abs % scale)
    }
}

impl FromStr for Price {
    type Err = PriceParseError;

    fn from_str(s: &str) -> Result<Price, PriceParseError> {
        let bytes = s.as_bytes();
        let (negative, start) = match bytes.first() {
            None => return Err(PriceParseError::Empty),
            Some(b'-') => (true, 1),
            Some(_) => (false, 0),
        };
        let body = bytes.get(start..).unwrap_or_default();
        if body.is_empty() {
            return Err(PriceParseError::Empty);
        }
        // Magnitude in ticks; i64::MIN's magnitude is one more than i64::MAX, so work in
        // i128 and stop as soon as it exceeds that.
        let limit = i128::from(i64::MAX) + 1;
        let mut magnitude: i128 = 0;
        let mut int_digits = 0usize;
        let mut frac_digits = 0usize;
        let mut seen_point = false;
        for (i, &b) in body.iter().enumerate() {
            match b {
                b'0'..=b'9' => {
                    if seen_point {
                        frac_digits += 1;
                        if frac_digits > Self::DECIMALS {
                            return Err(PriceParseError::TooManyDecimals);
                        }
                    } else {
                        int_digits += 1;
                    }
                    magnitude = magnitude * 10 + i128::from(b - b'0');
                    if magnitude > limit {
                        return Err(PriceParseError::OutOfRange);
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => return Err(PriceParseError::InvalidChar { pos: start + i }),
            }
        }
        if int_digits == 0 || (seen_point && frac_digits == 0) {
            return Err(PriceParseError::MissingDigits);
        }
        for _ in frac_digits..Self::DECIMALS {
            magnitude *= 10;
            if magnitude > limit {
                return Err(PriceParseError::OutOfRange);
            }
        }
        let signed = if negative { -magnitude } else { magnitude };
        i64::try_from(signed)
            .map(Price)
            .map_err(|_| PriceParseError::OutOfRange)
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Price, D::Error> {
        struct PriceVisitor;
        impl serde::de::Visitor<'_> for PriceVisitor {
            type Value = Price;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal price string with at most 4 decimals, like \"123.4500\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Price, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(PriceVisitor)
    }
}

/// A quantity (shares, contracts, lots), unsigned.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Qty(pub u64);

impl Qty {
    /// Zero.
    pub const ZERO: Qty = Qty(0);

    /// The raw value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + rhs`, or `None` on overflow.
    pub const fn checked_add(self, rhs: Qty) -> Option<Qty> {
        match self.0.checked_add(rhs.0) {
            Some(q) => Some(Qty(q)),
            None => None,
        }
    }

    /// `self - rhs`, or `None` when `rhs` is larger.
    pub const fn checked_sub(self, rhs: Qty) -> Option<Qty> {
        match self.0.checked_sub(rhs.0) {
            Some(q) => Some(Qty(q)),
            None => None,
        }
    }

    /// `self - rhs`, or zero when `rhs` is larger.
    pub const fn saturating_sub(self, rhs: Qty) -> Qty {
        Qty(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// An instrument identifier, assigned by the instrument table. 0 means "none / feed-wide".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct InstrumentId(pub u32);

impl InstrumentId {
    /// "No instrument": feed-wide records such as heartbeats.
    pub const NONE: InstrumentId = InstrumentId(0);

    /// The raw value.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A trading account identifier (risk and credit are kept per account).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct AccountId(pub u32);

impl AccountId {
    /// The raw value.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A client order id (FIX ClOrdID, tag 11): 1 to 16 graphic ASCII bytes (`!` to `~`).
///
/// Stored in records as 16 bytes, the id followed by NUL padding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientOrderId([u8; ClientOrderId::LEN]);

/// Why a client order id was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientOrderIdError {
    /// The id was empty.
    #[error("empty client order id")]
    Empty,
    /// The id was longer than [`ClientOrderId::LEN`] bytes.
    #[error("client order id of {len} bytes, at most 16 allowed")]
    TooLong {
        /// Length of the rejected id.
        len: usize,
    },
    /// A byte outside graphic ASCII (`!` to `~`).
    #[error("invalid byte {byte:#04x} at offset {pos} in client order id")]
    BadChar {
        /// Offset of the byte.
        pos: usize,
        /// The byte.
        byte: u8,
    },
    /// The wire form had a non-NUL byte after the NUL padding started.
    #[error("client order id padding is not all NUL")]
    BadPadding,
}

impl ClientOrderId {
    /// Size of the wire form in bytes (and maximum id length).
    pub const LEN: usize = 16;

    /// A validated id from text.
    pub fn new(id: &str) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::from_bytes(id.as_bytes())
    }

    /// A validated id from bytes (no padding).
    pub fn from_bytes(id: &[u8]) -> Result<ClientOrderId, ClientOrderIdError> {
        if id.is_empty() {
            return Err(ClientOrderIdError::Empty);
        }
        if id.len() > Self::LEN {
            return Err(ClientOrderIdError::TooLong { len: id.len() });
        }
        let mut raw = [0u8; Self::LEN];
        for (pos, (&byte, slot)) in id.iter().zip(raw.iter_mut()).enumerate() {
            if !byte.is_ascii_graphic() {
                return Err(ClientOrderIdError::BadChar { pos, byte });
            }
            *slot = byte;
        }
        Ok(ClientOrderId(raw))
    }

    /// A validated id from its 16-byte wire form (id, then NUL padding).
    pub fn from_wire(raw: &[u8; Self::LEN]) -> Result<ClientOrderId, ClientOrderIdError> {
        let len = raw.iter().position(|&b| b == 0).unwrap_or(Self::LEN);
        let (id, padding) = raw.split_at(len);
        if padding.iter().any(|&b| b != 0) {
            return Err(ClientOrderIdError::BadPadding);
        }
        ClientOrderId::from_bytes(id)
    }

    /// Wraps a wire form without checking it (records validate on decode).
    pub(crate) const fn from_wire_unchecked(raw: [u8; Self::LEN]) -> ClientOrderId {
        ClientOrderId(raw)
    }

    /// The 16-byte wire form (id, then NUL padding).
    pub const fn to_wire(self) -> [u8; Self::LEN] {
        self.0
    }

    /// The id as text.
    ///
    /// Total: on a wire form that skipped validation it returns the longest valid UTF-8
    /// prefix before the first NUL.
    pub fn as_str(&self) -> &str {
        let len = self.len();
        let id = self.0.get(..len).unwrap_or_default();
        match core::str::from_utf8(id) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(id.get(..e.valid_up_to()).unwrap_or_default())
                .unwrap_or_default(),
        }
    }

    /// Length of the id in bytes (1 to 16 for a validated id).
    pub fn len(&self) -> usize {
        self.0.iter().position(|&b| b == 0).unwrap_or(Self::LEN)
    }

    /// Whether the id is empty (never true for a validated id).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClientOrderId")
            .field(&self.as_str())
            .finish()
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientOrderId {
    type Err = ClientOrderIdError;

    fn from_str(s: &str) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::new(s)
    }
}

impl TryFrom<String> for ClientOrderId {
    type Error = ClientOrderIdError;

    fn try_from(s: String) -> Result<ClientOrderId, ClientOrderIdError> {
        ClientOrderId::new(&s)
    }
}

impl From<ClientOrderId> for String {
    fn from(id: ClientOrderId) -> String {
        id.as_str().to_owned()
    }
}

/// Side of an order or trade (FIX tag 54 values).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Side {
    /// Buy (FIX `1`).
    Buy = b'1',
    /// Sell (FIX `2`).
    Sell = b'2',
}

impl Side {
    /// The side for a wire byte, if valid.
    pub const fn from_wire(b: u8) -> Option<Side> {
        match b {
            b'1' => Some(Side::Buy),
            b'2' => Some(Side::Sell),
            _ => None,
        }
    }

    /// The wire byte.
    pub const fn to_wire(self) -> u8 {
        self as u8
    }

    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// Order type (FIX tag 40 values). Immediate-or-cancel is a [`TimeInForce`], not a type.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum OrderType {
    /// Market order (FIX `1`); its price field is ignored and encoded as zero.
    Market = b'1',
    /// Limit order (FIX `2`).
    Limit = b'2',
}

impl OrderType {
    /// The order type for a wire byte, if valid.
    pub const fn from_wire(b: u8) -> Option<OrderType> {
        match b {
            b'1' => Some(OrderType::Market),
            b'2' => Some(OrderType::Limit),
            _ => None,
        }
    }

    /// The wire byte.
    pub const fn to_wire(self) -> u8 {
        self as u8
    }
}

/// Time in force (FIX tag 59 values).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    TryFromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum TimeInForce {
    /// Good for the trading day (FIX `0`).
    Day = b'0',
    /// Good till canceled (FIX `1`).
    Gtc = b'1',
    /// Immediate or cancel: fill what can be filled now, cancel the rest (FIX `3`).
    Ioc = b'3',
    /// Fill or kill: fill entirely now or cancel (FIX `4`).
    Fok = b'4',
}

impl TimeInForce {
    /// The time in force for a wire byte, if valid.
    pub const fn from_wire(b: u8) -> Option<TimeInForce> {
        match b {
            b'0' => Some(TimeInForce::Day),
            b'1' => Some(TimeInForce::Gtc),
            b'3' => Some(TimeInForce::Ioc),
            b'4' => Some(TimeInForce::Fok),
            _ => None,
        }
    }

    /// The wire byte.
    pub const fn to_wire(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_text_forms() {
        let cases: &[(&str, i64, &str)] = &[
            ("123.45", 1_234_500, "123.4500"),
            ("123.4500", 1_234_500, "123.4500"),
            ("0", 0, "0.0000"),
            ("-0.5", -5_000, "-0.5000"),
            ("-12.0001", -120_001, "-12.0001"),
            ("0.0001", 1, "0.0001"),
            ("922337203685477.5807", i64::MAX, "922337203685477.5807"),
            ("-922337203685477.5808", i64::MIN, "-922337203685477.5808"),
            ("007", 70_000, "7.0000"),
        ];
        for &(text, ticks, shown) in cases {
            let p: Price = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(p, Price::from_ticks(ticks), "{text}");
            assert_eq!(p.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn price_rejects() {
        use PriceParseError::*;
        let cases: &[(&str, PriceParseError)] = &[
            ("", Empty),
            ("-", Empty),
            ("1.23456", TooManyDecimals),
            ("922337203685477.5808", OutOfRange),
            ("-922337203685477.5809", OutOfRange),
            ("99999999999999999999999999999999999999999", OutOfRange),
            ("1e5", InvalidChar { pos: 1 }),
            ("+1", InvalidChar { pos: 0 }),
            ("--1", InvalidChar { pos: 1 }),
            ("1.2.3", InvalidChar { pos: 3 }),
            (" 1", InvalidChar { pos: 0 }),
            ("1.", MissingDigits),
            (".5", MissingDigits),
            ("-.5", MissingDigits),
        ];
        for &(text, err) in cases {
            assert_eq!(text.parse::<Price>(), Err(err), "{text:?}");
        }
    }

    #[test]
    fn price_arithmetic() {
        let p = Price::from_ticks(10);
        assert_eq!(
            p.checked_add(Price::from_ticks(5)),
            Some(Price::from_ticks(15))
        );
        assert_eq!(Price::MAX.checked_add(Price::from_ticks(1)), None);
        assert_eq!(Price::MIN.checked_sub(Price::from_ticks(1)), None);
        assert_eq!(Price::MIN.checked_neg(), None);
        assert_eq!(p.checked_mul(3), Some(Price::from_ticks(30)));
        assert_eq!(Price::MAX.checked_mul(2), None);
        assert_eq!(Price::from_units(12), Some(Price::from_ticks(120_000)));
        assert_eq!(Price::from_units(i64::MAX), None);
        assert_eq!(
            Price::MAX.notional_ticks(Qty(u64::MAX)),
            i128::from(i64::MAX) * i128::from(u64::MAX)
        );
    }

    #[test]
    fn client_order_id_rules() {
        let id = ClientOrderId::new("ORD-1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.as_str(), "ORD-1");
        assert_eq!(id.len(), 5);
        assert_eq!(&id.to_wire()[..6], b"ORD-1\0");
        assert_eq!(ClientOrderId::from_wire(&id.to_wire()), Ok(id));
        assert_eq!(ClientOrderId::new(""), Err(ClientOrderIdError::Empty));
        assert_eq!(
            ClientOrderId::new("0123456789abcdefX"),
            Err(ClientOrderIdError::TooLong { len: 17 })
        );
        assert!(ClientOrderId::new("0123456789abcdef").is_ok());
        assert_eq!(
            ClientOrderId::new("a b"),
            Err(ClientOrderIdError::BadChar { pos: 1, byte: b' ' })
        );
        let mut raw = id.to_wire();
        raw[10] = b'x';
        assert_eq!(
            ClientOrderId::from_wire(&raw),
            Err(ClientOrderIdError::BadPadding)
        );
        assert_eq!(
            ClientOrderId::from_wire(&[0; 16]),
            Err(ClientOrderIdError::Empty)
        );
        let junk = ClientOrderId::from_wire_unchecked([
            b'a', 0xff, b'b', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert_eq!(junk.as_str(), "a");
    }

    #[test]
    fn enum_wire_values_round_trip() {
        for b in 0..=u8::MAX {
            if let Some(s) = Side::from_wire(b) {
                assert_eq!(s.to_wire(), b);
            }
            if let Some(t) = OrderType::from_wire(b) {
                assert_eq!(t.to_wire(), b);
            }
            if let Some(t) = TimeInForce::from_wire(b) {
                assert_eq!(t.to_wire(), b);
            }
        }
        assert_eq!(Side::Buy.opposite(), Side::Sell);
    }
}
