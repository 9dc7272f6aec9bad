//! `GET /metrics` on a running `tickwarp demo` over HTTP (loopback): the demo runs with
//! `--metrics-listen 127.0.0.1:0` and a duration far beyond the test; the test scrapes
//! until the served counters show orders, fills and timed tick-to-trade (bounded, with a
//! message naming what is missing), checks that every family is there and that
//! `promtool check metrics` passes (skipped with a line without promtool, a failure
//! under `CI`), then ends the demo with SIGTERM. The demo drains and writes its summary;
//! every scraped count is at most the summary's final one (counters only grow).
//!
//! Nothing is timed: the scrape waits for values, not for a moment.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use tickwarp_runtime::clock;

mod common;
use common::{promtool_check, sample, scrape};

/// Longest wait for any one thing (a loaded 2-core machine compiling other crates).
const WAIT: Duration = Duration::from_secs(120);
/// The line the demo prints when its exporter listens, up to the address.
const LISTENING: &str = "Prometheus on http://";

/// Families a demo node serves.
const FAMILIES: [&str; 8] = [
    "tickwarp_agent_duty_cycles_total",
    "tickwarp_agent_work_total",
    "tickwarp_feed_ticks_published_total",
    "tickwarp_engine_orders_sent_total",
    "tickwarp_engine_executions_total",
    "tickwarp_gateway_orders_total",
    "tickwarp_gateway_executions_total",
    "tickwarp_tick_to_trade_seconds",
];

/// The demo child; killed and reaped if the test ends before it exits.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the scrape shows that the summary must cover.
#[derive(Debug)]
struct Scraped {
    sent: f64,
    accepted: f64,
    fills: f64,
    timed: f64,
}

/// Reads the counts of one scrape; `None` until orders, fills and a timed order show.
fn counts(text: &str) -> Result<Option<Scraped>> {
    let s = Scraped {
        sent: sample(text, "tickwarp_engine_orders_sent_total{engine=\"engine\"}")?,
        accepted: sample(text, "tickwarp_gateway_orders_total{result=\"accepted\"}")?,
        fills: sample(text, "tickwarp_gateway_executions_total")?,
        timed: sample(text, "tickwarp_tick_to_trade_seconds_count")?,
    };
    Ok((s.sent > 0.0 && s.fills > 0.0 && s.timed > 0.0).then_some(s))
}

#[test]
fn a_running_demo_serves_its_metrics() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let metrics = dir.path().join("metrics");
    let child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args([
            "demo",
            "--duration",
            "3600",
            "--threading",
            "shared",
            "--idle",
            "backoff",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--dir")
        .arg(&run)
        .arg("--metrics-dir")
        .arg(&metrics)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tickwarp demo")?;
    let mut demo = Demo(child);
    let stderr = demo.0.stderr.take().context("demo stderr")?;
    let (tx, rx) = mpsc::channel();
    // Reads stderr to its end (the progress lines would fill the pipe otherwise).
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if let Some(rest) = line.split_once(LISTENING).map(|(_, r)| r.to_owned()) {
                let _ = tx.send(rest);
            }
        }
    });
    let line = rx
        .recv_timeout(WAIT)
        .with_context(|| format!("the demo did not print \"{LISTENING}ADDR\" within {WAIT:?}"))?;
    let addr: SocketAddr = line
        .trim()
        .trim_end_matches("/metrics")
        .parse()
        .with_context(|| format!("the exporter address in {line:?}"))?;

    let deadline = clock::monotonic_now().saturating_add(WAIT);
    let (text, scraped) = loop {
        let text = scrape(addr, WAIT)?;
        if let Some(s) = counts(&text)? {
            break (text, s);
        }
        if clock::monotonic_now() >= deadline {
            bail!(
                "within {WAIT:?} the demo's /metrics showed no order, fill or timed order:\n{text}"
            );
        }
        thread::sleep(Duration::from_millis(100));
    };
    for family in FAMILIES {
        ensure!(
            text.lines().any(|l| l
                .strip_prefix("# TYPE ")
                .is_some_and(|t| t.split_whitespace().next() == Some(family))),
            "no family {family} in:\n{text}"
        );
    }
    for agent in ["venue", "feed", "engine", "gateway"] {
        let series = format!("tickwarp_agent_duty_cycles_total{{agent=\"{agent}\"}}");
        ensure!(
            sample(&text, &series)? > 0.0,
            "agent {agent} ran no duty cycle"
        );
    }
    promtool_check(&text)?;

    let status = Command::new("kill")
        .args(["-TERM", &demo.0.id().to_string()])
        .status()?;
    ensure!(status.success(), "kill -TERM failed");
    let deadline = clock::monotonic_now().saturating_add(WAIT);
    let exit = loop {
        if let Some(exit) = demo.0.try_wait()? {
            break exit;
        }
        ensure!(
            clock::monotonic_now() < deadline,
            "the demo did not exit within {WAIT:?} of SIGTERM"
        );
        thread::sleep(Duration::from_millis(50));
    };
    ensure!(exit.success(), "the demo exited with {exit} after SIGTERM");
    let path = run.join("summary-demo.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let summary: Value = serde_json::from_str(&text).context("parsing the summary")?;
    let final_count = |pointer: &str| -> Result<f64> {
        summary
            .pointer(pointer)
            .and_then(Value::as_u64)
            .map(|v| v as f64)
            .with_context(|| format!("summary has no {pointer}: {summary}"))
    };
    for (what, seen, pointer) in [
        ("orders sent", scraped.sent, "/orders_sent"),
        ("orders accepted", scraped.accepted, "/accepted"),
        ("fills", scraped.fills, "/fills"),
        (
            "timed orders",
            scraped.timed,
            "/latency/tick_to_trade/count",
        ),
    ] {
        let total = final_count(pointer)?;
        ensure!(
            seen <= total,
            "/metrics showed {seen} {what} while running, the summary counts only {total}"
        );
    }
    Ok(())
}
