//! [`VenueSim`]: the built-in venue, a price-time-priority matching engine per
//! instrument, for the demo, tests and benchmarks.
//!
//! Rules:
//! - A limit order trades against the opposite side while prices cross, at the resting
//!   order's price, best price first and oldest order first within a price; its rest
//!   then rests (Day, GTC) or is canceled (IOC). A market order trades what it can at
//!   any price and never rests, whatever its time in force. A FOK order trades entirely
//!   at once or is canceled untouched.
//! - A post-only order (ExecInst 6) must be a limit order that rests (Day, GTC) and does not
//!   cross the best opposite price; otherwise it is rejected (`WouldCross`), as most venues
//!   do, and never trades as a taker. Once resting it trades only passively. A replace
//!   carries no ExecInst (FIX restates every field on 35=G), so a replaced order is no
//!   longer post-only.
//! - A cancel removes the rest of a resting order.
//! - A replace that lowers the quantity at the same price keeps the order's place and
//!   reference; a replace that changes the price or raises the quantity loses it: the
//!   order leaves the book, gets a new venue order id (the market data reference) and
//!   enters again as a new order would (it may trade). A replace may not change side,
//!   order type or time in force, nor lower the quantity to what already traded.
//! - No self-trade prevention; no auctions; no hidden quantity.
//!
//! Outputs: execution events for the owner of every order involved (the aggressor and
//! each resting order it trades with), polled with [`VenueSession::poll_execution`], and
//! the venue's own market data ([`MdEvent`]: order adds, cancels, trades and top of book
//! after each command), polled with [`VenueSim::poll_market_data`], which
//! [`super::itch`] turns into ITCH 5.0. Time is an argument ([`VenueTime`]).
//!
//! Allocation: none per command in steady state. The slab of resting orders and the
//! ClOrdID index are sized once (a new order that would rest in a full slab is
//! rejected); level vectors and output queues are presized and grow only when a book
//! side has more levels, or a caller leaves more events unpolled, than configured.
//! No clock, no I/O, no panics.

use std::collections::{HashMap, VecDeque};

use tickwarp_wire::{
    CancelOrder, CancelRejected, ClientOrderId, CxlRejResponseTo, ExecMeta, Fill, InstrumentId,
    MdAddOrder, MdBboUpdate, MdCancelOrder, MdMeta, MdTrade, NewOrder, OrderAccepted,
    OrderCanceled, OrderFilled, OrderRejected, OrderReplaced, OrderType, Price, Qty, Quote,
    RejectReason, ReplaceOrder, Replaced, SeqNo, Side, TimeInForce,
};

use super::book::{Book, Resting, Slab};
use super::{Execution, MdEvent, VenueSession, VenueTime};
use crate::orders::OrderKey;

/// Sizes of the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueConfig {
    /// The instruments traded (others are rejected as unknown).
    pub instruments: Vec<InstrumentId>,
    /// Most orders resting at once, all instruments together.
    pub max_resting_orders: usize,
    /// Price levels per book side held without allocating.
    pub levels_per_side: usize,
    /// Execution and market data events held unpolled without allocating.
    pub queue_capacity: usize,
}

impl Default for VenueConfig {
    fn default() -> VenueConfig {
        VenueConfig {
            instruments: Vec::new(),
            max_resting_orders: 65_536,
            levels_per_side: 256,
            queue_capacity: 4_096,
        }
    }
}

/// One instrument's book and the top of book last published for it.
#[derive(Debug)]
struct BookState {
    instrument: InstrumentId,
    book: Book,
    last_top: (Quote, Quote),
}

/// The incoming side of a match.
#[derive(Clone, Copy, Debug)]
struct Taker {
    order_id: u64,
    key: OrderKey,
    instrument: InstrumentId,
    side: Side,
    /// `None` for a market order.
    limit: Option<Price>,
    qty: Qty,
    cum: Qty,
}

impl Taker {
    fn leaves(&self) -> Qty {
        self.qty.saturating_sub(self.cum)
    }

    fn crosses(&self, level: Price) -> bool {
        match (self.limit, self.side) {
            (None, _) => true,
            (Some(limit), Side::Buy) => level <= limit,
            (Some(limit), Side::Sell) => level >= limit,
        }
    }
}

/// An empty side of the top of book.
const NO_QUOTE: Quote = Quote {
    px: Price::ZERO,
    qty: Qty::ZERO,
    orders: 0,
};

/// The price-time-priority matching simulator.
#[derive(Debug)]
pub struct VenueSim {
    slab: Slab,
    books: Vec<BookState>,
    book_index: HashMap<InstrumentId, u32>,
    by_key: HashMap<OrderKey, u32>,
    next_order_id: u64,
    next_match: u64,
    md_seq: SeqNo,
    executions: VecDeque<Execution>,
    market_data: VecDeque<MdEvent>,
}

impl VenueSim {
    /// A venue with empty books for `config.instruments`.
    pub fn new(config: &VenueConfig) -> VenueSim {
        let mut books = Vec::with_capacity(config.instruments.len());
        let mut book_index = HashMap::with_capacity(config.instruments.len());
        for &instrument in &config.instruments {
            if book_index.contains_key(&instrument) {
                continue;
            }
            book_index.insert(instrument, books.len() as u32);
            books.push(BookState {
                instrument,
                book: Book::with_levels(config.levels_per_side),
                last_top: (NO_QUOTE, NO_QUOTE),
            });
        }
        VenueSim {
            slab: Slab::with_capacity(config.max_resting_orders),
            books,
            book_index,
            // Twice the slab so hashbrown rehashes in place instead of growing.
            by_key: HashMap::with_capacity(config.max_resting_orders.saturating_mul(2)),
            next_order_id: 1,
            next_match: 1,
            md_seq: SeqNo::NONE,
            executions: VecDeque::with_capacity(config.queue_capacity),
            market_data: VecDeque::with_capacity(config.queue_capacity),
        }
    }

    /// The next market data event, oldest first.
    pub fn poll_market_data(&mut self) -> Option<MdEvent> {
        self.market_data.pop_front()
    }

    /// The best bid and offer of `instrument` (a side with zero quantity is empty).
    pub fn top_of_book(&self, instrument: InstrumentId) -> Option<(Quote, Quote)> {
        let state = self
            .books
            .get(*self.book_index.get(&instrument)? as usize)?;
        Some(top(&state.book))
    }

    /// The price levels of one side of `instrument`, best first: price, quantity, orders.
    pub fn depth(
        &self,
        instrument: InstrumentId,
        side: Side,
    ) -> impl Iterator<Item = (Price, Qty, u32)> + '_ {
        self.book_index
            .get(&instrument)
            .and_then(|&ix| self.books.get(ix as usize))
            .map(|s| s.book.levels(side))
            .unwrap_or_default()
            .iter()
            .rev()
            .map(|l| (l.price, Qty(l.qty), l.count))
    }

    /// The resting order of `key`: venue order id, price, leaves and traded quantity.
    pub fn resting(&self, key: &OrderKey) -> Option<(u64, Price, Qty, Qty)> {
        let node = self.slab.get(*self.by_key.get(key)?)?;
        Some((node.order_id, node.price, node.leaves, node.cum))
    }

    /// Orders resting, all instruments together.
    pub fn resting_count(&self) -> usize {
        self.by_key.len()
    }

    fn md_meta(&mut self, now: VenueTime, instrument: InstrumentId) -> MdMeta {
        self.md_seq = self.md_seq.next();
        MdMeta {
            instrument,
            feed_seq: self.md_seq,
            venue_ts: now.wall,
            recv_ts: now.mono,
        }
    }

    fn exec_meta(
        now: VenueTime,
        instrument: InstrumentId,
        key: OrderKey,
        order_id: u64,
    ) -> ExecMeta {
        ExecMeta {
            instrument,
            account: key.account,
            cl_ord_id: key.cl_ord_id,
            order_id,
            transact_time: now.wall,
            gateway_ts: now.mono,
        }
    }

    fn reject_new(&mut self, now: VenueTime, cmd: &NewOrder, reason: RejectReason) {
        let key = OrderKey {
            account: cmd.account(),
            cl_ord_id: cmd.cl_ord_id(),
        };
        let meta = Self::exec_meta(now, cmd.instrument(), key, 0);
        self.executions
            .push_back(Execution::Rejected(OrderRejected::new(meta, reason)));
    }

    #[allow(clippy::too_many_arguments)]
    fn reject_cxl(
        &mut self,
        now: VenueTime,
        instrument: InstrumentId,
        key: OrderKey,
        order_id: u64,
        orig: ClientOrderId,
        to: CxlRejResponseTo,
        reason: RejectReason,
    ) {
        let meta = Self::exec_meta(now, instrument, key, order_id);
        self.executions
            .push_back(Execution::CancelRejected(CancelRejected::new(
                meta, orig, to, reason,
            )));
    }

    /// A new order (FIX NewOrderSingle).
    pub fn handle_new(&mut self, now: VenueTime, cmd: &NewOrder) {
        let spec = cmd.spec();
        let key = OrderKey {
            account: spec.account,
            cl_ord_id: cmd.cl_ord_id(),
        };
        let Some(&ix) = self.book_index.get(&spec.instrument) else {
            return self.reject_new(now, cmd, RejectReason::UnknownInstrument);
        };
        if spec.qty.is_zero() || spec.qty.0 > u64::from(u32::MAX) {
            return self.reject_new(now, cmd, RejectReason::InvalidQty);
        }
        if spec.ord_type == OrderType::Limit && spec.price <= Price::ZERO {
            return self.reject_new(now, cmd, RejectReason::InvalidPrice);
        }
        if self.by_key.contains_key(&key) {
            return self.reject_new(now, cmd, RejectReason::DuplicateClOrdId);
        }
        let rests = spec.ord_type == OrderType::Limit
            && matches!(spec.tif, TimeInForce::Day | TimeInForce::Gtc);
        if cmd.post_only() && !(rests && self.post_only_rests(ix, spec.side, spec.price)) {
            // Post-only ("participate don't initiate"): rejected, never traded as a taker.
            return self.reject_new(now, cmd, RejectReason::WouldCross);
        }
        if rests && self.slab.is_full() {
            return self.reject_new(now, cmd, RejectReason::VenueRejected);
        }
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let meta = Self::exec_meta(now, spec.instrument, key, order_id);
        self.executions
            .push_back(Execution::Accepted(OrderAccepted::new(
                meta,
                spec.side,
                spec.ord_type,
                spec.tif,
            )));
        let mut taker = Taker {
            order_id,
            key,
            instrument: spec.instrument,
            side: spec.side,
            limit: (spec.ord_type == OrderType::Limit).then_some(spec.price),
            qty: spec.qty,
            cum: Qty::ZERO,
        };
        if spec.tif == TimeInForce::Fok && !self.can_fill(ix, &taker) {
            self.executions
                .push_back(Execution::Canceled(OrderCanceled::new(
                    meta,
                    None,
                    spec.qty,
                    Qty::ZERO,
                )));
            return;
        }
        self.match_taker(now, ix, &mut taker);
        let leaves = taker.leaves();
        if !leaves.is_zero() {
            if rests {
                let node = Resting::new(
                    order_id,
                    key.account,
                    key.cl_ord_id,
                    ix,
                    spec.side,
                    spec.tif,
                    spec.price,
                    spec.qty,
                    taker.cum,
                );
                self.rest(now, ix, node);
            } else {
                self.executions
                    .push_back(Execution::Canceled(OrderCanceled::new(
                        meta, None, leaves, taker.cum,
                    )));
            }
        }
        self.publish_top(now, ix);
    }

    /// A cancel request (FIX OrderCancelRequest).
    pub fn handle_cancel(&mut self, now: VenueTime, cmd: &CancelOrder) {
        let orig = cmd.orig_cl_ord_id();
        let request = OrderKey {
            account: cmd.account(),
            cl_ord_id: cmd.cl_ord_id(),
        };
        let target = OrderKey {
            account: cmd.account(),
            cl_ord_id: orig,
        };
        let found = self.by_key.get(&target).and_then(|&slot| {
            let node = self.slab.get(slot)?;
            let state = self.books.get(node.book as usize)?;
            (state.instrument == cmd.instrument()).then_some((slot, *node))
        });
        let Some((slot, node)) = found else {
            return self.reject_cxl(
                now,
                cmd.instrument(),
                request,
                0,
                orig,
                CxlRejResponseTo::Cancel,
                RejectReason::UnknownOrder,
            );
        };
        let ix = node.book;
        if let Some(state) = self.books.get_mut(ix as usize) {
            state.book.unlink(&mut self.slab, slot);
        }
        self.slab.remove(slot);
        self.by_key.remove(&target);
        let meta = Self::exec_meta(now, cmd.instrument(), request, node.order_id);
        self.executions
            .push_back(Execution::Canceled(OrderCanceled::new(
                meta,
                Some(orig),
                node.leaves,
                node.cum,
            )));
        let md = self.md_meta(now, cmd.instrument());
        self.market_data
            .push_back(MdEvent::Cancel(MdCancelOrder::new(
                md,
                node.order_id,
                node.leaves,
                Qty::ZERO,
            )));
        self.publish_top(now, ix);
    }

    /// A cancel/replace request (FIX OrderCancelReplaceRequest).
    pub fn handle_replace(&mut self, now: VenueTime, cmd: &ReplaceOrder) {
        let spec = cmd.spec();
        let orig = cmd.orig_cl_ord_id();
        let new_key = OrderKey {
            account: spec.account,
            cl_ord_id: cmd.cl_ord_id(),
        };
        let old_key = OrderKey {
            account: spec.account,
            cl_ord_id: orig,
        };
        let found = self.by_key.get(&old_key).and_then(|&slot| {
            let node = self.slab.get(slot)?;
            let state = self.books.get(node.book as usize)?;
            (state.instrument == spec.instrument).then_some((slot, *node))
        });
        let reject = |sim: &mut VenueSim, order_id, reason| {
            sim.reject_cxl(
                now,
                spec.instrument,
                new_key,
                order_id,
                orig,
                CxlRejResponseTo::Replace,
                reason,
            );
        };
        let Some((slot, node)) = found else {
            return reject(self, 0, RejectReason::UnknownOrder);
        };
        if spec.side != node.side || spec.ord_type != OrderType::Limit || spec.tif != node.tif {
            return reject(self, node.order_id, RejectReason::VenueRejected);
        }
        if spec.price <= Price::ZERO {
            return reject(self, node.order_id, RejectReason::InvalidPrice);
        }
        if spec.qty <= node.cum || spec.qty.0 > u64::from(u32::MAX) {
            return reject(self, node.order_id, RejectReason::InvalidQty);
        }
        if new_key != old_key && self.by_key.contains_key(&new_key) {
            return reject(self, node.order_id, RejectReason::DuplicateClOrdId);
        }
        let ix = node.book;
        let new_leaves = spec.qty.saturating_sub(node.cum);
        self.by_key.remove(&old_key);
        let keeps_priority = spec.price == node.price && spec.qty <= node.qty;
        if keeps_priority {
            let cut = node.leaves.saturating_sub(new_leaves);
            if let Some(state) = self.books.get_mut(ix as usize) {
                state.book.reduce(&mut self.slab, slot, cut);
            }
            if let Some(n) = self.slab.get_mut(slot) {
                n.qty = spec.qty;
                n.cl_ord_id = new_key.cl_ord_id;
            }
            self.by_key.insert(new_key, slot);
            self.push_replaced(
                now,
                spec.instrument,
                new_key,
                node.order_id,
                orig,
                spec.price,
                spec.qty,
                new_leaves,
                node.cum,
            );
            if !cut.is_zero() {
                let md = self.md_meta(now, spec.instrument);
                self.market_data
                    .push_back(MdEvent::Cancel(MdCancelOrder::new(
                        md,
                        node.order_id,
                        cut,
                        new_leaves,
                    )));
            }
            self.publish_top(now, ix);
            return;
        }
        // Priority lost: out of the book, new reference, in again as a new order.
        if let Some(state) = self.books.get_mut(ix as usize) {
            state.book.unlink(&mut self.slab, slot);
        }
        self.slab.remove(slot);
        let md = self.md_meta(now, spec.instrument);
        self.market_data
            .push_back(MdEvent::Cancel(MdCancelOrder::new(
                md,
                node.order_id,
                node.leaves,
                Qty::ZERO,
            )));
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        self.push_replaced(
            now,
            spec.instrument,
            new_key,
            order_id,
            orig,
            spec.price,
            spec.qty,
            new_leaves,
            node.cum,
        );
        let mut taker = Taker {
            order_id,
            key: new_key,
            instrument: spec.instrument,
            side: spec.side,
            limit: Some(spec.price),
            qty: spec.qty,
            cum: node.cum,
        };
        self.match_taker(now, ix, &mut taker);
        if !taker.leaves().is_zero() {
            let node = Resting::new(
                order_id,
                new_key.account,
                new_key.cl_ord_id,
                ix,
                spec.side,
                spec.tif,
                spec.price,
                spec.qty,
                taker.cum,
            );
            self.rest(now, ix, node);
        }
        self.publish_top(now, ix);
    }

    #[allow(clippy::too_many_arguments)]
    fn push_replaced(
        &mut self,
        now: VenueTime,
        instrument: InstrumentId,
        key: OrderKey,
        order_id: u64,
        orig: ClientOrderId,
        price: Price,
        qty: Qty,
        leaves_qty: Qty,
        cum_qty: Qty,
    ) {
        let meta = Self::exec_meta(now, instrument, key, order_id);
        self.executions
            .push_back(Execution::Replaced(OrderReplaced::new(
                meta,
                orig,
                Replaced {
                    price,
                    qty,
                    leaves_qty,
                    cum_qty,
                },
            )));
    }

    /// Puts `node` (not yet in the slab) at the back of its level and publishes the add.
    /// The caller checked that the slab has room (or freed a slot just before).
    fn rest(&mut self, now: VenueTime, ix: u32, node: Resting) {
        let Some(slot) = self.slab.insert(node) else {
            return;
        };
        if let Some(state) = self.books.get_mut(ix as usize) {
            state.book.push_back(&mut self.slab, slot);
        }
        self.by_key.insert(
            OrderKey {
                account: node.account,
                cl_ord_id: node.cl_ord_id,
            },
            slot,
        );
        let instrument = self
            .books
            .get(ix as usize)
            .map_or(InstrumentId::NONE, |s| s.instrument);
        let md = self.md_meta(now, instrument);
        self.market_data.push_back(MdEvent::Add(MdAddOrder::new(
            md,
            node.order_id,
            node.side,
            node.price,
            node.leaves,
        )));
    }

    /// Whether a post-only limit order at `price` on `side` of book `ix` would rest
    /// without crossing the best opposite price.
    fn post_only_rests(&self, ix: u32, side: Side, price: Price) -> bool {
        let Some(state) = self.books.get(ix as usize) else {
            return false;
        };
        match state.book.best(side.opposite()) {
            None => true,
            Some(best) => match side {
                Side::Buy => price < best.price,
                Side::Sell => price > best.price,
            },
        }
    }

    /// Whether `taker` could trade its whole quantity now (FOK).
    fn can_fill(&self, ix: u32, taker: &Taker) -> bool {
        let Some(state) = self.books.get(ix as usize) else {
            return false;
        };
        let mut available = 0u64;
        for level in state.book.levels(taker.side.opposite()).iter().rev() {
            if !taker.crosses(level.price) {
                break;
            }
            available = available.saturating_add(level.qty);
            if available >= taker.leaves().0 {
                return true;
            }
        }
        false
    }

    /// Trades `taker` against the opposite side of book `ix` while prices cross.
    fn match_taker(&mut self, now: VenueTime, ix: u32, taker: &mut Taker) {
        let maker_side = taker.side.opposite();
        loop {
            let remaining = taker.leaves();
            if remaining.is_zero() {
                break;
            }
            let Some(state) = self.books.get_mut(ix as usize) else {
                break;
            };
            let Some(level) = state.book.best(maker_side) else {
                break;
            };
            if !taker.crosses(level.price) {
                break;
            }
            let (px, slot) = (level.price, level.head);
            let Some(maker) = self.slab.get(slot).copied() else {
                break;
            };
            let qty = remaining.min(maker.leaves);
            state.book.reduce(&mut self.slab, slot, qty);
            let maker_cum = Qty(maker.cum.0 + qty.0);
            let maker_leaves = maker.leaves.saturating_sub(qty);
            if let Some(n) = self.slab.get_mut(slot) {
                n.cum = maker_cum;
            }
            let maker_key = OrderKey {
                account: maker.account,
                cl_ord_id: maker.cl_ord_id,
            };
            if maker_leaves.is_zero() {
                state.book.unlink(&mut self.slab, slot);
                self.slab.remove(slot);
                self.by_key.remove(&maker_key);
            }
            taker.cum = Qty(taker.cum.0 + qty.0);
            let exec_id = self.next_match;
            self.next_match += 1;

            let taker_meta = Self::exec_meta(now, taker.instrument, taker.key, taker.order_id);
            self.executions
                .push_back(Execution::Filled(OrderFilled::new(
                    taker_meta,
                    taker.side,
                    Fill {
                        exec_id,
                        last_px: px,
                        last_qty: qty,
                        cum_qty: taker.cum,
                        leaves_qty: taker.leaves(),
                    },
                )));
            let maker_meta = Self::exec_meta(now, taker.instrument, maker_key, maker.order_id);
            self.executions
                .push_back(Execution::Filled(OrderFilled::new(
                    maker_meta,
                    maker.side,
                    Fill {
                        exec_id,
                        last_px: px,
                        last_qty: qty,
                        cum_qty: maker_cum,
                        leaves_qty: maker_leaves,
                    },
                )));
            let md = self.md_meta(now, taker.instrument);
            self.market_data.push_back(MdEvent::Trade(
                MdTrade::new(md, maker.order_id, Some(taker.side), px, qty),
                exec_id,
            ));
        }
    }

    /// Publishes the top of book of `ix` if it changed.
    fn publish_top(&mut self, now: VenueTime, ix: u32) {
        let Some(state) = self.books.get(ix as usize) else {
            return;
        };
        let current = top(&state.book);
        if current == state.last_top {
            return;
        }
        let instrument = state.instrument;
        if let Some(state) = self.books.get_mut(ix as usize) {
            state.last_top = current;
        }
        let md = self.md_meta(now, instrument);
        self.market_data
            .push_back(MdEvent::Bbo(MdBboUpdate::new(md, current.0, current.1)));
    }
}

/// The best bid and offer of `book`.
fn top(book: &Book) -> (Quote, Quote) {
    let quote = |side| {
        book.best(side).map_or(NO_QUOTE, |l| Quote {
            px: l.price,
            qty: Qty(l.qty),
            orders: l.count,
        })
    };
    (quote(Side::Buy), quote(Side::Sell))
}

impl VenueSession for VenueSim {
    fn submit_new(&mut self, now: VenueTime, order: &NewOrder) {
        self.handle_new(now, order);
    }

    fn submit_cancel(&mut self, now: VenueTime, cancel: &CancelOrder) {
        self.handle_cancel(now, cancel);
    }

    fn submit_replace(&mut self, now: VenueTime, replace: &ReplaceOrder) {
        self.handle_replace(now, replace);
    }

    fn poll_execution(&mut self) -> Option<Execution> {
        self.executions.pop_front()
    }

    /// The simulator's book is rebuilt from the order journal on recovery (open orders
    /// are resubmitted), so a request need not be durable before it matches here.
    fn needs_write_ahead(&self) -> bool {
        false
    }
}
