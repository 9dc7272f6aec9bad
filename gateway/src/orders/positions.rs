//! [`Positions`]: each account's position per instrument from the gateway's own fills —
//! quantity bought and sold, the average price of the open (net) position and the
//! realized profit and loss (average-cost method: closing quantity realizes
//! `(fill price − average price) × quantity` for a long, the opposite for a short; a fill
//! that crosses through flat opens the rest at its price).
//!
//! Built by the order state from every journaled fill, live and on replay, so it
//! survives restarts. Amounts are in price ticks × quantity ([`tickwarp_wire::Price`]
//! ticks, 1/10,000). This module reads no clock and does no I/O; a new (account,
//! instrument) pair allocates one map entry, a fill on a known one allocates nothing.

use std::collections::HashMap;

use tickwarp_wire::{AccountId, InstrumentId, Price, Qty, Side};

/// One account's position in one instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Quantity bought.
    pub bought: Qty,
    /// Quantity sold.
    pub sold: Qty,
    /// Net quantity: positive long, negative short.
    net: i128,
    /// Cost of the open position at its average price, ticks × quantity (absolute).
    cost: i128,
    /// Realized profit and loss, ticks × quantity.
    realized: i128,
}

impl Position {
    /// Applies a fill of `qty` at `px` on `side`.
    pub fn on_fill(&mut self, side: Side, px: Price, qty: Qty) {
        let q = i128::from(qty.0);
        let px = i128::from(px.ticks());
        let signed = match side {
            Side::Buy => {
                self.bought = Qty(self.bought.0.saturating_add(qty.0));
                q
            }
            Side::Sell => {
                self.sold = Qty(self.sold.0.saturating_add(qty.0));
                -q
            }
        };
        if self.net == 0 || (self.net > 0) == (signed > 0) {
            self.net += signed;
            self.cost += q * px;
            return;
        }
        let open = self.net.abs();
        let closed = q.min(open);
        // The closed part's cost at the average price (exact when it closes everything).
        let closed_cost = if closed == open {
            self.cost
        } else {
            self.cost * closed / open
        };
        let pnl = closed * px - closed_cost;
        self.realized += if self.net > 0 { pnl } else { -pnl };
        self.cost -= closed_cost;
        self.net += signed;
        if q > closed {
            // Through flat: the rest opens a position at this price.
            self.cost = (q - closed) * px;
        }
    }

    /// Net quantity: positive long, negative short.
    pub fn net(&self) -> i128 {
        self.net
    }

    /// The average price of the open position (zero when flat), rounded toward zero.
    pub fn avg_px(&self) -> Price {
        if self.net == 0 {
            return Price::ZERO;
        }
        Price::from_ticks(i64::try_from(self.cost / self.net.abs()).unwrap_or(i64::MAX))
    }

    /// Realized profit and loss in price ticks (saturating at the range of a price).
    pub fn realized(&self) -> Price {
        let clamped = self
            .realized
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        Price::from_ticks(i64::try_from(clamped).unwrap_or(0))
    }
}

/// Every account's positions.
#[derive(Debug, Default)]
pub struct Positions {
    by_key: HashMap<(AccountId, InstrumentId), Position>,
}

impl Positions {
    /// Applies a fill of `account` in `instrument`.
    pub fn on_fill(
        &mut self,
        account: AccountId,
        instrument: InstrumentId,
        side: Side,
        px: Price,
        qty: Qty,
    ) {
        self.by_key
            .entry((account, instrument))
            .or_default()
            .on_fill(side, px, qty);
    }

    /// The positions of `account`, by instrument id.
    pub fn of_account(&self, account: AccountId) -> Vec<(InstrumentId, Position)> {
        let mut out: Vec<(InstrumentId, Position)> = self
            .by_key
            .iter()
            .filter(|((a, _), _)| *a == account)
            .map(|(&(_, i), &p)| (i, p))
            .collect();
        out.sort_unstable_by_key(|&(i, _)| i);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(units: i64) -> Price {
        Price::from_ticks(units * Price::SCALE)
    }

    #[test]
    fn average_cost_realizes_on_the_closing_side() {
        let mut p = Position::default();
        p.on_fill(Side::Buy, px(100), Qty(10));
        p.on_fill(Side::Buy, px(110), Qty(10));
        assert_eq!((p.net(), p.avg_px()), (20, px(105)));
        // Sell 15 at 120: realizes 15 × (120 − 105) = 225.
        p.on_fill(Side::Sell, px(120), Qty(15));
        assert_eq!((p.net(), p.avg_px(), p.realized()), (5, px(105), px(225)));
        // Sell 10 at 100: closes 5 (−25), opens 5 short at 100.
        p.on_fill(Side::Sell, px(100), Qty(10));
        assert_eq!((p.net(), p.avg_px(), p.realized()), (-5, px(100), px(200)));
        // Buy 5 at 90 closes the short: +50.
        p.on_fill(Side::Buy, px(90), Qty(5));
        assert_eq!(
            (p.net(), p.avg_px(), p.realized()),
            (0, Price::ZERO, px(250))
        );
        assert_eq!((p.bought, p.sold), (Qty(25), Qty(25)));
    }

    #[test]
    fn positions_are_per_account_and_instrument() {
        let mut all = Positions::default();
        all.on_fill(AccountId(1), InstrumentId(2), Side::Buy, px(10), Qty(3));
        all.on_fill(AccountId(1), InstrumentId(1), Side::Sell, px(10), Qty(4));
        all.on_fill(AccountId(2), InstrumentId(1), Side::Buy, px(10), Qty(4));
        let mine = all.of_account(AccountId(1));
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0].0, InstrumentId(1));
        assert_eq!(mine[0].1.net(), -4);
        assert_eq!(mine[1].1.net(), 3);
    }
}
