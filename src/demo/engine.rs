//! The strategy-engine component: an [`Engine`] of built-in strategies reading market
//! data from its feed ring ([`RingMdSource`]) and trading over one RDMA message channel
//! to the gateway (orders out, executions in).
//!
//! This is `tickwarp_strategies::agent::EngineAgent`'s duty cycle over a channel the
//! agent owns: the crate's channel adapters share theirs through `Rc`, which would keep
//! the agent off its runner thread. Executions first, then market data, then timers;
//! a send without credit is retried while progressing the channel, then refused (the
//! strategy learns of it through `SinkError::Full`); then the pricer's results (the
//! engine's local pricer, or a compute server's client left in
//! [`NodeStats::pricers`](super::stats::NodeStats) for this engine), polled without
//! blocking; a failed compute connection stops the agent. The clock is read once per tick
//! (the strategy's decision time, which the order carries as `send_ts`); nothing is
//! allocated per record.
//!
//! A failed order channel (the gateway), a failed subscriber (the feed's ring or control
//! connection closed) or a feed silent for longer than the peer timeout (the publisher
//! sends heartbeats when idle, so silence means a dead or hung feed) stops the agent with
//! [`PeerLost`](super::peer::PeerLost) naming that peer; `tickwarp run` then reconnects
//! with a fresh engine in a new client order id epoch.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tickwarp_rdma::channel::{ChannelError, MessageChannel};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_runtime::{Agent, AgentError, Nanos};
use tickwarp_strategies::agent::MdSource;
use tickwarp_strategies::builtin::Builtin;
use tickwarp_strategies::rdma::RingMdSource;
use tickwarp_strategies::{Engine, Execution, OrderCommand, OrderSink, SinkError, Tick};
use tickwarp_wire::{MessageType, decode};

use super::metrics::EngineMetrics;
use super::peer::Peer;
use super::stats::{EngineResult, NodeStats};

/// Records of each kind handled per duty cycle at most.
const BATCH: usize = 32;
/// Sends without credit retried before a refusal.
const SEND_RETRIES: u32 = 1_000;

/// Sends order commands on the channel (module docs).
struct ChannelSink<'a> {
    channel: &'a mut MessageChannel,
    sent_new: u64,
}

impl OrderSink for ChannelSink<'_> {
    fn send(&mut self, order: &OrderCommand) -> Result<(), SinkError> {
        let mut retries = 0;
        loop {
            match self.channel.try_send(order.as_bytes()) {
                Ok(()) => {
                    if matches!(order, OrderCommand::New(_)) {
                        self.sent_new += 1;
                    }
                    return Ok(());
                }
                Err(ChannelError::WouldBlock) if retries < SEND_RETRIES => {
                    retries += 1;
                    if self.channel.progress().is_err() {
                        return Err(SinkError::Closed);
                    }
                }
                Err(ChannelError::WouldBlock) => return Err(SinkError::Full),
                Err(_) => return Err(SinkError::Closed),
            }
        }
    }
}

/// The engine agent (module docs).
#[derive(Debug)]
pub(crate) struct EngineAgent {
    name: String,
    engine: Engine<Builtin>,
    md: RingMdSource,
    channel: MessageChannel,
    buf: [u8; MessageType::MAX_LEN],
    /// At the other end of `md`.
    feed: Peer,
    /// At the other end of `channel`.
    gateway: Peer,
    /// How long the feed may stay silent.
    feed_timeout: Nanos,
    /// When the feed last handed out anything (the first duty cycle before that).
    last_md: Option<Nanos>,
    stats: Arc<NodeStats>,
    metrics: Option<EngineMetrics>,
}

/// An engine's connections and who is at their other ends.
#[derive(Debug)]
pub(crate) struct EngineLinks {
    /// Market data from the feed.
    pub(crate) md: RingMdSource,
    /// The feed.
    pub(crate) feed: Peer,
    /// Orders out, executions in.
    pub(crate) channel: MessageChannel,
    /// The gateway.
    pub(crate) gateway: Peer,
    /// How long the feed may stay silent before it counts as dead.
    pub(crate) feed_timeout: Nanos,
}

impl EngineAgent {
    /// An engine named `name` trading on `links`.
    pub(crate) fn new(
        name: &str,
        engine: Engine<Builtin>,
        links: EngineLinks,
        stats: Arc<NodeStats>,
    ) -> EngineAgent {
        let engine = match stats.pricers.take(name) {
            Some(pricer) => engine.with_pricer(pricer),
            None => engine,
        };
        EngineAgent {
            name: name.to_owned(),
            engine,
            md: links.md,
            channel: links.channel,
            buf: [0; MessageType::MAX_LEN],
            feed: links.feed,
            gateway: links.gateway,
            feed_timeout: links.feed_timeout,
            last_md: None,
            metrics: stats.metrics.take_engine(name),
            stats,
        }
    }
}

impl Agent for EngineAgent {
    fn role_name(&self) -> &str {
        &self.name
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let EngineAgent {
            engine,
            md,
            channel,
            buf,
            feed,
            gateway,
            feed_timeout,
            last_md,
            stats,
            metrics,
            ..
        } = self;
        let mut work = 0;
        let mut execs = 0u64;
        let mut sent = 0u64;
        for _ in 0..BATCH {
            let Some(len) = channel.try_recv(buf).map_err(|e| gateway.lost(e))? else {
                break;
            };
            work += 1;
            let Ok(Some(exec)) =
                decode(buf.get(..len).unwrap_or_default()).map(Execution::from_message)
            else {
                continue;
            };
            execs += 1;
            let mut sink = ChannelSink {
                channel,
                sent_new: 0,
            };
            engine.handle_execution(&exec, now, &mut sink);
            sent += sink.sent_new;
        }
        let mut ticks = 0u64;
        let mut md_records = 0u32;
        for _ in 0..BATCH {
            let Some(bytes) = md.poll_md().map_err(|e| feed.lost(e))? else {
                break;
            };
            work += 1;
            md_records += 1;
            let Ok(Some(tick)) = decode(bytes).map(Tick::from_message) else {
                continue;
            };
            ticks += 1;
            let mut sink = ChannelSink {
                channel,
                sent_new: 0,
            };
            // Read per tick, not per cycle: the order's send time must be when the
            // strategy saw this tick, or a shared thread's hops would read zero.
            engine.handle_tick(&tick, monotonic_now(), &mut sink);
            sent += sink.sent_new;
        }
        let mut sink = ChannelSink {
            channel,
            sent_new: 0,
        };
        work += engine.handle_timers(now, &mut sink);
        work += engine
            .handle_pricing(now, &mut sink)
            .map_err(|e| AgentError::msg(format!("pricer: {e}")))?;
        sent += sink.sent_new;
        if execs > 0 {
            stats.engine_execs.fetch_add(execs, Ordering::Relaxed);
        }
        if ticks > 0 {
            stats.engine_ticks.fetch_add(ticks, Ordering::Relaxed);
        }
        let heard = *last_md.get_or_insert(now);
        if md_records > 0 {
            *last_md = Some(now);
        } else if now.saturating_sub(heard) > *feed_timeout {
            let ms = feed_timeout.get() / 1_000_000;
            return Err(feed
                .lost(format!("no market data or heartbeat for {ms} ms"))
                .into());
        }
        if sent > 0 {
            stats.engine_orders.fetch_add(sent, Ordering::Relaxed);
        }
        if let Some(m) = metrics {
            m.cycles.record(work);
            m.orders.add(sent);
            m.executions.add(execs);
            m.observe_feed(&md.stats());
        }
        Ok(work)
    }

    fn on_close(&mut self) {
        if let Some(m) = self.metrics.take() {
            self.stats.metrics.put_engine(&self.name, m);
        }
        let result = EngineResult {
            name: self.name.clone(),
            strategies: self.engine.summaries(),
        };
        if let Ok(mut engines) = self.stats.engines.lock() {
            engines.push(result);
        }
    }
}
