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
//! A decode loop for benchmarks: [`itch::stream::StreamDecoder`] over a byte buffer
//! (zero-copy frames through `next_frame`, parsed messages as an iterator), each message
//! into [`book::FeedHandler::handle_message`].
//!
//! # What this crate must not do
//!
//! No network or file I/O in these modules (callers own sockets and files and hand bytes
//! over; the one exception is [`synth::SynthFeed::write_sample`], which writes to the
//! `std::io::Write` its caller passes), no clock reads (receive and scheduled times are
//! arguments or outputs, never read here), no threads, and no panics on any input: bad
//! bytes and inconsistent streams are typed, counted errors. The RDMA publisher, the
//! recorder and the strategy engine live elsewhere.

pub mod book;
pub mod itch;
pub mod synth;
