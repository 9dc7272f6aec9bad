//! [`OrderBook`]: the order-by-order (L3) book of one instrument, driving its price
//! levels (L2) and its best bid and offer.
//!
//! Every change goes through the order map first: an operation that names an unknown
//! order, reuses a live reference, or removes more than an order holds is refused with a
//! [`BookError`] and leaves the book unchanged, so the levels always equal the aggregate
//! of the orders. Capacity: the order map and both ladders are allocated up front
//! ([`BookCapacity`]); they grow past it if they must (a feed cannot drop an order
//! without corrupting the book), and never shrink, so once the book has grown to its
//! working size, applying messages allocates nothing. The order map uses a cheap
//! multiplicative hash of the venue's order reference: references come from the venue,
//! not from untrusted clients. No I/O, no clock.

use core::hash::{BuildHasherDefault, Hasher};
use std::collections::HashMap;

use tickwarp_wire::{BookLevel, MdBookSnapshotChunk, MdMeta, Price, Qty, Quote, Side};

use super::ladder::{Ladder, LadderError, Level};

/// A resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Order {
    /// Its side.
    pub side: Side,
    /// Its limit price.
    pub price: Price,
    /// Its displayed quantity left.
    pub qty: Qty,
}

/// The result of removing quantity from an order (execution or cancel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reduced {
    /// The order before the change.
    pub order: Order,
    /// Quantity removed.
    pub removed: Qty,
    /// Quantity left; zero means the order left the book.
    pub remaining: Qty,
}

/// Why the book refused a change. The book is unchanged after any of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    /// No live order has this reference.
    #[error("unknown order reference {order_ref}")]
    UnknownOrder {
        /// The reference.
        order_ref: u64,
    },
    /// A live order already has this reference.
    #[error("order reference {order_ref} is already on the book")]
    DuplicateOrder {
        /// The reference.
        order_ref: u64,
    },
    /// An add, replace, execution or cancel of zero shares.
    #[error("zero quantity for order {order_ref}")]
    ZeroQty {
        /// The reference.
        order_ref: u64,
    },
    /// An execution or cancel of more than the order holds.
    #[error("order {order_ref} holds {have} shares, cannot remove {want}")]
    Overfill {
        /// The reference.
        order_ref: u64,
        /// Quantity the order holds.
        have: Qty,
        /// Quantity asked for.
        want: Qty,
    },
    /// A level's total quantity or order count would overflow.
    #[error("quantity overflow at price {price}")]
    Overflow {
        /// The level's price.
        price: Price,
    },
}

/// Initial sizes of a book's structures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BookCapacity {
    /// Live orders.
    pub orders: usize,
    /// Price levels per side.
    pub levels_per_side: usize,
}

impl Default for BookCapacity {
    fn default() -> BookCapacity {
        BookCapacity {
            orders: 4096,
            levels_per_side: 256,
        }
    }
}

/// A multiplicative hasher for venue order references.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RefHasher(u64);

/// An odd constant with well-mixed bits (2^64 divided by the golden ratio).
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for RefHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(MIX);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(MIX);
    }
}

type OrderMap = HashMap<u64, Order, BuildHasherDefault<RefHasher>>;

/// The L3 + L2 book of one instrument.
#[derive(Clone, Debug)]
pub struct OrderBook {
    orders: OrderMap,
    bids: Ladder,
    asks: Ladder,
}

impl OrderBook {
    /// An empty book with structures preallocated to `capacity`.
    pub fn new(capacity: BookCapacity) -> OrderBook {
        OrderBook {
            orders: OrderMap::with_capacity_and_hasher(capacity.orders, Default::default()),
            bids: Ladder::with_capacity(Side::Buy, capacity.levels_per_side),
            asks: Ladder::with_capacity(Side::Sell, capacity.levels_per_side),
        }
    }

    fn ladder(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Adds order `order_ref` (ITCH `A`/`F`, §1.3).
    pub fn add(
        &mut self,
        order_ref: u64,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<(), BookError> {
        if qty.is_zero() {
            return Err(BookError::ZeroQty { order_ref });
        }
        if self.orders.contains_key(&order_ref) {
            return Err(BookError::DuplicateOrder { order_ref });
        }
        self.ladder(side)
            .add(price, qty)
            .map_err(|_| BookError::Overflow { price })?;
        self.orders.insert(order_ref, Order { side, price, qty });
        Ok(())
    }

    /// Removes `qty` from order `order_ref`; the order leaves the book at zero.
    fn reduce(&mut self, order_ref: u64, qty: Qty) -> Result<Reduced, BookError> {
        let order = *self
            .orders
            .get(&order_ref)
            .ok_or(BookError::UnknownOrder { order_ref })?;
        if qty.is_zero() {
            return Err(BookError::ZeroQty { order_ref });
        }
        let remaining = order.qty.checked_sub(qty).ok_or(BookError::Overfill {
            order_ref,
            have: order.qty,
            want: qty,
        })?;
        let gone = remaining.is_zero();
        self.ladder(order.side)
            .remove(order.price, qty, gone)
            .map_err(|e| match e {
                LadderError::Overflow | LadderError::Missing => {
                    BookError::Overflow { price: order.price }
                }
            })?;
        if gone {
            self.orders.remove(&order_ref);
        } else if let Some(o) = self.orders.get_mut(&order_ref) {
            o.qty = remaining;
        }
        Ok(Reduced {
            order,
            removed: qty,
            remaining,
        })
    }

    /// Executes `qty` of order `order_ref` (ITCH `E`/`C`, §1.4.1–2).
    pub fn execute(&mut self, order_ref: u64, qty: Qty) -> Result<Reduced, BookError> {
        self.reduce(order_ref, qty)
    }

    /// Cancels `qty` of order `order_ref` (ITCH `X`, §1.4.3).
    pub fn cancel(&mut self, order_ref: u64, qty: Qty) -> Result<Reduced, BookError> {
        self.reduce(order_ref, qty)
    }

    /// Removes order `order_ref` (ITCH `D`, §1.4.4); returns it.
    pub fn delete(&mut self, order_ref: u64) -> Result<Order, BookError> {
        let qty = self
            .orders
            .get(&order_ref)
            .ok_or(BookError::UnknownOrder { order_ref })?
            .qty;
        self.reduce(order_ref, qty).map(|r| r.order)
    }

    /// Replaces order `old_ref` by `new_ref` on the same side at `price` for `qty` (ITCH
    /// `U`, §1.4.5); returns the old order.
    pub fn replace(
        &mut self,
        old_ref: u64,
        new_ref: u64,
        price: Price,
        qty: Qty,
    ) -> Result<Order, BookError> {
        let old = *self
            .orders
            .get(&old_ref)
            .ok_or(BookError::UnknownOrder { order_ref: old_ref })?;
        if qty.is_zero() {
            return Err(BookError::ZeroQty { order_ref: new_ref });
        }
        if new_ref != old_ref && self.orders.contains_key(&new_ref) {
            return Err(BookError::DuplicateOrder { order_ref: new_ref });
        }
        self.delete(old_ref)?;
        if let Err(e) = self.add(new_ref, old.side, price, qty) {
            // Put the old order back so a refused replace changes nothing; it was on the
            // book a moment ago, so this cannot fail.
            let _ = self.add(old_ref, old.side, old.price, old.qty);
            return Err(e);
        }
        Ok(old)
    }

    /// Removes every order, keeping the allocated capacity.
    pub fn clear(&mut self) {
        self.orders.clear();
        self.bids.clear();
        self.asks.clear();
    }

    /// The live order `order_ref`.
    pub fn order(&self, order_ref: u64) -> Option<Order> {
        self.orders.get(&order_ref).copied()
    }

    /// All live orders, in no particular order.
    pub fn orders(&self) -> impl ExactSizeIterator<Item = (u64, Order)> + '_ {
        self.orders.iter().map(|(&r, &o)| (r, o))
    }

    /// Number of live orders.
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// Whether the book has no order.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// Bid levels, best (highest) first.
    pub fn bids(&self) -> impl ExactSizeIterator<Item = Level> + '_ {
        self.bids.iter()
    }

    /// Ask levels, best (lowest) first.
    pub fn asks(&self) -> impl ExactSizeIterator<Item = Level> + '_ {
        self.asks.iter()
    }

    /// The levels of `side`, best first.
    pub fn levels(&self, side: Side) -> impl ExactSizeIterator<Item = Level> + '_ {
        match side {
            Side::Buy => self.bids.iter(),
            Side::Sell => self.asks.iter(),
        }
    }

    /// The best bid level.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best()
    }

    /// The best ask level.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best()
    }

    /// Whether the best bid is at or above the best ask.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// The best bid and offer as wire quotes (an empty side has zero quantity and price).
    pub fn bbo(&self) -> (Quote, Quote) {
        (quote(self.best_bid()), quote(self.best_ask()))
    }

    /// A full-depth (up to `max_depth` levels per side) snapshot as wire chunks of
    /// [`MdBookSnapshotChunk::LEVELS`] levels, all carrying `meta`. An empty book is one
    /// chunk of no levels.
    pub fn snapshot(&self, meta: MdMeta, max_depth: usize) -> Snapshot<'_> {
        let per_chunk = MdBookSnapshotChunk::LEVELS;
        let limit = per_chunk * usize::from(u16::MAX);
        let depth = self
            .bids
            .len()
            .max(self.asks.len())
            .min(max_depth)
            .min(limit);
        let chunks = depth.div_ceil(per_chunk).max(1);
        Snapshot {
            book: self,
            meta,
            depth,
            next: 0,
            count: u16::try_from(chunks).unwrap_or(u16::MAX),
        }
    }
}

/// A level as a wire quote.
fn quote(level: Option<Level>) -> Quote {
    level.map_or(Quote::default(), |l| Quote {
        px: l.price,
        qty: l.qty,
        orders: l.orders,
    })
}

/// The chunks of one book snapshot (see [`OrderBook::snapshot`]); allocates nothing.
#[derive(Clone, Debug)]
pub struct Snapshot<'a> {
    book: &'a OrderBook,
    meta: MdMeta,
    depth: usize,
    next: u16,
    count: u16,
}

impl Iterator for Snapshot<'_> {
    type Item = MdBookSnapshotChunk;

    fn next(&mut self) -> Option<MdBookSnapshotChunk> {
        if self.next >= self.count {
            return None;
        }
        let per_chunk = MdBookSnapshotChunk::LEVELS;
        let first = usize::from(self.next) * per_chunk;
        let n = self.depth.saturating_sub(first).min(per_chunk);
        let mut levels = [BookLevel::default(); MdBookSnapshotChunk::LEVELS];
        for (i, slot) in levels.iter_mut().enumerate().take(n) {
            let b = quote(self.book.bids.at_depth(first + i));
            let a = quote(self.book.asks.at_depth(first + i));
            *slot = BookLevel::new(b.px, b.qty, a.px, a.qty);
        }
        let chunk = MdBookSnapshotChunk::new(
            self.meta,
            self.next,
            self.count,
            u16::try_from(first).unwrap_or(u16::MAX),
            levels.get(..n).unwrap_or_default(),
        )
        .ok()?;
        self.next += 1;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwarp_wire::{InstrumentId, Nanos, SeqNo, UnixNanos};

    fn px(t: i64) -> Price {
        Price::from_ticks(t)
    }

    fn book() -> OrderBook {
        OrderBook::new(BookCapacity {
            orders: 16,
            levels_per_side: 8,
        })
    }

    #[test]
    fn add_execute_cancel_delete_replace() {
        let mut b = book();
        assert_eq!(b.add(1, Side::Buy, px(100), Qty(10)), Ok(()));
        assert_eq!(b.add(2, Side::Buy, px(100), Qty(5)), Ok(()));
        assert_eq!(b.add(3, Side::Sell, px(101), Qty(7)), Ok(()));
        assert_eq!(
            b.best_bid(),
            Some(Level {
                price: px(100),
                qty: Qty(15),
                orders: 2
            })
        );
        let r = b.execute(1, Qty(4)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.removed, r.remaining), (Qty(4), Qty(6)));
        assert_eq!(b.cancel(1, Qty(6)).map(|r| r.remaining), Ok(Qty::ZERO));
        assert_eq!(b.order(1), None);
        assert_eq!(
            b.replace(3, 4, px(102), Qty(9)).map(|o| o.price),
            Ok(px(101))
        );
        assert_eq!(
            b.order(4),
            Some(Order {
                side: Side::Sell,
                price: px(102),
                qty: Qty(9)
            })
        );
        assert_eq!(b.delete(2).map(|o| o.qty), Ok(Qty(5)));
        assert_eq!(b.bids().len(), 0);
        assert_eq!(b.order_count(), 1);
        assert!(!b.is_crossed());
    }

    #[test]
    fn refused_changes_leave_the_book_unchanged() {
        let mut b = book();
        assert_eq!(b.add(1, Side::Buy, px(100), Qty(10)), Ok(()));
        assert_eq!(b.add(2, Side::Sell, px(105), Qty(1)), Ok(()));
        let before: Vec<_> = b.bids().chain(b.asks()).collect();
        assert_eq!(
            b.add(1, Side::Sell, px(1), Qty(1)),
            Err(BookError::DuplicateOrder { order_ref: 1 })
        );
        assert_eq!(
            b.add(9, Side::Sell, px(1), Qty(0)),
            Err(BookError::ZeroQty { order_ref: 9 })
        );
        assert_eq!(
            b.execute(7, Qty(1)),
            Err(BookError::UnknownOrder { order_ref: 7 })
        );
        assert_eq!(
            b.cancel(1, Qty(11)),
            Err(BookError::Overfill {
                order_ref: 1,
                have: Qty(10),
                want: Qty(11)
            })
        );
        assert_eq!(b.delete(8), Err(BookError::UnknownOrder { order_ref: 8 }));
        assert_eq!(
            b.replace(1, 2, px(99), Qty(1)),
            Err(BookError::DuplicateOrder { order_ref: 2 })
        );
        assert_eq!(
            b.replace(1, 3, px(99), Qty(0)),
            Err(BookError::ZeroQty { order_ref: 3 })
        );
        let after: Vec<_> = b.bids().chain(b.asks()).collect();
        assert_eq!(before, after);
        assert_eq!(b.order_count(), 2);
    }

    #[test]
    fn snapshot_chunks_cover_the_depth() {
        let mut b = book();
        for i in 0..8u64 {
            let t = i as i64;
            assert_eq!(b.add(i, Side::Buy, px(100 - t), Qty(i + 1)), Ok(()));
        }
        assert_eq!(b.add(100, Side::Sell, px(101), Qty(3)), Ok(()));
        let meta = MdMeta {
            instrument: InstrumentId(1),
            feed_seq: SeqNo(5),
            venue_ts: UnixNanos(1),
            recv_ts: Nanos(2),
        };
        let chunks: Vec<_> = b.snapshot(meta, 100).collect();
        assert_eq!(chunks.len(), 2);
        let levels: Vec<_> = chunks.iter().flat_map(|c| c.levels().to_vec()).collect();
        assert_eq!(levels.len(), 8);
        assert_eq!(levels[0].bid_px(), px(100));
        assert_eq!(levels[0].ask_qty(), Qty(3));
        assert_eq!(levels[1].ask_qty(), Qty::ZERO);
        assert_eq!(levels[7].bid_qty(), Qty(8));
        assert!(chunks.iter().all(|c| c.meta() == meta));
        assert_eq!(
            b.snapshot(meta, 3)
                .flat_map(|c| c.levels().to_vec())
                .count(),
            3
        );
        let empty = book();
        let e: Vec<_> = empty.snapshot(meta, 10).collect();
        assert_eq!(e.len(), 1);
        assert!(e[0].levels().is_empty());
    }
}
