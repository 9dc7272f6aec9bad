//! Property tests of the order books: consistent ITCH streams (generated against a model
//! of the live orders, passed through bytes) keep every invariant at every step, and the
//! published records rebuild the same book; inconsistent messages are typed errors that
//! change nothing.

mod util;

use proptest::prelude::*;
use tickwarp_feed::book::{BookError, FeedConfig, FeedError, FeedHandler};
use tickwarp_feed::itch::*;
use tickwarp_wire::{Nanos, Symbol};
use util::{Mirror, check_book};

const LOCATES: [u16; 2] = [1, 2];

/// A live order of the model.
#[derive(Clone, Copy, Debug)]
struct Live {
    order_ref: u64,
    side: ItchSide,
    level: u32,
    qty: u32,
}

/// The generator's model of each instrument's live orders.
#[derive(Debug, Default)]
struct Model {
    books: [Vec<Live>; 2],
    next_ref: u64,
}

fn best(orders: &[Live], side: ItchSide) -> Option<u32> {
    let it = orders.iter().filter(|o| o.side == side).map(|o| o.level);
    match side {
        ItchSide::Buy => it.max(),
        ItchSide::Sell => it.min(),
    }
}

/// A level for `side` near 1000 that does not reach the opposite best.
fn level(orders: &[Live], side: ItchSide, offset: u32) -> u32 {
    match side {
        ItchSide::Buy => {
            let p = 1000 - offset % 20;
            best(orders, ItchSide::Sell).map_or(p, |a| p.min(a - 1))
        }
        ItchSide::Sell => {
            let p = 990 + offset % 20;
            best(orders, ItchSide::Buy).map_or(p, |b| p.max(b + 1))
        }
    }
}

fn hdr(locate: u16, ts: u64) -> Header {
    Header {
        stock_locate: locate,
        tracking_number: 0,
        timestamp: Timestamp::new(ts).unwrap_or_default(),
    }
}

impl Model {
    /// Turns raw random numbers into a message consistent with the model, and updates it.
    fn consistent(&mut self, kind: u8, pick: u64, a: u32, b: u32, ts: u64) -> Message {
        let i = (pick % 2) as usize;
        let header = hdr(LOCATES[i], ts);
        let next_ref = &mut self.next_ref;
        let orders = &mut self.books[i];
        let n = orders.len();
        let kind = if n == 0 { kind % 35 } else { kind };
        let idx = (pick / 2) as usize % n.max(1);
        match kind {
            0..35 => {
                let side = if a & 1 == 0 {
                    ItchSide::Buy
                } else {
                    ItchSide::Sell
                };
                let level = level(orders, side, b);
                *next_ref += 1;
                let qty = 1 + a % 500;
                orders.push(Live {
                    order_ref: *next_ref,
                    side,
                    level,
                    qty,
                });
                AddOrder {
                    header,
                    order_reference_number: *next_ref,
                    buy_sell_indicator: side,
                    shares: qty,
                    stock: *b"STOCK   ",
                    price: Price4(level * 100),
                }
                .into()
            }
            35..55 => {
                let o = orders[idx];
                let ex = 1 + a % o.qty;
                if ex == o.qty {
                    orders.swap_remove(idx);
                } else {
                    orders[idx].qty -= ex;
                }
                if kind < 50 {
                    OrderExecuted {
                        header,
                        order_reference_number: o.order_ref,
                        executed_shares: ex,
                        match_number: pick,
                    }
                    .into()
                } else {
                    OrderExecutedWithPrice {
                        header,
                        order_reference_number: o.order_ref,
                        executed_shares: ex,
                        match_number: pick,
                        printable: if b & 1 == 0 { b'Y' } else { b'N' },
                        execution_price: Price4(o.level * 100),
                    }
                    .into()
                }
            }
            55..70 => {
                let o = orders[idx];
                let c = 1 + a % o.qty;
                if c == o.qty {
                    orders.swap_remove(idx);
                } else {
                    orders[idx].qty -= c;
                }
                OrderCancel {
                    header,
                    order_reference_number: o.order_ref,
                    cancelled_shares: c,
                }
                .into()
            }
            70..82 => {
                let o = orders.swap_remove(idx);
                OrderDelete {
                    header,
                    order_reference_number: o.order_ref,
                }
                .into()
            }
            82..95 => {
                let o = orders.swap_remove(idx);
                let level = level(orders, o.side, b);
                *next_ref += 1;
                let qty = 1 + a % 500;
                orders.push(Live {
                    order_ref: *next_ref,
                    side: o.side,
                    level,
                    qty,
                });
                OrderReplace {
                    header,
                    original_order_reference_number: o.order_ref,
                    new_order_reference_number: *next_ref,
                    shares: qty,
                    price: Price4(level * 100),
                }
                .into()
            }
            _ => Trade {
                header,
                order_reference_number: 0,
                buy_sell_indicator: ItchSide::Buy,
                shares: a % 1000,
                stock: *b"STOCK   ",
                price: Price4(100_000),
                match_number: pick,
            }
            .into(),
        }
    }

    /// A message the books must refuse, with the locate it targets.
    fn inconsistent(&self, pick: u64, a: u32, ts: u64) -> Message {
        let i = (pick % 2) as usize;
        let header = hdr(LOCATES[i], ts);
        let orders = &self.books[i];
        let some = orders
            .get((pick / 2) as usize % orders.len().max(1))
            .copied();
        match (a % 5, some) {
            (0, Some(o)) => OrderCancel {
                header,
                order_reference_number: o.order_ref,
                cancelled_shares: o.qty + 1,
            }
            .into(),
            (1, Some(o)) => AddOrder {
                header,
                order_reference_number: o.order_ref,
                buy_sell_indicator: o.side,
                shares: 1,
                stock: *b"STOCK   ",
                price: Price4(o.level * 100),
            }
            .into(),
            (2, Some(o)) => OrderExecuted {
                header,
                order_reference_number: o.order_ref,
                executed_shares: 0,
                match_number: 0,
            }
            .into(),
            (3, _) => OrderDelete {
                header: hdr(999, ts),
                order_reference_number: 1,
            }
            .into(),
            _ => OrderExecuted {
                header,
                order_reference_number: u64::MAX - pick % 1000,
                executed_shares: 1,
                match_number: 0,
            }
            .into(),
        }
    }
}

fn directory(locate: u16, symbol: &str) -> Message {
    let stock = Symbol::new(symbol)
        .map(|s| s.to_itch())
        .unwrap_or(*b"X       ");
    StockDirectory {
        header: hdr(locate, 0),
        stock,
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
    }
    .into()
}

/// Sends `m` through its bytes, as the decode path would.
fn through_bytes(m: &Message) -> Result<Message, TestCaseError> {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = m
        .emit(&mut buf)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    Message::parse(&buf[..n]).map_err(|e| TestCaseError::fail(e.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn consistent_streams_keep_every_invariant(
        ops in proptest::collection::vec((0u8..100, any::<u64>(), any::<u32>(), any::<u32>(), 0u8..20), 1..300)
    ) {
        let mut feed = FeedHandler::new(FeedConfig::default());
        for (l, s) in LOCATES.iter().zip(["AAA", "BBB"]) {
            prop_assert!(feed.handle_message(&directory(*l, s), Nanos(0)).is_ok());
        }
        let mut model = Model::default();
        let mut mirrors = [Mirror::default(), Mirror::default()];
        let mut refused = 0u64;
        for (step, (kind, pick, a, b, bad)) in ops.into_iter().enumerate() {
            let ts = step as u64 * 1000;
            if bad == 0 {
                let m = through_bytes(&model.inconsistent(pick, a, ts))?;
                let before: Vec<_> = LOCATES
                    .iter()
                    .map(|l| feed.book_by_locate(*l).map(|b| (b.order_count(), b.bids().collect::<Vec<_>>(), b.asks().collect::<Vec<_>>())))
                    .collect();
                let r = feed.handle_message(&m, Nanos(ts));
                prop_assert!(
                    matches!(r, Err(FeedError::Book { .. } | FeedError::UnknownLocate { .. })),
                    "{m:?} gave {r:?}"
                );
                refused += 1;
                let after: Vec<_> = LOCATES
                    .iter()
                    .map(|l| feed.book_by_locate(*l).map(|b| (b.order_count(), b.bids().collect::<Vec<_>>(), b.asks().collect::<Vec<_>>())))
                    .collect();
                prop_assert_eq!(before, after);
                continue;
            }
            let m = through_bytes(&model.consistent(kind, pick, a, b, ts))?;
            let published = feed
                .handle_message(&m, Nanos(ts))
                .map_err(|e| TestCaseError::fail(format!("step {step} {m:?}: {e}")))?;
            let i = (pick % 2) as usize;
            for r in published.iter() {
                prop_assert_eq!(r.meta().recv_ts, Nanos(ts));
                mirrors[i].apply(r).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
            }
            for (l, mirror) in LOCATES.iter().zip(&mirrors) {
                let book = feed.book_by_locate(*l).ok_or_else(|| TestCaseError::fail("no book"))?;
                check_book(book).map_err(|e| TestCaseError::fail(format!("step {step}: {e:#}")))?;
                mirror.check(book).map_err(|e| TestCaseError::fail(format!("step {step}: {e:#}")))?;
            }
            for (l, live) in LOCATES.iter().zip(&model.books) {
                prop_assert_eq!(feed.book_by_locate(*l).map(|b| b.order_count()), Some(live.len()));
            }
        }
        let s = feed.stats();
        prop_assert_eq!(s.unknown_orders + s.errors, refused);
    }
}

#[test]
fn unknown_order_is_a_typed_counted_error() {
    let mut feed = FeedHandler::new(FeedConfig::default());
    assert!(feed.handle_message(&directory(7, "ZZZ"), Nanos(0)).is_ok());
    let m: Message = OrderDelete {
        header: hdr(7, 5),
        order_reference_number: 42,
    }
    .into();
    assert_eq!(
        feed.handle_message(&m, Nanos(1)),
        Err(FeedError::Book {
            locate: 7,
            error: BookError::UnknownOrder { order_ref: 42 }
        })
    );
    assert_eq!(feed.stats().unknown_orders, 1);
    assert_eq!(feed.last_seq().get(), 0);
}
