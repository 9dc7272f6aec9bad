//! End to end: `tickwarp demo` records the market data it published; `tickwarp replay`
//! runs that recording through a strategy, writes the order stream, and replaying it
//! again with `--compare` finds it identical (replay is deterministic), while a
//! different strategy's stream is reported as diverging, with exit status 1.
//!
//! The counts are checked, not just the words: the recording holds market data, the
//! market maker answers it with orders (at least its opening bid and ask, and a
//! requote stream over two seconds of synthetic ticks), the order file holds exactly the
//! orders the summary counted, and the comparison covers all of them.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// Longest one command may take (a loaded 2-core machine).
const RUN_BOUND: Duration = Duration::from_secs(180);
/// Pause between checks of a running child.
const POLL: Duration = Duration::from_millis(100);
/// Fewest market-data records a two-second demo must record (about 11,000 on an idle
/// 2-core machine; a tenth of that leaves room for a loaded one).
const MIN_TICKS: u64 = 1_000;
/// Fewest orders the market maker must send over that recording: its opening bid and
/// ask, then a requote whenever the mid moves past its threshold (about 300 orders for
/// 11,000 records, one per ~37 records; 20 is what 1,000 records give with margin).
const MIN_ORDERS: u64 = 20;

/// Runs `tickwarp ARGS` to completion, killing it after [`RUN_BOUND`].
fn tickwarp(args: &[&str]) -> Result<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwarp"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting tickwarp")?;
    for _ in 0..RUN_BOUND.as_millis() / POLL.as_millis() {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        thread::sleep(POLL);
    }
    child.kill()?;
    let out = child.wait_with_output()?;
    bail!(
        "tickwarp {args:?} did not finish within {RUN_BOUND:?}; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    )
}

fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The number between `before` and `after` in the first line of `text` holding both.
fn number_between(text: &str, before: &str, after: &str) -> Result<u64> {
    text.lines()
        .find_map(|line| {
            let rest = &line[line.find(before)? + before.len()..];
            rest[..rest.find(after)?].trim().parse().ok()
        })
        .with_context(|| format!("no '{before}<n>{after}' in:\n{text}"))
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("temporary path is not UTF-8")
}

#[test]
fn demo_recording_replays_deterministically_and_divergence_is_reported() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let run = dir.path().join("run");
    let demo = tickwarp(&["demo", "--duration", "2", "--dir", path(&run)?])?;
    ensure!(demo.status.success(), "demo failed: {}", text(&demo));
    let md = run.join("journal").join("md");
    ensure!(md.is_dir(), "the demo recorded no market data in {md:?}");

    let orders = dir.path().join("orders");
    let first = tickwarp(&[
        "replay",
        "--journal",
        path(&md)?,
        "--strategy",
        "market_maker",
        "--orders-out",
        path(&orders)?,
    ])?;
    ensure!(first.status.success(), "replay failed: {}", text(&first));
    let stdout = String::from_utf8_lossy(&first.stdout);
    ensure!(
        stdout.contains("market_maker"),
        "no summary: {}",
        text(&first)
    );
    let ticks = number_between(&stdout, "replayed ", " records")?;
    let summarized = number_between(&stdout, " ns: ", " orders")?;
    let written = number_between(&stdout, "wrote ", " orders")?;
    eprintln!("replay: {ticks} records, {summarized} orders, {written} written");
    ensure!(
        ticks >= MIN_TICKS,
        "only {ticks} market-data records replayed (want >= {MIN_TICKS}): {}",
        text(&first)
    );
    ensure!(
        written == summarized,
        "the summary counts {summarized} orders, the file got {written}"
    );
    ensure!(
        written >= MIN_ORDERS,
        "only {written} orders from the market maker (want >= {MIN_ORDERS}): {}",
        text(&first)
    );

    let again = tickwarp(&[
        "replay",
        "--journal",
        path(&md)?,
        "--strategy",
        "market_maker",
        "--compare",
        path(&orders)?,
    ])?;
    ensure!(
        again.status.success() && String::from_utf8_lossy(&again.stdout).contains("identical"),
        "a second replay differs: {}",
        text(&again)
    );
    let compared = number_between(
        &String::from_utf8_lossy(&again.stdout),
        "identical to the ",
        " recorded",
    )?;
    ensure!(
        compared == written,
        "compared {compared} recorded orders, {written} were written"
    );

    let other = tickwarp(&[
        "replay",
        "--journal",
        path(&md)?,
        "--strategy",
        "pinger",
        "--compare",
        path(&orders)?,
    ])?;
    ensure!(
        other.status.code() == Some(1),
        "a different strategy was not reported as diverging: {}",
        text(&other)
    );
    ensure!(
        String::from_utf8_lossy(&other.stdout).contains("diverge at #0"),
        "no divergence report: {}",
        text(&other)
    );
    Ok(())
}
