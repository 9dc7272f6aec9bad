//! The venue component: [`VenueSim`] driven by a seeded synthetic "house" order flow
//! (real liquidity the strategies trade against), its market data sent to the feed as
//! ITCH 5.0 over an RDMA message channel, orders from the gateway in and their
//! executions back over another.
//!
//! House flow, per event: a passive limit order one to five ticks from the mid (45%),
//! a cancel of the oldest house order (35%), a marketable IOC two ticks through the mid
//! (15%), or a one-tick move of the mid (5%); house orders trade for [`HOUSE_ACCOUNT`],
//! whose executions stay inside the venue. Events are released at `rate` per second of
//! the duty cycle's `now`; when the feed or the gateway pushes back the flow pauses
//! rather than drop anything. No clock reads other than the wall clock for ITCH
//! timestamps; nothing here blocks.
//!
//! A closed or failed channel stops the agent with [`PeerLost`](super::peer::PeerLost)
//! naming the feed or the
//! gateway: `tickwarp run` then starts the venue afresh (an empty book; the gateway
//! resubmits its open orders when it reconnects).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tickwarp_feed::itch::{
    EmitError, Header, MAX_MESSAGE_LEN, Message as ItchMessage, StockDirectory, Timestamp,
};
use tickwarp_gateway::venue::itch::{ItchStock, to_itch};
use tickwarp_gateway::venue::{Execution, VenueConfig, VenueSession, VenueSim, VenueTime};
use tickwarp_rdma::channel::{ChannelError, MessageChannel};
use tickwarp_runtime::clock::unix_now;
use tickwarp_runtime::{Agent, AgentError, Nanos};
use tickwarp_wire::{
    AccountId, CancelOrder, ClientOrderId, InstrumentId, IntoBytes, Message, MessageType, NewOrder,
    OrderSpec, OrderType, Price, Qty, Side, Symbol, TickCause, TimeInForce, decode,
};

use super::metrics::{self, Cycles};
use super::peer::Peer;
use super::stats::NodeStats;

/// The account of the venue's own synthetic orders.
pub(crate) const HOUSE_ACCOUNT: AccountId = AccountId(9_999);
/// House orders resting at most before adds turn into cancels.
const MAX_HOUSE_RESTING: usize = 400;
/// House events generated per duty cycle at most.
const EVENTS_PER_CYCLE: u64 = 64;
/// Messages queued for a peer before the house flow pauses.
const OUTBOX_PAUSE: usize = 4_096;
/// Records handled per channel per duty cycle at most.
const RECV_BATCH: usize = 64;

/// One instrument the venue trades.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VenueInstrument {
    /// Its id (the feed's, by directory order).
    pub(crate) id: InstrumentId,
    /// ITCH identity.
    pub(crate) stock: ItchStock,
    /// Starting mid.
    pub(crate) start: Price,
    /// Price increment.
    pub(crate) tick: Price,
}

/// A splitmix64 generator: small, seeded, reproducible.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Messages waiting for credit on one channel, fixed-size slots.
#[derive(Debug)]
struct Outbox {
    queue: VecDeque<([u8; MessageType::MAX_LEN], u16)>,
}

impl Outbox {
    fn new() -> Outbox {
        Outbox {
            queue: VecDeque::with_capacity(OUTBOX_PAUSE * 2),
        }
    }

    /// Queues a copy of `bytes` (at most a wire record long).
    fn push(&mut self, bytes: &[u8]) {
        let mut slot = [0u8; MessageType::MAX_LEN];
        let len = bytes.len().min(slot.len());
        if let (Some(dst), Some(src)) = (slot.get_mut(..len), bytes.get(..len)) {
            dst.copy_from_slice(src);
        }
        self.queue.push_back((slot, len as u16));
    }

    /// Sends until the channel pushes back; returns messages sent.
    fn flush(&mut self, channel: &mut MessageChannel) -> Result<usize, ChannelError> {
        let mut sent = 0;
        while let Some((slot, len)) = self.queue.front() {
            match channel.try_send(slot.get(..usize::from(*len)).unwrap_or_default()) {
                Ok(()) => {
                    self.queue.pop_front();
                    sent += 1;
                }
                Err(ChannelError::WouldBlock) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    fn len(&self) -> usize {
        self.queue.len()
    }
}

/// One instrument's house-flow state.
#[derive(Debug)]
struct HouseBook {
    inst: VenueInstrument,
    mid: i64,
    resting: VecDeque<(ClientOrderId, Side)>,
}

/// The venue agent (module docs).
#[derive(Debug)]
pub(crate) struct VenueAgent {
    sim: VenueSim,
    books: Vec<HouseBook>,
    md: MessageChannel,
    orders: MessageChannel,
    md_out: Outbox,
    exec_out: Outbox,
    rng: Rng,
    rate: u64,
    start: Option<Nanos>,
    generated: u64,
    next_house_id: u64,
    buf: [u8; MessageType::MAX_LEN],
    /// At the other end of `md`.
    feed: Peer,
    /// At the other end of `orders`.
    gateway: Peer,
    stats: Arc<NodeStats>,
    cycles: Option<Cycles>,
}

/// The venue's two connections and who is at their other ends.
#[derive(Debug)]
pub(crate) struct VenueLinks {
    /// ITCH out to the feed.
    pub(crate) md: MessageChannel,
    /// The feed.
    pub(crate) feed: Peer,
    /// Orders in from and executions out to the gateway.
    pub(crate) orders: MessageChannel,
    /// The gateway.
    pub(crate) gateway: Peer,
}

impl VenueAgent {
    /// A venue for `instruments` sending ITCH to the feed and executions to the gateway
    /// on `links`.
    pub(crate) fn new(
        instruments: &[VenueInstrument],
        links: VenueLinks,
        rate: u32,
        seed: u64,
        stats: Arc<NodeStats>,
    ) -> VenueAgent {
        let sim = VenueSim::new(&VenueConfig {
            instruments: instruments.iter().map(|i| i.id).collect(),
            ..VenueConfig::default()
        });
        VenueAgent {
            sim,
            books: instruments
                .iter()
                .map(|&inst| HouseBook {
                    inst,
                    mid: inst.start.ticks(),
                    resting: VecDeque::with_capacity(MAX_HOUSE_RESTING + 1),
                })
                .collect(),
            md: links.md,
            orders: links.orders,
            md_out: Outbox::new(),
            exec_out: Outbox::new(),
            rng: Rng(seed),
            rate: u64::from(rate),
            start: None,
            generated: 0,
            next_house_id: 0,
            buf: [0; MessageType::MAX_LEN],
            feed: links.feed,
            gateway: links.gateway,
            cycles: metrics::take(&stats.metrics.venue),
            stats,
        }
    }

    /// Queues an ITCH message for the feed.
    fn queue_itch(&mut self, msg: &ItchMessage) -> Result<(), EmitError> {
        let mut bytes = [0u8; MAX_MESSAGE_LEN];
        let len = msg.emit(&mut bytes)?;
        self.md_out.push(bytes.get(..len).unwrap_or_default());
        Ok(())
    }

    /// Moves the simulator's market data and executions to the outboxes.
    fn drain_sim(&mut self) -> Result<usize, AgentError> {
        let mut work = 0;
        while let Some(event) = self.sim.poll_market_data() {
            let instrument = match &event {
                tickwarp_gateway::venue::MdEvent::Add(a) => a.instrument(),
                tickwarp_gateway::venue::MdEvent::Cancel(c) => c.instrument(),
                tickwarp_gateway::venue::MdEvent::Trade(t, _) => t.instrument(),
                tickwarp_gateway::venue::MdEvent::Bbo(b) => b.instrument(),
            };
            let Some(book) = self.books.iter().find(|b| b.inst.id == instrument) else {
                continue;
            };
            let stock = book.inst.stock;
            if let Some(msg) = to_itch(&event, stock).map_err(AgentError::from)? {
                self.queue_itch(&msg).map_err(AgentError::from)?;
                self.stats.venue_md.fetch_add(1, Ordering::Relaxed);
            }
            work += 1;
        }
        while let Some(exec) = self.sim.poll_execution() {
            work += 1;
            let (account, bytes): (AccountId, &[u8]) = match &exec {
                Execution::Accepted(e) => (e.account(), e.as_bytes()),
                Execution::Rejected(e) => (e.account(), e.as_bytes()),
                Execution::Filled(e) => (e.account(), e.as_bytes()),
                Execution::Canceled(e) => (e.account(), e.as_bytes()),
                Execution::CancelRejected(e) => (e.account(), e.as_bytes()),
                Execution::Replaced(e) => (e.account(), e.as_bytes()),
            };
            if account == HOUSE_ACCOUNT {
                if let Execution::Filled(f) = &exec {
                    if f.fill().leaves_qty.is_zero() {
                        let id = f.cl_ord_id();
                        if let Some(book) =
                            self.books.iter_mut().find(|b| b.inst.id == f.instrument())
                        {
                            book.resting.retain(|(r, _)| *r != id);
                        }
                    }
                }
                continue;
            }
            if matches!(exec, Execution::Filled(_)) {
                self.stats.venue_fills.fetch_add(1, Ordering::Relaxed);
            }
            self.exec_out.push(bytes);
        }
        Ok(work)
    }

    /// Handles orders from the gateway.
    fn read_orders(&mut self, at: VenueTime) -> Result<usize, AgentError> {
        let mut work = 0;
        for _ in 0..RECV_BATCH {
            let len = match self.orders.try_recv(&mut self.buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => return Err(self.gateway.lost(e).into()),
            };
            work += 1;
            self.stats.venue_orders.fetch_add(1, Ordering::Relaxed);
            match decode(self.buf.get(..len).unwrap_or_default()) {
                Ok(Message::NewOrder(n)) => self.sim.handle_new(at, n),
                Ok(Message::CancelOrder(c)) => self.sim.handle_cancel(at, c),
                Ok(Message::ReplaceOrder(r)) => self.sim.handle_replace(at, r),
                _ => {
                    self.stats.venue_bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(work)
    }

    /// The next house client order id (`H` and a counter).
    fn house_id(&mut self) -> Option<ClientOrderId> {
        self.next_house_id += 1;
        let mut digits = [0u8; 20];
        let mut n = self.next_house_id;
        let mut at = digits.len();
        while n > 0 && at > 0 {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
        }
        let mut id = [0u8; 16];
        id[0] = b'H';
        let tail = digits.get(at..).unwrap_or_default();
        let len = tail.len().min(15);
        id.get_mut(1..1 + len)?.copy_from_slice(tail.get(..len)?);
        ClientOrderId::from_bytes(id.get(..1 + len)?).ok()
    }

    /// One house event on a random instrument.
    fn house_event(&mut self, at: VenueTime) {
        let which = self.rng.below(self.books.len() as u64) as usize;
        let roll = self.rng.below(100);
        let Some(book) = self.books.get(which) else {
            return;
        };
        let (inst, mid, tick) = (book.inst, book.mid, book.inst.tick.ticks());
        let crowded = book.resting.len() >= MAX_HOUSE_RESTING;
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let sign = if side == Side::Buy { -1 } else { 1 };
        match roll {
            0..45 if !crowded => {
                let away = 1 + self.rng.below(5) as i64;
                let qty = 100 * (1 + self.rng.below(5));
                self.house_order(
                    at,
                    inst,
                    side,
                    mid + sign * away * tick,
                    qty,
                    TimeInForce::Day,
                );
            }
            0..80 => {
                let oldest = self
                    .books
                    .get_mut(which)
                    .and_then(|b| b.resting.pop_front());
                if let (Some((orig, orig_side)), Some(cl)) = (oldest, self.house_id()) {
                    let cancel = CancelOrder::new(
                        cl,
                        orig,
                        inst.id,
                        HOUSE_ACCOUNT,
                        orig_side,
                        TickCause::NONE,
                    );
                    self.sim.handle_cancel(at, &cancel);
                }
            }
            80..95 => {
                let qty = 100 * (1 + self.rng.below(3));
                self.house_order(at, inst, side, mid - sign * 2 * tick, qty, TimeInForce::Ioc);
            }
            _ => {
                if let Some(b) = self.books.get_mut(which) {
                    let step = if side == Side::Buy { tick } else { -tick };
                    b.mid = (b.mid + step).max(inst.start.ticks() / 2).max(20 * tick);
                }
            }
        }
        self.stats.venue_house.fetch_add(1, Ordering::Relaxed);
    }

    /// Enters a house limit order.
    fn house_order(
        &mut self,
        at: VenueTime,
        inst: VenueInstrument,
        side: Side,
        px: i64,
        qty: u64,
        tif: TimeInForce,
    ) {
        let Some(cl) = self.house_id() else {
            return;
        };
        let spec = OrderSpec {
            instrument: inst.id,
            account: HOUSE_ACCOUNT,
            side,
            ord_type: OrderType::Limit,
            tif,
            price: Price::from_ticks(px.max(inst.tick.ticks())),
            qty: Qty(qty),
        };
        self.sim
            .handle_new(at, &NewOrder::new(cl, &spec, TickCause::NONE));
        if tif == TimeInForce::Day {
            if let Some(b) = self.books.iter_mut().find(|b| b.inst.id == inst.id) {
                b.resting.push_back((cl, side));
            }
        }
    }
}

impl Agent for VenueAgent {
    fn role_name(&self) -> &str {
        "venue"
    }

    fn on_start(&mut self) -> Result<(), AgentError> {
        // Stock Directory (§1.2.1) first, so the feed maps locates to instruments in
        // instrument order.
        let wall = unix_now();
        let stocks: Vec<ItchStock> = self.books.iter().map(|b| b.inst.stock).collect();
        for stock in stocks {
            let directory = StockDirectory {
                header: Header {
                    stock_locate: stock.locate,
                    tracking_number: 0,
                    timestamp: Timestamp::new(wall.get() % 86_400_000_000_000)
                        .unwrap_or(Timestamp::ZERO),
                },
                stock: stock.symbol.to_itch(),
                market_category: b'Q',
                financial_status_indicator: b'N',
                round_lot_size: 100,
                round_lots_only: b'N',
                issue_classification: b'C',
                issue_sub_type: *b"C ",
                authenticity: b'T',
                short_sale_threshold_indicator: b'N',
                ipo_flag: b'N',
                luld_reference_price_tier: b'1',
                etp_flag: b'N',
                etp_leverage_factor: 0,
                inverse_indicator: b'N',
            };
            self.queue_itch(&directory.into())
                .map_err(AgentError::from)?;
        }
        Ok(())
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let at = VenueTime {
            wall: unix_now(),
            mono: now,
        };
        let mut work = self.read_orders(at)?;
        let start = *self.start.get_or_insert(now);
        let quiet = self.stats.quiesce.load(Ordering::Relaxed);
        let backlog = self.md_out.len().max(self.exec_out.len());
        if !quiet && backlog < OUTBOX_PAUSE {
            let elapsed = u128::from(now.saturating_sub(start).get());
            let due = (elapsed * u128::from(self.rate) / 1_000_000_000) as u64;
            let n = due.saturating_sub(self.generated).min(EVENTS_PER_CYCLE);
            for _ in 0..n {
                self.house_event(at);
            }
            // Falling behind (a stall) does not bunch events up afterwards.
            self.generated = self.generated.max(due.saturating_sub(EVENTS_PER_CYCLE)) + n;
            work += n as usize;
        }
        work += self.drain_sim()?;
        work += self
            .md_out
            .flush(&mut self.md)
            .map_err(|e| self.feed.lost(e))?;
        work += self
            .exec_out
            .flush(&mut self.orders)
            .map_err(|e| self.gateway.lost(e))?;
        if let Some(c) = self.cycles.as_mut() {
            c.record(work);
        }
        Ok(work)
    }

    fn on_close(&mut self) {
        metrics::put(&self.stats.metrics.venue, self.cycles.take());
    }
}

/// The ITCH identity of instrument `index` (locate = index + 1).
pub(crate) fn itch_stock(index: usize, symbol: Symbol) -> ItchStock {
    ItchStock {
        locate: u16::try_from(index + 1).unwrap_or(u16::MAX),
        symbol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_bounded() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        for _ in 0..1_000 {
            let x = a.below(5);
            assert_eq!(x, b.below(5));
            assert!(x < 5);
        }
    }

    #[test]
    fn outbox_keeps_order() {
        let mut o = Outbox::new();
        o.push(&[1, 2, 3]);
        o.push(&[4]);
        assert_eq!(o.len(), 2);
        let (first, len) = o
            .queue
            .front()
            .copied()
            .unwrap_or(([0; MessageType::MAX_LEN], 0));
        assert_eq!(&first[..usize::from(len)], &[1, 2, 3]);
    }
}
