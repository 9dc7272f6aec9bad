//! The feed's recorder writes the journal convention replay reads: a session published
//! by `tickwarp_feed::publisher::Publisher` with a `Recorder` reads back through
//! [`JournalMdSource`] record for record, and [`replay_journal`] on it sends the same
//! orders as a replay of the records in memory.

use anyhow::{Context, Result, anyhow, bail, ensure};
use tickwarp_feed::book::{FeedConfig, FeedHandler};
use tickwarp_feed::publisher::{PacedSynth, Pacing, Publisher, PublisherConfig};
use tickwarp_feed::recorder::Recorder;
use tickwarp_feed::synth::{SynthConfig, SynthFeed, SynthInstrument};
use tickwarp_runtime::{AgentInvoker, Nanos};
use tickwarp_strategies::agent::MdSource;
use tickwarp_strategies::builtin::{
    Builtin, MarketMaker, MarketMakerConfig, Momentum, MomentumConfig,
};
use tickwarp_strategies::replay::{
    JournalMdSource, Replay, ReplayConfig, TradeThrough, compare, replay_journal,
};
use tickwarp_strategies::{Engine, EngineConfig, OrderCommand};
use tickwarp_wire::journal::FsyncPolicy;
use tickwarp_wire::{Price, Symbol};

const FLOW: u64 = 3_000;
const T0: u64 = 1_000_000;
const STEP: u64 = 10_000;

fn synth() -> Result<SynthFeed> {
    let mut config = SynthConfig::new(
        41,
        vec![SynthInstrument {
            symbol: Symbol::new("TWRP")?,
            start_price: Price::from_units(100).context("price")?,
        }],
    );
    config.flow_messages = FLOW;
    Ok(SynthFeed::new(&config)?)
}

fn engine() -> Result<Engine<Builtin>> {
    let mut engine = Engine::new(EngineConfig {
        id_tag: "RF".into(),
        max_open_orders: 16,
    })?;
    engine.add(Builtin::MarketMaker(MarketMaker::new(
        MarketMakerConfig::default(),
    )?))?;
    engine.add(Builtin::Momentum(Momentum::new(MomentumConfig::default())?))?;
    Ok(engine)
}

#[test]
fn replay_reads_what_the_feed_recorded() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("md");
    let recorder = Recorder::open(
        &dir,
        FsyncPolicy::Batched {
            max_records: 256,
            max_delay: std::time::Duration::from_millis(10),
        },
        256 << 10,
    )?;
    let config = PublisherConfig {
        batch: 1,
        ..PublisherConfig::default()
    };
    let publisher =
        Publisher::new(config, PacedSynth::new(synth()?, Pacing::Max)).with_recorder(recorder);
    let mut invoker = AgentInvoker::new(publisher);
    invoker.start().map_err(|e| anyhow!("{e}"))?;
    let mut now = T0;
    while !invoker.agent().input_finished() {
        invoker.invoke(Nanos(now)).map_err(|e| anyhow!("{e}"))?;
        now += STEP;
    }
    let published = invoker.agent().stats().records;
    let recorder = invoker
        .agent_mut()
        .take_recorder()
        .context("the recorder is gone")?;
    ensure!(
        recorder.recorded() == published,
        "recorded {}",
        recorder.recorded()
    );
    recorder.finish()?;

    // The same day in memory, one message per `STEP`.
    let mut feed = synth()?;
    let mut handler = FeedHandler::new(FeedConfig::default());
    let mut records = Vec::new();
    let mut t = T0;
    while let Some(s) = feed.next_message() {
        if let Ok(p) = handler.handle_message(&s.message, Nanos(t)) {
            records.extend(p.iter().map(|r| r.as_bytes().to_vec()));
        }
        t += STEP;
    }
    ensure!(records.len() as u64 == published);

    let mut source = JournalMdSource::open(&dir)?;
    for (i, want) in records.iter().enumerate() {
        match source.poll_md()? {
            Some(got) if got == want.as_slice() => {}
            Some(_) => bail!("record {i} differs"),
            None => bail!("the journal ends after {i} records"),
        }
    }
    ensure!(source.poll_md()?.is_none() && source.skipped() == 0);

    let (summary, replayed) = replay_journal(&dir, engine()?, TradeThrough::new())?;
    let mut replay = Replay::new(engine()?, TradeThrough::new(), ReplayConfig::default())?;
    let mut in_memory: Vec<OrderCommand> = Vec::new();
    for r in &records {
        replay.handle_record(r, &mut in_memory, &mut |_| {})?;
    }
    ensure!(!in_memory.is_empty(), "the strategies sent nothing");
    ensure!(summary.stats.ticks == published, "{:?}", summary.stats);
    if let Some(d) = compare(&in_memory, &replayed) {
        bail!("replay of the recording differs:\n{d}");
    }
    Ok(())
}
