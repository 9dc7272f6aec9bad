//! The synthetic venue end to end: its ITCH bytes decode without error, drive the books
//! without any inconsistency, are deterministic per seed, and the steady-state decode and
//! book path allocates nothing.

mod util;

use std::collections::BTreeSet;

use anyhow::{Context, Result, ensure};
use tickwarp_feed::book::{BookCapacity, FeedConfig, FeedHandler};
use tickwarp_feed::itch::moldudp64::{self, PacketWriter};
use tickwarp_feed::itch::stream::StreamDecoder;
use tickwarp_feed::itch::{Message, event_code};
use tickwarp_feed::synth::{SynthConfig, SynthError, SynthFeed, SynthInstrument};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use tickwarp_wire::{InstrumentId, InstrumentTable, Nanos, Price, Symbol, UnixNanos};
use util::{Mirror, check_book};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

fn config(seed: u64, flow_messages: u64) -> Result<SynthConfig> {
    let instruments = [
        ("AAPL", 1_900_000),
        ("MSFT", 4_100_000),
        ("BRK.B", 4_000_000),
    ]
    .into_iter()
    .map(|(s, p)| {
        Ok(SynthInstrument {
            symbol: Symbol::new(s)?,
            start_price: Price::from_ticks(p),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let mut c = SynthConfig::new(seed, instruments);
    c.flow_messages = flow_messages;
    Ok(c)
}

#[test]
fn generated_stream_decodes_and_drives_consistent_books() -> Result<()> {
    let bytes = SynthFeed::new(&config(7, 20_000)?)?.to_bytes();
    let mut decoder = StreamDecoder::new(&bytes);
    let mut feed = FeedHandler::new(FeedConfig {
        session_midnight: UnixNanos(1_700_000_000_000_000_000),
        ..FeedConfig::default()
    });
    let mut mirrors = [Mirror::default(), Mirror::default(), Mirror::default()];
    let mut types = BTreeSet::new();
    let mut first_last = (None, None);
    for (i, m) in decoder.by_ref().enumerate() {
        let m = m.with_context(|| format!("message {i}"))?;
        types.insert(m.msg_type());
        if let Message::SystemEvent(e) = m {
            first_last.0.get_or_insert(e.event_code);
            first_last.1 = Some(e.event_code);
        }
        let published = feed
            .handle_message(&m, Nanos(i as u64))
            .with_context(|| format!("message {i}: {m:?}"))?;
        let locate = m.stock_locate();
        if locate == 0 {
            continue;
        }
        let mirror = mirrors
            .get_mut(usize::from(locate) - 1)
            .context("locate out of range")?;
        for r in published.iter() {
            ensure!(r.meta().instrument == InstrumentId(u32::from(locate)));
            ensure!(r.meta().venue_ts.get() > 1_700_000_000_000_000_000);
            mirror.apply(r)?;
        }
        let book = feed.book_by_locate(locate).context("no book")?;
        check_book(book).with_context(|| format!("message {i}"))?;
        mirror.check(book).with_context(|| format!("message {i}"))?;
    }
    let stats = decoder.finish()?;
    ensure!(
        stats.skipped == 0 && stats.messages == 3 + 3 + 20_000 + 3,
        "{stats:?}"
    );
    ensure!(
        first_last
            == (
                Some(event_code::START_OF_MESSAGES),
                Some(event_code::END_OF_MESSAGES)
            ),
        "{first_last:?}"
    );
    let want: BTreeSet<u8> = b"SRAFECXDUP".iter().copied().collect();
    ensure!(types == want, "message types {types:?}");
    let s = feed.stats();
    ensure!(s.unknown_orders == 0 && s.errors == 0, "{s:?}");
    ensure!(feed.instruments().id_of_str("BRK.B") == Some(InstrumentId(3)));
    let snapshot: Vec<_> = feed
        .snapshot(InstrumentId(1), Nanos(1), 1000)
        .context("no snapshot")?
        .collect();
    let book = feed.book(InstrumentId(1)).context("no book")?;
    let levels: usize = snapshot.iter().map(|c| c.levels().len()).sum();
    ensure!(levels == book.bids().len().max(book.asks().len()));
    ensure!(snapshot.iter().all(|c| c.feed_seq() == feed.last_seq()));
    Ok(())
}

#[test]
fn same_seed_same_bytes() -> Result<()> {
    let a = SynthFeed::new(&config(42, 5_000)?)?.to_bytes();
    let b = SynthFeed::new(&config(42, 5_000)?)?.to_bytes();
    let c = SynthFeed::new(&config(43, 5_000)?)?.to_bytes();
    ensure!(a == b, "same seed gave different bytes");
    ensure!(a != c, "different seeds gave the same bytes");
    let mut written = Vec::new();
    let n = SynthFeed::new(&config(42, 5_000)?)?.write_sample(&mut written)?;
    ensure!(n == 5_009 && written == a);
    Ok(())
}

#[test]
fn arrivals_are_poisson_at_the_configured_rate() -> Result<()> {
    let mut c = config(1, 50_000)?;
    c.rate_per_sec = 1_000_000.0;
    let times: Vec<Nanos> = SynthFeed::new(&c)?.map(|s| s.at).collect();
    ensure!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time went backwards"
    );
    let last = times.last().context("no message")?.get() as f64;
    // 50,000 gaps of mean 1,000 ns: the total is within a few percent of 50 ms.
    ensure!((last / 50_000_000.0 - 1.0).abs() < 0.03, "span {last} ns");
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1].get() - w[0].get()) as f64)
        .collect();
    // Exponential: about 1 - e^-1 = 63% of the gaps are below the mean.
    let below = gaps.iter().filter(|&&g| g < 1_000.0).count() as f64 / gaps.len() as f64;
    ensure!((below - 0.632).abs() < 0.02, "fraction below mean {below}");
    Ok(())
}

#[test]
fn live_feeding_returns_messages_with_their_time() -> Result<()> {
    let mut feed = SynthFeed::new(&config(3, 10)?)?;
    let mut buf = [0u8; 64];
    let mut count = 0;
    while let Some(r) = feed.next_into(&mut buf) {
        let (at, len) = r?;
        let m = Message::parse(&buf[2..len])?;
        ensure!(
            count >= 6 || at == Nanos::ZERO,
            "opening messages are at time 0"
        );
        ensure!(m.wire_len() + 2 == len);
        count += 1;
    }
    ensure!(count == 3 + 3 + 10 + 3 && feed.live_orders() <= 10);
    ensure!(feed.next_message().is_none());
    Ok(())
}

#[test]
fn moldudp64_carries_the_generated_flow() -> Result<()> {
    let msgs: Vec<Message> = SynthFeed::new(&config(9, 500)?)?
        .map(|s| s.message)
        .collect();
    let mut seq = 1u64;
    let mut back = Vec::new();
    for chunk in msgs.chunks(30) {
        let mut buf = [0u8; 1500];
        let mut w = PacketWriter::new(&mut buf, *b"SYNTH00001", seq)?;
        for m in chunk {
            w.push(m)?;
        }
        let n = w.finish();
        let (h, blocks) = moldudp64::parse(&buf[..n])?;
        ensure!(h.sequence_number == seq);
        for b in blocks {
            let (s, m) = b?;
            ensure!(s == seq);
            seq += 1;
            back.push(m);
        }
    }
    ensure!(back == msgs);
    Ok(())
}

#[test]
fn filtered_instruments_get_no_book() -> Result<()> {
    let bytes = SynthFeed::new(&config(5, 2_000)?)?.to_bytes();
    let mut table = InstrumentTable::new();
    table.insert_str("MSFT", InstrumentId(77))?;
    let mut feed = FeedHandler::new(FeedConfig {
        instruments: Some(table),
        ..FeedConfig::default()
    });
    for m in StreamDecoder::new(&bytes) {
        let _ = feed.handle_message(&m?, Nanos(0))?;
    }
    ensure!(feed.books().len() == 1 && feed.book(InstrumentId(77)).is_some());
    ensure!(feed.stats().filtered > 0);
    ensure!(
        feed.books()
            .all(|(id, locate, _)| id == InstrumentId(77) && locate == 2)
    );
    Ok(())
}

#[test]
fn steady_state_decode_and_book_updates_allocate_nothing() -> Result<()> {
    let bytes = SynthFeed::new(&config(11, 60_000)?)?.to_bytes();
    let mut feed = FeedHandler::new(FeedConfig {
        capacity: BookCapacity {
            orders: 1024,
            levels_per_side: 128,
        },
        ..FeedConfig::default()
    });
    let mut decoder = StreamDecoder::new(&bytes);
    // Warm up: the directory and the first 20,000 messages grow the books.
    for m in decoder.by_ref().take(20_000) {
        let _ = feed.handle_message(&m?, Nanos(0))?;
    }
    let (result, allocations) = count_allocations(|| -> Result<u64> {
        let mut records = 0u64;
        for m in decoder.by_ref() {
            let published = feed.handle_message(&m?, Nanos(1))?;
            records += published.len() as u64;
        }
        Ok(records)
    });
    let records = result?;
    ensure!(records > 40_000, "{records} records");
    ensure!(
        allocations == 0,
        "{allocations} allocations in steady state"
    );
    Ok(())
}

#[test]
fn bad_configurations_are_refused() -> Result<()> {
    let mut c = config(1, 1)?;
    c.rate_per_sec = 0.0;
    ensure!(SynthFeed::new(&c).err() == Some(SynthError::BadRate));
    let mut c = config(1, 1)?;
    c.instruments.clear();
    ensure!(SynthFeed::new(&c).err() == Some(SynthError::InstrumentCount { count: 0 }));
    let mut c = config(1, 1)?;
    c.instruments[1].start_price = Price::from_ticks(4_100_050);
    ensure!(SynthFeed::new(&c).err() == Some(SynthError::BadStartPrice { index: 1 }));
    let mut c = config(1, 1)?;
    c.tick = Price::ZERO;
    ensure!(SynthFeed::new(&c).err() == Some(SynthError::BadTick));
    let mut c = config(1, 1)?;
    c.max_orders_per_instrument = 3;
    ensure!(SynthFeed::new(&c).err() == Some(SynthError::BadMaxOrders));
    Ok(())
}
