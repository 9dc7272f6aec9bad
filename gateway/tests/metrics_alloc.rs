//! Recording metrics allocates nothing: the real gateway agent with `[metrics]` on (its
//! counters file, and the exporter thread serving it), driven through its production
//! entry point `Agent::do_work` on the test thread, takes NewOrderSingle/
//! OrderCancelRequest pairs from one logged-on FIX session; after a warm-up, the agent's
//! duty cycles (order counters, FIX message counts, journal sync timing, ack latency,
//! duty-cycle histogram) allocate nothing. The counters file then holds exactly the
//! orders, cancels and messages that went through.

mod front;

use anyhow::{Context, Result, ensure};
use front::{Client, Lab, REAL};
use tickwarp_metrics::{CountersReader, Snapshot, Value};
use tickwarp_runtime::Agent;
use tickwarp_testkit::{CountingAllocator, count_allocations};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// One duty cycle through `do_work` (what the runner calls), counted.
fn cycle(lab: &mut Lab) -> Result<(usize, u64)> {
    let mono = lab.now.mono;
    let (work, counted) = count_allocations(|| lab.agent.do_work(mono));
    Ok((
        work.map_err(|e| anyhow::anyhow!("gateway agent failed: {e}"))?,
        counted,
    ))
}

/// Sends order `n` and its cancel through `do_work`; the allocations of its cycles.
fn pair(lab: &mut Lab, client: &mut Client, n: u64) -> Result<u64> {
    front::order_cancel_pair(lab, client, n, |lab| Ok(cycle(lab)?.1))
}

/// The value of counter `name{labels}` (labels as `k=v,k=v`).
fn counter(snap: &Snapshot, name: &str, labels: &str) -> Result<u64> {
    snap.metrics
        .iter()
        .find(|m| m.name == name && m.label_text() == labels)
        .map(|m| match m.value {
            Value::Counter(v) | Value::Gauge(v) => v,
            Value::Histogram(ref h) => h.bucket_total(),
        })
        .with_context(|| format!("no {name}{{{labels}}} in the counters file"))
}

#[test]
fn recording_metrics_on_the_fix_order_path_allocates_nothing() -> Result<()> {
    let mut lab = Lab::start_with("[metrics]\nlisten = \"127.0.0.1:0\"\n", "")?;
    let metrics = lab.agent.metrics().context("[metrics] is on")?;
    ensure!(metrics.exporter_addr().is_some(), "the exporter runs");
    let reader = CountersReader::open(metrics.path())?;
    let mut client = lab.connect(REAL, "C2")?;
    // The logon allocates (the session's state): proof that the count is live.
    let (logon, allocated) = count_allocations(|| lab.logon(&mut client, None));
    logon?;
    ensure!(
        allocated > 0,
        "no allocation counted during the logon: is the counting allocator installed?"
    );
    let warm = 300;
    for n in 0..warm {
        pair(&mut lab, &mut client, n)?;
    }
    let before = reader.snapshot()?;
    let pairs = 2_000;
    let mut allocations = 0;
    for n in warm..warm + pairs {
        allocations += pair(&mut lab, &mut client, n)?;
    }
    ensure!(
        allocations == 0,
        "{allocations} allocations in the agent's duty cycles over {pairs} order/cancel pairs with metrics on"
    );
    let after = reader.snapshot()?;
    let total = warm + pairs;
    let orders = "tickwarp_gateway_orders_total";
    ensure!(counter(&after, orders, "result=accepted")? == total);
    ensure!(counter(&after, "tickwarp_gateway_cancels_total", "")? == total);
    ensure!(counter(&after, "tickwarp_gateway_executions_total", "")? == 0);
    ensure!(counter(&after, "tickwarp_fix_sessions_logged_on", "")? == 1);
    // Logon + every order and cancel in; Logon answer + two reports per pair out.
    ensure!(counter(&after, "tickwarp_fix_messages_total", "direction=in")? == 1 + 2 * total);
    ensure!(counter(&after, "tickwarp_fix_messages_total", "direction=out")? == 1 + 2 * total);
    let acks = "tickwarp_order_ack_latency_seconds";
    ensure!(counter(&after, acks, "")? - counter(&before, acks, "")? == pairs);
    let syncs = "tickwarp_journal_syncs_total";
    ensure!(
        counter(&after, syncs, "")? > counter(&before, syncs, "")?,
        "every_record syncs the order journal"
    );
    ensure!(counter(&after, "tickwarp_journal_sync_seconds", "")? > 0);
    ensure!(counter(&after, "tickwarp_gateway_cycle_seconds", "")? > 0);
    Ok(())
}
