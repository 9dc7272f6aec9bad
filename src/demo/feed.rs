//! The feed component: the feed's [`Publisher`] reading the venue's ITCH from an RDMA
//! message channel ([`ChannelItch`]) and writing market data into every engine's ring,
//! wrapped ([`FeedAgent`]) to report its counters. The tick's `recv_ts` is the feed's
//! duty-cycle time when it handled the message. No clock reads, no blocking.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tickwarp_feed::itch::{ItchError, MAX_MESSAGE_LEN, Message};
use tickwarp_feed::publisher::{ItchInput, Publisher};
use tickwarp_rdma::channel::{ChannelError, MessageChannel};
use tickwarp_runtime::{Agent, AgentError, Nanos};

use super::stats::NodeStats;

/// ITCH messages received one per SEND on a message channel.
#[derive(Debug)]
pub(crate) struct ChannelItch {
    channel: MessageChannel,
    buf: [u8; MAX_MESSAGE_LEN],
    closed: Option<ChannelError>,
}

impl ChannelItch {
    /// Messages from `channel`.
    pub(crate) fn new(channel: MessageChannel) -> ChannelItch {
        ChannelItch {
            channel,
            buf: [0; MAX_MESSAGE_LEN],
            closed: None,
        }
    }
}

impl ItchInput for ChannelItch {
    fn poll_message(&mut self, _now: Nanos) -> Option<Result<Message, ItchError>> {
        if self.closed.is_some() {
            return None;
        }
        match self.channel.try_recv(&mut self.buf) {
            Ok(Some(len)) => Some(Message::parse(self.buf.get(..len).unwrap_or_default())),
            Ok(None) => None,
            Err(e) => {
                self.closed = Some(e);
                None
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.closed.is_some()
    }
}

/// The publisher with its counters exported.
#[derive(Debug)]
pub(crate) struct FeedAgent {
    publisher: Publisher<ChannelItch>,
    input_closed: bool,
    stats: Arc<NodeStats>,
}

impl FeedAgent {
    /// Wraps `publisher`.
    pub(crate) fn new(publisher: Publisher<ChannelItch>, stats: Arc<NodeStats>) -> FeedAgent {
        FeedAgent {
            publisher,
            input_closed: false,
            stats,
        }
    }
}

impl Agent for FeedAgent {
    fn role_name(&self) -> &str {
        "feed"
    }

    fn on_start(&mut self) -> Result<(), AgentError> {
        self.publisher.on_start()
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let work = self.publisher.do_work(now)?;
        if work > 0 {
            let s = self.publisher.stats();
            self.stats.feed_records.store(s.records, Ordering::Relaxed);
            self.stats
                .feed_messages
                .store(s.messages, Ordering::Relaxed);
        }
        if self.publisher.input_finished() && !self.input_closed {
            // The venue went away (it stopped first, or failed): the books stay as they
            // are and heartbeats keep the engines' rings alive.
            self.input_closed = true;
            tracing::warn!("the venue closed its market data channel");
        }
        Ok(work)
    }

    fn on_close(&mut self) {
        self.publisher.on_close();
        if let Some(recorder) = self.publisher.take_recorder() {
            if let Err(e) = recorder.finish() {
                tracing::warn!(%e, "finishing the market data recording");
            }
        }
    }
}
