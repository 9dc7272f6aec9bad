//! One side of a price-level book (L2): aggregated quantity and order count per price.
//!
//! Levels are kept in a `Vec` sorted from the worst price to the best, so the best level
//! is the last element: the busy end of the book (near the touch) is where inserts and
//! removals shift the fewest elements, and reading the top is `last()`. The vector is
//! preallocated and keeps its capacity when levels empty, so a book that has reached its
//! working depth does not allocate again. This module knows nothing of orders, messages or
//! time.

use core::cmp::Ordering;

use tickwarp_wire::{Price, Qty, Side};

/// One price level: total displayed quantity and number of orders at `price`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Level {
    /// The level's price.
    pub price: Price,
    /// Sum of the displayed quantity of the orders at this price.
    pub qty: Qty,
    /// Number of orders at this price.
    pub orders: u32,
}

/// Why a ladder refused a change (an internal inconsistency, never expected after the
/// order book's own checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LadderError {
    /// The level's quantity or order count would overflow.
    Overflow,
    /// No level at that price, or less quantity there than asked for.
    Missing,
}

/// The levels of one side, best last.
#[derive(Clone, Debug)]
pub(crate) struct Ladder {
    side: Side,
    levels: Vec<Level>,
}

impl Ladder {
    /// An empty side with room for `capacity` levels.
    pub(crate) fn with_capacity(side: Side, capacity: usize) -> Ladder {
        Ladder {
            side,
            levels: Vec::with_capacity(capacity),
        }
    }

    /// Order of `level_price` relative to `price` in storage order (worst to best).
    fn storage_cmp(&self, level_price: Price, price: Price) -> Ordering {
        match self.side {
            // Bids: ascending, highest (best) last.
            Side::Buy => level_price.cmp(&price),
            // Asks: descending, lowest (best) last.
            Side::Sell => price.cmp(&level_price),
        }
    }

    fn search(&self, price: Price) -> Result<usize, usize> {
        self.levels
            .binary_search_by(|l| self.storage_cmp(l.price, price))
    }

    /// Adds one order of `qty` at `price`.
    pub(crate) fn add(&mut self, price: Price, qty: Qty) -> Result<(), LadderError> {
        match self.search(price) {
            Ok(i) => {
                let level = self.levels.get_mut(i).ok_or(LadderError::Missing)?;
                let new_qty = level.qty.checked_add(qty).ok_or(LadderError::Overflow)?;
                let new_orders = level.orders.checked_add(1).ok_or(LadderError::Overflow)?;
                level.qty = new_qty;
                level.orders = new_orders;
            }
            Err(i) => self.levels.insert(
                i,
                Level {
                    price,
                    qty,
                    orders: 1,
                },
            ),
        }
        Ok(())
    }

    /// Removes `qty` at `price`, and one order if `order_left`; drops an emptied level.
    pub(crate) fn remove(
        &mut self,
        price: Price,
        qty: Qty,
        order_left: bool,
    ) -> Result<(), LadderError> {
        let i = self.search(price).map_err(|_| LadderError::Missing)?;
        let level = self.levels.get_mut(i).ok_or(LadderError::Missing)?;
        let new_qty = level.qty.checked_sub(qty).ok_or(LadderError::Missing)?;
        let new_orders = if order_left {
            level.orders.checked_sub(1).ok_or(LadderError::Missing)?
        } else {
            level.orders
        };
        if new_orders == 0 {
            self.levels.remove(i);
        } else {
            level.qty = new_qty;
            level.orders = new_orders;
        }
        Ok(())
    }

    /// The best level.
    pub(crate) fn best(&self) -> Option<Level> {
        self.levels.last().copied()
    }

    /// The level `depth` steps from the best (0 = best).
    pub(crate) fn at_depth(&self, depth: usize) -> Option<Level> {
        let i = self.levels.len().checked_sub(depth.checked_add(1)?)?;
        self.levels.get(i).copied()
    }

    /// Levels, best first.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = Level> + '_ {
        self.levels.iter().rev().copied()
    }

    /// Number of levels.
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    /// Removes every level, keeping the capacity.
    pub(crate) fn clear(&mut self) {
        self.levels.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(t: i64) -> Price {
        Price::from_ticks(t)
    }

    #[test]
    fn bids_best_is_highest_asks_best_is_lowest() {
        let mut bids = Ladder::with_capacity(Side::Buy, 4);
        let mut asks = Ladder::with_capacity(Side::Sell, 4);
        for p in [10, 30, 20] {
            assert_eq!(bids.add(px(p), Qty(1)), Ok(()));
            assert_eq!(asks.add(px(p + 100), Qty(1)), Ok(()));
        }
        assert_eq!(bids.best().map(|l| l.price), Some(px(30)));
        assert_eq!(asks.best().map(|l| l.price), Some(px(110)));
        let b: Vec<_> = bids.iter().map(|l| l.price.ticks()).collect();
        assert_eq!(b, [30, 20, 10]);
        let a: Vec<_> = asks.iter().map(|l| l.price.ticks()).collect();
        assert_eq!(a, [110, 120, 130]);
        assert_eq!(asks.at_depth(2).map(|l| l.price), Some(px(130)));
        assert_eq!(asks.at_depth(3), None);
        assert_eq!(asks.at_depth(usize::MAX), None);
    }

    #[test]
    fn aggregates_and_drops_empty_levels() {
        let mut bids = Ladder::with_capacity(Side::Buy, 4);
        assert_eq!(bids.add(px(10), Qty(5)), Ok(()));
        assert_eq!(bids.add(px(10), Qty(7)), Ok(()));
        assert_eq!(
            bids.best(),
            Some(Level {
                price: px(10),
                qty: Qty(12),
                orders: 2
            })
        );
        assert_eq!(bids.remove(px(10), Qty(2), false), Ok(()));
        assert_eq!(bids.remove(px(10), Qty(3), true), Ok(()));
        assert_eq!(bids.best().map(|l| (l.qty, l.orders)), Some((Qty(7), 1)));
        assert_eq!(bids.remove(px(11), Qty(1), true), Err(LadderError::Missing));
        assert_eq!(bids.remove(px(10), Qty(8), true), Err(LadderError::Missing));
        assert_eq!(bids.remove(px(10), Qty(7), true), Ok(()));
        assert_eq!(bids.len(), 0);
    }
}
