//! How fast does the feed decode ITCH 5.0, and what does the book update add?
//!
//! Run: `cargo run --release -p tickwarp-bench --bin itch_decode [-- --messages N]`
//!
//! A seeded synthetic day (`tickwarp_feed::synth`, about `--messages` order-flow
//! messages over eight instruments) is encoded once into one buffer in the
//! length-prefixed framing of NASDAQ's sample files. Each round then walks the whole
//! buffer three ways: zero-copy frames only (`StreamDecoder::next_frame`: type and length
//! checked), full decode (`Message::parse` of every field), and decode plus
//! `FeedHandler::handle_message` (books and published records). Rounds are timed with
//! `tickwarp_runtime::Clock`; the best round and the mean are reported as messages per
//! second and nanoseconds per message, with the ratio of each mode to full decode.

use std::hint::black_box;

use anyhow::{Context, ensure};
use clap::Parser;
use tickwarp_feed::book::{FeedConfig, FeedHandler};
use tickwarp_feed::itch::stream::StreamDecoder;
use tickwarp_feed::synth::{SynthConfig, SynthFeed, SynthInstrument};
use tickwarp_runtime::{Clock, Nanos};
use tickwarp_wire::{Price, Symbol};

/// ITCH decode throughput: frames only, full decode, decode + book update.
#[derive(Debug, Parser)]
struct Args {
    /// Order-flow messages in the synthetic day.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Timed rounds per mode (the first untimed round warms up).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Seed of the synthetic day.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// One mode's result.
struct Mode {
    name: &'static str,
    messages: u64,
    best_ns: u64,
    mean_ns: f64,
}

impl Mode {
    fn ns_per_msg(&self) -> f64 {
        self.best_ns as f64 / self.messages as f64
    }

    fn rate(&self) -> f64 {
        self.messages as f64 * 1e9 / self.best_ns.max(1) as f64
    }
}

/// Times `rounds` runs of `pass` (after one untimed run); `pass` returns the messages it
/// handled.
fn time(
    clock: &Clock,
    name: &'static str,
    rounds: u32,
    mut pass: impl FnMut() -> anyhow::Result<u64>,
) -> anyhow::Result<Mode> {
    let messages = pass()?;
    let mut best = u64::MAX;
    let mut total = 0u64;
    for _ in 0..rounds {
        let start = clock.now();
        let n = black_box(pass()?);
        let ns = clock.now().saturating_sub(start).get();
        ensure!(
            n == messages,
            "{name}: {n} messages, first pass had {messages}"
        );
        best = best.min(ns);
        total += ns;
    }
    Ok(Mode {
        name,
        messages,
        best_ns: best,
        mean_ns: total as f64 / f64::from(rounds.max(1)),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let instruments = [
        ("AAPL", 1_900_000),
        ("MSFT", 4_100_000),
        ("NVDA", 1_200_000),
        ("AMZN", 1_800_000),
        ("GOOG", 1_700_000),
        ("META", 5_000_000),
        ("TSLA", 2_500_000),
        ("TWRP", 1_000_000),
    ]
    .into_iter()
    .map(|(s, p)| {
        Ok(SynthInstrument {
            symbol: Symbol::new(s)?,
            start_price: Price::from_ticks(p),
        })
    })
    .collect::<anyhow::Result<Vec<_>>>()?;
    let mut config = SynthConfig::new(args.seed, instruments);
    config.flow_messages = args.messages;
    let bytes = SynthFeed::new(&config)?.to_bytes();
    let clock = Clock::new();

    let frames = time(&clock, "frames only (zero-copy)", args.rounds, || {
        let mut decoder = StreamDecoder::new(&bytes);
        let mut n = 0u64;
        while let Some(frame) = decoder.next_frame() {
            black_box(frame.context("bad frame")?);
            n += 1;
        }
        Ok(n)
    })?;
    let decode = time(&clock, "full decode", args.rounds, || {
        let mut n = 0u64;
        for msg in StreamDecoder::new(&bytes) {
            black_box(msg.context("bad message")?);
            n += 1;
        }
        Ok(n)
    })?;
    let book = time(&clock, "decode + book update", args.rounds, || {
        let mut feed = FeedHandler::new(FeedConfig::default());
        let mut n = 0u64;
        for msg in StreamDecoder::new(&bytes) {
            let msg = msg.context("bad message")?;
            // Refused messages count as handled: the handler did the work to refuse them.
            let _ = black_box(feed.handle_message(&msg, Nanos(n)));
            n += 1;
        }
        ensure!(feed.stats().errors == 0, "{:?}", feed.stats());
        Ok(n)
    })?;

    println!(
        "itch_decode: {} messages, {:.1} MB buffer, {} timed rounds (best / mean)",
        decode.messages,
        bytes.len() as f64 / 1e6,
        args.rounds
    );
    println!(
        "{:<26} {:>14} {:>12} {:>14}",
        "mode", "msgs/s (best)", "ns/msg best", "ns/msg mean"
    );
    let modes = [&frames, &decode, &book];
    for m in modes {
        println!(
            "{:<26} {:>14.0} {:>12.2} {:>14.2}",
            m.name,
            m.rate(),
            m.ns_per_msg(),
            m.mean_ns / m.messages as f64
        );
    }
    for m in [&frames, &book] {
        println!(
            "{} / {}: ns/msg = {:.2}×",
            m.name,
            decode.name,
            m.ns_per_msg() / decode.ns_per_msg()
        );
    }
    Ok(())
}
