//! Replay end to end: a synthetic day recorded into a journal, replayed through the
//! example strategies against both fill models; determinism, divergence reports,
//! pacing and the order journal round trip.

mod util;

use anyhow::{Context, ensure};
use tickwarp_strategies::builtin::MarketMakerConfig;
use tickwarp_strategies::replay::{
    AtTouch, JournalMdSource, JournalOrderSink, Replay, ReplayConfig, Speed, TradeThrough, compare,
    read_commands, replay_journal, stream_bytes,
};
use tickwarp_strategies::{OrderCommand, Strategy};
use tickwarp_wire::Nanos;
use tickwarp_wire::journal::{FsyncPolicy, JournalConfig, JournalWriter};

/// Order-flow messages of the recorded day.
const FLOW: u64 = 8_000;

#[test]
fn replaying_twice_gives_identical_orders() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let records = util::record_journal(dir.path(), 7, FLOW)?;
    ensure!(records > FLOW, "only {records} md records");
    let run = || -> anyhow::Result<_> {
        let engine = util::engine(util::strategies(MarketMakerConfig::default())?)?;
        Ok(replay_journal(dir.path(), engine, TradeThrough::new())?)
    };
    let (first_summary, first) = run()?;
    let (second_summary, second) = run()?;
    ensure!(!first.is_empty(), "the strategies sent no order");
    ensure!(
        stream_bytes(&first) == stream_bytes(&second),
        "replays differ: {:?}",
        compare(&first, &second).map(|d| d.to_string())
    );
    ensure!(first_summary == second_summary, "summaries differ");
    ensure!(first_summary.stats.ticks == records, "{}", first_summary);
    let requests: u64 = first_summary
        .strategies
        .iter()
        .map(|s| s.stats.requests())
        .sum();
    ensure!(requests == first_summary.stats.orders, "{first_summary}");
    ensure!(requests == first.len() as u64);
    let mm = &first_summary.strategies[0];
    ensure!(
        mm.stats.fills > 0,
        "market maker never filled:\n{first_summary}"
    );
    ensure!(mm.stats.replaces > 0, "market maker never requoted");
    let pinger = &first_summary.strategies[2];
    ensure!(pinger.stats.new_orders > 0 && pinger.stats.cancels > 0);
    ensure!(pinger.stats.fills == 0, "a far ping filled");
    let text = first_summary.to_string();
    ensure!(
        text.contains("market_maker") && text.contains("momentum"),
        "{text}"
    );
    // Every order carries the tick that caused it, or none (timer/execution driven).
    for cmd in &first {
        let cause = cmd.cause();
        ensure!(cause.send_ts >= cause.recv_ts, "{cmd}");
    }
    Ok(())
}

#[test]
fn at_touch_fills_more_than_trade_through() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    util::record_journal(dir.path(), 11, FLOW)?;
    let engine = util::engine(util::strategies(MarketMakerConfig::default())?)?;
    let (through, _) = replay_journal(dir.path(), engine, TradeThrough::new())?;
    let engine = util::engine(util::strategies(MarketMakerConfig::default())?)?;
    let (touch, orders) = replay_journal(dir.path(), engine, AtTouch::new())?;
    let fills = |s: &tickwarp_strategies::replay::ReplaySummary| -> u64 {
        s.strategies.iter().map(|x| x.stats.fills).sum()
    };
    ensure!(
        fills(&touch) >= fills(&through),
        "at touch {} < trade through {}",
        fills(&touch),
        fills(&through)
    );
    ensure!(!orders.is_empty());
    Ok(())
}

#[test]
fn a_parameter_change_is_reported_at_the_first_differing_order() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    util::record_journal(dir.path(), 3, FLOW)?;
    // Record: orders journaled as the live engine's would be, then read back.
    let orders_dir = tempfile::tempdir()?;
    {
        let engine = util::engine(util::strategies(MarketMakerConfig::default())?)?;
        let mut replay = Replay::new(engine, TradeThrough::new(), ReplayConfig::default())?;
        let mut source = JournalMdSource::open(dir.path())?;
        let config = JournalConfig {
            fsync: FsyncPolicy::Never,
            ..JournalConfig::default()
        };
        let (writer, _) = JournalWriter::open(orders_dir.path(), config)?;
        let mut sink = JournalOrderSink::new(writer);
        replay.run(&mut source, &mut sink, &mut |_| {})?;
        ensure!(sink.written() > 0);
        sink.finish()?;
    }
    let recorded = read_commands(orders_dir.path())?;
    let engine = util::engine(util::strategies(MarketMakerConfig::default())?)?;
    let (_, same) = replay_journal(dir.path(), engine, TradeThrough::new())?;
    ensure!(
        compare(&recorded, &same).is_none(),
        "journal round trip changed the orders"
    );

    // Replay with a tighter position limit: identical until the limit first binds.
    let tighter = MarketMakerConfig {
        max_position: 200,
        ..MarketMakerConfig::default()
    };
    let engine = util::engine(util::strategies(tighter)?)?;
    let (_, replayed) = replay_journal(dir.path(), engine, TradeThrough::new())?;
    let expected = recorded
        .iter()
        .zip(&replayed)
        .position(|(a, b)| a.as_bytes() != b.as_bytes())
        .or((recorded.len() != replayed.len()).then_some(recorded.len().min(replayed.len())))
        .context("changing max_position changed nothing")?;
    ensure!(expected > 0, "the limit should not bind on the first order");
    let d = compare(&recorded, &replayed).context("no divergence reported")?;
    ensure!(
        d.index == expected,
        "reported #{}, expected #{expected}",
        d.index
    );
    ensure!(d.recorded == recorded.get(expected).copied());
    ensure!(d.replayed == replayed.get(expected).copied());
    let context_start = expected.saturating_sub(3);
    ensure!(d.context == recorded[context_start..expected]);
    ensure!(d.context == replayed[context_start..expected]);
    let text = d.to_string();
    ensure!(text.contains(&format!("diverge at #{expected}")), "{text}");
    ensure!(
        text.contains("recorded") && text.contains("replayed"),
        "{text}"
    );
    Ok(())
}

#[test]
fn realtime_pacing_asks_the_hook_for_scaled_offsets() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    util::record_journal(dir.path(), 5, 500)?;
    let engine = util::engine(util::strategies(MarketMakerConfig::default())?)?;
    let config = ReplayConfig {
        speed: Speed::Realtime(4.0),
        ..ReplayConfig::default()
    };
    let mut replay = Replay::new(engine, TradeThrough::new(), config)?;
    let mut source = JournalMdSource::open(dir.path())?;
    let mut offsets: Vec<Nanos> = Vec::new();
    let mut orders: Vec<OrderCommand> = Vec::new();
    let stats = replay.run(&mut source, &mut orders, &mut |at| offsets.push(at))?;
    ensure!(offsets.len() as u64 == stats.ticks);
    ensure!(offsets.first() == Some(&Nanos::ZERO));
    ensure!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "offsets went backwards"
    );
    let span = stats.last_ts.saturating_sub(stats.first_ts).get();
    ensure!(span > 0);
    ensure!(
        offsets.last() == Some(&Nanos(span / 4)),
        "{:?} vs {}",
        offsets.last(),
        span / 4
    );
    ensure!(replay.engine().strategy(0).map(Strategy::name) == Some("market_maker"));
    let bad = Replay::new(
        util::engine(Vec::new())?,
        TradeThrough::new(),
        ReplayConfig {
            speed: Speed::Realtime(0.0),
            ..ReplayConfig::default()
        },
    );
    ensure!(bad.is_err());
    Ok(())
}
