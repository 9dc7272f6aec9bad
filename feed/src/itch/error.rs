//! Why ITCH bytes were refused ([`ItchError`]) or could not be written ([`EmitError`]).
//!
//! Both are small and `Copy`; every decode error carries the byte offset where the
//! problem starts, relative to the buffer the caller handed over (a message, a stream
//! chunk or a MoldUDP64 packet). No I/O, no clock.

/// Why an ITCH message or its framing was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ItchError {
    /// A message of zero bytes (no type byte).
    #[error("empty message at byte {offset}")]
    Empty {
        /// Offset of the empty message.
        offset: usize,
    },
    /// A type byte that ITCH 5.0 does not define.
    #[error("unknown ITCH message type {msg_type:#04x} at byte {offset}")]
    UnknownType {
        /// Offset of the message.
        offset: usize,
        /// The type byte.
        msg_type: u8,
    },
    /// Fewer bytes than the message type's fixed size.
    #[error("short ITCH message type {msg_type:#04x} at byte {offset}: {have} of {need} bytes")]
    Truncated {
        /// Offset of the message.
        offset: usize,
        /// The type byte.
        msg_type: u8,
        /// The type's fixed size.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// More bytes than the message type's fixed size.
    #[error(
        "ITCH message type {msg_type:#04x} at byte {offset} is {actual} bytes, expected {expected}"
    )]
    LengthMismatch {
        /// Offset of the message.
        offset: usize,
        /// The type byte.
        msg_type: u8,
        /// The type's fixed size.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A field whose bytes are not a valid value (for example a Buy/Sell Indicator other
    /// than `B` or `S`).
    #[error("invalid ITCH field {field} at byte {offset}")]
    BadField {
        /// Offset of the field.
        offset: usize,
        /// The field's name in the specification.
        field: &'static str,
    },
    /// A framing header (length prefix, MoldUDP64 header or message block) runs past the
    /// end of the buffer.
    #[error("truncated framing at byte {offset}: need {need} bytes, have {have}")]
    TruncatedFrame {
        /// Offset of the framing element.
        offset: usize,
        /// Bytes it needs.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// Bytes after the last message a MoldUDP64 packet announces.
    #[error("{len} trailing bytes at byte {offset}")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
        /// Number of trailing bytes.
        len: usize,
    },
}

impl ItchError {
    /// The byte offset where the problem starts.
    pub const fn offset(&self) -> usize {
        match *self {
            ItchError::Empty { offset }
            | ItchError::UnknownType { offset, .. }
            | ItchError::Truncated { offset, .. }
            | ItchError::LengthMismatch { offset, .. }
            | ItchError::BadField { offset, .. }
            | ItchError::TruncatedFrame { offset, .. }
            | ItchError::TrailingBytes { offset, .. } => offset,
        }
    }

    /// The same error with its offset moved by `base` (saturating): turns an offset inside
    /// a message into an offset inside the enclosing buffer.
    pub const fn rebase(self, base: usize) -> ItchError {
        let mut e = self;
        match &mut e {
            ItchError::Empty { offset }
            | ItchError::UnknownType { offset, .. }
            | ItchError::Truncated { offset, .. }
            | ItchError::LengthMismatch { offset, .. }
            | ItchError::BadField { offset, .. }
            | ItchError::TruncatedFrame { offset, .. }
            | ItchError::TrailingBytes { offset, .. } => *offset = offset.saturating_add(base),
        }
        e
    }
}

/// Why a message or packet could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The output buffer is too small.
    #[error("output buffer of {have} bytes, need {need}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A MoldUDP64 packet already holds the most messages its count field can announce.
    #[error("MoldUDP64 packet is full ({count} messages)")]
    PacketFull {
        /// Messages already in the packet.
        count: u16,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_small_and_rebase() {
        assert!(size_of::<ItchError>() <= 40, "{}", size_of::<ItchError>());
        let e = ItchError::BadField {
            offset: 19,
            field: "buy_sell_indicator",
        };
        assert_eq!(e.rebase(100).offset(), 119);
        assert_eq!(
            e.rebase(100).to_string(),
            "invalid ITCH field buy_sell_indicator at byte 119"
        );
        assert_eq!(
            ItchError::Empty { offset: 3 }.rebase(usize::MAX).offset(),
            usize::MAX
        );
    }
}
