//! The engine agent: the same strategies over in-memory sources produce exactly the
//! order stream replay produces (a strategy cannot tell live from replay); bad and
//! misrouted records are counted; a failing source stops the agent.

mod util;

use anyhow::ensure;
use tickwarp_runtime::{Agent, Nanos};
use tickwarp_strategies::agent::{EngineAgent, ExecSource, MdSource, RecordQueue, SourceError};
use tickwarp_strategies::builtin::MarketMakerConfig;
use tickwarp_strategies::replay::{Replay, ReplayConfig, TradeThrough, compare};
use tickwarp_strategies::{Engine, EngineConfig, OrderCommand};
use tickwarp_wire::{
    AccountId, ClientOrderId, ExecMeta, InstrumentId, IntoBytes, MdHeartbeat, MdMeta,
    OrderAccepted, OrderType, Side, TimeInForce, UnixNanos,
};

#[test]
fn agent_and_replay_send_the_same_orders() -> anyhow::Result<()> {
    let records = util::synth_records(21, 4_000)?;
    let mut harness = util::AgentHarness::new(util::engine(util::strategies(
        MarketMakerConfig::default(),
    )?)?)?;
    for r in &records {
        harness.feed(r)?;
    }
    let engine = util::engine(util::strategies(MarketMakerConfig::default())?)?;
    let mut replay = Replay::new(engine, TradeThrough::new(), ReplayConfig::default())?;
    let mut replayed: Vec<OrderCommand> = Vec::new();
    for r in &records {
        replay.handle_record(r, &mut replayed, &mut |_| {})?;
    }
    ensure!(!replayed.is_empty());
    if let Some(d) = compare(&replayed, &harness.orders) {
        anyhow::bail!("agent differs from replay:\n{d}");
    }
    let agent = harness.invoker.agent();
    ensure!(agent.stats().ticks == records.len() as u64);
    ensure!(agent.stats().bad_records == 0 && agent.stats().misrouted == 0);
    ensure!(agent.engine().summaries() == replay.engine().summaries());
    Ok(())
}

#[test]
fn bad_and_misrouted_records_are_counted() -> anyhow::Result<()> {
    let engine: Engine<tickwarp_strategies::builtin::Builtin> =
        util::engine(util::strategies(MarketMakerConfig::default())?)?;
    let mut agent = EngineAgent::new(
        "engine",
        engine,
        RecordQueue::new(8),
        RecordQueue::new(8),
        Vec::<OrderCommand>::new(),
        4,
    );
    let hb = MdHeartbeat::new(MdMeta::default());
    let id = ClientOrderId::new("RP0-1").map_err(|e| anyhow::anyhow!("{e}"))?;
    let acc = OrderAccepted::new(
        ExecMeta {
            instrument: InstrumentId(1),
            account: AccountId(1),
            cl_ord_id: id,
            order_id: 1,
            transact_time: UnixNanos(1),
            gateway_ts: Nanos(1),
        },
        Side::Buy,
        OrderType::Limit,
        TimeInForce::Day,
    );
    let push = |q: &mut RecordQueue, b: &[u8]| q.push(b).map_err(|e| anyhow::anyhow!("{e}"));
    push(agent.md_mut(), hb.as_bytes())?;
    push(agent.md_mut(), acc.as_bytes())?;
    push(agent.md_mut(), &[0xff; 64])?;
    push(agent.exec_mut(), hb.as_bytes())?;
    push(agent.exec_mut(), acc.as_bytes())?;
    let work = agent
        .do_work(Nanos(5))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(work == 5, "work {work}");
    let stats = agent.stats();
    ensure!(stats.ticks == 1 && stats.execs == 1, "{stats:?}");
    ensure!(stats.misrouted == 2 && stats.bad_records == 1, "{stats:?}");
    // The accept names no open order of strategy 0: counted by the engine.
    ensure!(agent.engine().stats().unknown_order == 1);
    let idle = agent
        .do_work(Nanos(6))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(idle == 0);
    ensure!(agent.role_name() == "engine");
    Ok(())
}

/// A source whose peer went away.
struct Closed;

impl MdSource for Closed {
    fn poll_md(&mut self) -> Result<Option<&[u8]>, SourceError> {
        Err(SourceError::Closed)
    }
}

impl ExecSource for Closed {
    fn poll_exec(&mut self) -> Result<Option<&[u8]>, SourceError> {
        Ok(None)
    }
}

#[test]
fn a_failing_source_stops_the_agent() -> anyhow::Result<()> {
    let engine: Engine<tickwarp_strategies::builtin::Builtin> =
        Engine::new(EngineConfig::default())?;
    let mut agent = EngineAgent::new("e", engine, Closed, Closed, Vec::<OrderCommand>::new(), 1);
    let err = agent.do_work(Nanos(1)).err().map(|e| e.to_string());
    ensure!(err.as_deref() == Some("source closed"), "{err:?}");
    Ok(())
}
