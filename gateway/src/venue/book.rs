//! The resting side of the simulator: a slab of resting orders shared by all instruments
//! ([`Slab`]) and one [`Book`] per instrument, whose price levels hold their orders as an
//! intrusive FIFO list through the slab (price-time priority).
//!
//! Levels are kept in a `Vec` per side sorted so that the best price is last: bids
//! ascending, asks descending. Finding a level is a binary search, the best level is
//! `last()`, and a new level shifts only the worse levels after it — a few dozen
//! levels in practice. No allocation once the slab and level vectors are sized, except
//! when a side grows past its presized number of levels. No clock, no I/O, no panics.

use tickwarp_wire::{AccountId, ClientOrderId, Price, Qty, Side, TimeInForce};

/// End of a list / no slot.
pub(super) const NIL: u32 = u32::MAX;

/// One resting order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Resting {
    /// Venue order id (the market data order reference).
    pub(super) order_id: u64,
    pub(super) account: AccountId,
    pub(super) cl_ord_id: ClientOrderId,
    pub(super) book: u32,
    pub(super) side: Side,
    pub(super) tif: TimeInForce,
    pub(super) price: Price,
    /// Total order quantity (across replaces).
    pub(super) qty: Qty,
    pub(super) leaves: Qty,
    pub(super) cum: Qty,
    prev: u32,
    next: u32,
}

impl Resting {
    /// A resting order not yet linked into a level.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        order_id: u64,
        account: AccountId,
        cl_ord_id: ClientOrderId,
        book: u32,
        side: Side,
        tif: TimeInForce,
        price: Price,
        qty: Qty,
        cum: Qty,
    ) -> Resting {
        Resting {
            order_id,
            account,
            cl_ord_id,
            book,
            side,
            tif,
            price,
            qty,
            leaves: qty.saturating_sub(cum),
            cum,
            prev: NIL,
            next: NIL,
        }
    }
}

/// Fixed-capacity storage for resting orders.
#[derive(Debug)]
pub(super) struct Slab {
    nodes: Vec<Option<Resting>>,
    free: Vec<u32>,
}

impl Slab {
    pub(super) fn with_capacity(capacity: usize) -> Slab {
        let capacity = capacity.min(NIL as usize);
        Slab {
            nodes: vec![None; capacity],
            free: (0..capacity as u32).rev().collect(),
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    pub(super) fn insert(&mut self, order: Resting) -> Option<u32> {
        let slot = self.free.pop()?;
        *self.nodes.get_mut(slot as usize)? = Some(order);
        Some(slot)
    }

    pub(super) fn remove(&mut self, slot: u32) -> Option<Resting> {
        let order = self.nodes.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        Some(order)
    }

    pub(super) fn get(&self, slot: u32) -> Option<&Resting> {
        self.nodes.get(slot as usize)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, slot: u32) -> Option<&mut Resting> {
        self.nodes.get_mut(slot as usize)?.as_mut()
    }
}

/// One price level: its orders in time priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Level {
    pub(super) price: Price,
    /// Sum of the leaves of the level's orders.
    pub(super) qty: u64,
    pub(super) count: u32,
    pub(super) head: u32,
    tail: u32,
}

/// One instrument's book.
#[derive(Debug)]
pub(super) struct Book {
    /// Ascending: best bid last.
    bids: Vec<Level>,
    /// Descending: best ask last.
    asks: Vec<Level>,
}

impl Book {
    pub(super) fn with_levels(levels: usize) -> Book {
        Book {
            bids: Vec::with_capacity(levels),
            asks: Vec::with_capacity(levels),
        }
    }

    /// The levels of `side`, best last.
    pub(super) fn levels(&self, side: Side) -> &[Level] {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// The best level of `side`.
    pub(super) fn best(&self, side: Side) -> Option<&Level> {
        self.levels(side).last()
    }

    fn side_mut(&mut self, side: Side) -> &mut Vec<Level> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// `Ok(index)` of the level at `price`, or `Err(index)` where it would go.
    fn find(&self, side: Side, price: Price) -> Result<usize, usize> {
        match side {
            Side::Buy => self.bids.binary_search_by(|l| l.price.cmp(&price)),
            Side::Sell => self.asks.binary_search_by(|l| price.cmp(&l.price)),
        }
    }

    /// Links the order in `slot` at the back of its price level.
    pub(super) fn push_back(&mut self, slab: &mut Slab, slot: u32) {
        let Some(node) = slab.get(slot) else {
            return;
        };
        let (side, price, leaves) = (node.side, node.price, node.leaves.0);
        let at = self.find(side, price);
        let levels = self.side_mut(side);
        let index = match at {
            Ok(i) => i,
            Err(i) => {
                levels.insert(
                    i,
                    Level {
                        price,
                        qty: 0,
                        count: 0,
                        head: NIL,
                        tail: NIL,
                    },
                );
                i
            }
        };
        let Some(level) = levels.get_mut(index) else {
            return;
        };
        let old_tail = level.tail;
        level.tail = slot;
        if old_tail == NIL {
            level.head = slot;
        }
        level.qty = level.qty.saturating_add(leaves);
        level.count += 1;
        if let Some(t) = slab.get_mut(old_tail) {
            t.next = slot;
        }
        if let Some(n) = slab.get_mut(slot) {
            n.prev = old_tail;
            n.next = NIL;
        }
    }

    /// Unlinks the order in `slot` from its level (the slot stays allocated), dropping
    /// the level when it empties.
    pub(super) fn unlink(&mut self, slab: &mut Slab, slot: u32) {
        let Some(node) = slab.get(slot) else {
            return;
        };
        let (side, price, leaves, prev, next) =
            (node.side, node.price, node.leaves.0, node.prev, node.next);
        let Ok(index) = self.find(side, price) else {
            return;
        };
        let levels = self.side_mut(side);
        let Some(level) = levels.get_mut(index) else {
            return;
        };
        if level.head == slot {
            level.head = next;
        }
        if level.tail == slot {
            level.tail = prev;
        }
        level.qty = level.qty.saturating_sub(leaves);
        level.count = level.count.saturating_sub(1);
        if level.count == 0 {
            levels.remove(index);
        }
        if let Some(p) = slab.get_mut(prev) {
            p.next = next;
        }
        if let Some(n) = slab.get_mut(next) {
            n.prev = prev;
        }
        if let Some(n) = slab.get_mut(slot) {
            n.prev = NIL;
            n.next = NIL;
        }
    }

    /// Takes `qty` off the leaves of the order in `slot` (a trade or a size reduction),
    /// keeping its place.
    pub(super) fn reduce(&mut self, slab: &mut Slab, slot: u32, qty: Qty) {
        let Some(node) = slab.get_mut(slot) else {
            return;
        };
        node.leaves = node.leaves.saturating_sub(qty);
        let (side, price) = (node.side, node.price);
        if let Ok(index) = self.find(side, price) {
            if let Some(level) = self.side_mut(side).get_mut(index) {
                level.qty = level.qty.saturating_sub(qty.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(slab: &mut Slab, side: Side, px: i64, qty: u64) -> u32 {
        let id = ClientOrderId::new("X").unwrap_or_else(|e| panic!("{e}"));
        slab.insert(Resting::new(
            0,
            AccountId(1),
            id,
            0,
            side,
            TimeInForce::Day,
            Price::from_ticks(px),
            Qty(qty),
            Qty::ZERO,
        ))
        .unwrap_or_else(|| panic!("slab full"))
    }

    #[test]
    fn levels_sorted_best_last_and_fifo() {
        let mut slab = Slab::with_capacity(8);
        let mut book = Book::with_levels(4);
        for (px, q) in [(10, 1), (12, 2), (11, 3), (12, 4)] {
            let s = node(&mut slab, Side::Buy, px, q);
            book.push_back(&mut slab, s);
        }
        let prices: Vec<i64> = book
            .levels(Side::Buy)
            .iter()
            .map(|l| l.price.ticks())
            .collect();
        assert_eq!(prices, [10, 11, 12]);
        let best = book.best(Side::Buy).copied();
        assert_eq!(best.map(|l| (l.qty, l.count)), Some((6, 2)));
        // FIFO: the first order at 12 (slot 1) is the head.
        assert_eq!(best.map(|l| l.head), Some(1));
        book.unlink(&mut slab, 1);
        assert_eq!(book.best(Side::Buy).map(|l| (l.qty, l.head)), Some((4, 3)));
        book.reduce(&mut slab, 3, Qty(1));
        assert_eq!(book.best(Side::Buy).map(|l| l.qty), Some(3));
        book.unlink(&mut slab, 3);
        assert_eq!(book.best(Side::Buy).map(|l| l.price.ticks()), Some(11));

        for (px, q) in [(20, 1), (19, 1), (21, 1)] {
            let s = node(&mut slab, Side::Sell, px, q);
            book.push_back(&mut slab, s);
        }
        assert_eq!(book.best(Side::Sell).map(|l| l.price.ticks()), Some(19));
    }

    #[test]
    fn slab_capacity() {
        let mut slab = Slab::with_capacity(1);
        let s = node(&mut slab, Side::Sell, 1, 1);
        assert!(slab.is_full());
        assert!(slab.remove(s).is_some());
        assert!(slab.remove(s).is_none());
        assert!(!slab.is_full());
    }
}
