//! [`Frame`]: a zero-copy view over the bytes of one ITCH 5.0 message.
//!
//! Getters work on any `AsRef<[u8]>`, setters on `AsMut<[u8]>`; field positions come from
//! [`field`](super::field). Panic contract: nothing here panics. After
//! [`Frame::check_len`] succeeds every field of the message's type is in range; before
//! that, a getter of a missing field returns zero (header getters) or `None`
//! ([`Frame::get`]) and a setter of a missing field writes nothing. No I/O, no clock.

use core::ops::Range;

use super::error::ItchError;
use super::message::{field, message_len};
use super::types::{FieldValue, Header, Timestamp};

/// A view over one ITCH message: exactly the message's bytes, type byte first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// A view without any check (see the panic contract in the module doc).
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// A view, after [`Frame::check_len`].
    pub fn new_checked(buffer: T) -> Result<Frame<T>, ItchError> {
        let frame = Frame::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the type byte is an ITCH 5.0 type and that the buffer is exactly that
    /// type's fixed size (offsets in the error are relative to the message).
    pub fn check_len(&self) -> Result<(), ItchError> {
        let bytes = self.buffer.as_ref();
        let Some(&msg_type) = bytes.first() else {
            return Err(ItchError::Empty { offset: 0 });
        };
        let Some(need) = message_len(msg_type) else {
            return Err(ItchError::UnknownType {
                offset: 0,
                msg_type,
            });
        };
        let have = bytes.len();
        if have < need {
            Err(ItchError::Truncated {
                offset: 0,
                msg_type,
                need,
                have,
            })
        } else if have > need {
            Err(ItchError::LengthMismatch {
                offset: 0,
                msg_type,
                expected: need,
                actual: have,
            })
        } else {
            Ok(())
        }
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Message Type (offset 0), or 0 for an empty buffer.
    pub fn msg_type(&self) -> u8 {
        self.get(field::MESSAGE_TYPE).unwrap_or(0)
    }

    /// Stock Locate (offset 1).
    pub fn stock_locate(&self) -> u16 {
        self.get(field::STOCK_LOCATE).unwrap_or(0)
    }

    /// Tracking Number (offset 3).
    pub fn tracking_number(&self) -> u16 {
        self.get(field::TRACKING_NUMBER).unwrap_or(0)
    }

    /// Timestamp (offset 5), nanoseconds since midnight.
    pub fn timestamp(&self) -> Timestamp {
        self.get(field::TIMESTAMP).unwrap_or_default()
    }

    /// The common header.
    pub fn header(&self) -> Header {
        Header {
            stock_locate: self.stock_locate(),
            tracking_number: self.tracking_number(),
            timestamp: self.timestamp(),
        }
    }

    /// The field at `range`, or `None` if it lies outside the buffer or holds an invalid
    /// value for `V`.
    pub fn get<V: FieldValue>(&self, range: Range<usize>) -> Option<V> {
        self.buffer.as_ref().get(range).and_then(V::read)
    }

    /// The field at `range`, or a [`ItchError::BadField`] naming it.
    pub(crate) fn read<V: FieldValue>(
        &self,
        range: Range<usize>,
        name: &'static str,
    ) -> Result<V, ItchError> {
        let offset = range.start;
        self.get(range).ok_or(ItchError::BadField {
            offset,
            field: name,
        })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Writes `value` into the field at `range` (nothing if the range is outside the
    /// buffer).
    pub fn set<V: FieldValue>(&mut self, range: Range<usize>, value: V) {
        if let Some(bytes) = self.buffer.as_mut().get_mut(range) {
            value.write(bytes);
        }
    }

    /// Writes the type byte and the common header.
    pub fn set_header(&mut self, msg_type: u8, header: &Header) {
        self.set(field::MESSAGE_TYPE, msg_type);
        self.set(field::STOCK_LOCATE, header.stock_locate);
        self.set(field::TRACKING_NUMBER, header.tracking_number);
        self.set(field::TIMESTAMP, header.timestamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_len_names_the_problem() {
        assert_eq!(
            Frame::new_checked(&[][..]),
            Err(ItchError::Empty { offset: 0 })
        );
        assert_eq!(
            Frame::new_checked(&b"Z"[..]),
            Err(ItchError::UnknownType {
                offset: 0,
                msg_type: b'Z'
            })
        );
        assert_eq!(
            Frame::new_checked(&b"S\0\0"[..]),
            Err(ItchError::Truncated {
                offset: 0,
                msg_type: b'S',
                need: 12,
                have: 3
            })
        );
        assert_eq!(
            Frame::new_checked(&[b'D'; 20][..]),
            Err(ItchError::LengthMismatch {
                offset: 0,
                msg_type: b'D',
                expected: 19,
                actual: 20
            })
        );
    }

    #[test]
    fn unchecked_short_frame_reads_zero() {
        let f = Frame::new_unchecked(&b"A\x01"[..]);
        assert_eq!(f.msg_type(), b'A');
        assert_eq!(f.stock_locate(), 0);
        assert_eq!(f.get::<u64>(11..19), None);
        let mut buf = [0u8; 3];
        let mut w = Frame::new_unchecked(&mut buf[..]);
        w.set(1..3, 0x0102u16);
        w.set(5..11, Timestamp::MAX);
        assert_eq!(buf, [0, 1, 2]);
    }
}
