//! The feed component: the feed's [`Publisher`] reading the venue's ITCH from an RDMA
//! message channel ([`ChannelItch`]) and writing market data into every engine's ring,
//! wrapped ([`FeedAgent`]) to report its counters. The tick's `recv_ts` is the feed's
//! duty-cycle time when it handled the message. No clock reads, no blocking.
//!
//! The venue's channel closing or failing, or an engine's ring or control connection
//! closing, stops the agent with [`PeerLost`](super::peer::PeerLost) naming that peer:
//! `tickwarp run` then starts the feed afresh (empty books, fresh subscriber links; the
//! engines reconnect and start from a snapshot).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tickwarp_feed::itch::{ItchError, MAX_MESSAGE_LEN, Message};
use tickwarp_feed::publisher::{ItchInput, Publisher};
use tickwarp_rdma::channel::{ChannelError, MessageChannel};
use tickwarp_runtime::{Agent, AgentError, Nanos};

use super::metrics::{self, FeedMetrics};
use super::peer::Peer;
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

impl ChannelItch {
    /// Why the channel ended, once it did.
    fn closed(&self) -> Option<ChannelError> {
        self.closed
    }
}

/// The publisher with its counters exported.
#[derive(Debug)]
pub(crate) struct FeedAgent {
    publisher: Publisher<ChannelItch>,
    /// At the other end of the ITCH channel.
    venue: Peer,
    /// The engines, by subscriber token (token `t` is `engines[t - 1]`).
    engines: Vec<Peer>,
    /// Where the engines connect.
    listen: SocketAddr,
    stats: Arc<NodeStats>,
    metrics: Option<FeedMetrics>,
    /// Records published when `metrics` last counted them.
    counted: u64,
}

impl FeedAgent {
    /// Wraps `publisher`, whose input comes from `venue` and whose subscribers are
    /// `engines` (by token), connected through `listen`.
    pub(crate) fn new(
        publisher: Publisher<ChannelItch>,
        venue: Peer,
        engines: Vec<Peer>,
        listen: SocketAddr,
        stats: Arc<NodeStats>,
    ) -> FeedAgent {
        FeedAgent {
            publisher,
            venue,
            engines,
            listen,
            metrics: metrics::take(&stats.metrics.feed),
            stats,
            counted: 0,
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
            if let Some(m) = self.metrics.as_mut() {
                m.published.add(s.records.saturating_sub(self.counted));
                self.counted = s.records;
            }
        }
        if let Some(m) = self.metrics.as_mut() {
            m.cycles.record(work);
        }
        if let Some(error) = self.publisher.input().closed() {
            return Err(self.venue.lost(error).into());
        }
        if let Some(link) = self.publisher.links().iter().find(|l| l.is_closed()) {
            let token = link.token();
            let peer = usize::try_from(token)
                .ok()
                .and_then(|t| self.engines.get(t.wrapping_sub(1)))
                .cloned()
                .unwrap_or_else(|| Peer::new(format!("subscriber {token}"), "?", self.listen));
            return Err(peer.lost("its ring or control connection closed").into());
        }
        Ok(work)
    }

    fn on_close(&mut self) {
        metrics::put(&self.stats.metrics.feed, self.metrics.take());
        self.publisher.on_close();
        if let Some(recorder) = self.publisher.take_recorder() {
            if let Err(e) = recorder.finish() {
                tracing::warn!(%e, "finishing the market data recording");
            }
        }
    }
}
