//! The engine agent over RDMA: market data from the feed publisher's ring through
//! [`RingMdSource`], orders out and executions back over one message channel
//! ([`ChannelOrderSink`], [`ChannelExecSource`]), all over the soft-iWARP stack on
//! 127.0.0.1. The order stream equals an in-memory run of the same strategies on the
//! same records; executions come back and leave the engine in the same state; a sink
//! without credit refuses with a counted, typed error; the duty cycle allocates
//! nothing in steady state. Single-threaded (AgentInvoker), bounded waits.

use std::cell::RefCell;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use tickwarp_feed::book::{FeedConfig, FeedHandler};
use tickwarp_feed::publisher::{
    Join, PacedSynth, Pacing, Publisher, PublisherConfig, Subscriber, SubscriberAcceptor,
    SubscriberConfig, default_channel_config,
};
use tickwarp_feed::synth::{SynthConfig, SynthFeed, SynthInstrument};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::ring::RingWriterConfig;
use tickwarp_rdma::verbs::{Backend, ConnectParams, Device, Listener, ProtectionDomain};
use tickwarp_runtime::clock::monotonic_now;
use tickwarp_runtime::{AgentInvoker, Nanos};
use tickwarp_strategies::agent::{EngineAgent, RecordQueue};
use tickwarp_strategies::builtin::{
    Builtin, MarketMaker, MarketMakerConfig, Momentum, MomentumConfig,
};
use tickwarp_strategies::rdma::{ChannelExecSource, ChannelOrderSink, RingMdSource};
use tickwarp_strategies::replay::compare;
use tickwarp_strategies::{Engine, EngineConfig, OrderCommand, OrderSink, SinkError};
use tickwarp_testkit::{CountingAllocator, count_allocations};
use tickwarp_wire::{
    ExecMeta, IntoBytes, OrderAccepted, OrderType, Price, Symbol, TimeInForce, UnixNanos,
};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Bound of every wait.
const WAIT: Duration = Duration::from_secs(30);
/// Virtual time between ITCH messages.
const STEP: u64 = 10_000;
/// Virtual time of the first message.
const T0: u64 = 1_000_000;

fn synth(seed: u64, flow: u64) -> Result<SynthFeed> {
    let mut config = SynthConfig::new(
        seed,
        vec![SynthInstrument {
            symbol: Symbol::new("TWRP")?,
            start_price: Price::from_units(100).context("price")?,
        }],
    );
    config.flow_messages = flow;
    config.max_orders_per_instrument = 200;
    Ok(SynthFeed::new(&config)?)
}

/// A market maker and a momentum strategy (no timers: the order stream depends on the
/// market data alone).
fn engine() -> Result<Engine<Builtin>> {
    let mut engine = Engine::new(EngineConfig {
        id_tag: "RD".into(),
        max_open_orders: 16,
    })?;
    engine.add(Builtin::MarketMaker(MarketMaker::new(
        MarketMakerConfig::default(),
    )?))?;
    engine.add(Builtin::Momentum(Momentum::new(MomentumConfig::default())?))?;
    Ok(engine)
}

struct Verbs {
    dev: Device,
    pd: ProtectionDomain,
}

fn verbs() -> Result<Verbs> {
    let dev = Device::open(Backend::Soft)?;
    let pd = dev.alloc_pd();
    Ok(Verbs { dev, pd })
}

/// A publisher with one subscriber connected over loopback.
fn feed(flow: u64, pv: &Verbs, sv: &Verbs) -> Result<(Publisher<PacedSynth>, Subscriber)> {
    let listener = Listener::bind(&pv.pd, "127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr();
    let config = PublisherConfig {
        batch: 1,
        heartbeat_interval: Duration::from_secs(3_600),
        ..PublisherConfig::default()
    };
    let mut publisher = Publisher::new(config, PacedSynth::new(synth(31, flow)?, Pacing::Max));
    let sub = thread::scope(|s| -> Result<Subscriber> {
        let acceptor = s.spawn(|| {
            SubscriberAcceptor::new(
                &listener,
                &pv.dev,
                &pv.pd,
                RingWriterConfig::default(),
                default_channel_config(),
            )
            .accept(WAIT)
        });
        let config = SubscriberConfig {
            join: Join::FromStart,
            ..SubscriberConfig::new(0x5eed)
        };
        let sub = Subscriber::connect(&sv.dev, &sv.pd, addr, &config);
        let link = acceptor
            .join()
            .map_err(|_| anyhow!("acceptor panicked"))??;
        publisher.add_subscriber(link);
        Ok(sub?)
    })?;
    Ok((publisher, sub))
}

/// Engine-side and venue-side ends of an order channel.
fn order_channel(
    config: ChannelConfig,
    ev: &Verbs,
    vv: &Verbs,
) -> Result<(MessageChannel, MessageChannel)> {
    let listener = Listener::bind(&vv.pd, "127.0.0.1:0".parse()?)?;
    let addr = listener.local_addr();
    thread::scope(|s| -> Result<_> {
        let venue = s.spawn(|| -> Result<MessageChannel> {
            let req = listener.accept(WAIT)?;
            Ok(MessageChannel::accept(&vv.dev, &vv.pd, req, config)?)
        });
        let engine =
            MessageChannel::connect(&ev.dev, &ev.pd, addr, config, &ConnectParams::default());
        let venue = venue.join().map_err(|_| anyhow!("venue panicked"))??;
        Ok((engine?, venue))
    })
}

/// The records the publisher produces for the same day at the same virtual times
/// (one ITCH message per duty cycle, the first at `T0`).
fn reference_records(flow: u64) -> Result<Vec<Vec<u8>>> {
    let mut feed = synth(31, flow)?;
    let mut handler = FeedHandler::new(FeedConfig::default());
    let mut out = Vec::new();
    let mut now = T0;
    while let Some(s) = feed.next_message() {
        if let Ok(published) = handler.handle_message(&s.message, Nanos(now)) {
            out.extend(published.iter().map(|r| r.as_bytes().to_vec()));
        }
        now += STEP;
    }
    Ok(out)
}

/// An acceptance for every new order in `orders`.
fn acks(orders: &[OrderCommand]) -> Vec<OrderAccepted> {
    orders
        .iter()
        .filter_map(|cmd| match cmd {
            OrderCommand::New(n) => Some(OrderAccepted::new(
                ExecMeta {
                    instrument: n.instrument(),
                    account: n.account(),
                    cl_ord_id: n.cl_ord_id(),
                    order_id: 0,
                    transact_time: UnixNanos(1),
                    gateway_ts: Nanos(1),
                },
                n.side(),
                OrderType::Limit,
                TimeInForce::Day,
            )),
            _ => None,
        })
        .collect()
}

/// Drains the venue end of the order channel into `orders`.
fn venue_read(venue: &mut MessageChannel, orders: &mut Vec<OrderCommand>) -> Result<usize> {
    let mut buf = [0u8; 256];
    let mut n = 0;
    while let Some(len) = venue.try_recv(&mut buf)? {
        orders.push(OrderCommand::from_bytes(&buf[..len])?);
        n += 1;
    }
    Ok(n)
}

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
fn engine_over_rdma_sends_the_in_memory_order_stream() -> Result<()> {
    const FLOW: u64 = 3_000;
    let (pv, sv, ev, vv) = (verbs()?, verbs()?, verbs()?, verbs()?);
    let (publisher, sub) = feed(FLOW, &pv, &sv)?;
    let (engine_end, mut venue) = order_channel(ChannelConfig::default(), &ev, &vv)?;
    let channel = Rc::new(RefCell::new(engine_end));
    let agent = EngineAgent::new(
        "engine",
        engine()?,
        RingMdSource::new(sub),
        ChannelExecSource::new(channel.clone()),
        ChannelOrderSink::new(channel),
        64,
    );
    let (mut feed_inv, mut engine_inv) = (AgentInvoker::new(publisher), AgentInvoker::new(agent));
    feed_inv.start().map_err(|e| anyhow!("{e}"))?;
    engine_inv.start().map_err(|e| anyhow!("{e}"))?;

    // Lock step: one ITCH message published at `now`, then the engine handles every
    // record it produced at the same `now` (as the in-memory run does).
    let mut orders = Vec::new();
    let (mut now, mut messages, mut allocations) = (T0, 0u64, 0u64);
    let deadline = monotonic_now().saturating_add(WAIT);
    while !feed_inv.agent().input_finished() {
        feed_inv.invoke(Nanos(now)).map_err(|e| anyhow!("{e}"))?;
        let published = feed_inv.agent().stats().records;
        let mut rounds = 0;
        while engine_inv.agent().stats().ticks < published {
            let (done, n) = count_allocations(|| engine_inv.invoke(Nanos(now)));
            let work = done.map_err(|e| anyhow!("{e}"))?;
            // Steady state: the second half of the day.
            if messages > FLOW / 2 {
                allocations += n;
            }
            venue_read(&mut venue, &mut orders)?;
            ensure!(
                monotonic_now() < deadline,
                "engine stuck at {published} records"
            );
            idle(&mut rounds, work);
        }
        venue_read(&mut venue, &mut orders)?;
        now += STEP;
        messages += 1;
    }
    ensure!(
        allocations == 0,
        "{allocations} allocations in the steady state"
    );

    // The same strategies on the same records, in memory.
    let records = reference_records(FLOW)?;
    let reference = EngineAgent::new(
        "reference",
        engine()?,
        RecordQueue::new(8),
        RecordQueue::new(256),
        Vec::<OrderCommand>::new(),
        64,
    );
    let mut ref_inv = AgentInvoker::new(reference);
    ref_inv.start().map_err(|e| anyhow!("{e}"))?;
    for r in &records {
        let now = tickwarp_wire::decode(r)
            .ok()
            .and_then(tickwarp_strategies::Tick::from_message)
            .context("not market data")?
            .meta()
            .recv_ts;
        ref_inv
            .agent_mut()
            .md_mut()
            .push(r)
            .map_err(|e| anyhow!("{e}"))?;
        ref_inv.invoke(now).map_err(|e| anyhow!("{e}"))?;
    }
    let expected = ref_inv.agent().sink().clone();
    ensure!(!expected.is_empty(), "the strategies sent nothing");
    ensure!(engine_inv.agent().stats().ticks == records.len() as u64);
    if let Some(d) = compare(&expected, &orders) {
        bail!("RDMA order stream differs from the in-memory run:\n{d}");
    }
    let sink = engine_inv.agent().sink().stats();
    ensure!(
        sink.sent == orders.len() as u64 && sink.refused_full == 0,
        "{sink:?}"
    );

    // Executions back over the channel; the in-memory engine gets the same.
    let acks = acks(&orders);
    ensure!(!acks.is_empty());
    let mut sent = 0;
    let mut rounds = 0;
    while engine_inv.agent().stats().execs < acks.len() as u64 {
        let mut work = 0;
        while let Some(ack) = acks.get(sent) {
            match venue.try_send(ack.as_bytes()) {
                Ok(()) => {
                    sent += 1;
                    work += 1;
                }
                Err(ChannelError::WouldBlock) => break,
                Err(e) => return Err(e.into()),
            }
        }
        work += engine_inv.invoke(Nanos(now)).map_err(|e| anyhow!("{e}"))?;
        work += venue_read(&mut venue, &mut orders)?;
        ensure!(monotonic_now() < deadline, "executions stuck at {sent}");
        idle(&mut rounds, work);
    }
    for chunk in acks.chunks(200) {
        for ack in chunk {
            ref_inv
                .agent_mut()
                .exec_mut()
                .push(ack.as_bytes())
                .map_err(|e| anyhow!("{e}"))?;
        }
        while !ref_inv.agent_mut().exec_mut().is_empty() {
            ref_inv.invoke(Nanos(now)).map_err(|e| anyhow!("{e}"))?;
        }
    }
    ensure!(engine_inv.agent().stats().bad_records == 0);
    ensure!(
        engine_inv.agent().engine().summaries() == ref_inv.agent().engine().summaries(),
        "engine state after the executions differs"
    );
    Ok(())
}

#[test]
fn a_sink_without_credit_refuses_with_a_counted_error() -> Result<()> {
    let (ev, vv) = (verbs()?, verbs()?);
    let config = ChannelConfig {
        slots: 4,
        slot_size: 256,
        send_depth: 4,
    };
    let (engine_end, mut venue) = order_channel(config, &ev, &vv)?;
    let mut sink = ChannelOrderSink::with_retries(Rc::new(RefCell::new(engine_end)), 50);
    let records = reference_records(200)?;
    let mut engine = engine()?;
    let mut generated = Vec::new();
    for r in &records {
        let msg = tickwarp_wire::decode(r)?;
        if let Some(t) = tickwarp_strategies::Tick::from_message(msg) {
            engine.handle_tick(&t, t.meta().recv_ts, &mut generated);
        }
    }
    ensure!(generated.len() >= 4, "{} orders", generated.len());
    // The venue reads nothing: the sink runs out of credit.
    let mut refused = None;
    for (i, cmd) in generated.iter().enumerate() {
        match sink.send(cmd) {
            Ok(()) => {}
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (at, error) = refused.context("the sink never refused")?;
    ensure!(error == SinkError::Full);
    let stats = sink.stats();
    ensure!(
        stats.sent == at as u64 && stats.refused_full == 1,
        "{stats:?}"
    );
    ensure!(stats.retries == 50, "{stats:?}");
    ensure!(sink.last_error() == Some(ChannelError::WouldBlock));
    // Once the venue reads, credits return and the refused command goes through.
    let mut received = Vec::new();
    let deadline = monotonic_now().saturating_add(WAIT);
    let mut rounds = 0;
    while received.len() < at {
        let work = venue_read(&mut venue, &mut received)?;
        ensure!(monotonic_now() < deadline, "orders never arrived");
        idle(&mut rounds, work);
    }
    let cmd = generated.get(at).context("refused command")?;
    let deadline = monotonic_now().saturating_add(WAIT);
    loop {
        match sink.send(cmd) {
            Ok(()) => break,
            Err(SinkError::Full) => {
                venue.progress()?;
                ensure!(monotonic_now() < deadline, "credits never came back");
                thread::yield_now();
            }
            Err(e) => return Err(e.into()),
        }
    }
    let deadline = monotonic_now().saturating_add(WAIT);
    while received.len() <= at {
        venue_read(&mut venue, &mut received)?;
        ensure!(
            monotonic_now() < deadline,
            "the retried order never arrived"
        );
        thread::yield_now();
    }
    ensure!(received.as_slice() == &generated[..=at]);
    Ok(())
}
