//! The length-prefixed framing of NASDAQ's ITCH 5.0 sample files: each message is
//! preceded by its length as a 2-byte big-endian integer.
//!
//! [`StreamDecoder`] walks a buffer (a whole file or a chunk of one). A message whose
//! bytes are bad (unknown type, short, longer than its type's size, invalid field) is
//! reported as an [`ItchError`] and skipped by its length prefix, so decoding resumes at
//! the next message; the decoder counts what it skipped ([`StreamStats`]). An incomplete
//! message at the end of the buffer is not an error while more bytes may come: it is left
//! in [`StreamDecoder::remainder`] for the caller to carry over, and
//! [`StreamDecoder::finish`] reports it when the input has ended. Never panics, never
//! allocates, performs no I/O: the caller reads files and hands bytes over.

use super::error::{EmitError, ItchError};
use super::frame::Frame;
use super::message::Message;

/// Size of the length prefix in bytes.
pub const PREFIX_LEN: usize = 2;

/// What a [`StreamDecoder`] has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StreamStats {
    /// Messages decoded successfully.
    pub messages: u64,
    /// Bad messages skipped.
    pub skipped: u64,
    /// Bytes skipped with them, length prefixes included.
    pub skipped_bytes: u64,
}

/// Decodes a buffer of length-prefixed ITCH messages; an iterator of parsed messages.
#[derive(Clone, Debug)]
pub struct StreamDecoder<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    stats: StreamStats,
}

impl<'a> StreamDecoder<'a> {
    /// A decoder over `buf`; error offsets are positions in `buf`.
    pub fn new(buf: &'a [u8]) -> StreamDecoder<'a> {
        StreamDecoder::with_base_offset(buf, 0)
    }

    /// A decoder over `buf`, a chunk that starts at byte `base` of a longer stream; error
    /// offsets are positions in that stream.
    pub fn with_base_offset(buf: &'a [u8], base: usize) -> StreamDecoder<'a> {
        StreamDecoder {
            buf,
            pos: 0,
            base,
            stats: StreamStats::default(),
        }
    }

    /// The next complete message's stream offset and bytes, without checking them; `None`
    /// when no complete message is left.
    fn next_raw(&mut self) -> Option<(usize, &'a [u8])> {
        let rest = self.buf.get(self.pos..)?;
        let prefix: [u8; PREFIX_LEN] = rest.get(..PREFIX_LEN)?.try_into().ok()?;
        let len = usize::from(u16::from_be_bytes(prefix));
        let bytes = rest.get(PREFIX_LEN..PREFIX_LEN + len)?;
        let offset = self.base.saturating_add(self.pos + PREFIX_LEN);
        self.pos += PREFIX_LEN + len;
        Some((offset, bytes))
    }

    /// Counts a skipped message of `len` bytes and moves its error to stream offsets.
    fn skip(&mut self, len: usize, err: ItchError, offset: usize) -> ItchError {
        self.stats.skipped += 1;
        self.stats.skipped_bytes += (PREFIX_LEN + len) as u64;
        err.rebase(offset)
    }

    /// The next message as a zero-copy [`Frame`] whose type and length are checked (field
    /// values are not); a bad message is skipped and reported.
    pub fn next_frame(&mut self) -> Option<Result<Frame<&'a [u8]>, ItchError>> {
        let (offset, bytes) = self.next_raw()?;
        Some(match Frame::new_checked(bytes) {
            Ok(frame) => {
                self.stats.messages += 1;
                Ok(frame)
            }
            Err(e) => Err(self.skip(bytes.len(), e, offset)),
        })
    }

    /// The bytes not consumed yet: an incomplete message at the end of the buffer.
    pub fn remainder(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Bytes of the buffer consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The counters, or an error if the input ended inside a message.
    pub fn finish(&self) -> Result<StreamStats, ItchError> {
        let rest = self.remainder();
        if rest.is_empty() {
            return Ok(self.stats);
        }
        let need = match rest {
            [a, b, ..] => PREFIX_LEN + usize::from(u16::from_be_bytes([*a, *b])),
            _ => PREFIX_LEN,
        };
        Err(ItchError::TruncatedFrame {
            offset: self.base.saturating_add(self.pos),
            need,
            have: rest.len(),
        })
    }
}

impl Iterator for StreamDecoder<'_> {
    type Item = Result<Message, ItchError>;

    fn next(&mut self) -> Option<Result<Message, ItchError>> {
        let (offset, bytes) = self.next_raw()?;
        Some(match Message::parse(bytes) {
            Ok(m) => {
                self.stats.messages += 1;
                Ok(m)
            }
            Err(e) => Err(self.skip(bytes.len(), e, offset)),
        })
    }
}

/// Writes `msg` with its length prefix at the start of `out`; returns the bytes written.
pub fn encode(msg: &Message, out: &mut [u8]) -> Result<usize, EmitError> {
    let len = msg.wire_len();
    let need = PREFIX_LEN + len;
    let have = out.len();
    let Some((prefix, body)) = out
        .get_mut(..need)
        .and_then(|frame| frame.split_first_chunk_mut::<PREFIX_LEN>())
    else {
        return Err(EmitError::BufferTooSmall { need, have });
    };
    // Every ITCH message is at most 50 bytes, so its length fits the prefix.
    *prefix = (len as u16).to_be_bytes();
    msg.emit(body)?;
    Ok(need)
}

/// Appends `msg` with its length prefix to `out`.
pub fn append(msg: &Message, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + PREFIX_LEN + msg.wire_len(), 0);
    if let Some(tail) = out.get_mut(start..) {
        // The tail was just sized to fit, so this cannot fail.
        let _ = encode(msg, tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itch::{Header, OrderDelete, SystemEvent, event_code};

    fn delete(r: u64) -> Message {
        OrderDelete {
            header: Header::default(),
            order_reference_number: r,
        }
        .into()
    }

    #[test]
    fn decodes_skips_and_resynchronises() {
        let mut buf = Vec::new();
        append(&delete(1), &mut buf);
        // A message with an unknown type, then one too short for its type.
        buf.extend_from_slice(&[0, 3, b'Z', 0, 0]);
        buf.extend_from_slice(&[0, 2, b'D', 0]);
        buf.extend_from_slice(&[0, 0]); // empty message
        append(&delete(2), &mut buf);
        let mut d = StreamDecoder::with_base_offset(&buf, 1000);
        assert_eq!(d.next(), Some(Ok(delete(1))));
        assert_eq!(
            d.next(),
            Some(Err(ItchError::UnknownType {
                offset: 1023,
                msg_type: b'Z'
            }))
        );
        assert_eq!(
            d.next(),
            Some(Err(ItchError::Truncated {
                offset: 1028,
                msg_type: b'D',
                need: 19,
                have: 2
            }))
        );
        assert_eq!(d.next(), Some(Err(ItchError::Empty { offset: 1032 })));
        assert_eq!(d.next(), Some(Ok(delete(2))));
        assert_eq!(d.next(), None);
        assert_eq!(
            d.finish(),
            Ok(StreamStats {
                messages: 2,
                skipped: 3,
                skipped_bytes: 11
            })
        );
    }

    #[test]
    fn incomplete_tail_is_left_for_the_caller() {
        let mut buf = Vec::new();
        append(&delete(1), &mut buf);
        append(&delete(2), &mut buf);
        let cut = buf.len() - 5;
        let mut d = StreamDecoder::new(&buf[..cut]);
        assert!(matches!(d.next_frame(), Some(Ok(f)) if f.msg_type() == b'D'));
        assert!(d.next_frame().is_none());
        assert_eq!(d.remainder().len(), 21 - 5);
        assert_eq!(
            d.finish(),
            Err(ItchError::TruncatedFrame {
                offset: 21,
                need: 21,
                have: 16
            })
        );
        let mut one = StreamDecoder::new(&[0u8][..]);
        assert_eq!(one.next(), None);
        assert_eq!(
            one.finish(),
            Err(ItchError::TruncatedFrame {
                offset: 0,
                need: 2,
                have: 1
            })
        );
    }

    #[test]
    fn encode_checks_the_buffer() {
        let m: Message = SystemEvent {
            header: Header::default(),
            event_code: event_code::START_OF_MESSAGES,
        }
        .into();
        let mut out = [0u8; 14];
        assert_eq!(encode(&m, &mut out), Ok(14));
        assert_eq!(out[..3], [0, 12, b'S']);
        assert_eq!(
            encode(&m, &mut out[..13]),
            Err(EmitError::BufferTooSmall { need: 14, have: 13 })
        );
        assert_eq!(
            encode(&m, &mut out[..1]),
            Err(EmitError::BufferTooSmall { need: 14, have: 1 })
        );
    }
}
