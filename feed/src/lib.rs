//! tickwarp-feed: the market-data core of tickwarp.
//!
//! - [`itch`]: NASDAQ TotalView-ITCH 5.0, every message type as a zero-copy [`itch::Frame`]
//!   view plus a typed `Repr` parsed from and emitted to it, and the two input framings
//!   (the length-prefixed stream of NASDAQ's sample files, MoldUDP64 packets), with
//!   decoders that skip and count bad messages instead of failing.
//! - [`book`]: per-instrument order books, order by order (L3) driving price levels (L2)
//!   and the best bid and offer, fed by decoded ITCH and producing `tickwarp-wire` market
//!   data records (order deltas, trades, top of book, snapshot chunks).
//! - [`synth`]: a seeded, deterministic synthetic venue that emits realistic ITCH 5.0
//!   order flow (Poisson arrivals, random-walk prices, consistent order lifecycles), so
//!   the whole decode path runs without a market data licence.
//!
//! - [`publisher`]: the publisher agent — ITCH in, books updated, normalized records
//!   fanned out to each subscriber's RDMA ring, heartbeats, and snapshot resync over a
//!   control channel for lapped subscribers — and the subscriber side.
//! - [`recorder`]: every published record into a `tickwarp-wire` journal for replay.
//!
//! A decode loop for benchmarks: [`itch::stream::StreamDecoder`] over a byte buffer
//! (zero-copy frames through `next_frame`, parsed messages as an iterator), each message
//! into [`book::FeedHandler::handle_message`].
//!
//! # What this crate must not do
//!
//! Decoding, books and the synthetic venue do no network or file I/O (callers own sockets
//! and files and hand bytes over; [`synth::SynthFeed::write_sample`] writes to the
//! `std::io::Write` its caller passes) and read no clock (receive and scheduled times are
//! arguments or outputs). I/O lives in [`publisher`] (RDMA connections, driven by the
//! agent's duty cycle) and [`recorder`] (the journal) only. No module spawns threads,
//! and none panics on any input: bad bytes and inconsistent streams are typed, counted
//! errors. The strategy engine lives in `tickwarp-strategies`.

pub mod book;
pub mod itch;
pub mod publisher;
pub mod recorder;
pub mod synth;
