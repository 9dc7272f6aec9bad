//! Helpers shared by the feed's integration tests: book invariant checks and a subscriber
//! that rebuilds the order-by-order book from the published records.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, bail, ensure};
use tickwarp_feed::book::{MdRecord, OrderBook};
use tickwarp_wire::{Price, Qty, Quote, Side};

/// Checks a book's invariants: positive quantities, L2 equal to the aggregate of L3,
/// levels sorted (bids descending, asks ascending), BBO equal to the L2 top, not crossed.
pub fn check_book(book: &OrderBook) -> Result<()> {
    let mut agg: BTreeMap<(u8, Price), (u64, u32)> = BTreeMap::new();
    for (r, o) in book.orders() {
        ensure!(!o.qty.is_zero(), "order {r} has zero quantity");
        let e = agg.entry((o.side.to_wire(), o.price)).or_default();
        e.0 += o.qty.get();
        e.1 += 1;
    }
    let mut levels = 0;
    for side in [Side::Buy, Side::Sell] {
        let mut prev: Option<Price> = None;
        for l in book.levels(side) {
            levels += 1;
            ensure!(!l.qty.is_zero() && l.orders > 0, "empty level {l:?}");
            if let Some(p) = prev {
                let sorted = match side {
                    Side::Buy => l.price < p,
                    Side::Sell => l.price > p,
                };
                ensure!(sorted, "{side:?} levels out of order at {}", l.price);
            }
            prev = Some(l.price);
            let want = agg.get(&(side.to_wire(), l.price)).copied();
            ensure!(
                want == Some((l.qty.get(), l.orders)),
                "{side:?} level {} is {:?}, orders add up to {want:?}",
                l.price,
                (l.qty, l.orders)
            );
        }
    }
    ensure!(
        levels == agg.len(),
        "{levels} levels for {} prices",
        agg.len()
    );
    ensure!(
        book.best_bid() == book.bids().next(),
        "best bid is not the top bid level"
    );
    ensure!(
        book.best_ask() == book.asks().next(),
        "best ask is not the top ask level"
    );
    let (bid, ask) = book.bbo();
    let q = |l: Option<tickwarp_feed::book::Level>| {
        l.map_or(Quote::default(), |l| Quote {
            px: l.price,
            qty: l.qty,
            orders: l.orders,
        })
    };
    ensure!(
        bid == q(book.best_bid()) && ask == q(book.best_ask()),
        "bbo differs from L2"
    );
    ensure!(!book.is_crossed(), "crossed book: {bid:?} / {ask:?}");
    Ok(())
}

/// A subscriber's view of one instrument, rebuilt from published records alone.
#[derive(Debug, Default)]
pub struct Mirror {
    /// Live orders: reference → (side, price, quantity).
    pub orders: HashMap<u64, (Side, Price, Qty)>,
    /// The last top of book received.
    pub bbo: Option<(Quote, Quote)>,
}

impl Mirror {
    /// Applies one published record.
    pub fn apply(&mut self, r: &MdRecord) -> Result<()> {
        match r {
            MdRecord::Add(a) => {
                let old = self
                    .orders
                    .insert(a.order_ref(), (a.side(), a.price(), a.qty()));
                ensure!(old.is_none(), "add of live order {}", a.order_ref());
            }
            MdRecord::Cancel(c) => {
                let Some(o) = self.orders.get_mut(&c.order_ref()) else {
                    bail!("cancel of unknown order {}", c.order_ref());
                };
                ensure!(
                    o.2.checked_sub(c.canceled_qty()) == Some(c.remaining_qty()),
                    "cancel mismatch"
                );
                if c.is_delete() {
                    self.orders.remove(&c.order_ref());
                } else {
                    o.2 = c.remaining_qty();
                }
            }
            MdRecord::Trade(t) if t.order_ref() != 0 => {
                let Some(o) = self.orders.get_mut(&t.order_ref()) else {
                    bail!("trade against unknown order {}", t.order_ref());
                };
                let Some(left) = o.2.checked_sub(t.qty()) else {
                    bail!("trade larger than order {}", t.order_ref());
                };
                ensure!(
                    t.aggressor() == Some(o.0.opposite()),
                    "aggressor should be the other side"
                );
                if left.is_zero() {
                    self.orders.remove(&t.order_ref());
                } else {
                    o.2 = left;
                }
            }
            MdRecord::Trade(_) => {}
            MdRecord::Bbo(b) => self.bbo = Some((b.bid(), b.ask())),
        }
        Ok(())
    }

    /// Checks the mirror against the handler's book.
    pub fn check(&self, book: &OrderBook) -> Result<()> {
        ensure!(
            self.orders.len() == book.order_count(),
            "order counts differ"
        );
        for (r, o) in book.orders() {
            ensure!(
                self.orders.get(&r) == Some(&(o.side, o.price, o.qty)),
                "order {r} differs"
            );
        }
        if let Some(bbo) = self.bbo {
            ensure!(
                bbo == book.bbo(),
                "last published bbo {bbo:?} != book {:?}",
                book.bbo()
            );
        }
        Ok(())
    }
}
