//! RDMA adapters for the engine agent: market data from the feed's ring
//! ([`RingMdSource`], an [`MdSource`] over a [`Subscriber`]), executions in and orders
//! out over one lossless [`MessageChannel`] ([`ChannelExecSource`], [`ChannelOrderSink`]
//! sharing a [`SharedChannel`]).
//!
//! Loss: when the subscriber reports that its books went stale (a lapped ring or a
//! sequence jump), [`RingMdSource`] hands the engine an [`MdSequenceReset`] (strategies
//! drop what they know of the market), then the snapshot's level chunks once the
//! subscriber has rebuilt its books, then live records again. It never hands out a
//! record the subscriber applied to a stale book.
//!
//! Backpressure: [`ChannelOrderSink`] retries a send that finds no credit up to
//! [`ChannelOrderSink::max_retries`] times, progressing the channel in between (credits
//! come back through its completion queue), then refuses the command with
//! [`SinkError::Full`]; every refusal is counted ([`SinkStats`]) and the engine learns
//! of it through the error. Nothing is dropped silently.
//!
//! These adapters hold no strategy logic, read no clock and allocate nothing per record.

use std::cell::RefCell;
use std::rc::Rc;

use tickwarp_feed::publisher::{Subscriber, SubscriberEvent, SubscriberStats};
use tickwarp_rdma::channel::{ChannelError, MessageChannel};
use tickwarp_wire::{
    InstrumentId, IntoBytes, MdMeta, MdSequenceReset, Message, MessageType, SeqNo, decode,
};

use crate::agent::{ExecSource, MdSource, SourceError};
use crate::order::{OrderCommand, OrderSink, SinkError};

/// Largest record the adapters copy (the largest wire record).
const RECORD_BUF: usize = MessageType::MAX_LEN;
/// Subscriber events a [`RingMdSource`] looks at per poll before it returns `None`.
const POLL_BUDGET: usize = 64;

/// A control channel shared by the execution source and the order sink of one engine
/// (both run on the engine's thread).
pub type SharedChannel = Rc<RefCell<MessageChannel>>;

/// Market data from a feed [`Subscriber`] (module docs).
#[derive(Debug)]
pub struct RingMdSource {
    subscriber: Subscriber,
    buf: [u8; RECORD_BUF],
    last_meta: MdMeta,
    resets: u64,
}

impl RingMdSource {
    /// A source reading `subscriber`.
    pub fn new(subscriber: Subscriber) -> RingMdSource {
        RingMdSource {
            subscriber,
            buf: [0; RECORD_BUF],
            last_meta: MdMeta::default(),
            resets: 0,
        }
    }

    /// The subscriber (its books and counters).
    pub fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }

    /// Sequence resets handed to the engine.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// The subscriber's counters.
    pub fn stats(&self) -> SubscriberStats {
        self.subscriber.stats()
    }

    /// The next record to hand out, copied into `buf`; its length.
    fn next_record(&mut self) -> Result<Option<usize>, SourceError> {
        for _ in 0..POLL_BUDGET {
            let event = match self.subscriber.poll() {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(None),
                Err(e) => return Err(SourceError::Failed(Box::new(e))),
            };
            let (bytes, keep_meta) = match event {
                SubscriberEvent::Record(bytes) => (bytes, true),
                SubscriberEvent::Snapshot(bytes) => {
                    // Orders of the snapshot rebuilt the subscriber's books; strategies
                    // see the levels.
                    if !matches!(decode(bytes), Ok(Message::MdBookSnapshotChunk(_))) {
                        continue;
                    }
                    (bytes, false)
                }
                SubscriberEvent::Lost { last_applied } => {
                    let meta = MdMeta {
                        instrument: InstrumentId::NONE,
                        feed_seq: last_applied,
                        venue_ts: self.last_meta.venue_ts,
                        recv_ts: self.last_meta.recv_ts,
                    };
                    let reset = MdSequenceReset::new(meta, SeqNo(last_applied.get() + 1));
                    self.resets += 1;
                    let len = keep(&mut self.buf, reset.as_bytes());
                    return Ok(Some(len));
                }
                SubscriberEvent::Resynced { .. } => continue,
            };
            if keep_meta {
                if let Some(meta) = record_meta(bytes) {
                    self.last_meta = meta;
                }
            }
            let len = keep(&mut self.buf, bytes);
            return Ok(Some(len));
        }
        Ok(None)
    }
}

/// Copies `bytes` into `buf`; returns its length (0 if it does not fit, which no wire
/// record does).
fn keep(buf: &mut [u8; RECORD_BUF], bytes: &[u8]) -> usize {
    match buf.get_mut(..bytes.len()) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            bytes.len()
        }
        None => 0,
    }
}

/// The market data fields of an encoded record.
fn record_meta(bytes: &[u8]) -> Option<MdMeta> {
    let msg = decode(bytes).ok()?;
    crate::event::Tick::from_message(msg).map(|t| t.meta())
}

impl MdSource for RingMdSource {
    fn poll_md(&mut self) -> Result<Option<&[u8]>, SourceError> {
        Ok(self.next_record()?.and_then(|len| self.buf.get(..len)))
    }
}

/// Execution events received on the shared channel.
#[derive(Debug)]
pub struct ChannelExecSource {
    channel: SharedChannel,
    buf: [u8; RECORD_BUF],
}

impl ChannelExecSource {
    /// A source reading `channel`.
    pub fn new(channel: SharedChannel) -> ChannelExecSource {
        ChannelExecSource {
            channel,
            buf: [0; RECORD_BUF],
        }
    }
}

impl ExecSource for ChannelExecSource {
    fn poll_exec(&mut self) -> Result<Option<&[u8]>, SourceError> {
        let got = self.channel.borrow_mut().try_recv(&mut self.buf);
        match got {
            Ok(Some(len)) => Ok(self.buf.get(..len)),
            Ok(None) => Ok(None),
            Err(ChannelError::Disconnected) => Err(SourceError::Closed),
            Err(e) => Err(SourceError::Failed(Box::new(e))),
        }
    }
}

/// Counters of a [`ChannelOrderSink`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SinkStats {
    /// Commands sent.
    pub sent: u64,
    /// Sends that found no credit and were retried.
    pub retries: u64,
    /// Commands refused with [`SinkError::Full`] after the retries.
    pub refused_full: u64,
    /// Commands refused because the channel is closed or failed.
    pub refused_closed: u64,
}

/// Order commands sent as wire records on the shared channel (module docs).
#[derive(Debug)]
pub struct ChannelOrderSink {
    channel: SharedChannel,
    max_retries: u32,
    stats: SinkStats,
    last_error: Option<ChannelError>,
}

impl ChannelOrderSink {
    /// Retries of a send without credit before [`ChannelOrderSink::new`]'s sink refuses it.
    pub const DEFAULT_RETRIES: u32 = 1_000;

    /// A sink on `channel` retrying [`ChannelOrderSink::DEFAULT_RETRIES`] times.
    pub fn new(channel: SharedChannel) -> ChannelOrderSink {
        ChannelOrderSink::with_retries(channel, ChannelOrderSink::DEFAULT_RETRIES)
    }

    /// A sink on `channel` retrying a send without credit `max_retries` times.
    pub fn with_retries(channel: SharedChannel, max_retries: u32) -> ChannelOrderSink {
        ChannelOrderSink {
            channel,
            max_retries,
            stats: SinkStats::default(),
            last_error: None,
        }
    }

    /// Retries before a refusal.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Counters.
    pub fn stats(&self) -> SinkStats {
        self.stats
    }

    /// The channel error behind the last refusal, if any.
    pub fn last_error(&self) -> Option<ChannelError> {
        self.last_error
    }
}

impl OrderSink for ChannelOrderSink {
    fn send(&mut self, order: &OrderCommand) -> Result<(), SinkError> {
        let mut channel = self.channel.borrow_mut();
        let mut retries = 0;
        loop {
            let error = match channel.try_send(order.as_bytes()) {
                Ok(()) => {
                    self.stats.sent += 1;
                    return Ok(());
                }
                Err(ChannelError::WouldBlock) if retries < self.max_retries => {
                    retries += 1;
                    self.stats.retries += 1;
                    // Credits come back through the CQ.
                    match channel.progress() {
                        Ok(_) => continue,
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            self.last_error = Some(error);
            return Err(match error {
                ChannelError::WouldBlock => {
                    self.stats.refused_full += 1;
                    SinkError::Full
                }
                _ => {
                    self.stats.refused_closed += 1;
                    SinkError::Closed
                }
            });
        }
    }
}
