//! Shared helpers for the integration tests: a recorded market data journal made from
//! the synthetic venue, and the standard set of strategies.
#![allow(dead_code)]

use std::path::Path;

use anyhow::Context;
use tickwarp_feed::book::{FeedConfig, FeedHandler};
use tickwarp_feed::synth::{SynthConfig, SynthFeed, SynthInstrument};
use tickwarp_runtime::AgentInvoker;
use tickwarp_strategies::agent::{EngineAgent, RecordQueue};
use tickwarp_strategies::builtin::{
    Builtin, MarketMaker, MarketMakerConfig, Momentum, MomentumConfig, Pinger, PingerConfig,
};
use tickwarp_strategies::replay::{FillModel, TradeThrough, append_md};
use tickwarp_strategies::{Engine, EngineConfig, OrderCommand, OwnedExecution, Tick};
use tickwarp_testkit::count_allocations;
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig, JournalWriter};
use tickwarp_wire::{Nanos, Price, Symbol, decode};

/// The synthetic day: one instrument (id 1), `flow` order-flow messages.
pub(crate) fn synth(seed: u64, flow: u64) -> anyhow::Result<SynthFeed> {
    let mut config = SynthConfig::new(
        seed,
        vec![SynthInstrument {
            symbol: Symbol::new("TWRP")?,
            start_price: Price::from_units(100).context("price")?,
        }],
    );
    config.flow_messages = flow;
    Ok(SynthFeed::new(&config)?)
}

/// Every market data record of a synthetic day, encoded, with its receive time.
pub(crate) fn synth_records(seed: u64, flow: u64) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut feed = synth(seed, flow)?;
    let mut handler = FeedHandler::new(FeedConfig::default());
    let mut out = Vec::new();
    while let Some(s) = feed.next_message() {
        let Ok(published) = handler.handle_message(&s.message, s.at) else {
            continue;
        };
        for r in published.iter() {
            out.push(r.as_bytes().to_vec());
        }
    }
    Ok(out)
}

/// Records a synthetic day into a journal in `dir` (SynthFeed → FeedHandler → md
/// records → JournalWriter, under the replay convention); returns the record count.
pub(crate) fn record_journal(dir: &Path, seed: u64, flow: u64) -> anyhow::Result<u64> {
    let config = JournalConfig {
        segment_bytes: 256 << 10,
        fsync: FsyncPolicy::Never,
    };
    let (mut writer, _) = JournalWriter::open(dir, config)?;
    let mut feed = synth(seed, flow)?;
    let mut handler = FeedHandler::new(FeedConfig::default());
    let mut n = 0;
    while let Some(s) = feed.next_message() {
        let Ok(published) = handler.handle_message(&s.message, s.at) else {
            continue;
        };
        for r in published.iter() {
            append_md(&mut writer, r.as_bytes(), s.at)?;
            n += 1;
        }
    }
    writer.sync()?;
    Ok(n)
}

/// A market maker, a momentum strategy and a pinger on instrument 1.
pub(crate) fn strategies(mm: MarketMakerConfig) -> anyhow::Result<Vec<Builtin>> {
    Ok(vec![
        Builtin::MarketMaker(MarketMaker::new(mm)?),
        Builtin::Momentum(Momentum::new(MomentumConfig::default())?),
        Builtin::Pinger(Pinger::new(PingerConfig {
            every: 50,
            ..PingerConfig::default()
        })?),
    ])
}

/// An engine holding `strategies`.
pub(crate) fn engine(strategies: Vec<Builtin>) -> anyhow::Result<Engine<Builtin>> {
    let mut engine = Engine::new(EngineConfig {
        id_tag: "RP".into(),
        max_open_orders: 16,
    })?;
    for s in strategies {
        engine.add(s)?;
    }
    Ok(engine)
}

/// The engine agent run on the caller's thread against a [`TradeThrough`] venue, fed
/// one market data record at a time with the same event order as replay: the venue sees
/// the tick, the resulting executions are settled, then the strategies see the tick and
/// their orders are settled. Counts the allocations made inside the agent's duty cycles.
pub(crate) struct AgentHarness {
    pub(crate) invoker:
        AgentInvoker<EngineAgent<Builtin, RecordQueue, RecordQueue, Vec<OrderCommand>>>,
    pub(crate) fill: TradeThrough,
    pub(crate) orders: Vec<OrderCommand>,
    execs: Vec<OwnedExecution>,
    pub(crate) allocations: u64,
    pub(crate) cycles: u64,
}

impl AgentHarness {
    /// A started agent around `engine`.
    pub(crate) fn new(engine: Engine<Builtin>) -> anyhow::Result<AgentHarness> {
        let agent = EngineAgent::new(
            "engine",
            engine,
            RecordQueue::new(64),
            RecordQueue::new(256),
            Vec::with_capacity(256),
            256,
        );
        let mut invoker = AgentInvoker::new(agent);
        invoker.start().map_err(|e| anyhow::anyhow!("start: {e}"))?;
        Ok(AgentHarness {
            invoker,
            fill: TradeThrough::new(),
            orders: Vec::new(),
            execs: Vec::with_capacity(256),
            allocations: 0,
            cycles: 0,
        })
    }

    /// Feeds one encoded market data record.
    pub(crate) fn feed(&mut self, record: &[u8]) -> anyhow::Result<()> {
        let msg = decode(record)?;
        let tick = Tick::from_message(msg).context("not market data")?;
        let now = tick.meta().recv_ts;
        self.fill.on_tick(&tick, now, &mut self.execs);
        self.settle(now)?;
        self.invoker
            .agent_mut()
            .md_mut()
            .push(record)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.invoke(now)?;
        self.settle(now)
    }

    /// One duty cycle, counting its allocations.
    fn invoke(&mut self, now: Nanos) -> anyhow::Result<usize> {
        let (result, n) = count_allocations(|| self.invoker.invoke(now));
        self.allocations += n;
        self.cycles += 1;
        result.map_err(|e| anyhow::anyhow!("do_work: {e}"))
    }

    /// Orders to the venue, executions back to the agent, until both are drained.
    fn settle(&mut self, now: Nanos) -> anyhow::Result<()> {
        for _ in 0..64 {
            let sink = self.invoker.agent_mut().sink_mut();
            for cmd in sink.drain(..) {
                self.orders.push(cmd);
                self.fill.on_order(&cmd, now, &mut self.execs);
            }
            if self.execs.is_empty() {
                return Ok(());
            }
            let queue = self.invoker.agent_mut().exec_mut();
            for e in self.execs.drain(..) {
                queue
                    .push(e.as_bytes())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            self.invoke(now)?;
        }
        anyhow::bail!("orders and executions did not settle")
    }
}
