//! [`FeedHandler`]: applies decoded ITCH 5.0 messages to one [`OrderBook`] per
//! instrument and returns the `tickwarp-wire` market data records to publish.
//!
//! Sans-IO: the caller decodes bytes ([`crate::itch`]), passes each message with the
//! time it received it (`recv_ts`, read by the caller from `tickwarp_runtime::clock`) to
//! [`FeedHandler::handle_message`], and publishes the records it gets back. Stock
//! Directory messages (§1.2.1) build the map from stock locate to [`InstrumentId`]: with
//! a configured [`InstrumentTable`] only its symbols get a book (other locates are
//! counted as filtered), without one every symbol gets the next free id, from 1, in
//! directory order. Venue timestamps are the ITCH nanoseconds since midnight added to the
//! configured session midnight. Errors are typed, counted in [`FeedStats`] and leave the
//! books unchanged; nothing panics. The hot path (order messages on known locates)
//! allocates nothing once the books have grown: the locate map is a preallocated array
//! of 65,536 slots and the records come back in a fixed-size [`Published`].

use tickwarp_wire::{
    InstrumentError, InstrumentId, InstrumentTable, IntoBytes, MdAddOrder, MdBboUpdate,
    MdCancelOrder, MdMeta, MdTrade, Nanos, Price, Qty, SeqNo, Side, SymbolError, UnixNanos,
};

use super::order_book::{BookCapacity, BookError, OrderBook, Snapshot};
use crate::itch::{Header, ItchSide, Message, Price4, StockDirectory};

/// Configuration of a [`FeedHandler`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedConfig {
    /// Midnight of the trading day (the venue's local midnight) as Unix nanoseconds.
    pub session_midnight: UnixNanos,
    /// Initial capacity of each book.
    pub capacity: BookCapacity,
    /// Instruments to keep books for; `None` keeps every symbol in the directory.
    pub instruments: Option<InstrumentTable>,
}

/// A market data record the feed publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MdRecord {
    /// An order was added.
    Add(MdAddOrder),
    /// Quantity left an order without a trade (cancel, delete, or the old half of a
    /// replace, or a non-printable execution).
    Cancel(MdCancelOrder),
    /// A trade printed.
    Trade(MdTrade),
    /// The best bid or offer changed.
    Bbo(MdBboUpdate),
}

impl MdRecord {
    /// The record's bytes, ready for a ring slot.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            MdRecord::Add(r) => r.as_bytes(),
            MdRecord::Cancel(r) => r.as_bytes(),
            MdRecord::Trade(r) => r.as_bytes(),
            MdRecord::Bbo(r) => r.as_bytes(),
        }
    }

    /// The shared market data fields.
    pub fn meta(&self) -> MdMeta {
        match self {
            MdRecord::Add(r) => r.meta(),
            MdRecord::Cancel(r) => r.meta(),
            MdRecord::Trade(r) => r.meta(),
            MdRecord::Bbo(r) => r.meta(),
        }
    }
}

/// The records one message produced (at most three: a replace publishes the cancel of
/// the old order, the add of the new one and the new top of book).
#[must_use]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Published {
    records: [Option<MdRecord>; Published::MAX],
}

impl Published {
    /// The most records one message produces.
    pub const MAX: usize = 3;

    fn push(&mut self, record: MdRecord) {
        if let Some(slot) = self.records.iter_mut().find(|r| r.is_none()) {
            *slot = Some(record);
        }
    }

    /// The records, in publication order.
    pub fn iter(&self) -> impl Iterator<Item = &MdRecord> + '_ {
        self.records.iter().flatten()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the message produced no record.
    pub fn is_empty(&self) -> bool {
        self.records.iter().all(Option::is_none)
    }
}

/// Why a message could not be applied. The books are unchanged after any of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// An order message for a stock locate no Stock Directory message announced.
    #[error("stock locate {locate} is not in the directory")]
    UnknownLocate {
        /// The locate.
        locate: u16,
    },
    /// The book refused the change.
    #[error("stock locate {locate}: {error}")]
    Book {
        /// The locate.
        locate: u16,
        /// What the book said.
        error: BookError,
    },
    /// A Stock Directory message with a malformed symbol.
    #[error("stock locate {locate}: bad symbol: {error}")]
    BadSymbol {
        /// The locate.
        locate: u16,
        /// What was wrong.
        error: SymbolError,
    },
    /// The instrument table refused a symbol (for example the same symbol under two
    /// locates).
    #[error("stock locate {locate}: {error}")]
    Instrument {
        /// The locate.
        locate: u16,
        /// What the table said.
        error: InstrumentError,
    },
}

/// Counters of a [`FeedHandler`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FeedStats {
    /// Messages handled.
    pub messages: u64,
    /// Messages that changed a book.
    pub book_updates: u64,
    /// Records published.
    pub records: u64,
    /// Order messages for locates outside the configured instruments.
    pub filtered: u64,
    /// Messages with no effect on the books (system events, imbalances...).
    pub ignored: u64,
    /// Messages refused because of an unknown order reference.
    pub unknown_orders: u64,
    /// Messages refused for another reason.
    pub errors: u64,
}

/// What a stock locate maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// No directory entry yet.
    Unknown,
    /// In the directory but not subscribed.
    Filtered,
    /// Index into the books.
    Book(u32),
}

/// Applies ITCH messages to per-instrument books and produces wire records.
#[derive(Debug)]
pub struct FeedHandler {
    session_midnight: UnixNanos,
    capacity: BookCapacity,
    filter: Option<InstrumentTable>,
    table: InstrumentTable,
    locates: Vec<Slot>,
    books: Vec<(InstrumentId, u16, OrderBook)>,
    last_seq: SeqNo,
    last_venue_ts: UnixNanos,
    stats: FeedStats,
}

impl FeedHandler {
    /// A handler with no instrument yet.
    pub fn new(config: FeedConfig) -> FeedHandler {
        FeedHandler {
            session_midnight: config.session_midnight,
            capacity: config.capacity,
            filter: config.instruments,
            table: InstrumentTable::new(),
            locates: vec![Slot::Unknown; usize::from(u16::MAX) + 1],
            books: Vec::new(),
            last_seq: SeqNo::NONE,
            last_venue_ts: UnixNanos::ZERO,
            stats: FeedStats::default(),
        }
    }

    /// Applies one message received at `recv_ts`; returns the records to publish.
    pub fn handle_message(
        &mut self,
        msg: &Message,
        recv_ts: Nanos,
    ) -> Result<Published, FeedError> {
        self.stats.messages += 1;
        let result = self.apply(msg, recv_ts);
        match &result {
            Ok(p) => self.stats.records += p.len() as u64,
            Err(FeedError::Book {
                error: BookError::UnknownOrder { .. },
                ..
            }) => self.stats.unknown_orders += 1,
            Err(_) => self.stats.errors += 1,
        }
        result
    }

    fn apply(&mut self, msg: &Message, recv_ts: Nanos) -> Result<Published, FeedError> {
        match msg {
            Message::StockDirectory(r) => self.on_directory(r).map(|()| Published::default()),
            Message::AddOrder(a) => self.on_add(
                &a.header,
                recv_ts,
                a.order_reference_number,
                a.buy_sell_indicator,
                a.shares,
                a.price,
            ),
            Message::AddOrderMpid(a) => self.on_add(
                &a.header,
                recv_ts,
                a.order_reference_number,
                a.buy_sell_indicator,
                a.shares,
                a.price,
            ),
            Message::OrderExecuted(e) => self.on_order(&e.header, recv_ts, |book, stamp, out| {
                let r =
                    book.execute(e.order_reference_number, Qty(u64::from(e.executed_shares)))?;
                out.push(trade(
                    stamp.next(),
                    e.order_reference_number,
                    r.order.side,
                    r.order.price,
                    r.removed,
                ));
                Ok(())
            }),
            Message::OrderExecutedWithPrice(c) => {
                self.on_order(&c.header, recv_ts, |book, stamp, out| {
                    let r =
                        book.execute(c.order_reference_number, Qty(u64::from(c.executed_shares)))?;
                    // A non-printable execution must not count toward volume (§1.4.2):
                    // subscribers see only the quantity leaving the order.
                    out.push(if c.printable == b'N' {
                        MdRecord::Cancel(MdCancelOrder::new(
                            stamp.next(),
                            c.order_reference_number,
                            r.removed,
                            r.remaining,
                        ))
                    } else {
                        let px = c.execution_price.to_price();
                        trade(
                            stamp.next(),
                            c.order_reference_number,
                            r.order.side,
                            px,
                            r.removed,
                        )
                    });
                    Ok(())
                })
            }
            Message::OrderCancel(x) => self.on_order(&x.header, recv_ts, |book, stamp, out| {
                let r =
                    book.cancel(x.order_reference_number, Qty(u64::from(x.cancelled_shares)))?;
                let rec = MdCancelOrder::new(
                    stamp.next(),
                    x.order_reference_number,
                    r.removed,
                    r.remaining,
                );
                out.push(MdRecord::Cancel(rec));
                Ok(())
            }),
            Message::OrderDelete(d) => self.on_order(&d.header, recv_ts, |book, stamp, out| {
                let o = book.delete(d.order_reference_number)?;
                let rec =
                    MdCancelOrder::new(stamp.next(), d.order_reference_number, o.qty, Qty::ZERO);
                out.push(MdRecord::Cancel(rec));
                Ok(())
            }),
            Message::OrderReplace(u) => self.on_order(&u.header, recv_ts, |book, stamp, out| {
                let (price, qty) = (u.price.to_price(), Qty(u64::from(u.shares)));
                let (old_ref, new_ref) = (
                    u.original_order_reference_number,
                    u.new_order_reference_number,
                );
                let old = book.replace(old_ref, new_ref, price, qty)?;
                out.push(MdRecord::Cancel(MdCancelOrder::new(
                    stamp.next(),
                    old_ref,
                    old.qty,
                    Qty::ZERO,
                )));
                out.push(MdRecord::Add(MdAddOrder::new(
                    stamp.next(),
                    new_ref,
                    old.side,
                    price,
                    qty,
                )));
                Ok(())
            }),
            Message::Trade(p) => self.on_print(&p.header, recv_ts, |meta| {
                let qty = Qty(u64::from(p.shares));
                let r = MdTrade::new(
                    meta,
                    p.order_reference_number,
                    None,
                    p.price.to_price(),
                    qty,
                );
                (!qty.is_zero()).then_some(MdRecord::Trade(r))
            }),
            Message::CrossTrade(q) => self.on_print(&q.header, recv_ts, |meta| {
                let qty = Qty(q.shares);
                let r = MdTrade::new(meta, 0, None, q.cross_price.to_price(), qty);
                (!qty.is_zero()).then_some(MdRecord::Trade(r))
            }),
            Message::SystemEvent(_)
            | Message::StockTradingAction(_)
            | Message::RegShoRestriction(_)
            | Message::MarketParticipantPosition(_)
            | Message::MwcbDeclineLevel(_)
            | Message::MwcbStatus(_)
            | Message::IpoQuotingPeriodUpdate(_)
            | Message::LuldAuctionCollar(_)
            | Message::OperationalHalt(_)
            | Message::BrokenTrade(_)
            | Message::Noii(_)
            | Message::RetailPriceImprovement(_)
            | Message::DlcrPriceDiscovery(_) => {
                self.stats.ignored += 1;
                Ok(Published::default())
            }
        }
    }

    /// Registers the locate of a Stock Directory message (§1.2.1). A locate announced
    /// again keeps its first mapping.
    fn on_directory(&mut self, r: &StockDirectory) -> Result<(), FeedError> {
        let locate = r.header.stock_locate;
        let Some(slot) = self.locates.get(usize::from(locate)).copied() else {
            return Err(FeedError::UnknownLocate { locate });
        };
        if slot != Slot::Unknown {
            return Ok(());
        }
        let symbol = r
            .symbol()
            .map_err(|error| FeedError::BadSymbol { locate, error })?;
        let id = match &self.filter {
            Some(filter) => match filter.id_of(&symbol) {
                Some(id) => id,
                None => {
                    self.set_slot(locate, Slot::Filtered);
                    return Ok(());
                }
            },
            None => {
                let next = u32::try_from(self.books.len() + 1).unwrap_or(u32::MAX);
                InstrumentId(next)
            }
        };
        self.table
            .insert(symbol, id)
            .map_err(|error| FeedError::Instrument { locate, error })?;
        let index = u32::try_from(self.books.len()).unwrap_or(u32::MAX);
        self.books.push((id, locate, OrderBook::new(self.capacity)));
        self.set_slot(locate, Slot::Book(index));
        Ok(())
    }

    fn set_slot(&mut self, locate: u16, slot: Slot) {
        if let Some(s) = self.locates.get_mut(usize::from(locate)) {
            *s = slot;
        }
    }

    /// The book index for `locate`: `Ok(None)` when filtered out.
    fn book_index(&mut self, locate: u16) -> Result<Option<usize>, FeedError> {
        match self.locates.get(usize::from(locate)).copied() {
            Some(Slot::Book(i)) => Ok(Some(i as usize)),
            Some(Slot::Filtered) => {
                self.stats.filtered += 1;
                Ok(None)
            }
            Some(Slot::Unknown) | None => Err(FeedError::UnknownLocate { locate }),
        }
    }

    /// Adds an order (ITCH `A`/`F`, §1.3).
    fn on_add(
        &mut self,
        header: &Header,
        recv_ts: Nanos,
        order_ref: u64,
        side: ItchSide,
        shares: u32,
        price: Price4,
    ) -> Result<Published, FeedError> {
        self.on_order(header, recv_ts, |book, stamp, out| {
            let (side, price, qty) = (side.to_side(), price.to_price(), Qty(u64::from(shares)));
            book.add(order_ref, side, price, qty)?;
            let r = MdAddOrder::new(stamp.next(), order_ref, side, price, qty);
            out.push(MdRecord::Add(r));
            Ok(())
        })
    }

    /// Applies a book change and publishes its records plus a top-of-book update if the
    /// best bid or offer changed.
    fn on_order(
        &mut self,
        header: &Header,
        recv_ts: Nanos,
        change: impl FnOnce(&mut OrderBook, &mut Stamp, &mut Published) -> Result<(), BookError>,
    ) -> Result<Published, FeedError> {
        let locate = header.stock_locate;
        let Some(index) = self.book_index(locate)? else {
            return Ok(Published::default());
        };
        let Some((id, _, book)) = self.books.get_mut(index) else {
            return Err(FeedError::UnknownLocate { locate });
        };
        let venue_ts = venue_ts(self.session_midnight, header);
        let mut stamp = Stamp {
            instrument: *id,
            seq: self.last_seq,
            venue_ts,
            recv_ts,
        };
        let before = book.bbo();
        let mut out = Published::default();
        change(book, &mut stamp, &mut out).map_err(|error| FeedError::Book { locate, error })?;
        let after = book.bbo();
        if after != before {
            out.push(MdRecord::Bbo(MdBboUpdate::new(
                stamp.next(),
                after.0,
                after.1,
            )));
        }
        self.last_seq = stamp.seq;
        self.last_venue_ts = venue_ts;
        self.stats.book_updates += 1;
        Ok(out)
    }

    /// Publishes a print that does not change the book (ITCH `P`, `Q`, §1.5).
    fn on_print(
        &mut self,
        header: &Header,
        recv_ts: Nanos,
        record: impl FnOnce(MdMeta) -> Option<MdRecord>,
    ) -> Result<Published, FeedError> {
        let Some(index) = self.book_index(header.stock_locate)? else {
            return Ok(Published::default());
        };
        let instrument = self
            .books
            .get(index)
            .map_or(InstrumentId::NONE, |(id, _, _)| *id);
        let venue_ts = venue_ts(self.session_midnight, header);
        let mut stamp = Stamp {
            instrument,
            seq: self.last_seq,
            venue_ts,
            recv_ts,
        };
        let mut out = Published::default();
        if let Some(r) = record(stamp.next()) {
            out.push(r);
            self.last_seq = stamp.seq;
            self.last_venue_ts = venue_ts;
        }
        Ok(out)
    }

    /// The book of `instrument`.
    pub fn book(&self, instrument: InstrumentId) -> Option<&OrderBook> {
        self.books
            .iter()
            .find(|(id, _, _)| *id == instrument)
            .map(|(_, _, b)| b)
    }

    /// The book of stock locate `locate`.
    pub fn book_by_locate(&self, locate: u16) -> Option<&OrderBook> {
        match self.locates.get(usize::from(locate)) {
            Some(Slot::Book(i)) => self.books.get(*i as usize).map(|(_, _, b)| b),
            _ => None,
        }
    }

    /// Every book with its instrument and stock locate, in directory order.
    pub fn books(&self) -> impl ExactSizeIterator<Item = (InstrumentId, u16, &OrderBook)> + '_ {
        self.books.iter().map(|(id, locate, b)| (*id, *locate, b))
    }

    /// The instruments seen in the directory (and subscribed).
    pub fn instruments(&self) -> &InstrumentTable {
        &self.table
    }

    /// A snapshot of `instrument`'s book (up to `max_depth` levels per side) as of the
    /// last published record, stamped `recv_ts`.
    pub fn snapshot(
        &self,
        instrument: InstrumentId,
        recv_ts: Nanos,
        max_depth: usize,
    ) -> Option<Snapshot<'_>> {
        let meta = MdMeta {
            instrument,
            feed_seq: self.last_seq,
            venue_ts: self.last_venue_ts,
            recv_ts,
        };
        self.book(instrument).map(|b| b.snapshot(meta, max_depth))
    }

    /// The sequence number of the last published record.
    pub fn last_seq(&self) -> SeqNo {
        self.last_seq
    }

    /// Counters so far.
    pub fn stats(&self) -> FeedStats {
        self.stats
    }
}

/// The venue time of a message: session midnight plus the ITCH timestamp.
fn venue_ts(midnight: UnixNanos, header: &Header) -> UnixNanos {
    UnixNanos(midnight.get().saturating_add(header.timestamp.nanos()))
}

/// Stamps the records of one message: each takes the next feed sequence number.
#[derive(Clone, Copy, Debug)]
struct Stamp {
    instrument: InstrumentId,
    seq: SeqNo,
    venue_ts: UnixNanos,
    recv_ts: Nanos,
}

impl Stamp {
    fn next(&mut self) -> MdMeta {
        self.seq = self.seq.next();
        MdMeta {
            instrument: self.instrument,
            feed_seq: self.seq,
            venue_ts: self.venue_ts,
            recv_ts: self.recv_ts,
        }
    }
}

/// A trade against resting order `order_ref` on `resting`: the aggressor is the other
/// side.
fn trade(meta: MdMeta, order_ref: u64, resting: Side, price: Price, qty: Qty) -> MdRecord {
    MdRecord::Trade(MdTrade::new(
        meta,
        order_ref,
        Some(resting.opposite()),
        price,
        qty,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itch::{AddOrder, OrderExecutedWithPrice, OrderReplace, Price4, Timestamp, Trade};

    use tickwarp_wire::Quote;

    const MIDNIGHT: UnixNanos = UnixNanos(1_000_000_000_000);

    fn hdr(locate: u16, ts: u64) -> Header {
        Header {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: Timestamp::new(ts).unwrap_or_default(),
        }
    }

    fn directory(locate: u16, stock: &[u8; 8]) -> Message {
        StockDirectory {
            header: hdr(locate, 0),
            stock: *stock,
            market_category: b'Q',
            financial_status_indicator: b'N',
            round_lot_size: 100,
            round_lots_only: b'N',
            issue_classification: b'C',
            issue_sub_type: *b"C ",
            authenticity: b'P',
            short_sale_threshold_indicator: b'N',
            ipo_flag: b'N',
            luld_reference_price_tier: b'1',
            etp_flag: b'N',
            etp_leverage_factor: 0,
            inverse_indicator: b'N',
        }
        .into()
    }

    fn add(order_ref: u64, side: ItchSide, shares: u32, price: u32) -> Message {
        AddOrder {
            header: hdr(5, 10),
            order_reference_number: order_ref,
            buy_sell_indicator: side,
            shares,
            stock: *b"AAPL    ",
            price: Price4(price),
        }
        .into()
    }

    fn handler() -> FeedHandler {
        let mut f = FeedHandler::new(FeedConfig {
            session_midnight: MIDNIGHT,
            ..FeedConfig::default()
        });
        let p = f.handle_message(&directory(5, b"AAPL    "), Nanos(1));
        assert_eq!(p.map(|p| p.is_empty()), Ok(true));
        f
    }

    #[test]
    fn add_publishes_the_order_and_the_new_top() {
        let mut f = handler();
        let p = f
            .handle_message(&add(1, ItchSide::Buy, 100, 1_000_000), Nanos(7))
            .unwrap_or_else(|e| panic!("{e}"));
        let recs: Vec<_> = p.iter().copied().collect();
        assert_eq!(recs.len(), 2);
        let MdRecord::Add(a) = recs[0] else {
            panic!("{recs:?}")
        };
        assert_eq!((a.order_ref(), a.side(), a.qty()), (1, Side::Buy, Qty(100)));
        assert_eq!(a.meta().venue_ts, UnixNanos(MIDNIGHT.get() + 10));
        assert_eq!(a.meta().instrument, InstrumentId(1));
        let MdRecord::Bbo(b) = recs[1] else {
            panic!("{recs:?}")
        };
        assert_eq!(b.bid().qty, Qty(100));
        assert_eq!(b.ask(), Quote::default());
        assert_eq!((a.feed_seq(), b.feed_seq()), (SeqNo(1), SeqNo(2)));
        // A second order behind the top changes no quote.
        let p = f.handle_message(&add(2, ItchSide::Buy, 100, 999_900), Nanos(8));
        assert_eq!(p.map(|p| p.len()), Ok(1));
        assert_eq!(f.last_seq(), SeqNo(3));
    }

    #[test]
    fn replace_publishes_cancel_add_and_top() {
        let mut f = handler();
        let _ = f.handle_message(&add(1, ItchSide::Sell, 100, 1_000_000), Nanos(0));
        let u: Message = OrderReplace {
            header: hdr(5, 20),
            original_order_reference_number: 1,
            new_order_reference_number: 2,
            shares: 50,
            price: Price4(1_000_100),
        }
        .into();
        let p = f
            .handle_message(&u, Nanos(1))
            .unwrap_or_else(|e| panic!("{e}"));
        let recs: Vec<_> = p.iter().copied().collect();
        assert!(
            matches!(recs[..], [MdRecord::Cancel(c), MdRecord::Add(a), MdRecord::Bbo(b)]
                if c.order_ref() == 1 && c.is_delete() && a.order_ref() == 2
                    && a.side() == Side::Sell && b.ask().qty == Qty(50)),
            "{recs:?}"
        );
    }

    #[test]
    fn executions_trades_and_unknown_locates() {
        let mut f = handler();
        let _ = f.handle_message(&add(1, ItchSide::Buy, 100, 1_000_000), Nanos(0));
        let c = |printable| -> Message {
            OrderExecutedWithPrice {
                header: hdr(5, 30),
                order_reference_number: 1,
                executed_shares: 10,
                match_number: 1,
                printable,
                execution_price: Price4(999_900),
            }
            .into()
        };
        let p = f
            .handle_message(&c(b'Y'), Nanos(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(p.iter().next(), Some(MdRecord::Trade(t))
            if t.aggressor() == Some(Side::Sell) && t.price() == Price::from_ticks(999_900)));
        let p = f
            .handle_message(&c(b'N'), Nanos(1))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(p.iter().next(), Some(MdRecord::Cancel(x)) if x.remaining_qty() == Qty(80))
        );
        let print: Message = Trade {
            header: hdr(5, 40),
            order_reference_number: 0,
            buy_sell_indicator: ItchSide::Buy,
            shares: 5,
            stock: *b"AAPL    ",
            price: Price4(1),
            match_number: 2,
        }
        .into();
        let p = f.handle_message(&print, Nanos(2));
        assert_eq!(p.map(|p| p.len()), Ok(1));
        assert_eq!(f.book_by_locate(5).map(OrderBook::order_count), Some(1));
        let stray = add(9, ItchSide::Buy, 1, 1);
        let stray = match stray {
            Message::AddOrder(mut a) => {
                a.header.stock_locate = 6;
                Message::AddOrder(a)
            }
            other => other,
        };
        assert_eq!(
            f.handle_message(&stray, Nanos(3)),
            Err(FeedError::UnknownLocate { locate: 6 })
        );
        assert_eq!(f.stats().errors, 1);
    }

    #[test]
    fn directory_errors() {
        let mut f = handler();
        assert_eq!(
            f.handle_message(&directory(9, b" BAD    "), Nanos(0)),
            Err(FeedError::BadSymbol {
                locate: 9,
                error: SymbolError::BadChar { pos: 0, byte: b' ' }
            })
        );
        assert!(matches!(
            f.handle_message(&directory(10, b"AAPL    "), Nanos(0)),
            Err(FeedError::Instrument { locate: 10, .. })
        ));
        // The same locate announced again keeps its book.
        assert_eq!(
            f.handle_message(&directory(5, b"MSFT    "), Nanos(0))
                .map(|p| p.is_empty()),
            Ok(true)
        );
        assert_eq!(f.books().len(), 1);
    }
}
