//! The decoded view of any record: [`decode`] reads the header and borrows the typed
//! record from the buffer as a [`Message`], without copying.
//!
//! Panic contract: [`decode`] never panics, whatever the bytes; a `Message` it returns
//! holds a record that passed every check of [`Record::decode`]. No I/O, no clocks.

use zerocopy::IntoBytes;

use crate::exec::{
    CancelRejected, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected, OrderReplaced,
};
use crate::header::{DecodeError, Header, MessageType, Record, cast_checked};
use crate::mass::{MassCancelReport, MassCancelRequest};
use crate::md::{
    MdAddOrder, MdBboUpdate, MdBookSnapshotChunk, MdCancelOrder, MdHeartbeat, MdModifyOrder,
    MdSequenceReset, MdTrade,
};
use crate::order::{CancelOrder, NewOrder, ReplaceOrder};

/// A record of any type, borrowed from the buffer it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Message<'a> {
    /// A feed heartbeat.
    MdHeartbeat(&'a MdHeartbeat),
    /// A feed sequence reset.
    MdSequenceReset(&'a MdSequenceReset),
    /// An order added to the book.
    MdAddOrder(&'a MdAddOrder),
    /// A resting order modified in place.
    MdModifyOrder(&'a MdModifyOrder),
    /// Quantity removed from a resting order.
    MdCancelOrder(&'a MdCancelOrder),
    /// A trade.
    MdTrade(&'a MdTrade),
    /// Top of book.
    MdBboUpdate(&'a MdBboUpdate),
    /// A chunk of a book snapshot.
    MdBookSnapshotChunk(&'a MdBookSnapshotChunk),
    /// A new order.
    NewOrder(&'a NewOrder),
    /// A cancel request.
    CancelOrder(&'a CancelOrder),
    /// A cancel/replace request.
    ReplaceOrder(&'a ReplaceOrder),
    /// A mass cancel request.
    MassCancelRequest(&'a MassCancelRequest),
    /// An order was accepted.
    OrderAccepted(&'a OrderAccepted),
    /// An order was rejected.
    OrderRejected(&'a OrderRejected),
    /// An order traded.
    OrderFilled(&'a OrderFilled),
    /// An order was canceled.
    OrderCanceled(&'a OrderCanceled),
    /// A cancel or replace request was rejected.
    CancelRejected(&'a CancelRejected),
    /// An order was replaced.
    OrderReplaced(&'a OrderReplaced),
    /// The answer to a mass cancel request.
    MassCancelReport(&'a MassCancelReport),
}

/// Decodes the record at the start of `bytes` (trailing bytes are ignored; the record's
/// length is [`Message::len`]).
///
/// Checks, in order: header present, schema id, message type, declared length, bytes
/// available, header reserved bits, enum fields, then the record's own field checks.
pub fn decode(bytes: &[u8]) -> Result<Message<'_>, DecodeError> {
    let ty = Header::peek(bytes)?.check(bytes.len())?;
    Ok(match ty {
        MessageType::MdHeartbeat => Message::MdHeartbeat(cast_checked(bytes)?),
        MessageType::MdSequenceReset => Message::MdSequenceReset(cast_checked(bytes)?),
        MessageType::MdAddOrder => Message::MdAddOrder(cast_checked(bytes)?),
        MessageType::MdModifyOrder => Message::MdModifyOrder(cast_checked(bytes)?),
        MessageType::MdCancelOrder => Message::MdCancelOrder(cast_checked(bytes)?),
        MessageType::MdTrade => Message::MdTrade(cast_checked(bytes)?),
        MessageType::MdBboUpdate => Message::MdBboUpdate(cast_checked(bytes)?),
        MessageType::MdBookSnapshotChunk => Message::MdBookSnapshotChunk(cast_checked(bytes)?),
        MessageType::NewOrder => Message::NewOrder(cast_checked(bytes)?),
        MessageType::CancelOrder => Message::CancelOrder(cast_checked(bytes)?),
        MessageType::ReplaceOrder => Message::ReplaceOrder(cast_checked(bytes)?),
        MessageType::MassCancelRequest => Message::MassCancelRequest(cast_checked(bytes)?),
        MessageType::OrderAccepted => Message::OrderAccepted(cast_checked(bytes)?),
        MessageType::OrderRejected => Message::OrderRejected(cast_checked(bytes)?),
        MessageType::OrderFilled => Message::OrderFilled(cast_checked(bytes)?),
        MessageType::OrderCanceled => Message::OrderCanceled(cast_checked(bytes)?),
        MessageType::CancelRejected => Message::CancelRejected(cast_checked(bytes)?),
        MessageType::OrderReplaced => Message::OrderReplaced(cast_checked(bytes)?),
        MessageType::MassCancelReport => Message::MassCancelReport(cast_checked(bytes)?),
    })
}

/// Evaluates `$body` with `$r` bound to the record inside a `Message`, whatever its type.
macro_rules! with_record {
    ($msg:expr, $r:ident => $body:expr) => {
        match $msg {
            Message::MdHeartbeat($r) => $body,
            Message::MdSequenceReset($r) => $body,
            Message::MdAddOrder($r) => $body,
            Message::MdModifyOrder($r) => $body,
            Message::MdCancelOrder($r) => $body,
            Message::MdTrade($r) => $body,
            Message::MdBboUpdate($r) => $body,
            Message::MdBookSnapshotChunk($r) => $body,
            Message::NewOrder($r) => $body,
            Message::CancelOrder($r) => $body,
            Message::ReplaceOrder($r) => $body,
            Message::MassCancelRequest($r) => $body,
            Message::OrderAccepted($r) => $body,
            Message::OrderRejected($r) => $body,
            Message::OrderFilled($r) => $body,
            Message::OrderCanceled($r) => $body,
            Message::CancelRejected($r) => $body,
            Message::OrderReplaced($r) => $body,
            Message::MassCancelReport($r) => $body,
        }
    };
}

impl<'a> Message<'a> {
    /// The record's message type.
    pub fn msg_type(&self) -> MessageType {
        with_record!(self, r => record_type(*r))
    }

    /// The record's header.
    pub fn header(&self) -> &'a Header {
        with_record!(*self, r => r.header())
    }

    /// The record's bytes (exactly [`Message::len`] of them).
    pub fn as_bytes(&self) -> &'a [u8] {
        with_record!(*self, r => r.as_bytes())
    }

    /// The record's length in bytes, header included.
    pub fn len(&self) -> usize {
        self.msg_type().record_len()
    }

    /// Always false: every record has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The message type of a record, from its type.
fn record_type<R: Record>(_: &R) -> MessageType {
    R::TYPE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::md::MdMeta;

    #[test]
    fn decode_ignores_trailing_bytes() {
        let hb = MdHeartbeat::new(MdMeta::default());
        let mut slot = [0xAAu8; 256];
        slot[..64].copy_from_slice(hb.as_bytes());
        let msg = decode(&slot).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(msg, Message::MdHeartbeat(&hb));
        assert_eq!(msg.len(), 64);
        assert_eq!(msg.as_bytes(), hb.as_bytes());
        assert_eq!(msg.msg_type(), MessageType::MdHeartbeat);
        assert_eq!(msg.header(), hb.header());
    }

    #[test]
    fn typed_decode_of_other_type() {
        let hb = MdHeartbeat::new(MdMeta::default());
        assert_eq!(
            MdTrade::decode(hb.as_bytes()),
            Err(DecodeError::UnexpectedType {
                expected: 0x0113,
                found: 0x0100
            })
        );
    }
}
