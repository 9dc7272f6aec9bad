//! ITCH 5.0 field value types (§ "Data Types"): timestamps, prices, the buy/sell
//! indicator, alpha fields, and the common message header.
//!
//! Each type knows its width and how to read itself from and write itself to exactly
//! that many big-endian bytes ([`FieldValue`]). Reading never panics: a slice of the
//! wrong width is reported as `None`. No I/O, no clock.

use tickwarp_wire::{Price, Side, Symbol, SymbolError};

/// A value stored in a fixed-width ITCH field, big-endian.
pub trait FieldValue: Sized + Copy {
    /// Width of the field in bytes.
    const LEN: usize;

    /// Reads the value from exactly [`Self::LEN`] bytes; `None` if the slice has another
    /// width or the bytes are not a valid value of this type.
    fn read(bytes: &[u8]) -> Option<Self>;

    /// Writes the value into the first [`Self::LEN`] bytes; writes nothing if the slice is
    /// shorter.
    fn write(&self, bytes: &mut [u8]);
}

/// Copies `src` into the first `N` bytes of `dst`, if it has that many.
fn put<const N: usize>(dst: &mut [u8], src: [u8; N]) {
    if let Some(d) = dst.get_mut(..N) {
        d.copy_from_slice(&src);
    }
}

/// The slice as an array of exactly `N` bytes.
fn exact<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    <[u8; N]>::try_from(bytes).ok()
}

impl FieldValue for u8 {
    const LEN: usize = 1;
    fn read(bytes: &[u8]) -> Option<u8> {
        exact::<1>(bytes).map(|[b]| b)
    }
    fn write(&self, bytes: &mut [u8]) {
        put(bytes, [*self]);
    }
}

impl FieldValue for u16 {
    const LEN: usize = 2;
    fn read(bytes: &[u8]) -> Option<u16> {
        exact(bytes).map(u16::from_be_bytes)
    }
    fn write(&self, bytes: &mut [u8]) {
        put(bytes, self.to_be_bytes());
    }
}

impl FieldValue for u32 {
    const LEN: usize = 4;
    fn read(bytes: &[u8]) -> Option<u32> {
        exact(bytes).map(u32::from_be_bytes)
    }
    fn write(&self, bytes: &mut [u8]) {
        put(bytes, self.to_be_bytes());
    }
}

impl FieldValue for u64 {
    const LEN: usize = 8;
    fn read(bytes: &[u8]) -> Option<u64> {
        exact(bytes).map(u64::from_be_bytes)
    }
    fn write(&self, bytes: &mut [u8]) {
        put(bytes, self.to_be_bytes());
    }
}

/// Alpha fields (stock, MPID, reason, issue sub-type) are kept as their exact bytes, so
/// every message round-trips byte for byte; see [`Header`] and [`tickwarp_wire::Symbol`]
/// for interpretation.
impl<const N: usize> FieldValue for [u8; N] {
    const LEN: usize = N;
    fn read(bytes: &[u8]) -> Option<[u8; N]> {
        exact(bytes)
    }
    fn write(&self, bytes: &mut [u8]) {
        put(bytes, *self);
    }
}

/// Nanoseconds since midnight in six bytes (§ "Data Types", Timestamp).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The largest value six bytes hold.
    pub const MAX: Timestamp = Timestamp((1 << 48) - 1);
    /// Midnight.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp, or `None` when `nanos` does not fit six bytes.
    pub const fn new(nanos: u64) -> Option<Timestamp> {
        if nanos <= Self::MAX.0 {
            Some(Timestamp(nanos))
        } else {
            None
        }
    }

    /// Nanoseconds since midnight.
    pub const fn nanos(self) -> u64 {
        self.0
    }
}

impl FieldValue for Timestamp {
    const LEN: usize = 6;
    fn read(bytes: &[u8]) -> Option<Timestamp> {
        let b: [u8; 6] = exact(bytes)?;
        let mut wide = [0u8; 8];
        for (dst, src) in wide.iter_mut().skip(2).zip(b) {
            *dst = src;
        }
        Some(Timestamp(u64::from_be_bytes(wide)))
    }
    fn write(&self, bytes: &mut [u8]) {
        let [_, _, a, b, c, d, e, f] = self.0.to_be_bytes();
        put(bytes, [a, b, c, d, e, f]);
    }
}

/// A `Price(4)` field: an unsigned 4-byte integer with four implied decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price4(pub u32);

impl Price4 {
    /// The same value as a tickwarp fixed-point [`Price`] (also four decimals).
    pub const fn to_price(self) -> Price {
        Price::from_ticks(self.0 as i64)
    }

    /// The ITCH form of `price`, or `None` if it is negative or above `u32::MAX` ticks.
    pub fn from_price(price: Price) -> Option<Price4> {
        u32::try_from(price.ticks()).ok().map(Price4)
    }
}

impl FieldValue for Price4 {
    const LEN: usize = 4;
    fn read(bytes: &[u8]) -> Option<Price4> {
        u32::read(bytes).map(Price4)
    }
    fn write(&self, bytes: &mut [u8]) {
        self.0.write(bytes);
    }
}

/// A `Price(8)` field: an unsigned 8-byte integer with eight implied decimals (MWCB
/// levels, §1.2.5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price8(pub u64);

impl FieldValue for Price8 {
    const LEN: usize = 8;
    fn read(bytes: &[u8]) -> Option<Price8> {
        u64::read(bytes).map(Price8)
    }
    fn write(&self, bytes: &mut [u8]) {
        self.0.write(bytes);
    }
}

/// The Buy/Sell Indicator (§1.3.1): `B` or `S`; any other byte is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItchSide {
    /// `B`: a buy order.
    Buy,
    /// `S`: a sell order.
    Sell,
}

impl ItchSide {
    /// The wire byte.
    pub const fn code(self) -> u8 {
        match self {
            ItchSide::Buy => b'B',
            ItchSide::Sell => b'S',
        }
    }

    /// The side for a wire byte, if valid.
    pub const fn from_code(code: u8) -> Option<ItchSide> {
        match code {
            b'B' => Some(ItchSide::Buy),
            b'S' => Some(ItchSide::Sell),
            _ => None,
        }
    }

    /// The tickwarp order side.
    pub const fn to_side(self) -> Side {
        match self {
            ItchSide::Buy => Side::Buy,
            ItchSide::Sell => Side::Sell,
        }
    }

    /// The ITCH side of a tickwarp order side.
    pub const fn from_side(side: Side) -> ItchSide {
        match side {
            Side::Buy => ItchSide::Buy,
            Side::Sell => ItchSide::Sell,
        }
    }
}

impl FieldValue for ItchSide {
    const LEN: usize = 1;
    fn read(bytes: &[u8]) -> Option<ItchSide> {
        u8::read(bytes).and_then(ItchSide::from_code)
    }
    fn write(&self, bytes: &mut [u8]) {
        self.code().write(bytes);
    }
}

/// The fields every message carries after its type byte (§1: Stock Locate, Tracking
/// Number, Timestamp).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// Locate code of the stock this message is about (0 for market-wide messages),
    /// assigned for the day by the Stock Directory message.
    pub stock_locate: u16,
    /// NASDAQ internal tracking number.
    pub tracking_number: u16,
    /// Nanoseconds since midnight.
    pub timestamp: Timestamp,
}

/// Interprets an 8-byte Stock field as a tickwarp [`Symbol`].
pub(crate) fn stock_symbol(stock: &[u8; 8]) -> Result<Symbol, SymbolError> {
    Symbol::from_itch(stock)
}

/// System Event codes (§1.1, Event Code).
pub mod event_code {
    /// Start of messages: the first message of the day.
    pub const START_OF_MESSAGES: u8 = b'O';
    /// Start of system hours.
    pub const START_OF_SYSTEM_HOURS: u8 = b'S';
    /// Start of market hours.
    pub const START_OF_MARKET_HOURS: u8 = b'Q';
    /// End of market hours.
    pub const END_OF_MARKET_HOURS: u8 = b'M';
    /// End of system hours.
    pub const END_OF_SYSTEM_HOURS: u8 = b'E';
    /// End of messages: the last message of the day.
    pub const END_OF_MESSAGES: u8 = b'C';
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_six_bytes_big_endian() {
        let ts = Timestamp::new(0x0102_0304_0506).unwrap_or_default();
        let mut b = [0u8; 6];
        ts.write(&mut b);
        assert_eq!(b, [1, 2, 3, 4, 5, 6]);
        assert_eq!(Timestamp::read(&b), Some(ts));
        assert_eq!(Timestamp::new(1 << 48), None);
        assert_eq!(Timestamp::read(&b[..5]), None);
    }

    #[test]
    fn side_and_price() {
        assert_eq!(ItchSide::read(b"B"), Some(ItchSide::Buy));
        assert_eq!(ItchSide::read(b"S"), Some(ItchSide::Sell));
        assert_eq!(ItchSide::read(b"X"), None);
        assert_eq!(Price4(1_234_500).to_price().to_string(), "123.4500");
        assert_eq!(Price4::from_price(Price::from_ticks(-1)), None);
        let mut short = [0u8; 3];
        Price4(7).write(&mut short);
        assert_eq!(short, [0; 3]);
    }
}
