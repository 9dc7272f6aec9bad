//! Steady state allocates nothing: the engine agent (sources, decode, routing, the three
//! example strategies, order bookkeeping, the sink) runs a synthetic day's market data
//! and the resulting executions, and after a warm-up its duty cycles make zero heap
//! allocations on this thread.

mod util;

use anyhow::ensure;
use tickwarp_strategies::builtin::MarketMakerConfig;
use tickwarp_testkit::{CountingAllocator, count_allocations};

#[global_allocator]
static COUNTING: CountingAllocator = CountingAllocator;

#[test]
fn engine_agent_duty_cycles_do_not_allocate() -> anyhow::Result<()> {
    let (probe, n) = count_allocations(|| Vec::<u64>::with_capacity(std::hint::black_box(8)));
    ensure!(
        n == 1 && probe.capacity() >= 8,
        "the counting allocator is not installed"
    );
    let records = util::synth_records(33, 6_000)?;
    ensure!(records.len() > 4_000, "only {} records", records.len());
    let mut harness = util::AgentHarness::new(util::engine(util::strategies(
        MarketMakerConfig::default(),
    )?)?)?;
    let (warm, steady) = records.split_at(1_000);
    for r in warm {
        harness.feed(r)?;
    }
    let orders_before = harness.orders.len();
    harness.allocations = 0;
    harness.cycles = 0;
    for r in steady {
        harness.feed(r)?;
    }
    ensure!(harness.cycles as usize >= steady.len());
    ensure!(
        harness.orders.len() > orders_before,
        "no order in the measured window: the test would prove little"
    );
    ensure!(
        harness.allocations == 0,
        "{} allocations in {} duty cycles",
        harness.allocations,
        harness.cycles
    );
    Ok(())
}
