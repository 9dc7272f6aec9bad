//! The gateway component: the gateway's order-flow core ([`OrderCore`]: validation →
//! pre-trade risk → order state → write-ahead journal → venue, executions back) serving
//! the engines' RDMA order channels and, when the topology configures FIX sessions, the
//! gateway's FIX 4.4 acceptor ([`FixAcceptor`]), with the venue session
//! ([`RemoteVenue`]) an RDMA channel to the venue component.
//!
//! Tick-to-trade is recorded when the core hands a new order to the venue session
//! ([`RemoteVenue::submit_new`]): from the tick's `recv_ts` at the feed, through the
//! strategy's `send_ts` and the moment the gateway took the order (read at intake), to
//! the hand-off (read there). Those two clock reads are the gateway's own: the duty
//! cycle's `now` would hide the time spent in risk and the journal.
//!
//! What this module must not do: decide anything about orders (the core does), or drop
//! a command or an execution (a channel without credit is progressed until it has
//! some; a dead channel stops the agent).
//!
//! A dead channel (an engine's or the venue's) stops the agent with
//! [`PeerLost`](super::peer::PeerLost) naming that peer. `tickwarp run` then reopens the
//! gateway from its journal (nothing acknowledged is lost; open orders are resubmitted
//! to the venue) and accepts the engines again; an engine's orders stay working at the
//! venue while it is away.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tickwarp_bench::pipeline::HopHistograms;
use tickwarp_gateway::fix::session::Now;
use tickwarp_gateway::service::core::execution_bytes;
use tickwarp_gateway::service::{CoreError, FixAcceptor, OrderCore, Origin};
use tickwarp_gateway::venue::{Execution, VenueSession, VenueTime};
use tickwarp_metrics::{Counter, Histogram};
use tickwarp_rdma::channel::{ChannelError, MessageChannel};
use tickwarp_runtime::clock::{monotonic_now, unix_now};
use tickwarp_runtime::{Agent, AgentError, Nanos};
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, IntoBytes, Message, MessageType, NewOrder,
    ReplaceOrder, Side, decode,
};

use super::metrics::{self, Cycles, GatewayMetrics};
use super::peer::{Peer, PeerLost};
use super::stats::{GatewayResult, NodeStats};

/// Records handled per channel per duty cycle at most.
const BATCH: usize = 32;
/// How often the gateway merges its latency samples into the shared histograms.
const SHARE_EVERY: Nanos = Nanos(100_000_000);
/// Sends without credit retried (progressing the channel) before the peer counts as
/// stuck.
const SEND_RETRIES: u32 = 1_000_000;
/// New orders taken but not yet handed to the venue, held without allocating.
const PRESIZED_INTAKE: usize = 1_024;

/// Why the gateway stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayError {
    /// A peer's channel failed or closed.
    #[error("{0}")]
    Peer(PeerLost),
    /// The order core stopped (journal failure or state disagreement).
    #[error("order core: {0}")]
    Core(#[from] CoreError),
}

/// Sends `bytes`, progressing the channel while it has no credit.
fn send(channel: &mut MessageChannel, bytes: &[u8]) -> Result<(), ChannelError> {
    let mut retries = 0;
    loop {
        match channel.try_send(bytes) {
            Ok(()) => return Ok(()),
            Err(ChannelError::WouldBlock) if retries < SEND_RETRIES => {
                retries += 1;
                channel.progress()?;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The venue session over an RDMA message channel to the venue component; records the
/// tick-to-trade of every new order at the hand-off.
#[derive(Debug)]
pub(crate) struct RemoteVenue {
    channel: MessageChannel,
    buf: [u8; MessageType::MAX_LEN],
    /// When the gateway took each new order not yet handed on, oldest first.
    intake: VecDeque<(ClientOrderId, Nanos)>,
    latency: HopHistograms,
    /// The first channel failure (the agent stops on it).
    failed: Option<ChannelError>,
    sent: u64,
    /// The counters file's tick-to-trade, while the gateway agent holds it.
    tick_to_trade: Option<Histogram>,
}

impl RemoteVenue {
    /// A session on `channel`.
    pub(crate) fn new(channel: MessageChannel) -> anyhow::Result<RemoteVenue> {
        Ok(RemoteVenue {
            channel,
            buf: [0; MessageType::MAX_LEN],
            intake: VecDeque::with_capacity(PRESIZED_INTAKE),
            latency: HopHistograms::new()?,
            failed: None,
            sent: 0,
            tick_to_trade: None,
        })
    }

    /// Notes that the gateway took new order `id` at `at`.
    fn took(&mut self, id: ClientOrderId, at: Nanos) {
        self.intake.push_back((id, at));
    }

    fn send(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        match send(&mut self.channel, bytes) {
            Ok(()) => self.sent += 1,
            Err(error) => self.failed = Some(error),
        }
    }
}

impl VenueSession for RemoteVenue {
    fn submit_new(&mut self, _now: VenueTime, order: &NewOrder) {
        self.send(order.as_bytes());
        let venue_out = monotonic_now();
        // Orders the core refused never come here: skip their intake entries.
        while let Some((id, at)) = self.intake.pop_front() {
            if id == order.cl_ord_id() {
                let cause = order.cause();
                self.latency.record(&cause, at, venue_out);
                // The summary's tick-to-trade: orders without a causing tick have none.
                if let (Some(h), false) =
                    (self.tick_to_trade.as_mut(), cause.recv_ts == Nanos::ZERO)
                {
                    h.record(venue_out.saturating_sub(cause.recv_ts).get().max(1));
                }
                break;
            }
        }
    }

    fn submit_cancel(&mut self, _now: VenueTime, cancel: &CancelOrder) {
        self.send(cancel.as_bytes());
    }

    fn submit_replace(&mut self, _now: VenueTime, replace: &ReplaceOrder) {
        self.send(replace.as_bytes());
    }

    fn poll_execution(&mut self) -> Option<Execution> {
        if self.failed.is_some() {
            return None;
        }
        let len = match self.channel.try_recv(&mut self.buf) {
            Ok(Some(len)) => len,
            Ok(None) => return None,
            Err(e) => {
                self.failed = Some(e);
                return None;
            }
        };
        match decode(self.buf.get(..len).unwrap_or_default()) {
            Ok(Message::OrderAccepted(e)) => Some(Execution::Accepted(*e)),
            Ok(Message::OrderRejected(e)) => Some(Execution::Rejected(*e)),
            Ok(Message::OrderFilled(e)) => Some(Execution::Filled(*e)),
            Ok(Message::OrderCanceled(e)) => Some(Execution::Canceled(*e)),
            Ok(Message::CancelRejected(e)) => Some(Execution::CancelRejected(*e)),
            Ok(Message::OrderReplaced(e)) => Some(Execution::Replaced(*e)),
            _ => {
                tracing::warn!(len, "the venue sent a record that is not an execution");
                None
            }
        }
    }
}

/// The gateway agent (module docs).
#[derive(Debug)]
pub(crate) struct GatewayAgent {
    core: OrderCore<RemoteVenue>,
    fix: Option<FixAcceptor>,
    /// Engine channels; engine `i` is RDMA client `first_client + i`.
    sessions: Vec<MessageChannel>,
    /// Who is at the other end of the engine channels (the engines this gateway
    /// serves, as one peer: channels are accepted in arrival order).
    engines: Peer,
    /// At the other end of the venue session.
    venue_peer: Peer,
    first_client: u32,
    buf: [u8; MessageType::MAX_LEN],
    last_share: Nanos,
    filled_qty: u64,
    positions: HashMap<(AccountId, InstrumentId), i128>,
    stats: Arc<NodeStats>,
    /// The counters file's handles (the tick-to-trade histogram lives in the venue
    /// session meanwhile).
    metrics: Option<GatewayCounters>,
}

/// The gateway's handles but the tick-to-trade histogram.
#[derive(Debug)]
struct GatewayCounters {
    cycles: Cycles,
    accepted: Counter,
    rejected: Counter,
    fills: Counter,
}

impl GatewayAgent {
    /// A gateway running `core` (its venue session goes to `venue`) for `engines` on
    /// `sessions`.
    pub(crate) fn new(
        mut core: OrderCore<RemoteVenue>,
        venue: Peer,
        fix: Option<FixAcceptor>,
        sessions: Vec<MessageChannel>,
        engines: Peer,
        stats: Arc<NodeStats>,
    ) -> GatewayAgent {
        let first_client = core.next_rdma_client();
        let metrics = metrics::take(&stats.metrics.gateway).map(|m| {
            core.venue_mut().tick_to_trade = Some(m.tick_to_trade);
            GatewayCounters {
                cycles: m.cycles,
                accepted: m.accepted,
                rejected: m.rejected,
                fills: m.fills,
            }
        });
        GatewayAgent {
            core,
            fix,
            sessions,
            engines,
            venue_peer: venue,
            first_client,
            buf: [0; MessageType::MAX_LEN],
            last_share: Nanos::ZERO,
            filled_qty: 0,
            positions: HashMap::with_capacity(64),
            stats,
            metrics,
        }
    }

    /// Hands one command from engine `session` (in `self.buf[..len]`) to the core.
    fn handle_command(&mut self, session: usize, len: usize) -> Result<(), GatewayError> {
        let intake = monotonic_now();
        let at = VenueTime {
            wall: unix_now(),
            mono: intake,
        };
        let origin = Origin::Rdma(self.first_client.saturating_add(session as u32));
        self.stats.gw_commands.fetch_add(1, Ordering::Relaxed);
        match decode(self.buf.get(..len).unwrap_or_default()) {
            Ok(Message::NewOrder(n)) => {
                self.stats.gw_new.fetch_add(1, Ordering::Relaxed);
                self.core.venue_mut().took(n.cl_ord_id(), intake);
                self.core.handle_new(at, origin, n)?;
            }
            Ok(Message::CancelOrder(c)) => self.core.handle_cancel(at, origin, c)?,
            Ok(Message::ReplaceOrder(r)) => self.core.handle_replace(at, origin, r)?,
            _ => tracing::warn!(
                session,
                len,
                "an engine sent a record that is not a command"
            ),
        }
        Ok(())
    }

    /// Sends the core's ready reports to their engines and FIX sessions; returns how
    /// many.
    fn deliver_reports(&mut self, now: Now) -> Result<usize, GatewayError> {
        let mut n = 0;
        while let Some(report) = self.core.poll_report() {
            n += 1;
            match &report.event {
                Execution::Filled(f) => {
                    let fill = f.fill();
                    self.stats.gw_fills.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = self.metrics.as_mut() {
                        m.fills.inc();
                    }
                    self.filled_qty = self.filled_qty.saturating_add(fill.last_qty.get());
                    let q = i128::from(fill.last_qty.get());
                    let net = self
                        .positions
                        .entry((f.account(), f.instrument()))
                        .or_default();
                    *net += if f.side() == Side::Buy { q } else { -q };
                }
                Execution::Rejected(_) => {
                    self.stats.gw_risk_rejects.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = self.metrics.as_mut() {
                        m.rejected.inc();
                    }
                }
                Execution::Accepted(_) => {
                    self.stats.gw_accepted.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = self.metrics.as_mut() {
                        m.accepted.inc();
                    }
                }
                Execution::Canceled(_) => {
                    self.stats.gw_canceled.fetch_add(1, Ordering::Relaxed);
                }
                Execution::CancelRejected(_) => {
                    self.stats.gw_cancel_rejects.fetch_add(1, Ordering::Relaxed);
                }
                Execution::Replaced(_) => {
                    self.stats.gw_replaced.fetch_add(1, Ordering::Relaxed);
                }
            }
            let client = match report.origin {
                Origin::Rdma(client) => client,
                Origin::Fix(id) => {
                    if let Some(fix) = self.fix.as_mut() {
                        fix.deliver(now, id, report);
                    }
                    continue;
                }
                Origin::Gateway => continue,
            };
            let session = client.wrapping_sub(self.first_client) as usize;
            if let Some(channel) = self.sessions.get_mut(session) {
                send(channel, execution_bytes(&report.event))
                    .map_err(|e| GatewayError::Peer(self.engines.lost(e)))?;
                self.stats.gw_execs_out.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(n)
    }

    /// Merges the latency samples into the shared histograms.
    fn share_latency(&mut self) {
        let latency = &mut self.core.venue_mut().latency;
        if latency.orders() > 0 {
            self.stats.live.add(latency);
            self.stats.total.add(latency);
            latency.reset();
        }
    }
}

impl Agent for GatewayAgent {
    fn role_name(&self) -> &str {
        "gateway"
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let work = self.work(now).map_err(|e| match e {
            // The peer itself, so that `tickwarp run` finds it in the cause.
            GatewayError::Peer(lost) => AgentError::from(lost),
            other => AgentError::from(other),
        })?;
        if let Some(m) = self.metrics.as_mut() {
            m.cycles.record(work);
        }
        Ok(work)
    }

    /// Seals the order journal (under `fsync = "never"` its records become durable, and
    /// visible to the drop copy, only here), then hands back the counters and results.
    fn on_close(&mut self) {
        match self.core.close() {
            Ok(()) => tracing::debug!("order journal closed"),
            Err(e) => tracing::warn!(error = %e, "order journal did not close cleanly"),
        }
        if let Some(m) = self.metrics.take() {
            let tick_to_trade = self.core.venue_mut().tick_to_trade.take();
            let back = tick_to_trade.map(|tick_to_trade| GatewayMetrics {
                cycles: m.cycles,
                accepted: m.accepted,
                rejected: m.rejected,
                fills: m.fills,
                tick_to_trade,
            });
            metrics::put(&self.stats.metrics.gateway, back);
        }
        self.share_latency();
        let mut positions: Vec<_> = self
            .positions
            .iter()
            .map(|(&(account, instrument), &net)| (account, instrument, net))
            .collect();
        positions.sort_unstable();
        let open_orders = self.core.orders().open_orders(None).count();
        let result = GatewayResult {
            positions,
            filled_qty: self.filled_qty,
            open_orders,
        };
        if let Ok(mut slot) = self.stats.gateway.lock() {
            *slot = Some(result);
        }
    }
}

impl GatewayAgent {
    /// One duty cycle (the agent's `do_work`).
    fn work(&mut self, now: Nanos) -> Result<usize, GatewayError> {
        let mut work = 0;
        for session in 0..self.sessions.len() {
            for _ in 0..BATCH {
                let Some(channel) = self.sessions.get_mut(session) else {
                    break;
                };
                // An engine that went away leaves its orders working at the venue.
                let got = channel
                    .try_recv(&mut self.buf)
                    .map_err(|e| GatewayError::Peer(self.engines.lost(e)))?;
                let Some(len) = got else {
                    break;
                };
                self.handle_command(session, len)?;
                work += 1;
            }
        }
        let at = VenueTime {
            wall: unix_now(),
            mono: now,
        };
        let fix_now = Now {
            mono: now,
            wall: at.wall,
        };
        if let Some(fix) = self.fix.as_mut() {
            work += fix
                .poll_input(fix_now, &mut self.core)
                .map_err(GatewayError::from)?;
        }
        let sent_before = self.core.venue().sent;
        let execs = self.core.flush(at).map_err(GatewayError::from)?;
        let venue = self.core.venue_mut();
        let venue_failed = venue.failed;
        // The flush handed on every order the core accepted; the rest were refused.
        venue.intake.clear();
        let sent = venue.sent - sent_before;
        self.stats.gw_to_venue.fetch_add(sent, Ordering::Relaxed);
        self.stats.gw_journaled.fetch_add(sent, Ordering::Relaxed);
        self.stats
            .gw_execs_in
            .fetch_add(execs as u64, Ordering::Relaxed);
        work += execs + sent as usize;
        work += self.deliver_reports(fix_now)?;
        if let Some(fix) = self.fix.as_mut() {
            work += fix.poll_output();
        }
        if now.saturating_sub(self.last_share) >= SHARE_EVERY {
            self.share_latency();
            self.last_share = now;
        }
        if let Some(error) = venue_failed {
            // Only now, so that the executions this cycle journaled reached their
            // origins. What the core journaled stays there: the reopened core
            // resubmits open orders and pending requests to the venue it reconnects to.
            return Err(GatewayError::Peer(self.venue_peer.lost(error)));
        }
        Ok(work)
    }
}
