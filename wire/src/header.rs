//! The common record header, the message type registry, the decode error and the
//! [`Record`] trait every fixed-layout record implements.
//!
//! ```text
//!  0               2               4               6               8
//! +---------------+---------------+---------------+---------------+
//! |   msg_type    |    schema     |    length     |   reserved    |
//! |    u16 LE     |    u16 LE     |    u16 LE     |  u16, zero    |
//! +---------------+---------------+---------------+---------------+
//! ```
//!
//! `length` is the whole record's size in bytes, header included, so a reader can skip a
//! record it does not know. Panic contract: nothing here panics on any input; decoding
//! checks the header, then the length, then every enum-valued and reserved field, and a
//! record reference handed out has passed all of these checks. No I/O, no clocks.

use core::mem::size_of;

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, TryFromBytes, Unaligned};

/// The schema id this crate reads and writes; bumped whenever any record layout changes.
pub const SCHEMA_ID: u16 = 1;

/// Size of [`Header`] in bytes.
pub const HEADER_LEN: usize = 8;

/// The 8-byte header that starts every record (layout in the module doc).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Header {
    msg_type: U16,
    schema: U16,
    length: U16,
    reserved: U16,
}

const _: () = assert!(size_of::<Header>() == HEADER_LEN);

impl Header {
    /// The header for a record of type `R` under [`SCHEMA_ID`].
    pub const fn for_record<R: Record>() -> Header {
        Header {
            msg_type: U16::new(R::TYPE as u16),
            schema: U16::new(SCHEMA_ID),
            length: U16::new(R::TYPE.record_len() as u16),
            reserved: U16::ZERO,
        }
    }

    /// Reads the header at the start of `bytes` without checking its values.
    #[inline]
    pub fn peek(bytes: &[u8]) -> Result<&Header, DecodeError> {
        Header::ref_from_prefix(bytes)
            .map(|(h, _)| h)
            .map_err(|_| DecodeError::Truncated {
                need: HEADER_LEN,
                have: bytes.len(),
            })
    }

    /// The raw message type.
    pub const fn msg_type(&self) -> u16 {
        self.msg_type.get()
    }

    /// The raw schema id.
    pub const fn schema(&self) -> u16 {
        self.schema.get()
    }

    /// The record length in bytes, header included.
    pub const fn length(&self) -> u16 {
        self.length.get()
    }

    /// The reserved field (zero in every valid record).
    pub const fn reserved(&self) -> u16 {
        self.reserved.get()
    }

    /// Checks schema, type, length and reserved bits against `bytes.len()`; returns the type.
    ///
    /// Order of checks: schema, message type, declared length, available bytes, reserved.
    #[inline]
    pub fn check(&self, available: usize) -> Result<MessageType, DecodeError> {
        if self.schema() != SCHEMA_ID {
            return Err(DecodeError::UnsupportedVersion(self.schema()));
        }
        let ty = MessageType::from_u16(self.msg_type())
            .ok_or(DecodeError::UnknownType(self.msg_type()))?;
        if usize::from(self.length()) != ty.record_len() {
            return Err(DecodeError::BadLength {
                msg_type: self.msg_type(),
                expected: ty.record_len(),
                found: self.length(),
            });
        }
        if available < ty.record_len() {
            return Err(DecodeError::Truncated {
                need: ty.record_len(),
                have: available,
            });
        }
        if self.reserved() != 0 {
            return Err(DecodeError::BadField {
                field: "header.reserved",
            });
        }
        Ok(ty)
    }
}

/// Why a byte buffer is not a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer is shorter than the header or than the record its header announces.
    #[error("truncated record: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The header's message type is not one this schema defines.
    #[error("unknown message type {0:#06x}")]
    UnknownType(u16),
    /// A typed decode found a different (known) message type.
    #[error("expected message type {expected:#06x}, found {found:#06x}")]
    UnexpectedType {
        /// The type asked for.
        expected: u16,
        /// The type in the header.
        found: u16,
    },
    /// The header's length is not this message type's fixed size.
    #[error("message type {msg_type:#06x} must be {expected} bytes, header says {found}")]
    BadLength {
        /// The message type.
        msg_type: u16,
        /// Its fixed size.
        expected: usize,
        /// The header's length field.
        found: u16,
    },
    /// The header's schema id is not [`SCHEMA_ID`].
    #[error("unsupported schema id {0}")]
    UnsupportedVersion(u16),
    /// A field holds a value outside its enum, a bad id, or non-zero reserved bytes.
    #[error("invalid value in field {field}")]
    BadField {
        /// The field's name as in the record's layout table.
        field: &'static str,
    },
}

/// Every message type of schema [`SCHEMA_ID`], with its stable `u16` value.
///
/// Market data is `0x01xx`, order entry `0x02xx`, executions `0x03xx`. New types take
/// new values; a value once assigned is never reused or renumbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum MessageType {
    /// [`crate::MdHeartbeat`].
    MdHeartbeat = 0x0100,
    /// [`crate::MdSequenceReset`].
    MdSequenceReset = 0x0101,
    /// [`crate::MdAddOrder`].
    MdAddOrder = 0x0110,
    /// [`crate::MdModifyOrder`].
    MdModifyOrder = 0x0111,
    /// [`crate::MdCancelOrder`].
    MdCancelOrder = 0x0112,
    /// [`crate::MdTrade`].
    MdTrade = 0x0113,
    /// [`crate::MdBboUpdate`].
    MdBboUpdate = 0x0120,
    /// [`crate::MdBookSnapshotChunk`].
    MdBookSnapshotChunk = 0x0121,
    /// [`crate::NewOrder`].
    NewOrder = 0x0200,
    /// [`crate::CancelOrder`].
    CancelOrder = 0x0201,
    /// [`crate::ReplaceOrder`].
    ReplaceOrder = 0x0202,
    /// [`crate::MassCancelRequest`].
    MassCancelRequest = 0x0203,
    /// [`crate::OrderAccepted`].
    OrderAccepted = 0x0300,
    /// [`crate::OrderRejected`].
    OrderRejected = 0x0301,
    /// [`crate::OrderFilled`].
    OrderFilled = 0x0302,
    /// [`crate::OrderCanceled`].
    OrderCanceled = 0x0303,
    /// [`crate::CancelRejected`].
    CancelRejected = 0x0304,
    /// [`crate::OrderReplaced`].
    OrderReplaced = 0x0305,
    /// [`crate::MassCancelReport`].
    MassCancelReport = 0x0306,
}

impl MessageType {
    /// Every message type, in wire-value order.
    pub const ALL: [MessageType; 19] = [
        MessageType::MdHeartbeat,
        MessageType::MdSequenceReset,
        MessageType::MdAddOrder,
        MessageType::MdModifyOrder,
        MessageType::MdCancelOrder,
        MessageType::MdTrade,
        MessageType::MdBboUpdate,
        MessageType::MdBookSnapshotChunk,
        MessageType::NewOrder,
        MessageType::CancelOrder,
        MessageType::ReplaceOrder,
        MessageType::MassCancelRequest,
        MessageType::OrderAccepted,
        MessageType::OrderRejected,
        MessageType::OrderFilled,
        MessageType::OrderCanceled,
        MessageType::CancelRejected,
        MessageType::OrderReplaced,
        MessageType::MassCancelReport,
    ];

    /// The message type for a wire value, if this schema defines it.
    #[inline]
    pub const fn from_u16(v: u16) -> Option<MessageType> {
        Some(match v {
            0x0100 => MessageType::MdHeartbeat,
            0x0101 => MessageType::MdSequenceReset,
            0x0110 => MessageType::MdAddOrder,
            0x0111 => MessageType::MdModifyOrder,
            0x0112 => MessageType::MdCancelOrder,
            0x0113 => MessageType::MdTrade,
            0x0120 => MessageType::MdBboUpdate,
            0x0121 => MessageType::MdBookSnapshotChunk,
            0x0200 => MessageType::NewOrder,
            0x0201 => MessageType::CancelOrder,
            0x0202 => MessageType::ReplaceOrder,
            0x0203 => MessageType::MassCancelRequest,
            0x0300 => MessageType::OrderAccepted,
            0x0301 => MessageType::OrderRejected,
            0x0302 => MessageType::OrderFilled,
            0x0303 => MessageType::OrderCanceled,
            0x0304 => MessageType::CancelRejected,
            0x0305 => MessageType::OrderReplaced,
            0x0306 => MessageType::MassCancelReport,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        self as u16
    }

    /// The fixed size in bytes of records of this type, header included.
    #[inline]
    pub const fn record_len(self) -> usize {
        use crate::{exec, mass, md, order};
        match self {
            MessageType::MdHeartbeat => size_of::<md::MdHeartbeat>(),
            MessageType::MdSequenceReset => size_of::<md::MdSequenceReset>(),
            MessageType::MdAddOrder => size_of::<md::MdAddOrder>(),
            MessageType::MdModifyOrder => size_of::<md::MdModifyOrder>(),
            MessageType::MdCancelOrder => size_of::<md::MdCancelOrder>(),
            MessageType::MdTrade => size_of::<md::MdTrade>(),
            MessageType::MdBboUpdate => size_of::<md::MdBboUpdate>(),
            MessageType::MdBookSnapshotChunk => size_of::<md::MdBookSnapshotChunk>(),
            MessageType::NewOrder => size_of::<order::NewOrder>(),
            MessageType::CancelOrder => size_of::<order::CancelOrder>(),
            MessageType::ReplaceOrder => size_of::<order::ReplaceOrder>(),
            MessageType::OrderAccepted => size_of::<exec::OrderAccepted>(),
            MessageType::OrderRejected => size_of::<exec::OrderRejected>(),
            MessageType::OrderFilled => size_of::<exec::OrderFilled>(),
            MessageType::OrderCanceled => size_of::<exec::OrderCanceled>(),
            MessageType::CancelRejected => size_of::<exec::CancelRejected>(),
            MessageType::OrderReplaced => size_of::<exec::OrderReplaced>(),
            MessageType::MassCancelRequest => size_of::<mass::MassCancelRequest>(),
            MessageType::MassCancelReport => size_of::<mass::MassCancelReport>(),
        }
    }

    /// The largest record size of this schema (a ring slot of this size holds any record).
    pub const MAX_LEN: usize = {
        let mut max = 0;
        let mut i = 0;
        while i < MessageType::ALL.len() {
            let len = MessageType::ALL[i].record_len();
            if len > max {
                max = len;
            }
            i += 1;
        }
        max
    };
}

/// A fixed-size, little-endian, alignment-1 record that starts with a [`Header`].
///
/// Implemented by every record of this crate. Records hold their enum-valued fields as
/// `#[repr(u8)]` enums, so zerocopy's checked cast ([`TryFromBytes`]) rejects invalid
/// values; [`Record::check`] covers what a cast cannot (reserved bytes, ids, counts).
pub trait Record: TryFromBytes + IntoBytes + KnownLayout + Immutable + Unaligned + Sized {
    /// This record's message type.
    const TYPE: MessageType;

    /// The record's header.
    fn header(&self) -> &Header;

    /// Field checks a cast cannot express: reserved bytes zero, ids well formed, counts
    /// in range.
    fn check(&self) -> Result<(), DecodeError>;

    /// Names the first enum-valued field of `bytes` (a record of this type) that holds a
    /// value outside its enum; used to explain a failed cast.
    fn bad_enum_field(bytes: &[u8]) -> Option<&'static str>;

    /// Borrows a validated record of this type from the start of `bytes` (trailing bytes,
    /// such as the rest of a ring slot, are ignored).
    fn decode(bytes: &[u8]) -> Result<&Self, DecodeError> {
        let ty = Header::peek(bytes)?.check(bytes.len())?;
        if ty != Self::TYPE {
            return Err(DecodeError::UnexpectedType {
                expected: Self::TYPE.to_u16(),
                found: ty.to_u16(),
            });
        }
        cast_checked(bytes)
    }
}

/// Casts the start of `bytes` to `R` and runs its field checks; the header must already
/// have passed [`Header::check`] for `R::TYPE` against `bytes.len()`.
pub(crate) fn cast_checked<R: Record>(bytes: &[u8]) -> Result<&R, DecodeError> {
    match R::try_ref_from_prefix(bytes) {
        Ok((record, _)) => {
            record.check()?;
            Ok(record)
        }
        Err(_) => Err(DecodeError::BadField {
            field: R::bad_enum_field(bytes).unwrap_or("record"),
        }),
    }
}

/// `Err(BadField)` unless every byte of a reserved field is zero.
pub(crate) fn check_reserved(bytes: &[u8], field: &'static str) -> Result<(), DecodeError> {
    if bytes.iter().all(|&b| b == 0) {
        Ok(())
    } else {
        Err(DecodeError::BadField { field })
    }
}

/// `Err(BadField)` unless `raw` is a valid client order id wire form.
pub(crate) fn check_cl_ord_id(
    raw: &[u8; crate::ClientOrderId::LEN],
    field: &'static str,
) -> Result<(), DecodeError> {
    // Same rule as `ClientOrderId::from_wire`, in one pass without building the id.
    let mut padding = false;
    for &b in raw {
        if b == 0 {
            padding = true;
        } else if padding || !b.is_ascii_graphic() {
            return Err(DecodeError::BadField { field });
        }
    }
    if raw.first() == Some(&0) {
        return Err(DecodeError::BadField { field });
    }
    Ok(())
}

/// An enum-valued byte field: (name, byte offset, is-valid test).
pub(crate) type EnumField = (&'static str, usize, fn(u8) -> bool);

/// Names the first of `fields` whose byte in `bytes` fails its validity test.
pub(crate) fn first_bad_byte(bytes: &[u8], fields: &[EnumField]) -> Option<&'static str> {
    fields
        .iter()
        .find_map(|&(name, offset, valid)| match bytes.get(offset) {
            Some(&b) if valid(b) => None,
            _ => Some(name),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_values_round_trip() {
        for ty in MessageType::ALL {
            assert_eq!(MessageType::from_u16(ty.to_u16()), Some(ty));
            assert_eq!(
                ty.record_len() % 64,
                0,
                "{ty:?} is not a whole number of cache lines"
            );
            assert!(ty.record_len() <= MessageType::MAX_LEN);
        }
        let known = (0..=u16::MAX)
            .filter(|&v| MessageType::from_u16(v).is_some())
            .count();
        assert_eq!(known, MessageType::ALL.len());
    }

    #[test]
    fn header_checks_in_order() {
        let mut h = Header::for_record::<crate::MdHeartbeat>();
        assert_eq!(h.check(64), Ok(MessageType::MdHeartbeat));
        assert_eq!(
            h.check(10),
            Err(DecodeError::Truncated { need: 64, have: 10 })
        );
        h.reserved = U16::new(1);
        assert_eq!(
            h.check(64),
            Err(DecodeError::BadField {
                field: "header.reserved"
            })
        );
        h.length = U16::new(65);
        assert!(matches!(
            h.check(64),
            Err(DecodeError::BadLength { found: 65, .. })
        ));
        h.msg_type = U16::new(0x7777);
        assert_eq!(h.check(64), Err(DecodeError::UnknownType(0x7777)));
        h.schema = U16::new(2);
        assert_eq!(h.check(64), Err(DecodeError::UnsupportedVersion(2)));
        assert_eq!(
            Header::peek(&[1, 2, 3]),
            Err(DecodeError::Truncated { need: 8, have: 3 })
        );
    }
}
