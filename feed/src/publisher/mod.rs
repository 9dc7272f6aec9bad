//! The market data publisher and its subscribers over RDMA: [`Publisher`] (an [`Agent`])
//! decodes ITCH, updates the books through a [`FeedHandler`] and writes every normalized
//! wire record into each subscriber's [`RingWriter`]; [`Subscriber`] reads its ring,
//! rebuilds the books from the records, and resyncs from a snapshot after a loss.
//!
//! # Connections
//!
//! A subscriber owns two RC connections to the publisher's listener:
//!
//! - its **ring** (lossy, RDMA WRITE): the connection request's private data is the
//!   [`RingDescriptor`] followed by an 8-byte little-endian subscriber token
//!   ([`RING_REQUEST_LEN`] bytes in all);
//! - its **control channel** (lossless [`MessageChannel`]): whose first message is a
//!   [`Control::Hello`] carrying the same token.
//!
//! [`SubscriberAcceptor`] accepts requests in any interleaving from any number of
//! subscribers and pairs the two halves by token into a [`SubscriberLink`] for
//! [`Publisher::add_subscriber`]. Setup blocks (bounded by a timeout) and allocates;
//! it happens before the agent runs.
//!
//! # Sequencing, loss and resync
//!
//! Every record the feed handler produces takes the next feed sequence number and goes
//! to every ring, so each subscriber sees consecutive `feed_seq`s; an
//! [`MdHeartbeat`] (sent when nothing was published for
//! [`PublisherConfig::heartbeat_interval`]) repeats the last one. A subscriber applies
//! a record only if its `feed_seq` is exactly one more than the last it applied. A ring
//! [`RingPoll::Gap`] (lapped), a `feed_seq` jump (the publisher could not write to this
//! ring), a heartbeat ahead of the last applied record, or a record the book refuses all
//! mean the books are stale: the subscriber reports [`SubscriberEvent::Lost`], stops
//! reading its ring (it keeps driving the ring's connection so the publisher never
//! stalls) and sends a [`Control::ResyncRequest`].
//!
//! The publisher answers on the control channel, between two ITCH messages, with a
//! snapshot consistent with its last feed sequence number `S`:
//! [`Control::SnapshotBegin`], then per requested instrument every live order as an
//! [`MdAddOrder`] and the price levels as [`MdBookSnapshotChunk`]s (all stamped
//! `feed_seq = S`), then [`Control::SnapshotEnd`]. The subscriber rebuilds the books
//! from the orders, checks every chunk against them (a mismatch is a torn snapshot:
//! it asks again), and only then reports [`SubscriberEvent::Resynced`]. It then reads
//! its ring again, drops records with `feed_seq <= S` and continues from `S + 1`; if
//! the ring no longer holds `S + 1` it is a new loss and a new request. So a subscriber
//! never hands out a record applied to a torn or stale book.
//!
//! # Control frames
//!
//! Every control-channel message is a [`Control`] frame (layout on [`Control`]);
//! [`Control::parse`] and [`Control::emit`] are a pair, and parsing never panics.
//!
//! # What this module must not do
//!
//! It must not read a clock (time is the duty cycle's `now`), block the publisher on a
//! subscriber (a full send queue drops that subscriber's copy, which it then detects;
//! control frames wait in a per-subscriber outbox), or allocate in the steady state:
//! only connection setup and building a snapshot (a resync, not the steady state) may
//! grow buffers.

use std::net::SocketAddr;
use std::time::Duration;

use thiserror::Error;
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, ChannelSetupError, MessageChannel};
use tickwarp_rdma::ring::{
    PollError, PublishError, RingConfig, RingDescriptor, RingError, RingPoll, RingReader,
    RingWriter, RingWriterConfig, SeqPlacement,
};
use tickwarp_rdma::verbs::{
    CmError, ConnectParams, ConnectRequest, Device, Listener, ProtectionDomain, QpInit, QueuePair,
    VerbsError,
};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_runtime::{Agent, AgentError, Nanos};
use tickwarp_wire::{
    BookLevel, DecodeError, InstrumentId, IntoBytes, MdAddOrder, MdBookSnapshotChunk, MdHeartbeat,
    MdMeta, Message as WireMessage, MessageType, Qty, SeqNo, UnixNanos, decode,
};

use crate::book::{BookCapacity, FeedConfig, FeedHandler, OrderBook};
use crate::itch::stream::StreamDecoder;
use crate::itch::{ItchError, Message};
use crate::recorder::{Recorder, RecorderError};
use crate::synth::{Scheduled, SynthFeed};

/// Bytes of a ring connection request's private data: descriptor, then the token.
pub const RING_REQUEST_LEN: usize = RingDescriptor::LEN + 8;
/// Bytes in front of every control frame's body.
pub const CONTROL_PREFIX: usize = 8;
/// Largest control frame: the prefix and the largest wire record.
pub const MAX_CONTROL_FRAME: usize = CONTROL_PREFIX + MessageType::MAX_LEN;
/// Most instruments one resync request names.
pub const MAX_REQUEST_INSTRUMENTS: usize = 32;
/// Largest record the publisher writes into a ring (the top of book).
pub const MAX_RING_RECORD: usize = MessageType::MdBboUpdate.record_len();

/// Control frame kinds.
const KIND_HELLO: u8 = 1;
const KIND_RESYNC: u8 = 2;
const KIND_BEGIN: u8 = 3;
const KIND_RECORD: u8 = 4;
const KIND_END: u8 = 5;
/// Frame lengths of the fixed-size kinds.
const HELLO_LEN: usize = 16;
const BEGIN_LEN: usize = 32;
const END_LEN: usize = 24;
/// Ring records a subscriber looks at per poll before it yields `None`.
const POLL_BUDGET: usize = 64;
/// Bytes of the length in front of each frame in a publisher's outbox.
const OUTBOX_LEN_PREFIX: usize = 2;

mod control;
mod input;
mod setup;
mod subscriber;

pub use control::*;
pub use input::*;
pub use setup::*;
pub use subscriber::*;

/// Publisher settings.
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    /// Agent name.
    pub name: String,
    /// Books and instruments.
    pub feed: FeedConfig,
    /// ITCH messages handled per duty cycle at most (at least 1).
    pub batch: usize,
    /// A heartbeat goes out when nothing was published for this long.
    pub heartbeat_interval: Duration,
    /// Price levels per side in a snapshot.
    pub snapshot_depth: usize,
    /// Bytes reserved up front for each subscriber's outgoing snapshot frames.
    pub outbox_bytes: usize,
}

impl Default for PublisherConfig {
    /// 16 messages per cycle, 100 ms heartbeats, 64-level snapshots, 64 KiB outboxes.
    fn default() -> PublisherConfig {
        PublisherConfig {
            name: "feed-publisher".to_owned(),
            feed: FeedConfig::default(),
            batch: 16,
            heartbeat_interval: Duration::from_millis(100),
            snapshot_depth: 64,
            outbox_bytes: 64 << 10,
        }
    }
}

/// Counters of one subscriber link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LinkStats {
    /// Records written into the ring (heartbeats included).
    pub published: u64,
    /// Records not written because the send queue stayed full (the subscriber detects
    /// the jump and resyncs).
    pub dropped: u64,
    /// Snapshots sent.
    pub snapshots: u64,
    /// Control frames the link refused (malformed, or a request while one is served).
    pub bad_control: u64,
}

/// Counters of a [`Publisher`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PublisherStats {
    /// ITCH messages handled.
    pub messages: u64,
    /// ITCH messages that failed to decode (skipped).
    pub decode_errors: u64,
    /// ITCH messages the books refused (skipped; see [`FeedHandler::stats`]).
    pub feed_errors: u64,
    /// Records published (to every live link).
    pub records: u64,
    /// Heartbeats published.
    pub heartbeats: u64,
    /// Links closed because their subscriber went away.
    pub closed_links: u64,
}

/// Why the publisher stopped.
#[derive(Debug, Error)]
pub enum PublisherError {
    /// The recorder failed.
    #[error("recorder: {0}")]
    Record(#[from] RecorderError),
    /// A ring write failed for a reason other than backpressure or a closed peer.
    #[error("ring of subscriber {token:#x}: {error}")]
    Ring {
        /// The subscriber.
        token: u64,
        /// What failed.
        error: PublishError,
    },
}

/// A subscriber as the publisher sees it: ring writer, control channel, outbox.
#[derive(Debug)]
pub struct SubscriberLink {
    token: u64,
    writer: RingWriter,
    control: MessageChannel,
    /// Control frames to send, each preceded by its length (u16 LE).
    outbox: Vec<u8>,
    /// Bytes of `outbox` already sent.
    sent: usize,
    /// The request being answered.
    serving: Option<u32>,
    closed: bool,
    stats: LinkStats,
    recv: [u8; MAX_CONTROL_FRAME],
}

impl SubscriberLink {
    /// The subscriber's token.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Whether the subscriber went away.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// The publisher agent (module docs).
#[derive(Debug)]
pub struct Publisher<I> {
    config: PublisherConfig,
    input: I,
    feed: FeedHandler,
    links: Vec<SubscriberLink>,
    recorder: Option<Recorder>,
    last_publish: Option<Nanos>,
    last_venue_ts: UnixNanos,
    stats: PublisherStats,
}

impl<I: ItchInput> Publisher<I> {
    /// A publisher of `input` with no subscriber yet.
    pub fn new(config: PublisherConfig, input: I) -> Publisher<I> {
        let feed = FeedHandler::new(config.feed.clone());
        Publisher {
            config,
            input,
            feed,
            links: Vec::new(),
            recorder: None,
            last_publish: None,
            last_venue_ts: UnixNanos::ZERO,
            stats: PublisherStats::default(),
        }
    }

    /// Records every published record into `recorder` from now on.
    pub fn with_recorder(mut self, recorder: Recorder) -> Publisher<I> {
        self.recorder = Some(recorder);
        self
    }

    /// Adds a subscriber (set-up time: this may allocate).
    pub fn add_subscriber(&mut self, mut link: SubscriberLink) {
        link.outbox.reserve(self.config.outbox_bytes);
        self.links.push(link);
    }

    /// The books.
    pub fn feed(&self) -> &FeedHandler {
        &self.feed
    }

    /// The subscribers.
    pub fn links(&self) -> &[SubscriberLink] {
        &self.links
    }

    /// Counters.
    pub fn stats(&self) -> PublisherStats {
        self.stats
    }

    /// The input (to ask it why it finished).
    pub fn input(&self) -> &I {
        &self.input
    }

    /// Whether the input is exhausted.
    pub fn input_finished(&self) -> bool {
        self.input.is_finished()
    }

    /// The recorder, if any.
    pub fn recorder_mut(&mut self) -> Option<&mut Recorder> {
        self.recorder.as_mut()
    }

    /// Removes and returns the recorder (to finish it).
    pub fn take_recorder(&mut self) -> Option<Recorder> {
        self.recorder.take()
    }

    /// Writes one record into every live ring and the recorder.
    fn publish(&mut self, record: &[u8], now: Nanos) -> Result<(), PublisherError> {
        for link in self.links.iter_mut().filter(|l| !l.closed) {
            match link.writer.publish(record) {
                Ok(_) => link.stats.published += 1,
                Err(PublishError::SendQueueFull { .. }) => link.stats.dropped += 1,
                Err(PublishError::Disconnected) => {
                    link.closed = true;
                    self.stats.closed_links += 1;
                }
                Err(error) => {
                    return Err(PublisherError::Ring {
                        token: link.token,
                        error,
                    });
                }
            }
        }
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.record(record, now)?;
        }
        self.last_publish = Some(now);
        Ok(())
    }

    /// Reads control frames and sends queued ones; returns the work done.
    fn service_links(&mut self, now: Nanos) -> usize {
        let mut work = 0;
        let feed = &self.feed;
        let depth = self.config.snapshot_depth;
        let venue_ts = self.last_venue_ts;
        for link in self.links.iter_mut().filter(|l| !l.closed) {
            loop {
                let len = match link.control.try_recv(&mut link.recv) {
                    Ok(Some(len)) => len,
                    Ok(None) => break,
                    Err(_) => {
                        link.closed = true;
                        self.stats.closed_links += 1;
                        break;
                    }
                };
                work += 1;
                match Control::parse(link.recv.get(..len).unwrap_or_default()) {
                    Ok(Control::ResyncRequest {
                        request_id,
                        instruments,
                    }) if link.serving.is_none() => {
                        build_snapshot(link, feed, request_id, &instruments, venue_ts, now, depth);
                    }
                    _ => link.stats.bad_control += 1,
                }
            }
            if link.closed {
                continue;
            }
            work += flush_outbox(link);
            if link.closed {
                self.stats.closed_links += 1;
            }
        }
        work
    }
}

/// Queues the snapshot answering `request_id` into the link's outbox.
fn build_snapshot(
    link: &mut SubscriberLink,
    feed: &FeedHandler,
    request_id: u32,
    instruments: &InstrumentList,
    venue_ts: UnixNanos,
    now: Nanos,
    depth: usize,
) {
    let feed_seq = feed.last_seq();
    let count = feed
        .books()
        .filter(|(id, _, _)| instruments.covers(*id))
        .count();
    push_frame(
        &mut link.outbox,
        &Control::SnapshotBegin {
            request_id,
            feed_seq,
            venue_ts,
            instruments: count as u32,
        },
    );
    let mut records = 0u32;
    for (instrument, _, book) in feed.books().filter(|(id, _, _)| instruments.covers(*id)) {
        let meta = MdMeta {
            instrument,
            feed_seq,
            venue_ts,
            recv_ts: now,
        };
        for (order_ref, order) in book.orders() {
            let add = MdAddOrder::new(meta, order_ref, order.side, order.price, order.qty);
            push_frame(
                &mut link.outbox,
                &Control::SnapshotRecord {
                    request_id,
                    record: add.as_bytes(),
                },
            );
            records += 1;
        }
        for chunk in book.snapshot(meta, depth) {
            push_frame(
                &mut link.outbox,
                &Control::SnapshotRecord {
                    request_id,
                    record: chunk.as_bytes(),
                },
            );
            records += 1;
        }
    }
    push_frame(
        &mut link.outbox,
        &Control::SnapshotEnd {
            request_id,
            feed_seq,
            records,
        },
    );
    link.serving = Some(request_id);
    link.stats.snapshots += 1;
}

/// Appends a frame, preceded by its length, to an outbox.
fn push_frame(outbox: &mut Vec<u8>, frame: &Control<'_>) {
    let mut buf = [0u8; MAX_CONTROL_FRAME];
    if let Ok(len) = frame.emit(&mut buf) {
        outbox.extend_from_slice(&(len as u16).to_le_bytes());
        outbox.extend_from_slice(buf.get(..len).unwrap_or_default());
    }
}

/// Sends queued control frames until the channel pushes back; returns frames sent.
fn flush_outbox(link: &mut SubscriberLink) -> usize {
    let mut sent = 0;
    while link.sent < link.outbox.len() {
        let at = link.sent;
        let len = link
            .outbox
            .get(at..at + OUTBOX_LEN_PREFIX)
            .and_then(|b| <[u8; OUTBOX_LEN_PREFIX]>::try_from(b).ok())
            .map_or(0, |b| usize::from(u16::from_le_bytes(b)));
        let start = at + OUTBOX_LEN_PREFIX;
        let frame = link.outbox.get(start..start + len).unwrap_or_default();
        match link.control.try_send(frame) {
            Ok(()) => {
                link.sent = start + len;
                sent += 1;
            }
            Err(ChannelError::WouldBlock) => return sent,
            Err(_) => {
                link.closed = true;
                return sent;
            }
        }
    }
    if !link.outbox.is_empty() {
        link.outbox.clear();
        link.sent = 0;
        link.serving = None;
    }
    sent
}

impl<I: ItchInput> Agent for Publisher<I> {
    fn role_name(&self) -> &str {
        &self.config.name
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let mut work = self.service_links(now);
        for _ in 0..self.config.batch.max(1) {
            let Some(next) = self.input.poll_message(now) else {
                break;
            };
            work += 1;
            self.stats.messages += 1;
            let msg = match next {
                Ok(msg) => msg,
                Err(_) => {
                    self.stats.decode_errors += 1;
                    continue;
                }
            };
            let Ok(published) = self.feed.handle_message(&msg, now) else {
                self.stats.feed_errors += 1;
                continue;
            };
            for record in published.iter() {
                self.last_venue_ts = record.meta().venue_ts;
                self.publish(record.as_bytes(), now)?;
                self.stats.records += 1;
            }
        }
        let quiet = self.last_publish.is_none_or(|last| {
            now.saturating_sub(last) >= Nanos::from(self.config.heartbeat_interval)
        });
        if work == 0 && quiet && !self.links.is_empty() {
            let hb = MdHeartbeat::new(MdMeta {
                instrument: InstrumentId::NONE,
                feed_seq: self.feed.last_seq(),
                venue_ts: self.last_venue_ts,
                recv_ts: now,
            });
            self.publish(hb.as_bytes(), now)?;
            self.stats.heartbeats += 1;
            work += 1;
        }
        for link in self.links.iter_mut().filter(|l| !l.closed) {
            // Retires finished WRITEs; a failure shows on the next publish.
            let _ = link.writer.reap();
        }
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.poll(now).map_err(PublisherError::from)?;
        }
        Ok(work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickwarp_wire::{Price, Side};

    fn round_trip(frame: Control<'_>) {
        let mut buf = [0u8; MAX_CONTROL_FRAME];
        let len = frame.emit(&mut buf).unwrap();
        assert_eq!(len, frame.len());
        assert_eq!(Control::parse(&buf[..len]), Ok(frame));
    }

    #[test]
    fn frames_round_trip() {
        round_trip(Control::Hello { token: 0xfeed });
        round_trip(Control::ResyncRequest {
            request_id: 7,
            instruments: InstrumentList::new(&[InstrumentId(1), InstrumentId(9)]).unwrap(),
        });
        round_trip(Control::ResyncRequest {
            request_id: 8,
            instruments: InstrumentList::ALL,
        });
        round_trip(Control::SnapshotBegin {
            request_id: 7,
            feed_seq: SeqNo(42),
            venue_ts: UnixNanos(5),
            instruments: 2,
        });
        let add = MdAddOrder::new(
            MdMeta::default(),
            3,
            Side::Buy,
            Price::from_ticks(100),
            Qty(5),
        );
        round_trip(Control::SnapshotRecord {
            request_id: 7,
            record: add.as_bytes(),
        });
        round_trip(Control::SnapshotEnd {
            request_id: 7,
            feed_seq: SeqNo(42),
            records: 12,
        });
    }

    #[test]
    fn frame_layout_is_fixed() {
        let mut buf = [0u8; 32];
        let len = Control::SnapshotEnd {
            request_id: 2,
            feed_seq: SeqNo(0x0102),
            records: 3,
        }
        .emit(&mut buf)
        .unwrap();
        assert_eq!(
            &buf[..len],
            &[
                5, 0, 0, 0, 2, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert_eq!(
            Control::parse(&[1, 0, 0]),
            Err(ControlError::Truncated { need: 8, have: 3 })
        );
        assert_eq!(
            Control::parse(&[9, 0, 0, 0, 0, 0, 0, 0]),
            Err(ControlError::Kind(9))
        );
        assert_eq!(
            Control::parse(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(ControlError::Reserved)
        );
        let mut req = [0u8; 12];
        req[0] = KIND_RESYNC;
        req[8] = 33;
        assert_eq!(
            Control::parse(&req),
            Err(ControlError::TooManyInstruments(33))
        );
        let mut end = [0u8; 25];
        end[0] = KIND_END;
        assert_eq!(
            Control::parse(&end),
            Err(ControlError::Length {
                kind: KIND_END,
                need: 24,
                have: 25
            })
        );
        assert!(matches!(
            Control::parse(&[KIND_RECORD, 0, 0, 0, 0, 0, 0, 0, 1, 2]),
            Err(ControlError::Record(_))
        ));
        assert_eq!(
            Control::Hello { token: 1 }.emit(&mut [0u8; 4]),
            Err(ControlError::BufferTooSmall { need: 16, have: 4 })
        );
    }

    #[test]
    fn instrument_lists_cover() {
        assert!(InstrumentList::ALL.covers(InstrumentId(5)));
        let list = InstrumentList::new(&[InstrumentId(2)]).unwrap();
        assert!(list.covers(InstrumentId(2)) && !list.covers(InstrumentId(3)));
        assert!(InstrumentList::new(&[InstrumentId(1); 33]).is_none());
    }

    #[test]
    fn torn_chunks_are_detected() {
        let mut book = OrderBook::new(BookCapacity::default());
        book.add(1, Side::Buy, Price::from_ticks(100), Qty(5))
            .unwrap();
        let meta = MdMeta::default();
        let chunk = book.snapshot(meta, 10).next().unwrap();
        assert!(chunk_matches(&book, &chunk));
        book.add(2, Side::Sell, Price::from_ticks(101), Qty(5))
            .unwrap();
        assert!(!chunk_matches(&book, &chunk));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(frame) = Control::parse(&bytes) {
                let mut buf = [0u8; MAX_CONTROL_FRAME];
                let len = frame.emit(&mut buf).unwrap();
                prop_assert_eq!(&buf[..len], &bytes[..]);
            }
        }

        #[test]
        fn requests_round_trip(id in any::<u32>(), ids in proptest::collection::vec(any::<u32>(), 0..=32)) {
            let ids: Vec<InstrumentId> = ids.into_iter().map(InstrumentId).collect();
            let frame = Control::ResyncRequest { request_id: id, instruments: InstrumentList::new(&ids).unwrap() };
            let mut buf = [0u8; MAX_CONTROL_FRAME];
            let len = frame.emit(&mut buf).unwrap();
            prop_assert_eq!(Control::parse(&buf[..len]), Ok(frame));
        }

        #[test]
        fn fixed_frames_round_trip(id in any::<u32>(), seq in any::<u64>(), ts in any::<u64>(), n in any::<u32>(), token in any::<u64>()) {
            for frame in [
                Control::Hello { token },
                Control::SnapshotBegin { request_id: id, feed_seq: SeqNo(seq), venue_ts: UnixNanos(ts), instruments: n },
                Control::SnapshotEnd { request_id: id, feed_seq: SeqNo(seq), records: n },
            ] {
                let mut buf = [0u8; MAX_CONTROL_FRAME];
                let len = frame.emit(&mut buf).unwrap();
                prop_assert_eq!(Control::parse(&buf[..len]), Ok(frame));
            }
        }
    }
}
