//! MoldUDP64 downstream packets (NASDAQ MoldUDP64 Protocol Specification 1.00, §4),
//! the UDP framing that carries ITCH 5.0 in production.
//!
//! ```text
//!  0          10                18              20
//! +----------+-----------------+---------------+------------------------------------+
//! | Session  | Sequence Number | Message Count | Message Blocks: length u16 + bytes |
//! | 10 alpha | u64 BE          | u16 BE        | ...                                |
//! +----------+-----------------+---------------+------------------------------------+
//! ```
//!
//! The Sequence Number is that of the first message in the packet; a Message Count of 0
//! is a heartbeat (and the Sequence Number is the next one expected), 0xFFFF announces
//! the end of the session; neither carries message blocks. [`Packet`] is the zero-copy
//! view, [`PacketHeader`] the parsed header, [`Blocks`] iterates over the messages
//! (skipping a bad one by its block length, as the stream decoder does), and
//! [`PacketWriter`] builds a packet into a caller's buffer. Offsets in errors are bytes
//! from the start of the packet. No panics, no allocation, no I/O (the caller owns the
//! socket), no gap detection or retransmission requests (that is session state).

use core::ops::Range;

use super::error::{EmitError, ItchError};
use super::message::Message;
use super::stream::StreamStats;

/// Byte ranges of the MoldUDP64 downstream packet header (§4.1).
pub mod field {
    use core::ops::Range;

    /// Session: 10 bytes, alpha.
    pub const SESSION: Range<usize> = 0..10;
    /// Sequence Number: 8 bytes, of the first message in the packet.
    pub const SEQUENCE_NUMBER: Range<usize> = 10..18;
    /// Message Count: 2 bytes.
    pub const MESSAGE_COUNT: Range<usize> = 18..20;
    /// Start of the message blocks.
    pub const MESSAGES: usize = 20;
    /// Message Length within a message block: 2 bytes.
    pub const BLOCK_LENGTH: Range<usize> = 0..2;
}

/// Size of the packet header.
pub const HEADER_LEN: usize = field::MESSAGES;
/// Message Count of a heartbeat.
pub const HEARTBEAT_COUNT: u16 = 0;
/// Message Count announcing the end of the session.
pub const END_OF_SESSION_COUNT: u16 = 0xFFFF;
/// The most messages one packet can announce.
pub const MAX_MESSAGES: u16 = END_OF_SESSION_COUNT - 1;

/// Reads `N` bytes at `range` of `bytes`.
fn array<const N: usize>(bytes: &[u8], range: Range<usize>) -> Option<[u8; N]> {
    bytes.get(range).and_then(|b| b.try_into().ok())
}

/// A view over one MoldUDP64 downstream packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks (getters of missing bytes return zeros).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// A view, after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>, ItchError> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header is complete.
    pub fn check_len(&self) -> Result<(), ItchError> {
        let have = self.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(ItchError::TruncatedFrame {
                offset: 0,
                need: HEADER_LEN,
                have,
            });
        }
        Ok(())
    }

    /// Session.
    pub fn session(&self) -> [u8; 10] {
        array(self.buffer.as_ref(), field::SESSION).unwrap_or_default()
    }

    /// Sequence Number.
    pub fn sequence_number(&self) -> u64 {
        array(self.buffer.as_ref(), field::SEQUENCE_NUMBER).map_or(0, u64::from_be_bytes)
    }

    /// Message Count.
    pub fn message_count(&self) -> u16 {
        array(self.buffer.as_ref(), field::MESSAGE_COUNT).map_or(0, u16::from_be_bytes)
    }

    /// The message blocks.
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(field::MESSAGES..)
            .unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes `value` at `range` if it fits.
    fn put(&mut self, range: Range<usize>, value: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            for (d, s) in dst.iter_mut().zip(value) {
                *d = *s;
            }
        }
    }

    /// Sets the Session.
    pub fn set_session(&mut self, session: [u8; 10]) {
        self.put(field::SESSION, &session);
    }

    /// Sets the Sequence Number.
    pub fn set_sequence_number(&mut self, seq: u64) {
        self.put(field::SEQUENCE_NUMBER, &seq.to_be_bytes());
    }

    /// Sets the Message Count.
    pub fn set_message_count(&mut self, count: u16) {
        self.put(field::MESSAGE_COUNT, &count.to_be_bytes());
    }
}

/// What a packet carries, from its Message Count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// `count` message blocks (1 to [`MAX_MESSAGES`]).
    Messages {
        /// Number of message blocks.
        count: u16,
    },
    /// A heartbeat (count 0): the Sequence Number is the next one expected.
    Heartbeat,
    /// The end of the session (count 0xFFFF).
    EndOfSession,
}

impl PacketKind {
    /// The kind for a Message Count.
    pub const fn from_count(count: u16) -> PacketKind {
        match count {
            HEARTBEAT_COUNT => PacketKind::Heartbeat,
            END_OF_SESSION_COUNT => PacketKind::EndOfSession,
            count => PacketKind::Messages { count },
        }
    }

    /// The Message Count for this kind.
    pub const fn count(self) -> u16 {
        match self {
            PacketKind::Messages { count } => count,
            PacketKind::Heartbeat => HEARTBEAT_COUNT,
            PacketKind::EndOfSession => END_OF_SESSION_COUNT,
        }
    }
}

/// The parsed packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketHeader {
    /// Session name.
    pub session: [u8; 10],
    /// Sequence number of the first message (next expected, for a heartbeat).
    pub sequence_number: u64,
    /// What the packet carries.
    pub kind: PacketKind,
}

impl PacketHeader {
    /// Parses the header; a heartbeat or end of session must carry no message blocks.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<PacketHeader, ItchError> {
        packet.check_len()?;
        let kind = PacketKind::from_count(packet.message_count());
        let payload = packet.payload().len();
        if !matches!(kind, PacketKind::Messages { .. }) && payload != 0 {
            return Err(ItchError::TrailingBytes {
                offset: HEADER_LEN,
                len: payload,
            });
        }
        Ok(PacketHeader {
            session: packet.session(),
            sequence_number: packet.sequence_number(),
            kind,
        })
    }

    /// Writes the header (the buffer must hold [`HEADER_LEN`] bytes).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_session(self.session);
        packet.set_sequence_number(self.sequence_number);
        packet.set_message_count(self.kind.count());
    }
}

/// Parses a packet: its header and an iterator over its messages.
pub fn parse(packet: &[u8]) -> Result<(PacketHeader, Blocks<'_>), ItchError> {
    let p = Packet::new_checked(packet)?;
    let header = PacketHeader::parse(&p)?;
    let count = match header.kind {
        PacketKind::Messages { count } => count,
        PacketKind::Heartbeat | PacketKind::EndOfSession => 0,
    };
    let blocks = Blocks {
        payload: packet.get(HEADER_LEN..).unwrap_or_default(),
        pos: 0,
        remaining: count,
        next_seq: header.sequence_number,
        stats: StreamStats::default(),
        done: false,
    };
    Ok((header, blocks))
}

/// The messages of one packet, each with its sequence number. A bad message is reported
/// and skipped; a block running past the end of the packet, or bytes after the announced
/// count, end the iteration with an error.
#[derive(Clone, Debug)]
pub struct Blocks<'a> {
    payload: &'a [u8],
    pos: usize,
    remaining: u16,
    next_seq: u64,
    stats: StreamStats,
    done: bool,
}

impl Blocks<'_> {
    /// Counters so far (skipped bad messages and their bytes).
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The sequence number the next message would carry.
    pub fn next_sequence_number(&self) -> u64 {
        self.next_seq
    }
}

impl Iterator for Blocks<'_> {
    type Item = Result<(u64, Message), ItchError>;

    fn next(&mut self) -> Option<Result<(u64, Message), ItchError>> {
        if self.done {
            return None;
        }
        let rest = self.payload.get(self.pos..).unwrap_or_default();
        let offset = HEADER_LEN + self.pos;
        if self.remaining == 0 {
            self.done = true;
            return (!rest.is_empty()).then_some(Err(ItchError::TrailingBytes {
                offset,
                len: rest.len(),
            }));
        }
        let Some(len) = array(rest, field::BLOCK_LENGTH).map(u16::from_be_bytes) else {
            self.done = true;
            return Some(Err(ItchError::TruncatedFrame {
                offset,
                need: field::BLOCK_LENGTH.end,
                have: rest.len(),
            }));
        };
        let len = usize::from(len);
        let need = field::BLOCK_LENGTH.end + len;
        let Some(bytes) = rest.get(field::BLOCK_LENGTH.end..need) else {
            self.done = true;
            return Some(Err(ItchError::TruncatedFrame {
                offset,
                need,
                have: rest.len(),
            }));
        };
        self.pos += need;
        self.remaining -= 1;
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        Some(match Message::parse(bytes) {
            Ok(m) => {
                self.stats.messages += 1;
                Ok((seq, m))
            }
            Err(e) => {
                self.stats.skipped += 1;
                self.stats.skipped_bytes += need as u64;
                Err(e.rebase(offset + field::BLOCK_LENGTH.end))
            }
        })
    }
}

/// Builds a packet of messages in a caller's buffer.
#[derive(Debug)]
pub struct PacketWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    count: u16,
}

impl<'b> PacketWriter<'b> {
    /// Starts a packet whose first message has sequence number `sequence_number`.
    pub fn new(
        buf: &'b mut [u8],
        session: [u8; 10],
        sequence_number: u64,
    ) -> Result<PacketWriter<'b>, EmitError> {
        let have = buf.len();
        let Some(head) = buf.get_mut(..HEADER_LEN) else {
            return Err(EmitError::BufferTooSmall {
                need: HEADER_LEN,
                have,
            });
        };
        PacketHeader {
            session,
            sequence_number,
            kind: PacketKind::Heartbeat,
        }
        .emit(&mut Packet::new_unchecked(head));
        Ok(PacketWriter {
            buf,
            len: HEADER_LEN,
            count: 0,
        })
    }

    /// Appends one message block.
    pub fn push(&mut self, msg: &Message) -> Result<(), EmitError> {
        if self.count == MAX_MESSAGES {
            return Err(EmitError::PacketFull { count: self.count });
        }
        let free = self.buf.get_mut(self.len..).unwrap_or_default();
        let n = super::stream::encode(msg, free).map_err(|e| match e {
            EmitError::BufferTooSmall { need, have } => EmitError::BufferTooSmall {
                need: need + self.len,
                have: have + self.len,
            },
            other => other,
        })?;
        self.len += n;
        self.count += 1;
        Ok(())
    }

    /// Messages so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Writes the Message Count and returns the packet's length. A packet with no message
    /// is a heartbeat.
    pub fn finish(self) -> usize {
        let count = self.count;
        let len = self.len;
        if let Some(head) = self.buf.get_mut(..HEADER_LEN) {
            Packet::new_unchecked(head).set_message_count(count);
        }
        len
    }
}

/// Writes a heartbeat or end-of-session packet (no message blocks); returns its length.
pub fn emit_control(
    buf: &mut [u8],
    session: [u8; 10],
    sequence_number: u64,
    end_of_session: bool,
) -> Result<usize, EmitError> {
    let have = buf.len();
    let Some(head) = buf.get_mut(..HEADER_LEN) else {
        return Err(EmitError::BufferTooSmall {
            need: HEADER_LEN,
            have,
        });
    };
    let kind = if end_of_session {
        PacketKind::EndOfSession
    } else {
        PacketKind::Heartbeat
    };
    PacketHeader {
        session,
        sequence_number,
        kind,
    }
    .emit(&mut Packet::new_unchecked(head));
    Ok(HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itch::{BrokenTrade, Header};

    const SESSION: [u8; 10] = *b"0000012345";

    fn broken(m: u64) -> Message {
        BrokenTrade {
            header: Header::default(),
            match_number: m,
        }
        .into()
    }

    /// §4.1 downstream packet: session "0000012345", sequence 7, two Broken Trade blocks.
    static TWO_MESSAGES: [u8; 62] = [
        b'0', b'0', b'0', b'0', b'0', b'1', b'2', b'3', b'4', b'5', // Session
        0, 0, 0, 0, 0, 0, 0, 7, // Sequence Number
        0, 2, // Message Count
        0, 19, b'B', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // block 1
        0, 19, b'B', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // block 2
    ];

    #[test]
    fn parses_the_vector_and_writes_it_back() {
        let (h, blocks) = parse(&TWO_MESSAGES).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.session, SESSION);
        assert_eq!(h.sequence_number, 7);
        assert_eq!(h.kind, PacketKind::Messages { count: 2 });
        let msgs: Vec<_> = blocks.collect();
        assert_eq!(msgs, vec![Ok((7, broken(1))), Ok((8, broken(2)))]);

        let mut buf = [0u8; 100];
        let mut w = PacketWriter::new(&mut buf, SESSION, 7).unwrap_or_else(|e| panic!("{e}"));
        for m in [broken(1), broken(2)] {
            w.push(&m).unwrap_or_else(|e| panic!("{e}"));
        }
        let n = w.finish();
        assert_eq!(&buf[..n], &TWO_MESSAGES[..]);
    }

    #[test]
    fn heartbeat_and_end_of_session() {
        let mut buf = [0u8; 20];
        assert_eq!(emit_control(&mut buf, SESSION, 9, false), Ok(20));
        let (h, mut b) = parse(&buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((h.kind, h.sequence_number), (PacketKind::Heartbeat, 9));
        assert_eq!(b.next(), None);
        assert_eq!(emit_control(&mut buf, SESSION, 9, true), Ok(20));
        assert_eq!(buf[18..20], [0xff, 0xff]);
        let (h, _) = parse(&buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.kind, PacketKind::EndOfSession);
        let mut with_payload = buf.to_vec();
        with_payload.push(0);
        assert_eq!(
            parse(&with_payload).map(|(h, _)| h),
            Err(ItchError::TrailingBytes { offset: 20, len: 1 })
        );
    }

    #[test]
    fn bad_blocks_are_skipped_or_end_the_packet() {
        let mut p = TWO_MESSAGES;
        p[22] = b'z'; // first block: unknown type
        let (_, mut b) = parse(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b.next(),
            Some(Err(ItchError::UnknownType {
                offset: 22,
                msg_type: b'z'
            }))
        );
        assert_eq!(b.next(), Some(Ok((8, broken(2)))));
        assert_eq!(b.next(), None);
        assert_eq!(b.stats().skipped, 1);

        let (_, b) = parse(&TWO_MESSAGES[..50]).unwrap_or_else(|e| panic!("{e}"));
        let last = b.last();
        assert_eq!(
            last,
            Some(Err(ItchError::TruncatedFrame {
                offset: 41,
                need: 21,
                have: 9
            }))
        );

        let mut extra = TWO_MESSAGES.to_vec();
        extra.extend_from_slice(&[1, 2, 3]);
        let (_, b) = parse(&extra).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b.last(),
            Some(Err(ItchError::TrailingBytes { offset: 62, len: 3 }))
        );
        assert_eq!(
            parse(&TWO_MESSAGES[..19]).map(|(h, _)| h),
            Err(ItchError::TruncatedFrame {
                offset: 0,
                need: 20,
                have: 19
            })
        );
    }

    #[test]
    fn writer_reports_a_full_buffer() {
        let mut buf = [0u8; 30];
        let mut w = PacketWriter::new(&mut buf, SESSION, 1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            w.push(&broken(1)),
            Err(EmitError::BufferTooSmall { need: 41, have: 30 })
        );
        assert_eq!(w.count(), 0);
        assert_eq!(w.finish(), 20);
        let mut tiny = [0u8; 5];
        assert!(PacketWriter::new(&mut tiny, SESSION, 1).is_err());
    }
}
