//! End to end: `tickwarp demo` records the market data it published; `tickwarp replay`
//! runs that recording through a strategy, writes the order stream, and replaying it
//! again with `--compare` finds it identical (replay is deterministic), while a
//! different strategy's stream is reported as diverging, with exit status 1.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

/// Longest one command may take (a loaded 2-core machine).
const RUN_BOUND: Duration = Duration::from_secs(180);
/// Pause between checks of a running child.
const POLL: Duration = Duration::from_millis(100);

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
        stdout.contains("market_maker") && stdout.contains("wrote "),
        "no summary or order file: {}",
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
