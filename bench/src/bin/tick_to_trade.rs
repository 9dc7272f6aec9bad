//! Tick-to-trade of the trading pipeline, over RDMA (soft iWARP or a verbs device)
//! against the same pipeline over raw TCP and over in-process SPSC queues.
//!
//! Run: `cargo run --release -p tickwarp-bench --bin tick_to_trade [-- --duration 10]`
//!
//! Three stages run as agents (dedicated threads, or one shared thread): the **feed**
//! decodes a synthetic ITCH stream released at `--rate` messages per second and updates
//! the books; each market data record crosses a hop to the **strategy engine** (a
//! market maker and a pinger), whose orders cross a hop to the **gateway** (the
//! gateway's order core: validation, risk, order state, journal) which hands them to an
//! in-process venue simulator; executions cross back. Per order, from the tick's arrival
//! at the feed (its scheduled release: a feed that falls behind is charged for it, so
//! coordinated omission is corrected) to the hand-off to the venue session, and each
//! hop (feed → strategy, strategy → gateway, gateway → venue) go into HdrHistograms
//! after a warm-up.
//!
//! Hops: `rdma` = RDMA WRITE ring for market data and a SEND/RECV message channel for
//! orders and executions (the production transports); `tcp` = length-prefixed frames on
//! non-blocking loopback TCP sockets with the soft stack's socket options, polled the
//! same way; `spsc` = `rtrb` queues between the threads (the in-process floor). Prints
//! percentiles per transport, the ratio rdma / tcp and the floor, and writes the `.hlog`,
//! an SVG percentile plot and a JSON summary under `--out`.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, ValueEnum};
use serde::Serialize;
use tickwarp_bench::pipeline::{Hop, HopHistograms, HopSummary, write_percentile_svg};
use tickwarp_bench::report::{Run, Unit, print_ratio, print_table, write_hlog};
use tickwarp_bench::tcp::connected_pair;
use tickwarp_feed::book::{FeedConfig, FeedHandler};
use tickwarp_feed::synth::{Scheduled, SynthConfig, SynthFeed, SynthInstrument};
use tickwarp_gateway::service::core::execution_bytes;
use tickwarp_gateway::service::{CoreConfig, OrderCore, Origin};
use tickwarp_gateway::venue::{Execution, VenueConfig, VenueSession, VenueSim, VenueTime};
use tickwarp_rdma::channel::{ChannelConfig, ChannelError, MessageChannel};
use tickwarp_rdma::ring::{
    RingConfig, RingPoll, RingReader, RingWriter, RingWriterConfig, SeqPlacement,
};
use tickwarp_rdma::verbs::{Backend, ConnectParams, Device, Listener};
use tickwarp_runtime::clock::{monotonic_now, unix_now};
use tickwarp_runtime::{
    Agent, AgentError, IdleConfig, NamedAgent, Nanos, RunnerConfig, ThreadingMode, launch,
};
use tickwarp_strategies::builtin::{Builtin, by_name, default_by_name};
use tickwarp_strategies::{
    Engine, EngineConfig, Execution as StratExec, OrderCommand, OrderSink, SinkError, Tick,
};
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig};
use tickwarp_wire::{ClientOrderId, InstrumentId, Message, Price, Symbol, decode};

/// Largest record a hop carries (market data, order commands, executions).
const FRAME: usize = 128;
/// Capacity of every SPSC queue and TCP frame backlog.
const QUEUE: usize = 4_096;
/// Bound of connection set-up.
const SETUP: Duration = Duration::from_secs(10);
/// Sends without room retried (progressing the transport) before the run fails.
const SEND_RETRIES: u32 = 10_000_000;

/// Which transport the hops use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
enum Transport {
    /// RDMA WRITE ring (market data) and SEND/RECV channel (orders, executions).
    Rdma,
    /// Raw TCP on loopback, same polling.
    Tcp,
    /// In-process rtrb SPSC queues.
    Spsc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ThreadingArg {
    Dedicated,
    Shared,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum IdleArg {
    BusySpin,
    Yielding,
    Backoff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Auto,
    Soft,
    Hardware,
}

/// Tick-to-trade over RDMA vs raw TCP vs in-process queues.
#[derive(Debug, Parser)]
struct Args {
    /// ITCH messages per second into the feed.
    #[arg(long, default_value_t = 20_000)]
    rate: u32,
    /// Measured seconds per transport.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Unrecorded seconds before each measurement.
    #[arg(long, default_value_t = 1.0)]
    warm_up: f64,
    /// Threading of the three stages.
    #[arg(long, value_enum, default_value = "shared")]
    threading: ThreadingArg,
    /// Idle strategy of every thread.
    #[arg(long, value_enum, default_value = "backoff")]
    idle: IdleArg,
    /// Verbs backend of the rdma run.
    #[arg(long, value_enum, default_value = "soft")]
    backend: BackendArg,
    /// Cores for the feed, strategy and gateway threads (dedicated), or the one shared
    /// thread (first core): e.g. `2,3,4`.
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// Transports to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rdma,tcp,spsc"
    )]
    transports: Vec<Transport>,
    /// Directory for the .hlog, .svg and .json files.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

// ---------------------------------------------------------------------------------------
// Hops
// ---------------------------------------------------------------------------------------

/// A fixed-size frame for the SPSC queues.
type Frame = ([u8; FRAME], u8);

fn frame(bytes: &[u8]) -> Frame {
    let mut f = [0u8; FRAME];
    let len = bytes.len().min(FRAME);
    if let (Some(dst), Some(src)) = (f.get_mut(..len), bytes.get(..len)) {
        dst.copy_from_slice(src);
    }
    (f, len as u8)
}

/// Length-prefixed frames over a non-blocking TCP stream.
#[derive(Debug)]
struct FramedTcp {
    stream: TcpStream,
    rx: Vec<u8>,
    rx_start: usize,
    tx: Vec<u8>,
}

impl FramedTcp {
    fn new(stream: TcpStream) -> FramedTcp {
        FramedTcp {
            stream,
            rx: Vec::with_capacity(QUEUE * (FRAME + 1)),
            rx_start: 0,
            tx: Vec::with_capacity(QUEUE * (FRAME + 1)),
        }
    }

    /// Writes what is pending, as much as the socket takes now.
    fn flush(&mut self) -> anyhow::Result<()> {
        while !self.tx.is_empty() {
            match self.stream.write(&self.tx) {
                Ok(0) => bail!("tcp peer closed"),
                Ok(n) => {
                    self.tx.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<bool> {
        if self.tx.len() > QUEUE * (FRAME + 1) {
            self.flush()?;
            if self.tx.len() > QUEUE * (FRAME + 1) {
                return Ok(false);
            }
        }
        self.tx.push(bytes.len() as u8);
        self.tx.extend_from_slice(bytes);
        self.flush()?;
        Ok(true)
    }

    fn recv(&mut self, out: &mut [u8; FRAME]) -> anyhow::Result<Option<usize>> {
        if self.frame_ready().is_none() {
            if self.rx_start > 0 {
                self.rx.drain(..self.rx_start);
                self.rx_start = 0;
            }
            let mut buf = [0u8; 4_096];
            match self.stream.read(&mut buf) {
                Ok(0) => bail!("tcp peer closed"),
                Ok(n) => self.rx.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let Some(len) = self.frame_ready() else {
            return Ok(None);
        };
        let start = self.rx_start + 1;
        let (Some(dst), Some(src)) = (out.get_mut(..len), self.rx.get(start..start + len)) else {
            bail!("tcp frame of {len} bytes does not fit");
        };
        dst.copy_from_slice(src);
        self.rx_start = start + len;
        Ok(Some(len))
    }

    fn frame_ready(&self) -> Option<usize> {
        let len = usize::from(*self.rx.get(self.rx_start)?);
        (self.rx.len() >= self.rx_start + 1 + len).then_some(len)
    }
}

/// The market data hop, sending side (built once per run, never moved while it runs,
/// so the size of the RDMA variant costs nothing).
#[allow(clippy::large_enum_variant)]
enum MdTx {
    Rdma(RingWriter),
    Tcp(FramedTcp),
    Spsc(rtrb::Producer<Frame>),
}

/// The market data hop, receiving side.
enum MdRx {
    Rdma(RingReader),
    Tcp(FramedTcp),
    Spsc(rtrb::Consumer<Frame>),
}

/// A two-way hop (orders one way, executions the other); built once per run.
#[allow(clippy::large_enum_variant)]
enum Duplex {
    Rdma(MessageChannel),
    Tcp(FramedTcp),
    Spsc(rtrb::Producer<Frame>, rtrb::Consumer<Frame>),
}

impl MdTx {
    /// Sends one record; false when the hop has no room now (the record is dropped,
    /// as a lossy market data ring would).
    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<bool> {
        match self {
            MdTx::Rdma(w) => match w.publish(bytes) {
                Ok(_) => Ok(true),
                Err(tickwarp_rdma::ring::PublishError::SendQueueFull { .. }) => Ok(false),
                Err(e) => Err(e.into()),
            },
            MdTx::Tcp(t) => t.send(bytes),
            MdTx::Spsc(p) => Ok(p.push(frame(bytes)).is_ok()),
        }
    }

    fn progress(&mut self) -> anyhow::Result<()> {
        match self {
            MdTx::Rdma(w) => {
                w.reap()?;
            }
            MdTx::Tcp(t) => t.flush()?,
            MdTx::Spsc(_) => {}
        }
        Ok(())
    }
}

impl MdRx {
    fn recv(&mut self, out: &mut [u8; FRAME]) -> anyhow::Result<Option<usize>> {
        match self {
            MdRx::Rdma(r) => match r.poll(out)? {
                RingPoll::Message { len, .. } => Ok(Some(len)),
                RingPoll::Empty => Ok(None),
                RingPoll::Gap { expected, found } => {
                    bail!("market data ring lapped: {expected} -> {found}")
                }
            },
            MdRx::Tcp(t) => t.recv(out),
            MdRx::Spsc(c) => Ok(c.pop().ok().map(|(f, len)| {
                let len = usize::from(len);
                if let (Some(dst), Some(src)) = (out.get_mut(..len), f.get(..len)) {
                    dst.copy_from_slice(src);
                }
                len
            })),
        }
    }
}

impl Duplex {
    /// Sends, progressing the hop while it has no room (lossless).
    fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        for _ in 0..SEND_RETRIES {
            let sent = match self {
                Duplex::Rdma(ch) => match ch.try_send(bytes) {
                    Ok(()) => true,
                    Err(ChannelError::WouldBlock) => {
                        ch.progress()?;
                        false
                    }
                    Err(e) => return Err(e.into()),
                },
                Duplex::Tcp(t) => t.send(bytes)?,
                Duplex::Spsc(p, _) => p.push(frame(bytes)).is_ok(),
            };
            if sent {
                return Ok(());
            }
        }
        bail!("a lossless hop stayed full")
    }

    fn recv(&mut self, out: &mut [u8; FRAME]) -> anyhow::Result<Option<usize>> {
        match self {
            Duplex::Rdma(ch) => Ok(ch.try_recv(out)?),
            Duplex::Tcp(t) => t.recv(out),
            Duplex::Spsc(_, c) => Ok(c.pop().ok().map(|(f, len)| {
                let len = usize::from(len);
                if let (Some(dst), Some(src)) = (out.get_mut(..len), f.get(..len)) {
                    dst.copy_from_slice(src);
                }
                len
            })),
        }
    }
}

/// The hops of one pipeline: market data, and strategy ↔ gateway.
struct Hops {
    md_tx: MdTx,
    md_rx: MdRx,
    engine_side: Duplex,
    gateway_side: Duplex,
    /// Keeps the RDMA devices alive.
    _devices: Vec<Device>,
}

fn connect_hops(transport: Transport, backend: Backend) -> anyhow::Result<Hops> {
    match transport {
        Transport::Spsc => {
            let (md_p, md_c) = rtrb::RingBuffer::new(QUEUE);
            let (o_p, o_c) = rtrb::RingBuffer::new(QUEUE);
            let (e_p, e_c) = rtrb::RingBuffer::new(QUEUE);
            Ok(Hops {
                md_tx: MdTx::Spsc(md_p),
                md_rx: MdRx::Spsc(md_c),
                engine_side: Duplex::Spsc(o_p, e_c),
                gateway_side: Duplex::Spsc(e_p, o_c),
                _devices: Vec::new(),
            })
        }
        Transport::Tcp => {
            let (md_a, md_b) = connected_pair(0)?;
            let (o_a, o_b) = connected_pair(0)?;
            Ok(Hops {
                md_tx: MdTx::Tcp(FramedTcp::new(md_a)),
                md_rx: MdRx::Tcp(FramedTcp::new(md_b)),
                engine_side: Duplex::Tcp(FramedTcp::new(o_a)),
                gateway_side: Duplex::Tcp(FramedTcp::new(o_b)),
                _devices: Vec::new(),
            })
        }
        Transport::Rdma => {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let (feed_dev, engine_dev, gw_dev) = (
                Device::open_for(backend, loopback.ip())?,
                Device::open_for(backend, loopback.ip())?,
                Device::open_for(backend, loopback.ip())?,
            );
            let (feed_pd, engine_pd, gw_pd) = (
                feed_dev.alloc_pd(),
                engine_dev.alloc_pd(),
                gw_dev.alloc_pd(),
            );
            let md_l = Listener::bind(&feed_pd, loopback)?;
            let gw_l = Listener::bind(&gw_pd, loopback)?;
            let (md_addr, gw_addr) = (md_l.local_addr(), gw_l.local_addr());
            let channel = ChannelConfig {
                slots: 256,
                slot_size: 256,
                send_depth: 256,
            };
            let ring = RingConfig {
                slot_size: 192,
                slot_count: QUEUE as u32,
                placement: SeqPlacement::InWrite,
            };
            let (writer, reader, gw_ch, engine_ch) = thread::scope(|s| -> anyhow::Result<_> {
                let w = s.spawn(|| -> anyhow::Result<RingWriter> {
                    let req = md_l.accept(SETUP)?;
                    Ok(RingWriter::accept(
                        &feed_dev,
                        &feed_pd,
                        req,
                        RingWriterConfig::default(),
                    )?)
                });
                let g = s.spawn(|| -> anyhow::Result<MessageChannel> {
                    let req = gw_l.accept(SETUP)?;
                    Ok(MessageChannel::accept(&gw_dev, &gw_pd, req, channel)?)
                });
                let reader = RingReader::connect(
                    &engine_dev,
                    &engine_pd,
                    md_addr,
                    ring,
                    &ConnectParams::default(),
                )?;
                let engine_ch = MessageChannel::connect(
                    &engine_dev,
                    &engine_pd,
                    gw_addr,
                    channel,
                    &ConnectParams::default(),
                )?;
                let writer = w.join().map_err(|_| anyhow!("ring accept panicked"))??;
                let gw_ch = g.join().map_err(|_| anyhow!("channel accept panicked"))??;
                Ok((writer, reader, gw_ch, engine_ch))
            })?;
            Ok(Hops {
                md_tx: MdTx::Rdma(writer),
                md_rx: MdRx::Rdma(reader),
                engine_side: Duplex::Rdma(engine_ch),
                gateway_side: Duplex::Rdma(gw_ch),
                _devices: vec![feed_dev, engine_dev, gw_dev],
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------------------

/// The feed: synthetic ITCH at its schedule → books → market data hop.
struct FeedStage {
    synth: SynthFeed,
    handler: FeedHandler,
    md: MdTx,
    start: Option<Nanos>,
    next: Option<Scheduled>,
    dropped: Arc<Mutex<u64>>,
    dropped_here: u64,
}

impl Agent for FeedStage {
    fn role_name(&self) -> &str {
        "feed"
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let start = *self.start.get_or_insert(now);
        let mut work = 0;
        for _ in 0..64 {
            if self.next.is_none() {
                self.next = self.synth.next_message();
            }
            let Some(next) = self.next else {
                break;
            };
            let due = Nanos(start.get().saturating_add(next.at.get()));
            if due > now {
                break;
            }
            self.next = None;
            work += 1;
            // The tick "arrives" at its scheduled time: a feed running late is charged.
            let Ok(published) = self.handler.handle_message(&next.message, due) else {
                continue;
            };
            for record in published.iter() {
                if !self
                    .md
                    .send(record.as_bytes())
                    .map_err(|e| AgentError::msg(e.to_string()))?
                {
                    self.dropped_here += 1;
                }
            }
        }
        self.md
            .progress()
            .map_err(|e| AgentError::msg(e.to_string()))?;
        Ok(work)
    }

    fn on_close(&mut self) {
        if let Ok(mut d) = self.dropped.lock() {
            *d += self.dropped_here;
        }
    }
}

/// Sends order commands on the strategy's side of the duplex hop.
struct HopSink<'a>(&'a mut Duplex);

impl OrderSink for HopSink<'_> {
    fn send(&mut self, order: &OrderCommand) -> Result<(), SinkError> {
        self.0.send(order.as_bytes()).map_err(|_| SinkError::Full)
    }
}

/// The strategy engine.
struct StrategyStage {
    engine: Engine<Builtin>,
    md: MdRx,
    link: Duplex,
    buf: [u8; FRAME],
}

impl Agent for StrategyStage {
    fn role_name(&self) -> &str {
        "strategy"
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let fail = |e: anyhow::Error| AgentError::msg(e.to_string());
        let mut work = 0;
        for _ in 0..32 {
            let Some(len) = self.link.recv(&mut self.buf).map_err(fail)? else {
                break;
            };
            work += 1;
            if let Ok(Some(exec)) =
                decode(self.buf.get(..len).unwrap_or_default()).map(StratExec::from_message)
            {
                self.engine
                    .handle_execution(&exec, now, &mut HopSink(&mut self.link));
            }
        }
        for _ in 0..32 {
            let Some(len) = self.md.recv(&mut self.buf).map_err(fail)? else {
                break;
            };
            work += 1;
            // The strategy decides at the moment it reads the tick.
            let at = monotonic_now();
            if let Ok(Some(tick)) =
                decode(self.buf.get(..len).unwrap_or_default()).map(Tick::from_message)
            {
                self.engine
                    .handle_tick(&tick, at, &mut HopSink(&mut self.link));
            }
        }
        work += self.engine.handle_timers(now, &mut HopSink(&mut self.link));
        Ok(work)
    }
}

/// The venue session: the simulator in-process; records tick-to-trade at the hand-off.
struct LocalVenue {
    sim: VenueSim,
    intake: VecDeque<(ClientOrderId, Nanos)>,
    latency: HopHistograms,
    record_from: Nanos,
}

impl VenueSession for LocalVenue {
    fn submit_new(&mut self, now: VenueTime, order: &tickwarp_wire::NewOrder) {
        let venue_out = monotonic_now();
        while let Some((id, at)) = self.intake.pop_front() {
            if id == order.cl_ord_id() {
                if venue_out >= self.record_from {
                    self.latency.record(&order.cause(), at, venue_out);
                }
                break;
            }
        }
        self.sim.handle_new(now, order);
    }

    fn submit_cancel(&mut self, now: VenueTime, cancel: &tickwarp_wire::CancelOrder) {
        self.sim.handle_cancel(now, cancel);
    }

    fn submit_replace(&mut self, now: VenueTime, replace: &tickwarp_wire::ReplaceOrder) {
        self.sim.handle_replace(now, replace);
    }

    fn poll_execution(&mut self) -> Option<Execution> {
        self.sim.poll_execution()
    }
}

/// The gateway: the order core in front of the in-process venue.
struct GatewayStage {
    core: OrderCore<LocalVenue>,
    link: Duplex,
    buf: [u8; FRAME],
    client: u32,
    out: Arc<Mutex<Option<HopHistograms>>>,
}

impl Agent for GatewayStage {
    fn role_name(&self) -> &str {
        "gateway"
    }

    fn do_work(&mut self, now: Nanos) -> Result<usize, AgentError> {
        let fail = |e: anyhow::Error| AgentError::msg(e.to_string());
        let mut work = 0;
        let origin = Origin::Rdma(self.client);
        for _ in 0..32 {
            let Some(len) = self.link.recv(&mut self.buf).map_err(fail)? else {
                break;
            };
            work += 1;
            let intake = monotonic_now();
            let at = VenueTime {
                wall: unix_now(),
                mono: intake,
            };
            match decode(self.buf.get(..len).unwrap_or_default()) {
                Ok(Message::NewOrder(n)) => {
                    self.core
                        .venue_mut()
                        .intake
                        .push_back((n.cl_ord_id(), intake));
                    self.core.handle_new(at, origin, n)?;
                }
                Ok(Message::CancelOrder(c)) => self.core.handle_cancel(at, origin, c)?,
                Ok(Message::ReplaceOrder(r)) => self.core.handle_replace(at, origin, r)?,
                _ => {}
            }
        }
        let at = VenueTime {
            wall: unix_now(),
            mono: now,
        };
        work += self.core.flush(at)?;
        // The flush handed on every order the core accepted; the rest were refused.
        self.core.venue_mut().intake.clear();
        while let Some(report) = self.core.poll_report() {
            work += 1;
            self.link
                .send(execution_bytes(&report.event))
                .map_err(fail)?;
        }
        Ok(work)
    }

    fn on_close(&mut self) {
        if let Ok(mut out) = self.out.lock() {
            *out = Some(self.core.venue().latency.clone());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------

/// One transport's results.
#[derive(Debug, Serialize)]
struct TransportResult {
    transport: Transport,
    orders: u64,
    md_dropped: u64,
    latency: HopSummary,
}

fn run_one(
    args: &Args,
    transport: Transport,
    dir: &std::path::Path,
) -> anyhow::Result<(HopHistograms, u64)> {
    let backend = match args.backend {
        BackendArg::Auto => Backend::Auto,
        BackendArg::Soft => Backend::Soft,
        BackendArg::Hardware => Backend::Hardware,
    };
    let hops = connect_hops(transport, backend)
        .with_context(|| format!("connecting the {transport:?} hops"))?;
    let instrument = SynthInstrument {
        symbol: Symbol::new("TWRP")?,
        start_price: Price::from_units(100).context("price")?,
    };
    let mut synth_config = SynthConfig::new(7, vec![instrument]);
    synth_config.rate_per_sec = f64::from(args.rate.max(1));
    synth_config.flow_messages = u64::MAX / 2;
    let synth = SynthFeed::new(&synth_config)?;

    let mut engine = Engine::new(EngineConfig {
        id_tag: "B".to_owned(),
        max_open_orders: 64,
    })?;
    engine.add(default_by_name("market_maker")?)?;
    let pinger_every = toml::Table::from_iter([("every".to_owned(), toml::Value::Integer(20))]);
    engine.add(by_name("pinger", toml::Value::Table(pinger_every))?)?;

    let record_from =
        monotonic_now().saturating_add(Duration::from_secs_f64(args.warm_up.max(0.0)));
    let journal_dir = dir.join(format!("journal-{transport:?}").to_lowercase());
    let _ = std::fs::remove_dir_all(&journal_dir);
    let venue = LocalVenue {
        sim: VenueSim::new(&VenueConfig {
            instruments: vec![InstrumentId(1)],
            ..VenueConfig::default()
        }),
        intake: VecDeque::with_capacity(QUEUE),
        latency: HopHistograms::new()?,
        record_from,
    };
    let mut limits = tickwarp_gateway::risk::RiskLimits::from_toml(RISK)?;
    limits.max_orders_per_day = 4_000_000;
    let (core, _) = OrderCore::open(
        CoreConfig {
            journal_dir,
            journal: JournalConfig {
                fsync: FsyncPolicy::Never,
                ..JournalConfig::default()
            },
            max_orders: 1 << 20,
            limits,
            instruments: vec![InstrumentId(1)],
            references: vec![(InstrumentId(1), Price::from_ticks(100 * Price::SCALE))],
        },
        venue,
        VenueTime {
            wall: unix_now(),
            mono: monotonic_now(),
        },
    )?;
    let client = core.next_rdma_client();
    let out = Arc::new(Mutex::new(None));
    let dropped = Arc::new(Mutex::new(0));
    let Hops {
        md_tx,
        md_rx,
        engine_side,
        gateway_side,
        _devices,
    } = hops;
    let mut agents = vec![
        NamedAgent::new(
            "ttt-feed",
            FeedStage {
                synth,
                handler: FeedHandler::new(FeedConfig::default()),
                md: md_tx,
                start: None,
                next: None,
                dropped: Arc::clone(&dropped),
                dropped_here: 0,
            },
        ),
        NamedAgent::new(
            "ttt-strategy",
            StrategyStage {
                engine,
                md: md_rx,
                link: engine_side,
                buf: [0; FRAME],
            },
        ),
        NamedAgent::new(
            "ttt-gateway",
            GatewayStage {
                core,
                link: gateway_side,
                buf: [0; FRAME],
                client,
                out: Arc::clone(&out),
            },
        ),
    ];
    let mode = match args.threading {
        ThreadingArg::Dedicated => {
            for (agent, core) in agents.iter_mut().zip(&args.cores) {
                agent.core = Some(*core);
            }
            ThreadingMode::Dedicated
        }
        ThreadingArg::Shared => ThreadingMode::Shared,
    };
    let idle = match args.idle {
        IdleArg::BusySpin => IdleConfig::BusySpin,
        IdleArg::Yielding => IdleConfig::Yielding,
        IdleArg::Backoff => IdleConfig::default_backoff(),
    };
    let mut template = RunnerConfig::new("ttt").with_idle(idle);
    if let (ThreadingArg::Shared, Some(core)) = (args.threading, args.cores.first()) {
        template = template.with_core(*core, false);
    }
    let launched = launch(mode, &template, agents)?;
    let total = Duration::from_secs_f64(args.warm_up.max(0.0) + args.duration.max(0.1));
    let end = monotonic_now().saturating_add(total);
    while monotonic_now() < end {
        if !launched.is_running() {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    launched
        .stop()
        .map_err(|e| anyhow!("the {transport:?} pipeline failed: {e}"))?;
    let h = out
        .lock()
        .map_err(|_| anyhow!("result lock poisoned"))?
        .take()
        .context("the gateway left no histograms")?;
    let d = *dropped
        .lock()
        .map_err(|_| anyhow!("drop counter poisoned"))?;
    Ok((h, d))
}

/// Roomy limits: the benchmark measures the path, risk must not refuse.
const RISK: &str = r#"
max_order_qty = 100000
max_notional = "100000000"
collar_bps = 0
credit_limit = "100000000000"
max_position = 100000000
max_orders_per_day = 4000000
throttle = { msgs_per_sec = 1000000, burst = 100000 }
"#;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let elapsed = Duration::from_secs_f64(args.duration.max(0.1));
    let mut results = Vec::new();
    let mut all_runs: Vec<Run> = Vec::new();
    let mut t2t: Vec<(Transport, Run)> = Vec::new();
    let mut kept: Vec<(Transport, HopHistograms)> = Vec::new();
    for &transport in &args.transports {
        eprintln!(
            "running {transport:?} for {:.1} s after {:.1} s of warm-up…",
            args.duration, args.warm_up
        );
        let (h, dropped) = run_one(&args, transport, &args.out)?;
        let prefix = format!("{transport:?} ").to_lowercase();
        let runs = h.runs(&prefix, elapsed);
        print_table(
            &format!("{transport:?}: tick-to-trade and hops"),
            Unit::Nanos,
            &runs,
        )?;
        if dropped > 0 {
            println!("  ({dropped} market data records dropped by a full hop)");
        }
        if let Some(first) = runs.first() {
            t2t.push((transport, first.clone()));
        }
        results.push(TransportResult {
            transport,
            orders: h.orders(),
            md_dropped: dropped,
            latency: h.summary(),
        });
        all_runs.extend(runs);
        kept.push((transport, h));
    }
    let find = |t: Transport| t2t.iter().find(|(x, _)| *x == t).map(|(_, r)| r);
    if let (Some(rdma), Some(tcp)) = (find(Transport::Rdma), find(Transport::Tcp)) {
        println!("\nrdma / raw tcp (tick-to-trade):");
        print_ratio(rdma, tcp)?;
    }
    if let Some(spsc) = find(Transport::Spsc) {
        let p = spsc.percentiles();
        println!(
            "in-process floor (spsc): p50 {} ns, p99 {} ns, max {} ns",
            p.p50, p.p99, p.max
        );
        if let Some(rdma) = find(Transport::Rdma) {
            println!("rdma / in-process floor (tick-to-trade):");
            print_ratio(rdma, spsc)?;
        }
    }
    let hlog = args.out.join("tick_to_trade.hlog");
    write_hlog(
        &hlog,
        "tick_to_trade: tick-to-trade and hops per transport (ns)",
        &all_runs,
    )?;
    let svg = args.out.join("tick_to_trade.svg");
    let labels: Vec<String> = kept
        .iter()
        .map(|(t, _)| format!("{t:?}").to_lowercase())
        .collect();
    let series: Vec<(&str, &hdrhistogram::Histogram<u64>)> = kept
        .iter()
        .zip(&labels)
        .map(|((_, h), label)| (label.as_str(), h.hop(Hop::TickToTrade)))
        .collect();
    write_percentile_svg(&svg, "tick-to-trade by transport", &series)?;
    let json = args.out.join("tick_to_trade.json");
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", json.display()))?;
    println!(
        "\nwrote {}, {}, {}",
        hlog.display(),
        svg.display(),
        json.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_frames_arrive_whole_and_in_order() -> anyhow::Result<()> {
        let (a, b) = connected_pair(0)?;
        let (mut tx, mut rx) = (FramedTcp::new(a), FramedTcp::new(b));
        let frames: Vec<Vec<u8>> = (1..=100u8).map(|n| vec![n; usize::from(n)]).collect();
        for f in &frames {
            assert!(tx.send(f)?);
        }
        let mut out = [0u8; FRAME];
        let mut got = Vec::new();
        for _ in 0..1_000_000 {
            tx.flush()?;
            thread::yield_now();
            if let Some(len) = rx.recv(&mut out)? {
                got.push(out[..len].to_vec());
                if got.len() == frames.len() {
                    break;
                }
            }
        }
        assert_eq!(got, frames);
        Ok(())
    }

    #[test]
    fn spsc_frames_keep_their_length() {
        let (f, len) = frame(&[7; 40]);
        assert_eq!(len, 40);
        assert_eq!(&f[..40], &[7; 40]);
        assert_eq!(frame(&[1; 300]).1 as usize, FRAME);
    }
}
