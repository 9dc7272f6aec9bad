//! A seeded generator of synthetic venue order flow, emitted as ITCH 5.0 messages.
//!
//! The day opens with System Events (`O`, `S`, `Q`, §1.1) and one Stock Directory
//! message (§1.2.1) per instrument (stock locates 1, 2, ...), then order flow, then the
//! closing System Events (`M`, `E`, `C`). Order flow arrives as a Poisson process:
//! exponential inter-arrival times at the configured mean rate. Each instrument's mid
//! price follows a random walk in ticks; each event picks an instrument and one of add
//! (`A`, or `F` with an MPID), partial cancel (`X`), delete (`D`), execution (`E`, or
//! `C` with a price, sometimes non-printable) of the best order on a side, replace
//! (`U`), or a non-displayed trade (`P`). The generator tracks its own live orders, so
//! every reference it names exists, every quantity it removes is there, and no new or
//! replaced order is priced through the opposite best: the book it describes is never
//! crossed or locked.
//!
//! Determinism: the same configuration (seed included) gives the same messages, byte for
//! byte, with the same `rand` version. Time: every message comes with its scheduled time
//! ([`Scheduled::at`], nanoseconds since the generator started); the caller owns pacing.
//! This module reads no clock and performs no I/O except writing to the
//! [`std::io::Write`] a caller hands to [`SynthFeed::write_sample`].

use std::io;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tickwarp_wire::{Nanos, Price, Symbol};

use crate::itch::EmitError;
use crate::itch::stream;
use crate::itch::{
    AddOrder, AddOrderMpid, Header, ItchSide, Message, OrderCancel, OrderDelete, OrderExecuted,
    OrderExecutedWithPrice, OrderReplace, Price4, StockDirectory, SystemEvent, Timestamp, Trade,
    event_code,
};

/// The most live orders per instrument a configuration may ask for.
pub const MAX_LIVE_ORDERS: usize = 1 << 20;

/// The highest start price in ticks of 1/10,000: half of `Price(4)`'s range, leaving the
/// random walk room to rise.
const MAX_START_TICKS: i64 = (u32::MAX / 2) as i64;

/// One instrument of the synthetic venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SynthInstrument {
    /// Its symbol.
    pub symbol: Symbol,
    /// Its mid price at the open.
    pub start_price: Price,
}

/// Configuration of a [`SynthFeed`].
#[derive(Clone, Debug, PartialEq)]
pub struct SynthConfig {
    /// Seed of the random generator.
    pub seed: u64,
    /// The instruments (stock locates 1, 2, ... in this order).
    pub instruments: Vec<SynthInstrument>,
    /// Mean order-flow rate, messages per second.
    pub rate_per_sec: f64,
    /// Order-flow messages between the opening and closing events.
    pub flow_messages: u64,
    /// ITCH time (since midnight) of the first message.
    pub start_time: Timestamp,
    /// Price increment.
    pub tick: Price,
    /// Live orders per instrument above which the flow only removes orders.
    pub max_orders_per_instrument: usize,
}

impl SynthConfig {
    /// Defaults: 100,000 messages per second from 09:30, one-cent ticks, up to 64 live
    /// orders per instrument, one million flow messages.
    pub fn new(seed: u64, instruments: Vec<SynthInstrument>) -> SynthConfig {
        SynthConfig {
            seed,
            instruments,
            rate_per_sec: 100_000.0,
            flow_messages: 1_000_000,
            start_time: Timestamp::new(34_200_000_000_000).unwrap_or(Timestamp::ZERO),
            tick: Price::from_ticks(100),
            max_orders_per_instrument: 64,
        }
    }
}

/// Why a configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SynthError {
    /// No instrument, or more than 65,535 (stock locates are 16 bits, 0 is market-wide).
    #[error("{count} instruments, need 1 to 65535")]
    InstrumentCount {
        /// Instruments configured.
        count: usize,
    },
    /// The rate is not a positive finite number.
    #[error("message rate must be positive and finite")]
    BadRate,
    /// The tick is not positive.
    #[error("tick must be positive")]
    BadTick,
    /// A start price is not a positive multiple of the tick, or leaves too little room
    /// below `Price(4)`'s maximum for the random walk (at most 214,748.3647).
    #[error(
        "start price of instrument {index} is not a positive multiple of the tick below 214748.3647"
    )]
    BadStartPrice {
        /// Index of the instrument in the configuration.
        index: usize,
    },
    /// Live orders per instrument outside 4 to [`MAX_LIVE_ORDERS`].
    #[error("max_orders_per_instrument must be between 4 and 1048576")]
    BadMaxOrders,
}

/// A message and the time it is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scheduled {
    /// Due time, nanoseconds since the generator started (the first message is at 0).
    pub at: Nanos,
    /// The message.
    pub message: Message,
}

/// A live order the generator tracks.
#[derive(Clone, Copy, Debug)]
struct Live {
    order_ref: u64,
    side: ItchSide,
    /// Price in ticks of the configured tick.
    level: u32,
    qty: u32,
}

/// One instrument's state.
#[derive(Clone, Debug)]
struct Instrument {
    stock: [u8; 8],
    /// Mid price in ticks.
    mid: u32,
    orders: Vec<Live>,
}

/// Where the day is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Opening system events, by index into [`OPEN`].
    Open(usize),
    /// Stock Directory of instrument `i`.
    Directory(usize),
    /// Order flow, `n` messages left.
    Flow(u64),
    /// Closing system events, by index into [`CLOSE`].
    Close(usize),
    /// Nothing more.
    Done,
}

const OPEN: [u8; 3] = [
    event_code::START_OF_MESSAGES,
    event_code::START_OF_SYSTEM_HOURS,
    event_code::START_OF_MARKET_HOURS,
];
const CLOSE: [u8; 3] = [
    event_code::END_OF_MARKET_HOURS,
    event_code::END_OF_SYSTEM_HOURS,
    event_code::END_OF_MESSAGES,
];

/// The synthetic venue: an iterator of [`Scheduled`] ITCH messages.
#[derive(Clone, Debug)]
pub struct SynthFeed {
    rng: StdRng,
    mean_gap_ns: f64,
    start_time: u64,
    tick: u32,
    max_orders: usize,
    now: Nanos,
    phase: Phase,
    instruments: Vec<Instrument>,
    next_ref: u64,
    next_match: u64,
    flow_messages: u64,
}

impl SynthFeed {
    /// A generator for `config`.
    pub fn new(config: &SynthConfig) -> Result<SynthFeed, SynthError> {
        let count = config.instruments.len();
        if count == 0 || count > usize::from(u16::MAX) {
            return Err(SynthError::InstrumentCount { count });
        }
        if !(config.rate_per_sec.is_finite() && config.rate_per_sec > 0.0) {
            return Err(SynthError::BadRate);
        }
        let tick = u32::try_from(config.tick.ticks())
            .ok()
            .filter(|&t| t > 0)
            .ok_or(SynthError::BadTick)?;
        if !(4..=MAX_LIVE_ORDERS).contains(&config.max_orders_per_instrument) {
            return Err(SynthError::BadMaxOrders);
        }
        let mut instruments = Vec::with_capacity(count);
        for (index, i) in config.instruments.iter().enumerate() {
            let ticks = i.start_price.ticks();
            let mid = u32::try_from(ticks / i64::from(tick))
                .ok()
                .filter(|&m| m > 0 && ticks % i64::from(tick) == 0 && ticks <= MAX_START_TICKS)
                .ok_or(SynthError::BadStartPrice { index })?;
            instruments.push(Instrument {
                stock: i.symbol.to_itch(),
                mid,
                orders: Vec::with_capacity(config.max_orders_per_instrument + 1),
            });
        }
        Ok(SynthFeed {
            rng: StdRng::seed_from_u64(config.seed),
            mean_gap_ns: 1e9 / config.rate_per_sec,
            start_time: config.start_time.nanos(),
            tick,
            max_orders: config.max_orders_per_instrument,
            now: Nanos::ZERO,
            phase: Phase::Open(0),
            instruments,
            next_ref: 1,
            next_match: 1,
            flow_messages: config.flow_messages,
        })
    }

    /// The next message and its due time; `None` after the last closing event.
    pub fn next_message(&mut self) -> Option<Scheduled> {
        let message = match self.phase {
            Phase::Open(i) => {
                self.phase = if i + 1 < OPEN.len() {
                    Phase::Open(i + 1)
                } else {
                    Phase::Directory(0)
                };
                self.system_event(OPEN.get(i).copied()?)
            }
            Phase::Directory(i) => {
                self.phase = if i + 1 < self.instruments.len() {
                    Phase::Directory(i + 1)
                } else if self.flow_messages > 0 {
                    Phase::Flow(self.flow_messages)
                } else {
                    Phase::Close(0)
                };
                self.directory(i)?
            }
            Phase::Flow(left) => {
                self.phase = if left > 1 {
                    Phase::Flow(left - 1)
                } else {
                    Phase::Close(0)
                };
                self.advance_clock();
                self.flow()
            }
            Phase::Close(i) => {
                self.phase = if i + 1 < CLOSE.len() {
                    Phase::Close(i + 1)
                } else {
                    Phase::Done
                };
                self.system_event(CLOSE.get(i).copied()?)
            }
            Phase::Done => return None,
        };
        Some(Scheduled {
            at: self.now,
            message,
        })
    }

    /// Writes the next message with its length prefix into `out`; returns its due time
    /// and length, `None` when the day is over. A message that does not fit is lost.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<Result<(Nanos, usize), EmitError>> {
        let s = self.next_message()?;
        Some(stream::encode(&s.message, out).map(|n| (s.at, n)))
    }

    /// Writes every remaining message, length-prefixed (the framing of NASDAQ's sample
    /// files), to `out`; returns how many it wrote.
    pub fn write_sample<W: io::Write>(&mut self, mut out: W) -> io::Result<u64> {
        let mut buf = [0u8; stream::PREFIX_LEN + crate::itch::MAX_MESSAGE_LEN];
        let mut n = 0;
        while let Some(s) = self.next_message() {
            let len = stream::encode(&s.message, &mut buf).map_err(io::Error::other)?;
            out.write_all(buf.get(..len).unwrap_or_default())?;
            n += 1;
        }
        Ok(n)
    }

    /// Every remaining message, length-prefixed, in one buffer.
    pub fn to_bytes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(s) = self.next_message() {
            stream::append(&s.message, &mut out);
        }
        out
    }

    /// Number of live orders the generator tracks, over all instruments.
    pub fn live_orders(&self) -> usize {
        self.instruments.iter().map(|i| i.orders.len()).sum()
    }

    /// Moves the clock by an exponential inter-arrival time (Poisson arrivals).
    fn advance_clock(&mut self) {
        // 1 - u lies in (0, 1], so its logarithm is finite and not positive.
        let u: f64 = self.rng.random();
        let gap = -(1.0 - u).ln() * self.mean_gap_ns;
        // Float to integer casts saturate; the gap is finite and not negative.
        self.now = Nanos(self.now.get().saturating_add(gap as u64));
    }

    fn header(&self, stock_locate: u16) -> Header {
        let nanos = self.start_time.saturating_add(self.now.get());
        Header {
            stock_locate,
            tracking_number: 0,
            timestamp: Timestamp::new(nanos).unwrap_or(Timestamp::MAX),
        }
    }

    fn system_event(&self, event_code: u8) -> Message {
        SystemEvent {
            header: self.header(0),
            event_code,
        }
        .into()
    }

    fn directory(&self, index: usize) -> Option<Message> {
        let stock = self.instruments.get(index)?.stock;
        Some(
            StockDirectory {
                header: self.header(locate_of(index)),
                stock,
                market_category: b'Q',
                financial_status_indicator: b'N',
                round_lot_size: 100,
                round_lots_only: b'N',
                issue_classification: b'C',
                issue_sub_type: *b"C ",
                // Synthetic instruments are test issues.
                authenticity: b'T',
                short_sale_threshold_indicator: b'N',
                ipo_flag: b'N',
                luld_reference_price_tier: b'1',
                etp_flag: b'N',
                etp_leverage_factor: 0,
                inverse_indicator: b'N',
            }
            .into(),
        )
    }

    /// One order-flow event on a random instrument.
    fn flow(&mut self) -> Message {
        let index = self.rng.random_range(0..self.instruments.len());
        let header = self.header(locate_of(index));
        let max_orders = self.max_orders;
        let (rng, next_ref, next_match, tick) = (
            &mut self.rng,
            &mut self.next_ref,
            &mut self.next_match,
            self.tick,
        );
        let Some(inst) = self.instruments.get_mut(index) else {
            return SystemEvent {
                header,
                event_code: event_code::START_OF_MARKET_HOURS,
            }
            .into();
        };
        // Random walk of the mid, one tick at a time, never below 10 ticks.
        if rng.random_bool(0.1) {
            inst.mid = if rng.random_bool(0.5) {
                inst.mid.saturating_add(1)
            } else {
                inst.mid.saturating_sub(1).max(10)
            };
        }
        let n = inst.orders.len();
        let roll = rng.random_range(0..100u32);
        let action = if n < 4 {
            Action::Add
        } else if n >= max_orders {
            if roll < 50 {
                Action::Delete
            } else {
                Action::Execute
            }
        } else {
            match roll {
                0..40 => Action::Add,
                40..52 => Action::Cancel,
                52..72 => Action::Delete,
                72..82 => Action::Execute,
                82..86 => Action::ExecuteWithPrice,
                86..98 => Action::Replace,
                _ => Action::Print,
            }
        };
        let mut ctx = Ctx {
            rng,
            next_ref,
            next_match,
            tick,
            header,
            stock: inst.stock,
        };
        ctx.act(action, inst)
    }
}

/// The stock locate of instrument `index` (1-based; the count is checked at creation).
fn locate_of(index: usize) -> u16 {
    u16::try_from(index + 1).unwrap_or(u16::MAX)
}

/// The order-flow events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Add,
    Cancel,
    Delete,
    Execute,
    ExecuteWithPrice,
    Replace,
    Print,
}

/// What one flow event needs besides the instrument.
struct Ctx<'a> {
    rng: &'a mut StdRng,
    next_ref: &'a mut u64,
    next_match: &'a mut u64,
    tick: u32,
    header: Header,
    stock: [u8; 8],
}

impl Ctx<'_> {
    fn new_ref(&mut self) -> u64 {
        let r = *self.next_ref;
        *self.next_ref += 1;
        r
    }

    fn new_match(&mut self) -> u64 {
        let m = *self.next_match;
        *self.next_match += 1;
        m
    }

    fn price(&self, level: u32) -> Price4 {
        Price4(level.saturating_mul(self.tick))
    }

    /// A round lot most of the time, else an odd lot.
    fn qty(&mut self) -> u32 {
        if self.rng.random_bool(0.9) {
            100 * self.rng.random_range(1..=10u32)
        } else {
            self.rng.random_range(1..100u32)
        }
    }

    /// A price level for a new order on `side`, a few ticks behind the mid, never at or
    /// through the opposite best.
    fn level_for(&mut self, inst: &Instrument, side: ItchSide) -> u32 {
        let behind = self.rng.random_range(0..8u32);
        match side {
            ItchSide::Buy => {
                let p = inst.mid.saturating_sub(1 + behind).max(1);
                best(inst, ItchSide::Sell).map_or(p, |ask| p.min(ask.saturating_sub(1)).max(1))
            }
            ItchSide::Sell => {
                let p = inst.mid.saturating_add(1 + behind);
                best(inst, ItchSide::Buy).map_or(p, |bid| p.max(bid.saturating_add(1)))
            }
        }
    }

    fn act(&mut self, action: Action, inst: &mut Instrument) -> Message {
        let header = self.header;
        let n = inst.orders.len();
        // Every action but an add or a print needs a live order to act on.
        let action = if n == 0 && action != Action::Print {
            Action::Add
        } else {
            action
        };
        match action {
            Action::Add => {
                let side = if self.rng.random_bool(0.5) {
                    ItchSide::Buy
                } else {
                    ItchSide::Sell
                };
                let level = self.level_for(inst, side);
                let (order_ref, qty) = (self.new_ref(), self.qty());
                inst.orders.push(Live {
                    order_ref,
                    side,
                    level,
                    qty,
                });
                let price = self.price(level);
                if self.rng.random_bool(0.1) {
                    AddOrderMpid {
                        header,
                        order_reference_number: order_ref,
                        buy_sell_indicator: side,
                        shares: qty,
                        stock: self.stock,
                        price,
                        attribution: *b"TWRP",
                    }
                    .into()
                } else {
                    AddOrder {
                        header,
                        order_reference_number: order_ref,
                        buy_sell_indicator: side,
                        shares: qty,
                        stock: self.stock,
                        price,
                    }
                    .into()
                }
            }
            Action::Cancel => {
                let i = self.rng.random_range(0..n);
                match inst.orders.get_mut(i) {
                    Some(o) if o.qty > 1 => {
                        let cancelled = self.rng.random_range(1..o.qty);
                        o.qty -= cancelled;
                        OrderCancel {
                            header,
                            order_reference_number: o.order_ref,
                            cancelled_shares: cancelled,
                        }
                        .into()
                    }
                    _ => self.act(Action::Delete, inst),
                }
            }
            Action::Delete => {
                let i = self.rng.random_range(0..n);
                let o = inst.orders.swap_remove(i);
                OrderDelete {
                    header,
                    order_reference_number: o.order_ref,
                }
                .into()
            }
            Action::Execute | Action::ExecuteWithPrice => {
                let side = if self.rng.random_bool(0.5) {
                    ItchSide::Buy
                } else {
                    ItchSide::Sell
                };
                // The best order of the side, or of the other side if this one is empty.
                let i = best_index(inst, side)
                    .or_else(|| best_index(inst, opposite(side)))
                    .unwrap_or(0);
                let Some(o) = inst.orders.get(i).copied() else {
                    return self.act(Action::Add, inst);
                };
                let executed = self.rng.random_range(1..=o.qty);
                if executed == o.qty {
                    inst.orders.swap_remove(i);
                } else if let Some(live) = inst.orders.get_mut(i) {
                    live.qty -= executed;
                }
                let match_number = self.new_match();
                if action == Action::Execute {
                    OrderExecuted {
                        header,
                        order_reference_number: o.order_ref,
                        executed_shares: executed,
                        match_number,
                    }
                    .into()
                } else {
                    OrderExecutedWithPrice {
                        header,
                        order_reference_number: o.order_ref,
                        executed_shares: executed,
                        match_number,
                        printable: if self.rng.random_bool(0.9) {
                            b'Y'
                        } else {
                            b'N'
                        },
                        execution_price: self.price(o.level),
                    }
                    .into()
                }
            }
            Action::Replace => {
                let i = self.rng.random_range(0..n);
                let Some(old) = inst.orders.get(i).copied() else {
                    return self.act(Action::Add, inst);
                };
                let level = self.level_for(inst, old.side);
                let (new_ref, qty) = (self.new_ref(), self.qty());
                if let Some(o) = inst.orders.get_mut(i) {
                    *o = Live {
                        order_ref: new_ref,
                        side: old.side,
                        level,
                        qty,
                    };
                }
                OrderReplace {
                    header,
                    original_order_reference_number: old.order_ref,
                    new_order_reference_number: new_ref,
                    shares: qty,
                    price: self.price(level),
                }
                .into()
            }
            Action::Print => {
                let qty = self.qty();
                let match_number = self.new_match();
                Trade {
                    header,
                    order_reference_number: 0,
                    buy_sell_indicator: ItchSide::Buy,
                    shares: qty,
                    stock: self.stock,
                    price: self.price(inst.mid),
                    match_number,
                }
                .into()
            }
        }
    }
}

fn opposite(side: ItchSide) -> ItchSide {
    match side {
        ItchSide::Buy => ItchSide::Sell,
        ItchSide::Sell => ItchSide::Buy,
    }
}

/// Index of the best-priced live order on `side`.
fn best_index(inst: &Instrument, side: ItchSide) -> Option<usize> {
    let on_side = inst
        .orders
        .iter()
        .enumerate()
        .filter(|(_, o)| o.side == side);
    match side {
        ItchSide::Buy => on_side.max_by_key(|(_, o)| o.level).map(|(i, _)| i),
        ItchSide::Sell => on_side.min_by_key(|(_, o)| o.level).map(|(i, _)| i),
    }
}

/// The best price level on `side`.
fn best(inst: &Instrument, side: ItchSide) -> Option<u32> {
    best_index(inst, side)
        .and_then(|i| inst.orders.get(i))
        .map(|o| o.level)
}

impl Iterator for SynthFeed {
    type Item = Scheduled;

    fn next(&mut self) -> Option<Scheduled> {
        self.next_message()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seed: u64, flow: u64) -> SynthFeed {
        let instruments = ["AAA", "BBB"]
            .iter()
            .filter_map(|s| Symbol::new(s).ok())
            .map(|symbol| SynthInstrument {
                symbol,
                start_price: Price::from_ticks(500_000),
            })
            .collect();
        let mut c = SynthConfig::new(seed, instruments);
        c.flow_messages = flow;
        SynthFeed::new(&c).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn day_opens_with_events_and_directory_and_closes() {
        let msgs: Vec<_> = feed(1, 5).map(|s| s.message).collect();
        let types: Vec<u8> = msgs.iter().map(Message::msg_type).collect();
        assert_eq!(&types[..5], b"SSSRR");
        assert_eq!(&types[types.len() - 3..], b"SSS");
        assert_eq!(types.len(), 3 + 2 + 5 + 3);
        let Some(Message::StockDirectory(r)) = msgs.get(4) else {
            panic!("{msgs:?}")
        };
        assert_eq!((r.header.stock_locate, &r.stock), (2, b"BBB     "));
        assert_eq!(r.header.timestamp.nanos(), 34_200_000_000_000);
    }

    #[test]
    fn no_flow_still_frames_the_day() {
        assert_eq!(feed(1, 0).count(), 3 + 2 + 3);
    }

    #[test]
    fn every_action_on_an_empty_instrument_adds() {
        let mut f = feed(3, 1);
        let mut inst = f.instruments[0].clone();
        let header = Header::default();
        for action in [
            Action::Cancel,
            Action::Delete,
            Action::Execute,
            Action::ExecuteWithPrice,
            Action::Replace,
        ] {
            inst.orders.clear();
            let mut ctx = Ctx {
                rng: &mut f.rng,
                next_ref: &mut f.next_ref,
                next_match: &mut f.next_match,
                tick: 100,
                header,
                stock: inst.stock,
            };
            let m = ctx.act(action, &mut inst);
            assert!(matches!(m.msg_type(), b'A' | b'F'), "{action:?}: {m:?}");
            assert_eq!(inst.orders.len(), 1);
        }
    }
}
