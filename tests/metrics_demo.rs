//! End to end: `tickwarp demo --metrics-dir D` writes the node's counters file, and
//! `tickwarp stat --json --dir D` reads it after the process is gone ("not running,
//! last values") with the same orders, rejects, fills and tick-to-trade count as the
//! demo's summary. Every wait is bounded: a run that does not end in time is killed and
//! the test fails.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// Longest a run may take (a loaded 2-core machine compiling other crates).
const RUN_BOUND: Duration = Duration::from_secs(180);
/// Pause between checks of a running child.
const POLL: Duration = Duration::from_millis(100);

/// Waits for `child` at most `bound`, killing it after that.
fn wait_bounded(mut child: Child, bound: Duration) -> Result<Output> {
    let rounds = bound.as_millis() / POLL.as_millis();
    for _ in 0..rounds {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        thread::sleep(POLL);
    }
    child.kill()?;
    let out = child.wait_with_output()?;
    bail!(
        "tickwarp did not finish within {bound:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the binary with `args` to its end, failing on a non-zero exit.
fn tickwarp(args: &[&str]) -> Result<Output> {
    let child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tickwarp")?;
    let out = wait_bounded(child, RUN_BOUND)?;
    ensure!(
        out.status.success(),
        "tickwarp {args:?} failed ({}); stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}

/// The value of metric `name` with `labels` (`[]`: none) in `tickwarp stat --json`.
fn metric<'a>(stat: &'a Value, name: &str, labels: &[(&str, &str)]) -> Result<&'a Value> {
    let metrics = stat
        .get("metrics")
        .and_then(Value::as_array)
        .context("stat JSON has no metrics")?;
    metrics
        .iter()
        .find(|m| {
            let Some(have) = m.get("labels").and_then(Value::as_object) else {
                return false;
            };
            m.get("name").and_then(Value::as_str) == Some(name)
                && have.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| have.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .with_context(|| format!("no {name}{labels:?} in the counters file: {stat}"))
}

/// A counter's value.
fn counter(stat: &Value, name: &str, labels: &[(&str, &str)]) -> Result<u64> {
    metric(stat, name, labels)?
        .get("value")
        .and_then(Value::as_u64)
        .with_context(|| format!("{name}{labels:?} has no value"))
}

/// A number of the demo's summary.
fn num(summary: &Value, pointer: &str) -> Result<u64> {
    summary
        .pointer(pointer)
        .and_then(Value::as_u64)
        .with_context(|| format!("summary has no {pointer}: {summary}"))
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[test]
fn demo_counters_agree_with_its_summary() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let metrics = dir.path().join("metrics");
    let (run_s, metrics_s) = (
        run.to_str().context("path")?,
        metrics.to_str().context("path")?,
    );
    let out = tickwarp(&[
        "demo",
        "--duration",
        "2",
        "--threading",
        "shared",
        "--idle",
        "backoff",
        "--dir",
        run_s,
        "--metrics-dir",
        metrics_s,
    ])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        stderr.contains("metrics: counters file"),
        "the demo did not say where its counters are:\n{stderr}"
    );
    let summary = read_json(&run.join("summary-demo.json"))?;
    let stat = tickwarp(&["stat", "--json", "--dir", metrics_s])?;
    let stat: Value = serde_json::from_slice(&stat.stdout).context("parsing stat --json")?;
    ensure!(
        stat.get("running") == Some(&Value::Bool(false)),
        "the demo's process is gone but stat says it runs: {stat}"
    );

    let sent = num(&summary, "/orders_sent")?;
    ensure!(sent > 0, "the demo sent no orders: {summary}");
    let engine = [("engine", "engine")];
    ensure!(counter(&stat, "tickwarp_engine_orders_sent_total", &engine)? == sent);
    let received = num(&summary, "/orders_received")?;
    let rejected = num(&summary, "/rejected")?;
    let accepted = counter(
        &stat,
        "tickwarp_gateway_orders_total",
        &[("result", "accepted")],
    )?;
    let refused = counter(
        &stat,
        "tickwarp_gateway_orders_total",
        &[("result", "rejected")],
    )?;
    ensure!(
        refused == rejected && accepted + refused == received,
        "counters: {accepted} accepted, {refused} rejected; summary: {received} received, \
         {rejected} rejected"
    );
    let fills = num(&summary, "/fills")?;
    ensure!(
        counter(&stat, "tickwarp_gateway_executions_total", &[])? == fills,
        "fills differ from the summary's {fills}: {stat}"
    );
    ensure!(
        counter(&stat, "tickwarp_feed_ticks_published_total", &[])?
            == num(&summary, "/ticks_published")?
    );
    let t2t = metric(&stat, "tickwarp_tick_to_trade_seconds", &[])?
        .get("count")
        .and_then(Value::as_u64)
        .context("tick-to-trade has no count")?;
    ensure!(t2t > 0, "no order timed tick-to-trade");
    ensure!(
        t2t == num(&summary, "/latency/tick_to_trade/count")?,
        "tick-to-trade count {t2t} differs from the summary's: {summary}"
    );
    for agent in ["venue", "feed", "engine", "gateway"] {
        let cycles = counter(
            &stat,
            "tickwarp_agent_duty_cycles_total",
            &[("agent", agent)],
        )?;
        ensure!(cycles > 0, "agent {agent} ran no duty cycle");
    }
    Ok(())
}
