//! Units and identifiers shared by every record: prices, quantities, sequence numbers, ids.
//!
//! Plain value newtypes; the byte layout of records stores them little-endian. This
//! module has no I/O and reads no clock.

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
