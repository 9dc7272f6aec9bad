//! The RDMA publisher end to end over the soft-iWARP stack on 127.0.0.1: two
//! subscribers receive every record in feed order and rebuild the publisher's books; a
//! deliberately slow subscriber on a small ring is lapped, resyncs from a snapshot over
//! its control channel and ends with the publisher's books; the steady state of the
//! publisher and a subscriber allocates nothing. Everything runs on the test thread
//! through an `AgentInvoker` with a virtual clock; every wait is bounded.

use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tickwarp_feed::book::OrderBook;
use tickwarp_feed::publisher::{
    Join, PacedSynth, Pacing, Publisher, PublisherConfig, Subscriber, SubscriberAcceptor,
    SubscriberConfig, SubscriberEvent, default_channel_config, md_meta,
};
use tickwarp_feed::synth::{SynthConfig, SynthFeed, SynthInstrument};
use tickwarp_rdma::ring::{RingConfig, RingWriterConfig, SeqPlacement};
use tickwarp_rdma::verbs::{Backend, Device, Listener, ProtectionDomain};
use tickwarp_runtime::{AgentInvoker, Nanos};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use tickwarp_wire::{Message, Price, Symbol, decode};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Bound of every wait.
const WAIT: Duration = Duration::from_secs(30);
/// Virtual time per duty cycle.
const STEP: u64 = 1_000;

/// A synthetic day on three instruments with `flow` order-flow messages.
fn synth(seed: u64, flow: u64) -> Result<SynthFeed> {
    let instruments = [
        ("AAPL", 1_900_000),
        ("MSFT", 4_100_000),
        ("TWRP", 1_000_000),
    ]
    .into_iter()
    .map(|(s, p)| {
        Ok(SynthInstrument {
            symbol: Symbol::new(s)?,
            start_price: Price::from_ticks(p),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let mut config = SynthConfig::new(seed, instruments);
    config.flow_messages = flow;
    config.max_orders_per_instrument = 200;
    Ok(SynthFeed::new(&config)?)
}

/// The publisher side's verbs resources.
struct Side {
    dev: Device,
    pd: ProtectionDomain,
}

impl Side {
    fn new() -> Result<Side> {
        let dev = Device::open(Backend::Soft)?;
        let pd = dev.alloc_pd();
        Ok(Side { dev, pd })
    }
}

/// A publisher of `input` with one subscriber per config, all connected over loopback.
fn setup(
    config: PublisherConfig,
    input: PacedSynth,
    subs: &[SubscriberConfig],
    writer: RingWriterConfig,
) -> Result<(Publisher<PacedSynth>, Vec<Subscriber>, Side, Side)> {
    let pside = Side::new()?;
    let sside = Side::new()?;
    let listener = Listener::bind(&pside.pd, "127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr();
    let mut publisher = Publisher::new(config, input);
    let subscribers = thread::scope(|s| -> Result<Vec<Subscriber>> {
        let acceptor = s.spawn(|| -> Result<Vec<_>> {
            let mut acceptor = SubscriberAcceptor::new(
                &listener,
                &pside.dev,
                &pside.pd,
                writer,
                default_channel_config(),
            );
            (0..subs.len())
                .map(|_| acceptor.accept(WAIT).context("accept subscriber"))
                .collect()
        });
        let connected: Result<Vec<Subscriber>> = subs
            .iter()
            .map(|c| Subscriber::connect(&sside.dev, &sside.pd, addr, c).context("connect"))
            .collect();
        let links = acceptor
            .join()
            .map_err(|_| anyhow::anyhow!("acceptor panicked"))??;
        for link in links {
            publisher.add_subscriber(link);
        }
        connected
    })?;
    Ok((publisher, subscribers, pside, sside))
}

fn subscriber(token: u64, slots: u32, join: Join) -> SubscriberConfig {
    SubscriberConfig {
        ring: RingConfig {
            slot_size: 192,
            slot_count: slots,
            placement: SeqPlacement::InWrite,
        },
        join,
        ..SubscriberConfig::new(token)
    }
}

fn publisher_config(batch: usize) -> PublisherConfig {
    PublisherConfig {
        batch,
        heartbeat_interval: Duration::from_micros(50),
        ..PublisherConfig::default()
    }
}

/// What a test learned from one subscriber's events.
#[derive(Debug, Default)]
struct Seen {
    /// Feed sequence number of the last book record handed out.
    last: u64,
    records: u64,
    heartbeats: u64,
    losses: u64,
    resyncs: u64,
    snapshot_records: u64,
    /// Between a loss and the resync that repairs it.
    stale: bool,
}

/// Polls `sub` until it has nothing; checks ordering and that nothing is handed out
/// while the books are stale. Returns the events handled.
fn drain(sub: &mut Subscriber, seen: &mut Seen) -> Result<usize> {
    let mut n = 0;
    while let Some(event) = sub.poll()? {
        n += 1;
        match event {
            SubscriberEvent::Record(bytes) => {
                ensure!(
                    !seen.stale,
                    "a record was handed out while the books are stale"
                );
                let msg = decode(bytes)?;
                let meta = md_meta(&msg).context("not market data")?;
                if let Message::MdHeartbeat(_) = msg {
                    seen.heartbeats += 1;
                    ensure!(meta.feed_seq.get() <= seen.last, "heartbeat ahead");
                    continue;
                }
                ensure!(
                    meta.feed_seq.get() == seen.last + 1,
                    "record {} after {}",
                    meta.feed_seq.get(),
                    seen.last
                );
                seen.last = meta.feed_seq.get();
                seen.records += 1;
            }
            SubscriberEvent::Lost { last_applied } => {
                ensure!(last_applied.get() == seen.last, "lost at the wrong place");
                seen.losses += 1;
                seen.stale = true;
            }
            SubscriberEvent::Snapshot(bytes) => {
                ensure!(seen.stale, "snapshot record outside a resync");
                decode(bytes)?;
                seen.snapshot_records += 1;
            }
            SubscriberEvent::Resynced { feed_seq } => {
                ensure!(seen.stale, "resync without a loss");
                ensure!(feed_seq.get() >= seen.last, "snapshot older than the books");
                seen.last = feed_seq.get();
                seen.stale = false;
                seen.resyncs += 1;
            }
        }
    }
    Ok(n)
}

/// Two books hold the same orders and levels.
fn same_book(a: &OrderBook, b: &OrderBook) -> Result<()> {
    ensure!(a.order_count() == b.order_count(), "order counts differ");
    for (r, o) in a.orders() {
        ensure!(b.order(r) == Some(o), "order {r} differs");
    }
    ensure!(a.bids().eq(b.bids()), "bids differ");
    ensure!(a.asks().eq(b.asks()), "asks differ");
    Ok(())
}

/// Every publisher book equals the subscriber's.
fn same_books(publisher: &Publisher<PacedSynth>, sub: &Subscriber) -> Result<()> {
    let mut n = 0;
    for (id, _, book) in publisher.feed().books() {
        let theirs = sub
            .book(id)
            .with_context(|| format!("subscriber has no book {id}"))?;
        same_book(book, theirs).with_context(|| format!("instrument {id}"))?;
        n += 1;
    }
    ensure!(n == 3, "{n} books");
    Ok(())
}

/// A yielding, then sleeping idle for a loop that found nothing to do.
fn idle(rounds: &mut u32, work: usize) {
    if work > 0 {
        *rounds = 0;
    } else {
        *rounds += 1;
        if *rounds < 64 {
            thread::yield_now();
        } else {
            thread::sleep(Duration::from_micros(50));
        }
    }
}

#[test]
fn two_subscribers_receive_every_record_in_order() -> Result<()> {
    let input = PacedSynth::new(synth(11, 3_000)?, Pacing::Max);
    let subs = [
        subscriber(1, 4096, Join::FromStart),
        subscriber(2, 4096, Join::FromStart),
    ];
    let (publisher, mut subs, _p, _s) = setup(
        publisher_config(4),
        input,
        &subs,
        RingWriterConfig::default(),
    )?;
    let mut invoker = AgentInvoker::new(publisher);
    invoker.start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut seen = [Seen::default(), Seen::default()];
    let deadline = tickwarp_runtime::clock::monotonic_now().saturating_add(WAIT);
    let (mut now, mut rounds) = (Nanos(1_000_000), 0);
    loop {
        let mut work = invoker.invoke(now).map_err(|e| anyhow::anyhow!("{e}"))?;
        now = Nanos(now.get() + STEP);
        for (sub, seen) in subs.iter_mut().zip(&mut seen) {
            work += drain(sub, seen)?;
        }
        let publisher = invoker.agent();
        let last = publisher.feed().last_seq();
        if publisher.input_finished() && subs.iter().all(|s| s.last_applied() == last) {
            break;
        }
        ensure!(
            tickwarp_runtime::clock::monotonic_now() < deadline,
            "subscribers stuck at {:?} of {last:?}",
            subs.iter()
                .map(Subscriber::last_applied)
                .collect::<Vec<_>>()
        );
        idle(&mut rounds, work);
    }
    let publisher = invoker.agent();
    let stats = publisher.stats();
    ensure!(
        stats.decode_errors == 0 && stats.feed_errors == 0,
        "{stats:?}"
    );
    ensure!(stats.records > 3_000, "{stats:?}");
    for (sub, seen) in subs.iter().zip(&seen) {
        ensure!(seen.records == stats.records, "{seen:?} vs {stats:?}");
        ensure!(seen.losses == 0 && seen.resyncs == 0, "{seen:?}");
        ensure!(sub.is_live());
        same_books(publisher, sub)?;
    }
    for link in publisher.links() {
        ensure!(link.stats().dropped == 0, "{:?}", link.stats());
    }
    Ok(())
}

#[test]
fn a_slow_subscriber_is_lapped_and_resyncs_from_a_snapshot() -> Result<()> {
    let input = PacedSynth::new(synth(12, 4_000)?, Pacing::Max);
    let subs = [
        subscriber(10, 1024, Join::FromStart),
        subscriber(20, 16, Join::FromStart),
    ];
    let writer = RingWriterConfig {
        sq_depth: 64,
        full_polls: 2_000,
    };
    let (publisher, mut subs, _p, _s) = setup(publisher_config(8), input, &subs, writer)?;
    let mut invoker = AgentInvoker::new(publisher);
    invoker.start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut seen = [Seen::default(), Seen::default()];
    let deadline = tickwarp_runtime::clock::monotonic_now().saturating_add(WAIT);
    let (mut now, mut rounds, mut cycle) = (Nanos(1_000_000), 0, 0u64);
    loop {
        let mut work = invoker.invoke(now).map_err(|e| anyhow::anyhow!("{e}"))?;
        now = Nanos(now.get() + STEP);
        cycle += 1;
        // Subscriber 2 pauses for cycles 50 to 120: about 500 messages on a 16-slot ring.
        for (i, (sub, seen)) in subs.iter_mut().zip(&mut seen).enumerate() {
            if i == 1 && (50..120).contains(&cycle) {
                continue;
            }
            work += drain(sub, seen)?;
        }
        let publisher = invoker.agent();
        let last = publisher.feed().last_seq();
        if publisher.input_finished()
            && subs.iter().all(|s| s.is_live() && s.last_applied() == last)
        {
            break;
        }
        ensure!(
            tickwarp_runtime::clock::monotonic_now() < deadline,
            "subscribers stuck at {:?} of {last:?} ({:?})",
            subs.iter()
                .map(Subscriber::last_applied)
                .collect::<Vec<_>>(),
            subs.iter().map(Subscriber::stats).collect::<Vec<_>>()
        );
        idle(&mut rounds, work);
    }
    let publisher = invoker.agent();
    let (fast, slow) = (&seen[0], &seen[1]);
    ensure!(
        fast.losses == 0 && fast.records == publisher.stats().records,
        "{fast:?}"
    );
    ensure!(slow.losses >= 1 && slow.resyncs >= 1, "{slow:?}");
    ensure!(slow.snapshot_records > 0, "{slow:?}");
    let stats = subs[1].stats();
    ensure!(stats.ring_gaps + stats.seq_jumps >= 1, "{stats:?}");
    ensure!(stats.resyncs == slow.resyncs, "{stats:?}");
    ensure!(publisher.links()[1].stats().snapshots >= 1);
    same_books(publisher, &subs[0])?;
    same_books(publisher, &subs[1])?;
    Ok(())
}

#[test]
fn a_late_subscriber_starts_from_a_snapshot() -> Result<()> {
    let input = PacedSynth::new(synth(13, 1_000)?, Pacing::Max);
    let subs = [subscriber(5, 256, Join::Snapshot)];
    let (publisher, mut subs, _p, _s) = setup(
        publisher_config(4),
        input,
        &subs,
        RingWriterConfig::default(),
    )?;
    let mut invoker = AgentInvoker::new(publisher);
    invoker.start().map_err(|e| anyhow::anyhow!("{e}"))?;
    // The publisher runs 100 cycles before the subscriber looks at anything.
    let mut now = Nanos(1_000_000);
    for _ in 0..100 {
        invoker.invoke(now).map_err(|e| anyhow::anyhow!("{e}"))?;
        now = Nanos(now.get() + STEP);
    }
    let mut seen = Seen {
        stale: true,
        ..Seen::default()
    };
    let deadline = tickwarp_runtime::clock::monotonic_now().saturating_add(WAIT);
    let mut rounds = 0;
    loop {
        let mut work = invoker.invoke(now).map_err(|e| anyhow::anyhow!("{e}"))?;
        now = Nanos(now.get() + STEP);
        work += drain(&mut subs[0], &mut seen)?;
        let publisher = invoker.agent();
        if publisher.input_finished()
            && subs[0].is_live()
            && subs[0].last_applied() == publisher.feed().last_seq()
        {
            break;
        }
        ensure!(
            tickwarp_runtime::clock::monotonic_now() < deadline,
            "late subscriber stuck: {:?}",
            subs[0].stats()
        );
        idle(&mut rounds, work);
    }
    ensure!(seen.resyncs >= 1 && seen.snapshot_records > 0, "{seen:?}");
    same_books(invoker.agent(), &subs[0])
}

#[test]
fn steady_state_publish_and_subscribe_do_not_allocate() -> Result<()> {
    let input = PacedSynth::new(synth(14, 40_000)?, Pacing::Max);
    let subs = [subscriber(7, 4096, Join::FromStart)];
    let (publisher, mut subs, _p, _s) = setup(
        publisher_config(2),
        input,
        &subs,
        RingWriterConfig::default(),
    )?;
    let mut invoker = AgentInvoker::new(publisher);
    invoker.start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut now = Nanos(1_000_000);
    let mut cycle = |now: Nanos| -> Result<()> {
        invoker.invoke(now).map_err(|e| anyhow::anyhow!("{e}"))?;
        let deadline = tickwarp_runtime::clock::monotonic_now().saturating_add(WAIT);
        // Read until the subscriber caught up with the publisher.
        while subs[0].last_applied() != invoker.agent().feed().last_seq() {
            let mut got = false;
            while let Some(event) = subs[0].poll()? {
                got = true;
                if let SubscriberEvent::Lost { .. } = event {
                    bail!("unexpected loss");
                }
            }
            if !got {
                thread::yield_now();
            }
            ensure!(
                tickwarp_runtime::clock::monotonic_now() < deadline,
                "subscriber stuck"
            );
        }
        Ok(())
    };
    for _ in 0..6_000 {
        cycle(now)?;
        now = Nanos(now.get() + STEP);
    }
    let (result, allocations) = count_allocations(|| -> Result<()> {
        for _ in 0..4_000 {
            cycle(now)?;
            now = Nanos(now.get() + STEP);
        }
        Ok(())
    });
    result?;
    ensure!(
        allocations == 0,
        "{allocations} allocations in steady state"
    );
    Ok(())
}

#[test]
fn a_subscriber_reports_a_publisher_that_went_away() -> Result<()> {
    let input = PacedSynth::new(synth(14, 200)?, Pacing::Max);
    let subs = [subscriber(1, 4096, Join::FromStart)];
    let (publisher, mut subs, pside, _s) = setup(
        publisher_config(8),
        input,
        &subs,
        RingWriterConfig::default(),
    )?;
    let mut invoker = AgentInvoker::new(publisher);
    invoker.start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut seen = Seen::default();
    let deadline = tickwarp_runtime::clock::monotonic_now().saturating_add(WAIT);
    let (mut now, mut rounds) = (Nanos(1_000_000), 0);
    let sub = subs.first_mut().context("one subscriber")?;
    // Everything published first, so the ring holds records when the publisher goes.
    while !invoker.agent().input_finished() {
        let work = invoker.invoke(now).map_err(|e| anyhow::anyhow!("{e}"))?;
        now = Nanos(now.get() + STEP);
        ensure!(
            tickwarp_runtime::clock::monotonic_now() < deadline,
            "the publisher never finished its input"
        );
        idle(&mut rounds, work);
    }
    let published = invoker
        .agent()
        .links()
        .first()
        .map(|l| l.stats().published)
        .context("one link")?;
    invoker.close();
    drop(invoker);
    drop(pside);
    let error = loop {
        match sub.poll() {
            Ok(Some(_)) => {
                seen.records += 1;
                rounds = 0;
            }
            Ok(None) => idle(&mut rounds, 0),
            Err(e) => break e,
        }
        ensure!(
            tickwarp_runtime::clock::monotonic_now() < deadline,
            "the subscriber never noticed that the publisher went away ({seen:?})"
        );
    };
    ensure!(
        matches!(
            error,
            tickwarp_feed::publisher::SubscriberError::RingClosed
                | tickwarp_feed::publisher::SubscriberError::Control(_)
        ),
        "{error}"
    );
    ensure!(
        seen.records == published,
        "records placed before the close are delivered first: {seen:?} of {published}"
    );
    Ok(())
}
